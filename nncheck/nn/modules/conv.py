"""Convolution layers: Conv1d/2d/3d, ConvTranspose1d/2d/3d, and the im2col layers Unfold/Fold.

Same constructor signatures, parameter shapes, initialisation and repr as
torch.nn; the arithmetic lives in ``nncheck.nn.functional.conv`` so that
``infer_shape`` explains exactly what the forward pass computes.
"""

import math

from ... import factories
from ..._lazy import family_names
from ...registry import register
from ...shapes import ShapeError, SymbolicDimensionError, expect_rank, is_symbolic, note, require
from .. import functional as F
from .. import init
from ..functional import conv as C
from ..parameter import Parameter
from .lazy import LazyModuleMixin
from .module import Module

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _expand(value, n):
    """PyTorch's _single/_pair/_triple: a sequence is kept as a tuple, a scalar repeated."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * n


def _ints(layer, arg, values, minimum):
    for v in values:
        if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
            raise ValueError(f"{layer}: {arg} must be {'positive' if minimum else 'non-negative'}"
                             f" int(s), got {arg}={values if len(values) > 1 else values[0]}")


class _ConvNd(Module):
    """Parameters, init, repr and shape rules shared by the six convolution layers."""

    _nd = 0

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 transposed, output_padding, groups, bias, padding_mode, device=None,
                 dtype=None):
        super().__init__()
        layer, nd = type(self).__name__, self._nd
        if not isinstance(groups, int) or isinstance(groups, bool) or groups <= 0:
            raise ValueError(f"{layer}: groups must be a positive integer, got {groups!r}")
        _ints(layer, "in_channels", (in_channels,), 0)  # 0 is accepted, as in PyTorch
        _ints(layer, "out_channels", (out_channels,), 1)
        if in_channels % groups != 0:
            raise ValueError(f"{layer}: in_channels must be divisible by groups "
                             f"(in_channels={in_channels}, groups={groups})")
        if out_channels % groups != 0:
            raise ValueError(f"{layer}: out_channels must be divisible by groups "
                             f"(out_channels={out_channels}, groups={groups})")
        if len(kernel_size) != nd:
            raise ValueError(f"{layer}: kernel_size must be an int or {nd} ints, got "
                             f"{kernel_size}")
        _ints(layer, "kernel_size", kernel_size, 1)
        if isinstance(padding, str):
            C.check_padding_string(layer, padding, stride)
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{layer}: padding_mode must be one of {set(_PADDING_MODES)}, "
                             f"but got padding_mode='{padding_mode}'")
        if transposed and padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {layer}')
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.transposed = dilation, transposed
        self.output_padding, self.groups = output_padding, groups
        self.padding_mode = padding_mode
        if isinstance(padding, str):
            pads = ([(0, 0)] * nd if padding == "valid"
                    else C.same_padding(kernel_size, dilation))
        else:
            pads = [(p, p) for p in padding]
        # F.pad order: last dim first, (before, after) for each
        self._reversed_padding_repeated_twice = [p for pair in reversed(pads) for p in pair]
        shape = ((in_channels, out_channels // groups) if transposed
                 else (out_channels, in_channels // groups)) + tuple(kernel_size)
        self.weight = Parameter(factories.empty(*shape, dtype=dtype))
        if bias:
            self.bias = Parameter(factories.empty(out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.linear_default_(self.weight, self.bias)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, " \
            f"stride={self.stride}"
        if self.padding != (0,) * len(self.padding):
            s += f", padding={self.padding}"
        if self.dilation != (1,) * len(self.dilation):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * len(self.output_padding):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s

    # ------------------------------------------------------------------ shape rule
    def _check_input(self, shape, explain):
        """Rank and channel checks; returns the spatial sizes."""
        layer, nd = type(self).__name__, self._nd
        expect_rank(layer, shape, (nd + 1, nd + 2))
        channels = shape[-nd - 1]
        dims = ", ".join(C.SPATIAL_NAMES[nd])
        require(layer, channels == self.in_channels,
                f"input has {channels} channels (dim {len(shape) - nd - 1} of "
                f"{list(shape)}) but in_channels={self.in_channels}",
                f"use {layer}({channels}, ...) or feed [N, {self.in_channels}, {dims}]")
        C.check_positive(layer, "stride", self.stride)
        C.check_positive(layer, "dilation", self.dilation)
        if not isinstance(self.padding, str):
            C.check_non_negative(layer, "padding", self.padding)
        note(explain, f"C_out = out_channels = {self.out_channels} (weight "
                      f"{list(self.weight.shape)}, groups={self.groups}); batch dims "
                      f"{list(shape[:-nd - 1])} unchanged")
        return tuple(shape[-nd:])

    def _lead(self, shape):
        # no input channels: PyTorch's output has no channels either (see F.conv*d)
        channels = self.out_channels if self.in_channels or self.transposed else 0
        return tuple(shape[:-self._nd - 1]) + (channels,)


class _Conv(_ConvNd):
    def _conv_forward(self, input, weight, bias):
        conv = getattr(F, f"conv{self._nd}d")
        if self.padding_mode != "zeros":
            input = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return conv(input, weight, bias, self.stride, 0, self.dilation, self.groups)
        return conv(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, input):
        return self._conv_forward(input, self.weight, self.bias)

    def infer_shape(self, *shapes, explain=None):
        layer, shape = type(self).__name__, tuple(shapes[0])
        sizes = self._check_input(shape, explain)
        padding = self.padding
        if self.padding_mode != "zeros":
            sizes = self._mode_padded(sizes, explain)
            padding = (0,) * self._nd
        out, _ = C.conv_output_sizes(layer, sizes, self.kernel_size, self.stride, padding,
                                     self.dilation, explain)
        return (self._lead(shape) + out,)

    def _mode_padded(self, sizes, explain):
        """Sizes after F.pad(mode=padding_mode), with the limits reflect/circular impose."""
        layer, out = type(self).__name__, []
        pads = self._reversed_padding_repeated_twice
        for i, (name, size) in enumerate(zip(C.SPATIAL_NAMES[self._nd], sizes)):
            before, after = pads[2 * (self._nd - 1 - i)], pads[2 * (self._nd - 1 - i) + 1]
            reflect = self.padding_mode == "reflect"
            pad = max(before, after)
            if self.padding_mode != "replicate":
                require(layer, pad <= size - reflect,
                        f"{name}: padding_mode='{self.padding_mode}' can pad at most "
                        f"{size - reflect} on each side of size {size}, got {pad}",
                        f"use an input of at least {pad + reflect} along {name} or "
                        "padding_mode='zeros'")
            note(explain, f"{name}: padding_mode='{self.padding_mode}' pads {before} before and "
                          f"{after} after: {size} -> {size + (before + after)}")
            out.append(size + (before + after))
        return tuple(out)


class _ConvTransposeNd(_ConvNd):
    def forward(self, input, output_size=None):
        output_padding = self.output_padding
        if output_size is not None:
            output_padding = C.transposed_output_padding(
                type(self).__name__, tuple(input.shape[-self._nd:]), output_size,
                input.ndim == self._nd + 2, self.kernel_size, self.stride, self.padding,
                self.dilation)
        return getattr(F, f"conv_transpose{self._nd}d")(
            input, self.weight, self.bias, self.stride, self.padding, output_padding,
            self.groups, self.dilation)

    def infer_shape(self, *shapes, explain=None):
        layer, shape = type(self).__name__, tuple(shapes[0])
        sizes = self._check_input(shape, explain)
        C.check_output_padding(layer, self.output_padding, self.stride, self.dilation)
        out = C.transposed_output_sizes(layer, sizes, self.kernel_size, self.stride,
                                        self.padding, self.output_padding, self.dilation,
                                        explain)
        return (self._lead(shape) + out,)


def _conv_args(nd, kernel_size, stride, padding, dilation):
    padding = padding if isinstance(padding, str) else _expand(padding, nd)
    return _expand(kernel_size, nd), _expand(stride, nd), padding, _expand(dilation, nd)


@register("conv", "2 3 3", inputs=[(1, 2, 7)])
class Conv1d(_Conv):
    _nd = 1

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        k, s, p, d = _conv_args(1, kernel_size, stride, padding, dilation)
        super().__init__(in_channels, out_channels, k, s, p, d, False, (0,), groups, bias,
                         padding_mode, device, dtype)


@register("conv", "2 3 3", inputs=[(1, 2, 5, 5)])
class Conv2d(_Conv):
    _nd = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        k, s, p, d = _conv_args(2, kernel_size, stride, padding, dilation)
        super().__init__(in_channels, out_channels, k, s, p, d, False, (0, 0), groups, bias,
                         padding_mode, device, dtype)


@register("conv", "2 3 2", inputs=[(1, 2, 3, 4, 3)])
class Conv3d(_Conv):
    _nd = 3

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None):
        k, s, p, d = _conv_args(3, kernel_size, stride, padding, dilation)
        super().__init__(in_channels, out_channels, k, s, p, d, False, (0, 0, 0), groups, bias,
                         padding_mode, device, dtype)


def _transpose_args(nd, kernel_size, stride, padding, output_padding, dilation):
    return tuple(_expand(v, nd) for v in (kernel_size, stride, padding, dilation, output_padding))


@register("conv", "2 3 3 stride=2", inputs=[(1, 2, 4)])
class ConvTranspose1d(_ConvTransposeNd):
    _nd = 1

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype=None):
        k, s, p, d, op = _transpose_args(1, kernel_size, stride, padding, output_padding, dilation)
        super().__init__(in_channels, out_channels, k, s, p, d, True, op, groups, bias,
                         padding_mode, device, dtype)


@register("conv", "2 3 3 stride=2", inputs=[(1, 2, 3, 3)])
class ConvTranspose2d(_ConvTransposeNd):
    _nd = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype=None):
        k, s, p, d, op = _transpose_args(2, kernel_size, stride, padding, output_padding, dilation)
        super().__init__(in_channels, out_channels, k, s, p, d, True, op, groups, bias,
                         padding_mode, device, dtype)


@register("conv", "2 3 2 stride=2", inputs=[(1, 2, 2, 2, 2)])
class ConvTranspose3d(_ConvTransposeNd):
    _nd = 3

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype=None):
        k, s, p, d, op = _transpose_args(3, kernel_size, stride, padding, output_padding, dilation)
        super().__init__(in_channels, out_channels, k, s, p, d, True, op, groups, bias,
                         padding_mode, device, dtype)


# ----------------------------------------------------------------------------- lazy
class _LazyConvMixin(LazyModuleMixin):
    """in_channels from the first input: its dim 1 (batched) or 0 (unbatched)."""

    def initialize_parameters(self, input):
        if not self.has_uninitialized_params():
            return
        nd, layer = self._nd, type(self).__name__
        if input.ndim not in (nd + 1, nd + 2):
            raise RuntimeError(f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input "
                               f"to {layer}, but got input of size: {list(input.shape)}")
        self.in_channels = input.shape[1 if input.ndim == nd + 2 else 0]
        if self.in_channels % self.groups:
            raise ValueError(f"{layer}: in_channels must be divisible by groups "
                             f"(in_channels={self.in_channels}, groups={self.groups})")
        pair = ((self.in_channels, self.out_channels // self.groups) if self.transposed
                else (self.out_channels, self.in_channels // self.groups))
        self._materialize({"weight": pair + tuple(self.kernel_size),
                           "bias": (self.out_channels,)})


class _LazyConv(_LazyConvMixin):
    def __init__(self, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(groups, out_channels, kernel_size, stride, padding, dilation, groups,
                         bias, padding_mode, device, dtype)
        self._make_lazy("in_channels", dtype, parameters=("weight", "bias"))


class _LazyConvTranspose(_LazyConvMixin):
    def __init__(self, out_channels, kernel_size, stride=1, padding=0, output_padding=0,
                 groups=1, bias=True, dilation=1, padding_mode="zeros", device=None,
                 dtype=None):
        super().__init__(groups, out_channels, kernel_size, stride, padding, output_padding,
                         groups, bias, dilation, padding_mode, device, dtype)
        self._make_lazy("in_channels", dtype, parameters=("weight", "bias"))


class LazyConv1d(_LazyConv, Conv1d):
    cls_to_become = Conv1d


class LazyConv2d(_LazyConv, Conv2d):
    cls_to_become = Conv2d


class LazyConv3d(_LazyConv, Conv3d):
    cls_to_become = Conv3d


class LazyConvTranspose1d(_LazyConvTranspose, ConvTranspose1d):
    cls_to_become = ConvTranspose1d


class LazyConvTranspose2d(_LazyConvTranspose, ConvTranspose2d):
    cls_to_become = ConvTranspose2d


class LazyConvTranspose3d(_LazyConvTranspose, ConvTranspose3d):
    cls_to_become = ConvTranspose3d


# ----------------------------------------------------------------------------- Unfold / Fold
class _SlidingBlocks(Module):
    """Unfold and Fold: the same four arguments, and the same count of sliding blocks."""

    def _block_shape(self, sizes, explain):
        """(kernel, L): the kernel as a pair and the number of blocks over ``sizes``."""
        layer = type(self).__name__
        kernel, dilation, padding, stride = C.block_args(
            layer, self.kernel_size, self.dilation, self.padding, self.stride)
        counts = C.block_counts(layer, sizes, kernel, dilation, padding, stride, explain)
        note(explain, f"L = number of blocks = {counts[0]} * {counts[1]} = {math.prod(counts)}")
        return kernel, math.prod(counts)


@register("conv", "2", inputs=[(1, 2, 4, 4)])
class Unfold(_SlidingBlocks):
    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size, self.dilation = kernel_size, dilation
        self.padding, self.stride = padding, stride

    def forward(self, input):
        return F.unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def infer_shape(self, *shapes, explain=None):
        shape = tuple(shapes[0])
        expect_rank("Unfold", shape, (3, 4))
        kernel, n_blocks = self._block_shape(shape[-2:], explain)
        rows = shape[-3] * math.prod(kernel)
        note(explain, f"C*prod(kernel_size) = {shape[-3]}*{kernel[0]}*{kernel[1]} = {rows}")
        return (shape[:-3] + (rows, n_blocks),)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")


@register("conv", "(3,3) 2", inputs=[(1, 8, 4)])
class Fold(_SlidingBlocks):
    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.output_size, self.kernel_size = output_size, kernel_size
        self.dilation, self.padding, self.stride = dilation, padding, stride

    def forward(self, input):
        return F.fold(input, self.output_size, self.kernel_size, self.dilation, self.padding,
                      self.stride)

    def infer_shape(self, *shapes, explain=None):
        shape = tuple(shapes[0])
        expect_rank("Fold", shape, (2, 3))
        sizes = C.ntuple(self.output_size, 2, "Fold", "output_size")
        kernel, n_blocks = self._block_shape(sizes, explain)
        k = math.prod(kernel)
        if is_symbolic(shape[-2]):
            raise SymbolicDimensionError(str(shape[-2]))  # the channel count depends on it
        if shape[-2] % k:
            raise ShapeError("Fold", f"input dim {len(shape) - 2} has {shape[-2]} rows, not a "
                                     f"multiple of prod(kernel_size) = {k}",
                             f"feed C*{k} rows for C channels")
        if not is_symbolic(shape[-1]) and shape[-1] != n_blocks:
            raise ShapeError("Fold", f"input dim {len(shape) - 1} has {shape[-1]} blocks but "
                                     f"output_size={sizes} holds {n_blocks}",
                             "match output_size, kernel_size, dilation, padding and stride to "
                             "the Unfold that made the blocks")
        note(explain, f"C = {shape[-2]} / prod(kernel_size) = {shape[-2]} / {k} = "
                      f"{shape[-2] // k}; spatial = output_size {list(sizes)}")
        return (shape[:-2] + (shape[-2] // k,) + sizes,)

    def extra_repr(self):
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, "
                f"dilation={self.dilation}, padding={self.padding}, stride={self.stride}")


__all__ = family_names(__name__)
