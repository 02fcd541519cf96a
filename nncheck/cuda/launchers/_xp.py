"""The array namespace of the CUDA backend: numpy's allocation functions over DeviceArrays.

The functional layer allocates through ``xp`` (``xp.empty_like(x)``, ...) so that one code
path serves every device.  Arrays go to device 0 (nncheck has one CUDA device per process
today).  Host arrays handed in (index tables planned on the host) are uploaded.
``ascontiguousarray`` is the one place where a strided view is materialised for a kernel.
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
    dtype = np.dtype(dtype) if dtype is not None else np.asarray(
        fill_value.numpy() if isinstance(fill_value, DeviceArray) else fill_value).dtype
    out = empty(shape, dtype)
    from .. import _protocol  # (imports launchers: not at module level)

    _protocol.assign(out, fill_value)  # a fill kernel on the device
    return out


def ones(shape, dtype=float):
    return full(shape, 1, dtype or float)


def asarray(a, dtype=None):
    return ascontiguousarray(a, dtype)


def ascontiguousarray(a, dtype=None):
    """``a`` as a C-contiguous DeviceArray of ``dtype``: itself when it already is one, a
    copy of a strided view (the strided copy kernel), a cast, or an upload of a host array."""
    if isinstance(a, DeviceArray):
        if dtype is not None and np.dtype(dtype) != a.dtype:
            return a.astype(dtype)
        return a if a.is_c_contiguous else a.copy()
    return DeviceArray.from_numpy(np.asarray(a, dtype))


def stack(arrays, axis=0):
    from .. import _protocol

    return _protocol.stack(arrays, axis)


def concatenate(arrays, axis=0):
    from .. import _protocol

    return _protocol.concatenate(arrays, axis)


def broadcast_to(a, shape):
    """A view with stride 0 along the broadcast axes (no copy)."""
    if not isinstance(a, DeviceArray):
        a = DeviceArray.from_numpy(np.asarray(a))
    return a.broadcast_to(_shape(shape))
