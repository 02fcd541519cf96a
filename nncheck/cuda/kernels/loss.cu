// Losses. Pointwise losses write the unreduced loss l[i] (reduction='none'); 'sum'/'mean'
// reduce it with reduce_sum. Their backward takes grad_out with g_stride 1 ('none') or 0
// (a scalar for 'sum'/'mean') times g_scale (1/n for 'mean'). Each pointwise loss sees the
// input x, the target y, an optional third tensor aux (pos_weight / var / target sign),
// an optional elementwise weight w and scalar parameters a, b, c.
// Mirrors nncheck/_kernels/loss.pyx; cross entropy is log_softmax (activation.cu) + nll_loss.
#include "_common.cu"

#define NN_LOSS(Name, F, DX, DY, DAUX)                                                   \
  struct Name {                                                                          \
    template <typename T> __device__ static T f(T x, T y, T aux, T a, T b, T c) { return F; } \
    template <typename T> __device__ static T dx(T x, T y, T aux, T a, T b, T c) { return DX; } \
    template <typename T> __device__ static T dy(T x, T y, T aux, T a, T b, T c) { return DY; } \
    template <typename T> __device__ static T daux(T x, T y, T aux, T a, T b, T c) { return DAUX; } \
  };

// log clamped at -100 as PyTorch's binary_cross_entropy does
template <typename T> __device__ __forceinline__ T clamped_log(T v) {
  return nn_max(nn_log(v), T(-100));
}
// softplus(-x) = log(1 + exp(-x)), overflow-free
template <typename T> __device__ __forceinline__ T softplus_neg(T x) {
  return nn_log1p(nn_exp(-nn_abs(x))) + nn_max(-x, T(0));
}
// Stirling term of PoissonNLLLoss(full=True), applied where target > 1
template <typename T> __device__ __forceinline__ T stirling(T y) {
  return y > T(1) ? y * nn_log(y) - y + T(0.5) * nn_log(T(2 * 3.14159265358979323846) * y) : T(0);
}
template <typename T> __device__ __forceinline__ T stirling_dy(T y) {
  return y > T(1) ? nn_log(y) + T(0.5) / y : T(0);
}

NN_LOSS(L1, nn_abs(x - y), nn_sign(x - y), -nn_sign(x - y), T(0))
NN_LOSS(Mse, (x - y) * (x - y), T(2) * (x - y), T(-2) * (x - y), T(0))
// a = beta
NN_LOSS(SmoothL1,
        nn_abs(x - y) < a ? T(0.5) * (x - y) * (x - y) / a : nn_abs(x - y) - T(0.5) * a,
        nn_abs(x - y) < a ? (x - y) / a : nn_sign(x - y),
        nn_abs(x - y) < a ? (y - x) / a : -nn_sign(x - y), T(0))
// a = delta
NN_LOSS(Huber,
        nn_abs(x - y) < a ? T(0.5) * (x - y) * (x - y) : a * (nn_abs(x - y) - T(0.5) * a),
        nn_abs(x - y) < a ? x - y : a * nn_sign(x - y),
        nn_abs(x - y) < a ? y - x : -a * nn_sign(x - y), T(0))
NN_LOSS(SoftMargin, softplus_neg(y * x), -y * nn_sigmoid(-y * x), -x * nn_sigmoid(-y * x), T(0))
NN_LOSS(Bce, -(y * clamped_log(x) + (T(1) - y) * clamped_log(T(1) - x)),
        (x - y) / nn_max((T(1) - x) * x, T(1e-12)),
        clamped_log(T(1) - x) - clamped_log(x), T(0))
// aux = pos_weight (1 when absent): l = (1 - y) x + (1 + (pw - 1) y) softplus(-x)
NN_LOSS(BceWithLogits, (T(1) - y) * x + (T(1) + (aux - T(1)) * y) * softplus_neg(x),
        (T(1) - y) - (T(1) + (aux - T(1)) * y) * nn_sigmoid(-x),
        -x + (aux - T(1)) * softplus_neg(x), y * softplus_neg(x))
// a = log_target
NN_LOSS(KlDiv,
        a != T(0) ? nn_exp(y) * (y - x) : (y > T(0) ? y * (nn_log(y) - x) : T(0)),
        a != T(0) ? -nn_exp(y) : -y,
        a != T(0) ? nn_exp(y) * (y - x + T(1)) : (y > T(0) ? nn_log(y) + T(1) - x : -x), T(0))
// a = log_input, b = full, c = eps
NN_LOSS(PoissonNll,
        (a != T(0) ? nn_exp(x) - y * x : x - y * nn_log(x + c)) + (b != T(0) ? stirling(y) : T(0)),
        a != T(0) ? nn_exp(x) - y : T(1) - y / (x + c),
        (a != T(0) ? -x : -nn_log(x + c)) + (b != T(0) ? stirling_dy(y) : T(0)), T(0))
// aux = var, a = eps, b = full. PyTorch clamps var at eps without autograd, so the var
// gradient is evaluated at the clamped value and never zeroed.
NN_LOSS(GaussianNll,
        T(0.5) * (nn_log(nn_max(aux, a)) + (x - y) * (x - y) / nn_max(aux, a)) +
            (b != T(0) ? T(0.5) * nn_log(T(2 * 3.14159265358979323846)) : T(0)),
        (x - y) / nn_max(aux, a), (y - x) / nn_max(aux, a),
        T(0.5) * (T(1) / nn_max(aux, a) - (x - y) * (x - y) / (nn_max(aux, a) * nn_max(aux, a))))
// a = margin; PyTorch's where(y != 1, clamp(margin - x, 0), 0) + where(y != -1, x, 0)
NN_LOSS(HingeEmbedding,
        (y != T(1) ? nn_max(a - x, T(0)) : T(0)) + (y != T(-1) ? x : T(0)),
        (y != T(1) && a - x > T(0) ? T(-1) : T(0)) + (y != T(-1) ? T(1) : T(0)), T(0), T(0))
// x = input1, y = input2, aux = target sign, a = margin
NN_LOSS(MarginRanking, nn_max(-aux * (x - y) + a, T(0)),
        -aux * (x - y) + a > T(0) ? -aux : T(0), -aux * (x - y) + a > T(0) ? aux : T(0),
        -aux * (x - y) + a > T(0) ? y - x : T(0))
// one term of MultiLabelSoftMarginLoss before the mean over classes (g_scale carries 1/C)
NN_LOSS(MultilabelSoftMargin, y * softplus_neg(x) + (T(1) - y) * softplus_neg(-x),
        nn_sigmoid(x) - y, -x, T(0))

template <typename T, typename Op>
__device__ __forceinline__ void pointwise_forward(const T* x, const T* y, const T* aux,
                                                  const T* w, T* out, index_t n, T a, T b,
                                                  T c) {
  NN_GRID_STRIDE(i, n) {
    const T v = Op::f(x[i], y[i], aux ? aux[i] : T(1), a, b, c);
    out[i] = w ? v * w[i] : v;
  }
}

// dx, dy, daux may each be null (no gradient wanted).
template <typename T, typename Op>
__device__ __forceinline__ void pointwise_backward(const T* g, index_t g_stride, T g_scale,
                                                   const T* x, const T* y, const T* aux,
                                                   const T* w, T* dx, T* dy, T* daux, index_t n,
                                                   T a, T b, T c) {
  NN_GRID_STRIDE(i, n) {
    const T s = g[i * g_stride] * g_scale * (w ? w[i] : T(1));
    const T xa = x[i], ya = y[i], za = aux ? aux[i] : T(1);
    if (dx) dx[i] = s * Op::dx(xa, ya, za, a, b, c);
    if (dy) dy[i] = s * Op::dy(xa, ya, za, a, b, c);
    if (daux) daux[i] = s * Op::daux(xa, ya, za, a, b, c);
  }
}

#define NN_LF const T *x, const T *y, const T *aux, const T *w, T *out, index_t n, T a, T b, T c
#define NN_LB                                                                             \
  const T *g, index_t g_stride, T g_scale, const T *x, const T *y, const T *aux, const T *w, \
      T *dx, T *dy, T *daux, index_t n, T a, T b, T c
#define NN_LFP x, y, aux, w, out, n, a, b, c
#define NN_LBP g, g_stride, g_scale, x, y, aux, w, dx, dy, daux, n, a, b, c

template <typename T> __global__ void l1_loss_forward(NN_LF) { pointwise_forward<T, L1>(NN_LFP); }
template <typename T> __global__ void l1_loss_backward(NN_LB) { pointwise_backward<T, L1>(NN_LBP); }
template <typename T> __global__ void mse_loss_forward(NN_LF) { pointwise_forward<T, Mse>(NN_LFP); }
template <typename T> __global__ void mse_loss_backward(NN_LB) { pointwise_backward<T, Mse>(NN_LBP); }
template <typename T> __global__ void smooth_l1_loss_forward(NN_LF) { pointwise_forward<T, SmoothL1>(NN_LFP); }
template <typename T> __global__ void smooth_l1_loss_backward(NN_LB) { pointwise_backward<T, SmoothL1>(NN_LBP); }
template <typename T> __global__ void huber_loss_forward(NN_LF) { pointwise_forward<T, Huber>(NN_LFP); }
template <typename T> __global__ void huber_loss_backward(NN_LB) { pointwise_backward<T, Huber>(NN_LBP); }
template <typename T> __global__ void soft_margin_loss_forward(NN_LF) { pointwise_forward<T, SoftMargin>(NN_LFP); }
template <typename T> __global__ void soft_margin_loss_backward(NN_LB) { pointwise_backward<T, SoftMargin>(NN_LBP); }
template <typename T> __global__ void bce_loss_forward(NN_LF) { pointwise_forward<T, Bce>(NN_LFP); }
template <typename T> __global__ void bce_loss_backward(NN_LB) { pointwise_backward<T, Bce>(NN_LBP); }
template <typename T> __global__ void bce_with_logits_loss_forward(NN_LF) { pointwise_forward<T, BceWithLogits>(NN_LFP); }
template <typename T> __global__ void bce_with_logits_loss_backward(NN_LB) { pointwise_backward<T, BceWithLogits>(NN_LBP); }
template <typename T> __global__ void kl_div_loss_forward(NN_LF) { pointwise_forward<T, KlDiv>(NN_LFP); }
template <typename T> __global__ void kl_div_loss_backward(NN_LB) { pointwise_backward<T, KlDiv>(NN_LBP); }
template <typename T> __global__ void poisson_nll_loss_forward(NN_LF) { pointwise_forward<T, PoissonNll>(NN_LFP); }
template <typename T> __global__ void poisson_nll_loss_backward(NN_LB) { pointwise_backward<T, PoissonNll>(NN_LBP); }
template <typename T> __global__ void gaussian_nll_loss_forward(NN_LF) { pointwise_forward<T, GaussianNll>(NN_LFP); }
template <typename T> __global__ void gaussian_nll_loss_backward(NN_LB) { pointwise_backward<T, GaussianNll>(NN_LBP); }
template <typename T> __global__ void hinge_embedding_loss_forward(NN_LF) { pointwise_forward<T, HingeEmbedding>(NN_LFP); }
template <typename T> __global__ void hinge_embedding_loss_backward(NN_LB) { pointwise_backward<T, HingeEmbedding>(NN_LBP); }
template <typename T> __global__ void margin_ranking_loss_forward(NN_LF) { pointwise_forward<T, MarginRanking>(NN_LFP); }
template <typename T> __global__ void margin_ranking_loss_backward(NN_LB) { pointwise_backward<T, MarginRanking>(NN_LBP); }
template <typename T> __global__ void multilabel_soft_margin_loss_forward(NN_LF) { pointwise_forward<T, MultilabelSoftMargin>(NN_LFP); }
template <typename T> __global__ void multilabel_soft_margin_loss_backward(NN_LB) { pointwise_backward<T, MultilabelSoftMargin>(NN_LBP); }

// ------------------------------------------------------------------ reduction
// partial[blockIdx.x] = scale * sum of the block's grid-stride share of x. Launch once with
// G blocks into G partials, then once with 1 block over the partials: a deterministic sum.
template <typename T>
__global__ void reduce_sum(const T* x, T* partial, index_t n, T scale) {
  __shared__ double scratch[NN_WARP];
  double acc = 0.0;
  NN_GRID_STRIDE(i, n) acc += (double)x[i];
  acc = block_sum(acc, scratch);
  if (threadIdx.x == 0) partial[blockIdx.x] = (T)(acc * (double)scale);
}

// ------------------------------------------------------------------ NLLLoss
// logp as (N, C, inner), target (N, inner). out[i] = -w[t] * logp[n, t, j] and wsum[i] = w[t]
// (both 0 where t == ignore_index); 'mean' is sum(out) / sum(wsum).
template <typename T>
__global__ void nll_loss_forward(const T* logp, const index_t* target, const T* weight, T* out,
                                 T* wsum, index_t N, index_t C, index_t inner,
                                 index_t ignore_index) {
  NN_GRID_STRIDE(i, N * inner) {
    const index_t n = i / inner, j = i % inner, t = target[i];
    if (t == ignore_index) {
      out[i] = T(0);
      wsum[i] = T(0);
      continue;
    }
    const T wt = weight ? weight[t] : T(1);
    out[i] = -wt * logp[(n * C + t) * inner + j];
    wsum[i] = wt;
  }
}

// dlogp (zeroed by the caller)[n, t, j] = -w[t] * g * g_scale.
template <typename T>
__global__ void nll_loss_backward(const T* g, index_t g_stride, T g_scale, const index_t* target,
                                  const T* weight, T* dlogp, index_t N, index_t C, index_t inner,
                                  index_t ignore_index) {
  NN_GRID_STRIDE(i, N * inner) {
    const index_t n = i / inner, j = i % inner, t = target[i];
    if (t == ignore_index) continue;
    dlogp[(n * C + t) * inner + j] = -(weight ? weight[t] : T(1)) * g[i * g_stride] * g_scale;
  }
}

// ------------------------------------------------------------------ MultiMarginLoss
// x (N, C): out[n] = sum_{i != y} w[y] * max(0, margin - x[y] + x[i])^p / C, p in {1, 2}.
// One warp per sample.
#define NN_ROWS_PER_WARP(row, M)                                                   \
  for (index_t row = ((index_t)blockIdx.x * blockDim.x + threadIdx.x) / NN_WARP;   \
       row < (M); row += (index_t)gridDim.x * blockDim.x / NN_WARP)

template <typename T>
__global__ void multi_margin_loss_forward(const T* x, const index_t* target, const T* weight,
                                          T* out, index_t N, index_t C, index_t p, T margin) {
  const int lane = threadIdx.x % NN_WARP;
  NN_ROWS_PER_WARP(n, N) {
    const index_t y = target[n];
    const T xy = x[n * C + y];
    double acc = 0.0;
    for (index_t i = lane; i < C; i += NN_WARP) {
      const T z = margin - xy + x[n * C + i];
      if (i != y && z > T(0)) acc += p == 1 ? (double)z : (double)z * z;
    }
    acc = warp_sum(acc);
    if (lane == 0) out[n] = (T)(acc * (weight ? (double)weight[y] : 1.0) / (double)C);
  }
}

template <typename T>
__global__ void multi_margin_loss_backward(const T* g, index_t g_stride, T g_scale, const T* x,
                                           const index_t* target, const T* weight, T* dx,
                                           index_t N, index_t C, index_t p, T margin) {
  const int lane = threadIdx.x % NN_WARP;
  NN_ROWS_PER_WARP(n, N) {
    const index_t y = target[n];
    const T xy = x[n * C + y];
    const double s = (double)g[n * g_stride] * g_scale * (weight ? (double)weight[y] : 1.0) / C;
    double total = 0.0;
    for (index_t i = lane; i < C; i += NN_WARP) {
      const T z = margin - xy + x[n * C + i];
      const double d = (i != y && z > T(0)) ? (p == 1 ? s : 2.0 * s * z) : 0.0;
      total += d;
      if (i != y) dx[n * C + i] = (T)d;
    }
    total = warp_sum(total);
    if (lane == 0) dx[n * C + y] = (T)(-total);
  }
}

// ------------------------------------------------------------------ MultiLabelMarginLoss
// target (N, C): class indices, ended by the first -1. out[n] = sum over targets j and
// non-targets i of max(0, 1 - (x[j] - x[i])) / C. is_target (N, C) is scratch for the
// backward. One thread per sample (C is small for this loss).
template <typename T>
__global__ void multilabel_margin_loss_forward(const T* x, const index_t* target, T* out,
                                               unsigned char* is_target, index_t N, index_t C) {
  NN_GRID_STRIDE(n, N) {
    const T* xr = x + n * C;
    unsigned char* mark = is_target + n * C;
    for (index_t i = 0; i < C; ++i) mark[i] = 0;
    for (index_t k = 0; k < C && target[n * C + k] >= 0; ++k) mark[target[n * C + k]] = 1;
    double acc = 0.0;
    for (index_t k = 0; k < C && target[n * C + k] >= 0; ++k) {
      const T xj = xr[target[n * C + k]];
      for (index_t i = 0; i < C; ++i) {
        const T z = T(1) - xj + xr[i];
        if (!mark[i] && z > T(0)) acc += z;
      }
    }
    out[n] = (T)(acc / (double)C);
  }
}

template <typename T>
__global__ void multilabel_margin_loss_backward(const T* g, index_t g_stride, T g_scale,
                                                const T* x, const index_t* target,
                                                const unsigned char* is_target, T* dx, index_t N,
                                                index_t C) {
  NN_GRID_STRIDE(n, N) {
    const T* xr = x + n * C;
    const unsigned char* mark = is_target + n * C;
    T* d = dx + n * C;
    const T s = g[n * g_stride] * g_scale / (T)C;
    for (index_t i = 0; i < C; ++i) d[i] = T(0);
    for (index_t k = 0; k < C && target[n * C + k] >= 0; ++k) {
      const index_t j = target[n * C + k];
      for (index_t i = 0; i < C; ++i) {
        if (!mark[i] && T(1) - xr[j] + xr[i] > T(0)) {
          d[i] += s;
          d[j] -= s;
        }
      }
    }
  }
}

// ------------------------------------------------------------------ CosineEmbeddingLoss
// cos = <x1, x2> / sqrt((|x1|^2 + 1e-12)(|x2|^2 + 1e-12)); l = 1 - cos for y == 1,
// max(0, cos - margin) for y == -1, 0 otherwise. One warp per row.
template <typename T>
__global__ void cosine_embedding_loss_forward(const T* x1, const T* x2, const T* y, T* out,
                                              index_t N, index_t D, T margin) {
  const int lane = threadIdx.x % NN_WARP;
  NN_ROWS_PER_WARP(n, N) {
    double s12 = 0.0, s11 = 0.0, s22 = 0.0;
    for (index_t j = lane; j < D; j += NN_WARP) {
      const double a = x1[n * D + j], b = x2[n * D + j];
      s12 += a * b;
      s11 += a * a;
      s22 += b * b;
    }
    s12 = warp_sum(s12);
    s11 = warp_sum(s11) + 1e-12;
    s22 = warp_sum(s22) + 1e-12;
    if (lane == 0) {
      const double cos = s12 / sqrt(s11 * s22);
      out[n] = (T)(y[n] == T(1) ? 1.0 - cos : (y[n] == T(-1) ? nn_max(cos - (double)margin, 0.0) : 0.0));
    }
  }
}

template <typename T>
__global__ void cosine_embedding_loss_backward(const T* g, index_t g_stride, T g_scale,
                                               const T* x1, const T* x2, const T* y, T* dx1,
                                               T* dx2, index_t N, index_t D, T margin) {
  const int lane = threadIdx.x % NN_WARP;
  NN_ROWS_PER_WARP(n, N) {
    double s12 = 0.0, s11 = 0.0, s22 = 0.0;
    for (index_t j = lane; j < D; j += NN_WARP) {
      const double a = x1[n * D + j], b = x2[n * D + j];
      s12 += a * b;
      s11 += a * a;
      s22 += b * b;
    }
    s12 = warp_sum(s12);
    s11 = warp_sum(s11) + 1e-12;
    s22 = warp_sum(s22) + 1e-12;
    const double denom = sqrt(s11 * s22), cos = s12 / denom;
    double sign = 0.0;  // dl/dcos
    if (y[n] == T(1)) sign = -1.0;
    else if (y[n] == T(-1) && cos - (double)margin > 0.0) sign = 1.0;
    const double s = (double)g[n * g_stride] * g_scale * sign;
    for (index_t j = lane; j < D; j += NN_WARP) {
      const double a = x1[n * D + j], b = x2[n * D + j];
      dx1[n * D + j] = (T)(s * (b / denom - cos * a / s11));
      dx2[n * D + j] = (T)(s * (a / denom - cos * b / s22));
    }
  }
}
