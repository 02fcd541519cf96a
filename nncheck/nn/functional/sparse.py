"""embedding, embedding_bag and one_hot on the kernels in ``nncheck._kernels.sparse``.

Index tensors are checked here (integer dtype, every index inside the table, offsets
well-formed) so that the gather and scatter-add kernels never leave the weight table.
The weight gradient is always returned dense, also when ``sparse=True`` is passed.
"""

from ..._lazy import family_names, np
from ...backend import check_same_device, host_array, kernels
from ...ops import Op
from ...tensor import Tensor
from ._validation import kernel_array

_MODES = {"sum": 0, "mean": 1, "max": 2}


def _indices(input, layer, arg="input", weight=None):
    """``input`` as a flat int64 host array, after checking its dtype (and that it lives on
    ``weight``'s device)."""
    if weight is not None:
        check_same_device((input._data, weight._data))
    if input.dtype.name not in ("int64", "int32"):
        raise RuntimeError(f"{layer}: Expected tensor for argument {arg!r} (indices) to have "
                           f"one of the following scalar types: Long, Int; but got "
                           f"{input.dtype}")
    return host_array(input._data, np.int64).reshape(-1)  # bounds checked on the host


def _check_range(idx, size, layer, arg="input"):
    """IndexError naming the first index outside [0, size)."""
    bad = np.flatnonzero((idx < 0) | (idx >= size))
    if bad.size:
        raise IndexError(f"{layer}: index out of range in self: {arg}[{bad[0]}] = "
                         f"{idx[bad[0]]} is not in [0, {size}) (num_embeddings = {size})")


def _padding_index(padding_idx, num_embeddings, layer):
    """torch's rule: -num_embeddings <= padding_idx < num_embeddings, negatives wrap."""
    if padding_idx is None:
        return None
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"{layer}: padding_idx must be within num_embeddings: expected "
                         f"{-num_embeddings} <= padding_idx < {num_embeddings}, got "
                         f"{padding_idx}")
    return padding_idx % num_embeddings


def _check_weight(weight, layer):
    if weight.ndim != 2:
        raise RuntimeError(f"{layer}: 'weight' must be 2-D (num_embeddings, embedding_dim), "
                           f"got shape {list(weight.shape)}")


def _renorm(weight, idx, max_norm, norm_type, layer):
    """Rescale in place, without recording it, the looked-up rows longer than max_norm."""
    _k = kernels("sparse", weight._data)[0]
    if not norm_type > 0:
        raise ValueError(f"{layer}: norm_type must be positive for max_norm, got {norm_type}")
    w = weight._data
    work = kernel_array(w, layer, "weight")  # float16 tables renormalise through float32
    _k.embedding_renorm(work, np.unique(idx), float(max_norm), float(norm_type))
    if work is not w:
        np.copyto(w, work, casting="unsafe")
    weight._version.value += 1


class _Embedding(Op):
    @staticmethod
    def forward(ctx, weight, idx, out_shape, padding_idx, scale_grad_by_freq):
        _k, xp = kernels("sparse", weight)  # idx: checked on the host, uploaded by a launcher
        w = kernel_array(weight, "embedding", "weight")
        out = xp.empty((idx.shape[0], w.shape[1]), w.dtype)
        _k.embedding_forward(w, idx, out)
        ctx.idx, ctx.w_shape = idx, w.shape
        ctx.opts = (-1 if padding_idx is None else padding_idx, scale_grad_by_freq)
        ctx.w_dtype = weight.dtype
        return out.reshape(out_shape).astype(weight.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        return (_Embedding.backward_stacked(ctx, grad[None])[0][0],) + (None,) * 4

    @staticmethod
    def backward_stacked(ctx, grads):
        """Gradients for K cotangents (leading axis), one kernel call each (gradcheck asks
        for hundreds at once)."""
        _k, xp = kernels("sparse", grads)
        stack = grads.shape[0]
        g = kernel_array(grads, "embedding", "grad").reshape(stack, -1, ctx.w_shape[1])
        gw = xp.zeros((stack,) + ctx.w_shape, g.dtype)
        padding, freq = ctx.opts
        for k in range(stack):
            _k.embedding_backward(g[k], ctx.idx, padding, freq,
                                  xp.empty(ctx.w_shape[0] if freq else 0, np.int64), gw[k])
        return gw.astype(ctx.w_dtype, copy=False), None, None, None, None


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False):
    return _embedding(input, weight, padding_idx, max_norm, norm_type, scale_grad_by_freq,
                      "embedding")


def _embedding(input, weight, padding_idx, max_norm, norm_type, scale_grad_by_freq, layer):
    _check_weight(weight, layer)
    idx = _indices(input, layer, weight=weight)
    _check_range(idx, weight.shape[0], layer)
    padding_idx = _padding_index(padding_idx, weight.shape[0], layer)
    if max_norm is not None:
        _renorm(weight, idx, max_norm, norm_type, layer)
    out_shape = tuple(input.shape) + (weight.shape[1],)
    return _Embedding.apply(weight, idx, out_shape, padding_idx, bool(scale_grad_by_freq))


# ---------------------------------------------------------------- bags
class _EmbeddingBag(Op):
    @staticmethod
    def forward(ctx, weight, per_sample_weights, idx, offsets, mode, padding_idx,
                scale_grad_by_freq):
        _k, xp = kernels("sparse", weight, per_sample_weights)
        w = kernel_array(weight, "embedding_bag", "weight")
        psw = (xp.zeros(0, w.dtype) if per_sample_weights is None
               else xp.ascontiguousarray(per_sample_weights, w.dtype).reshape(-1))
        bags = offsets.shape[0] - 1
        out = xp.empty((bags, w.shape[1]), w.dtype)
        bag_size = xp.empty(bags, np.int64)
        max_index = xp.empty((bags, w.shape[1] if mode == _MODES["max"] else 0), np.int64)
        padding = -1 if padding_idx is None else padding_idx
        _k.embedding_bag_forward(w, idx, offsets, mode, psw, padding, bag_size, max_index, out)
        ctx.save_for_backward(weight, per_sample_weights)
        ctx.bag = (idx, offsets, mode, psw, padding, bag_size, max_index, scale_grad_by_freq)
        return out.astype(weight.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        _k, xp = kernels("sparse", grad)
        weight, per_sample_weights = ctx.saved_tensors
        idx, offsets, mode, psw, padding, bag_size, max_index, freq = ctx.bag
        w = kernel_array(weight, "embedding_bag", "weight")
        g = xp.ascontiguousarray(grad, w.dtype)
        gw = gpsw = None
        if ctx.needs_input_grad[0]:
            gw = xp.zeros(w.shape, w.dtype)
            _k.embedding_bag_backward(g, idx, offsets, mode, psw, padding, bag_size, max_index,
                                      freq, xp.empty(w.shape[0] if freq else 0, np.int64), gw)
            gw = gw.astype(weight.dtype, copy=False)
        if ctx.needs_input_grad[1]:
            gpsw = xp.empty(idx.shape[0], w.dtype)
            _k.embedding_bag_sample_weights_backward(g, w, idx, offsets, padding, gpsw)
            gpsw = gpsw.reshape(per_sample_weights.shape).astype(per_sample_weights.dtype,
                                                                 copy=False)
        return gw, gpsw, None, None, None, None, None


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2,
                  scale_grad_by_freq=False, mode="mean", sparse=False, per_sample_weights=None,
                  include_last_offset=False, padding_idx=None):
    return _embedding_bag(input, weight, offsets, max_norm, norm_type, scale_grad_by_freq, mode,
                          per_sample_weights, include_last_offset, padding_idx, "embedding_bag")


def _embedding_bag(input, weight, offsets, max_norm, norm_type, scale_grad_by_freq, mode,
                   per_sample_weights, include_last_offset, padding_idx, layer):
    _check_weight(weight, layer)
    if per_sample_weights is not None and tuple(input.shape) != tuple(per_sample_weights.shape):
        raise ValueError(f"{layer}: If per_sample_weights ({list(per_sample_weights.shape)}) is "
                         f"not None, then it must have the same shape as the input "
                         f"({list(input.shape)})")
    idx = _indices(input, layer, weight=weight)
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError(f"{layer}: if input is 2D, then offsets has to be None, as input "
                             "is treated is a mini-batch of fixed length sequences. However, "
                             f"found offsets of type {type(offsets).__name__}")
        bounds = np.arange(input.shape[0] + 1, dtype=np.int64) * input.shape[1]
    elif input.ndim == 1:
        if offsets is None:
            raise ValueError(f"{layer}: offsets has to be a 1D Tensor but got None")
        if offsets.ndim != 1:
            raise ValueError(f"{layer}: offsets has to be a 1D Tensor, got shape "
                             f"{list(offsets.shape)}")
        bounds = _bag_bounds(_indices(offsets, layer, "offsets", weight), idx.size,
                             include_last_offset, layer)
    else:
        raise ValueError(f"{layer}: input has to be 1D or 2D Tensor, but got Tensor of "
                         f"dimension {input.ndim}")
    if mode not in _MODES:
        raise ValueError(f"{layer}: mode has to be one of sum, mean or max, got {mode!r}")
    if mode == "max" and scale_grad_by_freq:
        raise ValueError(f"{layer}: max mode does not support scaling the gradient by the "
                         "frequency")
    if per_sample_weights is not None and mode != "sum":
        raise ValueError(f"{layer}: per_sample_weights was not None. per_sample_weights is only "
                         f"supported for mode='sum' (got mode='{mode}')")
    _check_range(idx, weight.shape[0], layer)
    padding_idx = _padding_index(padding_idx, weight.shape[0], layer)
    if max_norm is not None:
        _renorm(weight, idx, max_norm, norm_type, layer)
    return _EmbeddingBag.apply(weight, per_sample_weights, idx, bounds, _MODES[mode],
                               padding_idx, bool(scale_grad_by_freq))


def _bag_bounds(offsets, n, include_last_offset, layer):
    """Bag b is input[bounds[b]:bounds[b+1]]; without include_last_offset the last bag runs
    to the end of the input."""
    if offsets.size == 0:
        return np.zeros(1, np.int64)
    if offsets[0] != 0:
        raise RuntimeError(f"{layer}: offsets[0] has to be 0, i.e., the first sequence in the "
                           f"mini-batch has to start from position 0. However, got "
                           f"{offsets[0]}")
    if offsets[-1] > n:
        raise RuntimeError(f"{layer}: offsets[-1] can not be greater than input's length {n} "
                           f"but got offsets[-1] of {offsets[-1]}")
    drops = np.flatnonzero(np.diff(offsets) < 0)
    if drops.size:
        i = drops[0]
        raise RuntimeError(f"{layer}: offsets must be non-decreasing, but offsets[{i + 1}] = "
                           f"{offsets[i + 1]} < offsets[{i}] = {offsets[i]}")
    if include_last_offset:
        return offsets
    return np.append(offsets, n).astype(np.int64)


# ---------------------------------------------------------------- one_hot
def one_hot(tensor, num_classes=-1):
    _k, xp = kernels("sparse", tensor._data)
    if tensor.dtype.name != "int64":
        raise RuntimeError(f"one_hot is only applicable to index tensor of type LongTensor, "
                           f"got {tensor.dtype}")
    idx = tensor._data.reshape(-1)
    if num_classes == -1:
        if idx.size == 0:
            raise RuntimeError("one_hot: Can not infer total number of classes from empty "
                               "tensor; pass num_classes")
        num_classes = int(idx.max()) + 1
    if idx.size and idx.min() < 0:
        raise RuntimeError(f"one_hot: Class values must be non-negative, got {int(idx.min())}")
    if idx.size and idx.max() >= num_classes:
        raise RuntimeError(f"one_hot: Class values must be smaller than num_classes "
                           f"({num_classes}), got {int(idx.max())}")
    out = xp.zeros((idx.size, num_classes), np.int64)
    _k.one_hot(xp.ascontiguousarray(idx), out)
    return Tensor._wrap(out.reshape(tuple(tensor.shape) + (num_classes,)))


__all__ = family_names(__name__)
