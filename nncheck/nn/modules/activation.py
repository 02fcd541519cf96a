"""Activation layers (seed section 非线性激活函数, and the rest of torch.nn's)."""

from ... import factories
from ..._lazy import family_names
from ...registry import register
from ...shapes import ShapeError, expect_rank, note, same_shape
from .. import functional as F
from ..parameter import Parameter
from .module import Module


def _inplace_repr(inplace):
    return "inplace=True" if inplace else ""


class _Elementwise(Module):
    """Shared by the pointwise activations: output shape = input shape."""

    def infer_shape(self, *shapes, explain=None):
        return same_shape(type(self).__name__, shapes, explain)


class _InplaceActivation(_Elementwise):
    _fn = None

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return type(self)._fn(input, inplace=self.inplace)

    def extra_repr(self):
        return _inplace_repr(self.inplace)


class _PlainActivation(_Elementwise):
    _fn = None

    def forward(self, input):
        return type(self)._fn(input)


@register("activation", inputs=[(2, 3, 4)])
class ReLU(_InplaceActivation):
    _fn = staticmethod(F.relu)


@register("activation", inputs=[(2, 3, 4)])
class SELU(_InplaceActivation):
    _fn = staticmethod(F.selu)


@register("activation", inputs=[(2, 3, 4)])
class SiLU(_InplaceActivation):
    _fn = staticmethod(F.silu)


@register("activation", inputs=[(2, 3, 4)])
class Mish(_InplaceActivation):
    _fn = staticmethod(F.mish)


@register("activation", inputs=[(2, 3, 4)])
class Hardswish(_InplaceActivation):
    _fn = staticmethod(F.hardswish)

    def extra_repr(self):
        return ""


@register("activation", inputs=[(2, 3, 4)])
class Hardsigmoid(_InplaceActivation):
    _fn = staticmethod(F.hardsigmoid)

    def extra_repr(self):
        return ""


@register("activation", inputs=[(2, 3, 4)])
class Sigmoid(_PlainActivation):
    _fn = staticmethod(F.sigmoid)


@register("activation", inputs=[(2, 3, 4)])
class Tanh(_PlainActivation):
    _fn = staticmethod(F.tanh)


@register("activation", inputs=[(2, 3, 4)])
class Softsign(_PlainActivation):
    _fn = staticmethod(F.softsign)


@register("activation", inputs=[(2, 3, 4)])
class LogSigmoid(_PlainActivation):
    _fn = staticmethod(F.logsigmoid)


@register("activation", inputs=[(2, 3, 4)])
class Tanhshrink(_PlainActivation):
    _fn = staticmethod(F.tanhshrink)


@register("activation", "0.2", inputs=[(2, 3, 4)])
class LeakyReLU(_Elementwise):
    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, input):
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


@register("activation", "alpha=1.5", inputs=[(2, 3, 4)])
class ELU(_Elementwise):
    _fn = staticmethod(F.elu)

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input):
        return type(self)._fn(input, self.alpha, self.inplace)

    def extra_repr(self):
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


@register("activation", "alpha=0.7", inputs=[(2, 3, 4)])
class CELU(ELU):
    _fn = staticmethod(F.celu)


@register("activation", "-2.0 2.0", inputs=[(2, 3, 4)])
class Hardtanh(_Elementwise):
    def __init__(self, min_val=-1.0, max_val=1.0, inplace=False):
        super().__init__()
        if min_val > max_val:
            raise ValueError(f"Hardtanh: min_val ({min_val}) must not exceed max_val ({max_val})")
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, input):
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self):
        return f"min_val={self.min_val}, max_val={self.max_val}" + (
            ", inplace=True" if self.inplace else "")


@register("activation", inputs=[(2, 3, 4)])
class ReLU6(Hardtanh):
    def __init__(self, inplace=False):
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self):
        return _inplace_repr(self.inplace)


@register("activation", "0.1 20.0", inputs=[(2, 3, 4)])
class Threshold(_Elementwise):
    def __init__(self, threshold, value, inplace=False):
        super().__init__()
        self.threshold, self.value, self.inplace = threshold, value, inplace

    def forward(self, input):
        return F.threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self):
        return f"threshold={self.threshold}, value={self.value}" + (
            ", inplace=True" if self.inplace else "")


@register("activation", "beta=2.0", inputs=[(2, 3, 4)])
class Softplus(_Elementwise):
    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, input):
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


@register("activation", "0.5", inputs=[(2, 3, 4)])
class Hardshrink(_Elementwise):
    _fn = staticmethod(F.hardshrink)

    def __init__(self, lambd=0.5):
        super().__init__()
        self.lambd = lambd

    def forward(self, input):
        return type(self)._fn(input, self.lambd)

    def extra_repr(self):
        return f"{self.lambd}"


@register("activation", "0.5", inputs=[(2, 3, 4)])
class Softshrink(Hardshrink):
    _fn = staticmethod(F.softshrink)


@register("activation", "approximate='tanh'", inputs=[(2, 3, 4)])
class GELU(_Elementwise):
    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, input):
        return F.gelu(input, self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


@register("activation", inputs=[(2, 3, 4)], train=False)
class RReLU(_Elementwise):
    def __init__(self, lower=1.0 / 8, upper=1.0 / 3, inplace=False):
        super().__init__()
        self.lower, self.upper, self.inplace = lower, upper, inplace

    def forward(self, input):
        return F.rrelu(input, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self):
        return f"lower={self.lower}, upper={self.upper}" + (", inplace=True" if self.inplace
                                                            else "")


class _SoftmaxBase(_Elementwise):
    _fn = None

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return type(self)._fn(input, self.dim, _stacklevel=5)

    def infer_shape(self, *shapes, explain=None):
        shape = shapes[0]
        if self.dim is not None and not -max(len(shape), 1) <= self.dim < max(len(shape), 1):
            raise ShapeError(type(self).__name__,
                             f"dim={self.dim} is out of range for a {len(shape)}-D input")
        note(explain, f"normalises along dim {self.dim}: output shape = input shape")
        return (tuple(shape),)

    def extra_repr(self):
        return f"dim={self.dim}"


@register("activation", "dim=1", inputs=[(2, 5, 3)])
class Softmax(_SoftmaxBase):
    _fn = staticmethod(F.softmax)


@register("activation", "dim=1", inputs=[(2, 5, 3)])
class Softmin(_SoftmaxBase):
    _fn = staticmethod(F.softmin)


@register("activation", "dim=1", inputs=[(2, 5, 3)])
class LogSoftmax(_SoftmaxBase):
    _fn = staticmethod(F.log_softmax)


@register("activation", inputs=[(2, 3, 4, 4)])
class Softmax2d(_Elementwise):
    def forward(self, input):
        if input.ndim not in (3, 4):
            raise ValueError(
                f"Softmax2d: expected input to be 3-D or 4-D (C, H, W) or (N, C, H, W), got "
                f"{input.ndim}-D input of shape {list(input.shape)}"
            )
        return F.softmax(input, -3)

    def infer_shape(self, *shapes, explain=None):
        expect_rank("Softmax2d", shapes[0], (3, 4))
        return same_shape("Softmax2d", shapes, explain)


@register("activation", "3", inputs=[(2, 3, 4)])
class PReLU(_Elementwise):
    def __init__(self, num_parameters=1, init=0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = Parameter(factories.empty(num_parameters, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self):
        self.weight.data.fill_(self.init)

    def forward(self, input):
        return F.prelu(input, self.weight)

    def infer_shape(self, *shapes, explain=None):
        shape = shapes[0]
        channels = shape[1] if len(shape) >= 2 else 1
        if self.num_parameters not in (1, channels):
            raise ShapeError("PReLU", f"num_parameters={self.num_parameters} but the input has "
                                      f"{channels} channels (dim 1)",
                             f"use PReLU({channels}) or PReLU(1)")
        return same_shape("PReLU", shapes, explain)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


@register("activation", "dim=-1", inputs=[(2, 3, 4)])
class GLU(Module):
    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.glu(input, self.dim)

    def infer_shape(self, *shapes, explain=None):
        shape = list(shapes[0])
        if not -max(len(shape), 1) <= self.dim < max(len(shape), 1) or not shape:
            raise ShapeError("GLU", f"dim={self.dim} is out of range for a {len(shape)}-D input")
        d = self.dim % len(shape)
        if shape[d] % 2:
            raise ShapeError("GLU", f"dimension {d} has odd size {shape[d]}; GLU halves it",
                             "use an even size along dim")
        note(explain, f"dim {d}: {shape[d]} / 2 = {shape[d] // 2} (first half gated by the "
                      "sigmoid of the second)")
        shape[d] //= 2
        return (tuple(shape),)

    def extra_repr(self):
        return f"dim={self.dim}"


__all__ = family_names(__name__)
