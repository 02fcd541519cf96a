"""Tensor factories (``tensor, zeros, randn, arange, ...``) and legacy typed constructors."""

import numpy as np

from . import _dtype as dt
from .random import generator
from .tensor import DEFAULT_FLOAT, Tensor, _sizes, _to_array, as_tensor


def _finish(arr, requires_grad):
    t = Tensor._wrap(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _np_dtype(dtype, default=DEFAULT_FLOAT):
    return dt.get_dtype(dtype).np if dtype is not None else default


def tensor(data, dtype=None, device=None, requires_grad=False):
    arr = np.array(_to_array(data, dtype), copy=True)
    return _finish(arr, requires_grad)


def from_numpy(arr):
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(arr).__name__})")
    return Tensor._wrap(arr)


def zeros(*size, dtype=None, device=None, requires_grad=False):
    return _finish(np.zeros(_sizes(size), _np_dtype(dtype)), requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    return _finish(np.ones(_sizes(size), _np_dtype(dtype)), requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False):
    return zeros(*size, dtype=dtype, requires_grad=requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    if dtype is None:
        default = (np.bool_ if isinstance(fill_value, bool) else
                   np.int64 if isinstance(fill_value, int) else DEFAULT_FLOAT)
    else:
        default = None
    return _finish(np.full(_sizes((size,)), fill_value, _np_dtype(dtype, default)), requires_grad)


def randn(*size, dtype=None, device=None, requires_grad=False):
    arr = generator().standard_normal(_sizes(size)).astype(_np_dtype(dtype))
    return _finish(arr, requires_grad)


def rand(*size, dtype=None, device=None, requires_grad=False):
    arr = generator().random(_sizes(size)).astype(_np_dtype(dtype))
    return _finish(arr, requires_grad)


def randint(low, high=None, size=None, dtype=None, device=None, requires_grad=False):
    if high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint() missing required argument 'size'")
    arr = generator().integers(low, high, _sizes((size,))).astype(_np_dtype(dtype, np.int64))
    return _finish(arr, requires_grad)


def randperm(n, dtype=None, device=None):
    return Tensor._wrap(generator().permutation(n).astype(_np_dtype(dtype, np.int64)))


def normal(mean, std, size, dtype=None):
    return Tensor._wrap(generator().normal(mean, std, _sizes((size,))).astype(_np_dtype(dtype)))


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    integral = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
    arr = np.arange(start, end, step)
    return _finish(arr.astype(_np_dtype(dtype, np.int64 if integral else DEFAULT_FLOAT)),
                   requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    return _finish(np.linspace(start, end, steps).astype(_np_dtype(dtype)), requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    return _finish(np.eye(n, m, dtype=_np_dtype(dtype)), requires_grad)


def _like(fn):
    def like(input, dtype=None, device=None, requires_grad=False):
        return fn(*input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)

    like.__name__ = fn.__name__ + "_like"
    return like


zeros_like, ones_like, empty_like, rand_like, randn_like = (
    _like(zeros), _like(ones), _like(empty), _like(rand), _like(randn))


def full_like(input, fill_value, dtype=None, device=None, requires_grad=False):
    return full(tuple(input.shape), fill_value, dtype=dtype or input.dtype,
                requires_grad=requires_grad)


def _legacy(dtype):
    def constructor(*args):
        if len(args) == 1 and not isinstance(args[0], int):
            return Tensor._wrap(np.array(_to_array(args[0], dtype), copy=True))
        return zeros(*args, dtype=dtype)

    return constructor


FloatTensor = _legacy(dt.float32)
DoubleTensor = _legacy(dt.float64)
HalfTensor = _legacy(dt.float16)
LongTensor = _legacy(dt.int64)
IntTensor = _legacy(dt.int32)
ByteTensor = _legacy(dt.uint8)
BoolTensor = _legacy(dt.bool)

__all__ = [
    "tensor", "as_tensor", "from_numpy", "zeros", "ones", "empty", "full", "randn", "rand",
    "randint", "randperm", "normal", "arange", "linspace", "eye", "zeros_like", "ones_like",
    "empty_like", "rand_like", "randn_like", "full_like", "FloatTensor", "DoubleTensor",
    "HalfTensor", "LongTensor", "IntTensor", "ByteTensor", "BoolTensor",
]
