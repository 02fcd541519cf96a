"""Tensor factories (``tensor, zeros, randn, arange, ...``) and legacy typed constructors."""

from . import _dtype as dt
from ._lazy import np
from .random import generator
from .tensor import DEFAULT_FLOAT, MetaStorage, Tensor, _sizes, _to_array, as_tensor


def _finish(arr, requires_grad, device=None):
    """The tensor of ``arr``, moved to ``device`` when that is a CUDA device."""
    if device is not None and dt.device(device).type == "cuda":
        from .backend import to_device

        arr = to_device(arr, dt.device(device))
    t = Tensor._wrap(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _dtype(dtype, default=DEFAULT_FLOAT):
    return dt.get_dtype(dtype if dtype is not None else default)


def _on_meta(device):
    """Whether to build a meta tensor: ``device='meta'`` or inside ``with device('meta')``."""
    return (dt.get_default_device() if device is None else dt.device(device)).type == "meta"


def _new(size, dtype, device, requires_grad, make):
    """A tensor of ``size``, with values ``make(shape, numpy_dtype)`` unless it is meta."""
    shape = _sizes(size)
    negative = [s for s in shape if s < 0]
    if negative:  # numpy's message would not say which size (PyTorch's words)
        raise RuntimeError(f"Trying to create tensor with negative dimension {negative[0]}: "
                           f"{list(shape)}")
    if _on_meta(device):
        return _finish(MetaStorage(shape, dtype), requires_grad)
    return _finish(make(shape, dtype.np), requires_grad, device)


def tensor(data, dtype=None, device=None, requires_grad=False):
    if _on_meta(device):
        return _finish(_meta_of(data, dtype), requires_grad)
    arr = np.array(_to_array(data, dtype), copy=True)
    return _finish(arr, requires_grad, device)


_SCALAR_DTYPES = {bool: dt.bool, int: dt.int64, float: DEFAULT_FLOAT, complex: dt.complex128}


def _meta_of(data, dtype):
    """The shape and dtype of ``tensor(data)``; a Python scalar or a tensor is read without
    numpy (BatchNorm's ``tensor(0)`` counter on a meta layer)."""
    if type(data) in _SCALAR_DTYPES:
        return MetaStorage((), _dtype(dtype, _SCALAR_DTYPES[type(data)]))
    if isinstance(data, Tensor):
        return MetaStorage(data.shape, _dtype(dtype, data.dtype))
    arr = _to_array(data, dtype)
    return MetaStorage(arr.shape, dt.get_dtype(arr.dtype))


def from_numpy(arr):
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(arr).__name__})")
    return Tensor._wrap(arr)


def zeros(*size, dtype=None, device=None, requires_grad=False):
    return _new(size, _dtype(dtype), device, requires_grad, lambda s, d: np.zeros(s, d))


def ones(*size, dtype=None, device=None, requires_grad=False):
    return _new(size, _dtype(dtype), device, requires_grad, lambda s, d: np.ones(s, d))


def empty(*size, dtype=None, device=None, requires_grad=False):
    return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    default = (dt.bool if isinstance(fill_value, bool) else
               dt.int64 if isinstance(fill_value, int) else DEFAULT_FLOAT)
    return _new((size,), _dtype(dtype, default), device, requires_grad,
                lambda s, d: np.full(s, fill_value, d))


def randn(*size, dtype=None, device=None, requires_grad=False):
    return _new(size, _dtype(dtype), device, requires_grad,
                lambda s, d: generator().standard_normal(s).astype(d))


def rand(*size, dtype=None, device=None, requires_grad=False):
    return _new(size, _dtype(dtype), device, requires_grad,
                lambda s, d: generator().random(s).astype(d))


def randint(low, high=None, size=None, dtype=None, device=None, requires_grad=False):
    if high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint() missing required argument 'size'")
    return _new((size,), _dtype(dtype, dt.int64), device, requires_grad,
                lambda s, d: generator().integers(low, high, s).astype(d))


def randperm(n, dtype=None, device=None):
    return Tensor._wrap(generator().permutation(n).astype(_dtype(dtype, dt.int64).np))


def normal(mean, std, size, dtype=None):
    return Tensor._wrap(generator().normal(mean, std, _sizes((size,))).astype(_dtype(dtype).np))


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    integral = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
    arr = np.arange(start, end, step)
    return _finish(arr.astype(_dtype(dtype, dt.int64 if integral else DEFAULT_FLOAT).np),
                   requires_grad, device)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    return _finish(np.linspace(start, end, steps).astype(_dtype(dtype).np), requires_grad,
                   device)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    return _finish(np.eye(n, m, dtype=_dtype(dtype).np), requires_grad, device)


def _like(fn):
    def like(input, dtype=None, device=None, requires_grad=False):
        return fn(*input.shape, dtype=dtype or input.dtype, device=device or input.device,
                  requires_grad=requires_grad)

    like.__name__ = fn.__name__ + "_like"
    return like


zeros_like, ones_like, empty_like, rand_like, randn_like = (
    _like(zeros), _like(ones), _like(empty), _like(rand), _like(randn))


def full_like(input, fill_value, dtype=None, device=None, requires_grad=False):
    return full(tuple(input.shape), fill_value, dtype=dtype or input.dtype,
                device=device or input.device, requires_grad=requires_grad)


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


def logspace(start, end, steps, base=10.0, dtype=None, device=None, requires_grad=False):
    return _finish(np.logspace(start, end, steps, base=base).astype(_dtype(dtype).np),
                   requires_grad)


def _triangle_indices(upper):
    def indices(row, col, offset=0, dtype=None, device=None):
        rows, cols = (np.triu_indices if upper else np.tril_indices)(row, offset, col)
        return Tensor._wrap(np.stack([rows, cols]).astype(_dtype(dtype, dt.int64).np))

    indices.__name__ = "triu_indices" if upper else "tril_indices"
    indices.__doc__ = f"The 2 x N coordinates of the {'upper' if upper else 'lower'} " \
        "triangle of a row x col matrix."
    return indices


tril_indices, triu_indices = _triangle_indices(False), _triangle_indices(True)


def scalar_tensor(s, dtype=None, device=None, requires_grad=False):
    return _finish(np.asarray(s, _dtype(dtype).np), requires_grad)


def empty_strided(size, stride, dtype=None, device=None, requires_grad=False):
    """An empty tensor of ``size``; nncheck's storage is always contiguous, so ``stride``
    only has to be valid."""
    if len(stride) != len(size):
        raise RuntimeError(f"mismatch in length of strides and shape ({len(stride)} vs "
                           f"{len(size)})")
    return empty(tuple(size), dtype=dtype, device=device, requires_grad=requires_grad)


def randint_like(input, low=0, high=None, dtype=None, device=None, requires_grad=False):
    if high is None:
        low, high = 0, low
    return randint(low, high, tuple(input.shape), dtype=dtype or input.dtype, device=device)


def _window(name, coefficients):
    """A window of ``window_length`` samples: the generalised cosine window with
    ``coefficients`` (periodic: one sample longer, the last dropped, as PyTorch)."""
    def window(window_length, periodic=True, *, dtype=None, device=None,
               requires_grad=False):
        n = window_length + 1 if periodic else window_length
        if window_length == 1:
            return ones(1, dtype=dtype, requires_grad=requires_grad)
        k = np.arange(n) * 2 * np.pi / max(n - 1, 1)
        values = sum((-1) ** i * c * np.cos(i * k) for i, c in enumerate(coefficients))
        return _finish(np.asarray(values[:window_length], _dtype(dtype).np), requires_grad)

    window.__name__ = name
    return window


hann_window = _window("hann_window", (0.5, 0.5))
hamming_window = _window("hamming_window", (0.54, 0.46))
blackman_window = _window("blackman_window", (0.42, 0.5, 0.08))


def bartlett_window(window_length, periodic=True, *, dtype=None, device=None,
                    requires_grad=False):
    n = window_length + 1 if periodic else window_length
    if window_length == 1:
        return ones(1, dtype=dtype, requires_grad=requires_grad)
    values = 1 - np.abs(2 * np.arange(n) / (n - 1) - 1)
    return _finish(np.asarray(values[:window_length], _dtype(dtype).np), requires_grad)


def kaiser_window(window_length, periodic=True, beta=12.0, *, dtype=None, device=None,
                  requires_grad=False):
    n = window_length + 1 if periodic else window_length
    if window_length == 1:
        return ones(1, dtype=dtype, requires_grad=requires_grad)
    values = np.kaiser(n, beta)
    return _finish(np.asarray(values[:window_length], _dtype(dtype).np), requires_grad)


__all__ += ["logspace", "tril_indices", "triu_indices", "scalar_tensor", "empty_strided",
            "randint_like", "hann_window", "hamming_window", "blackman_window",
            "bartlett_window", "kaiser_window"]
