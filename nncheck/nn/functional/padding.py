"""``pad`` (constant / reflect / replicate / circular) on the kernels in ``_kernels/padding``.

Every mode becomes one index map per padded axis (output position -> input
position, -1 for the constant), built and bounds-checked here, so the kernels
are a plain gather and scatter-add.  Negative pads crop, as in PyTorch.
"""

import functools
import math
import operator

from ..._lazy import family_names, np
from ...backend import kernels
from ...ops import Op
from ._validation import kernel_array

MODES = ("constant", "reflect", "replicate", "circular")
_WORD = {1: "uint8", 2: "uint16", 4: "uint32", 8: "uint64"}
_SUPPORTED = ("Supported combinations for non-constant padding:\n"
              "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
              "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
              "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)")


def _as_pads(pad):
    if isinstance(pad, str) or not hasattr(pad, "__iter__"):
        raise TypeError(f"pad(): argument 'pad' must be a tuple of ints, got "
                        f"{type(pad).__name__}")
    pads = []
    for i, p in enumerate(pad):
        if isinstance(p, bool) or type(p).__module__ == "numpy" and isinstance(p, np.bool_):
            raise TypeError(f"pad(): argument 'pad' must be a tuple of ints, but found "
                            f"element of type bool at pos {i}")
        try:
            pads.append(operator.index(p))
        except TypeError:
            raise TypeError(f"pad(): argument 'pad' must be a tuple of ints, but found "
                            f"element of type {type(p).__name__} at pos {i}") from None
    return pads


def pad_output_shape(shape, pad, mode="constant", value=None):
    """Validate a pad call on an input of ``shape``; return (output shape, per-axis pads).

    The pads come back as ``[(axis, left, right), ...]`` from the last axis
    backwards, in PyTorch's order.  Raises what PyTorch raises, with the axis,
    the pads and the size in the message.
    """
    shape = tuple(shape)
    pads = _as_pads(pad)
    if mode not in MODES:
        raise NotImplementedError(f"Unrecognised padding mode {mode!r} (expected one of "
                                  f"{', '.join(MODES)})")
    if len(pads) % 2:
        raise RuntimeError(f"Padding length must be divisible by 2, got {len(pads)} values")
    k, ndim = len(pads) // 2, len(shape)
    if k > ndim:
        raise RuntimeError(f"Padding length should be less than or equal to two times the input "
                           f"dimension but got padding length {len(pads)} and input of "
                           f"dimension {ndim}")
    if mode != "constant":
        if value is not None and value != 0:
            raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
        if not 1 <= k <= 3 or ndim not in (k + 1, k + 2):
            raise NotImplementedError(f"Padding size {len(pads)} is not supported for {ndim}D "
                                      f"input tensor.\n{_SUPPORTED}")
        if mode in ("reflect", "replicate") and 0 in shape[ndim - k - 1 if ndim == k + 2 else 0:]:
            raise RuntimeError(f"{mode} padding expects a {k + 1}D or {k + 2}D (batch mode) "
                               f"tensor with possibly 0 batch size and other non-zero "
                               f"dimensions for input, but got: {list(shape)}")
    out = list(shape)
    axes = []
    for i in range(k):
        axis = ndim - 1 - i
        left, right = pads[2 * i], pads[2 * i + 1]
        out[axis] = _padded_size(shape, axis, left, right, mode)
        axes.append((axis, left, right))
    padded = [out[a] for a, _, _ in axes]
    # PyTorch's reflect/replicate accept an empty padded axis when another one is non-empty
    if mode in ("reflect", "replicate") and padded and max(padded) < 1:
        raise RuntimeError(f"{mode} padding: input {list(shape)} is too small for padding "
                           f"{tuple(pads)}; calculated output size {tuple(out)}")
    return tuple(out), axes


def _padded_size(shape, axis, left, right, mode):
    n = shape[axis]
    size = n + left + right
    kept = n - max(-left, 0) - max(-right, 0)
    where = f"padding ({left}, {right}) at dimension {axis} of input {list(shape)}"
    if mode == "reflect" and (left >= n or right >= n):
        raise RuntimeError(f"reflect padding: padding size should be less than the corresponding "
                           f"input dimension, but got {where}")
    if mode == "circular" and (left > max(kept, 0) or right > max(kept, 0)):
        raise RuntimeError(f"circular padding: {where} wraps around the {max(kept, 0)} "
                           f"elements left after cropping more than once")
    if size < 0 or (kept < 0 and mode in ("constant", "circular")):
        raise RuntimeError(f"{mode} padding: {where} crops more than the {n} elements there "
                           f"(output size would be {size})")
    return size


@functools.lru_cache(maxsize=256)
def _index_map(n, left, right, mode):
    """Input position read by each output position along one axis (-1: the fill value).

    Cached (layers pad the same sizes call after call), so returned read-only.
    """
    src = np.arange(n + left + right, dtype=np.int64) - left
    if mode == "constant":
        src[(src < 0) | (src >= n)] = -1
    elif mode == "reflect":
        src = np.abs(src)
        src = np.where(src >= n, 2 * (n - 1) - src, src)
    elif mode == "replicate":
        src = np.clip(src, 0, n - 1)
    else:  # circular: wrap around what is left after cropping, as PyTorch copies it
        start = max(-left, 0)
        kept = n - start - max(-right, 0)
        src = start + (np.arange(n + left + right, dtype=np.int64) - max(left, 0)) % max(kept, 1)
    if src.size and (src.min() < -1 or src.max() >= n):  # the kernel trusts the map
        raise RuntimeError(f"pad: {mode} padding ({left}, {right}) of a size-{n} axis reads "
                           f"outside the input")
    src = np.ascontiguousarray(src, np.int64)
    src.setflags(write=False)
    return src


def _view4(shape, first, last):
    """(planes, D, H, W*inner) for padding axes first..last of an array of ``shape``."""
    inner = math.prod(shape[last + 1:])
    sizes = [1] * (2 - (last - first)) + list(shape[first:last + 1])
    sizes[-1] *= inner
    return (math.prod(shape[:first]), *sizes), inner


class _Pad(Op):
    """Pad consecutive axes ``first, first+1, ...`` of ``x`` by their index maps."""

    @staticmethod
    def forward(ctx, x, first, maps, fill):
        _k, xp = kernels("padding", x)
        x = xp.ascontiguousarray(x)
        last = first + len(maps) - 1
        in_view, inner = _view4(x.shape, first, last)
        out_shape = x.shape[:first] + tuple(len(m) for m in maps) + x.shape[last + 1:]
        out_view, _ = _view4(out_shape, first, last)
        maps = [np.zeros(1, np.int64)] * (3 - len(maps)) + list(maps)
        if inner > 1:  # trailing unpadded axes ride along with the last padded one
            last_map = maps[2][:, None] * inner + np.arange(inner)
            last_map[maps[2] < 0] = -1
            maps[2] = last_map.reshape(-1)
        ctx.maps, ctx.in_view, ctx.out_view, ctx.in_shape = maps, in_view, out_view, x.shape
        out = xp.empty(out_shape, x.dtype)
        word = _WORD[x.dtype.itemsize]
        fill_word = np.asarray(fill).astype(x.dtype).reshape(1).view(word)[0]
        _k.pad_forward(x.view(word).reshape(in_view), out.view(word).reshape(out_view),
                       *maps, fill_word)
        return out

    @staticmethod
    def backward(ctx, grad):
        _k, xp = kernels("padding", grad)
        g = kernel_array(grad, "pad", "grad_output")
        grad_in = xp.empty(ctx.in_view, g.dtype)
        _k.pad_backward(g.reshape(ctx.out_view), grad_in, *ctx.maps)
        return grad_in.reshape(ctx.in_shape).astype(grad.dtype, copy=False), None, None, None


def pad(input, pad, mode="constant", value=None):
    """``torch.nn.functional.pad``: pads from the last dimension backwards."""
    _, axes = pad_output_shape(input.shape, pad, mode, value)
    if input.dtype.itemsize not in _WORD:
        raise TypeError(f"pad: dtype {input.dtype} is not supported (itemsize "
                        f"{input.dtype.itemsize}; supported: 1, 2, 4 or 8 bytes)")
    fill = 0 if value is None or mode != "constant" else value
    maps = {axis: _index_map(input.shape[axis], left, right, mode) for axis, left, right in axes}
    if not maps:
        return input.clone()  # a new tensor, as PyTorch's pad with an empty pad list
    out = input
    ordered = sorted(maps)
    # the kernel pads up to 3 consecutive axes per call; constant mode may pad more
    for end in range(len(ordered), 0, -3):
        chunk = ordered[max(end - 3, 0):end]
        out = _Pad.apply(out, chunk[0], [maps[a] for a in chunk], fill)
    return out


__all__ = family_names(__name__)
