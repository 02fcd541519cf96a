"""Where an operation runs: the one dispatch point from arrays to their device's kernels.

The functional layer never tests a device.  It asks ``kernels(family, *arrays)`` for the
family's kernels and the array namespace (``xp``) to allocate with, for the device those
arrays live on:

* host arrays (``numpy.ndarray``): the Cython module ``nncheck._kernels.<family>`` and numpy;
* a device array (any class with a ``__nncheck_backend__`` attribute naming a backend
  package, e.g. ``nncheck.cuda.DeviceArray`` -> ``"nncheck.cuda.launchers"``): the
  package's ``<family>`` module (launchers with the Cython module's function names and
  argument order) and the package's ``xp`` (``empty``, ``zeros``, ``ascontiguousarray``,
  ... over that device's arrays).

A new backend (ROCm through hiprtc, say) is an array class plus a launcher package; the
layers do not change.  Arrays on two devices in one call raise PyTorch's error.
"""

import importlib

from ._kernels import lazy

_cpu = {}  # family -> (lazy Cython module, numpy)
_device = {}  # (backend package, family) -> (launcher module, xp)


def kernels(family, *arrays):
    """``(kernels, xp)`` of ``family`` for the device of ``arrays`` (None entries ignored)."""
    try:
        found = _cpu[family]
    except KeyError:
        found = _cpu[family] = (lazy(family), _numpy())
    host = found[1].ndarray
    for a in arrays:
        # the type test first: it keeps the CPU path at a few attribute reads per array
        if a.__class__ is not host and a is not None and hasattr(a, "__nncheck_backend__"):
            return _device_kernels(family, arrays)
    return found


def array_namespace(*arrays):
    """The array namespace (numpy, or a device backend's ``xp``) for ``arrays``."""
    for a in arrays:
        package = getattr(a, "__nncheck_backend__", None)
        if package is not None:
            check_same_device(arrays)
            return importlib.import_module(package).xp
    return _numpy()


def _numpy():
    # every op asks (through kernels/array_namespace): a module global after the first
    # call, not an import_module lookup; imported late so `nncheck shape` never loads numpy
    global _numpy_module
    if _numpy_module is None:
        _numpy_module = importlib.import_module("numpy")
    return _numpy_module


_numpy_module = None


def device_name(array):
    """``'cpu'`` for a host array, else the device array's own name (``'cuda:0'``)."""
    return getattr(array, "device_name", "cpu")


def check_same_device(arrays):
    """Raise PyTorch's RuntimeError when ``arrays`` (None ignored) live on several devices."""
    names = []
    for a in arrays:
        if a is not None and not isinstance(a, (int, float)):
            name = device_name(a)
            if name not in names:
                names.append(name)
    if len(names) > 1:
        raise RuntimeError(
            "Expected all tensors to be on the same device, but found at least two devices, "
            f"{names[0]} and {names[1]}!"
        )


def _device_kernels(family, arrays):
    check_same_device(arrays)
    package = next(a.__nncheck_backend__ for a in arrays
                   if getattr(a, "__nncheck_backend__", None) is not None)
    key = (package, family)
    found = _device.get(key)
    if found is None:
        backend = importlib.import_module(package)
        try:
            module = importlib.import_module(f"{package}.{family}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{package}.{family}":
                raise
            raise NotImplementedError(
                f"nncheck: the {family!r} kernels have no implementation for "
                f"{device_name(next(a for a in arrays if a is not None))} yet "
                f"({package} has no {family} launchers)"
            ) from None
        found = _device[key] = (_Launchers(module, family), backend.xp)
    return found


class MissingLauncher(NotImplementedError, AttributeError):
    """A kernel a backend has no launcher for: NotImplementedError for the user, and an
    AttributeError so that ``hasattr(k, name)`` can ask whether an optional fast path
    (e.g. depthwise convolution) exists on this device."""


class _Launchers:
    """A backend's launcher module, where a kernel it lacks raises MissingLauncher."""

    def __init__(self, module, family):
        self._module, self._family = module, family

    def __getattr__(self, name):
        try:
            value = getattr(self._module, name)
        except AttributeError:
            raise MissingLauncher(
                f"nncheck: {self._family}.{name} has no {self._module.__name__} launcher yet"
            ) from None
        setattr(self, name, value)
        return value


# ---------------------------------------------------------------- numpy-like helpers
# numpy's own np.asarray/np.ascontiguousarray turn a device array into a host copy; these
# keep every array on its device (generic code that serves all backends calls them).

def asarray(a, dtype=None):
    """``np.asarray(a, dtype)`` that leaves a device array on its device."""
    if hasattr(a, "__nncheck_backend__"):
        return a if dtype is None or a.dtype == dtype else a.astype(dtype)
    return _numpy().asarray(a, dtype)


def ascontiguousarray(a, dtype=None):
    """``np.ascontiguousarray(a, dtype)`` on ``a``'s own device."""
    if hasattr(a, "__nncheck_backend__"):
        return array_namespace(a).ascontiguousarray(a, dtype)
    return _numpy().ascontiguousarray(a, dtype)


def host_array(a, dtype=None):
    """``a``'s values in a C-contiguous host array of its shape, for what must read them on
    the host (index bounds, lengths, printing): an explicit transfer like torch's ``.cpu()``."""
    if hasattr(a, "__nncheck_backend__"):
        a = a.numpy()
    np = _numpy()
    return np.ascontiguousarray(a, dtype).reshape(np.shape(a))  # (0-d stays 0-d)


# ---------------------------------------------------------------- moving storage

def to_device(array, device):
    """``array`` (host or device) as storage on ``device`` (an ``nncheck.device``); itself if
    it is already there.  Without a usable CUDA device: RuntimeError saying why."""
    if device.type == "cpu":
        return array.numpy() if hasattr(array, "__nncheck_backend__") else array
    if device.type != "cuda":
        raise RuntimeError(f"nncheck: cannot move a tensor to {device}")
    from .cuda import _driver

    reason = _driver.unavailable_reason()
    if reason is not None:
        raise RuntimeError(f"nncheck: CUDA is not available ({reason})")
    index = device.index or 0
    if isinstance(array, _driver.DeviceArray):
        if array.device.ordinal == index:
            return array
        array = array.numpy()
    np = _numpy()
    return _driver.DeviceArray.from_numpy(np.asarray(array), index)
