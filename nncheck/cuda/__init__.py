"""Optional CUDA backend: CUDA C kernels compiled at run time by NVRTC (no CuPy, no nvcc).

Needs NVIDIA's cuda-python (``pip install 'nncheck[cuda]'``); without it, or without a GPU,
``import nncheck.cuda`` still works, ``is_available()`` is False and anything that needs a
device raises RuntimeError saying why. Compiling (``compile_all``) needs only NVRTC, so it
works -- and is tested -- on machines without a GPU.

Layers: ``_driver`` (errors, primary contexts, caching allocator, DeviceArray, streams,
launches), ``_nvrtc`` (compile + memory/disk cache), ``kernels/<family>.cu`` (one file per
op family, mirroring ``nncheck/_kernels``).
"""

from .._lazy import np
from . import _driver, emulator
from ._driver import (
    CudaError,
    CudaUnavailableError,
    DeviceArray,
    Kernel,
    OutOfMemoryError,
    Stream,
    Window3,
    allocator,
    device_count,
    get_device,
    is_available,
    size_class,
    unavailable_reason,
    window3,
)
from ._nvrtc import (
    NvrtcError,
    Program,
    cache_dir,
    compile_all,
    compile_family,
    compile_source,
    families,
    resolve_arch,
    supported_archs,
)
from ._nvrtc import version as nvrtc_version

__all__ = [
    "CudaError", "CudaUnavailableError", "DeviceArray", "Kernel", "NvrtcError",
    "OutOfMemoryError", "Program",
    "Stream", "allocator", "cache_dir", "compile_all", "compile_family", "compile_source",
    "device_count", "empty_cache", "families", "get_device", "get_kernel", "grid_for",
    "is_available", "nvrtc_version", "reset", "resolve_arch", "size_class",
    "supported_archs", "synchronize", "unavailable_reason", "Window3", "window3",
]

_kernels = {}


def get_kernel(family, name, dtype=np.float32, device=None):
    """The launchable ``name`` kernel of ``kernels/<family>.cu`` for ``dtype`` on ``device``.

    Compiles the family for the device's architecture on first use (memory/disk cached)
    and loads it into the device's primary context once.
    """
    dev = get_device(device)
    dtype = np.dtype(dtype)
    key = (dev.ordinal, family, name, dtype.name)
    kernel = _kernels.get(key)
    if kernel is None:
        compile_for = emulator.compile_family if _driver.emulated() else compile_family
        program = compile_for(family, dev.arch)
        expr = f"{name}<{'float' if dtype == np.float32 else 'double'}>"
        lowered = program.lowered.get(expr) or program.lowered.get(name)
        if lowered is None:
            raise KeyError(f"nncheck.cuda: {family}.cu has no kernel {name!r}")
        module = dev.load_module(program.key, program.image)
        function = _driver.call("cuModuleGetFunction", module, lowered.encode())
        kernel = _kernels[key] = Kernel(dev, function, f"{family}.{expr}", dtype)
    return kernel


def reset():
    """Forget every device, allocator and loaded kernel (see ``_driver.reset``)."""
    _kernels.clear()
    _driver.reset()


def grid_for(n, threads=256, device=None):
    """Blocks for a grid-stride launch over ``n`` items: enough to fill the GPU, no more."""
    dev = get_device(device)
    return max(1, min(-(-int(n) // threads), dev.multiprocessors * 32))


def synchronize(device=None):
    get_device(device).synchronize()


def empty_cache(device=None):
    """Return cached, unused device blocks to the driver."""
    allocator(device).empty_cache()
