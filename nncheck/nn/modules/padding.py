"""Padding layers (seed section Padding层): reflection, replication, zero, constant, circular."""

from collections.abc import Iterable

from ..._lazy import family_names
from ...registry import register
from ...shapes import ShapeError, note
from .. import functional as F
from ..functional.padding import pad_output_shape
from .module import Module


def _ntuple(value, n):
    """torch.nn.modules.utils._ntuple: an iterable is kept as given, a number repeated n times."""
    return tuple(value) if isinstance(value, Iterable) else (value,) * n


class _PadNd(Module):
    """Shared forward and shape rule: ``F.pad(input, self.padding, self._mode, value)``."""

    _mode = "constant"
    _dims = 1  # how many trailing dimensions the layer pads

    def __init__(self, padding):
        super().__init__()
        self.padding = _ntuple(padding, 2 * self._dims)

    def _value(self):
        return None

    def _check_input_dim(self, ndim):
        """Only the circular layers check the rank themselves; F.pad checks the rest."""

    def forward(self, input):
        self._check_input_dim(input.ndim)
        return F.pad(input, self.padding, self._mode, self._value())

    def infer_shape(self, *shapes, explain=None):
        layer = type(self).__name__
        shape = tuple(shapes[0])
        try:
            self._check_input_dim(len(shape))
            out, axes = pad_output_shape(shape, self.padding, self._mode, self._value())
        except (ValueError, RuntimeError, NotImplementedError, TypeError) as exc:
            raise ShapeError(layer, str(exc).split("\n")[0]) from None
        for axis, left, right in reversed(axes):
            note(explain, f"dim {axis} ({self._mode}): out = in + left + right = {shape[axis]} "
                          f"+ {left} + {right} = {out[axis]}")
        return (out,)

    def extra_repr(self):
        return f"{self.padding}"


class _CircularPadNd(_PadNd):
    _mode = "circular"

    def _check_input_dim(self, ndim):
        if ndim not in (self._dims + 1, self._dims + 2):
            raise ValueError(f"{type(self).__name__}: expected {self._dims + 1}D or "
                             f"{self._dims + 2}D input (got {ndim}D input)")


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value):
        super().__init__(padding)
        self.value = value

    def _value(self):
        return self.value

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class _ZeroPadNd(_ConstantPadNd):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


# CLI examples: the seed's configurations where it has them, small inputs for gradcheck --all
@register("padding", "(3,1)", inputs=[(1, 2, 4)])
class ReflectionPad1d(_PadNd):
    _mode, _dims = "reflect", 1


@register("padding", "(1,1,2,0)", inputs=[(1, 1, 3, 3)])
class ReflectionPad2d(_PadNd):
    _mode, _dims = "reflect", 2


@register("padding", "1", inputs=[(1, 1, 2, 3, 3)])
class ReflectionPad3d(_PadNd):
    _mode, _dims = "reflect", 3


@register("padding", "2", inputs=[(1, 2, 4)])
class ReplicationPad1d(_PadNd):
    _mode, _dims = "replicate", 1


@register("padding", "(1,1,2,0)", inputs=[(1, 1, 3, 3)])
class ReplicationPad2d(_PadNd):
    _mode, _dims = "replicate", 2


@register("padding", "1", inputs=[(1, 1, 2, 2, 3)])
class ReplicationPad3d(_PadNd):
    _mode, _dims = "replicate", 3


@register("padding", "2", inputs=[(1, 2, 4)])
class CircularPad1d(_CircularPadNd):
    _dims = 1


@register("padding", "(1,1,2,0)", inputs=[(1, 1, 3, 3)])
class CircularPad2d(_CircularPadNd):
    _dims = 2


@register("padding", "1", inputs=[(1, 1, 2, 2, 3)])
class CircularPad3d(_CircularPadNd):
    _dims = 3


@register("padding", "2 3.5", inputs=[(1, 2, 4)])
class ConstantPad1d(_ConstantPadNd):
    _dims = 1


@register("padding", "(3,0,2,1) 3.5", inputs=[(1, 2, 2)])
class ConstantPad2d(_ConstantPadNd):
    _dims = 2


@register("padding", "(3,1,0,1,1,0) 3.5", inputs=[(1, 1, 2, 2, 2)])
class ConstantPad3d(_ConstantPadNd):
    _dims = 3


@register("padding", "(1,2)", inputs=[(1, 2, 4)])
class ZeroPad1d(_ZeroPadNd):
    _dims = 1


@register("padding", "(1,1,2,0)", inputs=[(1, 1, 3, 3)])
class ZeroPad2d(_ZeroPadNd):
    _dims = 2


@register("padding", "1", inputs=[(1, 1, 2, 2, 2)])
class ZeroPad3d(_ZeroPadNd):
    _dims = 3


__all__ = family_names(__name__)
