"""Pooling layers (seed section 池化层, and the rest of torch.nn's pooling layers)."""

from ... import factories
from ..._lazy import family_names, np
from ...registry import register
from ...shapes import ShapeError
from .. import functional as F
from ..functional.pooling import (
    adaptive_pool_shape,
    avg_pool_shape,
    fractional_pool_shape,
    lp_pool_shape,
    max_pool_shape,
    unpool_shape,
)
from .module import Module
from .padding import _ntuple


def _distinct(shapes, rng, np_dtype):
    """Inputs without ties (a scaled permutation), so a max has one clear winner for gradcheck."""
    arrays = []
    for shape in shapes:
        n = int(np.prod(shape))
        arrays.append(((rng.permutation(n) / max(n, 1) - 0.5) * 4).reshape(shape).astype(np_dtype))
    return arrays


def _unpool_inputs(shapes, rng, np_dtype):
    """(pooled values, their indices) from a real 2x2 max pool, for the MaxUnpool examples."""
    shape = shapes[0]
    nd = len(shape) - 2
    full = shape[:2] + tuple(2 * s for s in shape[2:])
    (source,) = _distinct([full], rng, np_dtype)
    pool = getattr(F, f"max_pool{nd}d")
    values, indices = pool(factories.from_numpy(source), 2, return_indices=True)
    return [values.numpy(), indices.numpy()]


def _shape_error(layer, exc):
    if isinstance(exc, ShapeError):
        return exc
    return ShapeError(layer, str(exc))


class _PoolModule(Module):
    """infer_shape through the functional module's shape rule, errors as ShapeError."""

    def _outputs(self):
        return 1

    def infer_shape(self, *shapes, explain=None):
        layer = type(self).__name__
        try:
            out = tuple(self._output_shape(tuple(shapes[0]), explain))
        except (ValueError, RuntimeError, TypeError) as exc:
            raise _shape_error(layer, exc) from None
        return (out,) * self._outputs()


# ---------------------------------------------------------------- max pooling

class _MaxPoolNd(_PoolModule):
    _nd = 1

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input):
        return getattr(F, f"max_pool{self._nd}d")(
            input, self.kernel_size, self.stride, self.padding, self.dilation,
            ceil_mode=self.ceil_mode, return_indices=self.return_indices)

    def _output_shape(self, shape, explain):
        return max_pool_shape(type(self).__name__, shape, self._nd, self.kernel_size,
                              self.stride, self.padding, self.dilation, self.ceil_mode, explain)

    def _outputs(self):
        return 2 if self.return_indices else 1

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


@register("pooling", "3 stride=2", inputs=[(1, 2, 7)], make_inputs=_distinct)
class MaxPool1d(_MaxPoolNd):
    _nd = 1


@register("pooling", "2", inputs=[(1, 2, 4, 4)], make_inputs=_distinct)
class MaxPool2d(_MaxPoolNd):
    _nd = 2


@register("pooling", "2", inputs=[(1, 1, 4, 4, 4)], make_inputs=_distinct)
class MaxPool3d(_MaxPoolNd):
    _nd = 3


# ---------------------------------------------------------------- max unpooling

class _MaxUnpoolNd(_PoolModule):
    _nd = 1

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = _ntuple(kernel_size, self._nd)
        self.stride = _ntuple(stride if stride is not None else kernel_size, self._nd)
        self.padding = _ntuple(padding, self._nd)

    def forward(self, input, indices, output_size=None):
        return getattr(F, f"max_unpool{self._nd}d")(input, indices, self.kernel_size,
                                                   self.stride, self.padding, output_size)

    def infer_shape(self, *shapes, explain=None):
        if len(shapes) != 2 or tuple(shapes[0]) != tuple(shapes[1]):
            raise ShapeError(type(self).__name__, f"takes (input, indices) of the same shape, "
                                                  f"got {[list(s) for s in shapes]}")
        return super().infer_shape(*shapes, explain=explain)

    def _output_shape(self, shape, explain):
        return unpool_shape(type(self).__name__, shape, self._nd, self.kernel_size, self.stride,
                            self.padding, None, explain)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


@register("pooling", "2", inputs=[(1, 2, 4), (1, 2, 4)], make_inputs=_unpool_inputs,
          grad_inputs=(0,))
class MaxUnpool1d(_MaxUnpoolNd):
    _nd = 1


@register("pooling", "2", inputs=[(1, 1, 2, 2), (1, 1, 2, 2)], make_inputs=_unpool_inputs,
          grad_inputs=(0,))
class MaxUnpool2d(_MaxUnpoolNd):
    _nd = 2


@register("pooling", "2", inputs=[(1, 1, 2, 2, 2), (1, 1, 2, 2, 2)],
          make_inputs=_unpool_inputs, grad_inputs=(0,))
class MaxUnpool3d(_MaxUnpoolNd):
    _nd = 3


# ---------------------------------------------------------------- average pooling

class _AvgPoolNd(_PoolModule):
    _nd = 1

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def _extra_args(self):
        return ()

    def forward(self, input):
        return getattr(F, f"avg_pool{self._nd}d")(
            input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
            self.count_include_pad, *self._extra_args())

    def _output_shape(self, shape, explain):
        return avg_pool_shape(type(self).__name__, shape, self._nd, self.kernel_size,
                              self.stride, self.padding, self.ceil_mode, explain)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _AvgPoolDivisorNd(_AvgPoolNd):
    """AvgPool2d/3d: kernel arguments kept as given, plus divisor_override."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad)
        self.divisor_override = divisor_override

    def _extra_args(self):
        return (self.divisor_override,)


@register("pooling", "3 stride=2", inputs=[(1, 2, 7)])
class AvgPool1d(_AvgPoolNd):
    _nd = 1

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True):
        super().__init__(_ntuple(kernel_size, 1),
                         _ntuple(stride if stride is not None else kernel_size, 1),
                         _ntuple(padding, 1), ceil_mode, count_include_pad)


@register("pooling", "3 stride=2 padding=1", inputs=[(1, 2, 5, 5)])
class AvgPool2d(_AvgPoolDivisorNd):
    _nd = 2


@register("pooling", "2", inputs=[(1, 1, 4, 4, 4)])
class AvgPool3d(_AvgPoolDivisorNd):
    _nd = 3


# ---------------------------------------------------------------- fractional max pooling

class _FractionalMaxPoolNd(_PoolModule):
    _nd = 2

    def __init__(self, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                 _random_samples=None):
        super().__init__()
        name, nd = type(self).__name__, self._nd
        kernels = _ntuple(kernel_size, nd)
        if nd == 3 and not all(k > 0 for k in kernels):
            raise ValueError(f"kernel_size must be greater than 0, but got {kernel_size}")
        self.kernel_size = kernels
        self.return_indices = return_indices
        self.register_buffer("_random_samples", _random_samples)
        self.output_size = _ntuple(output_size, nd) if output_size is not None else None
        self.output_ratio = _ntuple(output_ratio, nd) if output_ratio is not None else None
        if output_size is None and output_ratio is None:
            raise ValueError(f"{name} requires specifying either an output size, or a pooling "
                             f"ratio")
        if output_size is not None and output_ratio is not None:
            raise ValueError("only one of output_size and output_ratio may be specified")
        if self.output_ratio is not None and not all(0 < r < 1 for r in self.output_ratio):
            raise ValueError(f"output_ratio must be between 0 and 1 (got {output_ratio})")

    def forward(self, input):
        return getattr(F, f"fractional_max_pool{self._nd}d")(
            input, self.kernel_size, self.output_size, self.output_ratio, self.return_indices,
            _random_samples=self._random_samples)

    def _output_shape(self, shape, explain):
        lead, _, out, _ = fractional_pool_shape(type(self).__name__, shape, self._nd,
                                                self.kernel_size, self.output_size,
                                                self.output_ratio, explain)
        return lead + out

    def _outputs(self):
        return 2 if self.return_indices else 1


@register("pooling", "2 output_size=(3,3)", inputs=[(1, 2, 5, 5)], make_inputs=_distinct)
class FractionalMaxPool2d(_FractionalMaxPoolNd):
    _nd = 2


@register("pooling", "2 output_size=2", inputs=[(1, 1, 4, 4, 4)], make_inputs=_distinct)
class FractionalMaxPool3d(_FractionalMaxPoolNd):
    _nd = 3


# ---------------------------------------------------------------- LP pooling

class _LPPoolNd(_PoolModule):
    _nd = 1

    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode=False):
        super().__init__()
        self.norm_type = norm_type
        self.kernel_size = kernel_size
        self.stride = stride
        self.ceil_mode = ceil_mode

    def forward(self, input):
        return getattr(F, f"lp_pool{self._nd}d")(input, float(self.norm_type), self.kernel_size,
                                                self.stride, self.ceil_mode)

    def _output_shape(self, shape, explain):
        return lp_pool_shape(type(self).__name__, shape, self._nd, self.kernel_size, self.stride,
                             self.ceil_mode, explain)

    def extra_repr(self):
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, ceil_mode={self.ceil_mode}")


@register("pooling", "2 3 stride=2", inputs=[(1, 2, 7)])
class LPPool1d(_LPPoolNd):
    _nd = 1


@register("pooling", "2 2", inputs=[(1, 2, 4, 4)])
class LPPool2d(_LPPoolNd):
    _nd = 2


@register("pooling", "2 2", inputs=[(1, 1, 4, 4, 4)])
class LPPool3d(_LPPoolNd):
    _nd = 3


# ---------------------------------------------------------------- adaptive pooling

class _AdaptiveMaxPoolNd(_PoolModule):
    _nd = 1

    def __init__(self, output_size, return_indices=False):
        super().__init__()
        self.output_size = output_size
        self.return_indices = return_indices

    def forward(self, input):
        return getattr(F, f"adaptive_max_pool{self._nd}d")(input, self.output_size,
                                                          self.return_indices)

    def _output_shape(self, shape, explain):
        return adaptive_pool_shape(type(self).__name__, shape, self._nd, self.output_size,
                                   explain)

    def _outputs(self):
        return 2 if self.return_indices else 1

    def extra_repr(self):
        return f"output_size={self.output_size}"


@register("pooling", "3", inputs=[(1, 2, 8)], make_inputs=_distinct)
class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    _nd = 1


@register("pooling", "(2,3)", inputs=[(1, 2, 5, 7)], make_inputs=_distinct)
class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    _nd = 2


@register("pooling", "2", inputs=[(1, 1, 4, 4, 4)], make_inputs=_distinct)
class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    _nd = 3


class _AdaptiveAvgPoolNd(_PoolModule):
    _nd = 1

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        return getattr(F, f"adaptive_avg_pool{self._nd}d")(input, self.output_size)

    def _output_shape(self, shape, explain):
        return adaptive_pool_shape(type(self).__name__, shape, self._nd, self.output_size,
                                   explain)

    def extra_repr(self):
        return f"output_size={self.output_size}"


@register("pooling", "3", inputs=[(1, 2, 8)])
class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    _nd = 1


@register("pooling", "(2,3)", inputs=[(1, 2, 5, 7)])
class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    _nd = 2


@register("pooling", "2", inputs=[(1, 1, 3, 4, 5)])
class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd):
    _nd = 3


__all__ = family_names(__name__)
