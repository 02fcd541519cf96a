"""Launchers for ``kernels/pooling.cu`` with ``nncheck._kernels.pooling``'s signatures.

The CPU kernels read their windows from tables (lo/hi per output index, and per-axis
divisors for averages) that the layer builds on the host; the table-driven kernels of
pooling.cu read the same tables, uploaded, so every pooling layer shares them.
"""

from ..._lazy import np
from . import launch, launch_blocks, xp


def _tables(*tables):
    return [xp.ascontiguousarray(t, np.int64) for t in tables]


def _rows(table):
    return table.shape[0] if np.ndim(table) == 2 else 1


def max_pool_forward(x, out, indices, scratch, d_lo, d_hi, h_lo, h_hi, w_lo, w_hi,
                     d_step, h_step, w_step):
    """``scratch`` is the CPU's argmax buffer: unused here."""
    planes, D, H, W = x.shape
    launch("pooling", "max_pool_table_forward", out.size, x, out,
           indices if indices.size else None, planes, D, H, W, *out.shape[1:],
           *_tables(d_lo, d_hi, h_lo, h_hi, w_lo, w_hi), _rows(d_lo), _rows(h_lo),
           _rows(w_lo), int(d_step), int(h_step), int(w_step))


def avg_pool_forward(x, out, d_lo, d_hi, d_div, h_lo, h_hi, h_div, w_lo, w_hi, w_div,
                     divisor_override):
    planes, D, H, W = x.shape
    launch("pooling", "avg_pool_table_forward", out.size, x, out, planes, D, H, W,
           *out.shape[1:], *_tables(d_lo, d_hi, d_div, h_lo, h_hi, h_div, w_lo, w_hi, w_div),
           int(divisor_override))


def avg_pool_backward(grad_out, grad_in, share, d_lo, d_hi, d_div, h_lo, h_hi, h_div, w_lo,
                      w_hi, w_div, divisor_override):
    """``share`` is the CPU's row scratch: unused here."""
    planes, D, H, W = grad_in.shape
    grad_in.zero_()
    launch("pooling", "avg_pool_table_backward", grad_out.size, grad_out, grad_in, planes, D,
           H, W, *grad_out.shape[1:],
           *_tables(d_lo, d_hi, d_div, h_lo, h_hi, h_div, w_lo, w_hi, w_div),
           int(divisor_override))


def index_scatter(src, indices, out, accumulate):
    out.zero_()
    P, N = src.shape
    launch("pooling", "index_scatter", src.size, src, xp.ascontiguousarray(indices, np.int64),
           out, P, N, out.shape[1], int(accumulate))


def index_gather(src, indices, out):
    P, N = out.shape
    launch("pooling", "index_gather", out.size, src, xp.ascontiguousarray(indices, np.int64),
           out, P, N, src.shape[1])


def lp_power(x, norm, out):
    launch("pooling", "lp_power", x.size, x, out, x.size, np.float64(norm))


def lp_power_backward(x, grad, norm, grad_in):
    launch("pooling", "lp_power_backward", x.size, x, grad, grad_in, x.size, np.float64(norm))


def lp_root(s, kernel_volume, norm, out):
    launch("pooling", "lp_root", s.size, s, out, s.size, np.float64(kernel_volume),
           np.float64(norm))


def lp_root_backward(s, grad, kernel_volume, norm, grad_s):
    launch("pooling", "lp_root_backward", s.size, s, grad, grad_s, s.size,
           np.float64(kernel_volume), np.float64(norm))


def global_avg_forward(x, out):
    """out[p] = the mean of plane p of x (planes, elements)."""
    P, S = x.shape
    if S:
        launch_blocks("pooling", "global_avg_forward", min(P, 65535), x, out, P, S)


def global_avg_backward(grad_out, grad_in):
    """grad_in[p, :] = grad_out[p] / elements per plane."""
    P, S = grad_in.shape
    launch("pooling", "global_avg_backward", grad_in.size, grad_out, grad_in, P, S)
