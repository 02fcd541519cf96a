// Linear/Bilinear: our own tiled GEMM (no cuBLAS) plus the reductions and elementwise
// pieces the backward passes need. Also used by conv.cu (im2col) and rnn.cu (gate GEMMs).
// Mirrors nncheck/_kernels/linear.pyx; all matrices are row-major.
#include "_common.cu"

// C[M,N] = alpha * op(A)[M,K] @ op(B)[K,N] (+ beta * C) (+ bias), batched over blockIdx.z.
// Block tile 128x128, K step 8, 256 threads, each thread an 8x8 register tile whose rows
// are {ty*4 + i, 64 + ty*4 + i} and columns {tx*4 + j, 64 + tx*4 + j}: neighbouring threads
// read neighbouring shared-memory words, so the inner loop is free of bank conflicts.
// bias_mode: 0 none, 1 bias[n] (Linear), 2 bias[m] (conv: rows are output channels).
#define GEMM_BM 128
#define GEMM_BN 128
#define GEMM_BK 8
#define GEMM_THREADS 256

template <typename T, bool TA, bool TB>
__device__ __forceinline__ void gemm_tile(const T* __restrict__ A, const T* __restrict__ B,
                                          T* __restrict__ C, const T* __restrict__ bias,
                                          index_t M, index_t N, index_t K, index_t lda,
                                          index_t ldb, index_t ldc, index_t sA, index_t sB,
                                          index_t sC, T alpha, T beta, index_t bias_mode) {
  __shared__ T As[GEMM_BK][GEMM_BM];
  __shared__ T Bs[GEMM_BK][GEMM_BN];
  A += blockIdx.z * sA;
  B += blockIdx.z * sB;
  C += blockIdx.z * sC;
  const index_t m0 = (index_t)blockIdx.y * GEMM_BM, n0 = (index_t)blockIdx.x * GEMM_BN;
  const int t = threadIdx.x, tx = t % 16, ty = t / 16;
  // loader coordinates: 4 elements per thread per operand and K step
  const int a_r = TA ? t / 32 : t / 2, a_c = TA ? (t % 32) * 4 : (t % 2) * 4;
  const int b_r = TB ? t / 2 : t / 32, b_c = TB ? (t % 2) * 4 : (t % 32) * 4;

  T acc[8][8];
#pragma unroll
  for (int i = 0; i < 8; ++i)
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[i][j] = T(0);

  for (index_t k0 = 0; k0 < K; k0 += GEMM_BK) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      if (TA) {  // A stored [K, M]: row k = k0 + a_r, columns m0 + a_c + e
        const index_t k = k0 + a_r, m = m0 + a_c + e;
        As[a_r][a_c + e] = (k < K && m < M) ? A[k * lda + m] : T(0);
      } else {  // A stored [M, K]: row m = m0 + a_r, columns k0 + a_c + e
        const index_t m = m0 + a_r, k = k0 + a_c + e;
        As[a_c + e][a_r] = (k < K && m < M) ? A[m * lda + k] : T(0);
      }
      if (TB) {  // B stored [N, K]
        const index_t n = n0 + b_r, k = k0 + b_c + e;
        Bs[b_c + e][b_r] = (k < K && n < N) ? B[n * ldb + k] : T(0);
      } else {  // B stored [K, N]
        const index_t k = k0 + b_r, n = n0 + b_c + e;
        Bs[b_r][b_c + e] = (k < K && n < N) ? B[k * ldb + n] : T(0);
      }
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < GEMM_BK; ++kk) {
      T a[8], b[8];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        a[i] = As[kk][ty * 4 + i];
        a[i + 4] = As[kk][64 + ty * 4 + i];
        b[i] = Bs[kk][tx * 4 + i];
        b[i + 4] = Bs[kk][64 + tx * 4 + i];
      }
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] += a[i] * b[j];
    }
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const index_t m = m0 + (i < 4 ? ty * 4 + i : 64 + ty * 4 + i - 4);
    if (m >= M) continue;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const index_t n = n0 + (j < 4 ? tx * 4 + j : 64 + tx * 4 + j - 4);
      if (n >= N) continue;
      T v = alpha * acc[i][j];
      if (beta != T(0)) v += beta * C[m * ldc + n];
      if (bias_mode == 1) v += bias[n];
      if (bias_mode == 2) v += bias[m];
      C[m * ldc + n] = v;
    }
  }
}

#define GEMM_ARGS                                                                      \
  const T *A, const T *B, T *C, const T *bias, index_t M, index_t N, index_t K,        \
      index_t lda, index_t ldb, index_t ldc, index_t sA, index_t sB, index_t sC,       \
      T alpha, T beta, index_t bias_mode
#define GEMM_PASS A, B, C, bias, M, N, K, lda, ldb, ldc, sA, sB, sC, alpha, beta, bias_mode

// Launch: grid (ceil(N/128), ceil(M/128), batch), block 256.
template <typename T> __global__ void __launch_bounds__(GEMM_THREADS) gemm_nn(GEMM_ARGS) {
  gemm_tile<T, false, false>(GEMM_PASS);
}
template <typename T> __global__ void __launch_bounds__(GEMM_THREADS) gemm_nt(GEMM_ARGS) {
  gemm_tile<T, false, true>(GEMM_PASS);
}
template <typename T> __global__ void __launch_bounds__(GEMM_THREADS) gemm_tn(GEMM_ARGS) {
  gemm_tile<T, true, false>(GEMM_PASS);
}
template <typename T> __global__ void __launch_bounds__(GEMM_THREADS) gemm_tt(GEMM_ARGS) {
  gemm_tile<T, true, true>(GEMM_PASS);
}

// ------------------------------------------------------------------ reductions
// out[j] (+)= sum_i x[i, j] for x of shape (M, N): one thread per column, coalesced rows.
// Linear's bias gradient, and summing per-sample partial weight gradients.
template <typename T>
__global__ void sum_rows(const T* x, T* out, index_t M, index_t N, index_t accumulate) {
  NN_GRID_STRIDE(j, N) {
    double acc = accumulate ? (double)out[j] : 0.0;
    for (index_t i = 0; i < M; ++i) acc += (double)x[i * N + j];
    out[j] = (T)acc;
  }
}

// out[c] (+)= sum over (o, j) of x[o, c, j] for x of shape (outer, C, inner): one block per
// channel (conv bias gradient).
template <typename T>
__global__ void sum_channels(const T* x, T* out, index_t outer, index_t C, index_t inner,
                             index_t accumulate) {
  __shared__ double scratch[NN_WARP];
  const index_t c = blockIdx.x;
  double acc = 0.0;
  for (index_t t = threadIdx.x; t < outer * inner; t += blockDim.x)
    acc += (double)x[((t / inner) * C + c) * inner + t % inner];
  acc = block_sum(acc, scratch);
  if (threadIdx.x == 0) out[c] = (T)(accumulate ? (double)out[c] + acc : acc);
}

// ------------------------------------------------------------------ Bilinear
// With tmp[o, n, j] = (x1 @ W[o])[n, j] from a batched gemm_nn:
// out[n, o] = sum_j tmp[o, n, j] * x2[n, j] + bias[o].
template <typename T>
__global__ void bilinear_combine(const T* tmp, const T* x2, const T* bias, T* out, index_t N,
                                 index_t O, index_t J) {
  NN_GRID_STRIDE(i, N * O) {
    const index_t n = i / O, o = i % O;
    double acc = bias ? (double)bias[o] : 0.0;
    for (index_t j = 0; j < J; ++j) acc += (double)tmp[(o * N + n) * J + j] * x2[n * J + j];
    out[i] = (T)acc;
  }
}

// scaled[o, n, j] = g[n, o] * x2[n, j]; then grad_W[o] = x1^T @ scaled[o] (gemm_tn) and
// grad_x1 = sum_o scaled[o] @ W[o]^T (gemm_nt per o, summed by sum_rows).
template <typename T>
__global__ void bilinear_scale(const T* g, const T* x2, T* scaled, index_t N, index_t O,
                               index_t J) {
  NN_GRID_STRIDE(i, O * N * J) {
    const index_t o = i / (N * J), n = (i / J) % N, j = i % J;
    scaled[i] = g[n * O + o] * x2[n * J + j];
  }
}

// grad_x2[n, j] = sum_o g[n, o] * tmp[o, n, j].
template <typename T>
__global__ void bilinear_grad_x2(const T* tmp, const T* g, T* gx2, index_t N, index_t O,
                                 index_t J) {
  NN_GRID_STRIDE(i, N * J) {
    const index_t n = i / J, j = i % J;
    double acc = 0.0;
    for (index_t o = 0; o < O; ++o) acc += (double)g[n * O + o] * tmp[(o * N + n) * J + j];
    gx2[i] = (T)acc;
  }
}
