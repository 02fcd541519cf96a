"""Launchers for ``kernels/loss.cu`` with ``nncheck._kernels.loss``'s signatures.

Operands the layer planned on the host (flattened broadcasts, targets, weights) are
uploaded; an empty array stands for an absent operand (a null pointer), as on the CPU.
``double`` kernel parameters are passed as ``np.float64`` (a Python float would be packed
in the kernel's dtype).
"""

from ..._lazy import np
from . import launch, launch_blocks, xp

# Every pointwise loss of loss.pyx.tp: <name>_forward in both files.
POINTWISE = (
    "l1", "mse", "smooth_l1", "huber", "bce", "bce_logits", "bce_logits_pw", "kl_div",
    "kl_div_log", "poisson_log", "poisson", "gaussian_nll", "soft_margin", "hinge_embedding",
    "margin_ranking", "triplet_hinge", "triplet_hinge_swap",
)


def _dev(a, dtype=None):
    """``a`` on the device (None when absent/empty: the kernel's null pointer)."""
    if a is None or a.size == 0:
        return None
    return xp.ascontiguousarray(a, dtype)


def _index(a):
    return _dev(a, np.int64)


def _d(v):
    return np.float64(v)


def _per_row(grad, rows):
    return int(grad.shape[0] == rows and rows != 1)


def _pointwise(name):
    def forward(x, y, z, w, out, seg, divisor, gx, gy, gz, gw, a=0, b=0, c=0):
        """Elements' weighted losses and unit gradients, then the per-segment sums."""
        dtype, n, nseg = out.dtype, x.shape[0], out.shape[0]
        losses = xp.empty(n, np.float64)
        launch("loss", f"{name}_forward", n, _dev(x, dtype), _dev(y, dtype), _dev(z, dtype),
               _dev(w, dtype), losses, _dev(gx), _dev(gy), _dev(gz), _dev(gw), n,
               _d(1 / divisor if divisor else np.inf), _d(a), _d(b), _d(c), dtype=dtype)
        seg = n if nseg == 1 else seg
        # a warp per short segment (reduction='none', rows), a full block per long one
        launch_blocks("loss", "segment_sum", min(nseg, 65535), losses, out, n, nseg, seg,
                      _d(divisor), threads=256 if seg >= 1024 else 32, dtype=dtype)

    forward.__name__ = f"{name}_forward"
    return forward


for _name in POINTWISE:
    globals()[f"{_name}_forward"] = _pointwise(_name)


def scale(unit, g, out):
    launch("loss", "scale", unit.size, unit, _d(g), out, unit.size)


def scale_rows(unit, g, out):
    outer, mid, inner = unit.shape
    launch("loss", "scale_rows", unit.size, unit, _dev(g, unit.dtype), out, outer, mid, inner)


def cross_entropy_forward(x, target, weight, C, inner, ignore_index, smoothing, unit_scale,
                          loss, gx):
    P = target.shape[0]
    launch("loss", "cross_entropy_forward", P, x, _index(target), _dev(weight, x.dtype), P, C,
           inner, int(ignore_index), _d(smoothing), _d(unit_scale), loss, _dev(gx))


def cross_entropy_prob_forward(x, target, weight, C, inner, smoothing, unit_scale, loss, gx,
                               gy):
    P = loss.shape[0]
    launch("loss", "cross_entropy_prob_forward", P, x, _dev(target, x.dtype),
           _dev(weight, x.dtype), P, C, inner, _d(smoothing), _d(unit_scale), loss, _dev(gx),
           _dev(gy))


def nll_forward(x, target, weight, C, inner, ignore_index, loss, used_weight):
    P = target.shape[0]
    launch("loss", "nll_forward", P, x, _index(target), _dev(weight, x.dtype), P, C, inner,
           int(ignore_index), loss, used_weight)


def nll_backward(target, weight, C, inner, ignore_index, grad, divisor, gx):
    P = target.shape[0]
    launch("loss", "nll_backward", P, _index(target), _dev(weight, gx.dtype), P, C, inner,
           int(ignore_index), _dev(grad, gx.dtype), _per_row(grad, P), _d(divisor), gx,
           dtype=gx.dtype)


def multi_margin_forward(x, target, weight, p, margin, loss):
    N, C = x.shape
    launch("loss", "multi_margin_forward", N, x, _index(target), _dev(weight, x.dtype), N, C,
           int(p), _d(margin), loss)


def multi_margin_backward(x, target, weight, p, margin, grad, divisor, gx):
    N, C = x.shape
    launch("loss", "multi_margin_backward", N, x, _index(target), _dev(weight, x.dtype), N, C,
           int(p), _d(margin), _dev(grad, x.dtype), _per_row(grad, N), _d(divisor), gx)


def multilabel_margin_forward(x, target, is_target, loss):
    """is_target: zero-filled by the caller, as on the CPU."""
    N, C = x.shape
    launch("loss", "multilabel_margin_forward", N, x, _index(target), is_target, N, C, loss)


def multilabel_margin_backward(x, target, is_target, grad, divisor, gx):
    N, C = x.shape
    launch("loss", "multilabel_margin_backward", N, x, _index(target), is_target, N, C,
           _dev(grad, x.dtype), _per_row(grad, N), _d(divisor), gx)


def cosine_embedding_forward(x1, x2, y, margin, loss):
    N, D = x1.shape
    launch("loss", "cosine_embedding_forward", N, x1, x2, _dev(y, x1.dtype), N, D, _d(margin),
           loss)


def cosine_embedding_backward(x1, x2, y, margin, grad, divisor, g1, g2):
    N, D = x1.shape
    launch("loss", "cosine_embedding_backward", N, x1, x2, _dev(y, x1.dtype), N, D, _d(margin),
           _dev(grad, x1.dtype), _per_row(grad, N), _d(divisor), g1, g2)


def triplet_margin_forward(a, pos, neg, margin, p, eps, swap, loss, dist):
    N, D = a.shape
    launch("loss", "triplet_margin_forward", N, a, pos, neg, N, D, _d(margin), _d(p), _d(eps),
           int(swap), loss, dist)


def triplet_margin_backward(a, pos, neg, margin, p, eps, swap, dist, grad, divisor, ga, gp, gn):
    """Gradients into zero-filled ga, gp, gn."""
    N, D = a.shape
    launch("loss", "triplet_margin_backward", N, a, pos, neg, N, D, _d(margin), _d(p), _d(eps),
           int(swap), dist, _dev(grad, a.dtype), _per_row(grad, N), _d(divisor), ga, gp, gn)


def ctc_forward(log_probs, targets, offsets, input_lengths, target_lengths, blank, log_alpha,
                nll):
    T, N, C = log_probs.shape
    launch("loss", "ctc_forward", N, log_probs, _index(targets), _index(offsets),
           _index(input_lengths), _index(target_lengths), T, N, C, log_alpha.shape[2],
           int(blank), log_alpha, nll)


def ctc_backward(log_probs, targets, offsets, input_lengths, target_lengths, blank, log_alpha,
                 nll, grad, zero_infinity, log_beta, gx):
    T, N, C = log_probs.shape
    launch("loss", "ctc_backward", N, log_probs, _index(targets), _index(offsets),
           _index(input_lengths), _index(target_lengths), T, N, C, log_alpha.shape[2],
           int(blank), log_alpha, nll, _dev(grad, log_probs.dtype), int(zero_infinity),
           log_beta, gx)
