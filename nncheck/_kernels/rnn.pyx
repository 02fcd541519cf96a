# cython: language_level=3
"""Recurrent kernels: one call runs one layer and direction over a whole sequence.

Sequences are in packed row layout: the rows of time step t are
``offsets[t] : offsets[t] + batch_sizes[t]`` (batch_sizes non-increasing, so the
first rows are the longest sequences), which covers padded input as the special
case where every batch size is B.  Per direction:

forward   gates = x @ W_ih^T + bias (one GEMM for all steps); then per step one
          product h_prev @ W_hh^T and a fused row kernel for the gates and states
          (and, for LSTM with proj_size, one GEMM h = hraw @ W_hr^T).
backward  the mirror image, newest step first: a fused row kernel for the gate
          derivatives and one product dh_prev = dgates @ W_hh per step, then every
          weight gradient and dx as single GEMMs over all rows (rnn_weight_grads).
The per-step products run rnn_step.h's kernel on W_hh packed once per call, not BLAS
(which would repack W_hh every step).

The running states ``h`` (B, Hout) and ``c`` (B, H) start as h0/c0 and end as
h_n/c_n: a step only touches its first batch_sizes[t] rows, so a sequence that
ends (forward) or has not started yet (reverse) keeps its state.  Backward runs
the same bookkeeping on ``dh``/``dc``, which start as dh_n/dc_n and end as
dh0/dc0.  Shapes are validated in nncheck.nn.modules.rnn before any call here.

Threads: the whole-sequence GEMMs are shared by the OpenMP team (blas.pyx); the time
steps are split by sequence (batch_parts), each thread running every step for its own
block of batch rows, per-step GEMMs and gate loops included, with no barrier per step.
"""

from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_RawFree, PyMem_RawMalloc
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport exp, tanh
from libc.stdint cimport int64_t

from nncheck._kernels.blas cimport gemm

# cell kinds; the Python side looks them up by torch's mode names
MODES = {"RNN_TANH": 0, "RNN_RELU": 1, "LSTM": 2, "GRU": 3}
cdef enum:
    RNN_TANH = 0
    RNN_RELU = 1
    LSTM = 2
    GRU = 3


cdef inline int gate_count(int mode) noexcept nogil:
    return 4 if mode == LSTM else (3 if mode == GRU else 1)


# The LSTM gate rows are C (rnn_gates.h, compiled for AVX2 too); the other cells' rows
# below share its float32 activations: Eigen's rational tanh, which vectorizes where
# libm's tanhf/expf calls would not.  float64 keeps libm for full precision.
cdef extern from *:
    """
    #define NNC_T float
    #define NNC_F(name) name##_f32
    #define NNC_TANH nnc_tanh_f32
    #define NNC_SIGMOID nnc_sigmoid_f32
    #include "rnn_gates.h"
    #undef NNC_T
    #undef NNC_F
    #undef NNC_TANH
    #undef NNC_SIGMOID
    #define NNC_T double
    #define NNC_F(name) name##_f64
    #define NNC_TANH tanh
    #define NNC_SIGMOID nnc_sigmoid_f64
    #include "rnn_gates.h"
    #undef NNC_T
    #undef NNC_F
    #undef NNC_TANH
    #undef NNC_SIGMOID
    #define NNC_T float
    #define NNC_F(name) name##_f32
    #define NNC_LANES 8
    #include "rnn_step.h"
    #undef NNC_T
    #undef NNC_F
    #undef NNC_LANES
    #define NNC_T double
    #define NNC_F(name) name##_f64
    #define NNC_LANES 4
    #include "rnn_step.h"
    #undef NNC_T
    #undef NNC_F
    #undef NNC_LANES
    """
    float nnc_tanh_f32(float x) noexcept nogil
    float nnc_sigmoid_f32(float x) noexcept nogil
    double nnc_sigmoid_f64(double x) noexcept nogil
    void lstm_rows_f32(Py_ssize_t bs, Py_ssize_t H, float* g, const float* gh, float* c,
                       float* tc, float* cprev, float* hout, Py_ssize_t ld_hout, float* hstate,
                       Py_ssize_t ld_hstate) noexcept nogil
    void lstm_rows_f64(Py_ssize_t bs, Py_ssize_t H, double* g, const double* gh, double* c,
                       double* tc, double* cprev, double* hout, Py_ssize_t ld_hout,
                       double* hstate, Py_ssize_t ld_hstate) noexcept nogil
    void lstm_rows_back_f32(Py_ssize_t bs, Py_ssize_t H, const float* g, const float* tc,
                            const float* cprev, const float* dh, Py_ssize_t ld_dh, float* dc,
                            float* dg) noexcept nogil
    Py_ssize_t packed_rows_f32(Py_ssize_t rows) noexcept nogil
    Py_ssize_t packed_rows_f64(Py_ssize_t rows) noexcept nogil
    void pack_panels_f32(const float* w, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t s_row,
                         Py_ssize_t s_col, float* packed) noexcept nogil
    void pack_panels_f64(const double* w, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t s_row,
                         Py_ssize_t s_col, double* packed) noexcept nogil
    void step_product_f32(const float* packed, Py_ssize_t rows, Py_ssize_t cols,
                          const float* h, Py_ssize_t bs, float* out, Py_ssize_t ld_out,
                          int accumulate) noexcept nogil
    void step_product_f64(const double* packed, Py_ssize_t rows, Py_ssize_t cols,
                          const double* h, Py_ssize_t bs, double* out, Py_ssize_t ld_out,
                          int accumulate) noexcept nogil
    void lstm_rows_back_f64(Py_ssize_t bs, Py_ssize_t H, const double* g, const double* tc,
                            const double* cprev, const double* dh, Py_ssize_t ld_dh,
                            double* dc, double* dg) noexcept nogil


cdef inline floating th(floating x) noexcept nogil:
    if floating is float:
        return nnc_tanh_f32(x)
    else:
        return tanh(x)


cdef inline floating sigm(floating x) noexcept nogil:
    if floating is float:
        return nnc_sigmoid_f32(x)
    else:
        return nnc_sigmoid_f64(x)


cdef inline void lstm_rows(Py_ssize_t bs, Py_ssize_t H, floating* g, const floating* gh,
                           floating* c, floating* tc, floating* cprev, floating* hout,
                           Py_ssize_t ld_hout, floating* hstate,
                           Py_ssize_t ld_hstate) noexcept nogil:
    if floating is float:
        lstm_rows_f32(bs, H, g, gh, c, tc, cprev, hout, ld_hout, hstate, ld_hstate)
    else:
        lstm_rows_f64(bs, H, g, gh, c, tc, cprev, hout, ld_hout, hstate, ld_hstate)


cdef inline void lstm_rows_back(Py_ssize_t bs, Py_ssize_t H, const floating* g,
                                const floating* tc, const floating* cprev, const floating* dh,
                                Py_ssize_t ld_dh, floating* dc, floating* dg) noexcept nogil:
    if floating is float:
        lstm_rows_back_f32(bs, H, g, tc, cprev, dh, ld_dh, dc, dg)
    else:
        lstm_rows_back_f64(bs, H, g, tc, cprev, dh, ld_dh, dc, dg)


# --------------------------------------------------------------------------- forward rows
# Each row function handles one batch row of one step, in short loops over few
# pointers so that each loop vectorizes.

cdef inline void sigmoid_add(floating* g, const floating* gh, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(n):
        g[j] = sigm(g[j] + gh[j])


cdef inline void tanh_add(floating* g, const floating* gh, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(n):
        g[j] = th(g[j] + gh[j])


cdef inline void rnn_row(bint relu, floating* g, const floating* gh, floating* hout,
                         floating* hstate, Py_ssize_t H) noexcept nogil:
    """h = act(gx + gh); the gate buffer keeps h (its own derivative needs only h)."""
    cdef Py_ssize_t j
    cdef floating v
    if relu:
        for j in range(H):
            v = g[j] + gh[j]
            g[j] = v if v > 0 else 0
    else:
        tanh_add(g, gh, H)
    for j in range(H):
        hout[j] = g[j]
        hstate[j] = g[j]


cdef inline void gru_row(floating* g, const floating* gh, const floating* b_hn, floating* hn,
                         const floating* hprev, floating* hout, floating* hstate,
                         Py_ssize_t H) noexcept nogil:
    """Gates r, z, n with n = tanh(gx_n + r * (W_hn h + b_hn)); keeps W_hn h + b_hn."""
    cdef Py_ssize_t j
    sigmoid_add(g, gh, 2 * H)
    for j in range(H):
        hn[j] = gh[2 * H + j] + b_hn[j]
    for j in range(H):
        g[2 * H + j] = th(g[2 * H + j] + g[j] * hn[j])
    for j in range(H):
        hout[j] = (1 - g[H + j]) * g[2 * H + j] + g[H + j] * hprev[j]
    for j in range(H):
        hstate[j] = hout[j]


cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    static int nnc_rnn_threads(void) { return omp_get_level() ? 1 : omp_get_max_threads(); }
    #else
    static int nnc_rnn_threads(void) { return 1; }
    #endif
    """
    int nnc_rnn_threads() noexcept nogil

# fewest sequences a thread takes: below, a step's GEMM has too few rows to run at speed
cdef enum:
    MIN_ROWS_PER_THREAD = 8


cdef inline int batch_parts(int batch) noexcept nogil:
    """Threads to share a recurrence.  A sequence's steps depend only on its own earlier
    steps, so each thread runs every time step for its own block of batch rows: no
    synchronisation per step, and the gate loops run in parallel too.  With too few
    rows the per-step GEMMs stay whole, shared by the team (blas.pyx) instead."""
    return max(1, min(nnc_rnn_threads(), batch // MIN_ROWS_PER_THREAD))


cdef floating* packed_weight(const floating* w, Py_ssize_t rows, Py_ssize_t cols,
                             Py_ssize_t s_row, Py_ssize_t s_col) except NULL nogil:
    """A new buffer with w (rows, cols; element strides s_row, s_col) packed for
    recurrent_product (rnn_step.h); the caller frees it."""
    cdef Py_ssize_t size = (packed_rows_f32(rows) if floating is float
                            else packed_rows_f64(rows)) * cols
    cdef floating* packed = <floating*> PyMem_RawMalloc(max(size, 1) * sizeof(floating))
    if packed == NULL:
        with gil:
            raise MemoryError()
    if floating is float:
        pack_panels_f32(w, rows, cols, s_row, s_col, packed)
    else:
        pack_panels_f64(w, rows, cols, s_row, s_col, packed)
    return packed


cdef inline void recurrent_product(const floating* packed, int rows, int cols,
                                   const floating* h, int bs, floating* out, Py_ssize_t ld_out,
                                   bint accumulate) noexcept nogil:
    """out (bs, rows) (+)= h (bs, cols) @ w (rows, cols)^T, one time step's product, with w
    packed once per sequence by packed_weight (rnn_step.h says why not a BLAS GEMM)."""
    if floating is float:
        step_product_f32(packed, rows, cols, h, bs, out, ld_out, accumulate)
    else:
        step_product_f64(packed, rows, cols, h, bs, out, ld_out, accumulate)


def rnn_forward(int mode, const floating[:, ::1] x, const floating[:, ::1] w_ih,
                const floating[:, ::1] w_hh, const floating[::1] bias_x,
                const floating[::1] b_hn, const floating[:, ::1] w_hr,
                const int64_t[::1] batch_sizes, const int64_t[::1] offsets, bint reverse,
                floating[:, ::1] h, floating[:, ::1] c, floating[:, ::1] out, int col,
                floating[:, ::1] gates, floating[:, ::1] cell, floating[:, ::1] prev,
                floating[:, ::1] cprev, floating[:, ::1] hraw, floating[:, ::1] work):
    """One layer and direction over the whole sequence.

    x (N, I) rows in packed layout; w_ih (G, I), w_hh (G, Hout), w_hr (P, H) or
    (0, 0); bias_x (G) = b_ih plus the parts of b_hh that add to the same gate
    pre-activation (all of it but GRU's b_hn, given apart as (H) or zeros).
    h (B, Hout) / c (B, H): h0/c0 in, h_n/c_n out.  out (N, >= col + Hout): the
    outputs go to columns col:col + Hout.  Saved for backward, one row per input
    row: gates (N, G) activations, cell (N, H) tanh(c) (LSTM) or W_hn h + b_hn
    (GRU), prev (N, Hout) h_prev, cprev (N, H) c_prev, hraw (N, H) the
    projection's input (LSTM with proj_size).  work (B, G) holds h_prev @ W_hh^T.
    """
    cdef int N = x.shape[0], I = x.shape[1], G = gates.shape[1], B = h.shape[0]
    cdef int parts = batch_parts(B), p
    cdef Py_ssize_t r, j
    cdef floating* w_hh_packed = packed_weight(&w_hh[0, 0], G, w_hh.shape[1], w_hh.shape[1], 1)
    with nogil:
        for r in range(N):
            for j in range(G):
                gates[r, j] = bias_x[j]
        gemm(False, True, N, G, I, <floating> 1, &x[0, 0], I, &w_ih[0, 0], I,
             <floating> 1, &gates[0, 0], G)
        if parts > 1:
            for p in prange(parts, num_threads=parts, schedule="static"):
                forward_steps(mode, w_hh_packed, b_hn, w_hr, batch_sizes, offsets, reverse, h,
                              c, out, col, gates, cell, prev, cprev, hraw, work,
                              B * p // parts, B * (p + 1) // parts)
        else:
            forward_steps(mode, w_hh_packed, b_hn, w_hr, batch_sizes, offsets, reverse, h, c,
                          out, col, gates, cell, prev, cprev, hraw, work, 0, B)
    PyMem_RawFree(w_hh_packed)


cdef void forward_steps(int mode, const floating* w_hh_packed, const floating[::1] b_hn,
                        const floating[:, ::1] w_hr, const int64_t[::1] batch_sizes,
                        const int64_t[::1] offsets, bint reverse, floating[:, ::1] h,
                        floating[:, ::1] c, floating[:, ::1] out, int col,
                        floating[:, ::1] gates, floating[:, ::1] cell, floating[:, ::1] prev,
                        floating[:, ::1] cprev, floating[:, ::1] hraw, floating[:, ::1] work,
                        Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """rnn_forward's time steps for the sequences (batch rows) lo:hi."""
    cdef int G = gates.shape[1], Hout = h.shape[1], H = G // gate_count(mode)
    cdef int ldo = out.shape[1], bs
    cdef Py_ssize_t T = batch_sizes.shape[0], s, t, r, j, o
    cdef bint proj = w_hr.shape[0] > 0
    for s in range(T):
        t = T - 1 - s if reverse else s
        bs = <int> (min(batch_sizes[t], hi) - lo)
        if bs <= 0:
            continue
        o = offsets[t] + lo
        for r in range(bs):
            for j in range(Hout):
                prev[o + r, j] = h[lo + r, j]
        recurrent_product(w_hh_packed, G, Hout, &prev[o, 0], bs, &work[lo, 0], G, False)
        if mode == LSTM:
            if proj:
                lstm_rows(bs, H, &gates[o, 0], &work[lo, 0], &c[lo, 0], &cell[o, 0],
                          &cprev[o, 0], &hraw[o, 0], H, <floating*> NULL, 0)
                gemm(False, True, bs, Hout, H, <floating> 1, &hraw[o, 0], H, &w_hr[0, 0], H,
                     <floating> 0, &out[o, col], ldo)
                for r in range(bs):
                    for j in range(Hout):
                        h[lo + r, j] = out[o + r, col + j]
            else:
                lstm_rows(bs, H, &gates[o, 0], &work[lo, 0], &c[lo, 0], &cell[o, 0],
                          &cprev[o, 0], &out[o, col], ldo, &h[lo, 0], Hout)
        elif mode == GRU:
            for r in range(bs):
                gru_row(&gates[o + r, 0], &work[lo + r, 0], &b_hn[0], &cell[o + r, 0],
                        &prev[o + r, 0], &out[o + r, col], &h[lo + r, 0], H)
        else:
            for r in range(bs):
                rnn_row(mode == RNN_RELU, &gates[o + r, 0], &work[lo + r, 0], &out[o + r, col],
                        &h[lo + r, 0], H)


# --------------------------------------------------------------------------- backward rows
cdef inline void rnn_row_back(bint relu, const floating* g, const floating* dh, floating* dg,
                              Py_ssize_t H) noexcept nogil:
    cdef Py_ssize_t j
    if relu:
        for j in range(H):
            dg[j] = dh[j] if g[j] > 0 else 0
    else:
        for j in range(H):
            dg[j] = dh[j] * (1 - g[j] * g[j])


cdef inline void gru_row_back(const floating* g, const floating* hn, const floating* hprev,
                              floating* dh, floating* dgx, floating* dgh,
                              Py_ssize_t H) noexcept nogil:
    """Input-side and hidden-side pre-activation gradients (they differ in the n gate);
    dh becomes the direct part z * dh of dh_prev (the GEMM adds dgh @ W_hh)."""
    cdef Py_ssize_t j
    cdef const floating* r = g
    cdef const floating* z = g + H
    cdef const floating* n = g + 2 * H
    for j in range(H):
        dgx[2 * H + j] = dh[j] * (1 - z[j]) * (1 - n[j] * n[j])
    for j in range(H):
        dgx[j] = dgx[2 * H + j] * hn[j] * r[j] * (1 - r[j])
    for j in range(H):
        dgx[H + j] = dh[j] * (hprev[j] - n[j]) * z[j] * (1 - z[j])
    for j in range(2 * H):
        dgh[j] = dgx[j]
    for j in range(H):
        dgh[2 * H + j] = dgx[2 * H + j] * r[j]
    for j in range(H):
        dh[j] = dh[j] * z[j]


def rnn_backward(int mode, const floating[:, ::1] w_hh, const floating[:, ::1] w_hr,
                 const int64_t[::1] batch_sizes, const int64_t[::1] offsets, bint reverse,
                 const floating[:, ::1] gates, const floating[:, ::1] cell,
                 const floating[:, ::1] prev, const floating[:, ::1] cprev,
                 const floating[:, ::1] dout, int col, floating[:, ::1] dh, floating[:, ::1] dc,
                 floating[:, ::1] dgx, floating[:, ::1] dgh, floating[:, ::1] dhout,
                 floating[:, ::1] work):
    """Backpropagation through time for one rnn_forward call.

    dout (N, >= col + Hout): gradient of the outputs (columns col:col + Hout).
    dh (B, Hout) / dc (B, H): dh_n/dc_n in, dh0/dc0 out.  Out: dgx (N, G) the
    gradient of x @ W_ih^T + b_ih, dgh (N, G) that of h_prev @ W_hh^T + b_hh (the
    same array as dgx except for GRU), dhout (N, P) the gradient of the projected
    h (LSTM with proj_size; it gives dW_hr).  work (B, H): the gradient of the
    projection's input.
    """
    cdef int G = gates.shape[1], Hout = dh.shape[1], B = dh.shape[0]
    cdef int parts = batch_parts(B), p
    # dh_prev = dgates @ W_hh is recurrent_product's h w^T form with w = W_hh^T (Hout, G)
    cdef floating* w_hh_packed = packed_weight(&w_hh[0, 0], Hout, G, 1, Hout)
    with nogil:
        if parts > 1:
            for p in prange(parts, num_threads=parts, schedule="static"):
                backward_steps(mode, w_hh_packed, w_hr, batch_sizes, offsets, reverse, gates,
                               cell, prev, cprev, dout, col, dh, dc, dgx, dgh, dhout, work,
                               B * p // parts, B * (p + 1) // parts)
        else:
            backward_steps(mode, w_hh_packed, w_hr, batch_sizes, offsets, reverse, gates, cell,
                           prev, cprev, dout, col, dh, dc, dgx, dgh, dhout, work, 0, B)
    PyMem_RawFree(w_hh_packed)


cdef void backward_steps(int mode, const floating* w_hh_packed, const floating[:, ::1] w_hr,
                         const int64_t[::1] batch_sizes, const int64_t[::1] offsets,
                         bint reverse, const floating[:, ::1] gates,
                         const floating[:, ::1] cell, const floating[:, ::1] prev,
                         const floating[:, ::1] cprev, const floating[:, ::1] dout, int col,
                         floating[:, ::1] dh, floating[:, ::1] dc, floating[:, ::1] dgx,
                         floating[:, ::1] dgh, floating[:, ::1] dhout, floating[:, ::1] work,
                         Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """rnn_backward's time steps, newest first, for the sequences (batch rows) lo:hi."""
    cdef int G = gates.shape[1], Hout = dh.shape[1], H = G // gate_count(mode), bs
    cdef Py_ssize_t T = batch_sizes.shape[0], s, t, r, j, o
    cdef bint proj = w_hr.shape[0] > 0
    for s in range(T):
        t = s if reverse else T - 1 - s
        bs = <int> (min(batch_sizes[t], hi) - lo)
        if bs <= 0:
            continue
        o = offsets[t] + lo
        for r in range(bs):
            for j in range(Hout):
                dh[lo + r, j] = dh[lo + r, j] + dout[o + r, col + j]
        if proj:
            for r in range(bs):
                for j in range(Hout):
                    dhout[o + r, j] = dh[lo + r, j]
            gemm(False, False, bs, H, Hout, <floating> 1, &dh[lo, 0], Hout, &w_hr[0, 0], H,
                 <floating> 0, &work[lo, 0], H)
        if mode == LSTM:
            lstm_rows_back(bs, H, &gates[o, 0], &cell[o, 0], &cprev[o, 0],
                           &work[lo, 0] if proj else &dh[lo, 0], H if proj else Hout,
                           &dc[lo, 0], &dgx[o, 0])
        elif mode == GRU:
            for r in range(bs):
                gru_row_back(&gates[o + r, 0], &cell[o + r, 0], &prev[o + r, 0], &dh[lo + r, 0],
                             &dgx[o + r, 0], &dgh[o + r, 0], H)
        else:
            for r in range(bs):
                rnn_row_back(mode == RNN_RELU, &gates[o + r, 0], &dh[lo + r, 0],
                             &dgx[o + r, 0], H)
        recurrent_product(w_hh_packed, Hout, G, &dgh[o, 0], bs, &dh[lo, 0], Hout, mode == GRU)


def rnn_weight_grads(const floating[:, ::1] x, const floating[:, ::1] prev,
                     const floating[:, ::1] hraw, const floating[:, ::1] dgx,
                     const floating[:, ::1] dgh, const floating[:, ::1] dhout,
                     floating[:, ::1] dw_ih, floating[:, ::1] dw_hh, floating[::1] db_ih,
                     floating[::1] db_hh, floating[:, ::1] dw_hr):
    """All parameter gradients of one layer and direction as GEMMs over every row.

    dW_ih = dgx^T @ x, dW_hh = dgh^T @ prev, dW_hr = dhout^T @ hraw, db = column
    sums (in double).  An output with no rows (shape (0, ...)) is skipped.
    """
    cdef int N = x.shape[0], I = x.shape[1], G = dgx.shape[1], Hout = prev.shape[1]
    cdef int H = hraw.shape[1], P = dhout.shape[1]
    cdef Py_ssize_t j
    cdef bint same = &dgx[0, 0] == &dgh[0, 0]
    cdef double* acc = <double*> PyMem_Malloc(G * sizeof(double))
    if acc == NULL:
        raise MemoryError()
    try:
        with nogil:
            if dw_ih.shape[0] > 0:
                gemm(True, False, G, I, N, <floating> 1, &dgx[0, 0], G, &x[0, 0], I,
                     <floating> 0, &dw_ih[0, 0], I)
            if dw_hh.shape[0] > 0:
                gemm(True, False, G, Hout, N, <floating> 1, &dgh[0, 0], G, &prev[0, 0], Hout,
                     <floating> 0, &dw_hh[0, 0], Hout)
            if dw_hr.shape[0] > 0:
                gemm(True, False, P, H, N, <floating> 1, &dhout[0, 0], P, &hraw[0, 0], H,
                     <floating> 0, &dw_hr[0, 0], H)
            if db_ih.shape[0] > 0 or (same and db_hh.shape[0] > 0):
                column_sums(&dgx[0, 0], N, G, acc)
                for j in range(db_ih.shape[0]):
                    db_ih[j] = <floating> acc[j]
                if same:
                    for j in range(db_hh.shape[0]):
                        db_hh[j] = <floating> acc[j]
            if not same and db_hh.shape[0] > 0:
                column_sums(&dgh[0, 0], N, G, acc)
                for j in range(G):
                    db_hh[j] = <floating> acc[j]
    finally:
        PyMem_Free(acc)


cdef void column_sums(const floating* a, Py_ssize_t N, Py_ssize_t G,
                      double* acc) noexcept nogil:
    """acc[G] = column sums of the row-major a[N, G], accumulated row by row in double."""
    cdef Py_ssize_t r, j
    for j in range(G):
        acc[j] = 0
    for r in range(N):
        for j in range(G):
            acc[j] += a[r * G + j]


def rnn_input_grad(const floating[:, ::1] dgx, const floating[:, ::1] w_ih, floating[:, ::1] dx,
                   bint accumulate):
    """dx (N, I) = dgx @ W_ih, or dx += that (the second direction of a layer)."""
    cdef int N = dgx.shape[0], G = dgx.shape[1], I = w_ih.shape[1]
    with nogil:
        gemm(False, False, N, I, G, <floating> 1, &dgx[0, 0], G, &w_ih[0, 0], I,
             <floating> (1 if accumulate else 0), &dx[0, 0], I)


def scale_rows(const floating[:, ::1] a, const floating[:, ::1] mask, floating[:, ::1] out):
    """out = a * mask: dropout between layers (mask holds 0 or 1/(1-p)), and its backward."""
    cdef Py_ssize_t r, j, N = a.shape[0], C = a.shape[1]
    with nogil:
        for r in range(N):
            for j in range(C):
                out[r, j] = a[r, j] * mask[r, j]
