"""Activation functions on the Cython kernels in ``nncheck._kernels.activation``."""

import warnings

from ... import _dtype as dt
from ..._lazy import family_names, np
from ...backend import kernels
from ...ops import Op
from ...random import generator
from ._validation import kernel_array, normalize_dim, split_around


class _Elementwise(Op):
    """y = f(x; a, b) with kernels ``<name>_forward`` / ``<name>_backward``.

    Where f' is a function of y (``_from_output``), backward reads the saved output through
    ``<name>_backward_from_output`` and the input need not be kept alive.
    """

    @staticmethod
    def forward(ctx, x, name, a, b):
        k = kernel_array(x, name)
        _k, xp = kernels("activation", k)
        forward, ctx.from_output, ctx.backward_kernel = _kernel_set(_k, name, a)
        out = xp.empty_like(k)
        forward(k.reshape(-1), out.reshape(-1), a, b)
        if out.dtype != x.dtype:  # float16 computes in float32
            out = out.astype(x.dtype)
        ctx.save_for_backward(out if ctx.from_output else x)
        ctx.params = (name, a, b)
        return out

    @staticmethod
    def backward(ctx, grad):
        (saved,) = ctx.saved_tensors
        name, a, b = ctx.params
        k = kernel_array(saved, name)
        _k, xp = kernels("activation", k, grad)
        g = kernel_array(grad, name, "grad_output") if grad.dtype == k.dtype else \
            xp.ascontiguousarray(grad, k.dtype)
        grad_in = xp.empty_like(k)
        getattr(_k, ctx.backward_kernel)(k.reshape(-1), g.reshape(-1), grad_in.reshape(-1), a, b)
        return grad_in if grad_in.dtype == saved.dtype else grad_in.astype(saved.dtype)


_KERNEL_SETS = {}  # (kernel namespace, name, backward from output) -> _kernel_set's answer


def _kernel_set(kernels, name, a):
    """(forward kernel, whether backward reads the output, backward kernel's name) of
    activation ``name`` in a device's kernel namespace; worked out once (every call of
    every ReLU asks)."""
    key = (kernels, name, name == "leaky_relu" and a >= 0)
    found = _KERNEL_SETS.get(key)
    if found is None:
        from_output = _from_output(name, a, kernels)
        backward = name + ("_backward_from_output" if from_output else "_backward")
        found = _KERNEL_SETS[key] = (getattr(kernels, name + "_forward"), from_output, backward)
    return found


def _from_output(name, a, kernels):
    """Whether backward reads the output: f'(x) is a function of f(x) (y > 0 tells x > 0
    apart for a leaky slope >= 0) and the device's kernels have that backward."""
    return (name in ("relu", "hardtanh", "sigmoid", "tanh") or (name == "leaky_relu" and a >= 0)
            ) and hasattr(kernels, name + "_backward_from_output")


class _InplaceElementwise(_Elementwise):
    """y = f(x) written over x (f' a function of y): no copy of x is kept or made."""

    @staticmethod
    def forward(ctx, x, name, a, b):
        flat = x.reshape(-1)
        forward, ctx.from_output, ctx.backward_kernel = _kernel_set(
            kernels("activation", x)[0], name, a)  # (from_output: _apply checked it)
        forward(flat, flat, a, b)
        ctx.save_for_backward(x)
        ctx.params = (name, a, b)
        return x


def _apply(input, name, a=0.0, b=0.0, inplace=False):
    if inplace:
        data = input._data
        if (getattr(data, "dtype", None) in (np.float32, np.float64)
                and data.flags.c_contiguous and data.flags.writeable
                and _from_output(name, a, kernels("activation", data)[0])):
            return _apply_over_input(input, name, a, b)
        return input._apply_inplace(lambda s: _Elementwise.apply(s, name, a, b))
    return _Elementwise.apply(input, name, a, b)


def _apply_over_input(input, name, a, b):
    """inplace=True without the snapshot copy ``Tensor._apply_inplace`` makes: the version
    is bumped first, so backward's saved output (input's storage) is checked against it."""
    input._check_writable()
    input._version.value += 1
    result = _InplaceElementwise.apply(input, name, a, b)
    if result.grad_fn is not None:
        input.grad_fn, input._output_nr = result.grad_fn, result._output_nr
    return input


def relu(input, inplace=False):
    return _apply(input, "relu", inplace=inplace)


def relu_(input):
    return relu(input, inplace=True)


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0, inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return _apply(input, "leaky_relu", float(negative_slope), inplace=inplace)


def leaky_relu_(input, negative_slope=0.01):
    return leaky_relu(input, negative_slope, True)


def elu(input, alpha=1.0, inplace=False):
    return _apply(input, "elu", float(alpha), inplace=inplace)


def elu_(input, alpha=1.0):
    return elu(input, alpha, True)


def celu(input, alpha=1.0, inplace=False):
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0 (the formula divides by alpha)")
    return _apply(input, "celu", float(alpha), inplace=inplace)


def celu_(input, alpha=1.0):
    return celu(input, alpha, True)


def selu(input, inplace=False):
    return _apply(input, "selu", inplace=inplace)


def selu_(input):
    return selu(input, True)


def sigmoid(input):
    return _apply(input, "sigmoid")


def tanh(input):
    return _apply(input, "tanh")


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    if min_val > max_val:
        raise ValueError(
            f"hardtanh: min_val ({min_val}) cannot be greater than max_val ({max_val})"
        )
    return _apply(input, "hardtanh", float(min_val), float(max_val), inplace)


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return hardtanh(input, min_val, max_val, True)


def hardsigmoid(input, inplace=False):
    return _apply(input, "hardsigmoid", inplace=inplace)


def hardswish(input, inplace=False):
    return _apply(input, "hardswish", inplace=inplace)


def silu(input, inplace=False):
    return _apply(input, "silu", inplace=inplace)


def mish(input, inplace=False):
    return _apply(input, "mish", inplace=inplace)


def softplus(input, beta=1.0, threshold=20.0):
    if beta == 0:
        raise ValueError("softplus: beta must not be 0")
    return _apply(input, "softplus", float(beta), float(threshold))


def softsign(input):
    return _apply(input, "softsign")


def logsigmoid(input):
    return _apply(input, "logsigmoid")


def hardshrink(input, lambd=0.5):
    return _apply(input, "hardshrink", float(lambd))


def softshrink(input, lambd=0.5):
    if lambd < 0:
        raise ValueError(
            f"softshrink: lambda must be greater or equal to 0, but found to be {lambd}"
        )
    return _apply(input, "softshrink", float(lambd))


def tanhshrink(input):
    return _apply(input, "tanhshrink")


def threshold(input, threshold, value, inplace=False):
    return _apply(input, "threshold", float(threshold), float(value), inplace)


def threshold_(input, threshold, value):
    return _apply(input, "threshold", float(threshold), float(value), True)


def gelu(input, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _apply(input, "gelu" if approximate == "none" else "gelu_tanh")


# ---------------------------------------------------------------- RReLU
class _RReLU(Op):
    """Leaky ReLU whose negative slope is drawn per element (training mode)."""

    @staticmethod
    def forward(ctx, x, lower, upper):
        k = kernel_array(x, "rrelu")
        slope = generator().uniform(lower, upper, k.shape).astype(k.dtype)
        slope = np.where(k > 0, k.dtype.type(1), slope)  # (a device k: computed there)
        ctx.slope = slope
        return (k * slope).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        return (grad * ctx.slope).astype(grad.dtype, copy=False)


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    if lower > upper:
        raise ValueError(f"rrelu: lower bound {lower} is greater than upper bound {upper}")
    if not training:
        return leaky_relu(input, (lower + upper) / 2, inplace)
    if inplace:
        return input._apply_inplace(lambda s: _RReLU.apply(s, lower, upper))
    return _RReLU.apply(input, lower, upper)


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False):
    return rrelu(input, lower, upper, training, True)


# ---------------------------------------------------------------- softmax family
class _Softmax(Op):
    @staticmethod
    def forward(ctx, x, dim, log_space):
        k = kernel_array(x, "softmax")
        _k, xp = kernels("activation", k)
        view = k.reshape(split_around(k.shape, dim))
        out = xp.empty_like(k)
        if k.size:
            _k.softmax_forward(view, out.reshape(view.shape), log_space)
        ctx.view_shape, ctx.log_space = view.shape, log_space
        ctx.save_for_backward(out)
        return out.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        _k, xp = kernels("activation", out, grad)
        g = xp.ascontiguousarray(grad, out.dtype).reshape(ctx.view_shape)
        grad_in = xp.empty_like(out)
        if out.size:
            _k.softmax_backward(out.reshape(ctx.view_shape), g, grad_in.reshape(ctx.view_shape),
                                ctx.log_space)
        return grad_in.astype(grad.dtype, copy=False)


def _softmax_dim(name, ndim):
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
        "dim=X as an argument.", stacklevel=3,
    )
    return 0 if ndim in (0, 1, 3) else 1


def _softmax(input, dim, dtype, log_space, name):
    if dim is None:
        dim = _softmax_dim(name, input.ndim)
    if dtype is not None:
        input = input.to(dt.get_dtype(dtype))
    dim = normalize_dim(dim, input.ndim, name)
    return _Softmax.apply(input, dim, log_space)


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    return _softmax(input, dim, dtype, False, "softmax")


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    return _softmax(input, dim, dtype, True, "log_softmax")


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    return _softmax(-input, dim, dtype, False, "softmin")


# ---------------------------------------------------------------- PReLU and GLU
class _PReLU(Op):
    @staticmethod
    def forward(ctx, x, weight):
        k = kernel_array(x, "prelu")
        _k, xp = kernels("activation", k, weight)
        w = xp.ascontiguousarray(weight, k.dtype).reshape(-1)
        channels = k.shape[1] if k.ndim >= 2 else 1
        view = k.reshape(k.shape[0] if k.ndim >= 2 else 1, channels, -1) if k.size else None
        out = xp.empty_like(k)
        if view is not None:
            _k.prelu_forward(view, w, out.reshape(view.shape))
        ctx.save_for_backward(x, weight)
        return out.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        k = kernel_array(x, "prelu")
        _k, xp = kernels("activation", k, weight, grad)
        w = xp.ascontiguousarray(weight, k.dtype).reshape(-1)
        grad_in, grad_w = xp.empty_like(k), xp.zeros_like(w)
        if k.size:
            channels = k.shape[1] if k.ndim >= 2 else 1
            shape = (k.shape[0] if k.ndim >= 2 else 1, channels, -1)
            g = xp.ascontiguousarray(grad, k.dtype).reshape(shape)
            _k.prelu_backward(k.reshape(shape), w, g, grad_in.reshape(g.shape), grad_w)
        return grad_in.astype(x.dtype, copy=False), grad_w.reshape(weight.shape).astype(
            weight.dtype, copy=False)


def prelu(input, weight):
    if weight.ndim > 1:
        raise ValueError(f"prelu: weight must be 1-D, got shape {list(weight.shape)}")
    channels = input.shape[1] if input.ndim >= 2 else 1
    if weight.numel() not in (1, channels):
        raise ValueError(
            f"prelu: weight has {weight.numel()} parameters but the input has {channels} "
            f"channels (dim 1); expected 1 or {channels}"
        )
    return _PReLU.apply(input, weight)


class _GLU(Op):
    @staticmethod
    def forward(ctx, x, dim):
        k = kernel_array(x, "glu")
        _k, xp = kernels("activation", k)
        outer, n, inner = split_around(k.shape, dim)
        out_shape = k.shape[:dim] + (n // 2,) + k.shape[dim + 1:]
        out = xp.empty(out_shape, k.dtype)
        if k.size:
            _k.glu_forward(k.reshape(outer, n, inner), out.reshape(outer, n // 2, inner))
        ctx.save_for_backward(x)
        ctx.view = (outer, n, inner)
        return out.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        k = kernel_array(x, "glu")
        _k, xp = kernels("activation", k, grad)
        outer, n, inner = ctx.view
        grad_in = xp.empty_like(k)
        if k.size:
            g = xp.ascontiguousarray(grad, k.dtype).reshape(outer, n // 2, inner)
            _k.glu_backward(k.reshape(ctx.view), g, grad_in.reshape(ctx.view))
        return grad_in.astype(x.dtype, copy=False)


def glu(input, dim=-1):
    if input.ndim == 0:
        raise ValueError("glu: does not support scalars because halving size must be even")
    d = normalize_dim(dim, input.ndim, "glu")
    if input.shape[d] % 2:
        raise ValueError(
            f"glu: halving dimension must be even, but dimension {d} is size {input.shape[d]}"
        )
    return _GLU.apply(input, d)


__all__ = family_names(__name__)
