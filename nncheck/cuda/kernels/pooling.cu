// Pooling over 1-D/2-D/3-D planes (x viewed as (planes, D, H, W), see Window3): max pooling
// with indices, average pooling, adaptive average/max pooling, max unpooling.
// Indices are flat offsets within one input plane, as PyTorch returns them.
// Backward kernels gather (one thread per input element), so they are deterministic.
// Mirrors nncheck/_kernels/pooling.pyx.
#include "_common.cu"

__device__ __forceinline__ void unflatten3(index_t q, const index_t* size, index_t* p) {
  p[2] = q % size[2];
  p[1] = (q / size[2]) % size[1];
  p[0] = q / (size[1] * size[2]);
}

__device__ __forceinline__ index_t vol3(const index_t* s) { return s[0] * s[1] * s[2]; }

// ------------------------------------------------------------------ max pooling
template <typename T>
__global__ void max_pool_forward(const T* x, T* y, index_t* idx, index_t planes, Window3 w) {
  const index_t vin = vol3(w.in), vout = vol3(w.out);
  NN_GRID_STRIDE(i, planes * vout) {
    index_t o[3];
    unflatten3(i % vout, w.out, o);
    const T* xp = x + (i / vout) * vin;
    T best = -nn_inf<T>();
    index_t arg = -1;
    for (index_t k0 = 0; k0 < w.k[0]; ++k0) {
      const index_t p0 = o[0] * w.stride[0] - w.pad[0] + k0 * w.dil[0];
      if (p0 < 0 || p0 >= w.in[0]) continue;
      for (index_t k1 = 0; k1 < w.k[1]; ++k1) {
        const index_t p1 = o[1] * w.stride[1] - w.pad[1] + k1 * w.dil[1];
        if (p1 < 0 || p1 >= w.in[1]) continue;
        for (index_t k2 = 0; k2 < w.k[2]; ++k2) {
          const index_t p2 = o[2] * w.stride[2] - w.pad[2] + k2 * w.dil[2];
          if (p2 < 0 || p2 >= w.in[2]) continue;
          const index_t q = (p0 * w.in[1] + p1) * w.in[2] + p2;
          const T v = xp[q];
          if (arg < 0 || v > best || nn_isnan(v)) {  // NaN wins (the last one), as in PyTorch
            best = v;
            arg = q;
          }
        }
      }
    }
    y[i] = best;
    idx[i] = arg;
  }
}

// dx[p] = sum of g[o] over the windows o that contain p and chose p as their maximum.
template <typename T>
__global__ void max_pool_backward(const T* g, const index_t* idx, T* dx, index_t planes,
                                  Window3 w) {
  const index_t vin = vol3(w.in), vout = vol3(w.out);
  NN_GRID_STRIDE(i, planes * vin) {
    index_t p[3];
    const index_t q = i % vin, base = (i / vin) * vout;
    unflatten3(q, w.in, p);
    double acc = 0.0;
    for (index_t k0 = 0; k0 < w.k[0]; ++k0) {
      const index_t t0 = p[0] + w.pad[0] - k0 * w.dil[0];
      if (t0 < 0 || t0 % w.stride[0] || t0 / w.stride[0] >= w.out[0]) continue;
      for (index_t k1 = 0; k1 < w.k[1]; ++k1) {
        const index_t t1 = p[1] + w.pad[1] - k1 * w.dil[1];
        if (t1 < 0 || t1 % w.stride[1] || t1 / w.stride[1] >= w.out[1]) continue;
        for (index_t k2 = 0; k2 < w.k[2]; ++k2) {
          const index_t t2 = p[2] + w.pad[2] - k2 * w.dil[2];
          if (t2 < 0 || t2 % w.stride[2] || t2 / w.stride[2] >= w.out[2]) continue;
          const index_t o = base + ((t0 / w.stride[0]) * w.out[1] + t1 / w.stride[1]) *
                                       w.out[2] + t2 / w.stride[2];
          if (idx[o] == q) acc += (double)g[o];
        }
      }
    }
    dx[i] = (T)acc;
  }
}

// ------------------------------------------------------------------ average pooling
// PyTorch's divisor: the window clipped to [-pad, in + pad) when count_include_pad, the
// window clipped to the input otherwise, or divisor_override when > 0.
__device__ __forceinline__ index_t avg_divisor(const index_t* o, const Window3& w,
                                               index_t count_include_pad,
                                               index_t divisor_override) {
  if (divisor_override > 0) return divisor_override;
  index_t padded = 1, real = 1;
#pragma unroll
  for (int d = 0; d < 3; ++d) {
    const index_t start = o[d] * w.stride[d] - w.pad[d];
    const index_t end = nn_min(start + w.k[d], w.in[d] + w.pad[d]);
    padded *= end - start;
    real *= nn_min(end, w.in[d]) - nn_max(start, (index_t)0);
  }
  return count_include_pad ? padded : real;
}

template <typename T>
__global__ void avg_pool_forward(const T* x, T* y, index_t planes, Window3 w,
                                 index_t count_include_pad, index_t divisor_override) {
  const index_t vin = vol3(w.in), vout = vol3(w.out);
  NN_GRID_STRIDE(i, planes * vout) {
    index_t o[3], lo[3], hi[3];
    unflatten3(i % vout, w.out, o);
#pragma unroll
    for (int d = 0; d < 3; ++d) {
      const index_t start = o[d] * w.stride[d] - w.pad[d];
      lo[d] = nn_max(start, (index_t)0);
      hi[d] = nn_min(start + w.k[d], w.in[d]);
    }
    const T* xp = x + (i / vout) * vin;
    double acc = 0.0;
    for (index_t p0 = lo[0]; p0 < hi[0]; ++p0)
      for (index_t p1 = lo[1]; p1 < hi[1]; ++p1)
        for (index_t p2 = lo[2]; p2 < hi[2]; ++p2)
          acc += (double)xp[(p0 * w.in[1] + p1) * w.in[2] + p2];
    y[i] = (T)(acc / (double)avg_divisor(o, w, count_include_pad, divisor_override));
  }
}

template <typename T>
__global__ void avg_pool_backward(const T* g, T* dx, index_t planes, Window3 w,
                                  index_t count_include_pad, index_t divisor_override) {
  const index_t vin = vol3(w.in), vout = vol3(w.out);
  NN_GRID_STRIDE(i, planes * vin) {
    index_t p[3], o[3];
    unflatten3(i % vin, w.in, p);
    const index_t base = (i / vin) * vout;
    double acc = 0.0;
    for (index_t k0 = 0; k0 < w.k[0]; ++k0) {
      const index_t t0 = p[0] + w.pad[0] - k0;
      if (t0 < 0 || t0 % w.stride[0] || t0 / w.stride[0] >= w.out[0]) continue;
      o[0] = t0 / w.stride[0];
      for (index_t k1 = 0; k1 < w.k[1]; ++k1) {
        const index_t t1 = p[1] + w.pad[1] - k1;
        if (t1 < 0 || t1 % w.stride[1] || t1 / w.stride[1] >= w.out[1]) continue;
        o[1] = t1 / w.stride[1];
        for (index_t k2 = 0; k2 < w.k[2]; ++k2) {
          const index_t t2 = p[2] + w.pad[2] - k2;
          if (t2 < 0 || t2 % w.stride[2] || t2 / w.stride[2] >= w.out[2]) continue;
          o[2] = t2 / w.stride[2];
          acc += (double)g[base + (o[0] * w.out[1] + o[1]) * w.out[2] + o[2]] /
                 (double)avg_divisor(o, w, count_include_pad, divisor_override);
        }
      }
    }
    dx[i] = (T)acc;
  }
}

// ------------------------------------------------------------------ adaptive pooling
// Output cell o of a dim covers [floor(o*in/out), ceil((o+1)*in/out)).
__device__ __forceinline__ index_t ada_start(index_t o, index_t in, index_t out) {
  return (o * in) / out;
}
__device__ __forceinline__ index_t ada_end(index_t o, index_t in, index_t out) {
  return ((o + 1) * in + out - 1) / out;
}

template <typename T>
__global__ void adaptive_avg_pool_forward(const T* x, T* y, index_t planes, Window3 w) {
  const index_t vin = vol3(w.in), vout = vol3(w.out);
  NN_GRID_STRIDE(i, planes * vout) {
    index_t o[3], lo[3], hi[3];
    unflatten3(i % vout, w.out, o);
#pragma unroll
    for (int d = 0; d < 3; ++d) {
      lo[d] = ada_start(o[d], w.in[d], w.out[d]);
      hi[d] = ada_end(o[d], w.in[d], w.out[d]);
    }
    const T* xp = x + (i / vout) * vin;
    double acc = 0.0;
    for (index_t p0 = lo[0]; p0 < hi[0]; ++p0)
      for (index_t p1 = lo[1]; p1 < hi[1]; ++p1)
        for (index_t p2 = lo[2]; p2 < hi[2]; ++p2)
          acc += (double)xp[(p0 * w.in[1] + p1) * w.in[2] + p2];
    y[i] = (T)(acc / (double)((hi[0] - lo[0]) * (hi[1] - lo[1]) * (hi[2] - lo[2])));
  }
}

// The cells containing input p along a dim lie in [floor(p*out/in), ceil((p+1)*out/in)).
template <typename T>
__global__ void adaptive_avg_pool_backward(const T* g, T* dx, index_t planes, Window3 w) {
  const index_t vin = vol3(w.in), vout = vol3(w.out);
  NN_GRID_STRIDE(i, planes * vin) {
    index_t p[3], lo[3], hi[3];
    unflatten3(i % vin, w.in, p);
#pragma unroll
    for (int d = 0; d < 3; ++d) {
      lo[d] = ada_start(p[d], w.out[d], w.in[d]);
      hi[d] = nn_min(ada_end(p[d], w.out[d], w.in[d]), w.out[d]);
    }
    const index_t base = (i / vin) * vout;
    double acc = 0.0;
    for (index_t o0 = lo[0]; o0 < hi[0]; ++o0) {
      const index_t s0 = ada_start(o0, w.in[0], w.out[0]), e0 = ada_end(o0, w.in[0], w.out[0]);
      if (p[0] < s0 || p[0] >= e0) continue;
      for (index_t o1 = lo[1]; o1 < hi[1]; ++o1) {
        const index_t s1 = ada_start(o1, w.in[1], w.out[1]), e1 = ada_end(o1, w.in[1], w.out[1]);
        if (p[1] < s1 || p[1] >= e1) continue;
        for (index_t o2 = lo[2]; o2 < hi[2]; ++o2) {
          const index_t s2 = ada_start(o2, w.in[2], w.out[2]),
                        e2 = ada_end(o2, w.in[2], w.out[2]);
          if (p[2] < s2 || p[2] >= e2) continue;
          acc += (double)g[base + (o0 * w.out[1] + o1) * w.out[2] + o2] /
                 (double)((e0 - s0) * (e1 - s1) * (e2 - s2));
        }
      }
    }
    dx[i] = (T)acc;
  }
}

template <typename T>
__global__ void adaptive_max_pool_forward(const T* x, T* y, index_t* idx, index_t planes,
                                          Window3 w) {
  const index_t vin = vol3(w.in), vout = vol3(w.out);
  NN_GRID_STRIDE(i, planes * vout) {
    index_t o[3], lo[3], hi[3];
    unflatten3(i % vout, w.out, o);
#pragma unroll
    for (int d = 0; d < 3; ++d) {
      lo[d] = ada_start(o[d], w.in[d], w.out[d]);
      hi[d] = ada_end(o[d], w.in[d], w.out[d]);
    }
    const T* xp = x + (i / vout) * vin;
    T best = -nn_inf<T>();
    index_t arg = -1;
    for (index_t p0 = lo[0]; p0 < hi[0]; ++p0)
      for (index_t p1 = lo[1]; p1 < hi[1]; ++p1)
        for (index_t p2 = lo[2]; p2 < hi[2]; ++p2) {
          const index_t q = (p0 * w.in[1] + p1) * w.in[2] + p2;
          if (arg < 0 || xp[q] > best || nn_isnan(xp[q])) {
            best = xp[q];
            arg = q;
          }
        }
    y[i] = best;
    idx[i] = arg;
  }
}

template <typename T>
__global__ void adaptive_max_pool_backward(const T* g, const index_t* idx, T* dx,
                                           index_t planes, Window3 w) {
  const index_t vin = vol3(w.in), vout = vol3(w.out);
  NN_GRID_STRIDE(i, planes * vin) {
    index_t p[3], lo[3], hi[3];
    const index_t q = i % vin, base = (i / vin) * vout;
    unflatten3(q, w.in, p);
#pragma unroll
    for (int d = 0; d < 3; ++d) {
      lo[d] = ada_start(p[d], w.out[d], w.in[d]);
      hi[d] = nn_min(ada_end(p[d], w.out[d], w.in[d]), w.out[d]);
    }
    double acc = 0.0;
    for (index_t o0 = lo[0]; o0 < hi[0]; ++o0)
      for (index_t o1 = lo[1]; o1 < hi[1]; ++o1)
        for (index_t o2 = lo[2]; o2 < hi[2]; ++o2) {
          const index_t o = base + (o0 * w.out[1] + o1) * w.out[2] + o2;
          if (idx[o] == q) acc += (double)g[o];
        }
    dx[i] = (T)acc;
  }
}

// ------------------------------------------------------------------ max unpooling
// y (zeroed, planes x out_vol) [plane, idx[i]] = x[i]; indices validated in Python.
template <typename T>
__global__ void max_unpool_forward(const T* x, const index_t* idx, T* y, index_t planes,
                                   index_t in_vol, index_t out_vol) {
  NN_GRID_STRIDE(i, planes * in_vol) y[(i / in_vol) * out_vol + idx[i]] = x[i];
}

template <typename T>
__global__ void max_unpool_backward(const T* g, const index_t* idx, T* dx, index_t planes,
                                    index_t in_vol, index_t out_vol) {
  NN_GRID_STRIDE(i, planes * in_vol) dx[i] = g[(i / in_vol) * out_vol + idx[i]];
}

// ------------------------------------------------------------------ table-driven windows
// nncheck/_kernels/pooling.pyx's form, which covers every pooling layer (regular, ceil
// mode, padding, dilation, adaptive, fractional): output (od, oh, ow) of plane p reads
// input rows d in [d_lo[od], d_hi[od]) step d_step, likewise h and w.  The tables are built
// and checked in Python; a max-pool table has `rows` = 1 (shared) or `planes` rows.
// x is (planes, D, H, W), y is (planes, OD, OH, OW).
#define NN_POOL_DIMS index_t planes, index_t D, index_t H, index_t W, index_t OD, index_t OH, index_t OW

// First maximum wins, a NaN wins over any number (the last NaN's index is kept), an empty
// window gives -inf at its start index: PyTorch's semantics, as the CPU kernel.
template <typename T>
__global__ void max_pool_table_forward(const T* x, T* y, index_t* idx, NN_POOL_DIMS,
                                       const index_t* d_lo, const index_t* d_hi,
                                       const index_t* h_lo, const index_t* h_hi,
                                       const index_t* w_lo, const index_t* w_hi,
                                       index_t rows_d, index_t rows_h, index_t rows_w,
                                       index_t d_step, index_t h_step, index_t w_step) {
  const index_t vout = OD * OH * OW, HW = H * W;
  NN_GRID_STRIDE(i, planes * vout) {
    const index_t p = i / vout, q = i % vout;
    const index_t od = q / (OH * OW) + (rows_d > 1 ? p * OD : 0);
    const index_t oh = (q / OW) % OH + (rows_h > 1 ? p * OH : 0);
    const index_t ow = q % OW + (rows_w > 1 ? p * OW : 0);
    const T* xp = x + p * D * HW;
    T best = -nn_inf<T>();
    index_t arg = d_lo[od] * HW + h_lo[oh] * W + w_lo[ow];
    for (index_t d = d_lo[od]; d < d_hi[od]; d += d_step)
      for (index_t h = h_lo[oh]; h < h_hi[oh]; h += h_step)
        for (index_t w = w_lo[ow]; w < w_hi[ow]; w += w_step) {
          const T v = xp[d * HW + h * W + w];
          if (v > best || nn_isnan(v)) {
            best = v;
            arg = d * HW + h * W + w;
          }
        }
    y[i] = best;
    if (idx) idx[i] = arg;
  }
}

// Window sum (in T, row-major order) / divisor; an empty window gives 0.
template <typename T>
__global__ void avg_pool_table_forward(const T* x, T* y, NN_POOL_DIMS, const index_t* d_lo,
                                       const index_t* d_hi, const index_t* d_div,
                                       const index_t* h_lo, const index_t* h_hi,
                                       const index_t* h_div, const index_t* w_lo,
                                       const index_t* w_hi, const index_t* w_div,
                                       index_t divisor_override) {
  const index_t vout = OD * OH * OW, HW = H * W;
  NN_GRID_STRIDE(i, planes * vout) {
    const index_t p = i / vout, q = i % vout, od = q / (OH * OW), oh = (q / OW) % OH,
                  ow = q % OW;
    const T* xp = x + p * D * HW;
    T acc = T(0);
    for (index_t d = d_lo[od]; d < d_hi[od]; ++d)
      for (index_t h = h_lo[oh]; h < h_hi[oh]; ++h)
        for (index_t w = w_lo[ow]; w < w_hi[ow]; ++w) acc += xp[d * HW + h * W + w];
    const bool empty = d_lo[od] >= d_hi[od] || h_lo[oh] >= h_hi[oh] || w_lo[ow] >= w_hi[ow];
    const index_t div = divisor_override ? divisor_override : d_div[od] * h_div[oh] * w_div[ow];
    y[i] = empty ? T(0) : acc / (T)div;
  }
}

// dx (zeroed by the caller) += grad_out / divisor over each window (atomicAdd: windows
// overlap).
template <typename T>
__global__ void avg_pool_table_backward(const T* g, T* dx, NN_POOL_DIMS, const index_t* d_lo,
                                        const index_t* d_hi, const index_t* d_div,
                                        const index_t* h_lo, const index_t* h_hi,
                                        const index_t* h_div, const index_t* w_lo,
                                        const index_t* w_hi, const index_t* w_div,
                                        index_t divisor_override) {
  const index_t vout = OD * OH * OW, HW = H * W;
  NN_GRID_STRIDE(i, planes * vout) {
    const index_t p = i / vout, q = i % vout, od = q / (OH * OW), oh = (q / OW) % OH,
                  ow = q % OW;
    const index_t div = divisor_override ? divisor_override : d_div[od] * h_div[oh] * w_div[ow];
    const T share = g[i] / (T)div;
    T* dp = dx + p * D * HW;
    for (index_t d = d_lo[od]; d < d_hi[od]; ++d)
      for (index_t h = h_lo[oh]; h < h_hi[oh]; ++h)
        for (index_t w = w_lo[ow]; w < w_hi[ow]; ++w) atomicAdd(dp + d * HW + h * W + w, share);
  }
}

// out (zeroed by the caller): out[p, idx[p, i]] (+)= src[p, i]; indices outside [0, M) skip.
// accumulate: max-pool backward (atomicAdd); else MaxUnpool forward (a plain store).
template <typename T>
__global__ void index_scatter(const T* src, const index_t* idx, T* out, index_t P, index_t N,
                              index_t M, index_t accumulate) {
  NN_GRID_STRIDE(i, P * N) {
    const index_t p = i / N, j = idx[i];
    if (j < 0 || j >= M) continue;
    if (accumulate) atomicAdd(out + p * M + j, src[i]);
    else out[p * M + j] = src[i];
  }
}

// out[p, i] = src[p, idx[p, i]], or 0 for an index outside [0, M) (MaxUnpool backward).
template <typename T>
__global__ void index_gather(const T* src, const index_t* idx, T* out, index_t P, index_t N,
                             index_t M) {
  NN_GRID_STRIDE(i, P * N) {
    const index_t p = i / N, j = idx[i];
    out[i] = (j < 0 || j >= M) ? T(0) : src[p * M + j];
  }
}

// ------------------------------------------------------------------ LP pooling pieces
// lp_pool = (sign(s) * relu(|s|) * K) ** (1/p) with s = avg_pool(x ** p), as PyTorch
// composes it; computed in double as the CPU kernels.
__device__ __forceinline__ double nn_sign_d(double v) { return v > 0 ? 1.0 : (v < 0 ? -1.0 : 0.0); }

template <typename T>
__global__ void lp_power(const T* x, T* y, index_t n, double norm) {
  NN_GRID_STRIDE(i, n) y[i] = (T)pow((double)x[i], norm);
}

// d/dx x**p = p x**(p-1); zero for p == 0, as PyTorch's pow backward.
template <typename T>
__global__ void lp_power_backward(const T* x, const T* g, T* dx, index_t n, double norm) {
  NN_GRID_STRIDE(i, n) dx[i] = norm == 0 ? T(0) : (T)(g[i] * (norm * pow((double)x[i], norm - 1)));
}

template <typename T>
__global__ void lp_root(const T* s, T* y, index_t n, double volume, double norm) {
  NN_GRID_STRIDE(i, n) {
    const double v = s[i];
    y[i] = (T)pow(nn_sign_d(v) * fabs(v) * volume, 1.0 / norm);
  }
}

// The chain rule through pow, mul and sign * relu(abs(s)) step by step, as PyTorch's
// autograd runs it: zero where s == 0.
template <typename T>
__global__ void lp_root_backward(const T* s, const T* g, T* ds, index_t n, double volume,
                                 double norm) {
  NN_GRID_STRIDE(i, n) {
    const double c = nn_sign_d(s[i]), b = fabs((double)s[i]);
    double v = g[i] * ((1.0 / norm) * pow(c * b * volume, 1.0 / norm - 1));
    v = v * volume * c;
    ds[i] = b <= 0 ? T(0) : (T)(v * c);
  }
}

// ------------------------------------------------------------------ global average
// Pooling to one element per plane (x as planes x S): out[p] = mean of plane p (sum in
// double), one block per plane; the backward spreads grad_out[p] / S over the plane.
template <typename T>
__global__ void global_avg_forward(const T* x, T* out, index_t P, index_t S) {
  __shared__ double scratch[NN_WARP];
  for (index_t p = blockIdx.x; p < P; p += gridDim.x) {
    double acc = 0;
    for (index_t i = threadIdx.x; i < S; i += blockDim.x) acc += (double)x[p * S + i];
    acc = block_sum(acc, scratch);
    if (threadIdx.x == 0) out[p] = (T)(acc / (double)S);
  }
}

template <typename T>
__global__ void global_avg_backward(const T* grad_out, T* grad_in, index_t P, index_t S) {
  NN_GRID_STRIDE(e, P * S) grad_in[e] = (T)(grad_out[e / S] / (double)S);
}
