// Shared device helpers, included by every kernel family as "_common.cu".
//
// Conventions that nncheck/cuda relies on:
//  * a kernel is `template <typename T> __global__ void NAME(...)` (instantiated for float
//    and double through NVRTC name expressions) or `extern "C" __global__ void NAME(...)`;
//  * scalar parameters are `T`, `index_t` (64-bit) or an explicitly sized integer
//    (`unsigned long long` for RNG seeds), so that Python can pack them without a header;
//  * sizes are validated in Python before a launch; kernels trust them.
// NVRTC has no standard headers: only built-in CUDA device functions are used.
#pragma once

typedef long long index_t;

#define NN_WARP 32
#define NN_FULL_MASK 0xffffffffu

// Grid-stride loop over [0, n): correct for any grid size, so launches can cap the grid.
#define NN_GRID_STRIDE(i, n)                                                     \
  for (index_t i = (index_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);      \
       i += (index_t)blockDim.x * gridDim.x)

// ------------------------------------------------------------------ math overloads
#define NN_MATH1(name, ffun, dfun)                                               \
  __device__ __forceinline__ float name(float x) { return ffun(x); }             \
  __device__ __forceinline__ double name(double x) { return dfun(x); }

NN_MATH1(nn_exp, expf, exp)
NN_MATH1(nn_expm1, expm1f, expm1)
NN_MATH1(nn_log, logf, log)
NN_MATH1(nn_log1p, log1pf, log1p)
NN_MATH1(nn_tanh, tanhf, tanh)
NN_MATH1(nn_erf, erff, erf)
NN_MATH1(nn_sqrt, sqrtf, sqrt)
NN_MATH1(nn_abs, fabsf, fabs)
NN_MATH1(nn_floor, floorf, floor)
NN_MATH1(nn_ceil, ceilf, ceil)

__device__ __forceinline__ float nn_pow(float x, float y) { return powf(x, y); }
__device__ __forceinline__ double nn_pow(double x, double y) { return pow(x, y); }

template <typename T> __device__ __forceinline__ T nn_max(T a, T b) { return a > b ? a : b; }
template <typename T> __device__ __forceinline__ T nn_min(T a, T b) { return a < b ? a : b; }

template <typename T> __device__ __forceinline__ T nn_inf();
template <> __device__ __forceinline__ float nn_inf<float>() { return __int_as_float(0x7f800000); }
template <> __device__ __forceinline__ double nn_inf<double>() {
  return __longlong_as_double(0x7ff0000000000000LL);
}

template <typename T> __device__ __forceinline__ bool nn_isnan(T x) { return x != x; }

template <typename T> __device__ __forceinline__ T nn_sign(T x) {
  return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));
}

// Overflow-free logistic function.
template <typename T> __device__ __forceinline__ T nn_sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + nn_exp(-x));
  T e = nn_exp(x);
  return e / (T(1) + e);
}

// ------------------------------------------------------------------ vector loads
// float4 / double2: 16-byte loads and stores for the bandwidth-bound elementwise kernels.
template <typename T> struct Vec;
template <> struct Vec<float> { typedef float4 type; static const int width = 4; };
template <> struct Vec<double> { typedef double2 type; static const int width = 2; };

// True when all pointers allow 16-byte vector access (views into a block may not).
__device__ __forceinline__ bool nn_aligned16(const void* a, const void* b, const void* c = 0) {
  return (((unsigned long long)a | (unsigned long long)b | (unsigned long long)c) & 15ull) == 0;
}

// ------------------------------------------------------------------ reductions
template <typename T> __device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int off = NN_WARP / 2; off > 0; off >>= 1) v += __shfl_down_sync(NN_FULL_MASK, v, off);
  return __shfl_sync(NN_FULL_MASK, v, 0);
}

template <typename T> __device__ __forceinline__ T warp_max(T v) {
#pragma unroll
  for (int off = NN_WARP / 2; off > 0; off >>= 1) v = nn_max(v, __shfl_down_sync(NN_FULL_MASK, v, off));
  return __shfl_sync(NN_FULL_MASK, v, 0);
}

// Sum over the whole block (blockDim.x a multiple of 32, at most 1024); every thread gets
// the result. `scratch` is shared memory of >= 32 elements; reusable after the call.
template <typename T> __device__ T block_sum(T v, T* scratch) {
  const int lane = threadIdx.x % NN_WARP, warp = threadIdx.x / NN_WARP;
  const int warps = (blockDim.x + NN_WARP - 1) / NN_WARP;
  v = warp_sum(v);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : T(0);
  return warp_sum(v);
}

template <typename T> __device__ T block_max(T v, T* scratch) {
  const int lane = threadIdx.x % NN_WARP, warp = threadIdx.x / NN_WARP;
  const int warps = (blockDim.x + NN_WARP - 1) / NN_WARP;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : -nn_inf<T>();
  return warp_max(v);
}

// ------------------------------------------------------------------ strided arrays
// An N-d view of device memory: sizes and strides in elements (a stride may be 0, a
// broadcast axis, or negative, a reversed slice).  Mirrored by _driver.Strided.
#define NN_MAX_DIMS 8
struct Strided {
  index_t ndim, shape[NN_MAX_DIMS], stride[NN_MAX_DIMS];
};

// Element offset of the i-th element in C order (last axis fastest).
__device__ __forceinline__ index_t nn_strided_offset(const Strided& s, index_t i) {
  if (s.ndim == 1) return i * s.stride[0];  // contiguous operands collapse to one dim
  index_t off = 0;
  for (index_t d = s.ndim - 1; d >= 0; --d) {
    const index_t q = i / s.shape[d];
    off += (i - q * s.shape[d]) * s.stride[d];
    i = q;
  }
  return off;
}

// ------------------------------------------------------------------ sliding windows
// Up to three spatial dims; 1-D/2-D problems pass size 1 (kernel 1, stride 1, pad 0) for
// the leading dims, so conv/pool/unfold kernels are written once for 1-D, 2-D and 3-D.
struct Window3 {
  index_t in[3], out[3], k[3], stride[3], pad[3], dil[3];
};
