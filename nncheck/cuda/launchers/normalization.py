"""Launchers for ``kernels/normalization.cu`` with ``nncheck._kernels.normalization``'s
signatures (BatchNorm, InstanceNorm, GroupNorm through channel_norm; statistics in double).
The CPU's scratch arguments are accepted and unused."""

from ..._lazy import np
from . import THREADS, launch, launch_blocks, xp


def _vector(v, dtype):
    return xp.ascontiguousarray(v, dtype)


def channel_norm_forward(x, Cg, reduce_batch, eps, weight, bias, compute_stats, mean, var,
                         invstd, row_mean, row_m2, out):
    N, C, S = x.shape
    launch_blocks("normalization", "channel_norm_stats", mean.shape[0], x, mean, var, invstd,
                  N, C, S, Cg, int(reduce_batch), np.float64(eps), int(compute_stats),
                  threads=THREADS, dtype=x.dtype)
    launch("normalization", "channel_norm_apply", x.size, x, mean, invstd,
           _vector(weight, x.dtype), _vector(bias, x.dtype), out, N, C, S, Cg,
           int(reduce_batch))


def channel_norm_backward(x, grad_out, Cg, reduce_batch, batch_stats, weight, mean, invstd,
                          sum_dy, sum_dy_xc, k2, k3, need_input, grad_in, need_affine,
                          grad_weight, grad_bias):
    N, C, S = x.shape
    w = _vector(weight, x.dtype)
    if need_affine:
        launch_blocks("normalization", "channel_norm_param_grads", C, x, grad_out, mean,
                      invstd, grad_weight, grad_bias, N, C, S, Cg, int(reduce_batch),
                      dtype=x.dtype)
    if need_input:
        launch_blocks("normalization", "channel_norm_backward_reduce", mean.shape[0], x,
                      grad_out, w, mean, invstd, k2, k3, N, C, S, Cg, int(reduce_batch),
                      int(batch_stats), dtype=x.dtype)
        launch("normalization", "channel_norm_backward_input", x.size, x, grad_out, w, mean,
               invstd, k2, k3, grad_in, N, C, S, Cg, int(reduce_batch))


def _row_blocks(rows):
    from .. import get_device

    return max(1, min(rows, get_device().multiprocessors * 32))


def layer_norm_forward(x, weight, bias, eps, centered, mean, invstd, out):
    M, D = x.shape
    launch_blocks("normalization", "layer_norm_rows_forward", _row_blocks(M), x,
                  _vector(weight, x.dtype), _vector(bias, x.dtype), out, mean, invstd, M, D,
                  np.float64(eps), int(centered), dtype=x.dtype)


def layer_norm_backward(x, grad_out, weight, centered, mean, invstd, need_input, grad_in,
                        need_affine, part_w, part_b, acc_w, acc_b, grad_weight, grad_bias):
    M, D = x.shape
    if need_input:
        launch_blocks("normalization", "layer_norm_rows_backward", _row_blocks(M), x, grad_out,
                      _vector(weight, x.dtype), mean, invstd, grad_in, M, D, int(centered),
                      dtype=x.dtype)
    if need_affine:
        launch("normalization", "layer_norm_rows_params", D, x, grad_out, mean, invstd,
               grad_weight, grad_bias, M, D)
