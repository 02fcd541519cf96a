// Scaled dot-product attention: the kernels of nncheck/_kernels/attention.pyx in steps a GPU
// runs one thread per output element (products summed in double), per (L, S) row for the
// softmaxes.  Slices: q, probs, out (B, L, .), k, v (Bk, S, .), B = Bk * group (query heads
// sharing a key/value slice); bias (1 or B, L, S) or null.
#include "_common.cu"

// probs[b, i, j] = scale * <q[b, i], k[b / group, j]>
template <typename T>
__global__ void attention_scores(const T* q, const T* k, T* probs, index_t B, index_t L,
                                 index_t S, index_t E, index_t group, double scale) {
  NN_GRID_STRIDE(e, B * L * S) {
    const index_t b = e / (L * S), i = (e / S) % L, j = e % S;
    const T* qr = q + (b * L + i) * E;
    const T* kr = k + ((b / group) * S + j) * E;
    double acc = 0;
    for (index_t c = 0; c < E; ++c) acc += (double)qr[c] * kr[c];
    probs[e] = (T)(scale * acc);
  }
}

// rows of probs := softmax(probs + bias), keeping j <= i only when causal; a row with
// nothing to attend to becomes zeros (safe, SDPA's rule) or NaN (plain softmax of -inf)
template <typename T>
__global__ void softmax_rows(T* probs, const T* bias, index_t bias_batch, index_t B, index_t L,
                             index_t S, index_t causal, index_t safe) {
  NN_GRID_STRIDE(r, B * L) {
    const index_t b = r / L, i = r % L, n = causal ? nn_min(i + 1, S) : S;
    T* row = probs + r * S;
    const T* bias_row = bias ? bias + ((bias_batch == 1 ? 0 : b) * L + i) * S : nullptr;
    if (bias_row)
      for (index_t j = 0; j < n; ++j) row[j] = row[j] + bias_row[j];
    T m = -nn_inf<T>();
    for (index_t j = 0; j < n; ++j) m = row[j] > m ? row[j] : m;
    if (m == -nn_inf<T>()) {
      for (index_t j = 0; j < S; ++j) row[j] = safe ? T(0) : nn_inf<T>() - nn_inf<T>();
      continue;
    }
    double total = 0;
    for (index_t j = 0; j < n; ++j) {
      row[j] = nn_exp((T)(row[j] - m));
      total += row[j];
    }
    const T inv = (T)(1 / total);
    for (index_t j = 0; j < n; ++j) row[j] = row[j] * inv;
    for (index_t j = n; j < S; ++j) row[j] = T(0);
  }
}

// out[b, i, f] = sum_j probs[b, i, j] v[b / group, j, f]
template <typename T>
__global__ void values_forward(const T* probs, const T* v, T* out, index_t B, index_t L,
                               index_t S, index_t Ev, index_t group) {
  NN_GRID_STRIDE(e, B * L * Ev) {
    const index_t b = e / (L * Ev), i = (e / Ev) % L, f = e % Ev;
    const T* p = probs + (b * L + i) * S;
    const T* vb = v + (b / group) * S * Ev + f;
    double acc = 0;
    for (index_t j = 0; j < S; ++j) acc += (double)p[j] * vb[j * Ev];
    out[e] = (T)acc;
  }
}

// grad_probs[b, i, j] = <grad_out[b, i], v[b / group, j]> + accumulate * grad_probs[b, i, j]
template <typename T>
__global__ void values_backward_probs(const T* v, const T* grad_out, T* grad_probs, index_t B,
                                      index_t L, index_t S, index_t Ev, index_t group,
                                      index_t accumulate) {
  NN_GRID_STRIDE(e, B * L * S) {
    const index_t b = e / (L * S), i = (e / S) % L, j = e % S;
    const T* g = grad_out + (b * L + i) * Ev;
    const T* vr = v + ((b / group) * S + j) * Ev;
    double acc = accumulate ? (double)grad_probs[e] : 0.0;
    for (index_t f = 0; f < Ev; ++f) acc += (double)g[f] * vr[f];
    grad_probs[e] = (T)acc;
  }
}

// grad_v[kb, j, f] = sum over the group's slices b and rows i of probs[b, i, j] grad_out[b, i, f]
template <typename T>
__global__ void values_backward_v(const T* probs, const T* grad_out, T* grad_v, index_t Bk,
                                  index_t L, index_t S, index_t Ev, index_t group) {
  NN_GRID_STRIDE(e, Bk * S * Ev) {
    const index_t kb = e / (S * Ev), j = (e / Ev) % S, f = e % Ev;
    double acc = 0;
    for (index_t b = kb * group; b < (kb + 1) * group; ++b)
      for (index_t i = 0; i < L; ++i)
        acc += (double)probs[(b * L + i) * S + j] * grad_out[(b * L + i) * Ev + f];
    grad_v[e] = (T)acc;
  }
}

// rows of d := p * (d - rowsum(d * p)): the softmax Jacobian applied to dP
template <typename T>
__global__ void softmax_backward_rows(const T* probs, T* d, index_t rows, index_t S) {
  NN_GRID_STRIDE(r, rows) {
    const T* p = probs + r * S;
    T* dr = d + r * S;
    double acc = 0;
    for (index_t j = 0; j < S; ++j) acc += (double)dr[j] * p[j];
    for (index_t j = 0; j < S; ++j) dr[j] = (T)(p[j] * (dr[j] - acc));
  }
}

// grad_q[b, i, c] = scale * sum_j dS[b, i, j] k[b / group, j, c]
template <typename T>
__global__ void attention_backward_q(const T* grad_scores, const T* k, T* grad_q, index_t B,
                                     index_t L, index_t S, index_t E, index_t group,
                                     double scale) {
  NN_GRID_STRIDE(e, B * L * E) {
    const index_t b = e / (L * E), i = (e / E) % L, c = e % E;
    const T* ds = grad_scores + (b * L + i) * S;
    const T* kb = k + (b / group) * S * E + c;
    double acc = 0;
    for (index_t j = 0; j < S; ++j) acc += (double)ds[j] * kb[j * E];
    grad_q[e] = (T)(scale * acc);
  }
}

// grad_k[kb, j, c] = scale * sum over the group's slices b and rows i of dS[b, i, j] q[b, i, c]
template <typename T>
__global__ void attention_backward_k(const T* grad_scores, const T* q, T* grad_k, index_t Bk,
                                     index_t L, index_t S, index_t E, index_t group,
                                     double scale) {
  NN_GRID_STRIDE(e, Bk * S * E) {
    const index_t kb = e / (S * E), j = (e / E) % S, c = e % E;
    double acc = 0;
    for (index_t b = kb * group; b < (kb + 1) * group; ++b)
      for (index_t i = 0; i < L; ++i)
        acc += (double)grad_scores[(b * L + i) * S + j] * q[(b * L + i) * E + c];
    grad_k[e] = (T)(scale * acc);
  }
}
