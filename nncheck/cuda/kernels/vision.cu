// Resampling and grid sampling: the kernels of nncheck/_kernels/vision.pyx that the layers
// run on a device.  interpolate's per-axis tables (every mode) are planned on the host by
// the CPU module and applied here pass by pass; grid_sample is ported point by point.
#include "_common.cu"

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

// ------------------------------------------------------------------ grid_sample
// nncheck/_kernels/vision.pyx's grid_sample kernels, in the input's precision as there:
// inp (N, C, D, H, W) (D = 1 for 2-D grids), grid (N, P, k) with k = 2 (x, y) or 3
// (x, y, z); out (N, C, P).  mode 0 bilinear/trilinear, 1 nearest; padding 0 zeros,
// 1 border, 2 reflection.  Forward: one thread per (sample, point); backward the same,
// scattering into the zeroed grad_in with atomicAdd.
#define NN_GRID_NEAREST 1
#define NN_PAD_BORDER 1
#define NN_PAD_REFLECTION 2

// grid coordinate in [-1, 1] -> pixel coordinate; grad = d(pixel)/d(coord)
template <typename T>
__device__ T grid_unnormalize(T coord, index_t size, index_t align_corners, T* grad) {
  if (align_corners) {
    *grad = (T)(size - 1) / 2;
    return (coord + 1) / 2 * (size - 1);
  }
  *grad = (T)size / 2;
  return ((coord + 1) * size - 1) / 2;
}

// clamp to [0, size - 1]; the borders count as outside for the gradient (as PyTorch)
template <typename T> __device__ T grid_clip(T x, index_t size, T* grad) {
  const T hi = size - 1;
  if (x <= 0) { *grad = 0; return 0; }
  if (x >= hi) { *grad = 0; return hi; }
  *grad = 1;
  return x;
}

// reflect x into [twice_low / 2, twice_high / 2]; grad = +-1
template <typename T>
__device__ T grid_reflect(T x, index_t twice_low, index_t twice_high, T* grad) {
  if (twice_low == twice_high) { *grad = 0; return 0; }
  const T lo = (T)twice_low / 2, span = (T)(twice_high - twice_low) / 2;
  T sign = 1;
  x = x - lo;
  if (x < 0) { sign = -1; x = -x; }
  const T extra = (T)fmod((double)x, (double)span);
  if (fmod(floor((double)(x / span)), 2.0) == 0) { *grad = sign; return extra + lo; }
  *grad = -sign;
  return span - extra + lo;
}

// a pixel coordinate mapped into the image by the padding mode (zeros: unchanged)
template <typename T>
__device__ T grid_pad(T x, index_t size, index_t padding, index_t align_corners, T* grad) {
  T g_clip = 1, g_reflect = 1;
  if (padding == NN_PAD_BORDER) {
    x = grid_clip(x, size, &g_clip);
  } else if (padding == NN_PAD_REFLECTION) {
    x = align_corners ? grid_reflect(x, 0, 2 * (size - 1), &g_reflect)
                      : grid_reflect(x, -1, 2 * size - 1, &g_reflect);
    x = grid_clip(x, size, &g_clip);
  }
  *grad = g_clip * g_reflect;
  return x;
}

// integer-valued pos as an index, or -1 outside [0, size) (NaN and inf included)
template <typename T> __device__ index_t grid_inside(T pos, index_t size) {
  return pos >= 0 && pos < size ? (index_t)pos : -1;
}

// the taps of one grid point (bilinear/trilinear or nearest): plane offsets (-1 outside),
// weights, d(weight)/d(x, y, z) before the coordinate transform's factors mult; tap count
template <typename T>
__device__ int grid_corners(const T* g, int k, index_t D, index_t H, index_t W, index_t mode,
                            index_t padding, index_t align_corners, index_t* off, T* wt, T* dw,
                            T* mult) {
  const index_t size[3] = {W, H, D};
  T pos[3], f[3][2];
  index_t at[3][2];
  for (int axis = 0; axis < k; ++axis) {
    T g_un, g_pad;
    const T p = grid_unnormalize(g[axis], size[axis], align_corners, &g_un);
    pos[axis] = grid_pad(p, size[axis], padding, align_corners, &g_pad);
    mult[axis] = g_un * g_pad;
  }
  if (k == 2) mult[2] = 0;
  if (mode == NN_GRID_NEAREST) {
    index_t stride = 1;
    off[0] = 0;
    for (int axis = 0; axis < k; ++axis) {
      const index_t i = grid_inside((T)nearbyint((double)pos[axis]), size[axis]);
      if (i < 0) { off[0] = -1; break; }
      off[0] += i * stride;
      stride *= size[axis];
    }
    wt[0] = 1;
    dw[0] = dw[1] = dw[2] = 0;
    return 1;
  }
  for (int axis = 0; axis < k; ++axis) {
    const T base = (T)floor((double)pos[axis]);
    f[axis][1] = pos[axis] - base;
    f[axis][0] = 1 - f[axis][1];
    at[axis][0] = grid_inside(base, size[axis]);
    at[axis][1] = grid_inside(base + 1, size[axis]);
  }
  if (k == 2) {
    f[2][0] = 1;
    f[2][1] = 0;
    at[2][0] = at[2][1] = 0;
  }
  int t = 0;
  for (int cz = 0; cz < (k == 3 ? 2 : 1); ++cz)
    for (int cy = 0; cy < 2; ++cy)
      for (int cx = 0; cx < 2; ++cx) {
        off[t] = at[0][cx] < 0 || at[1][cy] < 0 || at[2][cz] < 0
                     ? -1 : at[0][cx] + W * (at[1][cy] + H * at[2][cz]);
        wt[t] = f[0][cx] * f[1][cy] * f[2][cz];
        dw[3 * t] = (cx ? 1 : -1) * f[1][cy] * f[2][cz];
        dw[3 * t + 1] = (cy ? 1 : -1) * f[0][cx] * f[2][cz];
        dw[3 * t + 2] = k == 3 ? (cz ? 1 : -1) * f[0][cx] * f[1][cy] : T(0);
        ++t;
      }
  return t;
}

template <typename T>
__global__ void grid_sample_forward(const T* inp, const T* grid, T* out, index_t N, index_t C,
                                    index_t D, index_t H, index_t W, index_t P, index_t k,
                                    index_t mode, index_t padding, index_t align_corners) {
  NN_GRID_STRIDE(t, N * P) {
    const index_t n = t / P, p = t % P, plane = D * H * W;
    index_t off[8];
    T wt[8], dw[24], mult[3];
    const int taps = grid_corners(grid + t * k, (int)k, D, H, W, mode, padding, align_corners,
                                  off, wt, dw, mult);
    for (index_t c = 0; c < C; ++c) {
      const T* src = inp + (n * C + c) * plane;
      T acc = 0;
      for (int i = 0; i < taps; ++i)
        if (off[i] >= 0) acc = acc + src[off[i]] * wt[i];
      out[(n * C + c) * P + p] = acc;
    }
  }
}

// grad_in zeroed by the launcher
template <typename T>
__global__ void grid_sample_backward(const T* inp, const T* grid, const T* grad_out, T* grad_in,
                                     T* grad_grid, index_t N, index_t C, index_t D, index_t H,
                                     index_t W, index_t P, index_t k, index_t mode,
                                     index_t padding, index_t align_corners) {
  NN_GRID_STRIDE(t, N * P) {
    const index_t n = t / P, p = t % P, plane = D * H * W;
    index_t off[8];
    T wt[8], dw[24], mult[3], gsum[3] = {0, 0, 0};
    const int taps = grid_corners(grid + t * k, (int)k, D, H, W, mode, padding, align_corners,
                                  off, wt, dw, mult);
    for (index_t c = 0; c < C; ++c) {
      const T go = grad_out[(n * C + c) * P + p];
      for (int i = 0; i < taps; ++i) {
        if (off[i] < 0) continue;
        atomicAdd(grad_in + (n * C + c) * plane + off[i], wt[i] * go);
        const T val = inp[(n * C + c) * plane + off[i]] * go;
        for (int axis = 0; axis < 3; ++axis) gsum[axis] = gsum[axis] + dw[3 * i + axis] * val;
      }
    }
    for (index_t axis = 0; axis < k; ++axis) grad_grid[t * k + axis] = gsum[axis] * mult[axis];
  }
}

// bicubic (2-D): Keys' weights with A = -0.75 at the taps -1, 0, 1, 2 and their d/dt
template <typename T> __device__ void grid_cubic_coefficients(T t, T* c, T* dc) {
  const T a = -0.75, one = 1;
  const T x0 = t + one, x3 = one - t + one;
  c[0] = ((a * x0 - 5 * a) * x0 + 8 * a) * x0 - 4 * a;
  c[1] = ((a + 2) * t - (a + 3)) * t * t + 1;
  c[2] = ((a + 2) * (one - t) - (a + 3)) * (one - t) * (one - t) + 1;
  c[3] = ((a * x3 - 5 * a) * x3 + 8 * a) * x3 - 4 * a;
  dc[0] = (3 * a * x0 - 10 * a) * x0 + 8 * a;
  dc[1] = (3 * (a + 2) * t - 2 * (a + 3)) * t;
  dc[2] = -(3 * (a + 2) * (1 - t) - 2 * (a + 3)) * (1 - t);
  dc[3] = -((3 * a * (2 - t) - 10 * a) * (2 - t) + 8 * a);
}

// 4 tap indices along one axis (-1 outside), weights and d(weights)/d(coord); the padding
// maps each tap's position, so the grid gradient sees only the unnormalisation factor
template <typename T>
__device__ void grid_cubic_taps(T coord, index_t size, index_t padding, index_t align_corners,
                                index_t* at, T* c, T* dc, T* mult) {
  const T x = grid_unnormalize(coord, size, align_corners, mult);
  const T base = (T)floor((double)x);
  grid_cubic_coefficients(x - base, c, dc);
  for (int i = 0; i < 4; ++i) {
    T g;
    at[i] = grid_inside(grid_pad(base - 1 + i, size, padding, align_corners, &g), size);
  }
}

template <typename T>
__global__ void grid_sample_bicubic_forward(const T* inp, const T* grid, T* out, index_t N,
                                            index_t C, index_t H, index_t W, index_t P,
                                            index_t padding, index_t align_corners) {
  NN_GRID_STRIDE(t, N * P) {
    const index_t n = t / P, p = t % P;
    index_t ax[4], ay[4];
    T cx[4], cy[4], dcx[4], dcy[4], mx, my;
    grid_cubic_taps(grid[t * 2], W, padding, align_corners, ax, cx, dcx, &mx);
    grid_cubic_taps(grid[t * 2 + 1], H, padding, align_corners, ay, cy, dcy, &my);
    for (index_t c = 0; c < C; ++c) {
      const T* src = inp + (n * C + c) * H * W;
      T acc = 0;
      for (int j = 0; j < 4; ++j) {
        T row = 0;
        for (int i = 0; i < 4; ++i)
          if (ax[i] >= 0 && ay[j] >= 0) row = row + cx[i] * src[ay[j] * W + ax[i]];
        acc = acc + cy[j] * row;
      }
      out[(n * C + c) * P + p] = acc;
    }
  }
}

// grad_in zeroed by the launcher
template <typename T>
__global__ void grid_sample_bicubic_backward(const T* inp, const T* grid, const T* grad_out,
                                             T* grad_in, T* grad_grid, index_t N, index_t C,
                                             index_t H, index_t W, index_t P, index_t padding,
                                             index_t align_corners) {
  NN_GRID_STRIDE(t, N * P) {
    const index_t n = t / P, p = t % P;
    index_t ax[4], ay[4];
    T cx[4], cy[4], dcx[4], dcy[4], mx, my, gx = 0, gy = 0;
    grid_cubic_taps(grid[t * 2], W, padding, align_corners, ax, cx, dcx, &mx);
    grid_cubic_taps(grid[t * 2 + 1], H, padding, align_corners, ay, cy, dcy, &my);
    for (index_t c = 0; c < C; ++c) {
      const T go = grad_out[(n * C + c) * P + p];
      for (int j = 0; j < 4; ++j)
        for (int i = 0; i < 4; ++i) {
          if (ax[i] < 0 || ay[j] < 0) continue;
          const index_t o = (n * C + c) * H * W + ay[j] * W + ax[i];
          atomicAdd(grad_in + o, go * cx[i] * cy[j]);
          const T val = inp[o] * go;
          gx = gx + val * dcx[i] * cy[j];
          gy = gy + val * dcy[j] * cx[i];
        }
    }
    grad_grid[t * 2] = gx * mx;
    grad_grid[t * 2 + 1] = gy * my;
  }
}
