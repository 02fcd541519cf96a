// Recurrent cells: the gate pre-activations gx = x W_ih^T + b_ih and gh = h W_hh^T + b_hh come
// from linear.cu's gemm (bias epilogue); these fused kernels do everything elementwise in one
// pass per time step. Gate order is PyTorch's: LSTM (i, f, g, o), GRU (r, z, n).
// Mirrors nncheck/_kernels/rnn.pyx.
#include "_common.cu"

// ------------------------------------------------------------------ RNN (tanh / relu)
template <typename T>
__global__ void rnn_cell_forward(const T* gx, const T* gh, T* h, index_t n, index_t relu) {
  NN_GRID_STRIDE(i, n) {
    const T v = gx[i] + gh[i];
    h[i] = relu ? nn_max(v, T(0)) : nn_tanh(v);
  }
}

// dpre = dh * act'(pre), from the saved output h.
template <typename T>
__global__ void rnn_cell_backward(const T* dh, const T* h, T* dpre, index_t n, index_t relu) {
  NN_GRID_STRIDE(i, n) dpre[i] = relu ? (h[i] > T(0) ? dh[i] : T(0)) : dh[i] * (T(1) - h[i] * h[i]);
}

// ------------------------------------------------------------------ LSTM
// gx, gh (B, 4H); c_prev, h_out, c_out (B, H); gates (B, 4H) saves the activated i, f, g, o.
template <typename T>
__global__ void lstm_cell_forward(const T* gx, const T* gh, const T* c_prev, T* h_out, T* c_out,
                                  T* gates, index_t B, index_t H) {
  NN_GRID_STRIDE(k, B * H) {
    const index_t b = k / H, j = k % H, row = b * 4 * H;
    const T i = nn_sigmoid(gx[row + j] + gh[row + j]);
    const T f = nn_sigmoid(gx[row + H + j] + gh[row + H + j]);
    const T g = nn_tanh(gx[row + 2 * H + j] + gh[row + 2 * H + j]);
    const T o = nn_sigmoid(gx[row + 3 * H + j] + gh[row + 3 * H + j]);
    const T c = f * c_prev[k] + i * g;
    c_out[k] = c;
    h_out[k] = o * nn_tanh(c);
    gates[row + j] = i;
    gates[row + H + j] = f;
    gates[row + 2 * H + j] = g;
    gates[row + 3 * H + j] = o;
  }
}

// From dh (B, H) and dc (B, H; the gradient flowing from step t+1, null for none): the
// pre-activation gate gradients dgates (B, 4H) -- the gradient of both gx and gh -- and
// dc_prev (B, H). dh_prev = dgates @ W_hh is a gemm.
template <typename T>
__global__ void lstm_cell_backward(const T* dh, const T* dc, const T* c_prev, const T* c_out,
                                   const T* gates, T* dgates, T* dc_prev, index_t B, index_t H) {
  NN_GRID_STRIDE(k, B * H) {
    const index_t b = k / H, j = k % H, row = b * 4 * H;
    const T i = gates[row + j], f = gates[row + H + j], g = gates[row + 2 * H + j],
            o = gates[row + 3 * H + j];
    const T tc = nn_tanh(c_out[k]);
    const T dct = (dc ? dc[k] : T(0)) + dh[k] * o * (T(1) - tc * tc);
    dgates[row + j] = dct * g * i * (T(1) - i);
    dgates[row + H + j] = dct * c_prev[k] * f * (T(1) - f);
    dgates[row + 2 * H + j] = dct * i * (T(1) - g * g);
    dgates[row + 3 * H + j] = dh[k] * tc * o * (T(1) - o);
    dc_prev[k] = dct * f;
  }
}

// ------------------------------------------------------------------ GRU
// r = s(gx_r + gh_r), z = s(gx_z + gh_z), n = tanh(gx_n + r * gh_n), h' = (1 - z) n + z h.
// saved (B, 4H) keeps r, z, n and gh_n for the backward.
template <typename T>
__global__ void gru_cell_forward(const T* gx, const T* gh, const T* h_prev, T* h_out, T* saved,
                                 index_t B, index_t H) {
  NN_GRID_STRIDE(k, B * H) {
    const index_t b = k / H, j = k % H, row3 = b * 3 * H, row4 = b * 4 * H;
    const T r = nn_sigmoid(gx[row3 + j] + gh[row3 + j]);
    const T z = nn_sigmoid(gx[row3 + H + j] + gh[row3 + H + j]);
    const T ghn = gh[row3 + 2 * H + j];
    const T n = nn_tanh(gx[row3 + 2 * H + j] + r * ghn);
    h_out[k] = (T(1) - z) * n + z * h_prev[k];
    saved[row4 + j] = r;
    saved[row4 + H + j] = z;
    saved[row4 + 2 * H + j] = n;
    saved[row4 + 3 * H + j] = ghn;
  }
}

// dgx, dgh (B, 3H) are the gradients of the two pre-activation GEMM outputs; dh_prev gets
// the direct term dh * z (the caller adds dgh @ W_hh).
template <typename T>
__global__ void gru_cell_backward(const T* dh, const T* h_prev, const T* saved, T* dgx, T* dgh,
                                  T* dh_prev, index_t B, index_t H) {
  NN_GRID_STRIDE(k, B * H) {
    const index_t b = k / H, j = k % H, row3 = b * 3 * H, row4 = b * 4 * H;
    const T r = saved[row4 + j], z = saved[row4 + H + j], n = saved[row4 + 2 * H + j],
            ghn = saved[row4 + 3 * H + j];
    const T dn = dh[k] * (T(1) - z) * (T(1) - n * n);
    const T dz = dh[k] * (h_prev[k] - n) * z * (T(1) - z);
    const T dr = dn * ghn * r * (T(1) - r);
    dgx[row3 + j] = dr;
    dgx[row3 + H + j] = dz;
    dgx[row3 + 2 * H + j] = dn;
    dgh[row3 + j] = dr;
    dgh[row3 + H + j] = dz;
    dgh[row3 + 2 * H + j] = dn * r;
    dh_prev[k] = dh[k] * z;
  }
}

// ------------------------------------------------------------------ nncheck._kernels.rnn's steps
// What the layers run: rnn_forward / rnn_backward of rnn.pyx as per-step launches (the GEMMs
// are linear.cu's), each row function below one thread per (batch row, hidden unit) of a
// step of bs rows.  Pointers arrive at the step's first row; ldo is out's row length.

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
