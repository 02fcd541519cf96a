"""nncheck: PyTorch-compatible layers on Cython kernels, with shape and gradient checking.

``import nncheck`` gives the tensor API (factories, dtypes, ``no_grad``,
``manual_seed``, ``gradcheck``); ``nncheck.nn`` mirrors ``torch.nn``.
"""

from . import _dtype
from ._dtype import (
    Size,
    bool,
    complex64,
    complex128,
    device,
    double,
    dtype,
    float,
    float16,
    float32,
    float64,
    get_default_device,
    half,
    int,
    int8,
    int16,
    int32,
    int64,
    long,
    short,
    uint8,
)
from ._torch_compat import as_torch
from .autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .factories import *  # noqa: F403
from .factories import __all__ as _factory_names
from .random import get_rng_state, initial_seed, manual_seed, seed, set_rng_state
from .serialization import load, save
from .tensor import Tensor, as_tensor, cat, matmul, stack, where

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
    "transpose", "t", "chunk", "split", "narrow", "unbind", "gather", "mm", "bmm",
    "dot", "add", "sub", "mul", "div", "pow", "square", "reciprocal", "masked_fill", "equal",
    "allclose", "isnan", "isinf", "isfinite", "relu", "sigmoid", "tanh", "softmax",
    "log_softmax", "eq", "ne", "lt", "le", "gt", "ge", "clone", "detach",
)
for _name in _TENSOR_FUNCTIONS:
    globals()[_name] = _method(_name)
del _name


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
    if name in ("nn", "autograd", "cuda", "distributed"):
        import importlib

        return importlib.import_module(f"nncheck.{name}")
    raise AttributeError(f"module 'nncheck' has no attribute {name!r}")


__all__ = [
    "Tensor", "Size", "dtype", "device", "get_default_device", "no_grad", "enable_grad",
    "set_grad_enabled", "is_grad_enabled", "manual_seed", "seed", "initial_seed", "get_rng_state",
    "set_rng_state", "save", "load", "cat", "concat", "stack", "where", "matmul", "as_tensor",
    "is_tensor", "numel", "maximum", "minimum", "reshape", "permute", "gradcheck", "gradgradcheck",
    *_factory_names, *_TENSOR_FUNCTIONS, *(d.name for d in _dtype.ALL_DTYPES),
]
__all__.append("as_torch")  # with nncheck.as_torch(): import torch gives nncheck
