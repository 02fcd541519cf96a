// CUDA's device built-ins for host C++, so that nncheck/cuda/kernels/*.cu compile with g++
// and run on the CPU (NNCHECK_CUDA_EMULATE=1).  See emulator/__init__.py.
//
// Execution model: a launch runs its blocks one after another on the calling OS thread;
// inside a block every CUDA thread is a fiber (ucontext) with its own stack, so a thread
// that reaches __syncthreads() or a warp shuffle parks until the block's (or warp's) other
// live threads arrive, exactly as on a GPU.  Blocks run alone, so `__shared__` variables
// are function statics: one instance shared by the threads of the running block, with the
// sizes the source declares.  Atomics are plain read-modify-writes (fibers never preempt).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <math.h>
#include <type_traits>
#include <utility>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(...)

struct uint3 { unsigned x, y, z; };
typedef uint3 dim3;
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(16) double2 { double x, y; };

namespace nnemu {

struct Block;
extern thread_local Block* current_block;
extern thread_local uint3 thread_idx, block_idx, block_dim, grid_dim;

void syncthreads();
void syncwarp();
unsigned lane_id();              // the calling thread's lane in its warp (linear thread id % 32)
void* lane_slot(unsigned lane);  // 8 bytes per lane of the calling thread's warp

// A warp shuffle: every lane publishes its value, the warp meets, each lane reads its
// source lane's value, and the warp meets again before the slots can be reused.
template <typename T> T shuffle_from(T v, int src_lane, bool in_range) {
  static_assert(sizeof(T) <= 8, "nncheck emulator: shuffles move at most 8 bytes");
  std::memcpy(lane_slot(lane_id()), &v, sizeof(T));
  syncwarp();
  T out = v;
  if (in_range) std::memcpy(&out, lane_slot((unsigned)src_lane), sizeof(T));
  syncwarp();
  return out;
}

}  // namespace nnemu

#define threadIdx (::nnemu::thread_idx)
#define blockIdx (::nnemu::block_idx)
#define blockDim (::nnemu::block_dim)
#define gridDim (::nnemu::grid_dim)

inline void __syncthreads() { nnemu::syncthreads(); }

template <typename T> inline T __shfl_sync(unsigned, T v, int src, int width = 32) {
  const int lane = (int)nnemu::lane_id();
  const int s = (lane / width) * width + ((src % width) + width) % width;
  return nnemu::shuffle_from(v, s, true);
}
template <typename T> inline T __shfl_down_sync(unsigned, T v, unsigned delta, int width = 32) {
  const int lane = (int)nnemu::lane_id();
  const int s = lane + (int)delta;
  return nnemu::shuffle_from(v, s, (lane % width) + (int)delta < width);
}
template <typename T> inline T __shfl_xor_sync(unsigned, T v, int mask, int width = 32) {
  const int lane = (int)nnemu::lane_id();
  const int s = lane ^ mask;
  return nnemu::shuffle_from(v, s, s / width == lane / width);
}

template <typename T> inline T atomicAdd(T* address, T v) {
  T old = *address;
  *address = old + v;
  return old;
}
template <typename T> inline T atomicMax(T* address, T v) {
  T old = *address;
  if (v > old) *address = v;
  return old;
}

inline float __int_as_float(int v) { float f; std::memcpy(&f, &v, 4); return f; }
inline int __float_as_int(float v) { int i; std::memcpy(&i, &v, 4); return i; }
inline double __longlong_as_double(long long v) { double d; std::memcpy(&d, &v, 8); return d; }
inline long long __double_as_longlong(double v) { long long i; std::memcpy(&i, &v, 8); return i; }
inline unsigned __umulhi(unsigned a, unsigned b) {
  return (unsigned)(((unsigned long long)a * b) >> 32);
}

// CUDA's max/min accept mixed arithmetic types (promoted as in device code).
template <typename A, typename B> inline std::common_type_t<A, B> max(A a, B b) {
  return a > b ? a : b;
}
template <typename A, typename B> inline std::common_type_t<A, B> min(A a, B b) {
  return a < b ? a : b;
}

// ------------------------------------------------------------------ launching
namespace nnemu {

// Runs body() as every thread of a grid; returns 0, or a nonzero code with message().
int run_grid(const unsigned dims[6], std::size_t shared_bytes, void (*body)(void*), void* arg);
const char* message();

template <typename... A, std::size_t... I>
void call_with(void (*fn)(A...), void** params, std::index_sequence<I...>) {
  fn(*static_cast<std::remove_cv_t<std::remove_reference_t<A>>*>(params[I])...);
}

template <typename... A> struct Launch {
  void (*fn)(A...);
  void** params;
  static void run(void* self) {
    auto* l = static_cast<Launch*>(self);
    call_with(l->fn, l->params, std::index_sequence_for<A...>{});
  }
};

template <typename... A>
int launch(void (*fn)(A...), const unsigned dims[6], std::size_t shared_bytes, void** params) {
  Launch<A...> l{fn, params};
  return run_grid(dims, shared_bytes, &Launch<A...>::run, &l);
}

template <typename... A> int param_sizes(void (*)(A...), long long* out) {
  int i = 0;
  ((out[i++] = (long long)sizeof(A)), ...);
  return (int)sizeof...(A);
}

}  // namespace nnemu
