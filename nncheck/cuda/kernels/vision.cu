// Upsampling (nearest, nearest-exact, linear/bilinear/trilinear, bicubic) and PixelShuffle.
// x viewed as (planes, D, H, W) with Window3's in/out sizes (1 for unused leading dims).
// sd, sh, sw are PyTorch's source/destination scales per dim, computed in Python exactly as
// area_pixel_compute_scale does (align_corners, scale_factor). Backward kernels scatter into
// the zeroed input gradient with atomicAdd. Mirrors nncheck/_kernels/vision.pyx.
#include "_common.cu"

// ------------------------------------------------------------------ nearest
__device__ __forceinline__ index_t nearest_source(index_t o, index_t in, double scale,
                                                  index_t exact) {
  const double src = exact ? floor(((double)o + 0.5) * scale) : floor((double)o * scale);
  return nn_min((index_t)src, in - 1);
}

template <typename T>
__device__ __forceinline__ index_t nearest_offset(index_t q, const Window3& w, T sd, T sh, T sw,
                                                  index_t exact) {
  const index_t o0 = q / (w.out[1] * w.out[2]), o1 = (q / w.out[2]) % w.out[1],
                o2 = q % w.out[2];
  return (nearest_source(o0, w.in[0], (double)sd, exact) * w.in[1] +
          nearest_source(o1, w.in[1], (double)sh, exact)) * w.in[2] +
         nearest_source(o2, w.in[2], (double)sw, exact);
}

template <typename T>
__global__ void upsample_nearest_forward(const T* x, T* y, index_t planes, Window3 w, T sd, T sh,
                                         T sw, index_t exact) {
  const index_t vin = w.in[0] * w.in[1] * w.in[2], vout = w.out[0] * w.out[1] * w.out[2];
  NN_GRID_STRIDE(i, planes * vout)
    y[i] = x[(i / vout) * vin + nearest_offset(i % vout, w, sd, sh, sw, exact)];
}

template <typename T>
__global__ void upsample_nearest_backward(const T* g, T* dx, index_t planes, Window3 w, T sd,
                                          T sh, T sw, index_t exact) {
  const index_t vin = w.in[0] * w.in[1] * w.in[2], vout = w.out[0] * w.out[1] * w.out[2];
  NN_GRID_STRIDE(i, planes * vout)
    atomicAdd(dx + (i / vout) * vin + nearest_offset(i % vout, w, sd, sh, sw, exact), g[i]);
}

// ------------------------------------------------------------------ (bi/tri)linear
// Along one dim: the two source cells i0, i1 and the weight l1 of i1 (l0 = 1 - l1).
struct Lerp {
  index_t i0, i1;
  double l1;
};

__device__ __forceinline__ Lerp linear_source(index_t o, index_t in, double scale,
                                              index_t align_corners) {
  double src = align_corners ? (double)o * scale : ((double)o + 0.5) * scale - 0.5;
  if (src < 0.0) src = 0.0;
  Lerp r;
  r.i0 = nn_min((index_t)src, in - 1);
  r.i1 = r.i0 < in - 1 ? r.i0 + 1 : r.i0;
  r.l1 = nn_min(src - (double)r.i0, 1.0);
  return r;
}

template <typename T>
__device__ __forceinline__ void linear_taps(index_t q, const Window3& w, T sd, T sh, T sw,
                                            index_t align_corners, Lerp* L) {
  const index_t o[3] = {q / (w.out[1] * w.out[2]), (q / w.out[2]) % w.out[1], q % w.out[2]};
  const double s[3] = {(double)sd, (double)sh, (double)sw};
#pragma unroll
  for (int d = 0; d < 3; ++d) L[d] = linear_source(o[d], w.in[d], s[d], align_corners);
}

template <typename T>
__global__ void upsample_linear_forward(const T* x, T* y, index_t planes, Window3 w, T sd, T sh,
                                        T sw, index_t align_corners) {
  const index_t vin = w.in[0] * w.in[1] * w.in[2], vout = w.out[0] * w.out[1] * w.out[2];
  NN_GRID_STRIDE(i, planes * vout) {
    Lerp L[3];
    linear_taps(i % vout, w, sd, sh, sw, align_corners, L);
    const T* xp = x + (i / vout) * vin;
    double acc = 0.0;
#pragma unroll
    for (int c = 0; c < 8; ++c) {
      const index_t a = c & 4 ? L[0].i1 : L[0].i0, b = c & 2 ? L[1].i1 : L[1].i0,
                    e = c & 1 ? L[2].i1 : L[2].i0;
      const double wt = (c & 4 ? L[0].l1 : 1.0 - L[0].l1) * (c & 2 ? L[1].l1 : 1.0 - L[1].l1) *
                        (c & 1 ? L[2].l1 : 1.0 - L[2].l1);
      acc += wt * (double)xp[(a * w.in[1] + b) * w.in[2] + e];
    }
    y[i] = (T)acc;
  }
}

template <typename T>
__global__ void upsample_linear_backward(const T* g, T* dx, index_t planes, Window3 w, T sd,
                                         T sh, T sw, index_t align_corners) {
  const index_t vin = w.in[0] * w.in[1] * w.in[2], vout = w.out[0] * w.out[1] * w.out[2];
  NN_GRID_STRIDE(i, planes * vout) {
    Lerp L[3];
    linear_taps(i % vout, w, sd, sh, sw, align_corners, L);
    T* dp = dx + (i / vout) * vin;
#pragma unroll
    for (int c = 0; c < 8; ++c) {
      const index_t a = c & 4 ? L[0].i1 : L[0].i0, b = c & 2 ? L[1].i1 : L[1].i0,
                    e = c & 1 ? L[2].i1 : L[2].i0;
      const double wt = (c & 4 ? L[0].l1 : 1.0 - L[0].l1) * (c & 2 ? L[1].l1 : 1.0 - L[1].l1) *
                        (c & 1 ? L[2].l1 : 1.0 - L[2].l1);
      if (wt != 0.0) atomicAdd(dp + (a * w.in[1] + b) * w.in[2] + e, (T)(wt * (double)g[i]));
    }
  }
}

// ------------------------------------------------------------------ bicubic (2-D: H, W)
// Keys' cubic convolution with A = -0.75; taps at floor(src) - 1 .. + 2, clamped.
__device__ __forceinline__ void cubic_coeffs(double t, double* c) {
  const double A = -0.75;
  const double x1 = t + 1.0, x2 = t, x3 = 1.0 - t, x4 = 2.0 - t;
  c[0] = ((A * x1 - 5.0 * A) * x1 + 8.0 * A) * x1 - 4.0 * A;
  c[1] = ((A + 2.0) * x2 - (A + 3.0)) * x2 * x2 + 1.0;
  c[2] = ((A + 2.0) * x3 - (A + 3.0)) * x3 * x3 + 1.0;
  c[3] = ((A * x4 - 5.0 * A) * x4 + 8.0 * A) * x4 - 4.0 * A;
}

__device__ __forceinline__ double cubic_source(index_t o, double scale, index_t align_corners) {
  return align_corners ? (double)o * scale : ((double)o + 0.5) * scale - 0.5;
}

template <typename T>
__global__ void upsample_bicubic_forward(const T* x, T* y, index_t planes, Window3 w, T sh, T sw,
                                         index_t align_corners) {
  const index_t H = w.in[1], W = w.in[2], OH = w.out[1], OW = w.out[2];
  NN_GRID_STRIDE(i, planes * OH * OW) {
    const index_t oh = (i / OW) % OH, ow = i % OW;
    const double sy = cubic_source(oh, (double)sh, align_corners);
    const double sx = cubic_source(ow, (double)sw, align_corners);
    const index_t iy = (index_t)floor(sy), ix = (index_t)floor(sx);
    double cy[4], cx[4];
    cubic_coeffs(sy - (double)iy, cy);
    cubic_coeffs(sx - (double)ix, cx);
    const T* xp = x + (i / (OH * OW)) * H * W;
    double acc = 0.0;
    for (int a = 0; a < 4; ++a) {
      const index_t r = nn_min(nn_max(iy - 1 + a, (index_t)0), H - 1);
      for (int b = 0; b < 4; ++b) {
        const index_t c = nn_min(nn_max(ix - 1 + b, (index_t)0), W - 1);
        acc += cy[a] * cx[b] * (double)xp[r * W + c];
      }
    }
    y[i] = (T)acc;
  }
}

template <typename T>
__global__ void upsample_bicubic_backward(const T* g, T* dx, index_t planes, Window3 w, T sh,
                                          T sw, index_t align_corners) {
  const index_t H = w.in[1], W = w.in[2], OH = w.out[1], OW = w.out[2];
  NN_GRID_STRIDE(i, planes * OH * OW) {
    const index_t oh = (i / OW) % OH, ow = i % OW;
    const double sy = cubic_source(oh, (double)sh, align_corners);
    const double sx = cubic_source(ow, (double)sw, align_corners);
    const index_t iy = (index_t)floor(sy), ix = (index_t)floor(sx);
    double cy[4], cx[4];
    cubic_coeffs(sy - (double)iy, cy);
    cubic_coeffs(sx - (double)ix, cx);
    T* dp = dx + (i / (OH * OW)) * H * W;
    for (int a = 0; a < 4; ++a) {
      const index_t r = nn_min(nn_max(iy - 1 + a, (index_t)0), H - 1);
      for (int b = 0; b < 4; ++b) {
        const index_t c = nn_min(nn_max(ix - 1 + b, (index_t)0), W - 1);
        atomicAdd(dp + r * W + c, (T)(cy[a] * cx[b] * (double)g[i]));
      }
    }
  }
}

// ------------------------------------------------------------------ PixelShuffle
// big (N, C, H*r, W*r) <-> small (N, C*r*r, H, W), one thread per element of big.
// inverse = 0: big = shuffle(small) (PixelShuffle forward, PixelUnshuffle backward);
// inverse = 1: small = unshuffle(big) (PixelUnshuffle forward, PixelShuffle backward).
template <typename T>
__global__ void pixel_shuffle(const T* src, T* dst, index_t N, index_t C, index_t H, index_t W,
                              index_t r, index_t inverse) {
  const index_t BH = H * r, BW = W * r;
  NN_GRID_STRIDE(i, N * C * BH * BW) {
    const index_t bw = i % BW, bh = (i / BW) % BH, c = (i / (BW * BH)) % C,
                  n = i / (BW * BH * C);
    const index_t s = (((n * C + c) * r + bh % r) * r + bw % r) * H * W + (bh / r) * W + bw / r;
    if (inverse) dst[s] = src[i];
    else dst[i] = src[s];
  }
}

// ------------------------------------------------------------------ table-driven resampling
// The passes of nncheck/_kernels/vision.pyx's resample_forward/backward: one axis of an
// (outer, n, inner) view at a time, through the axis's table (idx, w: n_out x taps, planned
// on the host for every mode: nearest, linear, cubic, area, antialiased).
// dst[o, r, j] = sum_k w[r, k] * src[o, idx[r, k], j]   (n_src -> n_dst = table rows)
template <typename T>
__global__ void resample_pass(const T* src, T* dst, index_t outer, index_t n_src, index_t n_dst,
                              index_t inner, const index_t* idx, const T* w, index_t taps) {
  NN_GRID_STRIDE(e, outer * n_dst * inner) {
    const index_t o = e / (n_dst * inner), r = (e / inner) % n_dst, j = e % inner;
    T acc = T(0);
    for (index_t k = 0; k < taps; ++k)
      acc = acc + w[r * taps + k] * src[(o * n_src + idx[r * taps + k]) * inner + j];
    dst[e] = acc;
  }
}

// The adjoint pass (table rows n_src -> n_dst sources): dst (zeroed) [o, idx[r, k], j] +=
// w[r, k] * src[o, r, j], scattered with atomicAdd.
template <typename T>
__global__ void resample_pass_transposed(const T* src, T* dst, index_t outer, index_t n_src,
                                         index_t n_dst, index_t inner, const index_t* idx,
                                         const T* w, index_t taps) {
  NN_GRID_STRIDE(e, outer * n_src * inner) {
    const index_t o = e / (n_src * inner), r = (e / inner) % n_src, j = e % inner;
    for (index_t k = 0; k < taps; ++k)
      atomicAdd(dst + (o * n_dst + idx[r * taps + k]) * inner + j, w[r * taps + k] * src[e]);
  }
}
