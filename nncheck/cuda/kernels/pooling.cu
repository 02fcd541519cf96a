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
