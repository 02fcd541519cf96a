// PairwiseDistance and CosineSimilarity over rows of (M, D); one warp per row reduces with
// shuffles. A broadcast operand (one row for all) is passed with row stride 0; the caller
// sums that operand's full (M, D) gradient. Mirrors nncheck/_kernels/distance.pyx.
#include "_common.cu"

#define NN_ROWS_PER_WARP(row, M)                                                   \
  for (index_t row = ((index_t)blockIdx.x * blockDim.x + threadIdx.x) / NN_WARP;   \
       row < (M); row += (index_t)gridDim.x * blockDim.x / NN_WARP)

// out[m] = || x1[m] - x2[m] + eps ||_p ; p = inf gives the max norm, p = 0 counts non-zeros.
template <typename T>
__global__ void pairwise_distance_forward(const T* x1, const T* x2, T* out, index_t M, index_t D,
                                          index_t s1, index_t s2, T p, T eps) {
  const int lane = threadIdx.x % NN_WARP;
  const bool inf = nn_isnan(p - p);  // p is +inf
  NN_ROWS_PER_WARP(row, M) {
    double acc = 0.0;
    for (index_t j = lane; j < D; j += NN_WARP) {
      const double d = nn_abs((double)x1[row * s1 + j] - (double)x2[row * s2 + j] + (double)eps);
      if (inf) acc = nn_max(acc, d);
      else if (p == T(0)) acc += d != 0.0;
      else if (p == T(1)) acc += d;
      else if (p == T(2)) acc += d * d;
      else acc += nn_pow(d, (double)p);
    }
    acc = inf ? warp_max(acc) : warp_sum(acc);
    if (lane == 0) {
      double r = acc;
      if (!inf && p == T(2)) r = sqrt(acc);
      else if (!inf && p != T(0) && p != T(1)) r = nn_pow(acc, 1.0 / (double)p);
      out[row] = (T)r;
    }
  }
}

// dx1 = g * sign(d) |d|^(p-1) / norm^(p-1), dx2 = -dx1 (both full (M, D)); zero where the
// norm is 0; p = inf splits the gradient evenly between tied maxima; p = 0 has none.
template <typename T>
__global__ void pairwise_distance_backward(const T* g, const T* x1, const T* x2, const T* norm,
                                           T* dx1, T* dx2, index_t M, index_t D, index_t s1,
                                           index_t s2, T p, T eps) {
  const int lane = threadIdx.x % NN_WARP;
  const bool inf = nn_isnan(p - p);
  NN_ROWS_PER_WARP(row, M) {
    const double nr = norm[row], gr = g[row];
    double ties = 0.0;
    if (inf) {
      for (index_t j = lane; j < D; j += NN_WARP)
        ties += (T)nn_abs((double)x1[row * s1 + j] - (double)x2[row * s2 + j] + (double)eps) ==
                norm[row];  // compared in T: the saved norm was rounded to T
      ties = warp_sum(ties);
    }
    for (index_t j = lane; j < D; j += NN_WARP) {
      const double d = (double)x1[row * s1 + j] - (double)x2[row * s2 + j] + (double)eps;
      double v = 0.0;
      if (nr > 0.0 && p != T(0)) {
        if (inf) v = (T)nn_abs(d) == norm[row] ? nn_sign(d) / ties : 0.0;
        else if (p == T(1)) v = nn_sign(d);
        else if (p == T(2)) v = d / nr;
        else v = nn_sign(d) * nn_pow(nn_abs(d), (double)p - 1.0) / nn_pow(nr, (double)p - 1.0);
      }
      dx1[row * D + j] = (T)(gr * v);
      dx2[row * D + j] = (T)(-gr * v);
    }
  }
}

// cos[m] = <x1, x2> / (max(|x1|, eps) * max(|x2|, eps)).
template <typename T>
__global__ void cosine_similarity_forward(const T* x1, const T* x2, T* out, index_t M, index_t D,
                                          index_t s1, index_t s2, T eps) {
  const int lane = threadIdx.x % NN_WARP;
  NN_ROWS_PER_WARP(row, M) {
    double s12 = 0.0, s11 = 0.0, s22 = 0.0;
    for (index_t j = lane; j < D; j += NN_WARP) {
      const double a = x1[row * s1 + j], b = x2[row * s2 + j];
      s12 += a * b;
      s11 += a * a;
      s22 += b * b;
    }
    s12 = warp_sum(s12);
    s11 = warp_sum(s11);
    s22 = warp_sum(s22);
    if (lane == 0)
      out[row] = (T)(s12 / (nn_max(sqrt(s11), (double)eps) * nn_max(sqrt(s22), (double)eps)));
  }
}

// With n1 = max(|x1|, eps): dcos/dx1 = x2 / (n1 n2) - [|x1| > eps] * s12 * x1 / (n1^3 n2).
template <typename T>
__global__ void cosine_similarity_backward(const T* g, const T* x1, const T* x2, T* dx1, T* dx2,
                                           index_t M, index_t D, index_t s1, index_t s2, T eps) {
  const int lane = threadIdx.x % NN_WARP;
  NN_ROWS_PER_WARP(row, M) {
    double s12 = 0.0, s11 = 0.0, s22 = 0.0;
    for (index_t j = lane; j < D; j += NN_WARP) {
      const double a = x1[row * s1 + j], b = x2[row * s2 + j];
      s12 += a * b;
      s11 += a * a;
      s22 += b * b;
    }
    s12 = warp_sum(s12);
    s11 = warp_sum(s11);
    s22 = warp_sum(s22);
    const double r1 = sqrt(s11), r2 = sqrt(s22);
    const double n1 = nn_max(r1, (double)eps), n2 = nn_max(r2, (double)eps), gr = g[row];
    const double c1 = r1 > (double)eps ? s12 / (n1 * n1 * n1 * n2) : 0.0;
    const double c2 = r2 > (double)eps ? s12 / (n2 * n2 * n2 * n1) : 0.0;
    for (index_t j = lane; j < D; j += NN_WARP) {
      const double a = x1[row * s1 + j], b = x2[row * s2 + j];
      dx1[row * D + j] = (T)(gr * (b / (n1 * n2) - c1 * a));
      dx2[row * D + j] = (T)(gr * (a / (n1 * n2) - c2 * b));
    }
  }
}
