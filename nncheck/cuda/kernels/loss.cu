// Losses: the kernels of nncheck/_kernels/loss.pyx.tp (same names, same formulas; sums in
// double).  Pointwise losses run in two kernels: <name>_forward writes each element's
// weighted loss (double) and the wanted unit gradients (for an upstream gradient of 1,
// already divided by the divisor), then segment_sum reduces the losses per segment
// (seg = 1: reduction='none'; one segment: sum/mean; rows).  Cross entropy, NLL, the
// margin/embedding losses and CTC run one thread per position, row or sample, as the CPU
// kernels loop; sizes, targets and lengths were validated in Python.
#include "_common.cu"

// ------------------------------------------------------------------ scalar helpers (loss.pyx)
__device__ __forceinline__ double lsgn(double v) { return (v > 0) - (v < 0); }
// where clamp_min(v, 0) lets the gradient through (torch: v >= 0)
__device__ __forceinline__ double lstep(double v) { return v >= 0 ? 1.0 : 0.0; }
// d min(u, v) / du as torch.minimum: ties split the gradient in half
__device__ __forceinline__ double min_share(double u, double v) {
  return u < v ? 1.0 : (u == v ? 0.5 : 0.0);
}
__device__ __forceinline__ double lclip(double v, double bound) {
  return v < -bound ? -bound : (v > bound ? bound : v);
}
__device__ __forceinline__ double xlogx(double v) { return v == 0 ? 0.0 : v * log(v); }
__device__ __forceinline__ double smooth_l1(double d, double beta) {
  const double ad = fabs(d);
  return ad < beta ? 0.5 * d * d / beta : ad - 0.5 * beta;
}
__device__ __forceinline__ double smooth_l1_grad(double d, double beta) {
  return d <= -beta ? -1.0 : (d >= beta ? 1.0 : d / beta);
}
__device__ __forceinline__ double huber(double d, double delta) {
  const double ad = fabs(d);
  return ad < delta ? 0.5 * d * d : delta * (ad - 0.5 * delta);
}
// Stirling's term of PoissonNLLLoss(full=True), 0 for targets <= 1; its target derivative
// is NaN at targets <= 0 as torch's autograd gives (0 * log 0)
__device__ __forceinline__ double stirling(double y) {
  return y > 1 ? y * log(y) - y + 0.5 * log(6.283185307179586 * y) : 0.0;
}
__device__ __forceinline__ double stirling_grad(double y) {
  if (y > 1) return log(y) + 0.5 / y;
  return y > 0 ? 0.0 : nn_inf<double>() - nn_inf<double>();
}
__device__ __forceinline__ double neg_part(double x) { return x < 0 ? x : 0.0; }
// sigmoid(x) from q = exp(-|x|), without overflow
__device__ __forceinline__ double sigmoid_q(double x, double q) {
  return x >= 0 ? 1 / (1 + q) : q / (1 + q);
}

// ------------------------------------------------------------------ pointwise losses
// Each loss: F (the loss), DX, DY, DZ (its derivatives; 0 where Python never asks for one)
// and Q (a shared subexpression, rounded to T as the CPU's q buffer) over double x, y, z,
// q and the scalar parameters a, b, c.
// (kernels are found by scanning the source, so each <name>_forward is spelled out below)
#define NN_POINTWISE(name, Q, F, DX, DY, DZ)                                                 \
  struct name##_expr {                                                                      \
    __device__ static double q(double x, double y, double z) { return Q; }                  \
    __device__ static double f(double x, double y, double z, double q, double a, double b,  \
                               double c) { return F; }                                      \
    __device__ static double d(int k, double x, double y, double z, double q, double a,     \
                               double b, double c) {                                        \
      return k == 0 ? (DX) : (k == 1 ? (DY) : (DZ));                                        \
    }                                                                                       \
  };

template <typename T, typename E>
__device__ __forceinline__ void pointwise_elements(const T* x, const T* y, const T* z,
                                                   const T* w, double* losses, T* gx, T* gy,
                                                   T* gz, T* gw, index_t n, double inv_divisor,
                                                   double a, double b, double c) {
  const T s = (T)inv_divisor;
  T* grads[3] = {gx, gy, gz};
  NN_GRID_STRIDE(i, n) {
    const double xi = x[i], yi = y[i], zi = z ? (double)z[i] : 0.0;
    const double q = (double)(T)E::q(xi, yi, zi);
    const T f = (T)E::f(xi, yi, zi, q, a, b, c);
    losses[i] = w ? (double)f * w[i] : (double)f;
    for (int k = 0; k < 3; ++k)
      if (grads[k]) grads[k][i] = (T)E::d(k, xi, yi, zi, q, a, b, c) * (w ? w[i] * s : s);
    if (gw) gw[i] = f * s;
  }
}

NN_POINTWISE(l1, 0, fabs(x - y), lsgn(x - y), -lsgn(x - y), 0)
NN_POINTWISE(mse, 0, (x - y) * (x - y), 2 * (x - y), -2 * (x - y), 0)
NN_POINTWISE(smooth_l1, 0, smooth_l1(x - y, a), smooth_l1_grad(x - y, a),
             -smooth_l1_grad(x - y, a), 0)
NN_POINTWISE(huber, 0, huber(x - y, a), lclip(x - y, a), -lclip(x - y, a), 0)
NN_POINTWISE(bce, 0, (y - 1) * fmax(log1p(-x), -100.0) - y * fmax(log(x), -100.0),
             (x - y) / fmax((1 - x) * x, 1e-12), -log(x / (1 - x)), 0)
// log_sigmoid(x) = min(x, 0) - log1p(q), sigmoid(x) from q, with q = exp(-|x|)
NN_POINTWISE(bce_logits, exp(-fabs(x)), (1 - y) * x - neg_part(x) + log1p(q),
             sigmoid_q(x, q) - y, -x, 0)
NN_POINTWISE(bce_logits_pw, exp(-fabs(x)),
             (1 - y) * x - (1 + (z - 1) * y) * (neg_part(x) - log1p(q)),
             (z * y + 1 - y) * sigmoid_q(x, q) - z * y,
             (neg_part(-x) - log1p(q)) - z * (neg_part(x) - log1p(q)), 0)
NN_POINTWISE(kl_div, 0, xlogx(y) - y * x, -y, y / y + (y != 0 ? log(y) : 0.0) - x, 0)
NN_POINTWISE(kl_div_log, 0, exp(y) * (y - x), -exp(y), exp(y) * (y - x + 1), 0)
NN_POINTWISE(poisson_log, 0, exp(x) - y * x + (c != 0 ? stirling(y) : 0.0), exp(x) - y,
             (c != 0 ? stirling_grad(y) : 0.0) - x, 0)
NN_POINTWISE(poisson, 0, x - y * log(x + a) + (c != 0 ? stirling(y) : 0.0), 1 - y / (x + a),
             (c != 0 ? stirling_grad(y) : 0.0) - log(x + a), 0)
NN_POINTWISE(gaussian_nll, 0, 0.5 * (log(fmax(z, a)) + (x - y) * (x - y) / fmax(z, a)) + c,
             (x - y) / fmax(z, a), (y - x) / fmax(z, a),
             0.5 * (1 - (x - y) * (x - y) / fmax(z, a)) / fmax(z, a))
// softplus(-y x) = max(-y x, 0) + log1p(q), q = exp(-|y x|)
NN_POINTWISE(soft_margin, exp(-fabs(y * x)), log1p(q) - neg_part(y * x),
             -y * sigmoid_q(-y * x, q), 0, 0)
NN_POINTWISE(hinge_embedding, 0, (y != 1 ? fmax(a - x, 0.0) : 0.0) + (y != -1 ? x : 0.0),
             (y != 1 ? -lstep(a - x) : 0.0) + (y != -1 ? 1.0 : 0.0), 0, 0)
NN_POINTWISE(margin_ranking, 0, fmax(a - z * (x - y), 0.0), -z * lstep(a - z * (x - y)),
             z * lstep(a - z * (x - y)), (y - x) * lstep(a - z * (x - y)))
NN_POINTWISE(triplet_hinge, 0, fmax(a + x - y, 0.0), lstep(a + x - y), -lstep(a + x - y), 0)
NN_POINTWISE(triplet_hinge_swap, 0, fmax(a + x - fmin(y, z), 0.0), lstep(a + x - fmin(y, z)),
             -lstep(a + x - fmin(y, z)) * min_share(y, z),
             -lstep(a + x - fmin(y, z)) * min_share(z, y))

#define NN_PW_ARGS                                                                          \
  const T *x, const T *y, const T *z, const T *w, double *losses, T *gx, T *gy, T *gz, T *gw, \
      index_t n, double inv_divisor, double a, double b, double c
#define NN_PW_PASS x, y, z, w, losses, gx, gy, gz, gw, n, inv_divisor, a, b, c
template <typename T> __global__ void l1_forward(NN_PW_ARGS) { pointwise_elements<T, l1_expr>(NN_PW_PASS); }
template <typename T> __global__ void mse_forward(NN_PW_ARGS) { pointwise_elements<T, mse_expr>(NN_PW_PASS); }
template <typename T> __global__ void smooth_l1_forward(NN_PW_ARGS) { pointwise_elements<T, smooth_l1_expr>(NN_PW_PASS); }
template <typename T> __global__ void huber_forward(NN_PW_ARGS) { pointwise_elements<T, huber_expr>(NN_PW_PASS); }
template <typename T> __global__ void bce_forward(NN_PW_ARGS) { pointwise_elements<T, bce_expr>(NN_PW_PASS); }
template <typename T> __global__ void bce_logits_forward(NN_PW_ARGS) { pointwise_elements<T, bce_logits_expr>(NN_PW_PASS); }
template <typename T> __global__ void bce_logits_pw_forward(NN_PW_ARGS) { pointwise_elements<T, bce_logits_pw_expr>(NN_PW_PASS); }
template <typename T> __global__ void kl_div_forward(NN_PW_ARGS) { pointwise_elements<T, kl_div_expr>(NN_PW_PASS); }
template <typename T> __global__ void kl_div_log_forward(NN_PW_ARGS) { pointwise_elements<T, kl_div_log_expr>(NN_PW_PASS); }
template <typename T> __global__ void poisson_log_forward(NN_PW_ARGS) { pointwise_elements<T, poisson_log_expr>(NN_PW_PASS); }
template <typename T> __global__ void poisson_forward(NN_PW_ARGS) { pointwise_elements<T, poisson_expr>(NN_PW_PASS); }
template <typename T> __global__ void gaussian_nll_forward(NN_PW_ARGS) { pointwise_elements<T, gaussian_nll_expr>(NN_PW_PASS); }
template <typename T> __global__ void soft_margin_forward(NN_PW_ARGS) { pointwise_elements<T, soft_margin_expr>(NN_PW_PASS); }
template <typename T> __global__ void hinge_embedding_forward(NN_PW_ARGS) { pointwise_elements<T, hinge_embedding_expr>(NN_PW_PASS); }
template <typename T> __global__ void margin_ranking_forward(NN_PW_ARGS) { pointwise_elements<T, margin_ranking_expr>(NN_PW_PASS); }
template <typename T> __global__ void triplet_hinge_forward(NN_PW_ARGS) { pointwise_elements<T, triplet_hinge_expr>(NN_PW_PASS); }
template <typename T> __global__ void triplet_hinge_swap_forward(NN_PW_ARGS) { pointwise_elements<T, triplet_hinge_swap_expr>(NN_PW_PASS); }
#undef NN_PW_ARGS
#undef NN_PW_PASS

// out[k] = (sum of losses[k*seg, min((k+1)*seg, n))) / divisor: one block per segment
// (grid-stride over segments), the sum in double.
template <typename T>
__global__ void segment_sum(const double* losses, T* out, index_t n, index_t nseg, index_t seg,
                            double divisor) {
  __shared__ double scratch[NN_WARP];
  for (index_t k = blockIdx.x; k < nseg; k += gridDim.x) {
    const index_t lo = k * seg, hi = nn_min(lo + seg, n);
    double acc = 0.0;
    for (index_t i = lo + threadIdx.x; i < hi; i += blockDim.x) acc += losses[i];
    acc = block_sum(acc, scratch);
    if (threadIdx.x == 0) out[k] = (T)(acc / divisor);
  }
}

// out = unit * g: a gradient precomputed for an upstream gradient of 1, times g
template <typename T>
__global__ void scale(const T* unit, double g, T* out, index_t n) {
  const T gf = (T)g;
  NN_GRID_STRIDE(i, n) out[i] = unit[i] * gf;
}

// out[o, m, i] = unit[o, m, i] * g[o, i]: per-sample upstream gradients
template <typename T>
__global__ void scale_rows(const T* unit, const T* g, T* out, index_t outer, index_t mid,
                           index_t inner) {
  NN_GRID_STRIDE(e, outer * mid * inner) {
    const index_t o = e / (mid * inner), i = e % inner;
    out[e] = unit[e] * g[o * inner + i];
  }
}

// ------------------------------------------------------------------ cross entropy
// Class scores viewed as (N, C, inner): position p = n*inner + j has its C scores at stride
// `inner` from x[n*C*inner + j].  One thread per position.

// (1 - eps) w_t (lse - r_t) + eps / C * sum_c w_c (lse - r_c)
template <typename T>
__device__ double ce_loss(const T* r, index_t C, index_t s, index_t t, const T* w,
                          double smoothing, double lse) {
  const double nll = (lse - r[t * s]) * (w ? (double)w[t] : 1.0);
  if (smoothing == 0) return nll;
  double acc = 0;
  for (index_t c = 0; c < C; ++c) acc += (w ? (double)w[c] : 1.0) * (lse - r[c * s]);
  return (1 - smoothing) * nll + smoothing / C * acc;
}

// Fused log_softmax + NLL (+ label smoothing) per position (0 where ignored); with gx,
// also d(sum_p loss_p * unit_scale)/dx.
template <typename T>
__global__ void cross_entropy_forward(const T* x, const index_t* target, const T* w, index_t P,
                                      index_t C, index_t inner, index_t ignore_index,
                                      double smoothing, double unit_scale, T* loss, T* gx) {
  NN_GRID_STRIDE(p, P) {
    const index_t n = p / inner, base = n * C * inner + (p - n * inner), t = target[p];
    const T* r = x + base;
    if (t == ignore_index) {
      loss[p] = T(0);
      if (gx)
        for (index_t c = 0; c < C; ++c) gx[base + c * inner] = T(0);
      continue;
    }
    T m = r[0];
    for (index_t c = 1; c < C; ++c) m = r[c * inner] > m ? r[c * inner] : m;
    double total = 0;
    for (index_t c = 0; c < C; ++c) total += (double)nn_exp((T)(r[c * inner] - m));
    const double lse = m + log(total), wt = w ? (double)w[t] : 1.0;
    loss[p] = (T)ce_loss(r, C, inner, t, w, smoothing, lse);
    if (!gx) continue;
    double w_total = C;
    if (w) {
      w_total = 0;
      for (index_t c = 0; c < C; ++c) w_total += w[c];
    }
    const T coef = (T)(unit_scale * ((1 - smoothing) * wt + smoothing * w_total / C) / total);
    const T off = (T)(unit_scale * smoothing / C);
    for (index_t c = 0; c < C; ++c)
      gx[base + c * inner] = coef * nn_exp((T)(r[c * inner] - m)) - off * (w ? w[c] : T(1));
    gx[base + t * inner] = (T)(gx[base + t * inner] - unit_scale * (1 - smoothing) * wt);
  }
}

// Soft targets: loss_p = sum_c a_c (lse - x_c), a_c = w_c (y_c (1-eps) + eps/C);
// gx_c = unit_scale (p_c sum_k a_k - a_c); gy_c = unit_scale w_c (1-eps) (lse - x_c).
template <typename T>
__global__ void cross_entropy_prob_forward(const T* x, const T* target, const T* w, index_t P,
                                           index_t C, index_t inner, double smoothing,
                                           double unit_scale, T* loss, T* gx, T* gy) {
  NN_GRID_STRIDE(p, P) {
    const index_t n = p / inner, k = n * C * inner + (p - n * inner);
    T m = x[k];
    for (index_t c = 1; c < C; ++c) m = x[k + c * inner] > m ? x[k + c * inner] : m;
    double acc = 0;
    for (index_t c = 0; c < C; ++c) acc += (double)nn_exp((T)(x[k + c * inner] - m));
    const double lse = m + log(acc);
    double a_total = 0;
    acc = 0;
    for (index_t c = 0; c < C; ++c) {
      const double ac = (w ? (double)w[c] : 1.0) *
                        (target[k + c * inner] * (1 - smoothing) + smoothing / C);
      acc += ac * (lse - x[k + c * inner]);
      a_total += ac;
    }
    loss[p] = (T)acc;
    for (index_t c = 0; c < C; ++c) {
      const double wc = w ? (double)w[c] : 1.0, xc = x[k + c * inner];
      if (gx)
        gx[k + c * inner] = (T)(unit_scale * (exp(xc - lse) * a_total -
                                              wc * (target[k + c * inner] * (1 - smoothing) +
                                                    smoothing / C)));
      if (gy) gy[k + c * inner] = (T)(unit_scale * wc * (1 - smoothing) * (lse - xc));
    }
  }
}

// ------------------------------------------------------------------ NLL
// loss_p = -w[t] * x[t] (0 where the target is ignore_index); used_weight_p = w[t] (or 0)
template <typename T>
__global__ void nll_forward(const T* x, const index_t* target, const T* w, index_t P, index_t C,
                            index_t inner, index_t ignore_index, T* loss, T* used_weight) {
  NN_GRID_STRIDE(p, P) {
    const index_t t = target[p];
    if (t == ignore_index) {
      loss[p] = T(0);
      used_weight[p] = T(0);
      continue;
    }
    const index_t n = p / inner;
    const double wt = w ? (double)w[t] : 1.0;
    loss[p] = (T)(-wt * x[n * C * inner + t * inner + (p - n * inner)]);
    used_weight[p] = (T)wt;
  }
}

// scatter -w[t] * g / divisor into a zero-filled gx
template <typename T>
__global__ void nll_backward(const index_t* target, const T* w, index_t P, index_t C,
                             index_t inner, index_t ignore_index, const T* grad,
                             index_t per_position, double divisor, T* gx) {
  NN_GRID_STRIDE(p, P) {
    const index_t t = target[p];
    if (t == ignore_index) continue;
    const index_t n = p / inner;
    gx[n * C * inner + t * inner + (p - n * inner)] =
        (T)(-(w ? (double)w[t] : 1.0) * (double)grad[per_position ? p : 0] / divisor);
  }
}

// ------------------------------------------------------------------ margin losses on (N, C) rows
// loss_i = sum_{j != y} max(0, margin - x[y] + x[j])^p * w[y] / C
template <typename T>
__global__ void multi_margin_forward(const T* x, const index_t* target, const T* w, index_t N,
                                     index_t C, index_t p, double margin, T* loss) {
  NN_GRID_STRIDE(i, N) {
    const index_t t = target[i];
    double acc = 0;
    for (index_t j = 0; j < C; ++j) {
      const double zz = margin - x[i * C + t] + x[i * C + j];
      if (j != t && zz > 0) acc += (p == 1 ? zz : zz * zz) * (w ? (double)w[t] : 1.0);
    }
    loss[i] = (T)(acc / C);
  }
}

template <typename T>
__global__ void multi_margin_backward(const T* x, const index_t* target, const T* w, index_t N,
                                      index_t C, index_t p, double margin, const T* grad,
                                      index_t per_row, double divisor, T* gx) {
  NN_GRID_STRIDE(i, N) {
    const index_t t = target[i];
    const double g = (double)grad[per_row ? i : 0] / divisor / C * (w ? (double)w[t] : 1.0);
    double at = 0;
    for (index_t j = 0; j < C; ++j) {
      const double zz = margin - x[i * C + t] + x[i * C + j];
      if (j != t && zz > 0) {
        const double h = p == 1 ? g : 2 * g * zz;
        gx[i * C + j] = (T)h;
        at -= h;
      } else {
        gx[i * C + j] = T(0);
      }
    }
    gx[i * C + t] = (T)at;
  }
}

// loss_i = sum over listed targets k, non-targets j of max(0, 1 - x[k] + x[j]) / C; targets
// end at the first negative entry; is_target (zero-filled) records them for the backward
template <typename T>
__global__ void multilabel_margin_forward(const T* x, const index_t* target,
                                          unsigned char* is_target, index_t N, index_t C,
                                          T* loss) {
  NN_GRID_STRIDE(i, N) {
    const index_t* tg = target + i * C;
    for (index_t k = 0; k < C && tg[k] >= 0; ++k) is_target[i * C + tg[k]] = 1;
    double acc = 0;
    for (index_t k = 0; k < C && tg[k] >= 0; ++k)
      for (index_t j = 0; j < C; ++j) {
        const double zz = 1 - x[i * C + tg[k]] + x[i * C + j];
        if (!is_target[i * C + j] && zz > 0) acc += zz;
      }
    loss[i] = (T)(acc / C);
  }
}

template <typename T>
__global__ void multilabel_margin_backward(const T* x, const index_t* target,
                                           const unsigned char* is_target, index_t N, index_t C,
                                           const T* grad, index_t per_row, double divisor,
                                           T* gx) {
  NN_GRID_STRIDE(i, N) {
    const index_t* tg = target + i * C;
    const double g = (double)grad[per_row ? i : 0] / divisor / C;
    for (index_t j = 0; j < C; ++j) gx[i * C + j] = T(0);
    for (index_t k = 0; k < C && tg[k] >= 0; ++k)
      for (index_t j = 0; j < C; ++j)
        if (!is_target[i * C + j] && 1 - x[i * C + tg[k]] + x[i * C + j] > 0) {
          gx[i * C + tg[k]] -= (T)g;
          gx[i * C + j] += (T)g;
        }
  }
}

// ------------------------------------------------------------------ embedding losses on (N, D) rows
// cos = <x1, x2> / sqrt((|x1|^2 + 1e-12)(|x2|^2 + 1e-12)); 1 - cos (y=1), max(0, cos-m) (y=-1)
template <typename T>
__global__ void cosine_embedding_forward(const T* x1, const T* x2, const T* y, index_t N,
                                         index_t D, double margin, T* loss) {
  NN_GRID_STRIDE(i, N) {
    double dot = 0, m1 = 0, m2 = 0;
    for (index_t k = 0; k < D; ++k) {
      dot += (double)x1[i * D + k] * x2[i * D + k];
      m1 += (double)x1[i * D + k] * x1[i * D + k];
      m2 += (double)x2[i * D + k] * x2[i * D + k];
    }
    const double cs = dot / sqrt((m1 + 1e-12) * (m2 + 1e-12));
    loss[i] = (T)(y[i] == T(1) ? 1 - cs : (y[i] == T(-1) ? fmax(cs - margin, 0.0) : 0.0));
  }
}

template <typename T>
__global__ void cosine_embedding_backward(const T* x1, const T* x2, const T* y, index_t N,
                                          index_t D, double margin, const T* grad,
                                          index_t per_row, double divisor, T* g1, T* g2) {
  NN_GRID_STRIDE(i, N) {
    double dot = 0, m1 = 0, m2 = 0;
    for (index_t k = 0; k < D; ++k) {
      dot += (double)x1[i * D + k] * x2[i * D + k];
      m1 += (double)x1[i * D + k] * x1[i * D + k];
      m2 += (double)x2[i * D + k] * x2[i * D + k];
    }
    m1 += 1e-12;
    m2 += 1e-12;
    const double denom = sqrt(m1 * m2), cs = dot / denom;
    double dcos = y[i] == T(1) ? -1.0 : (y[i] == T(-1) ? lstep(cs - margin) : 0.0);
    dcos = dcos * (double)grad[per_row ? i : 0] / divisor;
    for (index_t k = 0; k < D; ++k) {
      g1[i * D + k] = (T)(dcos * (x2[i * D + k] / denom - cs * x1[i * D + k] / m1));
      g2[i * D + k] = (T)(dcos * (x1[i * D + k] / denom - cs * x2[i * D + k] / m2));
    }
  }
}

__device__ __forceinline__ bool is_inf(double v) { return v == nn_inf<double>() || v == -nn_inf<double>(); }

// ||u - v + eps||_p as torch.pairwise_distance (the difference in the input's precision)
template <typename T>
__device__ double lp_distance(const T* u, const T* v, index_t D, double p, double eps) {
  const double inf = nn_inf<double>();
  double acc = is_inf(p) ? (p < 0 ? inf : 0.0) : 0.0;
  for (index_t k = 0; k < D; ++k) {
    const double d = fabs((double)(T)(u[k] - v[k] + (T)eps));
    if (p == 2) acc += d * d;
    else if (p == 1) acc += d;
    else if (p == 0) acc += d != 0;
    else if (is_inf(p)) acc = p > 0 ? fmax(acc, d) : fmin(acc, d);
    else acc += pow(d, p);
  }
  if (p == 2) return sqrt(acc);
  if (p == 0 || p == 1 || is_inf(p)) return acc;
  return pow(acc, 1 / p);
}

// add g * d||u - v + eps||_p / du to gu and subtract it from gv (torch's norm backward)
template <typename T>
__device__ void lp_distance_grad(const T* u, const T* v, index_t D, double p, double eps,
                                 double norm, double g, T* gu, T* gv) {
  if (p == 0 || g == 0) return;
  double ties = 0;
  if (is_inf(p))
    for (index_t k = 0; k < D; ++k) ties += fabs((double)(T)(u[k] - v[k] + (T)eps)) == norm;
  for (index_t k = 0; k < D; ++k) {
    const double d = (T)(u[k] - v[k] + (T)eps);
    double e;
    if (p == 1) e = lsgn(d);
    else if (is_inf(p)) e = fabs(d) == norm ? lsgn(d) / ties : 0.0;
    else if (norm == 0 && p >= 1) e = 0;
    else if (p == 2) e = d / norm;
    else if (p < 1) e = d == 0 ? 0.0 : lsgn(d) * pow(fabs(d), p - 1) * pow(norm, 1 - p);
    else if (p < 2) e = lsgn(d) * pow(fabs(d), p - 1) / pow(norm, p - 1);
    else e = d * pow(fabs(d), p - 2) / pow(norm, p - 1);
    gu[k] += (T)(g * e);
    gv[k] -= (T)(g * e);
  }
}

// max(0, margin + d(a, p) - min(d(a, n), d(p, n) if swap)); dist keeps the three distances
template <typename T>
__global__ void triplet_margin_forward(const T* a, const T* pos, const T* neg, index_t N,
                                       index_t D, double margin, double p, double eps,
                                       index_t swap, T* loss, T* dist) {
  NN_GRID_STRIDE(i, N) {
    dist[i * 3] = (T)lp_distance(a + i * D, pos + i * D, D, p, eps);
    dist[i * 3 + 1] = (T)lp_distance(a + i * D, neg + i * D, D, p, eps);
    dist[i * 3 + 2] = swap ? (T)lp_distance(pos + i * D, neg + i * D, D, p, eps) : nn_inf<T>();
    loss[i] = (T)fmax(margin + dist[i * 3] - fmin((double)dist[i * 3 + 1], (double)dist[i * 3 + 2]),
                      0.0);
  }
}

// gradients into zero-filled ga, gp, gn
template <typename T>
__global__ void triplet_margin_backward(const T* a, const T* pos, const T* neg, index_t N,
                                        index_t D, double margin, double p, double eps,
                                        index_t swap, const T* dist, const T* grad,
                                        index_t per_row, double divisor, T* ga, T* gp, T* gn) {
  NN_GRID_STRIDE(i, N) {
    const double d0 = dist[i * 3], d1 = dist[i * 3 + 1], d2 = dist[i * 3 + 2];
    const double g = (double)grad[per_row ? i : 0] / divisor * lstep(margin + d0 - fmin(d1, d2));
    lp_distance_grad(a + i * D, pos + i * D, D, p, eps, d0, g, ga + i * D, gp + i * D);
    lp_distance_grad(a + i * D, neg + i * D, D, p, eps, d1, -g * min_share(d1, d2), ga + i * D,
                     gn + i * D);
    if (swap)
      lp_distance_grad(pos + i * D, neg + i * D, D, p, eps, d2, -g * min_share(d2, d1),
                       gp + i * D, gn + i * D);
  }
}

// ------------------------------------------------------------------ CTC (log space)
// log_probs (T, N, C); targets of sample b are targets[offsets[b] : + target_lengths[b]];
// the extended labels interleave blanks: l'_s = blank (even s), target[s / 2] (odd s).
// One thread per sample, the recursions of Graves et al. 2006 (eq. 6-8, 10-11, 16).
__device__ __forceinline__ index_t ctc_label(const index_t* tg, index_t s, index_t blank) {
  return s % 2 == 0 ? blank : tg[s / 2];
}

__device__ __forceinline__ double logadd3(double a, double b, double c) {
  const double m = fmax(a, fmax(b, c));
  if (m == -nn_inf<double>()) return m;
  return log(exp(a - m) + exp(b - m) + exp(c - m)) + m;
}

#define LP(t, c) ((double)log_probs[((t) * N + b) * C + (c)])
#define GX(t, c) gx[((t) * N + b) * C + (c)]

template <typename T>
__global__ void ctc_forward(const T* log_probs, const index_t* targets, const index_t* offsets,
                            const index_t* input_lengths, const index_t* target_lengths,
                            index_t Tmax, index_t N, index_t C, index_t S2, index_t blank,
                            T* log_alpha, T* nll) {
  const double ninf = -nn_inf<double>();
  NN_GRID_STRIDE(b, N) {
    const index_t T_b = input_lengths[b], L = 2 * target_lengths[b] + 1;
    const index_t* tg = targets + offsets[b];
    T* la = log_alpha + b * Tmax * S2;
    for (index_t e = 0; e < Tmax * S2; ++e) la[e] = (T)ninf;
    if (T_b == 0) {
      nll[b] = L == 1 ? T(0) : nn_inf<T>();
      continue;
    }
    la[0] = log_probs[b * C + blank];
    if (L > 1) la[1] = log_probs[b * C + tg[0]];
    for (index_t t = 1; t < T_b; ++t)
      for (index_t s = 0; s < L; ++s) {
        double la3 = ninf;
        if (s > 1 && ctc_label(tg, s - 2, blank) != ctc_label(tg, s, blank))
          la3 = la[(t - 1) * S2 + s - 2];
        la[t * S2 + s] = (T)(logadd3(la[(t - 1) * S2 + s], s > 0 ? (double)la[(t - 1) * S2 + s - 1] : ninf,
                                     la3) + LP(t, ctc_label(tg, s, blank)));
      }
    if (L == 1) nll[b] = -la[(T_b - 1) * S2];
    else nll[b] = (T)-logadd3(la[(T_b - 1) * S2 + L - 1], la[(T_b - 1) * S2 + L - 2], ninf);
  }
}

// torch's gradient for log_probs that are log_softmax outputs (it includes exp(lp))
template <typename T>
__global__ void ctc_backward(const T* log_probs, const index_t* targets, const index_t* offsets,
                             const index_t* input_lengths, const index_t* target_lengths,
                             index_t Tmax, index_t N, index_t C, index_t S2, index_t blank,
                             const T* log_alpha, const T* nll, const T* grad,
                             index_t zero_infinity, T* log_beta, T* gx) {
  const double ninf = -nn_inf<double>();
  NN_GRID_STRIDE(b, N) {
    index_t T_b = input_lengths[b];
    const index_t L = 2 * target_lengths[b] + 1;
    const index_t* tg = targets + offsets[b];
    const T* la = log_alpha + b * Tmax * S2;
    T* lb = log_beta + b * Tmax * S2;
    if (zero_infinity && nll[b] == nn_inf<T>()) T_b = 0;  // impossible alignment: no gradient
    for (index_t t = 0; t < Tmax; ++t) {
      for (index_t c = 0; c < C; ++c) GX(t, c) = t >= T_b ? T(0) : (T)ninf;
      for (index_t s = 0; s < S2; ++s) lb[t * S2 + s] = (T)ninf;
    }
    if (T_b == 0) continue;
    lb[(T_b - 1) * S2 + L - 1] = log_probs[((T_b - 1) * N + b) * C + blank];
    GX(T_b - 1, blank) = la[(T_b - 1) * S2 + L - 1] + lb[(T_b - 1) * S2 + L - 1];
    if (L > 1) {
      const index_t lab_s = ctc_label(tg, L - 2, blank);
      lb[(T_b - 1) * S2 + L - 2] = log_probs[((T_b - 1) * N + b) * C + lab_s];
      GX(T_b - 1, lab_s) = la[(T_b - 1) * S2 + L - 2] + lb[(T_b - 1) * S2 + L - 2];
    }
    for (index_t t = T_b - 2; t >= 0; --t)
      for (index_t s = L - 1; s >= 0; --s) {
        const index_t lab_s = ctc_label(tg, s, blank);
        double lb3 = ninf;
        if (s < L - 2 && ctc_label(tg, s + 2, blank) != lab_s) lb3 = lb[(t + 1) * S2 + s + 2];
        lb[t * S2 + s] = (T)(logadd3(lb[(t + 1) * S2 + s], s < L - 1 ? (double)lb[(t + 1) * S2 + s + 1] : ninf,
                                     lb3) + LP(t, lab_s));
        const double lab = (double)la[t * S2 + s] + lb[t * S2 + s];
        if (GX(t, lab_s) == (T)ninf) {
          GX(t, lab_s) = (T)lab;
        } else {
          const double m = fmax((double)GX(t, lab_s), lab);
          GX(t, lab_s) = (T)(log(exp(GX(t, lab_s) - m) + exp(lab - m)) + m);
        }
      }
    for (index_t t = 0; t < T_b; ++t)
      for (index_t c = 0; c < C; ++c) {
        const double lp = LP(t, c);
        GX(t, c) = (T)((exp(lp) - exp(GX(t, c) + (double)nll[b] - lp)) * (double)grad[b]);
      }
  }
}
#undef GX
#undef LP
