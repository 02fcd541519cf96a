"""Launchers for ``kernels/attention.cu`` with ``nncheck._kernels.attention``'s signatures.

The CPU's ``parallel`` flag (OpenMP over slices) is accepted and unused; ``max_threads``
stays the CPU module's (the functional layer asks it without arrays).
"""

from ..._lazy import np
from . import launch, xp


def _inputs(*arrays):
    """Operands on the device (the layer may hand in host arrays, e.g. empty placeholders)."""
    return [xp.ascontiguousarray(a) for a in arrays]


def _group(B, Bk):
    return B // Bk if Bk > 0 else 1


def attention_forward(q, k, v, bias, probs, out, scale, causal, safe, apply_values,
                      parallel=False):
    """probs = softmax(scale * q k^T + bias); out = probs v when apply_values."""
    (B, L, E), (Bk, S), Ev = q.shape, k.shape[:2], v.shape[2]
    group = _group(B, Bk)
    q, k, v, bias = _inputs(q, k, v, bias)
    launch("attention", "attention_scores", B * L * S, q, k, probs, B, L, S, E, group,
           np.float64(scale))
    launch("attention", "softmax_rows", B * L if S else 0, probs, bias if bias.size else None,
           bias.shape[0], B, L, S, int(causal), int(safe))
    if apply_values:
        launch("attention", "values_forward", B * L * Ev, probs, v, out, B, L, S, Ev, group)


def attention_backward(q, k, v, probs, grad_out, grad_scores, grad_q, grad_k, grad_v, scale,
                       use_grad_out, parallel=False):
    """grad_scores (the gradient reaching probs directly) is overwritten with dS."""
    (B, L, E), (Bk, S), Ev = q.shape, k.shape[:2], v.shape[2]
    group = _group(B, Bk)
    q, k, v, probs, grad_out = _inputs(q, k, v, probs, grad_out)
    if use_grad_out:
        launch("attention", "values_backward_probs", B * L * S, v, grad_out, grad_scores, B, L,
               S, Ev, group, 1)
        launch("attention", "values_backward_v", Bk * S * Ev, probs, grad_out, grad_v, Bk, L, S,
               Ev, group)
    launch("attention", "softmax_backward_rows", B * L if S else 0, probs, grad_scores, B * L,
           S)
    launch("attention", "attention_backward_q", B * L * E, grad_scores, k, grad_q, B, L, S, E,
           group, np.float64(scale))
    launch("attention", "attention_backward_k", Bk * S * E, grad_scores, q, grad_k, Bk, L, S,
           E, group, np.float64(scale))


def values_forward(probs, v, out, parallel=False):
    (B, L, S), Ev = probs.shape, v.shape[2]
    probs, v = _inputs(probs, v)
    launch("attention", "values_forward", B * L * Ev, probs, v, out, B, L, S, Ev,
           _group(B, v.shape[0]))


def values_backward(probs, v, grad_out, grad_probs, grad_v, parallel=False):
    """grad_probs = grad_out v^T; grad_v = sum over the group of probs^T grad_out."""
    (B, L, S), (Bk, Ev) = probs.shape, (v.shape[0], v.shape[2])
    group = _group(B, Bk)
    probs, v, grad_out = _inputs(probs, v, grad_out)
    launch("attention", "values_backward_probs", B * L * S, v, grad_out, grad_probs, B, L, S, Ev,
           group, 0)
    launch("attention", "values_backward_v", Bk * S * Ev, probs, grad_out, grad_v, Bk, L, S, Ev,
           group)
