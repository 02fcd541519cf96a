// Recurrent cells: the row functions of nncheck/_kernels/rnn.pyx.  rnn_forward / rnn_backward
// run as per-step launches (the GEMMs are linear.cu's); each kernel below is one thread per
// (batch row, hidden unit) of a step of bs rows.  Pointers arrive at the step's first row;
// ldo is out's row length.
#include "_common.cu"

template <typename T> __device__ __forceinline__ T rnn_sigmoid(T x) { return T(1) / (T(1) + nn_exp(-x)); }

// gates[r, :] = bias[:] (the GEMM x @ W_ih^T then adds into it)
template <typename T>
__global__ void bias_rows(T* gates, const T* bias, index_t N, index_t G) {
  NN_GRID_STRIDE(e, N * G) gates[e] = bias[e % G];
}

// dst[r, j] (+)= src[r, j] for rows x cols of two row-major blocks with leading dims
template <typename T>
__global__ void rows_copy(const T* src, index_t lds, T* dst, index_t ldd, index_t rows,
                          index_t cols, index_t accumulate) {
  NN_GRID_STRIDE(e, rows * cols) {
    const index_t r = e / cols, j = e % cols;
    dst[r * ldd + j] = accumulate ? dst[r * ldd + j] + src[r * lds + j] : src[r * lds + j];
  }
}

// out = a * mask (dropout between layers, mask 0 or 1/(1-p)), and its backward
template <typename T>
__global__ void scale_rows(const T* a, const T* mask, T* out, index_t n) {
  NN_GRID_STRIDE(e, n) out[e] = a[e] * mask[e];
}

// h = act(gx + gh); the gate buffer keeps h
template <typename T>
__global__ void rnn_row(T* g, const T* gh, T* hout, index_t ldo, T* hstate, index_t bs,
                        index_t H, index_t relu) {
  NN_GRID_STRIDE(e, bs * H) {
    const index_t r = e / H, j = e % H;
    const T v = g[e] + gh[e];
    const T h = relu ? (v > T(0) ? v : T(0)) : nn_tanh(v);
    g[e] = h;
    hout[r * ldo + j] = h;
    hstate[e] = h;
  }
}

// gates i, f, g, o (torch's order); keeps the activations, tanh(c) and c_prev; hstate null
// with proj_size (the projection GEMM sets the state)
template <typename T>
__global__ void lstm_row(T* g, const T* gh, T* cstate, T* tc, T* cprev, T* hout, index_t ldo,
                         T* hstate, index_t bs, index_t H) {
  NN_GRID_STRIDE(e, bs * H) {
    const index_t r = e / H, j = e % H;
    T* gr = g + r * 4 * H;
    const T* hr = gh + r * 4 * H;
    const T gi = rnn_sigmoid(gr[j] + hr[j]), gf = rnn_sigmoid(gr[H + j] + hr[H + j]);
    const T gg = nn_tanh(gr[2 * H + j] + hr[2 * H + j]);
    const T go = rnn_sigmoid(gr[3 * H + j] + hr[3 * H + j]);
    gr[j] = gi;
    gr[H + j] = gf;
    gr[2 * H + j] = gg;
    gr[3 * H + j] = go;
    cprev[e] = cstate[e];
    cstate[e] = gf * cstate[e] + gi * gg;
    tc[e] = nn_tanh(cstate[e]);
    const T h = go * tc[e];
    hout[r * ldo + j] = h;
    if (hstate) hstate[e] = h;
  }
}

// gates r, z, n with n = tanh(gx_n + r * (W_hn h + b_hn)); keeps W_hn h + b_hn in hn
template <typename T>
__global__ void gru_row(T* g, const T* gh, const T* b_hn, T* hn, const T* hprev, T* hout,
                        index_t ldo, T* hstate, index_t bs, index_t H) {
  NN_GRID_STRIDE(e, bs * H) {
    const index_t r = e / H, j = e % H;
    T* gr = g + r * 3 * H;
    const T* hr = gh + r * 3 * H;
    const T rg = rnn_sigmoid(gr[j] + hr[j]), z = rnn_sigmoid(gr[H + j] + hr[H + j]);
    hn[e] = hr[2 * H + j] + b_hn[j];
    const T n = nn_tanh(gr[2 * H + j] + rg * hn[e]);
    gr[j] = rg;
    gr[H + j] = z;
    gr[2 * H + j] = n;
    const T h = (T(1) - z) * n + z * hprev[e];
    hout[r * ldo + j] = h;
    hstate[e] = h;
  }
}

template <typename T>
__global__ void rnn_row_back(const T* g, const T* dh, T* dg, index_t bs, index_t H,
                             index_t relu) {
  NN_GRID_STRIDE(e, bs * H) dg[e] = relu ? (g[e] > T(0) ? dh[e] : T(0)) : dh[e] * (T(1) - g[e] * g[e]);
}

// dc (in: from step t+1 or dc_n; out: to step t-1 or dc0) and the gate pre-activations
template <typename T>
__global__ void lstm_row_back(const T* g, const T* tc, const T* cprev, const T* dh, T* dc,
                              T* dg, index_t bs, index_t H) {
  NN_GRID_STRIDE(e, bs * H) {
    const index_t r = e / H, j = e % H;
    const T* gr = g + r * 4 * H;
    T* dgr = dg + r * 4 * H;
    const T gi = gr[j], gf = gr[H + j], gg = gr[2 * H + j], go = gr[3 * H + j];
    const T dcv = dc[e] + dh[e] * go * (T(1) - tc[e] * tc[e]);
    dgr[3 * H + j] = dh[e] * tc[e] * go * (T(1) - go);
    dgr[j] = dcv * gg * gi * (T(1) - gi);
    dgr[H + j] = dcv * cprev[e] * gf * (T(1) - gf);
    dgr[2 * H + j] = dcv * gi * (T(1) - gg * gg);
    dc[e] = dcv * gf;
  }
}

// input-side and hidden-side pre-activation gradients (they differ in the n gate); dh
// becomes the direct part z * dh of dh_prev (the GEMM adds dgh @ W_hh)
template <typename T>
__global__ void gru_row_back(const T* g, const T* hn, const T* hprev, T* dh, T* dgx, T* dgh,
                             index_t bs, index_t H) {
  NN_GRID_STRIDE(e, bs * H) {
    const index_t r = e / H, j = e % H;
    const T* gr = g + r * 3 * H;
    T* dx = dgx + r * 3 * H;
    T* dhh = dgh + r * 3 * H;
    const T rg = gr[j], z = gr[H + j], n = gr[2 * H + j];
    const T dn = dh[e] * (T(1) - z) * (T(1) - n * n);
    dx[2 * H + j] = dn;
    dx[j] = dn * hn[e] * rg * (T(1) - rg);
    dx[H + j] = dh[e] * (hprev[e] - n) * z * (T(1) - z);
    dhh[j] = dx[j];
    dhh[H + j] = dx[H + j];
    dhh[2 * H + j] = dn * rg;
    dh[e] = dh[e] * z;
  }
}
