// Convolution by im2col + our GEMM (linear.cu), for 1-D, 2-D and 3-D (leading spatial dims
// of size 1 for 1-D/2-D, see Window3). Per sample and group:
//   forward          out[Cout, L]  = W[Cout, C*kvol] @ col[C*kvol, L]       (gemm_nn)
//   backward input   col_grad      = W^T @ grad_out, then col2im            (gemm_tn)
//   backward weight  grad_W       += grad_out @ col^T                       (gemm_nt)
// Transposed convolution swaps the roles: its forward is col2im(W^T @ x).
// Mirrors nncheck/_kernels/conv.pyx.
#include "_common.cu"

// col[n, (c, kd, kh, kw), (od, oh, ow)] = x[n, c, od*s - p + kd*d, ...] or 0 in the padding.
// total = N * C * kvol * L; one thread per col element (coalesced writes).
template <typename T>
__global__ void im2col(const T* x, T* col, index_t total, index_t C, Window3 w) {
  const index_t L = w.out[0] * w.out[1] * w.out[2];
  const index_t kvol = w.k[0] * w.k[1] * w.k[2];
  const index_t vol = w.in[0] * w.in[1] * w.in[2];
  NN_GRID_STRIDE(i, total) {
    const index_t l = i % L, r = (i / L) % (C * kvol), n = i / (L * C * kvol);
    const index_t c = r / kvol, kk = r % kvol;
    const index_t ko[3] = {kk / (w.k[1] * w.k[2]), (kk / w.k[2]) % w.k[1], kk % w.k[2]};
    const index_t oo[3] = {l / (w.out[1] * w.out[2]), (l / w.out[2]) % w.out[1], l % w.out[2]};
    index_t off = 0;
    bool inside = true;
#pragma unroll
    for (int d = 0; d < 3; ++d) {
      const index_t p = oo[d] * w.stride[d] - w.pad[d] + ko[d] * w.dil[d];
      inside = inside && p >= 0 && p < w.in[d];
      off = off * w.in[d] + p;
    }
    col[i] = inside ? x[(n * C + c) * vol + off] : T(0);
  }
}

// x[n, c, p] = sum of every col entry im2col would have read from p (a gather, so the
// result is deterministic). One thread per element of x; overwrites x.
template <typename T>
__global__ void col2im(const T* col, T* x, index_t total, index_t C, Window3 w) {
  const index_t L = w.out[0] * w.out[1] * w.out[2];
  const index_t kvol = w.k[0] * w.k[1] * w.k[2];
  const index_t vol = w.in[0] * w.in[1] * w.in[2];
  NN_GRID_STRIDE(i, total) {
    const index_t q = i % vol, nc = i / vol, c = nc % C, n = nc / C;
    const index_t p[3] = {q / (w.in[1] * w.in[2]), (q / w.in[2]) % w.in[1], q % w.in[2]};
    const T* base = col + (n * C + c) * kvol * L;
    double acc = 0.0;
    for (index_t k0 = 0; k0 < w.k[0]; ++k0) {
      const index_t t0 = p[0] + w.pad[0] - k0 * w.dil[0];
      if (t0 < 0 || t0 % w.stride[0] || t0 / w.stride[0] >= w.out[0]) continue;
      for (index_t k1 = 0; k1 < w.k[1]; ++k1) {
        const index_t t1 = p[1] + w.pad[1] - k1 * w.dil[1];
        if (t1 < 0 || t1 % w.stride[1] || t1 / w.stride[1] >= w.out[1]) continue;
        for (index_t k2 = 0; k2 < w.k[2]; ++k2) {
          const index_t t2 = p[2] + w.pad[2] - k2 * w.dil[2];
          if (t2 < 0 || t2 % w.stride[2] || t2 / w.stride[2] >= w.out[2]) continue;
          const index_t l = ((t0 / w.stride[0]) * w.out[1] + t1 / w.stride[1]) * w.out[2] +
                            t2 / w.stride[2];
          const index_t kk = (k0 * w.k[1] + k1) * w.k[2] + k2;
          acc += (double)base[kk * L + l];
        }
      }
    }
    x[i] = (T)acc;
  }
}

// y[n, c, j] += bias[c] (transposed convolution, whose output comes from col2im).
template <typename T>
__global__ void add_channel_bias(T* y, const T* bias, index_t total, index_t C, index_t inner) {
  NN_GRID_STRIDE(i, total) y[i] += bias[(i / inner) % C];
}

// Summing per-sample weight gradients ws[N, P] into grad_w[P] is linear.cu's sum_rows; the
// bias gradient is linear.cu's sum_channels; the forward bias of a convolution is gemm's
// bias_mode 2.
