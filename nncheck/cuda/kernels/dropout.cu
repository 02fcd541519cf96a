// Dropout family: a counter-based Philox4x32-10 Bernoulli mask (reproducible for a given
// seed/offset, independent of the launch configuration), then masked scaling.
// Dropout / Dropout1d-3d (mask per element or per (n, c) plane via `inner`) and AlphaDropout /
// FeatureAlphaDropout. The backward of every member is dropout_apply on grad_out.
// Mirrors nncheck/_kernels/dropout.pyx (the random streams differ from the CPU's).
#include "_common.cu"

struct Philox4 {
  unsigned int v[4];
};

// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11).
__device__ __forceinline__ Philox4 philox(unsigned long long counter, unsigned long long seed) {
  unsigned int c0 = (unsigned int)counter, c1 = (unsigned int)(counter >> 32), c2 = 0, c3 = 0;
  unsigned int k0 = (unsigned int)seed, k1 = (unsigned int)(seed >> 32);
#pragma unroll
  for (int round = 0; round < 10; ++round) {
    const unsigned int hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
    const unsigned int hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  Philox4 r = {{c0, c1, c2, c3}};
  return r;
}

// mask[i] = 1 with probability 1 - p (uniform in [0, 1) with 53 random bits >= p).
// Element i uses Philox counter offset + i, so a call with the same seed and offset
// reproduces the mask whatever the grid.
template <typename T>
__global__ void bernoulli_mask(unsigned char* mask, index_t n, T p, unsigned long long seed,
                               unsigned long long offset) {
  NN_GRID_STRIDE(i, n) {
    const Philox4 r = philox(offset + (unsigned long long)i, seed);
    const unsigned long long bits = ((unsigned long long)r.v[0] << 21) ^ (r.v[1] >> 11);
    const double u = (double)(bits & ((1ull << 53) - 1)) * (1.0 / 9007199254740992.0);
    mask[i] = u >= (double)p ? 1 : 0;
  }
}

// y[i] = mask[i / inner] ? x[i] * scale : 0 (inner = 1 for elementwise dropout, the plane
// size for Dropout1d/2d/3d). Forward with scale 1/(1-p); backward on grad_out likewise.
template <typename T>
__global__ void dropout_apply(const T* x, const unsigned char* mask, T* y, index_t n,
                              index_t inner, T scale) {
  NN_GRID_STRIDE(i, n) y[i] = mask[i / inner] ? x[i] * scale : T(0);
}

// AlphaDropout: y = a * (kept ? x : alpha') + b, with a, b chosen in Python so the output
// keeps zero mean and unit variance. Backward: dropout_apply(g, mask, scale=a).
template <typename T>
__global__ void alpha_dropout_apply(const T* x, const unsigned char* mask, T* y, index_t n,
                                    index_t inner, T a, T b, T alpha_prime) {
  NN_GRID_STRIDE(i, n) y[i] = a * (mask[i / inner] ? x[i] : alpha_prime) + b;
}
