// Embedding and EmbeddingBag. Gradients scatter into the (zeroed) weight gradient with
// atomicAdd: several lookups may hit the same row (double atomicAdd needs sm_60+).
// Indices are validated (in range) in Python. Mirrors nncheck/_kernels/sparse.pyx.
#include "_common.cu"

// out[i, j] = weight[idx[i], j].
template <typename T>
__global__ void embedding_forward(const T* weight, const index_t* idx, T* out, index_t n_idx,
                                  index_t dim) {
  NN_GRID_STRIDE(i, n_idx * dim) out[i] = weight[idx[i / dim] * dim + i % dim];
}

// counts[row] = how often row occurs in idx (for scale_grad_by_freq); counts zeroed.
extern "C" __global__ void embedding_count(const index_t* idx, unsigned long long* counts,
                                           index_t n_idx) {
  NN_GRID_STRIDE(i, n_idx) atomicAdd(counts + idx[i], 1ull);
}

// dw[idx[i], j] += g[i, j] (/ counts[idx[i]] when counts is given); rows equal to
// padding_idx (pass -1 for none) get no gradient.
template <typename T>
__global__ void embedding_backward(const T* g, const index_t* idx,
                                   const unsigned long long* counts, T* dw, index_t n_idx,
                                   index_t dim, index_t padding_idx) {
  NN_GRID_STRIDE(i, n_idx * dim) {
    const index_t row = idx[i / dim];
    if (row == padding_idx) continue;
    const T v = counts ? g[i] / (T)counts[row] : g[i];
    atomicAdd(dw + row * dim + i % dim, v);
  }
}

// ------------------------------------------------------------------ EmbeddingBag
// Bags are idx[offsets[b] : offsets[b + 1]] (offsets has n_bags + 1 entries).
// mode: 0 sum, 1 mean, 2 max; psw: per_sample_weights (sum mode only) or null. Entries equal
// to padding_idx are skipped and do not count towards the mean. argmax (max mode) receives
// the chosen weight row, -1 for an empty bag (whose output is 0).
template <typename T>
__global__ void embedding_bag_forward(const T* weight, const index_t* idx, const index_t* offsets,
                                      const T* psw, T* out, index_t* argmax, index_t n_bags,
                                      index_t dim, index_t mode, index_t padding_idx) {
  NN_GRID_STRIDE(i, n_bags * dim) {
    const index_t bag = i / dim, j = i % dim;
    double acc = 0.0;
    T best = T(0);
    index_t count = 0, arg = -1;
    for (index_t k = offsets[bag]; k < offsets[bag + 1]; ++k) {
      const index_t row = idx[k];
      if (row == padding_idx) continue;
      const T v = weight[row * dim + j];
      if (mode == 2) {
        if (arg < 0 || v > best) {
          best = v;
          arg = row;
        }
      } else {
        acc += (double)v * (psw ? (double)psw[k] : 1.0);
      }
      ++count;
    }
    if (mode == 2) {
      out[i] = best;
      argmax[i] = arg;
    } else {
      out[i] = (T)(mode == 1 && count > 0 ? acc / (double)count : acc);
    }
  }
}

// counts (or null): embedding_count's, for scale_grad_by_freq
template <typename T>
__global__ void embedding_bag_backward(const T* g, const index_t* idx, const index_t* offsets,
                                       const T* psw, const index_t* argmax,
                                       const unsigned long long* counts, T* dw, index_t n_bags,
                                       index_t dim, index_t mode, index_t padding_idx) {
  NN_GRID_STRIDE(i, n_bags * dim) {
    const index_t bag = i / dim, j = i % dim;
    if (mode == 2) {
      if (argmax[i] >= 0) atomicAdd(dw + argmax[i] * dim + j, g[i]);
      continue;
    }
    index_t count = 0;
    if (mode == 1)
      for (index_t k = offsets[bag]; k < offsets[bag + 1]; ++k) count += idx[k] != padding_idx;
    const T scale = mode == 1 && count > 0 ? T(1) / (T)count : T(1);
    for (index_t k = offsets[bag]; k < offsets[bag + 1]; ++k) {
      const index_t row = idx[k];
      if (row == padding_idx) continue;
      const T v = g[i] * scale * (psw ? psw[k] : T(1));
      atomicAdd(dw + row * dim + j, counts ? v / (T)counts[row] : v);
    }
  }
}

// d per_sample_weights[k] = sum_j g[bag(k), j] * weight[idx[k], j]; bag(k) by binary search.
template <typename T>
__global__ void embedding_bag_sample_weights_backward(const T* g, const T* weight, const index_t* idx,
                                                      const index_t* offsets, T* dpsw,
                                                      index_t n_idx, index_t n_bags,
                                                      index_t dim, index_t padding_idx) {
  NN_GRID_STRIDE(k, n_idx) {
    index_t lo = 0, hi = n_bags;  // last bag with offsets[bag] <= k
    while (hi - lo > 1) {
      const index_t mid = (lo + hi) / 2;
      if (offsets[mid] <= k) lo = mid; else hi = mid;
    }
    double acc = 0.0;
    if (idx[k] != padding_idx)
      for (index_t j = 0; j < dim; ++j) acc += (double)g[lo * dim + j] * weight[idx[k] * dim + j];
    dpsw[k] = (T)acc;
  }
}

// Rows (distinct) whose p-norm exceeds max_norm are scaled by max_norm / (norm + 1e-7) in
// place, as torch.embedding_renorm_ does; p = inf is passed as a double infinity.
template <typename T>
__global__ void embedding_renorm(T* weight, const index_t* rows, index_t n_rows, index_t dim,
                                 double max_norm, double p) {
  NN_GRID_STRIDE(r, n_rows) {
    T* w = weight + rows[r] * dim;
    double acc = 0;
    const bool inf = p == nn_inf<double>();
    for (index_t j = 0; j < dim; ++j) {
      const double a = fabs((double)w[j]);
      if (inf) acc = a > acc ? a : acc;
      else if (p == 1) acc += a;
      else if (p == 2) acc += a * a;
      else acc += pow(a, p);
    }
    const double norm = inf || p == 1 ? acc : (p == 2 ? sqrt(acc) : pow(acc, 1.0 / p));
    if (norm > max_norm) {
      const double scale = max_norm / (norm + 1e-7);
      for (index_t j = 0; j < dim; ++j) w[j] = (T)(w[j] * scale);
    }
  }
}

// out[k, idx[k]] = 1 (out zeroed)
extern "C" __global__ void one_hot(const index_t* idx, index_t* out, index_t n_idx,
                                   index_t classes) {
  NN_GRID_STRIDE(k, n_idx) out[k * classes + idx[k]] = 1;
}
