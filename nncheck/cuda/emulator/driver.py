"""The part of cuda-python's ``cuda.bindings.driver`` that nncheck calls, over host memory.

Same call signatures and ``(CUresult, *values)`` returns, so ``nncheck.cuda._driver`` runs
unchanged: one device, memory from ``aligned_alloc`` (256-byte aligned like cuMemAlloc,
limited to ``NNCHECK_CUDA_EMULATE_MEMORY`` bytes, default 4 GiB, so running out of device
memory can be exercised), modules are the families' host libraries, launches call their
exported launchers.  Streams exist but everything is synchronous.
"""

import ctypes
import enum
import os

_libc = ctypes.CDLL(None)
_libc.aligned_alloc.restype = ctypes.c_void_p
_libc.aligned_alloc.argtypes = (ctypes.c_size_t, ctypes.c_size_t)
_libc.free.argtypes = (ctypes.c_void_p,)

NAME = "nncheck host emulation (NNCHECK_CUDA_EMULATE=1)"
CAPABILITY = (9, 0)
MULTIPROCESSORS = 2  # small, so grid-stride launches stay small on the host


class CUresult(enum.IntEnum):
    CUDA_SUCCESS = 0
    CUDA_ERROR_INVALID_VALUE = 1
    CUDA_ERROR_OUT_OF_MEMORY = 2
    CUDA_ERROR_INVALID_HANDLE = 400
    CUDA_ERROR_NOT_FOUND = 500
    CUDA_ERROR_LAUNCH_FAILED = 719


class CUdevice_attribute(enum.IntEnum):
    CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76


class CUstream_flags(enum.IntEnum):
    CU_STREAM_DEFAULT = 0
    CU_STREAM_NON_BLOCKING = 1


_OK = CUresult.CUDA_SUCCESS
_allocations = {}  # pointer -> bytes
_last_launch_error = {}


def _memory_limit():
    return int(os.environ.get("NNCHECK_CUDA_EMULATE_MEMORY", 4 << 30))


def cuGetErrorName(err):
    return _OK, CUresult(int(err)).name.encode()


def cuGetErrorString(err):
    detail = _last_launch_error.get(int(err), "")
    return _OK, (CUresult(int(err)).name + (f": {detail}" if detail else "")).encode()


def cuInit(flags):
    return (_OK,)


def cuDeviceGetCount():
    return _OK, 1


def cuDeviceGet(ordinal):
    return (_OK, 0) if ordinal == 0 else (CUresult.CUDA_ERROR_INVALID_VALUE, None)


def cuDevicePrimaryCtxRetain(device):
    return _OK, 1


def cuDeviceGetAttribute(attr, device):
    values = {CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: CAPABILITY[0],
              CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: CAPABILITY[1],
              CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: MULTIPROCESSORS}
    return _OK, values[attr]


def cuDeviceGetName(length, device):
    return _OK, NAME.encode()[:length - 1] + b"\0"


def cuDeviceTotalMem(device):
    return _OK, _memory_limit()


def cuCtxSetCurrent(context):
    return (_OK,)


def cuCtxSynchronize():
    return (_OK,)


def cuStreamCreate(flags):
    return _OK, 1


def cuStreamSynchronize(stream):
    return (_OK,)


def cuStreamDestroy(stream):
    return (_OK,)


# ---------------------------------------------------------------- memory

def cuMemAlloc(size):
    if sum(_allocations.values()) + size > _memory_limit():
        return CUresult.CUDA_ERROR_OUT_OF_MEMORY, None
    ptr = _libc.aligned_alloc(256, -(-size // 256) * 256)
    if not ptr:
        return CUresult.CUDA_ERROR_OUT_OF_MEMORY, None
    _allocations[ptr] = size
    return _OK, ptr


def cuMemFree(ptr):
    if _allocations.pop(int(ptr), None) is None:
        return (CUresult.CUDA_ERROR_INVALID_VALUE,)
    _libc.free(int(ptr))
    return (_OK,)


def _copy(dst, src, nbytes):
    ctypes.memmove(int(dst), int(src), int(nbytes))
    return (_OK,)


def cuMemcpyHtoDAsync(dst, src, nbytes, stream):
    return _copy(dst, src, nbytes)


def cuMemcpyDtoHAsync(dst, src, nbytes, stream):
    return _copy(dst, src, nbytes)


def cuMemcpyDtoDAsync(dst, src, nbytes, stream):
    return _copy(dst, src, nbytes)


def cuMemsetD8Async(ptr, value, nbytes, stream):
    ctypes.memset(int(ptr), int(value), int(nbytes))
    return (_OK,)


# ---------------------------------------------------------------- modules and launches

class _Module:
    def __init__(self, path):
        self.library = ctypes.CDLL(path)
        self.library.nnemu_message.restype = ctypes.c_char_p


class _Function:
    """One exported launcher: ``int launcher(unsigned dims[6], size_t shared, void** params)``."""

    def __init__(self, module, name):
        self.module, self.name = module, name
        self.launch = getattr(module.library, name)
        self.launch.argtypes = (ctypes.POINTER(ctypes.c_uint), ctypes.c_ulong, ctypes.c_void_p)
        sizes = (ctypes.c_longlong * 64)()
        count = getattr(module.library, name + "_params")(sizes)
        self.param_sizes = list(sizes[:count])


def cuModuleLoadData(image):
    return _OK, _Module(bytes(image).decode())


def cuModuleGetFunction(module, name):
    try:
        return _OK, _Function(module, name.decode())
    except AttributeError:
        return CUresult.CUDA_ERROR_NOT_FOUND, None


def cuFuncGetParamInfo(function, index):
    if index >= len(function.param_sizes):
        return CUresult.CUDA_ERROR_INVALID_VALUE, 0, 0
    offset = sum(function.param_sizes[:index])
    return _OK, offset, function.param_sizes[index]


def cuLaunchKernel(function, gx, gy, gz, bx, by, bz, shared_mem, stream, params, extra):
    dims = (ctypes.c_uint * 6)(gx, gy, gz, bx, by, bz)
    if function.launch(dims, shared_mem, params) != 0:
        detail = function.module.library.nnemu_message().decode()
        _last_launch_error[int(CUresult.CUDA_ERROR_LAUNCH_FAILED)] = f"{function.name}: {detail}"
        return (CUresult.CUDA_ERROR_LAUNCH_FAILED,)
    return (_OK,)
