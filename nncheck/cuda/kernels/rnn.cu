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
