"""nncheck: PyTorch-compatible layers on Cython kernels, with shape and gradient checking.

``import nncheck`` gives the tensor API (factories, dtypes, ``no_grad``,
``manual_seed``, ``gradcheck``); ``nncheck.nn`` mirrors ``torch.nn``.
"""

from . import _dtype, _ops
from ._dtype import (
    Size,
    bool,
    can_cast,
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
from ._torch_compat import as_torch
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
    "multiply", "divide", "subtract", "negative", "absolute", "swapaxes",
    "greater", "greater_equal", "less", "less_equal", "not_equal", "detach_", "zero_", "fill_",
    # in place, as PyTorch also offers them as functions
    "abs_", "exp_", "sqrt_", "neg_", "negative_", "ceil_", "floor_", "round_", "cos_", "sin_",
    "log_", "reciprocal_", "rsqrt_", "sigmoid_", "tanh_", "relu_", "square_", "clamp_", "clip_",
    "clamp_min_", "clamp_max_", "erf_", "erfc_", "exp2_", "expm1_", "log2_", "log10_", "log1p_",
    "tan_", "sinh_", "cosh_", "asin_", "acos_", "atan_", "asinh_", "acosh_", "atanh_",
    "arcsin_", "arccos_", "arctan_", "arcsinh_", "arccosh_", "arctanh_", "sinc_", "deg2rad_",
    "rad2deg_", "frac_", "trunc_", "fix_", "i0_", "nan_to_num_", "xlogy_", "logit_", "ldexp_",
    "gcd_", "lcm_", "addmv_", "index_put_",
)

# torch.<name> that is nn.functional's function of that name (the same signature)
_FUNCTIONAL = (
    "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "avg_pool1d", "max_pool1d", "max_pool2d", "max_pool3d", "adaptive_avg_pool1d", "dropout",
    "alpha_dropout", "feature_alpha_dropout", "layer_norm", "group_norm", "rms_norm",
    "pixel_shuffle", "pixel_unshuffle", "channel_shuffle", "prelu", "selu", "celu", "rrelu",
    "threshold", "hardshrink", "bilinear", "cosine_similarity", "pairwise_distance", "pdist",
    "celu_", "selu_", "threshold_", "rrelu_",
)
for _name in _TENSOR_FUNCTIONS:
    globals()[_name] = _method(_name)
del _name

_ops.install(Tensor)  # Tensor methods of the op families (x.topk, x.scatter_, ...)


def get_default_dtype():
    return float32


def is_floating_point(input):
    return input.is_floating_point()


def reshape(input, shape):
    return input.reshape(shape)


def permute(input, dims):
    return input.permute(dims)


def __getattr__(name):
    # heavier sub-packages load on first use, so that `nncheck shape` starts fast
    if name in ("gradcheck", "gradgradcheck"):
        from .autograd import checker

        return getattr(checker, name)
    if name in _ops.FUNCTIONS:  # einsum, topk, scatter, ...: their family loads now
        globals()[name] = value = _ops.function(name)
        return value
    if name in _FUNCTIONAL:
        from .nn import functional

        globals()[name] = value = getattr(functional, name)
        return value
    if name in ("nn", "autograd", "cuda", "distributed"):
        import importlib

        return importlib.import_module(f"nncheck.{name}")
    raise AttributeError(f"module 'nncheck' has no attribute {name!r}")


__all__ = [
    "Tensor", "Size", "dtype", "device", "get_default_device", "no_grad", "enable_grad",
    "set_grad_enabled", "is_grad_enabled", "manual_seed", "seed", "initial_seed", "get_rng_state",
    "set_rng_state", "save", "load", "cat", "concat", "stack", "matmul", "as_tensor",
    "is_tensor", "numel", "reshape", "permute", "gradcheck", "gradgradcheck",
    *_factory_names, *_TENSOR_FUNCTIONS, *(d.name for d in _dtype.ALL_DTYPES),
    *(name for name in _ops.FUNCTIONS if not name.startswith("_")), "inference_mode",
    "is_inference_mode_enabled", "finfo", "iinfo",
    "promote_types", "can_cast", "get_default_dtype", "is_floating_point", *_FUNCTIONAL,
]
__all__.append("as_torch")  # with nncheck.as_torch(): import torch gives nncheck
