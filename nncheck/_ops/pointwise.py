"""Elementwise math beyond ``Tensor``'s arithmetic: erf/log2/trig/hyperbolic and friends,
fmod/remainder/atan2/hypot/logaddexp, lerp/addcmul/addcdiv, logical and bitwise ops,
isclose, nan_to_num.

A unary op is one line of the table below: its numpy function and its derivative.
"""

import math
from collections import namedtuple

from .. import _dtype as dt
from .._lazy import LazyModule, np
from ..ops import Op, sum_to_shape
from ..tensor import Tensor, _binary, _raw
from ..tensor import where as _where
from ._common import as_tensor_arg
from .indexing import nonzero

special = LazyModule("scipy.special")


def _unary_op(name, f, df):
    """An Op ``name`` computing ``f(a)`` whose derivative is ``df(a, out)``."""
    def forward(ctx, a):
        out = f(a)
        ctx.save_for_backward(a, out)
        return out

    def backward(ctx, g):
        a, out = ctx.saved_tensors
        with np.errstate(divide="ignore", invalid="ignore"):
            return g * df(a, out)

    return type(name, (Op,), {"forward": staticmethod(forward),
                              "backward": staticmethod(backward),
                              "__doc__": f"``{name.lower()}`` elementwise."})


_SQRT_PI = math.sqrt(math.pi)


def _sinc_grad(a, out):
    pa = np.pi * a
    return np.where(a == 0, 0, (np.cos(pa) - out) / np.where(a == 0, 1, a))


# name: (forward on the array, derivative from (input, output)); inputs are floating
_FLOATING_UNARY = {
    "erf": (lambda a: special.erf(a), lambda a, out: 2 / _SQRT_PI * np.exp(-a * a)),
    "erfc": (lambda a: special.erfc(a), lambda a, out: -2 / _SQRT_PI * np.exp(-a * a)),
    "erfinv": (lambda a: special.erfinv(a), lambda a, out: _SQRT_PI / 2 * np.exp(out * out)),
    "log2": (lambda a: np.log2(a), lambda a, out: 1 / (a * math.log(2))),
    "log10": (lambda a: np.log10(a), lambda a, out: 1 / (a * math.log(10))),
    "log1p": (lambda a: np.log1p(a), lambda a, out: 1 / (1 + a)),
    "expm1": (lambda a: np.expm1(a), lambda a, out: out + 1),
    "exp2": (lambda a: np.exp2(a), lambda a, out: out * math.log(2)),
    "tan": (lambda a: np.tan(a), lambda a, out: 1 + out * out),
    "asin": (lambda a: np.arcsin(a), lambda a, out: 1 / np.sqrt(1 - a * a)),
    "acos": (lambda a: np.arccos(a), lambda a, out: -1 / np.sqrt(1 - a * a)),
    "atan": (lambda a: np.arctan(a), lambda a, out: 1 / (1 + a * a)),
    "sinh": (lambda a: np.sinh(a), lambda a, out: np.cosh(a)),
    "cosh": (lambda a: np.cosh(a), lambda a, out: np.sinh(a)),
    "asinh": (lambda a: np.arcsinh(a), lambda a, out: 1 / np.sqrt(a * a + 1)),
    "acosh": (lambda a: np.arccosh(a), lambda a, out: 1 / np.sqrt(a * a - 1)),
    "atanh": (lambda a: np.arctanh(a), lambda a, out: 1 / (1 - a * a)),
    "lgamma": (lambda a: special.gammaln(a), lambda a, out: special.digamma(a)),
    "digamma": (lambda a: special.digamma(a), lambda a, out: special.polygamma(1, a)),
    "sinc": (lambda a: np.sinc(a), _sinc_grad),
    "deg2rad": (lambda a: np.deg2rad(a), lambda a, out: np.full_like(a, math.pi / 180)),
    "rad2deg": (lambda a: np.rad2deg(a), lambda a, out: np.full_like(a, 180 / math.pi)),
    "frac": (lambda a: a - np.trunc(a), lambda a, out: np.ones_like(a)),
    "i0": (lambda a: special.i0(a), lambda a, out: special.i1(a)),
}
_OPS = {name: _unary_op(name.capitalize(), f, df) for name, (f, df) in _FLOATING_UNARY.items()}
# piecewise constant: zero gradient, but (as in PyTorch) the result is in the graph
Trunc = _unary_op("Trunc", lambda a: np.trunc(a), lambda a, out: np.zeros_like(a))
Sgn = _unary_op("Sgn", lambda a: np.sign(a), lambda a, out: np.zeros_like(a))


def _floating(input):
    """PyTorch computes these in the default float dtype for integer/bool inputs."""
    return input if input.dtype.is_floating_point else input.to(dt.float32)


def _make_unary(name):
    op = _OPS[name]

    def function(input):
        return op.apply(_floating(input))

    function.__name__ = name
    function.__doc__ = op.__doc__
    return function


globals().update({name: _make_unary(name) for name in _FLOATING_UNARY})
arcsin, arccos, arctan, arcsinh, arccosh, arctanh = (
    globals()[n] for n in ("asin", "acos", "atan", "asinh", "acosh", "atanh"))


def trunc(input):
    return Trunc.apply(input) if input.dtype.is_floating_point else input.clone()


fix = trunc


def positive(input):
    return input


def sgn(input):
    return Sgn.apply(input) if input.dtype.is_floating_point else input.sign()



# --------------------------------------------------------------------------- binary
class FMod(Op):
    """C's fmod (the sign of the dividend), or Python's modulo (``floor``: the sign of the
    divisor, ``remainder``); d/da = 1, d/db = -quotient rounded the same way."""

    @staticmethod
    def forward(ctx, a, b, floor):
        ctx.save_for_backward(a, b)
        ctx.floor = floor
        return (np.remainder if floor else np.fmod)(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ga = sum_to_shape(g, np.shape(a)) if ctx.needs_input_grad[0] else None
        gb = None
        if ctx.needs_input_grad[1]:
            with np.errstate(divide="ignore", invalid="ignore"):
                q = (np.floor if ctx.floor else np.trunc)(a / b)
            gb = sum_to_shape(-g * q, np.shape(b))
        return ga, gb


class Atan2(Op):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.arctan2(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = a * a + b * b
            return sum_to_shape(g * b / r2, np.shape(a)), sum_to_shape(-g * a / r2, np.shape(b))


class Hypot(Op):
    @staticmethod
    def forward(ctx, a, b):
        out = np.hypot(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        with np.errstate(divide="ignore", invalid="ignore"):
            return (sum_to_shape(g * a / out, np.shape(a)),
                    sum_to_shape(g * b / out, np.shape(b)))


class LogAddExp(Op):
    """``log(base**a + base**b)`` for base e or 2."""

    @staticmethod
    def forward(ctx, a, b, base2):
        out = (np.logaddexp2 if base2 else np.logaddexp)(a, b)
        ctx.save_for_backward(a, b, out)
        ctx.power = np.exp2 if base2 else np.exp
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        return (sum_to_shape(g * ctx.power(a - out), np.shape(a)),
                sum_to_shape(g * ctx.power(b - out), np.shape(b)))


class _Bound:
    """``op`` with its trailing arguments fixed, for ``_binary`` (which calls
    ``apply(a, b)``)."""

    def __init__(self, op, *extra):
        self.op, self.extra = op, extra

    def apply(self, a, b):
        return self.op.apply(a, b, *self.extra)


def fmod(input, other):
    return _binary(input, other, _Bound(FMod, False))


def remainder(input, other):
    return _binary(input, other, _Bound(FMod, True))


def atan2(input, other):
    return _binary(_floating(input), other, Atan2)


def hypot(input, other):
    return _binary(input, other, Hypot)


def logaddexp(input, other):
    return _binary(input, other, _Bound(LogAddExp, False))


def logaddexp2(input, other):
    return _binary(input, other, _Bound(LogAddExp, True))


arctan2 = atan2


def float_power(input, exponent):
    base = input.to(dt.float64) if isinstance(input, Tensor) else input
    exp = exponent.to(dt.float64) if isinstance(exponent, Tensor) else exponent
    return (base if isinstance(base, Tensor) else as_tensor_arg(base, exp)) ** exp


def floor_divide(input, other):
    return input // other


def true_divide(input, other):
    return input / other


def heaviside(input, values):
    return Tensor._wrap(np.heaviside(input._data, _raw(values)).astype(input._data.dtype))


# --------------------------------------------------------------------------- ternary
def lerp(input, end, weight):
    """``input + weight * (end - input)``."""
    return input + weight * (end - input)


def addcmul(input, tensor1, tensor2, *, value=1):
    product = tensor1 * tensor2
    return input + (product * value if value != 1 else product)


def addcdiv(input, tensor1, tensor2, *, value=1):
    if not (tensor1.dtype.is_floating_point or tensor2.dtype.is_floating_point):
        raise RuntimeError("Integer division with addcdiv is no longer supported, and in a "
                           "future release addcdiv will perform a true division of tensor1 and "
                           "tensor2.")
    quotient = tensor1 / tensor2
    return input + (quotient * value if value != 1 else quotient)


def clamp_min(input, min):
    return input.clamp(min=min)


def clamp_max(input, max):
    return input.clamp(max=max)


class NanToNum(Op):
    @staticmethod
    def forward(ctx, a, nan, posinf, neginf):
        ctx.finite = np.isfinite(a)
        return np.nan_to_num(a, nan=nan, posinf=posinf, neginf=neginf)

    @staticmethod
    def backward(ctx, g):
        return g * ctx.finite


def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    if not input.dtype.is_floating_point:
        return input.clone()
    return NanToNum.apply(input, nan, posinf, neginf)


# --------------------------------------------------------------------------- logical / bitwise
def _elementwise(what, ufunc, integral_only=False):
    """A non-differentiable elementwise function over numpy's ``ufunc`` (by name: numpy
    loads on first call)."""
    def function(input, other=None):
        if integral_only and input.dtype.is_floating_point:
            raise NotImplementedError(f"\"{what}_cpu\" not implemented for "
                               f"'{input.dtype.name.capitalize()}'")
        args = (input._data,) if other is None else (input._data, _raw(other))
        return Tensor._wrap(np.asarray(getattr(np, ufunc)(*args)))

    function.__name__ = what
    return function


logical_not = _elementwise("logical_not", "logical_not")
logical_and = _elementwise("logical_and", "logical_and")
logical_or = _elementwise("logical_or", "logical_or")
logical_xor = _elementwise("logical_xor", "logical_xor")
bitwise_not = _elementwise("bitwise_not", "invert", integral_only=True)
bitwise_and = _elementwise("bitwise_and", "bitwise_and", integral_only=True)
bitwise_or = _elementwise("bitwise_or", "bitwise_or", integral_only=True)
bitwise_xor = _elementwise("bitwise_xor", "bitwise_xor", integral_only=True)
isneginf = _elementwise("isneginf", "isneginf")
isposinf = _elementwise("isposinf", "isposinf")
isreal = _elementwise("isreal", "isreal")
signbit = _elementwise("signbit", "signbit")


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """``|input - other| <= atol + rtol * |other|`` elementwise (infinities equal to
    themselves)."""
    other = as_tensor_arg(other, input)
    return Tensor._wrap(np.asarray(np.isclose(input._data, other._data, rtol, atol, equal_nan)))





def where(condition, input=None, other=None):
    """``where(condition)`` alone is ``nonzero(condition, as_tuple=True)``."""
    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    return _where(condition, input, other)


__xor__ = bitwise_xor


# --------------------------------------------------------------------------- more binary
class XLogY(Op):
    """``x * log(y)``, 0 where x == 0 (unless y is NaN)."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where((x == 0) & ~np.isnan(y), 0, x * np.log(y))

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        with np.errstate(divide="ignore", invalid="ignore"):
            gx = np.where(x == 0, 0, g * np.log(y))
            gy = g * x / y
        return sum_to_shape(gx, np.shape(x)), sum_to_shape(gy, np.shape(y))


class CopySign(Op):
    """``|a|`` with the sign of ``b``; b gets no gradient (as in PyTorch)."""

    @staticmethod
    def forward(ctx, a, b):
        out = np.copysign(a, b)
        ctx.save_for_backward(a, out)
        ctx.b_shape = np.shape(b)
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(a == 0, 0, out / np.where(a == 0, 1, a))
        return sum_to_shape(g * ratio, np.shape(a)), np.zeros(ctx.b_shape, g.dtype)


class FMaxMin(Op):
    """fmax/fmin: the larger/smaller, a NaN loses to a number; ties send the gradient to
    the first operand (PyTorch's rule)."""

    @staticmethod
    def forward(ctx, a, b, is_max):
        ctx.take_a = ((a >= b) if is_max else (a <= b)) | np.isnan(b)
        ctx.shapes = (np.shape(a), np.shape(b))
        return (np.fmax if is_max else np.fmin)(a, b)

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes
        return sum_to_shape(g * ctx.take_a, sa), sum_to_shape(g * ~ctx.take_a, sb)


def xlogy(input, other):
    x = input if isinstance(input, Tensor) else as_tensor_arg(input, other)
    return _binary(_floating(x), other, XLogY)


def copysign(input, other):
    return _binary(_floating(input), other, CopySign)


def fmax(input, other):
    return _binary(input, other, _Bound(FMaxMin, True))


def fmin(input, other):
    return _binary(input, other, _Bound(FMaxMin, False))


def maximum(input, other):
    return input.max(other)


def minimum(input, other):
    return input.min(other)


def logit(input, eps=None):
    """``log(p / (1 - p))``; with ``eps``, p is first clamped to [eps, 1 - eps]."""
    p = _floating(input)
    if eps is not None:
        p = p.clamp(eps, 1 - eps)
    return (p / (1 - p)).log()


def ldexp(input, other):
    """``input * 2 ** other``."""
    return _floating(input) * (2.0 ** other)


class Polygamma(Op):
    @staticmethod
    def forward(ctx, a, n):
        ctx.n = n
        ctx.save_for_backward(a)
        return special.polygamma(n, a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * special.polygamma(ctx.n + 1, a)


def polygamma(n, input):
    """``torch.polygamma(n, x)``; also ``x.polygamma(n)`` (the tensor comes first there)."""
    if isinstance(n, Tensor):
        n, input = input, n
    if n < 0:
        raise RuntimeError("polygamma(n, x) does not support negative n.")
    return Polygamma.apply(_floating(input), n)


gcd = _elementwise("gcd", "gcd", integral_only=True)
lcm = _elementwise("lcm", "lcm", integral_only=True)


Angle = _unary_op("Angle", lambda a: np.where(np.isnan(a), a, np.where(a < 0, np.pi, 0.0))
                  .astype(a.dtype), lambda a, out: np.zeros_like(a))


def angle(input):
    """The argument of a real number: pi below zero, else 0 (zero gradient)."""
    return Angle.apply(_floating(input))


def mvlgamma(input, p):
    """The multivariate log-gamma of dimension p."""
    if p < 1:
        raise RuntimeError("p has to be greater than or equal to 1")
    x = _floating(input)
    if (x._data <= (p - 1) / 2).any():
        raise RuntimeError(f"All elements must be greater than (p-1)/2 = {(p - 1) / 2}")
    terms = sum(_OPS["lgamma"].apply(x - j / 2) for j in range(p))
    return terms + p * (p - 1) / 4 * math.log(math.pi)


def rsub(input, other, alpha=1):
    """``other - alpha * input``."""
    return other - (input * alpha if alpha != 1 else input)


def fill(input, value):
    """A tensor like ``input`` full of ``value``; input gets a zero gradient."""
    return _where(True, as_tensor_arg(value, input).to(input.dtype), input)


Frexp = namedtuple("frexp", ["mantissa", "exponent"])


def frexp(input):
    """``input = mantissa * 2 ** exponent`` with |mantissa| in [0.5, 1); the mantissa is
    differentiable."""
    exponent = np.frexp(input._data)[1]
    mantissa = input * Tensor._wrap(np.ldexp(np.ones((), input._data.dtype), -exponent))
    return Frexp(mantissa, Tensor._wrap(exponent.astype(np.int32)))


nextafter = _elementwise("nextafter", "nextafter")
bitwise_left_shift = _elementwise("bitwise_left_shift", "left_shift", integral_only=True)
bitwise_right_shift = _elementwise("bitwise_right_shift", "right_shift", integral_only=True)
