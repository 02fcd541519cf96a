"""CUDA driver layer: lazy cuda-python import, errors, primary contexts, allocator, streams.

Nothing here imports ``cuda.bindings`` at module import time: ``import nncheck.cuda`` must
work (and ``is_available()`` must answer False) on a machine without cuda-python or a GPU.
Every driver call goes through :func:`call`, which turns a non-success ``CUresult`` into a
:class:`CudaError` carrying the driver's error name (``CUDA_ERROR_OUT_OF_MEMORY``, ...).
"""

import ctypes
import os
import threading

from .._lazy import np

_lock = threading.RLock()
_modules = None  # (driver, nvrtc) once imported
_init_reason = ...  # ... = not tried yet; None = the driver works; str = why it does not
_devices = {}
_allocators = {}


class CudaError(RuntimeError):
    """A CUDA driver call failed; ``name`` is the driver's error name, ``code`` its number."""

    def __init__(self, call_name, name, code, description=""):
        self.call, self.name, self.code = call_name, name, code
        detail = f" ({description})" if description and description != name else ""
        super().__init__(f"{call_name} failed: {name}{detail}")


class OutOfMemoryError(CudaError):
    """cuMemAlloc failed even after the allocator's cache was given back to the driver."""

    def __init__(self, nbytes, allocator):
        self.call, self.name, self.code = "cuMemAlloc", "CUDA_ERROR_OUT_OF_MEMORY", 2
        self.nbytes = nbytes
        RuntimeError.__init__(
            self, f"CUDA out of memory: tried to allocate {nbytes} bytes on cuda:"
            f"{allocator.device.ordinal} ({allocator.allocated_bytes} bytes held by live "
            "arrays; the allocator's cache was emptied and the allocation retried once) "
            "[CUDA_ERROR_OUT_OF_MEMORY]")


class CudaUnavailableError(RuntimeError):
    """cuda-python, the NVIDIA driver or a CUDA device is missing."""


def bindings():
    """``(driver, nvrtc)`` from cuda-python, imported on first use.

    cuda-bindings >= 12.6 exposes ``cuda.bindings.{driver,nvrtc}``; older cuda-python
    (11.x / early 12.x) only had ``cuda.cuda`` and ``cuda.nvrtc``.  Under
    NNCHECK_CUDA_EMULATE=1 the driver is ``emulator.driver`` (and there is no NVRTC).
    """
    global _modules
    if _modules is None and emulated():
        from .emulator import driver

        _modules = (driver, None)
    if _modules is None:
        try:
            from cuda.bindings import driver, nvrtc
        except ImportError:
            try:
                from cuda import cuda as driver
                from cuda import nvrtc
            except ImportError as exc:
                raise CudaUnavailableError(
                    "cuda-python is not installed; pip install 'nncheck[cuda]' "
                    f"(import failed: {exc})"
                ) from None
        _modules = (driver, nvrtc)
    return _modules


def emulated():
    """True when NNCHECK_CUDA_EMULATE=1 makes ``cuda`` the host emulation (emulator/)."""
    return os.environ.get("NNCHECK_CUDA_EMULATE", "") == "1"


def reset():
    """Forget the driver, devices and allocators, so that the next use probes again (after
    NNCHECK_CUDA_EMULATE changed, e.g. in a test); arrays made before keep working only on
    the emulated device, whose memory is host memory."""
    global _modules, _init_reason
    with _lock:
        _modules, _init_reason = None, ...
        _devices.clear()
        _allocators.clear()


def _enum_name(code):
    return getattr(code, "name", None) or f"error {int(code)}"


def call(fn_name, *args):
    """Run ``driver.<fn_name>(*args)``; raise CudaError unless it returned CUDA_SUCCESS.

    cuda-python returns ``(CUresult, *values)``; this returns the single value, a tuple of
    several, or None.
    """
    driver, _ = bindings()
    result = getattr(driver, fn_name)(*args)
    err, values = (result[0], result[1:]) if isinstance(result, tuple) else (result, ())
    if int(err) != 0:
        raise error_from_code(fn_name, err)
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def error_from_code(fn_name, err):
    """A CudaError with the driver's own name and description for ``err``."""
    driver, _ = bindings()
    name, description = _enum_name(err), ""
    try:
        got, raw = driver.cuGetErrorName(err)
        if int(got) == 0 and raw:
            name = raw.decode()
        got, raw = driver.cuGetErrorString(err)
        if int(got) == 0 and raw:
            description = raw.decode()
    except Exception:  # the driver library itself may be unloadable; keep the enum name
        pass
    return CudaError(fn_name, name, int(err), description)


# ---------------------------------------------------------------- availability

def unavailable_reason():
    """None when a CUDA device can be used, else one line saying precisely why not."""
    global _init_reason
    with _lock:
        if _init_reason is ...:
            _init_reason = _probe()
        return _init_reason


def _probe():
    try:
        bindings()
    except CudaUnavailableError as exc:
        return str(exc)
    try:
        call("cuInit", 0)
        count = call("cuDeviceGetCount")
    except CudaError as exc:
        return f"the CUDA driver failed to initialise: {exc}"
    except Exception as exc:  # cuda.pathfinder raises when libcuda.so.1 cannot be loaded
        return (
            "the NVIDIA driver library libcuda.so was not found, so there is no usable GPU "
            f"({type(exc).__name__}: {exc})"
        )
    if int(count) == 0:
        return "the NVIDIA driver reports no CUDA device"
    return None


def is_available():
    """True when cuda-python is installed and the driver sees at least one device."""
    try:
        return unavailable_reason() is None
    except Exception:
        return False


def require():
    """Raise CudaUnavailableError (with the reason) unless a device can be used."""
    reason = unavailable_reason()
    if reason is not None:
        raise CudaUnavailableError(f"nncheck: CUDA is not available ({reason})")


def device_count():
    """Number of CUDA devices; 0 when CUDA cannot be used at all."""
    if not is_available():
        return 0
    return int(call("cuDeviceGetCount"))


# ---------------------------------------------------------------- devices and contexts

class Device:
    """One GPU with its retained primary context (the one the CUDA runtime also uses)."""

    def __init__(self, ordinal):
        driver, _ = bindings()
        self.ordinal = ordinal
        self.handle = call("cuDeviceGet", ordinal)
        self.context = call("cuDevicePrimaryCtxRetain", self.handle)
        attr = driver.CUdevice_attribute
        self.capability = (
            int(call("cuDeviceGetAttribute",
                     attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, self.handle)),
            int(call("cuDeviceGetAttribute",
                     attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, self.handle)),
        )
        self.multiprocessors = int(call(
            "cuDeviceGetAttribute", attr.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, self.handle))
        self.name = call("cuDeviceGetName", 256, self.handle).split(b"\0", 1)[0].decode()
        self.total_memory = int(call("cuDeviceTotalMem", self.handle))
        self.arch = f"sm_{self.capability[0]}{self.capability[1]}"
        self._modules = {}

    def activate(self):
        """Make this device's primary context current on the calling thread."""
        call("cuCtxSetCurrent", self.context)

    def synchronize(self):
        self.activate()
        call("cuCtxSynchronize")

    def load_module(self, key, image):
        """Load a CUBIN/PTX image once per device; ``key`` identifies the compiled program."""
        with _lock:
            module = self._modules.get(key)
            if module is None:
                self.activate()
                module = call("cuModuleLoadData", image)
                self._modules[key] = module
            return module

    def __repr__(self):
        return f"<CUDA device {self.ordinal}: {self.name}, {self.arch}>"


def get_device(index=None):
    """The Device for ``index`` (default 0, or a ``nncheck.device('cuda:1')``-like spec)."""
    require()
    if index is None:
        index = 0
    elif not isinstance(index, int):
        index = getattr(index, "index", None) or 0
    count = device_count()
    if not 0 <= index < count:
        raise CudaUnavailableError(
            f"nncheck: CUDA device {index} does not exist ({count} device(s) visible)"
        )
    with _lock:
        if index not in _devices:
            _devices[index] = Device(index)
        return _devices[index]


# ---------------------------------------------------------------- streams

class Stream:
    """A CUDA stream; ``Stream.default()`` is the legacy NULL stream (orders everything)."""

    def __init__(self, device=None, handle=None):
        self.device = get_device(device)
        self._owned = handle is None
        if handle is None:
            driver, _ = bindings()
            self.device.activate()
            handle = call("cuStreamCreate", driver.CUstream_flags.CU_STREAM_NON_BLOCKING.value)
        self.handle = handle

    @classmethod
    def default(cls, device=None):
        return cls(device, handle=0)

    def synchronize(self):
        self.device.activate()
        call("cuStreamSynchronize", self.handle)

    def __int__(self):
        return int(self.handle)

    def __del__(self):
        if getattr(self, "_owned", False):
            try:
                call("cuStreamDestroy", self.handle)
            except Exception:  # interpreter shutdown or a dead context: nothing to release
                pass


def _stream_handle(stream):
    return 0 if stream is None else int(stream)


# ---------------------------------------------------------------- caching allocator

_MIN_BLOCK = 512
_SMALL_LIMIT = 1 << 20
_LARGE_STEP = 2 << 20


def size_class(nbytes):
    """Round a request up to its size class: powers of two up to 1 MiB, then 2 MiB steps.

    Coarse classes let freed blocks be reused by the next request of a similar size
    (the pattern of a training loop) without a cuMemAlloc/cuMemFree, which synchronise.
    """
    nbytes = max(int(nbytes), _MIN_BLOCK)
    if nbytes <= _SMALL_LIMIT:
        return 1 << (nbytes - 1).bit_length()
    return -(-nbytes // _LARGE_STEP) * _LARGE_STEP


class Block:
    """A device allocation; returns itself to its allocator's free list when collected."""

    __slots__ = ("ptr", "size", "stream", "allocator", "__weakref__")

    def __init__(self, ptr, size, stream, allocator):
        self.ptr, self.size, self.stream, self.allocator = ptr, size, stream, allocator

    def __del__(self):
        try:
            self.allocator.release(self)
        except Exception:  # interpreter shutdown: the driver frees everything anyway
            pass


class CachingAllocator:
    """Per-device free lists keyed by (stream, size class).

    A block freed on stream S is only handed out again for work on S, so stream order
    guarantees the previous user's kernels finished before the new user's start.
    """

    def __init__(self, device):
        self.device = device
        self._free = {}
        self.allocated_bytes = 0
        self.reserved_bytes = 0

    def malloc(self, nbytes, stream=None):
        size, key_stream = size_class(nbytes), _stream_handle(stream)
        with _lock:
            bucket = self._free.get((key_stream, size))
            if bucket:
                ptr = bucket.pop()
            else:
                ptr = self._cu_malloc(size)
                self.reserved_bytes += size
            self.allocated_bytes += size
        return Block(ptr, size, key_stream, self)

    def _cu_malloc(self, size):
        self.device.activate()
        try:
            return int(call("cuMemAlloc", size))
        except CudaError as exc:
            if exc.name != "CUDA_ERROR_OUT_OF_MEMORY":
                raise
        self.empty_cache()  # give cached blocks back to the driver, then try once more
        try:
            return int(call("cuMemAlloc", size))
        except CudaError as exc:
            if exc.name != "CUDA_ERROR_OUT_OF_MEMORY":
                raise
            raise OutOfMemoryError(size, self) from None

    def release(self, block):
        with _lock:
            self._free.setdefault((block.stream, block.size), []).append(block.ptr)
            self.allocated_bytes -= block.size

    def empty_cache(self):
        """cuMemFree every cached (unused) block."""
        with _lock:
            self.device.activate()
            call("cuCtxSynchronize")
            for (_, size), ptrs in self._free.items():
                for ptr in ptrs:
                    call("cuMemFree", ptr)
                    self.reserved_bytes -= size
            self._free.clear()


def allocator(device=None):
    dev = get_device(device)
    with _lock:
        if dev.ordinal not in _allocators:
            _allocators[dev.ordinal] = CachingAllocator(dev)
        return _allocators[dev.ordinal]


# ---------------------------------------------------------------- device arrays

MAX_DIMS = 8  # the Strided kernel parameter's capacity (kernels/_common.cu NN_MAX_DIMS)


class Strided(ctypes.Structure):
    """The ``Strided`` kernel parameter of kernels/_common.cu: an N-d view, in elements."""

    _fields_ = [("ndim", ctypes.c_int64), ("shape", ctypes.c_int64 * MAX_DIMS),
                ("stride", ctypes.c_int64 * MAX_DIMS)]


def c_strides(shape):
    """Element strides of a C-contiguous array of ``shape``."""
    strides, step = [], 1
    for s in reversed(shape):
        strides.append(step)
        step *= max(int(s), 1)
    return tuple(reversed(strides))


def _nocopy_strides(shape, strides, new_shape):
    """Strides that view (shape, strides) as ``new_shape`` without a copy, or None (numpy's
    _attempt_nocopy_reshape, C order)."""
    old = [(s, st) for s, st in zip(shape, strides) if s != 1]
    if any(s == 0 for s in new_shape) or not old:
        return c_strides(new_shape)
    new = list(new_shape)
    out = [0] * len(new)
    oi, oj, ni, nj = 0, 1, 0, 1
    while ni < len(new) and oi < len(old):
        np_, op = new[ni], old[oi][0]
        while np_ != op:
            if np_ < op:
                np_ *= new[nj]
                nj += 1
            else:
                op *= old[oj][0]
                oj += 1
        for ok in range(oi, oj - 1):
            if old[ok][1] != old[ok + 1][0] * old[ok + 1][1]:
                return None
        out[nj - 1] = old[oj - 1][1]
        for nk in range(nj - 1, ni, -1):
            out[nk - 1] = out[nk] * new[nk]
        ni, nj, oi, oj = nj, nj + 1, oj, oj + 1
    last = out[ni - 1] if ni >= 1 else 1
    for nk in range(ni, len(new)):
        out[nk] = last
    return tuple(out)


class _Flags:
    """``a.flags['C_CONTIGUOUS']`` / ``a.flags.c_contiguous``, as numpy's flags read."""

    __slots__ = ("c_contiguous",)

    def __init__(self, c_contiguous):
        self.c_contiguous = c_contiguous

    def __getitem__(self, name):
        if name in ("C_CONTIGUOUS", "C", "CONTIGUOUS"):
            return self.c_contiguous
        if name in ("WRITEABLE", "W", "ALIGNED", "A", "OWNDATA", "O"):
            return name not in ("OWNDATA", "O")
        raise KeyError(name)


def _host_fallback(what):
    """Count one generic operation computed on the host (launchers.stats)."""
    from . import launchers

    launchers.stats["host_fallbacks"] += 1
    launchers.fallback_names[what] = launchers.fallback_names.get(what, 0) + 1


class DeviceArray:
    """An N-d array in device memory: pointer to element [0, ..., 0], shape, element
    strides and dtype, like an ndarray.  Basic indexing, transposes, broadcasts and
    compatible reshapes are views sharing the allocation; ``ascontiguousarray``/``copy``
    materialise them with the strided copy kernel.  Kernels receive only C-contiguous
    arrays (``Kernel`` checks); generic numpy operations run as device kernels through
    ``cuda/_protocol.py``."""

    __slots__ = ("_block", "ptr", "_shape", "_strides", "dtype", "device", "stream")

    def __init__(self, block, ptr, shape, dtype, device, stream=None, strides=None):
        self._block, self.ptr, self.device, self.stream = block, ptr, device, stream
        self._shape = tuple(int(s) for s in shape)
        self._strides = (c_strides(self._shape) if strides is None
                         else tuple(int(s) for s in strides))
        self.dtype = np.dtype(dtype)

    @classmethod
    def empty(cls, shape, dtype=np.float32, device=None, stream=None):
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        if any(int(s) < 0 for s in shape):
            raise ValueError(f"negative dimensions are not allowed: {tuple(shape)}")
        dtype = np.dtype(dtype)
        dev = get_device(device)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        block = allocator(dev.ordinal).malloc(nbytes, stream)
        return cls(block, block.ptr, shape, dtype, dev, stream)

    @classmethod
    def zeros(cls, shape, dtype=np.float32, device=None, stream=None):
        out = cls.empty(shape, dtype, device, stream)
        return out.zero_()

    @classmethod
    def from_numpy(cls, array, device=None, stream=None):
        """Upload ``array``; pageable host memory is staged before the call returns."""
        host = np.asarray(array)
        host = np.ascontiguousarray(host).reshape(host.shape)  # ascontiguousarray makes 0-d 1-d
        out = cls.empty(host.shape, host.dtype, device, stream)
        if host.nbytes:
            out.device.activate()
            call("cuMemcpyHtoDAsync", out.ptr, host.ctypes.data, host.nbytes,
                 _stream_handle(stream))
        return out

    # ------------------------------------------------------------ layout
    @property
    def shape(self):
        return self._shape

    @shape.setter
    def shape(self, new_shape):  # numpy's in-place reshape: only where a view can do it
        new_shape = tuple(int(s) for s in new_shape)
        if int(np.prod(new_shape, dtype=np.int64)) != self.size:
            raise ValueError(f"cannot reshape array of size {self.size} into shape {new_shape}")
        strides = _nocopy_strides(self._shape, self._strides, new_shape)
        if strides is None:
            raise AttributeError("Incompatible shape for in-place modification. Use "
                                 "`.reshape()` to make a copy with the desired shape.")
        self._shape, self._strides = new_shape, strides

    @property
    def element_strides(self):
        return self._strides

    @property
    def strides(self):  # in bytes, as numpy's
        return tuple(s * self.dtype.itemsize for s in self._strides)

    @property
    def is_c_contiguous(self):
        if self.size <= 1:
            return True
        return all(st == want for s, st, want in zip(self._shape, self._strides,
                                                     c_strides(self._shape)) if s != 1)

    @property
    def flags(self):
        return _Flags(self.is_c_contiguous)

    def strided(self, shape=None, strides=None):
        """This view as a Strided kernel parameter (optionally broadcast to other
        shape/strides of the same launch)."""
        shape = self._shape if shape is None else shape
        strides = self._strides if strides is None else strides
        if len(shape) > MAX_DIMS:
            raise ValueError(f"nncheck.cuda: a strided view has at most {MAX_DIMS} dims, "
                             f"got {len(shape)}")
        pad = (0,) * (MAX_DIMS - len(shape))
        return Strided(len(shape), (ctypes.c_int64 * MAX_DIMS)(*shape, *pad),
                       (ctypes.c_int64 * MAX_DIMS)(*strides, *pad))

    def _view(self, elements, shape, strides):
        return DeviceArray(self._block, self.ptr + elements * self.dtype.itemsize, shape,
                           self.dtype, self.device, self.stream, strides)

    def extent(self):
        """(first byte, one past the last byte) this view can touch."""
        lo = hi = 0
        for s, st in zip(self._shape, self._strides):
            if s == 0:
                return self.ptr, self.ptr
            if st > 0:
                hi += (s - 1) * st
            else:
                lo += (s - 1) * st
        item = self.dtype.itemsize
        return self.ptr + lo * item, self.ptr + (hi + 1) * item

    @property
    def size(self):
        return int(np.prod(self._shape, dtype=np.int64))

    @property
    def nbytes(self):
        return self.size * self.dtype.itemsize

    @property
    def ndim(self):
        return len(self._shape)

    # ------------------------------------------------------------ transfers
    def numpy(self):
        """Download to a new host array (waits for the stream)."""
        src = self if self.is_c_contiguous else self.copy()
        host = np.empty(self._shape, self.dtype)
        if host.nbytes:
            src.device.activate()
            handle = _stream_handle(src.stream)
            call("cuMemcpyDtoHAsync", host.ctypes.data, src.ptr, host.nbytes, handle)
            call("cuStreamSynchronize", handle)
        return host

    def zero_(self):
        if self.nbytes and self.is_c_contiguous:
            self.device.activate()
            call("cuMemsetD8Async", self.ptr, 0, self.nbytes, _stream_handle(self.stream))
        elif self.size:
            self.fill(0)
        return self

    def fill(self, value):
        from .launchers import elementwise

        elementwise.fill(self, value)

    def copy_(self, src):
        """Copy from a host array or another DeviceArray with as many elements (a source of
        another shape is read in C order) and the same dtype, into this (maybe strided) view."""
        if isinstance(src, DeviceArray):
            if (src.size, src.dtype) != (self.size, self.dtype):
                raise ValueError(
                    f"copy_: source has {src.size} {src.dtype} elements, "
                    f"destination {self.size} {self.dtype}"
                )
            if not self.nbytes:
                return self
            if self.is_c_contiguous and src.is_c_contiguous:
                self.device.activate()
                call("cuMemcpyDtoDAsync", self.ptr, src.ptr, self.nbytes,
                     _stream_handle(self.stream))
                return self
            from .launchers import elementwise

            if src.shape != self.shape:
                src = src.reshape(self.shape)
            elementwise.copy_into(src, self)
            return self
        host = np.ascontiguousarray(src, self.dtype)
        if host.size != self.size:
            raise ValueError(f"copy_: source has {host.size} elements, destination {self.size}")
        if not self.is_c_contiguous:
            return self.copy_(DeviceArray.from_numpy(host, self.device.ordinal, self.stream))
        if self.nbytes:
            self.device.activate()
            call("cuMemcpyHtoDAsync", self.ptr, host.ctypes.data, self.nbytes,
                 _stream_handle(self.stream))
        return self

    def copy(self, order="C"):
        return DeviceArray.empty(self._shape, self.dtype, self.device.ordinal,
                                 self.stream).copy_(self)

    def astype(self, dtype, copy=True, casting="unsafe"):
        from .launchers import elementwise

        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self.copy() if copy else self
        return elementwise.cast(self, dtype)

    # ------------------------------------------------------------ views
    def reshape(self, *shape, order="C"):
        """A view with another shape where the strides allow it, else a reshaped copy."""
        shape = tuple(shape[0]) if len(shape) == 1 and not isinstance(
            shape[0], (int, np.integer)) else shape
        shape = tuple(int(s) for s in shape)
        if shape.count(-1) > 1:
            raise ValueError("can only specify one unknown dimension")
        if -1 in shape:
            known = int(np.prod([s for s in shape if s != -1], dtype=np.int64))
            if known == 0 or self.size % known:
                raise ValueError(f"cannot reshape array of size {self.size} into shape {shape}")
            shape = tuple(self.size // known if s == -1 else s for s in shape)
        if int(np.prod(shape, dtype=np.int64)) != self.size:
            raise ValueError(f"cannot reshape array of size {self.size} into shape {shape}")
        strides = _nocopy_strides(self._shape, self._strides, shape)
        if strides is None:
            return self.copy().reshape(shape)
        return self._view(0, shape, strides)

    def ravel(self, order="C"):
        return self.reshape(-1)

    def flatten(self, order="C"):
        return self.copy().reshape(-1)

    def view(self, dtype=None):
        """The same memory as a new array object, or read as another dtype of the same size."""
        if dtype is None:
            return self._view(0, self._shape, self._strides)
        dtype = np.dtype(dtype)
        if dtype.itemsize != self.dtype.itemsize:
            raise ValueError(f"view: {self.dtype} and {dtype} differ in size")
        return DeviceArray(self._block, self.ptr, self._shape, dtype, self.device, self.stream,
                           self._strides)

    def offset(self, elements, shape):
        """A contiguous block starting ``elements`` into this (contiguous) array, for kernels'
        per-sample slices."""
        return DeviceArray(self._block, self.ptr + elements * self.dtype.itemsize, shape,
                           self.dtype, self.device, self.stream)

    def transpose(self, *axes):
        if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
            axes = () if axes[0] is None else tuple(axes[0])
        if not len(axes):
            axes = tuple(range(self.ndim))[::-1]
        axes = tuple(_axis(a, self.ndim) for a in axes)
        if sorted(axes) != list(range(self.ndim)):
            raise ValueError("axes don't match array")
        return self._view(0, tuple(self._shape[a] for a in axes),
                          tuple(self._strides[a] for a in axes))

    @property
    def T(self):
        return self.transpose()

    def swapaxes(self, a, b):
        axes = list(range(self.ndim))
        a, b = _axis(a, self.ndim), _axis(b, self.ndim)
        axes[a], axes[b] = axes[b], axes[a]
        return self.transpose(axes)

    def squeeze(self, axis=None):
        if axis is None:
            axes = {i for i, s in enumerate(self._shape) if s == 1}
        else:
            axes = {_axis(a, self.ndim) for a in (axis if isinstance(axis, (tuple, list))
                                                  else (axis,))}
            if any(self._shape[a] != 1 for a in axes):
                raise ValueError("cannot select an axis to squeeze out which has size not "
                                 "equal to one")
        keep = [i for i in range(self.ndim) if i not in axes]
        return self._view(0, tuple(self._shape[i] for i in keep),
                          tuple(self._strides[i] for i in keep))

    def broadcast_to(self, shape):
        """A read-only-in-spirit view with stride 0 along broadcast axes (numpy's rules)."""
        shape = tuple(int(s) for s in shape)
        lead = len(shape) - self.ndim
        if lead < 0:
            raise ValueError("cannot broadcast a non-scalar to a scalar array")
        strides = [0] * lead
        for i, (s, st) in enumerate(zip(self._shape, self._strides)):
            want = shape[lead + i]
            if s == want:
                strides.append(st)
            elif s == 1:
                strides.append(0)
            else:
                raise ValueError(f"operands could not be broadcast together with remapped "
                                 f"shapes [original->remapped]: {self._shape} and "
                                 f"requested shape {shape}")
        return self._view(0, shape, strides)

    def diagonal(self, offset=0, axis1=0, axis2=1):
        a, b = _axis(axis1, self.ndim), _axis(axis2, self.ndim)
        n = max(0, min(self._shape[a] - max(-offset, 0), self._shape[b] - max(offset, 0)))
        start = (max(-offset, 0) * self._strides[a] + max(offset, 0) * self._strides[b]
                 if n else 0)
        keep = [i for i in range(self.ndim) if i not in (a, b)]
        return self._view(start, tuple(self._shape[i] for i in keep) + (n,),
                          tuple(self._strides[i] for i in keep)
                          + (self._strides[a] + self._strides[b],))

    # ------------------------------------------------------------ the array protocol
    # What the functional layer and Tensor read from their storage.  The backend dispatch
    # (nncheck.backend) sends arrays of this class to nncheck.cuda.launchers.
    __nncheck_backend__ = "nncheck.cuda.launchers"
    __array_priority__ = 2000  # numpy defers mixed operations to the dunders below

    @property
    def device_name(self):
        return f"cuda:{self.device.ordinal}"

    @property
    def itemsize(self):
        return self.dtype.itemsize

    def __len__(self):
        if not self._shape:
            raise TypeError("len() of unsized object")
        return self._shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __getitem__(self, key):
        """Basic indexing (ints, slices, None, Ellipsis) is a view; an index array or mask
        gathers (``_protocol``)."""
        view = _basic_index(self, key)
        if view is not None:
            return view
        from . import _protocol

        return _protocol.gather(self, key)

    def __setitem__(self, key, value):
        """Writes into this array's memory: through the view of a basic index, or scattered
        for an index array or mask."""
        view = _basic_index(self, key)
        from . import _protocol

        if view is None:
            _protocol.scatter(self, key, value)
        else:
            _protocol.assign(view, value)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        from . import _protocol

        return _protocol.array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        from . import _protocol

        return _protocol.array_function(func, args, kwargs)

    def __array__(self, dtype=None, copy=None):
        # np.asarray of a device array: its values on the host (a generic op computed on
        # the host; counted, so tests can tell that nothing a layer runs comes here)
        _host_fallback("__array__")
        host = self.numpy()
        return host if dtype is None else host.astype(dtype)

    def __getattr__(self, name):  # an ndarray method this class has not: the host copy's
        if name.startswith("__") or not hasattr(np.ndarray, name):
            raise AttributeError(f"'DeviceArray' object has no attribute {name!r}")
        from . import _protocol

        method = _protocol.METHODS.get(name)
        if method is not None:
            return lambda *a, **k: method(self, *a, **k)
        _host_fallback(f"ndarray.{name}")
        value = getattr(self.numpy(), name)
        if not callable(value):
            return _upload_like(value, self)
        return lambda *a, **k: _upload_like(value(*_host(a), **_host(k)), self)

    def item(self, *args):
        return self.numpy().item(*args)

    def tolist(self):
        return self.numpy().tolist()

    def __bool__(self):
        return bool(self.numpy())

    def __float__(self):
        return float(self.numpy())

    def __int__(self):
        return int(self.numpy())

    def __index__(self):
        return self.numpy().__index__()

    def __repr__(self):
        strides = "" if self.is_c_contiguous else f", strides={self._strides}"
        return (f"DeviceArray(shape={self._shape}{strides}, dtype={self.dtype}, "
                f"device={self.device.ordinal}, ptr=0x{self.ptr:x})")


def _axis(a, ndim):
    a = int(a)
    if not -max(ndim, 1) <= a < max(ndim, 1):
        raise ValueError(f"axis {a} is out of bounds for array of dimension {ndim}")
    return a % max(ndim, 1)


def _basic_index(a, key):
    """The view ``a[key]`` for a basic index (ints, slices, None, Ellipsis), else None."""
    items = key if isinstance(key, tuple) else (key,)
    for k in items:
        if not (k is None or k is Ellipsis or isinstance(k, slice) or (
                isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_)))):
            return None
    if sum(k is Ellipsis for k in items) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    used = sum(k is not None and k is not Ellipsis for k in items)
    if used > a.ndim:
        raise IndexError(f"too many indices for array: array is {a.ndim}-dimensional, but "
                         f"{used} were indexed")
    if Ellipsis in items:
        at = items.index(Ellipsis)
        items = items[:at] + (slice(None),) * (a.ndim - used) + items[at + 1:]
    else:
        items = items + (slice(None),) * (a.ndim - used)
    offset, shape, strides, dim = 0, [], [], 0
    for k in items:
        if k is None:
            shape.append(1)
            strides.append(0)
            continue
        size, stride = a.shape[dim], a.element_strides[dim]
        if isinstance(k, slice):
            start, stop, step = k.indices(size)
            n = len(range(start, stop, step))
            if n:
                offset += start * stride
            shape.append(n)
            strides.append(stride * step)
        else:
            i = int(k)
            if not -size <= i < size:
                raise IndexError(f"index {i} is out of bounds for axis {dim} with size {size}")
            offset += (i % size) * stride
        dim += 1
    return a._view(offset, tuple(shape), tuple(strides))


def _binary(ufunc_name, reflected=False):
    def op(self, other):
        ufunc = getattr(np, ufunc_name)
        return ufunc(other, self) if reflected else ufunc(self, other)
    return op


for _name, _ufunc in (("add", "add"), ("sub", "subtract"), ("mul", "multiply"),
                      ("truediv", "true_divide"), ("floordiv", "floor_divide"), ("mod", "mod"),
                      ("pow", "power"), ("matmul", "matmul"), ("and", "bitwise_and"),
                      ("or", "bitwise_or"), ("xor", "bitwise_xor"), ("lt", "less"),
                      ("le", "less_equal"), ("gt", "greater"), ("ge", "greater_equal"),
                      ("eq", "equal"), ("ne", "not_equal")):
    setattr(DeviceArray, f"__{_name}__", _binary(_ufunc))
    if _name not in ("lt", "le", "gt", "ge", "eq", "ne"):
        setattr(DeviceArray, f"__r{_name}__", _binary(_ufunc, reflected=True))
    if _name not in ("lt", "le", "gt", "ge", "eq", "ne", "matmul"):  # a += b: in place
        setattr(DeviceArray, f"__i{_name}__",
                lambda self, other, _u=_ufunc: getattr(np, _u)(self, other, out=self))
DeviceArray.__neg__ = lambda self: np.negative(self)
DeviceArray.__pos__ = lambda self: np.positive(self)
DeviceArray.__abs__ = lambda self: np.absolute(self)
DeviceArray.__invert__ = lambda self: np.invert(self)
DeviceArray.__hash__ = object.__hash__


def _host(value):
    """``value`` with every DeviceArray in it downloaded (for host-side generic arithmetic)."""
    if isinstance(value, DeviceArray):
        return value.numpy()
    if isinstance(value, (list, tuple)):
        return type(value)(_host(v) for v in value)
    if isinstance(value, dict):
        return {k: _host(v) for k, v in value.items()}
    return value


def _upload_like(result, like):
    """A host result back on ``like``'s device (arrays only; numbers and metadata as they are)."""
    if isinstance(result, (np.ndarray, np.generic)) and result.dtype.kind in "biufc":
        return DeviceArray.from_numpy(np.asarray(result), like.device.ordinal)
    if isinstance(result, tuple):
        return tuple(_upload_like(r, like) for r in result)
    if isinstance(result, list):
        return [_upload_like(r, like) for r in result]
    return result


# ---------------------------------------------------------------- kernel launch

class Window3(ctypes.Structure):
    """The ``Window3`` kernel parameter of kernels/_common.cu (sizes of up to 3 spatial dims)."""

    _fields_ = [(name, ctypes.c_int64 * 3)
                for name in ("in_", "out", "k", "stride", "pad", "dil")]


def window3(in_sizes, out_sizes, k=None, stride=None, pad=None, dil=None):
    """A Window3 for 1-3 spatial dims; missing leading dims get size 1, kernel 1, pad 0."""
    def fill(values, default):
        values = [default] * len(in_sizes) if values is None else list(values)
        return (ctypes.c_int64 * 3)(*([default] * (3 - len(values)) + [int(v) for v in values]))

    if not 1 <= len(in_sizes) <= 3 or len(out_sizes) != len(in_sizes):
        raise ValueError(f"window3: need 1-3 spatial dims, got {in_sizes} -> {out_sizes}")
    return Window3(fill(in_sizes, 1), fill(out_sizes, 1), fill(k, 1), fill(stride, 1),
                   fill(pad, 0), fill(dil, 1))


_CTYPE_OF_DTYPE = {np.dtype(np.float32): ctypes.c_float, np.dtype(np.float64): ctypes.c_double}
_CTYPE_OF_SCALAR = {
    np.dtype(np.float32): ctypes.c_float, np.dtype(np.float64): ctypes.c_double,
    np.dtype(np.int32): ctypes.c_int32, np.dtype(np.int64): ctypes.c_int64,
    np.dtype(np.uint32): ctypes.c_uint32, np.dtype(np.uint64): ctypes.c_uint64,
}


class Kernel:
    """A loaded ``__global__`` function of one dtype instantiation.

    Arguments map to C parameters by convention (the .cu files follow it): DeviceArray or
    None -> pointer, Python int -> ``long long``, Python float -> ``T`` (the kernel's
    dtype), numpy scalar -> its exact C type (e.g. ``np.uint64`` for a seed), a ctypes
    value or Structure (e.g. :class:`Window3`) -> itself, by value. Where the
    driver can report parameter sizes (CUDA >= 12.4) they are checked on the first launch.
    """

    def __init__(self, device, function, name, dtype):
        self.device, self.function, self.name = device, function, name
        self.dtype = np.dtype(dtype)
        self._param_sizes = None

    def _pack(self, args):
        values = []
        for a in args:
            if isinstance(a, DeviceArray):
                if not a.is_c_contiguous:  # launchers materialise views (xp.ascontiguousarray)
                    raise ValueError(f"{self.name}: a kernel got a non-contiguous view {a!r}")
                values.append(ctypes.c_uint64(a.ptr))
            elif a is None:
                values.append(ctypes.c_uint64(0))
            elif isinstance(a, (ctypes.Structure, ctypes._SimpleCData)):
                values.append(a)
            elif isinstance(a, np.generic):
                values.append(_CTYPE_OF_SCALAR[a.dtype](a.item()))
            elif isinstance(a, (bool, int)):
                values.append(ctypes.c_int64(int(a)))
            elif isinstance(a, float):
                values.append(_CTYPE_OF_DTYPE[self.dtype](a))
            else:
                raise TypeError(f"{self.name}: cannot pass {type(a).__name__} to a kernel")
        return values

    def _check_params(self, values):
        if self._param_sizes is None:
            self._param_sizes = _param_sizes(self.function)
        sizes = self._param_sizes
        if sizes is None:
            return
        got = [ctypes.sizeof(v) for v in values]
        if got != sizes:
            raise TypeError(
                f"{self.name}: kernel takes parameters of sizes {sizes} bytes, "
                f"the call passed {got}"
            )

    def __call__(self, grid, block, *args, shared_mem=0, stream=None):
        grid = tuple(grid) + (1,) * (3 - len(grid)) if isinstance(grid, tuple) else (grid, 1, 1)
        block = (tuple(block) + (1,) * (3 - len(block)) if isinstance(block, tuple)
                 else (block, 1, 1))
        values = self._pack(args)
        self._check_params(values)
        params = (ctypes.c_void_p * max(len(values), 1))(
            *[ctypes.addressof(v) for v in values])
        self.device.activate()
        call("cuLaunchKernel", self.function, *grid, *block, shared_mem,
             _stream_handle(stream), ctypes.addressof(params), 0)


def _param_sizes(function):
    """Byte sizes of a kernel's parameters via cuFuncGetParamInfo, or None if unsupported."""
    driver, _ = bindings()
    if not hasattr(driver, "cuFuncGetParamInfo"):
        return None
    sizes = []
    while True:
        try:
            result = driver.cuFuncGetParamInfo(function, len(sizes))
        except RuntimeError:  # the bindings know the call but the installed driver lacks it
            return None
        if int(result[0]) != 0:
            # CUDA_ERROR_INVALID_VALUE past the last parameter; anything else: can't tell
            return sizes if _enum_name(result[0]) == "CUDA_ERROR_INVALID_VALUE" else None
        sizes.append(int(result[2]))
