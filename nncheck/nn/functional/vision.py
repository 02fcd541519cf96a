"""Vision functions: interpolate (upsample), pixel/channel shuffles, grid_sample, affine_grid.

interpolate builds one index/weight table per spatial axis (``nncheck._kernels.vision``
computes them with PyTorch's index arithmetic) and runs the separable resampling
kernels; 'area' is adaptive average pooling expressed as such a table.  The shuffles
are pure data movement (a reshape and a transpose).
"""

import math
import numbers
import warnings

from ..._lazy import family_names, np
from ...backend import ascontiguousarray, kernels
from ...ops import Op
from ...shapes import is_symbolic, note, require
from ._validation import kernel_array

_NEAREST = ("nearest", "nearest-exact")
_NO_ALIGN = ("nearest", "area", "nearest-exact")
_MODES = ("nearest", "linear", "bilinear", "bicubic", "trilinear", "area", "nearest-exact",
          "lanczos")
_RANK_OF_MODE = {"linear": 3, "bilinear": 4, "bicubic": 4, "trilinear": 5, "lanczos": 4}
_LAYOUT = {3: "(N, C, W)", 4: "(N, C, H, W)", 5: "(N, C, D, H, W)"}
# antialias filters: kernel code, support of the filter at scale 1 (in input pixels)
_AA_FILTER = {"bilinear": (0, 2), "bicubic": (1, 4), "lanczos": (2, 6)}
_GRID_MODES = {"bilinear": 0, "nearest": 1, "bicubic": 2}
_GRID_PADDING = {"zeros": 0, "border": 1, "reflection": 2}


# --------------------------------------------------------------------------- interpolate
def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _per_axis(value, n_axes, arg, spatial):
    """A scalar or a sequence of one value per spatial axis, as a tuple."""
    if isinstance(value, (list, tuple)):
        if len(value) != n_axes:
            raise ValueError(
                f"interpolate: {arg} must have one entry per spatial dimension: the input has "
                f"spatial dimensions {list(spatial)} but {arg}={tuple(value)} has {len(value)}"
            )
        return tuple(value)
    return (value,) * n_axes


def resample_plan(shape, size=None, scale_factor=None, mode="nearest", align_corners=None,
                  recompute_scale_factor=None, antialias=False, explain=None):
    """Validate an interpolate call on an input of ``shape``.

    Returns (output spatial sizes, per-axis scales handed to the index arithmetic (None
    when the sizes alone decide), align_corners as a bool).  The errors are PyTorch's.
    """
    if mode not in _MODES:
        raise ValueError(f"interpolate: mode must be one of {', '.join(_MODES)}; got {mode!r}")
    if mode in _NO_ALIGN:
        if align_corners is not None:
            raise ValueError(
                "interpolate: align_corners option can only be set with the interpolating "
                f"modes: linear | bilinear | bicubic | trilinear (got mode={mode!r})"
            )
    rank = len(shape)
    if rank not in _LAYOUT:
        raise ValueError(
            f"interpolate: expected a 3-D, 4-D or 5-D input {_LAYOUT[3]}, {_LAYOUT[4]} or "
            f"{_LAYOUT[5]}, got {rank}-D input of shape {list(shape)}"
        )
    if mode in _RANK_OF_MODE and rank != _RANK_OF_MODE[mode]:
        need = _RANK_OF_MODE[mode]
        raise ValueError(
            f"interpolate: mode={mode!r} needs a {need}-D input {_LAYOUT[need]}, got {rank}-D "
            f"input of shape {list(shape)}"
        )
    spatial = tuple(shape[2:])
    n_axes = rank - 2
    if size is not None and scale_factor is not None:
        raise ValueError("interpolate: only one of size or scale_factor should be defined")
    if size is None and scale_factor is None:
        raise ValueError("interpolate: either size or scale_factor should be defined")
    if recompute_scale_factor and size is not None:
        raise ValueError("interpolate: recompute_scale_factor is not meaningful with an "
                         "explicit size")
    if antialias and not (mode in _AA_FILTER and rank == 4):
        raise ValueError("interpolate: the antialias option is restricted to bilinear, bicubic "
                         f"and lanczos modes and requires a 4-D input (got mode={mode!r}, "
                         f"{rank}-D input)")
    if mode == "lanczos" and (align_corners or not antialias):
        raise ValueError("interpolate: lanczos mode requires antialias=True and does not "
                         "support align_corners=True")
    axes = ("D", "H", "W")[3 - n_axes:]
    if size is not None:
        sizes = _per_axis(size, n_axes, "size", spatial)
        if not all(_is_int(s) for s in sizes):
            raise TypeError(
                f"interpolate: size must be an int or a tuple of ints, got {size!r}"
            )
        out = tuple(int(s) for s in sizes)
        scales = None
        for a, s in zip(axes, out):
            note(explain, f"{a}_out = size = {s}")
    else:
        factors = _per_axis(scale_factor, n_axes, "scale_factor", spatial)
        for f in factors:
            if isinstance(f, bool) or not isinstance(f, numbers.Real) or not (
                    math.isfinite(f) and f > 0):
                raise ValueError(
                    f"interpolate: scale_factor must be positive and finite, got "
                    f"{scale_factor!r}"
                )
        out = tuple(math.floor(n * float(f)) for n, f in zip(spatial, factors))
        for a, n, f, o in zip(axes, spatial, factors, out):
            note(explain, f"{a}_out = floor({a}_in * scale_factor) = floor({n} * {f}) = {o}")
        recompute = recompute_scale_factor or mode == "area"
        scales = None if recompute else tuple(float(f) for f in factors)
    for n in spatial + out:  # symbolic sizes (--in N,C,H,W): recorded for the analysis
        if is_symbolic(n):
            require("interpolate", n >= 1, f"interpolate: output size {n} must be at least 1")
    if any(not is_symbolic(n) and n < 1 for n in spatial + out):
        raise RuntimeError(
            f"interpolate: input and output sizes should be greater than 0, but got input "
            f"spatial size {list(spatial)} and output size {list(out)}"
            + (f" (scale_factor={scale_factor!r})" if scale_factor is not None else "")
        )
    return out, scales, bool(align_corners)


def _axis_table(mode, n_in, n_out, scale, align_corners, antialias, rank, dtype):
    """(indices, weights) of one axis, or 0-column arrays when the axis is copied unchanged."""
    _k = kernels("vision")[0]  # the tables are planned on the host
    scale = -1.0 if scale is None else scale
    if mode in _NEAREST:
        idx = np.empty((n_out, 1), np.int64)
        _k.nearest_table(n_in, scale, mode == "nearest-exact", rank == 4,
                         dtype == np.float64, idx)
        w = np.ones((n_out, 1), dtype)
    elif antialias:
        kind, support = _AA_FILTER[mode]
        if n_in == n_out:  # PyTorch's separable antialiased kernel skips unchanged axes
            return np.empty((n_out, 0), np.int64), np.empty((n_out, 0), dtype)
        # a scalar can't pick a fused specialisation (float32 reads as a Python float)
        aa_taps = _k.aa_taps["float" if dtype == np.float32 else "double"]
        taps = aa_taps(n_in, n_out, scale, align_corners, support, dtype.type(0))
        idx, w = np.empty((n_out, taps), np.int64), np.empty((n_out, taps), dtype)
        _k.aa_table(n_in, scale, align_corners, kind, support, idx, w)
    elif mode == "area":
        taps = _k.area_taps(n_in, n_out)
        idx, w = np.empty((n_out, taps), np.int64), np.empty((n_out, taps), dtype)
        _k.area_table(n_in, idx, w)
    else:
        taps = 4 if mode == "bicubic" else 2
        idx, w = np.empty((n_out, taps), np.int64), np.empty((n_out, taps), dtype)
        table = _k.cubic_table if mode == "bicubic" else _k.linear_table
        table(n_in, scale, align_corners, idx, w)
    if n_in == n_out and (idx[:, 0] == np.arange(n_out)).all() and (w[:, 0] == 1).all() and (
            w[:, 1:] == 0).all():
        return np.empty((n_out, 0), np.int64), np.empty((n_out, 0), dtype)
    return idx, w


class _Resample(Op):
    """interpolate: separable per-axis passes (integer inputs: nearest gather only)."""

    @staticmethod
    def forward(ctx, x, out_spatial, scales, mode, align_corners, antialias):
        _k, xp = kernels("vision", x)
        shape = x.shape
        spatial = shape[2:]
        lead = (1,) * (5 - x.ndim)
        if x.dtype.kind in "iub":  # nearest on integers: the same gather, no arithmetic
            out = x
            for axis, (n_in, n_out) in enumerate(zip(spatial, out_spatial)):
                idx, _ = _axis_table(mode, n_in, n_out, scales and scales[axis], False, False,
                                     x.ndim, np.dtype(np.float64))
                if idx.shape[1]:
                    out = np.take(out, idx[:, 0], axis=axis + 2)
            return xp.ascontiguousarray(out)
        kx = kernel_array(x, "interpolate")
        tables = []
        for axis, (n_in, n_out) in enumerate(zip(lead + spatial, lead + tuple(out_spatial))):
            scale = scales[axis - len(lead)] if scales and axis >= len(lead) else None
            tables += _axis_table(mode, n_in, n_out, scale, align_corners, antialias, x.ndim,
                                  kx.dtype)
        planes = shape[0] * shape[1]
        src = kx.reshape((planes,) + lead + spatial)
        out = xp.empty((planes,) + lead + tuple(out_spatial), kx.dtype)
        _k.resample_forward(src, out, *tables)
        ctx.tables, ctx.in_shape, ctx.src_shape = tables, shape, src.shape
        return out.reshape(shape[:2] + tuple(out_spatial)).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        _k, xp = kernels("vision", grad)
        dtype = ctx.tables[1].dtype
        g = xp.ascontiguousarray(grad, dtype)
        g = g.reshape(ctx.src_shape[:1] + (1,) * (5 - grad.ndim) + g.shape[2:])
        grad_in = xp.empty(ctx.src_shape, dtype)
        _k.resample_backward(g, grad_in, *ctx.tables)
        return grad_in.reshape(ctx.in_shape).astype(grad.dtype, copy=False)


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resize the spatial dimensions of an (N, C, [D, [H,]] W) input (``torch``'s interpolate).

    Integer inputs (as the seed's ``arange`` examples) are resampled in float32 by the
    interpolating modes; nearest modes keep their dtype.
    """
    out, scales, align = resample_plan(tuple(input.shape), size, scale_factor, mode,
                                       align_corners, recompute_scale_factor, antialias)
    if mode not in _NEAREST and input.dtype.np.kind in "iub":
        input = input.float()
    return _Resample.apply(input, out, scales, mode, align, bool(antialias))


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
             recompute_scale_factor=None):
    """Deprecated alias of interpolate (as in PyTorch)."""
    warnings.warn("nn.functional.upsample is deprecated. Use nn.functional.interpolate "
                  "instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners, recompute_scale_factor)


def upsample_nearest(input, size=None, scale_factor=None):
    warnings.warn("`nn.functional.upsample_nearest` is deprecated. Use "
                  "`nn.functional.interpolate` instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    warnings.warn("`nn.functional.upsample_bilinear` is deprecated. Use "
                  "`nn.functional.interpolate` instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


# --------------------------------------------------------------------------- shuffles
class _Rearrange(Op):
    """Pure data movement: reshape to ``split``, permute by ``perm``, reshape to ``shape``."""

    @staticmethod
    def forward(ctx, x, split, perm, shape):
        ctx.in_shape, ctx.split, ctx.perm = x.shape, split, perm
        return ascontiguousarray(x.reshape(split).transpose(perm)).reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        permuted = tuple(ctx.split[p] for p in ctx.perm)
        back = grad.reshape(permuted).transpose(np.argsort(ctx.perm))
        return ascontiguousarray(back).reshape(ctx.in_shape)


def _factor(layer, arg, value):
    if not _is_int(value) or value <= 0:
        raise RuntimeError(f"{layer} expects a positive {arg}, but got {value!r}")
    return int(value)


def _spatial_3d(layer, input):
    if input.ndim < 3:
        raise RuntimeError(
            f"{layer} expects input to have at least 3 dimensions (*, C, H, W), but got input "
            f"with {input.ndim} dimension(s): shape {list(input.shape)}"
        )
    return tuple(input.shape[:-3]), tuple(input.shape[-3:])


def pixel_shuffle(input, upscale_factor):
    """(*, C r^2, H, W) -> (*, C, H r, W r): sub-pixel convolution's rearrangement."""
    r = _factor("pixel_shuffle", "upscale_factor", upscale_factor)
    lead, (c, h, w) = _spatial_3d("pixel_shuffle", input)
    if c % (r * r):
        raise RuntimeError(
            f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the "
            f"square of upscale_factor, but input.size(-3)={c} is not divisible by {r * r}"
        )
    n = len(lead)
    split = lead + (c // (r * r), r, r, h, w)
    perm = tuple(range(n)) + (n, n + 3, n + 1, n + 4, n + 2)
    return _Rearrange.apply(input, split, perm, lead + (c // (r * r), h * r, w * r))


def pixel_unshuffle(input, downscale_factor):
    """(*, C, H r, W r) -> (*, C r^2, H, W): the inverse of pixel_shuffle."""
    r = _factor("pixel_unshuffle", "downscale_factor", downscale_factor)
    lead, (c, h, w) = _spatial_3d("pixel_unshuffle", input)
    for name, size, dim in (("height", h, -2), ("width", w, -1)):
        if size % r:
            raise RuntimeError(
                f"pixel_unshuffle expects {name} to be divisible by downscale_factor, but "
                f"input.size({dim})={size} is not divisible by {r}"
            )
    n = len(lead)
    split = lead + (c, h // r, r, w // r, r)
    perm = tuple(range(n)) + (n, n + 2, n + 4, n + 1, n + 3)
    return _Rearrange.apply(input, split, perm, lead + (c * r * r, h // r, w // r))


def channel_shuffle(input, groups):
    """(N, C, *) -> channels regrouped as (C/g, g) -> (g, C/g) (ShuffleNet)."""
    if not _is_int(groups) or groups <= 0:
        raise RuntimeError(f"channel_shuffle: number of groups to divide channels in must be "
                           f"positive, got groups={groups!r}")
    if input.ndim <= 2:
        raise RuntimeError(f"channel_shuffle expects input with > 2 dims (N, C, *), but got "
                           f"input with sizes {list(input.shape)}")
    shape = tuple(input.shape)
    c = shape[1]
    if c % groups:
        raise RuntimeError(f"channel_shuffle: number of channels must be divisible by groups. "
                           f"Got {c} channels and {groups} groups.")
    split = (shape[0], groups, c // groups) + shape[2:]
    perm = (0, 2, 1) + tuple(range(3, len(split)))
    return _Rearrange.apply(input, split, perm, shape)


native_channel_shuffle = channel_shuffle


# --------------------------------------------------------------------------- grid_sample
def _default_align(align_corners):
    if align_corners is None:
        warnings.warn(
            "Default grid_sample and affine_grid behavior has changed to align_corners=False "
            "since 1.3.0. Please specify align_corners=True if the old behavior is desired. "
            "See the documentation of grid_sample for details.", stacklevel=3)
        return False
    return bool(align_corners)


def _count(shape):
    return int(np.prod(shape, dtype=np.int64))


class _GridSample(Op):
    @staticmethod
    def forward(ctx, x, grid, mode, padding, align_corners):
        _k, xp = kernels("vision", x, grid)
        kx = kernel_array(x, "grid_sample")
        kg = xp.ascontiguousarray(grid, kx.dtype)
        n, c = x.shape[:2]
        points = kg.reshape(n, _count(grid.shape[1:-1]), grid.shape[-1])
        out = xp.empty((n, c, points.shape[1]), kx.dtype)
        if mode == _GRID_MODES["bicubic"]:
            _k.grid_sample_bicubic_forward(kx, points, out, padding, align_corners)
        else:
            volume = kx.reshape((n, c) + (1,) * (5 - x.ndim) + x.shape[2:])
            _k.grid_sample_forward(volume, points, out, mode, padding, align_corners)
        ctx.save_for_backward(x, grid)
        ctx.args = (mode, padding, align_corners)
        return out.reshape((n, c) + grid.shape[1:-1]).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        _k, xp = kernels("vision", grad)
        x, grid = ctx.saved_tensors
        mode, padding, align_corners = ctx.args
        kx = kernel_array(x, "grid_sample")
        n, c = x.shape[:2]
        p = _count(grid.shape[1:-1])
        points = xp.ascontiguousarray(grid, kx.dtype).reshape(n, p, grid.shape[-1])
        g = xp.ascontiguousarray(grad, kx.dtype).reshape(n, c, p)
        grad_grid = xp.empty_like(points)
        if mode == _GRID_MODES["bicubic"]:
            grad_in = xp.empty_like(kx)
            _k.grid_sample_bicubic_backward(kx, points, g, grad_in, grad_grid, padding,
                                            align_corners)
        else:
            volume = kx.reshape((n, c) + (1,) * (5 - x.ndim) + x.shape[2:])
            grad_in = xp.empty_like(volume)
            _k.grid_sample_backward(volume, points, g, grad_in, grad_grid, mode, padding,
                                    align_corners)
        return (grad_in.reshape(x.shape).astype(x.dtype, copy=False),
                grad_grid.reshape(grid.shape).astype(grid.dtype, copy=False))


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    """Sample input (N, C, [D,] H, W) at the normalised [-1, 1] locations of grid."""
    if mode not in _GRID_MODES:
        raise ValueError(f"grid_sample: expected mode to be 'bilinear', 'nearest' or "
                         f"'bicubic', but got: {mode!r}")
    if padding_mode not in _GRID_PADDING:
        raise ValueError(f"grid_sample: expected padding_mode to be 'zeros', 'border', or "
                         f"'reflection', but got: {padding_mode!r}")
    align = _default_align(align_corners)
    shape, gshape = tuple(input.shape), tuple(grid.shape)
    if input.ndim not in (4, 5) or grid.ndim != input.ndim:
        raise RuntimeError(
            f"grid_sample: expected 4-D or 5-D input and grid with the same number of "
            f"dimensions, but got input with sizes {list(shape)} and grid with sizes "
            f"{list(gshape)}"
        )
    if gshape[0] != shape[0]:
        raise RuntimeError(
            f"grid_sample: expected grid and input to have the same batch size, but got input "
            f"with sizes {list(shape)} and grid with sizes {list(gshape)}"
        )
    if gshape[-1] != input.ndim - 2:
        raise RuntimeError(
            f"grid_sample: expected grid to have size {input.ndim - 2} in last dimension, but "
            f"got grid with sizes {list(gshape)}"
        )
    if mode == "bicubic" and input.ndim != 4:
        raise RuntimeError("grid_sample: bicubic interpolation only supports 4-D input, got "
                           f"{input.ndim}-D input")
    for d in range(2, input.ndim):
        if shape[d] == 0:
            raise RuntimeError(
                f"grid_sample: expected input to have non-empty spatial dimensions, but input "
                f"has sizes {list(shape)} with dimension {d} being empty"
            )
    if input.dtype.np.kind != "f" or grid.dtype != input.dtype:
        raise RuntimeError(f"grid_sample: expected input and grid to be floating point tensors "
                           f"of the same dtype, got {input.dtype} and {grid.dtype}")
    return _GridSample.apply(input, grid, _GRID_MODES[mode], _GRID_PADDING[padding_mode], align)


# --------------------------------------------------------------------------- affine_grid
def _linspace_from_neg_one(n, align_corners, dtype):
    """PyTorch's base-grid coordinates: linspace(-1, 1, n) (symmetric halves), shrunk by
    (n - 1) / n unless align_corners; a single step sits at 0."""
    if n <= 1:
        return np.zeros(n, dtype)
    step = dtype.type(2) / dtype.type(n - 1)
    i = np.arange(n)
    half = n // 2
    values = np.where(i < half, dtype.type(-1) + step * i.astype(dtype),
                      dtype.type(1) - step * (n - 1 - i).astype(dtype)).astype(dtype)
    if not align_corners:
        values = (values * dtype.type(n - 1) / dtype.type(n)).astype(dtype)
    return values


def _base_grid(spatial, align_corners, dtype):
    """(prod(spatial), k + 1) rows [x, y, (z,) 1] of the output grid's pixel centres."""
    axes = [_linspace_from_neg_one(s, align_corners, dtype) for s in spatial]
    mesh = np.meshgrid(*axes, indexing="ij")
    columns = [m.reshape(-1) for m in reversed(mesh)]  # x (last axis) first
    columns.append(np.ones(columns[0].shape, dtype))
    return np.ascontiguousarray(np.stack(columns, axis=1))


class _AffineGrid(Op):
    @staticmethod
    def forward(ctx, theta, spatial, align_corners):
        _k, xp = kernels("vision", theta)
        kt = kernel_array(theta, "affine_grid", "theta")
        base = _base_grid(spatial, align_corners, kt.dtype)
        k = len(spatial)
        out = xp.empty((kt.shape[0], base.shape[0], k), kt.dtype)
        _k.affine_grid_forward(kt, base, out)
        ctx.base, ctx.theta_dtype = base, theta.dtype
        return out.reshape((kt.shape[0],) + tuple(spatial) + (k,)).astype(theta.dtype,
                                                                          copy=False)

    @staticmethod
    def backward(ctx, grad):
        _k, xp = kernels("vision", grad)
        base = ctx.base
        n, k = grad.shape[0], grad.shape[-1]
        g = xp.ascontiguousarray(grad, base.dtype).reshape(n, base.shape[0], k)
        grad_theta = xp.empty((n, k, k + 1), base.dtype)
        _k.affine_grid_backward(g, base, grad_theta)
        return grad_theta.astype(ctx.theta_dtype, copy=False)


def affine_grid(theta, size, align_corners=None):
    """Sampling grid (N, [D,] H, W, k) of the affine maps theta (N, k, k+1) for grid_sample."""
    align = _default_align(align_corners)
    if theta.dtype.np.kind != "f":
        raise ValueError(f"affine_grid: expected theta to have floating point type, but got "
                         f"{theta.dtype}")
    size = tuple(int(s) for s in size)
    if len(size) not in (4, 5):
        raise ValueError(f"affine_grid only supports 4-D and 5-D sizes, for 2-D and 3-D affine "
                         f"transforms respectively; got size {list(size)}")
    k = len(size) - 2
    if theta.ndim != 3 or tuple(theta.shape[1:]) != (k, k + 1):
        raise ValueError(f"affine_grid: expected a batch of {k}-D affine matrices of shape "
                         f"Nx{k}x{k + 1} for size {list(size)}, got theta of shape "
                         f"{list(theta.shape)}")
    spatial = size[2:]
    if align and min(spatial) == 1:
        warnings.warn("Since version 1.3.0, affine_grid behavior has changed for unit-size "
                      "grids when align_corners=True. This is not an intended use case of "
                      "affine_grid. See the documentation of affine_grid for details.",
                      stacklevel=2)
    elif min(size) <= 0:
        raise ValueError(f"affine_grid: expected non-zero, positive output size, got "
                         f"{list(size)}")
    if theta.shape[0] != size[0]:
        raise ValueError(f"affine_grid: theta holds {theta.shape[0]} matrices but size[0] = "
                         f"{size[0]}")
    return _AffineGrid.apply(theta, spatial, align)


__all__ = family_names(__name__)
