"""The array namespace of the CUDA backend: numpy's allocation functions over DeviceArrays.

The functional layer allocates through ``xp`` (``xp.empty_like(x)``, ...) so that one code
path serves every device.  Arrays go to device 0 (nncheck has one CUDA device per process
today).  Host arrays handed in (index tables planned on the host) are uploaded.
"""

from ..._lazy import np
from .._driver import DeviceArray

ndarray = DeviceArray


def _shape(shape):
    return (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)


def empty(shape, dtype=float):
    return DeviceArray.empty(_shape(shape), np.dtype(dtype))


def zeros(shape, dtype=float):
    return DeviceArray.zeros(_shape(shape), np.dtype(dtype))


def empty_like(a, dtype=None):
    return empty(a.shape, dtype or a.dtype)


def zeros_like(a, dtype=None):
    return zeros(a.shape, dtype or a.dtype)


def full(shape, fill_value, dtype=None):
    return DeviceArray.from_numpy(np.full(_shape(shape), fill_value, dtype))


def ones(shape, dtype=float):
    return full(shape, 1, dtype or float)


def asarray(a, dtype=None):
    return ascontiguousarray(a, dtype)


def ascontiguousarray(a, dtype=None):
    """``a`` as a DeviceArray of ``dtype``: itself when it already is one (DeviceArrays are
    always C-contiguous), a cast copy, or an upload of a host array."""
    if isinstance(a, DeviceArray):
        return a if dtype is None or np.dtype(dtype) == a.dtype else a.astype(dtype)
    return DeviceArray.from_numpy(np.ascontiguousarray(a, dtype))


def stack(arrays, axis=0):
    if axis != 0:
        raise NotImplementedError("nncheck.cuda xp.stack: only axis=0")
    arrays = [ascontiguousarray(a) for a in arrays]
    out = empty((len(arrays),) + arrays[0].shape, arrays[0].dtype)
    for i, a in enumerate(arrays):
        out[i].copy_(a)
    return out


def broadcast_to(a, shape):
    """Generic (not a layer's kernel path): materialised on the host, copied back."""
    host = a.numpy() if isinstance(a, DeviceArray) else np.asarray(a)
    return DeviceArray.from_numpy(np.ascontiguousarray(np.broadcast_to(host, shape)))
