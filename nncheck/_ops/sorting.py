"""Order statistics: sort/argsort/topk/kthvalue/median/mode, unique,
searchsorted/bucketize.

The positions are found in numpy; the values are then gathered from the input
with ``Gather``, so their gradient flows back to the positions they came from.
"""

from collections import namedtuple

from .._lazy import np
from ..tensor import Tensor, ValuesIndices
from .indexing import Gather

SortResult = namedtuple("sort", ["values", "indices"])


def _stable_argsort(a, axis, descending):
    """Positions that sort ``a`` along ``axis``; ties keep their order (PyTorch's
    ``stable=True``, and what its CPU sort does)."""
    if not descending:
        return np.argsort(a, axis=axis, kind="stable")
    # ascending-stable on the reversed axis, reversed back: descending, ties in input order
    n = a.shape[axis]
    order = np.argsort(np.flip(a, axis), axis=axis, kind="stable")
    return n - 1 - np.flip(order, axis)


def _along(input, dim, positions, keepdim=True):
    """(values, indices) at ``positions`` (int array, input's ndim) along ``dim``."""
    values = Gather.apply(input, dim, positions)
    indices = Tensor._wrap(positions.astype(np.int64))
    if not keepdim:
        values, indices = values.squeeze(dim), indices.squeeze(dim)
    return values, indices


def _vector_if_scalar(fn):
    """Run a dim-wise op on a 0-d tensor as on a 1-element vector (as PyTorch does)."""
    def wrapper(input, *args, **kwargs):
        if input.ndim:
            return fn(input, *args, **kwargs)
        result = fn(input.reshape(1), *args, **kwargs)
        return type(result)(*(t.reshape(()) for t in result))

    wrapper.__name__, wrapper.__doc__ = fn.__name__, fn.__doc__
    return wrapper


@_vector_if_scalar
def sort(input, dim=-1, descending=False, stable=False):
    d = input._dim(dim)
    return SortResult(*_along(input, d, _stable_argsort(input._data, d, descending)))


def argsort(input, dim=-1, descending=False, stable=False):
    if input.ndim == 0:
        return Tensor._wrap(np.zeros((), np.int64))
    d = input._dim(dim)
    return Tensor._wrap(_stable_argsort(input._data, d, descending).astype(np.int64))


def msort(input):
    return sort(input, 0).values


TopkResult = namedtuple("topk", ["values", "indices"])


@_vector_if_scalar
def topk(input, k, dim=-1, largest=True, sorted=True):
    d = input._dim(dim)
    if not 0 <= k <= input.shape[d]:
        raise RuntimeError(f"selected index k out of range (k={k}, dimension {d} has size "
                           f"{input.shape[d]})")
    a = input._data
    n = a.shape[d]
    if 0 < k < n // 2:
        # pick the k (argpartition, linear time), then order only those; the picked are
        # kept in input order first, so that equal values come out as a stable sort's
        kth, first = (n - k, n - k) if largest else (k - 1, 0)
        chosen = np.take(np.argpartition(a, kth, axis=d), np.arange(first, first + k), d)
        chosen = np.sort(chosen, axis=d)
        order = np.take_along_axis(
            chosen, _stable_argsort(np.take_along_axis(a, chosen, d), d, largest), d)
        return TopkResult(*_along(input, d, order))
    order = _stable_argsort(a, d, descending=largest)
    return TopkResult(*_along(input, d, np.take(order, np.arange(k), axis=d)))


def _kth(input, k, dim, keepdim, what):
    """The k-th smallest (1-based) along ``dim`` and its position."""
    d = input._dim(dim)
    n = input.shape[d] if input.ndim else 1
    if not 1 <= k <= n:
        raise RuntimeError(f"{what}(): selected number k out of range for dimension {d} "
                         f"(k={k}, size {n})")
    if input.ndim == 0:
        return ValuesIndices(input.clone(), Tensor._wrap(np.zeros((), np.int64)))
    order = _stable_argsort(input._data, d, descending=False)
    return ValuesIndices(*_along(input, d, np.take(order, [k - 1], axis=d), keepdim))


def kthvalue(input, k, dim=-1, keepdim=False):
    return _kth(input, k, dim, keepdim, "kthvalue")


def median(input, dim=None, keepdim=False):
    """The lower of the two middle values for an even count (PyTorch's median)."""
    if dim is None:
        if input.numel() == 0:
            return Tensor._wrap(np.asarray(np.nan, input._data.dtype))
        return _kth(input.reshape(-1), (input.numel() + 1) // 2, 0, False, "median").values
    n = input.shape[input._dim(dim)] if input.ndim else 1
    return _kth(input, (n + 1) // 2, dim, keepdim, "median")


def mode(input, dim=-1, keepdim=False):
    """The most frequent value along ``dim`` (the smallest among equally frequent ones)
    and the last position where it occurs."""
    if input.ndim == 0:
        return ValuesIndices(input.clone(), Tensor._wrap(np.zeros((), np.int64)))
    d = input._dim(dim)
    a = np.moveaxis(input._data, d, -1)
    rows = a.reshape(-1, a.shape[-1])
    positions = np.empty(len(rows), np.int64)
    for r, row in enumerate(rows):
        values, counts = np.unique(row, return_counts=True)
        winner = values[np.argmax(counts)]  # np.unique sorts: the first maximum is smallest
        positions[r] = np.flatnonzero(row == winner)[-1]
    positions = np.moveaxis(positions.reshape(a.shape[:-1] + (1,)), -1, d)
    return ValuesIndices(*_along(input, d, positions, keepdim))


# --------------------------------------------------------------------------- unique
def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """Distinct values (sorted, as PyTorch's CPU unique always is), or distinct slices
    along ``dim``; not differentiable."""
    a = input._data
    if dim is not None:
        d = input._dim(dim)
        values, inverse, counts = np.unique(a, return_inverse=True, return_counts=True, axis=d)
    else:
        values, inverse, counts = np.unique(a, return_inverse=True, return_counts=True)
        inverse = inverse.reshape(a.shape)
    out = [Tensor._wrap(values)]
    if return_inverse:
        out.append(Tensor._wrap(inverse.reshape(-1).astype(np.int64) if dim is not None
                                else inverse.astype(np.int64)))
    if return_counts:
        out.append(Tensor._wrap(counts.astype(np.int64)))
    return out[0] if len(out) == 1 else tuple(out)


def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):
    if dim is not None:
        raise NotImplementedError("unique_consecutive(dim=...) is not provided by nncheck")
    flat = input._data.reshape(-1)
    starts = np.flatnonzero(np.concatenate([[True], flat[1:] != flat[:-1]])) if flat.size \
        else np.zeros(0, np.int64)
    out = [Tensor._wrap(flat[starts])]
    if return_inverse:
        out.append(Tensor._wrap((np.cumsum(np.isin(np.arange(flat.size), starts)) - 1)
                                .astype(np.int64).reshape(input.shape)))
    if return_counts:
        out.append(Tensor._wrap(np.diff(np.append(starts, flat.size)).astype(np.int64)))
    return out[0] if len(out) == 1 else tuple(out)


# --------------------------------------------------------------------------- binary search
def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None,
                 sorter=None):
    """Insertion positions of ``input`` in the innermost dimension of ``sorted_sequence``
    (1-D, or with the same leading dimensions as ``input``)."""
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"torch.searchsorted(): side can only be 'left' or 'right' but "
                               f"got {side!r}")
        if right and side == "left":
            raise RuntimeError("torch.searchsorted(): side and right can't be set to opposites")
        right = side == "right"
    seq = sorted_sequence._data
    if sorter is not None:
        seq = np.take_along_axis(seq, sorter._data, axis=-1)
    values = input._data if isinstance(input, Tensor) else np.asarray(input)
    how = "right" if right else "left"
    if seq.ndim <= 1:
        out = np.searchsorted(seq, values, side=how)
    else:
        if seq.shape[:-1] != values.shape[:-1]:
            raise RuntimeError(
                "torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 "
                "dimensions of boundaries tensor and input value tensor must match, but we got "
                f"boundaries tensor {list(seq.shape)} and input value tensor "
                f"{list(values.shape)}")
        rows, vals = seq.reshape(-1, seq.shape[-1]), values.reshape(-1, values.shape[-1])
        out = np.stack([np.searchsorted(r, v, side=how) for r, v in zip(rows, vals)])
        out = out.reshape(values.shape)
    return Tensor._wrap(np.asarray(out, np.int32 if out_int32 else np.int64))


def bucketize(input, boundaries, *, out_int32=False, right=False):
    """The bucket of each value: ``boundaries[i-1] < x <= boundaries[i]`` (``right``:
    ``boundaries[i-1] <= x < boundaries[i]``)."""
    if boundaries.ndim != 1:
        raise RuntimeError(f"boundaries tensor must be 1 dimension, but got dim("
                           f"{boundaries.ndim})")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


def isin(elements, test_elements, *, assume_unique=False, invert=False):
    a = elements._data if isinstance(elements, Tensor) else np.asarray(elements)
    b = test_elements._data if isinstance(test_elements, Tensor) else np.asarray(test_elements)
    return Tensor._wrap(np.asarray(np.isin(a, b, invert=invert)))


__all__ = ["sort", "argsort", "msort", "topk", "kthvalue", "median", "mode", "unique",
           "unique_consecutive", "searchsorted", "bucketize", "isin"]
