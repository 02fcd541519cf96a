// Padding of the last 1-3 dims (x viewed as (planes, D, H, W); Window3 uses in/out sizes and
// pad = the padding before each dim, which may be negative to crop).
// mode: 0 constant, 1 reflect, 2 replicate, 3 circular. Mirrors nncheck/_kernels/padding.pyx.
#include "_common.cu"

// Source coordinate of output coordinate o along one dim, or -1 for a constant-pad cell.
__device__ __forceinline__ index_t pad_source(index_t o, index_t pad, index_t in, index_t mode) {
  index_t s = o - pad;
  if (mode == 1) {  // reflect (no edge repeat); Python checks pad < in
    if (s < 0) s = -s;
    if (s >= in) s = 2 * (in - 1) - s;
  } else if (mode == 2) {
    s = nn_min(nn_max(s, (index_t)0), in - 1);
  } else if (mode == 3) {
    s = ((s % in) + in) % in;
  } else if (s < 0 || s >= in) {
    s = -1;
  }
  return s;
}

// Flat source offset within a plane for output cell q, or -1 for the constant value.
__device__ __forceinline__ index_t pad_offset(index_t q, const Window3& w, index_t mode) {
  const index_t o[3] = {q / (w.out[1] * w.out[2]), (q / w.out[2]) % w.out[1], q % w.out[2]};
  index_t off = 0;
#pragma unroll
  for (int d = 0; d < 3; ++d) {
    const index_t s = pad_source(o[d], w.pad[d], w.in[d], mode);
    if (s < 0) return -1;
    off = off * w.in[d] + s;
  }
  return off;
}

template <typename T>
__global__ void pad_forward(const T* x, T* y, index_t planes, Window3 w, index_t mode, T value) {
  const index_t vin = w.in[0] * w.in[1] * w.in[2], vout = w.out[0] * w.out[1] * w.out[2];
  NN_GRID_STRIDE(i, planes * vout) {
    const index_t off = pad_offset(i % vout, w, mode);
    y[i] = off < 0 ? value : x[(i / vout) * vin + off];
  }
}

// dx (zeroed by the caller) accumulates every output cell that read from it; reflect,
// replicate and circular map several cells to one input, hence atomicAdd.
template <typename T>
__global__ void pad_backward(const T* g, T* dx, index_t planes, Window3 w, index_t mode) {
  const index_t vin = w.in[0] * w.in[1] * w.in[2], vout = w.out[0] * w.out[1] * w.out[2];
  NN_GRID_STRIDE(i, planes * vout) {
    const index_t off = pad_offset(i % vout, w, mode);
    if (off >= 0) atomicAdd(dx + (i / vout) * vin + off, g[i]);
  }
}

// Map-driven padding, as nncheck/_kernels/padding.pyx: out[p, d, h, w] =
// x[p, md[d], mh[h], mw[w]], or `value` where a map entry is -1.  The maps come from the
// Python layer (checked there against the input sizes), so every mode, and negative pads
// that crop, is this one kernel.  x is (planes, iD, iH, iW), y is (planes, D, H, W).
template <typename T>
__global__ void pad_map_forward(const T* x, T* y, index_t planes, index_t D, index_t H,
                                index_t W, index_t iD, index_t iH, index_t iW,
                                const index_t* md, const index_t* mh, const index_t* mw,
                                T value) {
  const index_t vout = D * H * W, vin = iD * iH * iW;
  NN_GRID_STRIDE(i, planes * vout) {
    const index_t q = i % vout, sd = md[q / (H * W)], sh = mh[(q / W) % H], sw = mw[q % W];
    y[i] = (sd < 0 || sh < 0 || sw < 0) ? value : x[(i / vout) * vin + (sd * iH + sh) * iW + sw];
  }
}

// dx (zeroed by the caller) += every output cell's gradient at the cell it read.
template <typename T>
__global__ void pad_map_backward(const T* g, T* dx, index_t planes, index_t D, index_t H,
                                 index_t W, index_t iD, index_t iH, index_t iW,
                                 const index_t* md, const index_t* mh, const index_t* mw) {
  const index_t vout = D * H * W, vin = iD * iH * iW;
  NN_GRID_STRIDE(i, planes * vout) {
    const index_t q = i % vout, sd = md[q / (H * W)], sh = mh[(q / W) % H], sw = mw[q % W];
    if (sd >= 0 && sh >= 0 && sw >= 0)
      atomicAdd(dx + (i / vout) * vin + (sd * iH + sh) * iW + sw, g[i]);
  }
}
