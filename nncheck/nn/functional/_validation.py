"""Checks and conversions every functional op runs before handing arrays to a kernel."""

from ..._lazy import np
from ...backend import array_namespace
from ...tensor import Tensor

_KERNEL_DTYPES = ("float32", "float64")  # (dtype == str compares without numpy imported)


def kernel_array(x, layer, arg="input"):
    """A C-contiguous float32/float64 array a kernel can take (float16 computes in float32).

    A 0-dim input stays 0-dim (``ascontiguousarray`` alone would make it shape ``(1,)``).
    """
    if x.__class__ is np.ndarray and x.dtype in _KERNEL_DTYPES and x.flags.c_contiguous:
        return x  # the common case, as it is (every op of every model step comes here)
    xp = array_namespace(x)
    if x.dtype.kind != "f":
        raise TypeError(
            f"{layer}: {arg} must be a floating point tensor (float16/32/64), got {x.dtype}"
        )
    dtype = np.float32 if x.dtype == np.float16 else x.dtype
    return xp.ascontiguousarray(x, dtype).reshape(x.shape)


def as_tensor_arg(x, layer, arg="input"):
    if not isinstance(x, Tensor):
        raise TypeError(f"{layer}: {arg} must be a Tensor, got {type(x).__name__}")
    return x


def check_dim(x, allowed, layer, arg="input", what=None):
    """Raise a clear error when ``x.ndim`` is not one of ``allowed``."""
    if x.ndim not in allowed:
        dims = " or ".join(f"{d}-D" for d in allowed)
        shape = list(x.shape)
        raise ValueError(
            f"{layer}: expected {arg} to be {dims}{' ' + what if what else ''}, "
            f"got {x.ndim}-D input of shape {shape}"
        )


def normalize_dim(dim, ndim, layer, arg="dim"):
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(
            f"{layer}: {arg}={dim} is out of range for a {ndim}-D input "
            f"(expected in [{-n}, {n - 1}])"
        )
    return dim % n


def split_around(shape, dim):
    """(outer, n, inner) sizes for viewing an array as 3-D around ``dim``."""
    outer = int(np.prod(shape[:dim], dtype=np.int64))
    inner = int(np.prod(shape[dim + 1:], dtype=np.int64))
    return outer, shape[dim] if shape else 1, inner
