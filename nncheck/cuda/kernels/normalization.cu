// Normalization: BatchNorm (x as (N, C, inner)), LayerNorm / RMSNorm (x as (M, D) rows),
// GroupNorm and InstanceNorm (GroupNorm with G = C). Statistics are two-pass block
// reductions (warp shuffles) accumulated in double. Mirrors nncheck/_kernels/normalization.pyx.
#include "_common.cu"

// ------------------------------------------------------------------ BatchNorm
// One block per channel: mean[c] and biased var[c] over (N, inner).
template <typename T>
__global__ void batch_norm_stats(const T* x, T* mean, T* var, index_t N, index_t C,
                                 index_t inner) {
  __shared__ double scratch[NN_WARP];
  const index_t c = blockIdx.x, count = N * inner;
  double s = 0.0;
  for (index_t t = threadIdx.x; t < count; t += blockDim.x)
    s += (double)x[((t / inner) * C + c) * inner + t % inner];
  const double mu = block_sum(s, scratch) / (double)count;
  double q = 0.0;
  for (index_t t = threadIdx.x; t < count; t += blockDim.x) {
    const double d = (double)x[((t / inner) * C + c) * inner + t % inner] - mu;
    q += d * d;
  }
  q = block_sum(q, scratch);
  if (threadIdx.x == 0) {
    mean[c] = (T)mu;
    var[c] = (T)(q / (double)count);
  }
}

// running = (1 - momentum) * running + momentum * batch stat (variance unbiased).
template <typename T>
__global__ void batch_norm_update_running(const T* mean, const T* var, T* running_mean,
                                          T* running_var, index_t C, index_t count,
                                          T momentum) {
  NN_GRID_STRIDE(c, C) {
    const T unbiased = count > 1 ? var[c] * (T)count / (T)(count - 1) : var[c];
    running_mean[c] = (T(1) - momentum) * running_mean[c] + momentum * mean[c];
    running_var[c] = (T(1) - momentum) * running_var[c] + momentum * unbiased;
  }
}

// y = (x - mean) / sqrt(var + eps) * w + b; w, b may be null (affine=False). In eval mode
// mean/var are the running statistics.
template <typename T>
__global__ void batch_norm_forward(const T* x, const T* mean, const T* var, const T* w,
                                   const T* b, T* y, index_t total, index_t C, index_t inner,
                                   T eps) {
  NN_GRID_STRIDE(i, total) {
    const index_t c = (i / inner) % C;
    T v = (x[i] - mean[c]) / nn_sqrt(var[c] + eps);
    if (w) v *= w[c];
    if (b) v += b[c];
    y[i] = v;
  }
}

// One block per channel: sum_dy[c] = sum g (= grad_bias), sum_dy_xhat[c] = sum g * xhat
// (= grad_weight).
template <typename T>
__global__ void batch_norm_backward_reduce(const T* g, const T* x, const T* mean, const T* var,
                                           T* sum_dy, T* sum_dy_xhat, index_t N, index_t C,
                                           index_t inner, T eps) {
  __shared__ double scratch[NN_WARP];
  const index_t c = blockIdx.x, count = N * inner;
  const double mu = mean[c], invstd = 1.0 / sqrt((double)var[c] + (double)eps);
  double s = 0.0, sx = 0.0;
  for (index_t t = threadIdx.x; t < count; t += blockDim.x) {
    const index_t k = ((t / inner) * C + c) * inner + t % inner;
    s += (double)g[k];
    sx += (double)g[k] * ((double)x[k] - mu) * invstd;
  }
  s = block_sum(s, scratch);
  sx = block_sum(sx, scratch);
  if (threadIdx.x == 0) {
    sum_dy[c] = (T)s;
    sum_dy_xhat[c] = (T)sx;
  }
}

// training: dx = w * invstd / count * (count * g - sum_dy - xhat * sum_dy_xhat);
// eval (statistics are constants): dx = g * w * invstd.
template <typename T>
__global__ void batch_norm_backward_input(const T* g, const T* x, const T* mean, const T* var,
                                          const T* w, const T* sum_dy, const T* sum_dy_xhat,
                                          T* dx, index_t N, index_t C, index_t inner, T eps,
                                          index_t training) {
  const index_t count = N * inner;
  NN_GRID_STRIDE(i, N * C * inner) {
    const index_t c = (i / inner) % C;
    const T invstd = T(1) / nn_sqrt(var[c] + eps);
    const T scale = (w ? w[c] : T(1)) * invstd;
    if (training) {
      const T xhat = (x[i] - mean[c]) * invstd;
      dx[i] = scale / (T)count * ((T)count * g[i] - sum_dy[c] - xhat * sum_dy_xhat[c]);
    } else {
      dx[i] = g[i] * scale;
    }
  }
}

// ------------------------------------------------------------------ LayerNorm / RMSNorm
// One block per row of D elements; saves mean (0 for RMSNorm) and rstd per row.
template <typename T>
__global__ void layer_norm_forward(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd,
                                   index_t M, index_t D, T eps, index_t rms) {
  __shared__ double scratch[NN_WARP];
  for (index_t row = blockIdx.x; row < M; row += gridDim.x) {
    const T* xr = x + row * D;
    double mu = 0.0;
    if (!rms) {
      double s = 0.0;
      for (index_t j = threadIdx.x; j < D; j += blockDim.x) s += (double)xr[j];
      mu = block_sum(s, scratch) / (double)D;
    }
    double q = 0.0;
    for (index_t j = threadIdx.x; j < D; j += blockDim.x) {
      const double d = (double)xr[j] - mu;
      q += d * d;
    }
    const double r = 1.0 / sqrt(block_sum(q, scratch) / (double)D + (double)eps);
    for (index_t j = threadIdx.x; j < D; j += blockDim.x) {
      double v = ((double)xr[j] - mu) * r;
      if (w) v *= (double)w[j];
      if (b) v += (double)b[j];
      y[row * D + j] = (T)v;
    }
    if (threadIdx.x == 0) {
      mean[row] = (T)mu;
      rstd[row] = (T)r;
    }
  }
}

// dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)), gw = g * w; RMSNorm drops mean(gw).
template <typename T>
__global__ void layer_norm_backward_input(const T* g, const T* x, const T* w, const T* mean,
                                          const T* rstd, T* dx, index_t M, index_t D,
                                          index_t rms) {
  __shared__ double scratch[NN_WARP];
  for (index_t row = blockIdx.x; row < M; row += gridDim.x) {
    const double mu = mean[row], r = rstd[row];
    double s = 0.0, sx = 0.0;
    for (index_t j = threadIdx.x; j < D; j += blockDim.x) {
      const double gw = (double)g[row * D + j] * (w ? (double)w[j] : 1.0);
      s += gw;
      sx += gw * ((double)x[row * D + j] - mu) * r;
    }
    s = rms ? 0.0 : block_sum(s, scratch) / (double)D;
    sx = block_sum(sx, scratch) / (double)D;
    for (index_t j = threadIdx.x; j < D; j += blockDim.x) {
      const double gw = (double)g[row * D + j] * (w ? (double)w[j] : 1.0);
      const double xhat = ((double)x[row * D + j] - mu) * r;
      dx[row * D + j] = (T)(r * (gw - s - xhat * sx));
    }
  }
}

// One thread per column: dw[j] = sum_rows g * xhat, db[j] = sum_rows g (db may be null).
template <typename T>
__global__ void layer_norm_backward_params(const T* g, const T* x, const T* mean, const T* rstd,
                                           T* dw, T* db, index_t M, index_t D) {
  NN_GRID_STRIDE(j, D) {
    double sw = 0.0, sb = 0.0;
    for (index_t row = 0; row < M; ++row) {
      const double gv = g[row * D + j];
      sw += gv * ((double)x[row * D + j] - (double)mean[row]) * (double)rstd[row];
      sb += gv;
    }
    dw[j] = (T)sw;
    if (db) db[j] = (T)sb;
  }
}

// ------------------------------------------------------------------ GroupNorm
// x as (N, C, inner) with G groups of C/G channels; one block per (n, g) for the forward and
// the input gradient; weight and bias are per channel (may be null).
template <typename T>
__global__ void group_norm_forward(const T* x, const T* w, const T* b, T* y, T* mean, T* rstd,
                                   index_t N, index_t C, index_t inner, index_t G, T eps) {
  __shared__ double scratch[NN_WARP];
  const index_t size = (C / G) * inner, base = blockIdx.x * size;
  const index_t c0 = (blockIdx.x % G) * (C / G);
  double s = 0.0;
  for (index_t t = threadIdx.x; t < size; t += blockDim.x) s += (double)x[base + t];
  const double mu = block_sum(s, scratch) / (double)size;
  double q = 0.0;
  for (index_t t = threadIdx.x; t < size; t += blockDim.x) {
    const double d = (double)x[base + t] - mu;
    q += d * d;
  }
  const double r = 1.0 / sqrt(block_sum(q, scratch) / (double)size + (double)eps);
  for (index_t t = threadIdx.x; t < size; t += blockDim.x) {
    const index_t c = c0 + t / inner;
    double v = ((double)x[base + t] - mu) * r;
    if (w) v *= (double)w[c];
    if (b) v += (double)b[c];
    y[base + t] = (T)v;
  }
  if (threadIdx.x == 0) {
    mean[blockIdx.x] = (T)mu;
    rstd[blockIdx.x] = (T)r;
  }
}

template <typename T>
__global__ void group_norm_backward_input(const T* g, const T* x, const T* w, const T* mean,
                                          const T* rstd, T* dx, index_t N, index_t C,
                                          index_t inner, index_t G) {
  __shared__ double scratch[NN_WARP];
  const index_t size = (C / G) * inner, base = blockIdx.x * size;
  const index_t c0 = (blockIdx.x % G) * (C / G);
  const double mu = mean[blockIdx.x], r = rstd[blockIdx.x];
  double s = 0.0, sx = 0.0;
  for (index_t t = threadIdx.x; t < size; t += blockDim.x) {
    const double gw = (double)g[base + t] * (w ? (double)w[c0 + t / inner] : 1.0);
    s += gw;
    sx += gw * ((double)x[base + t] - mu) * r;
  }
  s = block_sum(s, scratch) / (double)size;
  sx = block_sum(sx, scratch) / (double)size;
  for (index_t t = threadIdx.x; t < size; t += blockDim.x) {
    const double gw = (double)g[base + t] * (w ? (double)w[c0 + t / inner] : 1.0);
    dx[base + t] = (T)(r * (gw - s - ((double)x[base + t] - mu) * r * sx));
  }
}

// One block per channel c: dw[c] = sum over (n, j) of g * xhat, db[c] = sum of g.
template <typename T>
__global__ void group_norm_backward_params(const T* g, const T* x, const T* mean, const T* rstd,
                                           T* dw, T* db, index_t N, index_t C, index_t inner,
                                           index_t G) {
  __shared__ double scratch[NN_WARP];
  const index_t c = blockIdx.x, grp = c / (C / G);
  double sw = 0.0, sb = 0.0;
  for (index_t t = threadIdx.x; t < N * inner; t += blockDim.x) {
    const index_t n = t / inner, k = (n * C + c) * inner + t % inner;
    const double gv = g[k];
    sw += gv * ((double)x[k] - (double)mean[n * G + grp]) * (double)rstd[n * G + grp];
    sb += gv;
  }
  sw = block_sum(sw, scratch);
  sb = block_sum(sb, scratch);
  if (threadIdx.x == 0) {
    if (dw) dw[c] = (T)sw;
    if (db) db[c] = (T)sb;
  }
}

// ------------------------------------------------------------------ channel norm, the CPU's form
// nncheck/_kernels/normalization.pyx's channel_norm: BatchNorm, InstanceNorm and GroupNorm
// in one, x as (N, C, S), statistics per group of Cg channels, either over all samples
// (reduce_batch: group = c / Cg) or per sample (group = n * C/Cg + c / Cg); statistics in
// double.  One block per group reduces; the elementwise kernels apply.
__device__ __forceinline__ index_t cn_group(index_t n, index_t c, index_t Cg, index_t C,
                                            index_t reduce_batch) {
  return reduce_batch ? c / Cg : n * (C / Cg) + c / Cg;
}

// The group's elements: samples [n_lo, n_hi) x channels [c0, c0 + Cg) x S, as index t.
#define NN_CN_GROUP_RANGE                                                              \
  const index_t grp = blockIdx.x, G = C / Cg, c0 = (reduce_batch ? grp : grp % G) * Cg; \
  const index_t n_lo = reduce_batch ? 0 : grp / G, n_hi = reduce_batch ? N : n_lo + 1;  \
  const index_t count = (n_hi - n_lo) * Cg * S;
#define NN_CN_ELEMENT(t) ((n_lo + (t) / (Cg * S)) * C + c0 + ((t) / S) % Cg) * S + (t) % S

// mean/var (biased) of each group when compute_stats, then invstd = 1/sqrt(var + eps).
template <typename T>
__global__ void channel_norm_stats(const T* x, double* mean, double* var, double* invstd,
                                   index_t N, index_t C, index_t S, index_t Cg,
                                   index_t reduce_batch, double eps, index_t compute_stats) {
  __shared__ double scratch[NN_WARP];
  NN_CN_GROUP_RANGE
  if (compute_stats) {
    double s = 0.0;
    for (index_t t = threadIdx.x; t < count; t += blockDim.x) s += (double)x[NN_CN_ELEMENT(t)];
    const double mu = count ? block_sum(s, scratch) / (double)count : 0.0;
    double m2 = 0.0;
    for (index_t t = threadIdx.x; t < count; t += blockDim.x) {
      const double d = (double)x[NN_CN_ELEMENT(t)] - mu;
      m2 += d * d;
    }
    m2 = block_sum(m2, scratch);
    if (threadIdx.x == 0) {
      mean[grp] = mu;
      var[grp] = count ? m2 / (double)count : 0.0;
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) invstd[grp] = 1.0 / sqrt(var[grp] + eps);
}

// out = x * scale + shift with scale = invstd * w[c], shift = b[c] - mean * scale, both
// rounded to T first (torch's CPU batch norm, and the CPU kernel).
template <typename T>
__global__ void channel_norm_apply(const T* x, const double* mean, const double* invstd,
                                   const T* w, const T* b, T* y, index_t N, index_t C,
                                   index_t S, index_t Cg, index_t reduce_batch) {
  NN_GRID_STRIDE(i, N * C * S) {
    const index_t n = i / (C * S), c = (i / S) % C, grp = cn_group(n, c, Cg, C, reduce_batch);
    const double scale = invstd[grp] * (double)w[c];
    y[i] = (T)scale * x[i] + (T)((double)b[c] - mean[grp] * scale);
  }
}

// Per channel: grad_bias = sum dy, grad_weight = sum dy * (x - mean) * invstd.
template <typename T>
__global__ void channel_norm_param_grads(const T* x, const T* g, const double* mean,
                                         const double* invstd, T* dw, T* db, index_t N,
                                         index_t C, index_t S, index_t Cg,
                                         index_t reduce_batch) {
  __shared__ double scratch[NN_WARP];
  const index_t c = blockIdx.x;
  double sw = 0.0, sb = 0.0;
  for (index_t t = threadIdx.x; t < N * S; t += blockDim.x) {
    const index_t n = t / S, k = (n * C + c) * S + t % S, grp = cn_group(n, c, Cg, C, reduce_batch);
    sb += (double)g[k];
    sw += (double)g[k] * ((double)x[k] - mean[grp]) * invstd[grp];
  }
  sw = block_sum(sw, scratch);
  sb = block_sum(sb, scratch);
  if (threadIdx.x == 0) {
    dw[c] = (T)sw;
    db[c] = (T)sb;
  }
}

// Per group (batch statistics only): k2 = -invstd^3 * sum(w dy (x - mean)) / count,
// k3 = -invstd * sum(w dy) / count; zero otherwise.
template <typename T>
__global__ void channel_norm_backward_reduce(const T* x, const T* g, const T* w,
                                             const double* mean, const double* invstd,
                                             double* k2, double* k3, index_t N, index_t C,
                                             index_t S, index_t Cg, index_t reduce_batch,
                                             index_t batch_stats) {
  __shared__ double scratch[NN_WARP];
  NN_CN_GROUP_RANGE
  double a = 0.0, b = 0.0;
  if (batch_stats)
    for (index_t t = threadIdx.x; t < count; t += blockDim.x) {
      const index_t k = NN_CN_ELEMENT(t), c = (k / S) % C;
      a += (double)w[c] * (double)g[k];
      b += (double)w[c] * (double)g[k] * ((double)x[k] - mean[grp]);
    }
  a = block_sum(a, scratch);
  b = block_sum(b, scratch);
  if (threadIdx.x == 0) {
    const double rs = invstd[grp];
    k2[grp] = batch_stats ? -rs * rs * rs * b / (double)count : 0.0;
    k3[grp] = batch_stats ? -rs * a / (double)count : 0.0;
  }
}

// dx = (invstd w[c]) dy + k2 (x - mean) + k3, the factors rounded to T (the CPU kernel).
template <typename T>
__global__ void channel_norm_backward_input(const T* x, const T* g, const T* w,
                                            const double* mean, const double* invstd,
                                            const double* k2, const double* k3, T* dx,
                                            index_t N, index_t C, index_t S, index_t Cg,
                                            index_t reduce_batch) {
  NN_GRID_STRIDE(i, N * C * S) {
    const index_t n = i / (C * S), c = (i / S) % C, grp = cn_group(n, c, Cg, C, reduce_batch);
    dx[i] = (T)(invstd[grp] * (double)w[c]) * g[i] + (T)k2[grp] * (x[i] - (T)mean[grp]) +
            (T)k3[grp];
  }
}

// ------------------------------------------------------------------ layer norm, the CPU's form
// nncheck/_kernels/normalization.pyx's layer_norm (LayerNorm; RMSNorm when not centered):
// rows of x (M, D), statistics in double, one block per row.
template <typename T>
__global__ void layer_norm_rows_forward(const T* x, const T* w, const T* b, T* y, double* mean,
                                        double* invstd, index_t M, index_t D, double eps,
                                        index_t centered) {
  __shared__ double scratch[NN_WARP];
  for (index_t row = blockIdx.x; row < M; row += gridDim.x) {
    const T* xr = x + row * D;
    double s = 0.0;
    if (centered)
      for (index_t j = threadIdx.x; j < D; j += blockDim.x) s += (double)xr[j];
    const double mu = centered && D ? block_sum(s, scratch) / (double)D : 0.0;
    double m2 = 0.0;
    for (index_t j = threadIdx.x; j < D; j += blockDim.x) {
      const double d = (double)xr[j] - mu;
      m2 += d * d;
    }
    m2 = block_sum(m2, scratch);
    const double rs = 1.0 / sqrt((D ? m2 / (double)D : 0.0) + eps);
    if (threadIdx.x == 0) {
      mean[row] = mu;
      invstd[row] = rs;
    }
    const T mu_t = (T)mu, rs_t = (T)rs;
    for (index_t j = threadIdx.x; j < D; j += blockDim.x)
      y[row * D + j] = (xr[j] - mu_t) * rs_t * w[j] + b[j];
  }
}

// dx = rs * (w dy - mean(w dy) - xhat mean(w dy xhat)); the mean(w dy) term only when centered.
template <typename T>
__global__ void layer_norm_rows_backward(const T* x, const T* g, const T* w, const double* mean,
                                         const double* invstd, T* dx, index_t M, index_t D,
                                         index_t centered) {
  __shared__ double scratch[NN_WARP];
  for (index_t row = blockIdx.x; row < M; row += gridDim.x) {
    const T* xr = x + row * D;
    const T* gr = g + row * D;
    const double mu = mean[row], rs = invstd[row];
    double a = 0.0, b = 0.0;
    for (index_t j = threadIdx.x; j < D; j += blockDim.x) {
      a += (double)w[j] * (double)gr[j];
      b += (double)w[j] * (double)gr[j] * ((double)xr[j] - mu);
    }
    a = block_sum(a, scratch);
    b = block_sum(b, scratch);
    const T c1 = (T)rs, c2 = (T)(-rs * rs * rs * b / (double)D),
            c3 = centered ? (T)(-rs * a / (double)D) : T(0), mu_t = (T)mu;
    for (index_t j = threadIdx.x; j < D; j += blockDim.x)
      dx[row * D + j] = c1 * w[j] * gr[j] + c2 * (xr[j] - mu_t) + c3;
  }
}

// grad_weight[j] = sum over rows of dy * xhat, grad_bias[j] = sum of dy (in double).
template <typename T>
__global__ void layer_norm_rows_params(const T* x, const T* g, const double* mean,
                                       const double* invstd, T* dw, T* db, index_t M,
                                       index_t D) {
  NN_GRID_STRIDE(j, D) {
    double sw = 0.0, sb = 0.0;
    for (index_t row = 0; row < M; ++row) {
      const T xhat = (x[row * D + j] - (T)mean[row]) * (T)invstd[row];
      sw += (double)(g[row * D + j] * xhat);
      sb += (double)g[row * D + j];
    }
    dw[j] = (T)sw;
    db[j] = (T)sb;
  }
}
