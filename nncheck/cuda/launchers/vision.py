"""Launchers for ``kernels/vision.cu`` with ``nncheck._kernels.vision``'s signatures.

interpolate plans one table per axis on the host (``nncheck._kernels.vision``'s
``*_table`` functions, for every mode); the device runs the CPU's separable passes over
them: axes W, H, D forward, and their adjoints D, H, W backward (scatter-adds).
"""

from . import launch, xp
from .linear import gemm


def _tables(idx_d, w_d, idx_h, w_h, idx_w, w_w, dtype):
    """Per axis D, H, W: (idx, w) on the device, or None for an axis copied unchanged."""
    return [None if idx.shape[1] == 0 else
            (xp.ascontiguousarray(idx), xp.ascontiguousarray(w, dtype))
            for idx, w in ((idx_d, w_d), (idx_h, w_h), (idx_w, w_w))]


def _resample(src, dst, tables, transposed):
    """dst[P, ...] from src[P, ...] axis by axis (intermediates in fresh device buffers)."""
    sizes_from, sizes_to = list(src.shape[1:]), list(dst.shape[1:])
    order = (0, 1, 2) if transposed else (2, 1, 0)
    steps = [a for a in order if tables[a] is not None]
    cur, current = src, list(sizes_from)
    if not steps:
        dst.copy_(src)
        return
    for n, a in enumerate(steps):
        idx, w = tables[a]
        new = list(current)
        new[a] = sizes_to[a]
        out = dst if n == len(steps) - 1 else xp.empty((src.shape[0], *new), src.dtype)
        outer = src.shape[0] * (current[0] if a >= 1 else 1) * (current[1] if a == 2 else 1)
        inner = (current[2] if a <= 1 else 1) * (current[1] if a == 0 else 1)
        if transposed:
            out.zero_()
            launch("vision", "resample_pass_transposed", outer * current[a] * inner, cur, out,
                   outer, current[a], new[a], inner, idx, w, idx.shape[1])
        else:
            launch("vision", "resample_pass", outer * new[a] * inner, cur, out, outer,
                   current[a], new[a], inner, idx, w, idx.shape[1])
        cur, current = out, new


def resample_forward(src, dst, idx_d, w_d, idx_h, w_h, idx_w, w_w):
    _resample(src, dst, _tables(idx_d, w_d, idx_h, w_h, idx_w, w_w, src.dtype), False)


def resample_backward(grad_out, grad_in, idx_d, w_d, idx_h, w_h, idx_w, w_w):
    """grad_in (overwritten) from grad_out through the adjoint passes."""
    _resample(grad_out, grad_in, _tables(idx_d, w_d, idx_h, w_h, idx_w, w_w, grad_out.dtype),
              True)


def grid_sample_forward(inp, grid, out, mode, padding, align_corners):
    N, C, D, H, W = inp.shape
    P, k = grid.shape[1:]
    launch("vision", "grid_sample_forward", N * P if C else 0, inp, xp.ascontiguousarray(grid),
           out, N, C, D, H, W, P, k, int(mode), int(padding), int(align_corners))


def grid_sample_backward(inp, grid, grad_out, grad_in, grad_grid, mode, padding,
                         align_corners):
    """grad_in is overwritten (scatter-adds into zeros)."""
    N, C, D, H, W = inp.shape
    P, k = grid.shape[1:]
    grad_in.zero_()
    grad_grid.zero_()
    launch("vision", "grid_sample_backward", N * P if C else 0, inp, xp.ascontiguousarray(grid),
           grad_out, grad_in, grad_grid, N, C, D, H, W, P, k, int(mode), int(padding),
           int(align_corners))


def grid_sample_bicubic_forward(inp, grid, out, padding, align_corners):
    N, C, H, W = inp.shape
    P = grid.shape[1]
    launch("vision", "grid_sample_bicubic_forward", N * P if C else 0, inp,
           xp.ascontiguousarray(grid), out, N, C, H, W, P, int(padding), int(align_corners))


def grid_sample_bicubic_backward(inp, grid, grad_out, grad_in, grad_grid, padding,
                                 align_corners):
    """grad_in is overwritten (scatter-adds into zeros)."""
    N, C, H, W = inp.shape
    P = grid.shape[1]
    grad_in.zero_()
    grad_grid.zero_()
    launch("vision", "grid_sample_bicubic_backward", N * P if C else 0, inp,
           xp.ascontiguousarray(grid), grad_out, grad_in, grad_grid, N, C, H, W, P,
           int(padding), int(align_corners))


def affine_grid_forward(theta, base, out):
    """out[n] (P x k) = base (P x k+1) @ theta[n]^T: one batched GEMM."""
    N, k = theta.shape[:2]
    P = base.shape[0]
    gemm(False, True, xp.ascontiguousarray(base, theta.dtype), theta, out, P, k, k + 1,
         batch=N, sB=k * (k + 1), sC=P * k)


def affine_grid_backward(grad, base, grad_theta):
    """grad_theta[n] (k x k+1) = grad[n]^T (k x P) @ base (P x k+1)."""
    N, P, k = grad.shape
    gemm(True, False, grad, xp.ascontiguousarray(base, grad.dtype), grad_theta, k, k + 1, P,
         batch=N, sA=P * k, sC=k * (k + 1))
