"""Rearranging elements: roll/flip/rot90, repeat_interleave/tile, broadcast_to/
broadcast_tensors/meshgrid, unfold, sum_to_size, movedim/select, the *stack and
*split families, atleast_Nd."""

import builtins

from .. import _dtype as dt
from .._lazy import np
from ..ops import Op, sum_to_shape
from ..tensor import Tensor, _sizes, cat, stack
from .indexing import IndexSelect


def _dims(input, dims):
    dims = dims if isinstance(dims, (tuple, list)) else (dims,)
    return tuple(input._dim(d) for d in dims)


class Roll(Op):
    @staticmethod
    def forward(ctx, a, shifts, axes):
        ctx.shifts, ctx.axes = shifts, axes
        return np.roll(a, shifts, axes)

    @staticmethod
    def backward(ctx, g):
        return np.roll(g, tuple(-s for s in ctx.shifts), ctx.axes)


def roll(input, shifts, dims=None):
    shifts = tuple(shifts) if isinstance(shifts, (tuple, list)) else (shifts,)
    if dims is None:
        if len(shifts) != 1:
            raise RuntimeError(f"roll(): shifts and dims must align. shifts: {len(shifts)}, "
                               "dims: 0")
        return Roll.apply(input.reshape(-1), shifts, (0,)).reshape(input.shape)
    axes = _dims(input, dims)
    if len(shifts) != len(axes):
        raise RuntimeError(f"roll(): shifts and dims must align. shifts: {len(shifts)}, "
                           f"dims:{len(axes)}")
    return Roll.apply(input, tuple(builtins.int(s) for s in shifts), axes)


class Flip(Op):
    @staticmethod
    def forward(ctx, a, axes):
        ctx.axes = axes
        return np.flip(a, axes).copy()

    @staticmethod
    def backward(ctx, g):
        return np.flip(g, ctx.axes)


def flip(input, *args, dims=None):
    """``flip(x, dims)``, ``x.flip(*dims)`` or ``x.flip(dims=...)``."""
    dims = _sizes(args) if dims is None else _sizes((dims,))
    axes = _dims(input, dims) if input.ndim else ()
    if len(set(axes)) != len(axes):
        raise RuntimeError("flip(): dims has duplicates")
    return Flip.apply(input, axes)


def fliplr(input):
    if input.ndim < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return flip(input, 1)


def flipud(input):
    if input.ndim < 1:
        raise RuntimeError("Input must be >= 1-d.")
    return flip(input, 0)


def rot90(input, k=1, dims=(0, 1)):
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    d0, d1 = _dims(input, dims)
    if d0 == d1:
        raise RuntimeError(f"expected rotation dims to be different, but got dim0 = {d0} and "
                           f"dim1 = {d1}")
    k %= 4
    if k == 1:
        return flip(input, d1).transpose(d0, d1)
    if k == 2:
        return flip(input, d0, d1)
    if k == 3:
        return flip(input, d0).transpose(d0, d1)
    return input.clone()


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    if repeats is None:  # repeat_interleave(repeats): each index i repeated repeats[i] times
        counts = input._data.astype(np.int64)
        return Tensor._wrap(np.repeat(np.arange(counts.size, dtype=np.int64), counts))
    x = input.reshape(-1) if dim is None else input
    d = 0 if dim is None else x._dim(dim)
    counts = repeats._data.astype(np.int64) if isinstance(repeats, Tensor) else \
        np.asarray(repeats, np.int64)
    size = x.shape[d] if x.ndim else 1
    if counts.ndim > 1 or counts.size not in (1, size):
        raise RuntimeError(f"repeats must have the same size as input along dim, but got "
                           f"repeats.size(0) = {counts.size} and input.size({d}) = {size}")
    if counts.size and counts.min() < 0:
        raise RuntimeError("repeats can not be negative")
    if x.ndim == 0:
        x = x.reshape(1)
    index = np.repeat(np.arange(size), np.broadcast_to(counts.reshape(-1), (size,)))
    if output_size is not None and output_size != index.size:
        raise RuntimeError(f"repeat_interleave: output_size {output_size} does not match the "
                           f"total number of repeats {index.size}")
    return IndexSelect.apply(x, d, index)


def tile(input, dims):
    dims = _sizes((dims,))
    return input.repeat((1,) * (input.ndim - len(dims)) + dims)


# --------------------------------------------------------------------------- broadcasting
def broadcast_shapes(*shapes):
    shapes = [(s,) if isinstance(s, builtins.int) else tuple(s) for s in shapes]
    try:
        return dt.Size(np.broadcast_shapes(*shapes))
    except ValueError:
        raise RuntimeError(f"Shape mismatch: objects cannot be broadcast to a single shape: "
                           f"{', '.join(str(list(s)) for s in shapes)}") from None


def broadcast_to(input, size):
    size = _sizes((size,))
    try:
        np.broadcast_shapes(tuple(input.shape), tuple(s if s != -1 else 1 for s in size))
    except ValueError:
        raise RuntimeError(f"The expanded size of the tensor ({list(size)}) must match the "
                           f"existing size ({list(input.shape)}) at non-singleton "
                           "dimensions") from None
    if len(size) < input.ndim or any(
            s not in (-1, n) and n != 1 for s, n in zip(size[len(size) - input.ndim:],
                                                       input.shape)):
        raise RuntimeError(f"The expanded size of the tensor ({list(size)}) must match the "
                           f"existing size ({list(input.shape)}) at non-singleton dimensions")
    return input.expand(size)


def broadcast_tensors(*tensors):
    shape = broadcast_shapes(*(t.shape for t in tensors))
    return tuple(t.expand(shape) for t in tensors)


def meshgrid(*tensors, indexing="ij"):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f"torch.meshgrid: indexing must be one of \"xy\" or \"ij\", but "
                           f"received: {indexing}")
    if any(t.ndim > 1 for t in tensors):
        raise RuntimeError("torch.meshgrid: Expected 0D or 1D tensor in the tensor list")
    vectors = [t.reshape(-1) for t in tensors]
    swap = indexing == "xy" and len(vectors) >= 2
    if swap:  # 'xy' is 'ij' with the first two inputs (and outputs' first two axes) swapped
        vectors[0], vectors[1] = vectors[1], vectors[0]
    shape = [v.shape[0] for v in vectors]
    grids = []
    for i, v in enumerate(vectors):
        view = [1] * len(vectors)
        view[i] = shape[i]
        grids.append(v.reshape(view).expand(shape))
    if swap:
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)


# --------------------------------------------------------------------------- windows and sizes
class Unfold(Op):
    """Windows of ``size`` every ``step`` along ``dim``; the window is the new last axis."""

    @staticmethod
    def forward(ctx, a, dim, size, step):
        ctx.shape, ctx.dim, ctx.size, ctx.step = a.shape, dim, size, step
        windows = np.lib.stride_tricks.sliding_window_view(a, size, axis=dim)
        return np.ascontiguousarray(windows[(slice(None),) * dim + (slice(None, None, step),)])

    @staticmethod
    def backward(ctx, g):
        out = np.zeros_like(g, shape=ctx.shape)
        count = g.shape[ctx.dim]
        for j in range(ctx.size):  # offset j of every window lands at start + j
            key = (slice(None),) * ctx.dim + (slice(j, j + ctx.step * (count - 1) + 1, ctx.step),)
            out[key] += g[..., j]
        return out


def unfold(self, dimension, size, step):
    """``Tensor.unfold``: the sliding windows of ``size`` with stride ``step``."""
    if self.ndim == 0:
        raise RuntimeError("unfold() of a 0-d tensor is not provided by nncheck")
    d = self._dim(dimension)
    if size > self.shape[d]:
        raise RuntimeError(f"maximum size for tensor at dimension {d} is {self.shape[d]} but "
                           f"size is {size}")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    if size < 0:
        raise RuntimeError(f"size is {size} but must be >= 0")
    return Unfold.apply(self, d, size, step)


class SumToSize(Op):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return np.ascontiguousarray(sum_to_shape(a, shape))

    @staticmethod
    def backward(ctx, g):
        return np.ascontiguousarray(np.broadcast_to(g, ctx.shape))


def sum_to_size(self, *size):
    """Sum ``self`` down to ``size``, which must expand to ``self``'s shape."""
    size = _sizes(size)
    lead = self.ndim - len(size)
    if lead < 0 or any(s not in (1, n) for s, n in zip(size, self.shape[lead:])):
        raise RuntimeError(f"size {{{list(size)}}} is not expandable to size "
                           f"{{{list(self.shape)}}}.")
    return SumToSize.apply(self, size)


def storage_offset(self):
    """Elements between the start of the base tensor's storage and this view's first one."""
    if self.is_meta or self._base is None:
        return 0
    start = self._data.__array_interface__["data"][0]
    base = self._base._data.__array_interface__["data"][0]
    return (start - base) // self._data.itemsize


# --------------------------------------------------------------------------- axes
def movedim(input, source, destination):
    src = _dims(input, source)
    dst = _dims(input, destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({list(src)} "
                           f"dims) should contain the same number of dims as destination "
                           f"({list(dst)} dims)")
    order = [d for d in range(input.ndim) if d not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return input.permute(*order)


def select(input, dim, index):
    d = input._dim(dim)
    n = input.shape[d]
    if not -n <= index < n:
        raise IndexError(f"select(): index {index} out of range for tensor of size "
                         f"{list(input.shape)} at dimension {d}")
    return input[(slice(None),) * d + (index,)]


def ravel(input):
    return input.reshape(-1)


# --------------------------------------------------------------------------- stacks and splits
def atleast_1d(*tensors):
    return _atleast(tensors, lambda t: t.reshape(1) if t.ndim == 0 else t)


def atleast_2d(*tensors):
    return _atleast(tensors, lambda t: t.reshape((1,) * (2 - t.ndim) + tuple(t.shape))
                    if t.ndim < 2 else t)


def atleast_3d(*tensors):
    def to_3d(t):
        if t.ndim == 0:
            return t.reshape(1, 1, 1)
        if t.ndim == 1:
            return t.reshape(1, -1, 1)
        return t.unsqueeze(-1) if t.ndim == 2 else t

    return _atleast(tensors, to_3d)


def _atleast(tensors, fn):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        return tuple(fn(t) for t in tensors[0])
    return fn(tensors[0]) if len(tensors) == 1 else tuple(fn(t) for t in tensors)


def hstack(tensors):
    tensors = atleast_1d(list(tensors))
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors):
    return cat(atleast_2d(list(tensors)), 0)


def dstack(tensors):
    return cat(atleast_3d(list(tensors)), 2)


def column_stack(tensors):
    return hstack([t.reshape(-1, 1) if t.ndim <= 1 else t for t in tensors])


def tensor_split(input, indices_or_sections, dim=0):
    d = input._dim(dim)
    size = input.shape[d]
    if isinstance(indices_or_sections, Tensor):
        indices_or_sections = indices_or_sections.tolist()
    if isinstance(indices_or_sections, builtins.int):
        n = indices_or_sections
        if n <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {n}")
        # the first size % n parts get one extra element (numpy.array_split's rule)
        bounds = np.cumsum([0] + [size // n + (i < size % n) for i in range(n)]).tolist()
    else:
        bounds = [0, *indices_or_sections, size]
    return tuple(input.narrow(d, min(a, size), max(min(b, size) - min(a, size), 0))
                 for a, b in zip(bounds[:-1], bounds[1:]))


def _split_at(what, dim, min_ndim):
    def split(input, indices_or_sections):
        if input.ndim < min_ndim:
            raise RuntimeError(f"torch.{what} requires a tensor with at least {min_ndim} "
                               f"dimension, but got a tensor with {input.ndim} dimensions!")
        d = 0 if what == "hsplit" and input.ndim == 1 else dim
        if isinstance(indices_or_sections, builtins.int) and \
                input.shape[d] % indices_or_sections:
            raise RuntimeError(f"torch.{what} attempted to split along dimension {d}, but the "
                               f"size of the dimension {input.shape[d]} is not divisible by "
                               f"the split_size {indices_or_sections}!")
        return tensor_split(input, indices_or_sections, d)

    split.__name__ = what
    return split


hsplit, vsplit, dsplit = _split_at("hsplit", 1, 1), _split_at("vsplit", 0, 2), \
    _split_at("dsplit", 2, 3)


def split_with_sizes(input, split_sizes, dim=0):
    d = input._dim(dim)
    if sum(split_sizes) != input.shape[d]:
        raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to "
                           f"{input.shape[d]} (input tensor's size at dimension {d}), but got "
                           f"split_sizes={list(split_sizes)}")
    return input.split(list(split_sizes), d)


def block_diag(*tensors):
    mats = [t.reshape(1, -1) if t.ndim <= 1 else t for t in tensors]
    if any(m.ndim != 2 for m in mats):
        raise RuntimeError("torch.block_diag: Input tensors must have 2 or fewer dimensions")
    cols = sum(m.shape[1] for m in mats)
    rows, left = [], 0
    for m in mats:
        pad_l, pad_r = left, cols - left - m.shape[1]
        row = [m]
        if pad_l:
            row.insert(0, m.new_zeros(m.shape[0], pad_l))
        if pad_r:
            row.append(m.new_zeros(m.shape[0], pad_r))
        rows.append(cat(row, 1) if len(row) > 1 else m)
        left += m.shape[1]
    return cat(rows, 0)


def cartesian_prod(*tensors):
    grids = meshgrid(*tensors, indexing="ij")
    return grids[0] if len(grids) == 1 else stack([g.reshape(-1) for g in grids], 1)


row_stack = vstack
moveaxis = movedim


def swapdims(input, dim0, dim1):
    return input.transpose(dim0, dim1)


def combinations(input, r=2, with_replacement=False):
    """The r-element combinations of a 1-D tensor's elements, one per row."""
    import itertools

    if input.ndim != 1:
        raise RuntimeError(f"Expect a 1D vector, but got shape {list(input.shape)}")
    if r < 0:
        raise RuntimeError(f"Expect a non-negative number, but got {r}")
    pick = itertools.combinations_with_replacement if with_replacement else \
        itertools.combinations
    rows = np.asarray(list(pick(range(input.shape[0]), r)), np.int64).reshape(-1, r)
    if r == 0:
        return input.new_zeros(0)
    return IndexSelect.apply(input, 0, rows.reshape(-1)).reshape(-1, r)


# --------------------------------------------------------------------------- in place / copies
def _view_in_place(name):
    """``x.<name>_(...)``: x itself takes the new shape (a leaf that requires grad refuses,
    as in PyTorch)."""
    def method(self, *args, **kwargs):
        self._check_writable()
        out = getattr(self, name)(*args, **kwargs)
        self._data = out._data
        if out.requires_grad:
            self.grad_fn, self._output_nr = out.grad_fn, out._output_nr
        return self

    method.__name__ = name + "_"
    return method


squeeze_, unsqueeze_, t_, transpose_, swapaxes_, swapdims_ = (
    _view_in_place(n) for n in ("squeeze", "unsqueeze", "t", "transpose", "swapaxes",
                                "swapdims"))


def slice_view(input, dim=0, start=None, end=None, step=1):
    """``input[..., start:end:step, ...]`` along ``dim`` (what ``torch.slice_copy`` copies)."""
    d = input._dim(dim)
    return input[(slice(None),) * d + (slice(start, end, step),)]


def _copy_of(view):
    """``torch.<view>_copy``: the view op's result in new memory."""
    def function(input, *args, **kwargs):
        out = view(input, *args, **kwargs)
        return tuple(t.clone() for t in out) if isinstance(out, tuple) else out.clone()

    return function


def _method_view(name):
    def view(input, *args, **kwargs):
        return getattr(input, name)(*args, **kwargs)

    return view


_COPIED_VIEWS = ("expand", "permute", "view", "t", "transpose", "squeeze", "unsqueeze",
                 "diagonal", "detach", "select", "split", "split_with_sizes", "unbind",
                 "unfold")
globals().update({f"{name}_copy": _copy_of(_method_view(name)) for name in _COPIED_VIEWS})
slice_copy = _copy_of(slice_view)
alias_copy = _copy_of(lambda input: input)


def constant_pad_nd(input, pad, value=0):
    from ..nn import functional as F

    return F.pad(input, pad, value=value)
