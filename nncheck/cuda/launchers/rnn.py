"""Launchers for ``kernels/rnn.cu`` with ``nncheck._kernels.rnn``'s signatures.

rnn_forward / rnn_backward run the CPU kernels' loop over time steps on the host, each step
a few launches: linear.cu's GEMM for h_prev @ W_hh^T (and the LSTM projection), then the
mode's row kernel (one thread per batch row and hidden unit).  The step plan (batch_sizes,
offsets) is the host's.
"""

from ..._lazy import np
from . import launch, xp
from .linear import bias_backward, gemm

MODES = {"RNN_TANH": 0, "RNN_RELU": 1, "LSTM": 2, "GRU": 3}
RNN_RELU, LSTM, GRU = 1, 2, 3


def _rows(a, first, count):
    """Rows first .. first + count - 1 of the row-major 2-D device array ``a``, as a view."""
    return a.offset(first * a.shape[1], (count, a.shape[1]))


def _copy(src, lds, dst, ldd, rows, cols, accumulate=False):
    launch("rnn", "rows_copy", rows * cols, src, lds, dst, ldd, rows, cols, int(accumulate),
           dtype=dst.dtype)


def _steps(batch_sizes, offsets, backwards):
    sizes, starts = np.asarray(batch_sizes), np.asarray(offsets)
    order = range(len(sizes) - 1, -1, -1) if backwards else range(len(sizes))
    return [(int(sizes[t]), int(starts[t])) for t in order]


def rnn_forward(mode, x, w_ih, w_hh, bias_x, b_hn, w_hr, batch_sizes, offsets, reverse, h, c,
                out, col, gates, cell, prev, cprev, hraw, work):
    """One layer and direction over the whole sequence (see nncheck._kernels.rnn)."""
    N, I = x.shape
    x, w_ih, w_hh, w_hr = (xp.ascontiguousarray(a) for a in (x, w_ih, w_hh, w_hr))
    G, Hout, ldo = gates.shape[1], h.shape[1], out.shape[1]
    H = G // (4 if mode == LSTM else 3 if mode == GRU else 1)
    proj = w_hr.shape[0] > 0
    bias_x = xp.ascontiguousarray(bias_x, gates.dtype)
    launch("rnn", "bias_rows", N * G, gates, bias_x, N, G)
    gemm(False, True, x, w_ih, gates, N, G, I, beta=1.0)
    b_hn = xp.ascontiguousarray(b_hn, gates.dtype) if mode == GRU else None
    for bs, o in _steps(batch_sizes, offsets, reverse):
        if bs == 0:
            continue
        step_prev = _rows(prev, o, bs)
        _copy(h, Hout, step_prev, Hout, bs, Hout)
        gemm(False, True, step_prev, w_hh, work, bs, G, Hout)
        out_rows = out.offset(o * ldo + col, (bs, Hout))
        if mode == LSTM:
            launch("rnn", "lstm_row", bs * H, _rows(gates, o, bs), work, c, _rows(cell, o, bs),
                   _rows(cprev, o, bs), _rows(hraw, o, bs) if proj else out_rows,
                   H if proj else ldo, None if proj else h, bs, H)
            if proj:
                gemm(False, True, _rows(hraw, o, bs), w_hr, out_rows, bs, Hout, H, ldc=ldo)
                _copy(out_rows, ldo, h, Hout, bs, Hout)
        elif mode == GRU:
            launch("rnn", "gru_row", bs * H, _rows(gates, o, bs), work, b_hn, _rows(cell, o, bs),
                   step_prev, out_rows, ldo, h, bs, H)
        else:
            launch("rnn", "rnn_row", bs * H, _rows(gates, o, bs), work, out_rows, ldo, h, bs, H,
                   int(mode == RNN_RELU))


def rnn_backward(mode, w_hh, w_hr, batch_sizes, offsets, reverse, gates, cell, prev, cprev,
                 dout, col, dh, dc, dgx, dgh, dhout, work):
    """Backpropagation through time for one rnn_forward call (see nncheck._kernels.rnn)."""
    w_hh, w_hr, dout = (xp.ascontiguousarray(a) for a in (w_hh, w_hr, dout))
    G, Hout, ldd = gates.shape[1], dh.shape[1], dout.shape[1]
    H = G // (4 if mode == LSTM else 3 if mode == GRU else 1)
    proj = w_hr.shape[0] > 0
    for bs, o in _steps(batch_sizes, offsets, not reverse):
        if bs == 0:
            continue
        _copy(dout.offset(o * ldd + col, (bs, Hout)), ldd, dh, Hout, bs, Hout, accumulate=True)
        if proj:
            _copy(dh, Hout, _rows(dhout, o, bs), Hout, bs, Hout)
            gemm(False, False, dh, w_hr, work, bs, H, Hout)
        if mode == LSTM:
            launch("rnn", "lstm_row_back", bs * H, _rows(gates, o, bs), _rows(cell, o, bs),
                   _rows(cprev, o, bs), work if proj else dh, dc, _rows(dgx, o, bs), bs, H)
        elif mode == GRU:
            launch("rnn", "gru_row_back", bs * H, _rows(gates, o, bs), _rows(cell, o, bs),
                   _rows(prev, o, bs), dh, _rows(dgx, o, bs), _rows(dgh, o, bs), bs, H)
        else:
            launch("rnn", "rnn_row_back", bs * H, _rows(gates, o, bs), dh, _rows(dgx, o, bs), bs,
                   H, int(mode == RNN_RELU))
        gemm(False, False, _rows(dgh, o, bs), w_hh, dh, bs, Hout, G,
             beta=1.0 if mode == GRU else 0.0)


def rnn_weight_grads(x, prev, hraw, dgx, dgh, dhout, dw_ih, dw_hh, db_ih, db_hh, dw_hr):
    """All parameter gradients of one layer and direction; an output with no rows is skipped."""
    N, I = x.shape
    x = xp.ascontiguousarray(x)
    G, Hout, H, P = dgx.shape[1], prev.shape[1], hraw.shape[1], dhout.shape[1]
    if dw_ih.shape[0]:
        gemm(True, False, dgx, x, dw_ih, G, I, N)
    if dw_hh.shape[0]:
        gemm(True, False, dgh, prev, dw_hh, G, Hout, N)
    if dw_hr.shape[0]:
        gemm(True, False, dhout, hraw, dw_hr, P, H, N)
    if db_ih.shape[0]:
        bias_backward(dgx, db_ih)
    if db_hh.shape[0]:
        bias_backward(dgh, db_hh)


def rnn_input_grad(dgx, w_ih, dx, accumulate):
    """dx (N, I) = dgx @ W_ih, or dx += that (the second direction of a layer)."""
    N, G = dgx.shape
    w_ih = xp.ascontiguousarray(w_ih)
    gemm(False, False, dgx, w_ih, dx, N, w_ih.shape[1], G, beta=1.0 if accumulate else 0.0)


def scale_rows(a, mask, out):
    """out = a * mask: dropout between layers (mask 0 or 1/(1-p)), and its backward."""
    launch("rnn", "scale_rows", a.size, a, xp.ascontiguousarray(mask, a.dtype), out, a.size)
