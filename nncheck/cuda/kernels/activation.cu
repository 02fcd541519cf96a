// Activations: elementwise forward/backward pairs, softmax family, PReLU, GLU.
// Mirrors nncheck/_kernels/activation.pyx.tp: every elementwise op sees the input x and two
// scalar parameters a, b (unused ones are 0); backward gets x and grad_out.
#include "_common.cu"

#define NN_SELU_ALPHA 1.6732632423543772848170429916717
#define NN_SELU_SCALE 1.0507009873554804934193349852946
#define NN_GELU_K 0.7978845608028654  // sqrt(2 / pi)
#define NN_SQRT1_2 0.70710678118654752440
#define NN_2_SQRTPI 1.12837916709551257390

template <typename T> __device__ __forceinline__ T softplus(T x, T beta, T threshold) {
  return x * beta > threshold ? x : nn_log1p(nn_exp(x * beta)) / beta;
}

#define NN_OP(Name, FWD, BWD)                                                          \
  struct Name {                                                                        \
    template <typename T> __device__ static T f(T x, T a, T b) { return FWD; }         \
    template <typename T> __device__ static T df(T x, T a, T b) { return BWD; }        \
  };

NN_OP(Relu, x > T(0) ? x : T(0), x > T(0) ? T(1) : T(0))
NN_OP(LeakyRelu, x > T(0) ? x : a * x, x > T(0) ? T(1) : a)
NN_OP(Elu, x > T(0) ? x : a * nn_expm1(x), x > T(0) ? T(1) : a * nn_exp(x))
NN_OP(Celu, x > T(0) ? x : a * nn_expm1(x / a), x > T(0) ? T(1) : nn_exp(x / a))
NN_OP(Selu, T(NN_SELU_SCALE) * (x > T(0) ? x : T(NN_SELU_ALPHA) * nn_expm1(x)),
      T(NN_SELU_SCALE) * (x > T(0) ? T(1) : T(NN_SELU_ALPHA) * nn_exp(x)))
NN_OP(Sigmoid, nn_sigmoid(x), nn_sigmoid(x) * (T(1) - nn_sigmoid(x)))
NN_OP(Tanh, nn_tanh(x), T(1) - nn_tanh(x) * nn_tanh(x))
NN_OP(Hardtanh, x < a ? a : (x > b ? b : x), (x > a && x < b) ? T(1) : T(0))
NN_OP(Hardsigmoid, x <= T(-3) ? T(0) : (x >= T(3) ? T(1) : x / T(6) + T(0.5)),
      (x > T(-3) && x < T(3)) ? T(1.0f / 6.0f) : T(0))  // PyTorch's float constant, as the CPU kernel
NN_OP(Hardswish, x <= T(-3) ? T(0) : (x >= T(3) ? x : x * (x + T(3)) / T(6)),
      x < T(-3) ? T(0) : (x <= T(3) ? x / T(3) + T(0.5) : T(1)))
NN_OP(Silu, x * nn_sigmoid(x), nn_sigmoid(x) * (T(1) + x * (T(1) - nn_sigmoid(x))))
NN_OP(Mish, x * nn_tanh(softplus(x, T(1), T(20))),
      nn_tanh(softplus(x, T(1), T(20))) +
          x * nn_sigmoid(x) * (T(1) - nn_tanh(softplus(x, T(1), T(20))) * nn_tanh(softplus(x, T(1), T(20)))))
NN_OP(Softplus, softplus(x, a, b), x * a > b ? T(1) : nn_sigmoid(x * a))
NN_OP(Softsign, x / (T(1) + nn_abs(x)), T(1) / ((T(1) + nn_abs(x)) * (T(1) + nn_abs(x))))
NN_OP(Logsigmoid, (x < T(0) ? x : T(0)) - nn_log1p(nn_exp(-nn_abs(x))), nn_sigmoid(-x))
NN_OP(Hardshrink, (x > a || x < -a) ? x : T(0), (x > a || x < -a) ? T(1) : T(0))
NN_OP(Softshrink, x > a ? x - a : (x < -a ? x + a : T(0)), (x > a || x < -a) ? T(1) : T(0))
NN_OP(Tanhshrink, x - nn_tanh(x), nn_tanh(x) * nn_tanh(x))
NN_OP(Threshold, x > a ? x : b, x > a ? T(1) : T(0))
NN_OP(Gelu, T(0.5) * x * (T(1) + nn_erf(x * T(NN_SQRT1_2))),
      T(0.5) * (T(1) + nn_erf(x * T(NN_SQRT1_2))) +
          x * nn_exp(T(-0.5) * x * x) * T(NN_2_SQRTPI) * T(NN_SQRT1_2) * T(0.5))

struct GeluTanh {
  template <typename T> __device__ static T f(T x, T, T) {
    return T(0.5) * x * (T(1) + nn_tanh(T(NN_GELU_K) * (x + T(0.044715) * x * x * x)));
  }
  template <typename T> __device__ static T df(T x, T, T) {
    T t = nn_tanh(T(NN_GELU_K) * (x + T(0.044715) * x * x * x));
    return T(0.5) * (T(1) + t) +
           T(0.5) * x * (T(1) - t * t) * T(NN_GELU_K) * (T(1) + T(3 * 0.044715) * x * x);
  }
};

// y = Op::f(x): 16-byte vector loads over the aligned bulk, scalar grid-stride tail.
template <typename T, typename Op>
__device__ __forceinline__ void unary_forward(const T* __restrict__ x, T* __restrict__ y,
                                              index_t n, T a, T b) {
  typedef typename Vec<T>::type V;
  const int W = Vec<T>::width;
  const index_t nv = nn_aligned16(x, y) ? n / W : 0;
  NN_GRID_STRIDE(i, nv) {
    V v = reinterpret_cast<const V*>(x)[i];
    T* e = reinterpret_cast<T*>(&v);
#pragma unroll
    for (int k = 0; k < W; ++k) e[k] = Op::f(e[k], a, b);
    reinterpret_cast<V*>(y)[i] = v;
  }
  NN_GRID_STRIDE(j, n - nv * W) y[nv * W + j] = Op::f(x[nv * W + j], a, b);
}

// dx = grad_out * Op::df(x), vectorised like unary_forward.
template <typename T, typename Op>
__device__ __forceinline__ void unary_backward(const T* __restrict__ x, const T* __restrict__ g,
                                               T* __restrict__ dx, index_t n, T a, T b) {
  typedef typename Vec<T>::type V;
  const int W = Vec<T>::width;
  const index_t nv = nn_aligned16(x, g, dx) ? n / W : 0;
  NN_GRID_STRIDE(i, nv) {
    V xv = reinterpret_cast<const V*>(x)[i], gv = reinterpret_cast<const V*>(g)[i];
    T* xe = reinterpret_cast<T*>(&xv);
    const T* ge = reinterpret_cast<const T*>(&gv);
#pragma unroll
    for (int k = 0; k < W; ++k) xe[k] = ge[k] * Op::df(xe[k], a, b);
    reinterpret_cast<V*>(dx)[i] = xv;
  }
  NN_GRID_STRIDE(j, n - nv * W) {
    const index_t k = nv * W + j;
    dx[k] = g[k] * Op::df(x[k], a, b);
  }
}

#define NN_FWD_ARGS const T* x, T* y, index_t n, T a, T b
#define NN_BWD_ARGS const T* x, const T* g, T* dx, index_t n, T a, T b

template <typename T> __global__ void relu_forward(NN_FWD_ARGS) { unary_forward<T, Relu>(x, y, n, a, b); }
template <typename T> __global__ void relu_backward(NN_BWD_ARGS) { unary_backward<T, Relu>(x, g, dx, n, a, b); }
template <typename T> __global__ void leaky_relu_forward(NN_FWD_ARGS) { unary_forward<T, LeakyRelu>(x, y, n, a, b); }
template <typename T> __global__ void leaky_relu_backward(NN_BWD_ARGS) { unary_backward<T, LeakyRelu>(x, g, dx, n, a, b); }
template <typename T> __global__ void elu_forward(NN_FWD_ARGS) { unary_forward<T, Elu>(x, y, n, a, b); }
template <typename T> __global__ void elu_backward(NN_BWD_ARGS) { unary_backward<T, Elu>(x, g, dx, n, a, b); }
template <typename T> __global__ void celu_forward(NN_FWD_ARGS) { unary_forward<T, Celu>(x, y, n, a, b); }
template <typename T> __global__ void celu_backward(NN_BWD_ARGS) { unary_backward<T, Celu>(x, g, dx, n, a, b); }
template <typename T> __global__ void selu_forward(NN_FWD_ARGS) { unary_forward<T, Selu>(x, y, n, a, b); }
template <typename T> __global__ void selu_backward(NN_BWD_ARGS) { unary_backward<T, Selu>(x, g, dx, n, a, b); }
template <typename T> __global__ void sigmoid_forward(NN_FWD_ARGS) { unary_forward<T, Sigmoid>(x, y, n, a, b); }
template <typename T> __global__ void sigmoid_backward(NN_BWD_ARGS) { unary_backward<T, Sigmoid>(x, g, dx, n, a, b); }
template <typename T> __global__ void tanh_forward(NN_FWD_ARGS) { unary_forward<T, Tanh>(x, y, n, a, b); }
template <typename T> __global__ void tanh_backward(NN_BWD_ARGS) { unary_backward<T, Tanh>(x, g, dx, n, a, b); }
template <typename T> __global__ void hardtanh_forward(NN_FWD_ARGS) { unary_forward<T, Hardtanh>(x, y, n, a, b); }
template <typename T> __global__ void hardtanh_backward(NN_BWD_ARGS) { unary_backward<T, Hardtanh>(x, g, dx, n, a, b); }
template <typename T> __global__ void hardsigmoid_forward(NN_FWD_ARGS) { unary_forward<T, Hardsigmoid>(x, y, n, a, b); }
template <typename T> __global__ void hardsigmoid_backward(NN_BWD_ARGS) { unary_backward<T, Hardsigmoid>(x, g, dx, n, a, b); }
template <typename T> __global__ void hardswish_forward(NN_FWD_ARGS) { unary_forward<T, Hardswish>(x, y, n, a, b); }
template <typename T> __global__ void hardswish_backward(NN_BWD_ARGS) { unary_backward<T, Hardswish>(x, g, dx, n, a, b); }
template <typename T> __global__ void silu_forward(NN_FWD_ARGS) { unary_forward<T, Silu>(x, y, n, a, b); }
template <typename T> __global__ void silu_backward(NN_BWD_ARGS) { unary_backward<T, Silu>(x, g, dx, n, a, b); }
template <typename T> __global__ void mish_forward(NN_FWD_ARGS) { unary_forward<T, Mish>(x, y, n, a, b); }
template <typename T> __global__ void mish_backward(NN_BWD_ARGS) { unary_backward<T, Mish>(x, g, dx, n, a, b); }
template <typename T> __global__ void softplus_forward(NN_FWD_ARGS) { unary_forward<T, Softplus>(x, y, n, a, b); }
template <typename T> __global__ void softplus_backward(NN_BWD_ARGS) { unary_backward<T, Softplus>(x, g, dx, n, a, b); }
template <typename T> __global__ void softsign_forward(NN_FWD_ARGS) { unary_forward<T, Softsign>(x, y, n, a, b); }
template <typename T> __global__ void softsign_backward(NN_BWD_ARGS) { unary_backward<T, Softsign>(x, g, dx, n, a, b); }
template <typename T> __global__ void logsigmoid_forward(NN_FWD_ARGS) { unary_forward<T, Logsigmoid>(x, y, n, a, b); }
template <typename T> __global__ void logsigmoid_backward(NN_BWD_ARGS) { unary_backward<T, Logsigmoid>(x, g, dx, n, a, b); }
template <typename T> __global__ void hardshrink_forward(NN_FWD_ARGS) { unary_forward<T, Hardshrink>(x, y, n, a, b); }
template <typename T> __global__ void hardshrink_backward(NN_BWD_ARGS) { unary_backward<T, Hardshrink>(x, g, dx, n, a, b); }
template <typename T> __global__ void softshrink_forward(NN_FWD_ARGS) { unary_forward<T, Softshrink>(x, y, n, a, b); }
template <typename T> __global__ void softshrink_backward(NN_BWD_ARGS) { unary_backward<T, Softshrink>(x, g, dx, n, a, b); }
template <typename T> __global__ void tanhshrink_forward(NN_FWD_ARGS) { unary_forward<T, Tanhshrink>(x, y, n, a, b); }
template <typename T> __global__ void tanhshrink_backward(NN_BWD_ARGS) { unary_backward<T, Tanhshrink>(x, g, dx, n, a, b); }
template <typename T> __global__ void threshold_forward(NN_FWD_ARGS) { unary_forward<T, Threshold>(x, y, n, a, b); }
template <typename T> __global__ void threshold_backward(NN_BWD_ARGS) { unary_backward<T, Threshold>(x, g, dx, n, a, b); }
template <typename T> __global__ void gelu_forward(NN_FWD_ARGS) { unary_forward<T, Gelu>(x, y, n, a, b); }
template <typename T> __global__ void gelu_backward(NN_BWD_ARGS) { unary_backward<T, Gelu>(x, g, dx, n, a, b); }
template <typename T> __global__ void gelu_tanh_forward(NN_FWD_ARGS) { unary_forward<T, GeluTanh>(x, y, n, a, b); }
template <typename T> __global__ void gelu_tanh_backward(NN_BWD_ARGS) { unary_backward<T, GeluTanh>(x, g, dx, n, a, b); }

// ------------------------------------------------------------------ softmax family
// x viewed as (outer, n, inner); one warp per (outer, inner) row reduces along n with
// shuffles. log_space selects log_softmax. Launch: blockDim.x a multiple of 32.
template <typename T>
__global__ void softmax_forward(const T* x, T* y, index_t outer, index_t n, index_t inner,
                                index_t log_space) {
  const index_t warps = (index_t)gridDim.x * blockDim.x / NN_WARP;
  const int lane = threadIdx.x % NN_WARP;
  for (index_t row = ((index_t)blockIdx.x * blockDim.x + threadIdx.x) / NN_WARP;
       row < outer * inner; row += warps) {
    const index_t base = (row / inner) * n * inner + row % inner;
    T m = -nn_inf<T>();
    for (index_t i = lane; i < n; i += NN_WARP) m = nn_max(m, x[base + i * inner]);
    m = warp_max(m);
    T total = T(0);
    for (index_t i = lane; i < n; i += NN_WARP) total += nn_exp(x[base + i * inner] - m);
    total = warp_sum(total);
    const T log_total = nn_log(total);
    for (index_t i = lane; i < n; i += NN_WARP) {
      const T v = x[base + i * inner] - m;
      y[base + i * inner] = log_space ? v - log_total : nn_exp(v) / total;
    }
  }
}

// From the saved output y: softmax dx = y * (g - sum(g*y)); log_softmax dx = g - exp(y)*sum(g).
template <typename T>
__global__ void softmax_backward(const T* y, const T* g, T* dx, index_t outer, index_t n,
                                 index_t inner, index_t log_space) {
  const index_t warps = (index_t)gridDim.x * blockDim.x / NN_WARP;
  const int lane = threadIdx.x % NN_WARP;
  for (index_t row = ((index_t)blockIdx.x * blockDim.x + threadIdx.x) / NN_WARP;
       row < outer * inner; row += warps) {
    const index_t base = (row / inner) * n * inner + row % inner;
    T acc = T(0);
    for (index_t i = lane; i < n; i += NN_WARP) {
      const index_t k = base + i * inner;
      acc += log_space ? g[k] : g[k] * y[k];
    }
    acc = warp_sum(acc);
    for (index_t i = lane; i < n; i += NN_WARP) {
      const index_t k = base + i * inner;
      dx[k] = log_space ? g[k] - nn_exp(y[k]) * acc : y[k] * (g[k] - acc);
    }
  }
}

// ------------------------------------------------------------------ PReLU: x as (N, C, inner)
// `shared` (weight of length 1) is passed as channels_w == 1.
template <typename T>
__global__ void prelu_forward(const T* x, const T* w, T* y, index_t total, index_t C,
                              index_t inner, index_t channels_w) {
  NN_GRID_STRIDE(i, total) {
    const T wc = w[channels_w == 1 ? 0 : (i / inner) % C];
    y[i] = x[i] > T(0) ? x[i] : wc * x[i];
  }
}

template <typename T>
__global__ void prelu_backward_input(const T* x, const T* w, const T* g, T* dx, index_t total,
                                     index_t C, index_t inner, index_t channels_w) {
  NN_GRID_STRIDE(i, total) {
    const T wc = w[channels_w == 1 ? 0 : (i / inner) % C];
    dx[i] = x[i] > T(0) ? g[i] : wc * g[i];
  }
}

// One block per weight entry: dw[c] += sum over (n, j) with x <= 0 of x * g (deterministic).
// For a shared weight (channels_w == 1) the single block covers every channel.
template <typename T>
__global__ void prelu_backward_weight(const T* x, const T* g, T* dw, index_t N, index_t C,
                                      index_t inner, index_t channels_w) {
  __shared__ T scratch[NN_WARP];
  const index_t c0 = channels_w == 1 ? 0 : blockIdx.x;
  const index_t cs = channels_w == 1 ? C : 1;
  const index_t per_n = cs * inner;
  T acc = T(0);
  for (index_t t = threadIdx.x; t < N * per_n; t += blockDim.x) {
    const index_t n = t / per_n, r = t % per_n;
    const index_t k = (n * C + c0 + r / inner) * inner + r % inner;
    if (x[k] <= T(0)) acc += x[k] * g[k];
  }
  acc = block_sum(acc, scratch);
  if (threadIdx.x == 0) dw[blockIdx.x] += acc;
}

// ------------------------------------------------------------------ GLU: x as (outer, 2h, inner)
template <typename T>
__global__ void glu_forward(const T* x, T* y, index_t outer, index_t h, index_t inner) {
  NN_GRID_STRIDE(i, outer * h * inner) {
    const index_t o = i / (h * inner), r = i % (h * inner);
    const index_t a = o * 2 * h * inner + r;
    y[i] = x[a] * nn_sigmoid(x[a + h * inner]);
  }
}

template <typename T>
__global__ void glu_backward(const T* x, const T* g, T* dx, index_t outer, index_t h,
                             index_t inner) {
  NN_GRID_STRIDE(i, outer * h * inner) {
    const index_t o = i / (h * inner), r = i % (h * inner);
    const index_t a = o * 2 * h * inner + r, b = a + h * inner;
    const T s = nn_sigmoid(x[b]);
    dx[a] = g[i] * s;
    dx[b] = g[i] * x[a] * s * (T(1) - s);
  }
}
