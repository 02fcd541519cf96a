"""Indexing along a dimension: gather/scatter, index_select/index_add/index_copy,
masked_select/masked_scatter, nonzero, take.

Every index is checked against the size it addresses before numpy sees it
(numpy would wrap a negative index where PyTorch raises).
"""

from .._lazy import np
from ..ops import IndexPut, Op, sum_to_shape
from ..tensor import Tensor, _raw
from ._common import along, as_tensor_arg, check_bounds, check_index_shape, index_array


# --------------------------------------------------------------------------- gather / scatter
class Gather(Op):
    @staticmethod
    def forward(ctx, a, dim, index):
        ctx.shape, ctx.key = a.shape, along(dim, a.ndim, index)
        return a[ctx.key]

    @staticmethod
    def backward(ctx, g):
        out = np.zeros_like(g, shape=ctx.shape)
        np.add.at(out, ctx.key, g)
        return out, None, None


class Scatter(Op):
    """``out = a; out[index along dim] = src`` (``accumulate``: ``+= src``); ``src`` is an
    array at least as large as ``index`` or a number."""

    @staticmethod
    def forward(ctx, a, src, dim, index, accumulate):
        ctx.key, ctx.accumulate = along(dim, a.ndim, index), accumulate
        ctx.src_shape = np.shape(src)
        ctx.part = tuple(slice(0, n) for n in index.shape)  # the part of src that is used
        values = src[ctx.part] if ctx.src_shape else src
        out = a.copy()
        if accumulate:
            np.add.at(out, ctx.key, values)
        else:
            out[ctx.key] = values
        return out

    @staticmethod
    def backward(ctx, g):
        ga = gsrc = None
        if ctx.needs_input_grad[0]:
            ga = g.copy()
            if not ctx.accumulate:
                ga[ctx.key] = 0
        if ctx.needs_input_grad[1]:
            gsrc = np.zeros(ctx.src_shape, g.dtype)
            gsrc[ctx.part] = g[ctx.key]
        return ga, gsrc


def gather(input, dim, index, *, sparse_grad=False):
    d = input._dim(dim)
    idx = index_array(index, "gather")
    if input.ndim == 0:  # a 0-d tensor gathers as a 1-element vector
        return gather(input.reshape(1), 0, index.reshape(-1)).reshape(idx.shape)
    check_index_shape("gather", d, idx, input)
    check_bounds(idx, input.shape[d], d)
    return Gather.apply(input, d, idx)


def _scatter(input, dim, index, src, accumulate, what):
    d = input._dim(dim)
    idx = index_array(index, what)
    src = src if isinstance(src, Tensor) else _raw(src)
    check_index_shape(what, d, idx, input, src if isinstance(src, Tensor) else None)
    check_bounds(idx, input.shape[d] if input.ndim else 1, d)
    if isinstance(src, Tensor) and src.dtype is not input.dtype:
        raise RuntimeError(f"{what}(): Expected self.dtype to be equal to src.dtype")
    return Scatter.apply(input, src, d, idx, accumulate)


def scatter(input, dim, index, src=None, value=None, *, reduce=None):
    if src is None:
        src = value
    if src is None:
        raise TypeError("scatter() missing 1 required argument: 'src' or 'value'")
    if reduce not in (None, "add"):
        raise RuntimeError(f"scatter(): reduce={reduce!r} is not provided by nncheck; use "
                           "scatter_reduce")
    return _scatter(input, dim, index, src, reduce == "add", "scatter")


def scatter_add(input, dim, index, src):
    return _scatter(input, dim, index, src, True, "scatter_add")


def scatter_(self, dim, index, src=None, value=None, *, reduce=None):
    return self._apply_inplace(lambda s: scatter(s, dim, index, src, value, reduce=reduce))


def scatter_add_(self, dim, index, src):
    return self._apply_inplace(lambda s: scatter_add(s, dim, index, src))


# --------------------------------------------------------------------------- index_*
class IndexSelect(Op):
    @staticmethod
    def forward(ctx, a, dim, index):
        ctx.shape, ctx.key = a.shape, (slice(None),) * dim + (index,)
        return np.take(a, index, axis=dim)

    @staticmethod
    def backward(ctx, g):
        out = np.zeros_like(g, shape=ctx.shape)
        np.add.at(out, ctx.key, g)
        return out


class IndexAdd(Op):
    """``out = a; out[index along dim] += alpha * src`` (rows of src, repeats add up)."""

    @staticmethod
    def forward(ctx, a, src, dim, index, alpha):
        ctx.key, ctx.alpha = (slice(None),) * dim + (index,), alpha
        out = a.copy()
        np.add.at(out, ctx.key, src * alpha if alpha != 1 else src)
        return out

    @staticmethod
    def backward(ctx, g):
        gsrc = g[ctx.key] * ctx.alpha if ctx.needs_input_grad[1] else None
        return g, gsrc


class IndexCopy(Op):
    """``out = a; out[index along dim] = src`` (a tensor of rows, or a number to fill)."""

    @staticmethod
    def forward(ctx, a, src, dim, index):
        ctx.key = (slice(None),) * dim + (index,)
        out = a.copy()
        out[ctx.key] = src
        return out

    @staticmethod
    def backward(ctx, g):
        ga = g.copy()
        ga[ctx.key] = 0
        return ga, (np.ascontiguousarray(g[ctx.key]) if ctx.needs_input_grad[1] else None)


def _index_1d(input, dim, index, what, error=IndexError):
    """The dimension and the checked 1-D index of index_select/index_add/...; ``error`` is
    the exception PyTorch raises for an index out of range in that function."""
    d = input._dim(dim)
    idx = index_array(index, what)
    if idx.ndim > 1:
        raise IndexError(f"{what}(): Index is supposed to be a vector")
    idx = idx.reshape(-1)
    size = input.shape[d] if input.ndim else 1
    if idx.size and (idx.min() < 0 or idx.max() >= size):
        raise error(f"{what}(): index out of range in self: index "
                    f"{int(idx[(idx < 0) | (idx >= size)][0])} is out of bounds for dimension "
                    f"{d} with size {size}")
    return d, idx


def _rows_like(input, d, idx, source, what):
    expected = tuple(input.shape[:d]) + (len(idx),) + tuple(input.shape[d + 1:])
    if input.ndim and tuple(source.shape) != expected:
        raise RuntimeError(f"{what}(): source has shape {list(source.shape)}, expected "
                           f"{list(expected)} (self's shape with dimension {d} of the index's "
                           "length)")


def index_select(input, dim, index):
    d, idx = _index_1d(input, dim, index, "index_select")
    if input.ndim == 0:
        return input.reshape(idx.shape).clone() if idx.size else input.reshape(0)
    return IndexSelect.apply(input, d, idx)


def index_add(input, dim, index, source, *, alpha=1):
    d, idx = _index_1d(input, dim, index, "index_add", RuntimeError)
    _rows_like(input, d, idx, source, "index_add")
    return IndexAdd.apply(input, source, d, idx, alpha)


def index_copy(input, dim, index, source):
    d, idx = _index_1d(input, dim, index, "index_copy")
    _rows_like(input, d, idx, source, "index_copy")
    return IndexCopy.apply(input, source, d, idx)


def index_fill(input, dim, index, value):
    d, idx = _index_1d(input, dim, index, "index_fill")
    return IndexCopy.apply(input, _raw(value), d, idx)


def index_add_(self, dim, index, source, *, alpha=1):
    return self._apply_inplace(lambda s: index_add(s, dim, index, source, alpha=alpha))


def index_copy_(self, dim, index, source):
    return self._apply_inplace(lambda s: index_copy(s, dim, index, source))


def index_fill_(self, dim, index, value):
    return self._apply_inplace(lambda s: index_fill(s, dim, index, value))


# --------------------------------------------------------------------------- masks
class MaskedSelect(Op):
    @staticmethod
    def forward(ctx, a, mask):
        shape = np.broadcast_shapes(a.shape, mask.shape)
        ctx.shape, ctx.a_shape = shape, a.shape
        ctx.mask = np.broadcast_to(mask, shape)
        return np.broadcast_to(a, shape)[ctx.mask]

    @staticmethod
    def backward(ctx, g):
        out = np.zeros_like(g, shape=ctx.shape)
        out[ctx.mask] = g
        return sum_to_shape(out, ctx.a_shape), None


class MaskedScatter(Op):
    """``out = a; out[mask] = the first mask.sum() elements of source``."""

    @staticmethod
    def forward(ctx, a, source, mask):
        ctx.mask, ctx.src_shape = mask, source.shape
        ctx.count = int(mask.sum())
        out = a.copy()
        out[mask] = source.reshape(-1)[:ctx.count]
        return out

    @staticmethod
    def backward(ctx, g):
        ga = g.copy()
        ga[ctx.mask] = 0
        gsrc = np.zeros(int(np.prod(ctx.src_shape)), g.dtype)
        gsrc[:ctx.count] = g[ctx.mask]
        return ga, gsrc.reshape(ctx.src_shape)


def _bool_mask(mask, what):
    if not isinstance(mask, Tensor) or mask._data.dtype != np.bool_:
        raise RuntimeError(f"{what}: expected BoolTensor for mask")
    return mask._data


def _broadcast_error(a, b):
    for i in range(1, min(len(a), len(b)) + 1):
        if a[-i] != b[-i] and 1 not in (a[-i], b[-i]):
            return RuntimeError(f"The size of tensor a ({a[-i]}) must match the size of tensor b "
                                f"({b[-i]}) at non-singleton dimension {max(len(a), len(b)) - i}")
    return None


def masked_select(input, mask):
    m = _bool_mask(mask, "masked_select")
    error = _broadcast_error(tuple(input.shape), m.shape)
    if error:
        raise error
    return MaskedSelect.apply(input, m)


def masked_scatter(input, mask, source):
    m = _bool_mask(mask, "masked_scatter")
    if np.broadcast_shapes(m.shape, tuple(input.shape)) != tuple(input.shape):
        raise RuntimeError(f"masked_scatter: mask of shape {list(m.shape)} does not broadcast to "
                           f"self's shape {list(input.shape)}")
    m = np.broadcast_to(m, input.shape)
    if int(m.sum()) > source.numel():
        raise RuntimeError(f"masked_scatter: expected source to have at least {int(m.sum())} "
                           f"elements (the number of True in mask), got {source.numel()}")
    return MaskedScatter.apply(input, source, m)


def masked_scatter_(self, mask, source):
    return self._apply_inplace(lambda s: masked_scatter(s, mask, source))


# --------------------------------------------------------------------------- positions
def nonzero(input, *, as_tuple=False):
    positions = np.argwhere(input._data).astype(np.int64)
    if as_tuple:
        columns = positions.T if input.ndim else positions.reshape(1, -1)
        return tuple(Tensor._wrap(np.ascontiguousarray(c)) for c in columns)
    return Tensor._wrap(positions)


def argwhere(input):
    return nonzero(input)


def count_nonzero(input, dim=None):
    axes = None if dim is None else tuple(input._dim(d) for d in
                                          (dim if isinstance(dim, (tuple, list)) else (dim,)))
    return Tensor._wrap(np.asarray(np.count_nonzero(input._data, axis=axes), np.int64))


def take(input, index):
    """Elements of the flattened input at ``index`` (negative counts from the end)."""
    idx = index_array(index, "take")
    n = input.numel()
    if idx.size and (idx.min() < -n or idx.max() >= n):
        bad = idx[(idx < -n) | (idx >= n)][0]
        raise IndexError(f"take(): index {int(bad)} out of range for tensor of size "
                         f"{list(input.shape)}.")
    flat = input.reshape(-1)
    return gather(flat, 0, as_tensor_arg(np.where(idx < 0, idx + n, idx).reshape(-1))
                  ).reshape(idx.shape)


def take_along_dim(input, indices, dim=None):
    """gather with broadcasting between input and indices (all but ``dim``)."""
    if dim is None:
        return take(input, indices.reshape(-1))
    d = input._dim(dim)
    if indices.ndim != input.ndim:
        raise RuntimeError("torch.take_along_dim(): input and indices should have the same "
                           f"number of dimensions, but got {input.ndim} dimensions for input, "
                           f"and {indices.ndim} dimensions for indices")
    shape = list(np.broadcast_shapes(
        tuple(1 if i == d else s for i, s in enumerate(input.shape)),
        tuple(1 if i == d else s for i, s in enumerate(indices.shape))))
    in_shape, idx_shape = list(shape), list(shape)
    in_shape[d], idx_shape[d] = input.shape[d], indices.shape[d]
    return gather(input.expand(in_shape), d, indices.expand(idx_shape))


# --------------------------------------------------------------------------- reduce / put
class ScatterReduce(Op):
    """``out[index along dim] = reduce(self's value (if include_self), src's values...)``
    for reduce in sum, prod, mean, amax, amin."""

    @staticmethod
    def forward(ctx, a, src, dim, index, reduce, include_self):
        key = along(dim, a.ndim, index)
        values = src[tuple(slice(0, n) for n in index.shape)]
        hit = np.zeros(a.shape, bool)
        hit[key] = True
        count = np.zeros(a.shape, np.int64)
        np.add.at(count, key, 1)
        if include_self:
            count += hit
        out = a.copy()
        if not include_self:  # start each reduced position from the reduction's identity
            start = {"sum": 0, "mean": 0, "prod": 1, "amax": -np.inf, "amin": np.inf}[reduce]
            out[hit] = start
        ufunc = {"sum": np.add, "mean": np.add, "prod": np.multiply, "amax": np.maximum,
                 "amin": np.minimum}[reduce]
        ufunc.at(out, key, values)
        if reduce == "mean":
            out = np.where(hit, out / np.maximum(count, 1), out).astype(a.dtype)
        ctx.key, ctx.reduce, ctx.include_self, ctx.hit, ctx.count = \
            key, reduce, include_self, hit, count
        ctx.src_shape, ctx.part = src.shape, tuple(slice(0, n) for n in index.shape)
        ctx.save_for_backward(a, values, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, values, out = ctx.saved_tensors
        key, hit = ctx.key, ctx.hit
        if ctx.reduce == "sum":
            ga, gv = g * (~hit | ctx.include_self), g[key]
        elif ctx.reduce == "mean":
            share = g / np.maximum(ctx.count, 1)
            ga, gv = np.where(hit, share * ctx.include_self, g), share[key]
        elif ctx.reduce == "prod":
            if (values == 0).any() or (ctx.include_self and (a[hit] == 0).any()):
                raise NotImplementedError("the gradient of scatter_reduce(reduce='prod') with "
                                          "a zero among the reduced values is not provided "
                                          "by nncheck")
            ga = np.where(hit, g * out / np.where(hit, a, 1) * ctx.include_self, g)
            gv = g[key] * out[key] / values
        else:  # amax/amin: shared evenly among the values equal to the result
            ties = np.zeros(a.shape, np.int64)
            np.add.at(ties, key, values == out[key])
            self_wins = hit & (a == out) & ctx.include_self
            ties += self_wins
            share = g / np.maximum(ties, 1)
            ga = np.where(hit, share * self_wins, g)
            gv = share[key] * (values == out[key])
        gsrc = np.zeros(ctx.src_shape, g.dtype)
        gsrc[ctx.part] = gv
        return ga, gsrc


_REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")


def scatter_reduce(input, dim, index, src, reduce, *, include_self=True):
    if reduce not in _REDUCTIONS:
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got "
                           f"{reduce}")
    d = input._dim(dim)
    idx = index_array(index, "scatter_reduce")
    check_index_shape("scatter_reduce", d, idx, input, src)
    check_bounds(idx, input.shape[d] if input.ndim else 1, d)
    return ScatterReduce.apply(input, src, d, idx, reduce, include_self)


class IndexPutAccumulate(Op):
    """``out = a; out[key] += values`` (repeated positions add up)."""

    @staticmethod
    def forward(ctx, a, values, key):
        ctx.key, ctx.vshape = key, np.shape(values)
        out = a.copy()
        np.add.at(out, key, np.broadcast_to(values, a[key].shape))
        return out

    @staticmethod
    def backward(ctx, g):
        return g, sum_to_shape(np.ascontiguousarray(g[ctx.key]), ctx.vshape)


def index_put(input, indices, values, accumulate=False):
    """``input[indices] = values`` (``+=`` with accumulate) out of place; ``indices`` is a
    tuple of index tensors (or None for a whole dimension)."""
    if len(indices) > input.ndim:
        raise IndexError(f"too many indices for tensor of dimension {input.ndim} (got "
                         f"{len(indices)})")
    key = []
    for d, index in enumerate(indices):
        if index is None:
            key.append(slice(None))
            continue
        idx = index._data
        if idx.dtype != np.bool_:
            idx = index_array(index, "index_put")
            n = input.shape[d]
            if idx.size and (idx.min() < -n or idx.max() >= n):
                raise IndexError(f"index {int(idx[(idx < -n) | (idx >= n)][0])} is out of "
                                 f"bounds for dimension {d} with size {n}")
        key.append(idx)
    key = tuple(key)
    values = as_tensor_arg(values, input)
    return (IndexPutAccumulate if accumulate else IndexPut).apply(input, values, key)


def put(input, index, source, accumulate=False):
    """index_put on the flattened input (negative indices count from the end)."""
    flat_index = index.reshape(-1)
    return index_put(input.reshape(-1), (flat_index,), source.reshape(-1),
                     accumulate).reshape(input.shape)


# --------------------------------------------------------------------------- *_scatter
def _embed(input, src, key, what):
    """``input`` with ``src`` written at ``key`` (out of place, differentiable in both)."""
    if tuple(np.empty(input.shape, bool)[key].shape) != tuple(src.shape):
        raise RuntimeError(f"{what}(): expected src to have a size equal to the slice of self. "
                           f"src size = {list(src.shape)}, slice size = "
                           f"{list(np.empty(input.shape, bool)[key].shape)}")
    return IndexPut.apply(input, src, key)


def select_scatter(input, src, dim, index):
    d = input._dim(dim)
    n = input.shape[d]
    if not -n <= index < n:
        raise IndexError(f"select_scatter(): index {index} out of range for tensor of size "
                         f"{list(input.shape)} at dimension {d}")
    return _embed(input, src, (slice(None),) * d + (index,), "select_scatter")


def slice_scatter(input, src, dim=0, start=None, end=None, step=1):
    d = input._dim(dim)
    return _embed(input, src, (slice(None),) * d + (slice(start, end, step),), "slice_scatter")


def diagonal_scatter(input, src, offset=0, dim1=0, dim2=1):
    from .linalg import _diagonal_key

    d1, d2 = input._dim(dim1), input._dim(dim2)
    return _embed(input, src, _diagonal_key(tuple(input.shape), offset, d1, d2),
                  "diagonal_scatter")


def index_reduce(input, dim, index, source, reduce, *, include_self=True):
    """scatter_reduce with one index per slice of ``source`` along ``dim``."""
    if reduce not in ("prod", "mean", "amax", "amin"):
        raise RuntimeError(f"index_reduce(): Expected reduce to be one of prod, mean, amax or "
                           f"amin but got {reduce}.")
    d, idx = _index_1d(input, dim, index, "index_reduce")
    _rows_like(input, d, idx, source, "index_reduce")
    shape = [1] * source.ndim
    shape[d] = len(idx)
    expanded = np.broadcast_to(idx.reshape(shape), source.shape)
    return scatter_reduce(input, d, Tensor._wrap(np.ascontiguousarray(expanded)), source,
                          reduce, include_self=include_self)


def nonzero_static(input, *, size, fill_value=-1):
    """nonzero padded with ``fill_value`` (or cut) to exactly ``size`` rows."""
    positions = np.argwhere(input._data).astype(np.int64)[:size]
    out = np.full((size, input.ndim), fill_value, np.int64)
    out[:len(positions)] = positions
    return Tensor._wrap(out)


def unravel_index(indices, shape):
    flat = index_array(as_tensor_arg(indices), "unravel_index")
    total = int(np.prod(shape))
    if flat.size and (flat.min() < -total or flat.max() >= total):
        raise RuntimeError("unravel_index: index out of bounds of the shape")
    flat = np.where(flat < 0, flat + total, flat)
    return tuple(Tensor._wrap(np.asarray(c, np.int64)) for c in np.unravel_index(flat, shape))
