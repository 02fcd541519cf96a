"""Launchers for ``kernels/sparse.cu`` with ``nncheck._kernels.sparse``'s signatures.

Gradients scatter with atomicAdd (rows looked up several times); scale_grad_by_freq
counts the lookups on the device (``embedding_count``) into the CPU's ``counts`` scratch.
"""

from ..._lazy import np
from . import launch, xp

MODE_MAX = 2


def _index(a):
    return xp.ascontiguousarray(a, np.int64)


def _counts(indices, counts, scale_grad_by_freq):
    """``counts`` filled with each row's lookups (as unsigned long long), or None."""
    if not scale_grad_by_freq:
        return None
    counts.zero_()
    launch("sparse", "embedding_count", indices.size, indices, counts, indices.size)
    return counts


def embedding_forward(weight, indices, out):
    launch("sparse", "embedding_forward", out.size, weight, _index(indices), out,
           indices.shape[0], weight.shape[1])


def embedding_backward(grad_out, indices, padding_idx, scale_grad_by_freq, counts, grad_weight):
    """grad_weight starts at zero."""
    indices = _index(indices)
    launch("sparse", "embedding_backward", grad_out.size, grad_out, indices,
           _counts(indices, counts, scale_grad_by_freq), grad_weight, indices.shape[0],
           grad_out.shape[1], int(padding_idx))


def embedding_renorm(weight, rows, max_norm, norm_type):
    rows = _index(rows)
    launch("sparse", "embedding_renorm", rows.size, weight, rows, rows.size, weight.shape[1],
           np.float64(max_norm), np.float64(norm_type))


def embedding_bag_forward(weight, indices, offsets, mode, per_sample_weights, padding_idx,
                          bag_size, max_index, out):
    """``bag_size`` is the CPU's count for the mean's backward: the kernels recount."""
    bags, D = out.shape
    launch("sparse", "embedding_bag_forward", out.size, weight, _index(indices),
           _index(offsets), per_sample_weights if per_sample_weights.size else None, out,
           max_index if mode == MODE_MAX else None, bags, D, int(mode), int(padding_idx))


def embedding_bag_backward(grad_out, indices, offsets, mode, per_sample_weights, padding_idx,
                           bag_size, max_index, scale_grad_by_freq, counts, grad_weight):
    """grad_weight starts at zero."""
    bags, D = grad_out.shape
    indices = _index(indices)
    launch("sparse", "embedding_bag_backward", grad_out.size, grad_out, indices,
           _index(offsets), per_sample_weights if per_sample_weights.size else None,
           max_index if mode == MODE_MAX else None,
           _counts(indices, counts, scale_grad_by_freq), grad_weight, bags, D, int(mode),
           int(padding_idx))


def embedding_bag_sample_weights_backward(grad_out, weight, indices, offsets, padding_idx,
                                          grad_psw):
    bags, D = grad_out.shape
    launch("sparse", "embedding_bag_sample_weights_backward", indices.shape[0], grad_out,
           weight, _index(indices), _index(offsets), grad_psw, indices.shape[0], bags, D,
           int(padding_idx))


def one_hot(indices, out):
    """out starts at zero."""
    launch("sparse", "one_hot", indices.size, _index(indices), out, indices.size, out.shape[1])
