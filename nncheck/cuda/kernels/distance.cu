// Distance and vector-norm kernels: the kernels of nncheck/_kernels/distance.pyx (same names,
// same formulas, sums in double): p-norms along the middle axis of an (outer, n, inner) view
// (pairwise_distance, normalize), cosine similarity and pdist, each with its backward.  One
// thread per reduced vector.  The norm derivatives follow torch's conventions: a zero norm
// gives a zero gradient, the inf-norm shares the gradient among the tied maxima (vector
// norms) or gives it to each of them (pdist).  Shapes and p were validated in Python.
#include "_common.cu"

__device__ __forceinline__ double dsign(double x) { return (x > 0) - (x < 0); }
__device__ __forceinline__ bool dinf(double p) { return p == nn_inf<double>() || p == -nn_inf<double>(); }

// the p-norm of x[0], x[stride], ..., x[(n-1)*stride] (p = 0, +-inf allowed)
template <typename T>
__device__ double pnorm(const T* x, index_t n, index_t stride, double p) {
  double acc = 0;
  if (dinf(p)) {
    if (n == 0) return p > 0 ? 0.0 : nn_inf<double>();
    acc = p > 0 ? -nn_inf<double>() : nn_inf<double>();
    for (index_t i = 0; i < n; ++i) {
      const double a = fabs((double)x[i * stride]);
      if (a != a) return a;
      if ((p > 0 && a > acc) || (p < 0 && a < acc)) acc = a;
    }
    return acc;
  }
  if (p == 0) {
    for (index_t i = 0; i < n; ++i) acc += x[i * stride] != T(0);
    return acc;
  }
  if (p == 1) {
    for (index_t i = 0; i < n; ++i) acc += fabs((double)x[i * stride]);
    return acc;
  }
  if (p == 2) {
    for (index_t i = 0; i < n; ++i) acc += (double)x[i * stride] * x[i * stride];
    return sqrt(acc);
  }
  for (index_t i = 0; i < n; ++i) acc += pow(fabs((double)x[i * stride]), p);
  return pow(acc, 1.0 / p);
}

// how many |x| equal the inf-norm (or are NaN): torch splits the gradient among them
template <typename T>
__device__ double count_extremes(const T* x, index_t n, index_t stride, double norm) {
  double cnt = 0;
  for (index_t i = 0; i < n; ++i) {
    const double a = fabs((double)x[i * stride]);
    cnt += a == norm || a != a;
  }
  return cnt;
}

// d||v||_p / dv_i at v_i = x, as torch's norm_backward
__device__ double norm_deriv(double x, double norm, double p, double n_ext) {
  const double a = fabs(x);
  if (p == 0) return 0.0;
  if (p == 1) return dsign(x);
  if (dinf(p)) return (a == norm || a != a) ? dsign(x) / n_ext : 0.0;
  if (p == 2) return norm != 0 ? x / norm : 0.0;
  if (p < 1) return x != 0 ? dsign(x) * pow(a, p - 1) * pow(norm, 1 - p) : 0.0;
  if (norm == 0) return 0.0;
  if (p < 2) return dsign(x) * pow(a, p - 1) / pow(norm, p - 1);
  return x * pow(a, p - 2) / pow(norm, p - 1);
}

// ------------------------------------------------------------------ pairwise distance
// out[r] = ||x1[r] - x2[r] + eps||_p over rows of D; diff keeps x1 - x2 + eps for backward
template <typename T>
__global__ void pairwise_forward(const T* x1, const T* x2, index_t R, index_t D, double eps,
                                 double p, T* diff, T* out) {
  NN_GRID_STRIDE(r, R) {
    for (index_t j = 0; j < D; ++j) diff[r * D + j] = (T)(x1[r * D + j] - x2[r * D + j] + eps);
    out[r] = (T)pnorm(diff + r * D, D, 1, p);
  }
}

// grad_x1 = grad * d||diff|| / d diff, grad_x2 = -grad_x1 (when need_x2)
template <typename T>
__global__ void pairwise_backward(const T* diff, const T* dist, const T* grad_out, index_t R,
                                  index_t D, double p, T* grad_x1, T* grad_x2, index_t need_x2) {
  NN_GRID_STRIDE(r, R) {
    const double n_ext = count_extremes(diff + r * D, D, 1, (double)dist[r]);
    for (index_t j = 0; j < D; ++j) {
      const double gx = grad_out[r] * norm_deriv(diff[r * D + j], dist[r], p, n_ext);
      grad_x1[r * D + j] = (T)gx;
      if (need_x2) grad_x2[r * D + j] = (T)-gx;
    }
  }
}

// ------------------------------------------------------------------ normalize
// out = x / max(||x||_p along axis 1, eps); norm keeps the unclamped norms
template <typename T>
__global__ void normalize_forward(const T* x, index_t O, index_t N, index_t I, double p,
                                  double eps, T* norm, T* out) {
  NN_GRID_STRIDE(e, O * I) {
    const index_t o = e / I, i = e % I, base = o * N * I + i;
    const double nv = pnorm(x + base, N, I, p), den = nv > eps ? nv : eps;
    norm[e] = (T)nv;
    for (index_t j = 0; j < N; ++j) out[base + j * I] = (T)(x[base + j * I] / den);
  }
}

// dx = g/d - [n >= eps] * sum(g*x)/d^2 * dn/dx, d = max(n, eps) (clamp_min's rule)
template <typename T>
__global__ void normalize_backward(const T* x, const T* norm, const T* grad_out, index_t O,
                                   index_t N, index_t I, double p, double eps, T* grad_in) {
  NN_GRID_STRIDE(e, O * I) {
    const index_t o = e / I, i = e % I, base = o * N * I + i;
    const double nv = norm[e], den = nv > eps ? nv : eps;
    double s = 0;
    for (index_t j = 0; j < N; ++j) s += (double)grad_out[base + j * I] * x[base + j * I];
    s = nv >= eps ? -s / (den * den) : 0.0;
    const double n_ext = count_extremes(x + base, N, I, nv);
    for (index_t j = 0; j < N; ++j)
      grad_in[base + j * I] =
          (T)(grad_out[base + j * I] / den + s * norm_deriv(x[base + j * I], nv, p, n_ext));
  }
}

// ------------------------------------------------------------------ cosine similarity
// out = sum(x1*x2) / (max(||x1||, eps) * max(||x2||, eps)) along axis 1; n1, n2 (double)
// keep the norms
template <typename T>
__global__ void cosine_forward(const T* x1, const T* x2, index_t O, index_t N, index_t I,
                               double eps, double* n1, double* n2, T* out) {
  NN_GRID_STRIDE(e, O * I) {
    const index_t o = e / I, i = e % I, base = o * N * I + i;
    double dot = 0, a = 0, b = 0;
    for (index_t j = 0; j < N; ++j) {
      const double u = x1[base + j * I], v = x2[base + j * I];
      dot += u * v;
      a += u * u;
      b += v * v;
    }
    n1[e] = sqrt(a);
    n2[e] = sqrt(b);
    out[e] = (T)(dot / ((n1[e] > eps ? n1[e] : eps) * (n2[e] > eps ? n2[e] : eps)));
  }
}

// d out/d x1 = x2/(c1 c2) - out/c1 * x1/n1 (c: the clamped norm; torch clamps without grad)
template <typename T>
__global__ void cosine_backward(const T* x1, const T* x2, const double* n1, const double* n2,
                                const T* out, const T* grad_out, index_t O, index_t N,
                                index_t I, double eps, T* grad_x1, T* grad_x2) {
  NN_GRID_STRIDE(e, O * I) {
    const index_t o = e / I, i = e % I, base = o * N * I + i;
    const double c1 = n1[e] > eps ? n1[e] : eps, c2 = n2[e] > eps ? n2[e] : eps;
    const double g = grad_out[e];
    const double f1 = n1[e] != 0 ? g * out[e] / (c1 * n1[e]) : 0.0;
    const double f2 = n2[e] != 0 ? g * out[e] / (c2 * n2[e]) : 0.0;
    for (index_t j = 0; j < N; ++j) {
      grad_x1[base + j * I] = (T)(g * x2[base + j * I] / (c1 * c2) - f1 * x1[base + j * I]);
      grad_x2[base + j * I] = (T)(g * x1[base + j * I] / (c1 * c2) - f2 * x2[base + j * I]);
    }
  }
}

// ------------------------------------------------------------------ pdist
// position of the pair (i, j), i < j, in pdist's row-major upper-triangle output
__device__ __forceinline__ index_t pair_index(index_t i, index_t j, index_t N) {
  return i * N - i * (i + 1) / 2 + (j - i - 1);
}

// torch's pdist backward per coordinate difference d (each tied max gets it in full)
__device__ double pdist_deriv(double d, double dist, double p) {
  if (p == 0) return 0.0;
  if (p == 1) return dsign(d);
  if (p == nn_inf<double>()) return fabs(d) == dist ? dsign(d) : 0.0;
  if (dist == 0) return 0.0;
  if (p == 2) return d / dist;
  if (p < 2) {
    if (p < 1 && d == 0) return 0.0;
    return dsign(d) * pow(fabs(d), p - 1) / pow(dist, p - 1);
  }
  return d * pow(fabs(d), p - 2) / pow(dist, p - 1);
}

// out[k(i, j)] = ||x[i] - x[j]||_p for i < j, one thread per row i; scratch is (N, M), a
// row of differences per thread
template <typename T>
__global__ void pdist_forward(const T* x, index_t N, index_t M, double p, T* scratch, T* out) {
  NN_GRID_STRIDE(i, N) {
    for (index_t j = i + 1; j < N; ++j) {
      for (index_t m = 0; m < M; ++m) scratch[i * M + m] = x[i * M + m] - x[j * M + m];
      out[pair_index(i, j, N)] = (T)pnorm(scratch + i * M, M, 1, p);
    }
  }
}

// grad_in[i] = sum over j != i of g(i, j) * d dist(i, j) / d x[i] (one row per thread)
template <typename T>
__global__ void pdist_backward(const T* x, const T* dist, const T* grad_out, index_t N,
                               index_t M, double p, T* grad_in) {
  NN_GRID_STRIDE(i, N) {
    for (index_t m = 0; m < M; ++m) {
      double acc = 0;
      for (index_t j = 0; j < N; ++j) {
        if (j == i) continue;
        const index_t k = i < j ? pair_index(i, j, N) : pair_index(j, i, N);
        const double d = (T)(x[i * M + m] - x[j * M + m]);
        acc += grad_out[k] * pdist_deriv(d, dist[k], p);
      }
      grad_in[i * M + m] = (T)acc;
    }
  }
}
