"""Pooling functions (``torch.nn.functional``'s names) on the kernels in ``_kernels/pooling``.

Each function validates its arguments and works out the output size here
(the same rules the layers' ``infer_shape`` use, with explanations), turns
the geometry into per-axis window tables (see the kernel module), and runs
one of a few ``Op``s: window max, window average, LP pooling, unpooling.
"""

import math
import operator

from ..._lazy import family_names, np
from ...autograd.grad_mode import is_grad_enabled
from ...backend import host_array, kernels
from ...ops import Op
from ...random import generator
from ...shapes import ShapeError, note, window_output
from ._validation import kernel_array

_AXES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


class PoolError(ShapeError, RuntimeError):
    """A pooling argument or input shape PyTorch rejects (a RuntimeError there too)."""


# ---------------------------------------------------------------- argument parsing

def _ints(value, n, layer, arg):
    """int -> (v,)*n; a 1-tuple is repeated; an n-tuple is kept (PyTorch's broadcasting lists)."""
    items = tuple(value) if hasattr(value, "__len__") else (value,)
    if len(items) == 1:
        items = items * n
    if len(items) != n:
        raise PoolError(layer, f"{arg} must either be a single int, or a tuple of {n} ints, got "
                               f"{value!r}")
    try:
        return tuple(operator.index(v) for v in items)
    except TypeError:
        raise TypeError(f"{layer}: {arg} must contain ints, got {value!r}") from None


def _stride(stride, kernel, n, layer):
    if stride is None or (isinstance(stride, (tuple, list)) and not stride):
        return kernel
    return _ints(stride, n, layer, "stride")


def _check_input(layer, shape, nd):
    """nd-d pooling takes (C, *spatial) or (N, C, *spatial); only N may be 0."""
    shape = tuple(shape)
    if len(shape) not in (nd + 1, nd + 2) or 0 in shape[len(shape) - nd - 1:]:
        raise PoolError(layer, f"non-empty {nd + 1}D or {nd + 2}D (batch mode) tensor expected "
                               f"for input: (C, {', '.join(_AXES[nd])}) or (N, C, "
                               f"{', '.join(_AXES[nd])}) with non-zero sizes except N, got "
                               f"shape {list(shape)}")
    return shape[:-nd], shape[-nd:]


# ---------------------------------------------------------------- output sizes

def _window_size(layer, axis, size, k, s, p, d, ceil_mode, explain):
    """One axis of a sliding window: checks, then shapes.window_output (floor or ceil)."""
    for arg, value, low in (("kernel_size", k, 1), ("stride", s, 1), ("dilation", d, 1),
                            ("padding", p, 0)):
        if value < low:
            raise PoolError(layer, f"{arg} must be {'positive' if low else 'non-negative'}, "
                                   f"got {arg}={value} along {axis}")
    if p > k // 2:
        raise PoolError(layer, f"pad should be at most half of effective kernel size, but got "
                               f"padding={p} and kernel_size={k} along {axis}",
                        f"use padding <= {k // 2}")
    try:
        return window_output(layer, axis, size, k, s, p, d, ceil_mode, explain)
    except ShapeError as exc:
        raise PoolError(layer, exc.reason, exc.hint) from None


def _sliding_sizes(layer, shape, nd, kernel, stride, padding, dilation, ceil_mode, explain):
    lead, spatial = _check_input(layer, shape, nd)
    out = tuple(_window_size(layer, axis, n, k, s, p, d, ceil_mode, explain)
                for axis, n, k, s, p, d in zip(_AXES[nd], spatial, kernel, stride, padding,
                                               dilation))
    return lead, spatial, out


def _adaptive_size(layer, shape, nd, output_size, explain):
    lead, spatial = _check_input(layer, shape, nd)
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != nd:
            raise PoolError(layer, f"output_size must have {nd} elements, got {output_size!r}")
        sizes = output_size
    else:
        sizes = (output_size,) * nd
    out = tuple(n if o is None else operator.index(o) for n, o in zip(spatial, sizes))
    if min(out) < 0:
        raise PoolError(layer, f"elements of output_size must be >= 0, got {tuple(sizes)}")
    for axis, n, o in zip(_AXES[nd], spatial, out):
        note(explain, f"{axis}_out = output_size = {o} (window i covers [floor(i*{n}/{o}), "
                      f"ceil((i+1)*{n}/{o})) of {axis}_in = {n})")
    return lead, spatial, out


# ---------------------------------------------------------------- window tables

def _pad3(values, fill):
    return (fill,) * (3 - len(values)) + tuple(values)


def _sliding_tables(spatial, out, kernel, stride, padding, dilation):
    """(lo, hi) per axis for max pooling: PyTorch's start, moved into the input by dilation."""
    tables = []
    for n, o, k, s, p, d in zip(spatial, out, kernel, stride, padding, dilation):
        start = np.arange(o, dtype=np.int64) * s - p
        hi = np.minimum(start + (k - 1) * d + 1, n)
        lo = start + (-(start // d)).clip(min=0) * d  # first tap at or after 0
        tables.append((lo.reshape(1, -1), hi.reshape(1, -1)))
    return _full_tables(tables, len(spatial))


def _full_tables(tables, nd):
    """Prepend the unused axes (one window [0, 1)) so the kernels always see three axes."""
    unused = (np.zeros((1, 1), np.int64), np.ones((1, 1), np.int64))
    return [unused] * (3 - nd) + tables


def _avg_tables(spatial, out, kernel, stride, padding, count_include_pad):
    """(lo, hi, divisor factor) per axis, as PyTorch's avg_pool (window clipped at n + p)."""
    tables = []
    for n, o, k, s, p in zip(spatial, out, kernel, stride, padding):
        start = np.arange(o, dtype=np.int64) * s - p
        end = np.minimum(start + k, n + p)
        lo, hi = start.clip(min=0), np.minimum(end, n)
        tables.append((lo, hi, end - start if count_include_pad else hi - lo))
    return tables


def _adaptive_tables(spatial, out):
    tables = []
    for n, o in zip(spatial, out):
        i = np.arange(o, dtype=np.int64)
        lo, hi = (i * n) // o, -((-(i + 1) * n) // o)
        tables.append((lo, hi, hi - lo))
    return tables


def _flat_avg_tables(tables, nd):
    one = np.ones(1, np.int64)
    return [(np.zeros(1, np.int64), one, one)] * (3 - nd) + tables


# ---------------------------------------------------------------- ops

def _view(shape, nd):
    """(planes, D, H, W) for an array whose last nd axes are spatial."""
    return (math.prod(shape[:-nd]),) + _pad3(shape[-nd:], 1)


def _rows(shape, nd):
    """(planes, elements per plane): the view of the flat-index kernels."""
    return math.prod(shape[:-nd]), math.prod(shape[-nd:])


class _WindowMax(Op):
    """Max over window tables (max, adaptive max, fractional max pooling) and its indices."""

    @staticmethod
    def forward(ctx, x, layer, nd, tables, steps, out_spatial, return_indices, track):
        kx = kernel_array(x, layer)
        _k, xp = kernels("pooling", kx)
        lead = kx.shape[:-nd]
        out = xp.empty(_view(lead + out_spatial, nd), kx.dtype)
        idx = xp.empty(out.shape if (return_indices or track) else (0, 0, 0, 0), np.int64)
        view = _view(kx.shape, nd)
        # int32 argmax scratch vectorizes; planes of 2**31 elements or more need int64
        narrow = idx.size and math.prod(view[1:]) < 2**31
        scratch = xp.empty((out.shape[0], out.shape[3]) if narrow else (0, 0), np.int32)
        flat = [t for pair in tables for t in pair]
        _k.max_pool_forward(kx.reshape(view), out, idx, scratch, *flat, *steps)
        ctx.idx, ctx.in_shape, ctx.nd = idx, x.shape, nd
        y = out.reshape(lead + out_spatial).astype(x.dtype, copy=False)
        if not return_indices:
            return y
        indices = idx.reshape(y.shape)
        ctx.mark_non_differentiable(indices)
        return y, indices

    @staticmethod
    def backward(ctx, grad, *_):
        return _WindowMax.backward_stacked(ctx, grad[None])[0]

    @staticmethod
    def backward_stacked(ctx, grads, *_):
        """Gradients for K cotangents (leading axis): one scatter over K copies of the
        index planes."""
        g = kernel_array(grads, "max_pool", "grad_output")
        _k, xp = kernels("pooling", g, ctx.idx)
        stack = g.shape[0]
        planes, per_plane = _rows(g.shape[1:], ctx.nd)
        idx = ctx.idx.reshape(planes, per_plane)
        if stack > 1:
            idx = np.tile(idx, (stack, 1))
        in_planes, in_per_plane = _rows(ctx.in_shape, ctx.nd)
        grad_in = xp.empty((stack * in_planes, in_per_plane), g.dtype)
        _k.index_scatter(g.reshape(stack * planes, per_plane), idx, grad_in, True)
        return grad_in.reshape((stack,) + tuple(ctx.in_shape)).astype(grads.dtype, copy=False)


def _avg_backward(grad_out, grad_in, args):
    _k, xp = kernels("pooling", grad_out, grad_in)
    share = xp.empty((grad_out.shape[0], grad_out.shape[3]), grad_out.dtype)  # kernel scratch
    _k.avg_pool_backward(grad_out, grad_in, share, *args)


class _WindowAvg(Op):
    """Average over window tables (avg and adaptive avg pooling)."""

    @staticmethod
    def forward(ctx, x, layer, nd, tables, divisor_override, out_spatial):
        kx = kernel_array(x, layer)
        _k, xp = kernels("pooling", kx)
        lead = kx.shape[:-nd]
        out = xp.empty(_view(lead + out_spatial, nd), kx.dtype)
        ctx.args = [t for triple in tables for t in triple] + [divisor_override or 0]
        ctx.in_shape, ctx.nd = x.shape, nd
        _k.avg_pool_forward(kx.reshape(_view(kx.shape, nd)), out, *ctx.args)
        return out.reshape(lead + out_spatial).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        g = kernel_array(grad, "avg_pool", "grad_output")
        grad_in = kernels("pooling", g)[1].empty(_view(ctx.in_shape, ctx.nd), g.dtype)
        _avg_backward(g.reshape(_view(g.shape, ctx.nd)), grad_in, ctx.args)
        return grad_in.reshape(ctx.in_shape).astype(grad.dtype, copy=False)


class _LPPool(Op):
    """(K * avg_pool(x ** p)) ** (1/p), with PyTorch's gradient at zero sums (zero)."""

    @staticmethod
    def forward(ctx, x, layer, nd, tables, out_spatial, norm, volume):
        kx = kernel_array(x, layer)
        _k, xp = kernels("pooling", kx)
        lead = kx.shape[:-nd]
        powered = xp.empty_like(kx)
        _k.lp_power(kx.reshape(-1), norm, powered.reshape(-1))
        sums = xp.empty(_view(lead + out_spatial, nd), kx.dtype)
        ctx.args = [t for triple in tables for t in triple] + [0]
        _k.avg_pool_forward(powered.reshape(_view(kx.shape, nd)), sums, *ctx.args)
        out = xp.empty_like(sums)
        _k.lp_root(sums.reshape(-1), volume, norm, out.reshape(-1))
        ctx.save_for_backward(x)
        ctx.sums, ctx.norm, ctx.volume, ctx.nd = sums, norm, volume, nd
        return out.reshape(lead + out_spatial).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        _k, xp = kernels("pooling", x, grad)
        kx = kernel_array(x, "lp_pool")
        g = xp.ascontiguousarray(grad, kx.dtype)
        grad_sums = xp.empty_like(ctx.sums)
        _k.lp_root_backward(ctx.sums.reshape(-1), g.reshape(-1), ctx.volume, ctx.norm,
                            grad_sums.reshape(-1))
        grad_powered = xp.empty(_view(kx.shape, ctx.nd), kx.dtype)
        _avg_backward(grad_sums, grad_powered, ctx.args)
        grad_in = xp.empty_like(kx)
        _k.lp_power_backward(kx.reshape(-1), grad_powered.reshape(-1), ctx.norm,
                             grad_in.reshape(-1))
        return grad_in.astype(x.dtype, copy=False)


class _MaxUnpool(Op):
    """Scatter values to their indices in a zero output; backward gathers them back."""

    @staticmethod
    def forward(ctx, x, indices, layer, nd, out_spatial):
        kx = kernel_array(x, layer)
        _k, xp = kernels("pooling", kx, indices)
        rows = _rows(kx.shape, nd)
        out = xp.empty((rows[0], math.prod(out_spatial)), kx.dtype)
        idx = xp.ascontiguousarray(indices).reshape(rows)
        _k.index_scatter(kx.reshape(rows), idx, out, False)
        ctx.idx, ctx.in_shape, ctx.nd = idx, x.shape, nd
        return out.reshape(kx.shape[:-nd] + out_spatial).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        g = kernel_array(grad, "max_unpool", "grad_output")
        _k, xp = kernels("pooling", g, ctx.idx)
        grad_in = xp.empty(ctx.idx.shape, g.dtype)
        _k.index_gather(g.reshape(_rows(g.shape, ctx.nd)), ctx.idx, grad_in)
        return grad_in.reshape(ctx.in_shape).astype(grad.dtype, copy=False), None


# ---------------------------------------------------------------- max pooling

def max_pool_shape(layer, shape, nd, kernel_size, stride=None, padding=0, dilation=1,
                   ceil_mode=False, explain=None):
    """Output shape of nd-d max pooling (shared by F.max_poolNd and MaxPoolNd.infer_shape)."""
    geometry = _max_pool_geometry(layer, shape, nd, kernel_size, stride, padding, dilation,
                                  ceil_mode, explain)
    return geometry[0] + geometry[2]


def _max_pool_geometry(layer, shape, nd, kernel_size, stride, padding, dilation, ceil_mode,
                       explain=None):
    kernel = _ints(kernel_size, nd, layer, "kernel_size")
    stride = _stride(stride, kernel, nd, layer)
    padding = _ints(padding, nd, layer, "padding")
    dilation = _ints(dilation, nd, layer, "dilation")
    lead, spatial, out = _sliding_sizes(layer, shape, nd, kernel, stride, padding, dilation,
                                        ceil_mode, explain)
    return lead, spatial, out, (kernel, stride, padding, dilation)


def _max_pool(nd, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    layer = f"max_pool{nd}d"
    _, spatial, out, params = _max_pool_geometry(layer, input.shape, nd, kernel_size, stride,
                                                 padding, dilation, ceil_mode)
    tables = _sliding_tables(spatial, out, *params)
    steps = _pad3(params[3], 1)
    track = is_grad_enabled() and input.requires_grad
    return _WindowMax.apply(input, layer, nd, tables, steps, out, return_indices, track)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    return _max_pool(1, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    return _max_pool(2, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    return _max_pool(3, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=False):
    return _max_pool(1, input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=False):
    return _max_pool(2, input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool3d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=False):
    return _max_pool(3, input, kernel_size, stride, padding, dilation, ceil_mode, True)


# ---------------------------------------------------------------- average pooling

def avg_pool_shape(layer, shape, nd, kernel_size, stride=None, padding=0, ceil_mode=False,
                   explain=None):
    """Output shape of nd-d average pooling (F.avg_poolNd and AvgPoolNd.infer_shape)."""
    geometry = _avg_pool_geometry(layer, shape, nd, kernel_size, stride, padding, ceil_mode,
                                  explain)
    return geometry[0] + geometry[2]


def _avg_pool_geometry(layer, shape, nd, kernel_size, stride, padding, ceil_mode, explain=None):
    kernel = _ints(kernel_size, nd, layer, "kernel_size")
    stride = _stride(stride, kernel, nd, layer)
    padding = _ints(padding, nd, layer, "padding")
    lead, spatial, out = _sliding_sizes(layer, shape, nd, kernel, stride, padding, (1,) * nd,
                                        ceil_mode, explain)
    return lead, spatial, out, (kernel, stride, padding)


def _avg_pool(nd, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override):
    layer = f"avg_pool{nd}d"
    if divisor_override is not None and divisor_override == 0:
        raise PoolError(layer, "divisor_override must be non-zero, got 0",
                        "leave it None to divide by the window size")
    _, spatial, out, params = _avg_pool_geometry(layer, input.shape, nd, kernel_size, stride,
                                                 padding, ceil_mode)
    tables = _flat_avg_tables(_avg_tables(spatial, out, *params, count_include_pad), nd)
    return _WindowAvg.apply(input, layer, nd, tables, divisor_override, out)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    return _avg_pool(1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    return _avg_pool(2, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    return _avg_pool(3, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


# ---------------------------------------------------------------- LP pooling

def lp_pool_shape(layer, shape, nd, kernel_size, stride=None, ceil_mode=False, explain=None):
    return avg_pool_shape(layer, shape, nd, kernel_size, stride, 0, ceil_mode, explain)


def _lp_pool(nd, input, norm_type, kernel_size, stride, ceil_mode):
    layer = f"lp_pool{nd}d"
    if norm_type in (math.inf, -math.inf):  # as PyTorch: the max of |x| (or minus the min)
        sign = 1 if norm_type > 0 else -1
        out = _max_pool(nd, sign * input.abs(), kernel_size, stride, 0, 1, ceil_mode, False)
        return sign * out
    _, spatial, out, params = _avg_pool_geometry(layer, input.shape, nd, kernel_size, stride, 0,
                                                 ceil_mode)
    tables = _flat_avg_tables(_avg_tables(spatial, out, *params, True), nd)
    return _LPPool.apply(input, layer, nd, tables, out, float(norm_type),
                         float(math.prod(params[0])))


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool(1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool(2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool(3, input, norm_type, kernel_size, stride, ceil_mode)


# ---------------------------------------------------------------- adaptive pooling

def adaptive_pool_shape(layer, shape, nd, output_size, explain=None):
    lead, _, out = _adaptive_size(layer, shape, nd, output_size, explain)
    return lead + out


def _adaptive_max(nd, input, output_size, return_indices):
    layer = f"adaptive_max_pool{nd}d"
    _, spatial, out = _adaptive_size(layer, input.shape, nd, output_size, None)
    tables = _full_tables([(lo.reshape(1, -1), hi.reshape(1, -1))
                           for lo, hi, _ in _adaptive_tables(spatial, out)], nd)
    track = is_grad_enabled() and input.requires_grad
    return _WindowMax.apply(input, layer, nd, tables, (1, 1, 1), out, return_indices, track)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    return _adaptive_max(1, input, output_size, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    return _adaptive_max(2, input, output_size, return_indices)


def adaptive_max_pool3d(input, output_size, return_indices=False):
    return _adaptive_max(3, input, output_size, return_indices)


def adaptive_max_pool1d_with_indices(input, output_size, return_indices=False):
    return _adaptive_max(1, input, output_size, True)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=False):
    return _adaptive_max(2, input, output_size, True)


def adaptive_max_pool3d_with_indices(input, output_size, return_indices=False):
    return _adaptive_max(3, input, output_size, True)


class _GlobalAvg(Op):
    """Average pooling to one element per plane: a reduction (``global_avg_*`` kernels)."""

    @staticmethod
    def forward(ctx, x, layer, nd):
        kx = kernel_array(x, layer)
        _k, xp = kernels("pooling", kx)
        planes = _rows(kx.shape, nd)
        out = xp.empty(planes[0], kx.dtype)
        _k.global_avg_forward(kx.reshape(planes), out)
        ctx.in_shape, ctx.planes = x.shape, planes
        return out.reshape(kx.shape[:-nd] + (1,) * nd).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        g = kernel_array(grad, "avg_pool", "grad_output")
        _k, xp = kernels("pooling", g)
        grad_in = xp.empty(ctx.planes, g.dtype)
        _k.global_avg_backward(g.reshape(-1), grad_in)
        return grad_in.reshape(ctx.in_shape).astype(grad.dtype, copy=False)


class _AdaptiveAvg(Op):
    """Adaptive average pooling through column sums (``adaptive_avg_*`` kernels): windows of
    consecutive rows and columns, whose sums split into a row pass and short column sums."""

    @staticmethod
    def forward(ctx, x, layer, nd, tables, out_spatial):
        kx = kernel_array(x, layer)
        _k, xp = kernels("pooling", kx)
        view = _view(kx.shape, nd)
        out = xp.empty(_view(kx.shape[:-nd] + out_spatial, nd), kx.dtype)
        colsum = xp.empty((view[0], view[3]), kx.dtype)  # kernel scratch: a row per plane
        ctx.args = [t for lo_hi_size in tables for t in lo_hi_size[:2]]
        ctx.in_shape, ctx.nd = x.shape, nd
        _k.adaptive_avg_forward(kx.reshape(view), out, colsum, *ctx.args)
        return out.reshape(kx.shape[:-nd] + out_spatial).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        g = kernel_array(grad, "adaptive_avg_pool", "grad_output")
        _k, xp = kernels("pooling", g)
        view = _view(ctx.in_shape, ctx.nd)
        grad_in = xp.empty(view, g.dtype)
        colshare = xp.empty((view[0], view[3]), g.dtype)
        _k.adaptive_avg_backward(g.reshape(_view(g.shape, ctx.nd)), grad_in, colshare,
                                 *ctx.args)
        return grad_in.reshape(ctx.in_shape).astype(grad.dtype, copy=False)


def _adaptive_avg(nd, input, output_size):
    layer = f"adaptive_avg_pool{nd}d"
    _, spatial, out = _adaptive_size(layer, input.shape, nd, output_size, None)
    pooling = kernels("pooling", input._data)[0]
    if all(o == 1 for o in out) and input.numel() and hasattr(pooling, "global_avg_forward"):
        return _GlobalAvg.apply(input, layer, nd)
    tables = _flat_avg_tables(_adaptive_tables(spatial, out), nd)
    if hasattr(pooling, "adaptive_avg_forward"):  # (a device backend may have only windows)
        return _AdaptiveAvg.apply(input, layer, nd, tables, out)
    return _WindowAvg.apply(input, layer, nd, tables, None, out)


def adaptive_avg_pool1d(input, output_size):
    return _adaptive_avg(1, input, output_size)


def adaptive_avg_pool2d(input, output_size):
    return _adaptive_avg(2, input, output_size)


def adaptive_avg_pool3d(input, output_size):
    return _adaptive_avg(3, input, output_size)


# ---------------------------------------------------------------- fractional max pooling

def fractional_pool_shape(layer, shape, nd, kernel_size, output_size=None, output_ratio=None,
                          explain=None):
    """Output shape of fractional max pooling; PyTorch's size limits (strict for 3-d)."""
    lead, spatial = _check_input(layer, shape, nd)
    kernel = _ints(kernel_size, nd, layer, "kernel_size")
    if min(kernel) < 1:
        raise PoolError(layer, f"kernel_size must be positive, got {kernel}")
    if output_size is None and output_ratio is None:
        raise ValueError(f"{layer} requires specifying either an output_size or an "
                         f"output_ratio")
    if output_size is None:
        ratio = tuple(output_ratio) if isinstance(output_ratio, (tuple, list)) else (
            (output_ratio,) * nd)
        if len(ratio) != nd:
            raise PoolError(layer, f"output_ratio must have {nd} elements, got {output_ratio!r}")
        out = tuple(int(n * r) for n, r in zip(spatial, ratio))
        for axis, n, r, o in zip(_AXES[nd], spatial, ratio, out):
            note(explain, f"{axis}_out = int({axis}_in * output_ratio) = int({n} * {r}) = {o}")
    else:
        out = _ints(output_size, nd, layer, "output_size")
        for axis, o in zip(_AXES[nd], out):
            note(explain, f"{axis}_out = output_size = {o}")
    strict = nd == 3  # PyTorch's 3-d check is out + k - 1 < in, its 2-d one <=
    for axis, n, k, o in zip(_AXES[nd], spatial, kernel, out):
        if o < 0:
            raise PoolError(layer, f"output size along {axis} must be >= 0, got {o}")
        if o + k - 1 > n - strict:
            raise PoolError(layer, f"kernel_size {k} too large relative to input size {n} "
                                   f"along {axis} for output size {o}",
                            f"need output + kernel_size - 1 {'<' if strict else '<='} {n}")
    return lead, spatial, out, kernel


def _fractional_max(nd, input, kernel_size, output_size, output_ratio, return_indices,
                    _random_samples):
    _k = kernels("pooling")[0]  # the window tables are planned on the host
    layer = f"fractional_max_pool{nd}d"
    lead, spatial, out, kernel = fractional_pool_shape(layer, input.shape, nd, kernel_size,
                                                       output_size, output_ratio)
    batch = 1 if len(lead) == 1 else lead[0]
    channels = lead[-1]
    work = np.float32 if input.dtype.np == np.float16 else input.dtype.np
    if _random_samples is None:
        samples = generator().random((batch, channels, nd)).astype(work)
    else:
        samples = np.asarray(_random_samples.detach().numpy())
        if samples.dtype != input.dtype.np:
            raise PoolError(layer, f"_random_samples must have the input's dtype {input.dtype}, "
                                   f"got {samples.dtype}")
        if samples.ndim != 3 or samples.shape[0] < batch or samples.shape[1:] != (channels, nd):
            raise PoolError(layer, f"_random_samples must have shape (>= {batch}, {channels}, "
                                   f"{nd}), got {list(samples.shape)}")
        samples = samples[:batch].astype(work)
    planes = batch * channels
    tables = []
    for axis in range(nd):
        starts = np.empty((planes, out[axis]), np.int64)
        column = 1 - axis if nd == 2 else axis  # PyTorch: (W, H) samples in 2-d, (T, H, W) in 3-d
        _k.fractional_intervals(np.ascontiguousarray(samples[:, :, column].reshape(-1)),
                                spatial[axis], kernel[axis], starts)
        if starts.size and (starts.min() < 0 or starts.max() + kernel[axis] > spatial[axis]):
            raise PoolError(layer, f"_random_samples must lie in [0, 1): the windows along "
                                   f"{_AXES[nd][axis]} leave the input")
        tables.append((starts, starts + kernel[axis]))
    tables = _full_tables(tables, nd)
    track = is_grad_enabled() and input.requires_grad
    return _WindowMax.apply(input, layer, nd, tables, (1, 1, 1), out, return_indices, track)


def fractional_max_pool2d(input, kernel_size, output_size=None, output_ratio=None,
                          return_indices=False, _random_samples=None):
    return _fractional_max(2, input, kernel_size, output_size, output_ratio, return_indices,
                           _random_samples)


def fractional_max_pool3d(input, kernel_size, output_size=None, output_ratio=None,
                          return_indices=False, _random_samples=None):
    return _fractional_max(3, input, kernel_size, output_size, output_ratio, return_indices,
                           _random_samples)


def fractional_max_pool2d_with_indices(input, kernel_size, output_size=None, output_ratio=None,
                                       return_indices=False, _random_samples=None):
    return _fractional_max(2, input, kernel_size, output_size, output_ratio, True,
                           _random_samples)


def fractional_max_pool3d_with_indices(input, kernel_size, output_size=None, output_ratio=None,
                                       return_indices=False, _random_samples=None):
    return _fractional_max(3, input, kernel_size, output_size, output_ratio, True,
                           _random_samples)


# ---------------------------------------------------------------- max unpooling

def unpool_shape(layer, shape, nd, kernel_size, stride=None, padding=0, output_size=None,
                 explain=None):
    """PyTorch's _unpool_output_size: (in - 1)*stride - 2*padding + kernel, or output_size
    (spatial, or with N and C) within stride of that default."""
    shape = tuple(shape)
    if len(shape) not in (nd + 1, nd + 2):
        raise PoolError(layer, f"input should be a {nd + 1}D or {nd + 2}D tensor, got "
                               f"{len(shape)}D shape {list(shape)}")
    kernel = _ints(kernel_size, nd, layer, "kernel_size")
    stride = _stride(stride, kernel, nd, layer)
    padding = _ints(padding, nd, layer, "padding")
    if nd == 3 and min(stride) < 1:
        raise PoolError(layer, f"stride should be greater than zero, got {stride}")
    spatial = shape[-nd:]
    default = tuple((n - 1) * s + k - 2 * p
                    for n, k, s, p in zip(spatial, kernel, stride, padding))
    if output_size is None:
        out = default
        for axis, n, k, s, p, o in zip(_AXES[nd], spatial, kernel, stride, padding, out):
            note(explain, f"{axis}_out = ({axis}_in - 1)*stride - 2*padding + kernel_size = "
                          f"({n} - 1)*{s} - 2*{p} + {k} = {o}")
    else:
        out = tuple(operator.index(o) for o in output_size)
        if len(out) == nd + 2:
            out = out[2:]
        if len(out) != nd:
            raise ValueError(f"{layer}: output_size should be a sequence containing {nd} or "
                             f"{nd + 2} elements, but it has a length of '{len(output_size)}'")
        for axis, d, s, o in zip(range(nd), default, stride, out):
            if not d - s < o < d + s:
                raise ValueError(f'{layer}: invalid output_size "{tuple(output_size)}" (dim '
                                 f'{axis} must be between {d - s} and {d + s})')
        for axis, o in zip(_AXES[nd], out):
            note(explain, f"{axis}_out = output_size = {o}")
    if min(out) < 0:
        raise PoolError(layer, f"output_size must contain non-negative spatial dimensions, got "
                               f"{out}")
    return shape[:-nd] + out


def _max_unpool(nd, input, indices, kernel_size, stride, padding, output_size):
    layer = f"max_unpool{nd}d"
    out_shape = unpool_shape(layer, input.shape, nd, kernel_size, stride, padding, output_size)
    if indices.dtype.np != np.int64:
        raise RuntimeError(f"{layer}: elements in indices should be type int64 but got: "
                           f"{indices.dtype}")
    if tuple(indices.shape) != tuple(input.shape):
        raise RuntimeError(f"{layer}: expected indices of the input's shape "
                           f"{list(input.shape)}, got {list(indices.shape)}")
    out_spatial = out_shape[-nd:]
    size = math.prod(out_spatial)
    idx = host_array(indices.detach()._data)  # checked on the host, wherever it lives
    if idx.size:
        bad = idx[(idx < 0) | (idx >= size)]
        if bad.size:
            raise RuntimeError(f"{layer}: Found an invalid max index: {int(bad.flat[0])} "
                               f"(output volumes are of size "
                               f"{'x'.join(map(str, out_spatial))})")
    return _MaxUnpool.apply(input, indices, layer, nd, out_spatial)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool(1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool(2, input, indices, kernel_size, stride, padding, output_size)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool(3, input, indices, kernel_size, stride, padding, output_size)


__all__ = family_names(__name__)
