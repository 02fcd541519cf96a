"""Argument checks shared by the op families: what PyTorch rejects is rejected here,
before numpy sees it, with PyTorch's message (numpy would wrap negative indices
or broadcast silently where PyTorch raises)."""

from .._lazy import np
from ..tensor import Tensor


def as_tensor_arg(x, like=None):
    """``x`` as a Tensor: a Python number becomes a 0-d tensor of ``like``'s dtype."""
    if isinstance(x, Tensor):
        return x
    dtype = like._data.dtype if like is not None and like.dtype.is_floating_point else None
    return Tensor._wrap(np.asarray(x, dtype))


def index_array(index, what):
    """The int64 array of an index tensor, or a clear error for a non-integer one."""
    if not isinstance(index, Tensor):
        raise TypeError(f"{what}(): index must be a Tensor, not {type(index).__name__}")
    if index._data.dtype.kind not in "iu":
        raise RuntimeError(f"{what}(): Expected dtype int32 or int64 for index")
    return index._data.astype(np.int64, copy=False)


def check_bounds(index, size, dim):
    """Every entry of ``index`` addresses one of ``size`` entries along ``dim``."""
    if index.size:
        bad = index[(index < 0) | (index >= size)]
        if bad.size:
            raise RuntimeError(
                f"index {int(bad.flat[0])} is out of bounds for dimension {dim} with size {size}")


def along(dim, ndim, index):
    """An advanced-indexing key that addresses, for every position ``p`` of ``index``,
    the element ``p`` with coordinate ``dim`` replaced by ``index[p]`` (gather/scatter)."""
    key = list(np.indices(index.shape, sparse=True))
    key[dim] = index
    return tuple(key)


def check_index_shape(what, dim, index, input, src=None):
    """gather/scatter: index has input's ndim and is no larger than input (apart from
    ``dim``) and than src (everywhere)."""
    if index.ndim != input.ndim and index.size:
        raise RuntimeError(
            "Index tensor must have the same number of dimensions as input tensor")
    for d in range(index.ndim if index.size else 0):
        too_big = (d != dim and index.shape[d] > input.shape[d]) or (
            src is not None and index.shape[d] > src.shape[d])
        if too_big:
            against = f" and to be no larger size than src {list(src.shape)}" if src is not None \
                else ""
            raise RuntimeError(
                f"{what}: Expected index {list(index.shape)} to be no larger than self "
                f"{list(input.shape)} apart from dimension {dim}{against}")
