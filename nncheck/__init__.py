"""nncheck: PyTorch-compatible layers on Cython kernels, with shape and gradient checking.

``import nncheck`` gives the tensor API (factories, dtypes, ``no_grad``,
``manual_seed``, ``gradcheck``); ``nncheck.nn`` mirrors ``torch.nn``.
"""

import builtins

from . import _dtype, _ops
from ._dtype import (
    Size,
    bool,
    complex64,
    complex128,
    device,
    double,
    dtype,
    finfo,
    float,
    float16,
    float32,
    float64,
    get_default_device,
    half,
    iinfo,
    int,
    int8,
    int16,
    int32,
    int64,
    long,
    promote_types,
    short,
    uint8,
)
from .autograd.grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from .factories import *  # noqa: F403
from .factories import __all__ as _factory_names
from .random import get_rng_state, initial_seed, manual_seed, seed, set_rng_state
from .serialization import load, save
from .tensor import Tensor, as_tensor, cat, matmul, stack

__version__ = "0.1.0"

concat = concatenate = cat


def is_tensor(obj):
    return isinstance(obj, Tensor)


def numel(input):
    return input.numel()


def _method(name):
    def function(input, *args, **kwargs):
        return getattr(input, name)(*args, **kwargs)

    function.__name__ = name
    function.__doc__ = f"Same as ``Tensor.{name}``."
    return function


_TENSOR_FUNCTIONS = (
    "abs", "exp", "log", "sqrt", "rsqrt", "sin", "cos", "neg", "sign", "floor", "ceil", "round",
    "clamp", "clip", "sum", "mean", "prod", "var", "std", "max", "min", "amax", "amin", "argmax",
    "argmin", "norm", "all", "any", "flatten", "unflatten", "squeeze", "unsqueeze",
    "transpose", "t", "chunk", "split", "narrow", "unbind", "mm", "bmm",
    "dot", "add", "sub", "mul", "div", "pow", "square", "reciprocal", "masked_fill", "equal",
    "allclose", "isnan", "isinf", "isfinite", "relu", "sigmoid", "tanh", "softmax",
    "log_softmax", "eq", "ne", "lt", "le", "gt", "ge", "clone", "detach",
)
for _name in _TENSOR_FUNCTIONS:
    globals()[_name] = _method(_name)
del _name

_ops.install(Tensor)  # Tensor methods of the op families (x.topk, x.scatter_, ...)


def get_default_dtype():
    return float32


def is_floating_point(input):
    return input.is_floating_point()


def is_complex(input):
    return input.dtype.is_complex


def is_nonzero(input):
    if input.numel() != 1:
        count = "no" if input.numel() == 0 else "more than one"
        raise RuntimeError(f"Boolean value of Tensor with {count} values is ambiguous")
    return builtins.bool(input.item())


def reshape(input, shape):
    return input.reshape(shape)


def permute(input, dims):
    return input.permute(dims)


def maximum(input, other):
    return input.max(other)


def minimum(input, other):
    return input.min(other)


def __getattr__(name):
    # heavier sub-packages load on first use, so that `nncheck shape` starts fast
    if name in ("gradcheck", "gradgradcheck"):
        from .autograd import checker

        return getattr(checker, name)
    if name in _ops.FUNCTIONS:  # einsum, topk, scatter, ...: their family loads now
        globals()[name] = value = _ops.function(name)
        return value
    if name in ("nn", "autograd", "cuda", "distributed"):
        import importlib

        return importlib.import_module(f"nncheck.{name}")
    raise AttributeError(f"module 'nncheck' has no attribute {name!r}")


__all__ = [
    "Tensor", "Size", "dtype", "device", "get_default_device", "no_grad", "enable_grad",
    "set_grad_enabled", "is_grad_enabled", "manual_seed", "seed", "initial_seed", "get_rng_state",
    "set_rng_state", "save", "load", "cat", "concat", "stack", "matmul", "as_tensor",
    "is_tensor", "numel", "maximum", "minimum", "reshape", "permute", "gradcheck", "gradgradcheck",
    *_factory_names, *_TENSOR_FUNCTIONS, *(d.name for d in _dtype.ALL_DTYPES),
    *_ops.FUNCTIONS, "inference_mode", "is_inference_mode_enabled", "finfo", "iinfo",
    "promote_types", "get_default_dtype", "is_floating_point", "is_complex", "is_nonzero",
]
