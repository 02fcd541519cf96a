"""CUDA launchers: ``nncheck._kernels.<family>``'s functions, same names and argument order,
over DeviceArrays, each running the kernels of ``kernels/<family>.cu``.

``nncheck.backend.kernels(family, *arrays)`` returns ``(launchers.<family>, launchers.xp)``
for arrays on a CUDA device.  Arguments a CPU kernel takes only to plan its threads
(``nthreads``, ``chunk``, scratch buffers sized for them) are accepted and ignored.  A
family without a module here has no CUDA path yet: the dispatch says so.
"""

from ..._lazy import np
from .. import _driver
from . import _xp as xp

THREADS = 256
# kernel launches so far (tests tell kernel-run layers from others), and generic numpy
# operations on device arrays computed on the host (downloaded, computed, uploaded), with
# their names in fallback_names: what cuda/_protocol.py has no kernel for
stats = {"launches": 0, "host_fallbacks": 0}
fallback_names = {}

__all__ = ["THREADS", "fallback_names", "launch", "launch_blocks", "stats", "xp"]


def kernel(family, name, dtype):
    from .. import get_kernel

    return get_kernel(family, name, dtype)


def launch(family, name, n, *args, dtype=None):
    """Run ``name`` of ``kernels/<family>.cu`` as a grid-stride loop over ``n`` items.

    The kernel's dtype is the first DeviceArray argument's (or ``dtype``)."""
    if n <= 0:
        return
    dtype = dtype or next(a.dtype for a in args if isinstance(a, _driver.DeviceArray))
    from .. import grid_for

    kernel(family, name, dtype)(grid_for(n, THREADS), THREADS, *args)
    stats["launches"] += 1


def launch_blocks(family, name, grid, *args, threads=THREADS, dtype=None):
    """Run ``name`` with an explicit grid (blocks per channel, GEMM tiles, ...)."""
    grid = grid if isinstance(grid, tuple) else (grid,)
    if min(grid) <= 0:
        return
    dtype = dtype or next(a.dtype for a in args if isinstance(a, _driver.DeviceArray))
    kernel(family, name, dtype)(grid, threads, *args)
    stats["launches"] += 1


def as_float(value, dtype):
    """A Python float for a ``T`` kernel parameter (the Kernel packs it in the kernel's dtype)."""
    return float(np.asarray(value, dtype))
