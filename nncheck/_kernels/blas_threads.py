"""Which BLAS the kernels call, and thread control for it (and numpy's, for the checker).

The kernels' GEMMs (``nncheck._kernels.blas``) run on a private OpenBLAS when the
``scipy-openblas32`` package is installed (a dependency): a newer OpenBLAS than scipy's
bundled one (sgemm up to ~20% faster on convolution shapes on AVX2), and one that no
other library shares, so setting it to one thread for good changes nothing for the
user's scipy.  Without it (or with ``NNCHECK_BLAS=scipy``) they call scipy's cython_blas,
whose OpenBLAS is then set to one thread.  Either way the OpenMP team shares large GEMMs;
``blas_pinned_to_one_thread`` remains for code that must be sure of one thread while
OpenMP threads each run a GEMM.
"""

import glob
import os
from contextlib import contextmanager


@contextmanager
def blas_pinned_to_one_thread():
    """While OpenMP threads each run a GEMM, keep scipy's OpenBLAS from spawning its own."""
    with _one_thread(blas_thread_controls()):
        yield


@contextmanager
def numpy_blas_pinned_to_one_thread():
    """numpy's BLAS on one thread meanwhile (nothing to do where it can't be set).

    nncheck's matmul runs on numpy, whose OpenBLAS threads spin for ~2^28 cycles after a
    threaded call and hold the cores the kernels' OpenMP team needs next: a matmul, a
    Linear and a GELU in a loop on 2 cores took 5x the time with numpy's 2 threads.
    """
    with _one_thread(numpy_blas_thread_controls()):
        yield


@contextmanager
def _one_thread(controls):
    if controls is None:
        yield
        return
    get, set_ = controls
    previous = get()
    set_(1)
    try:
        yield
    finally:
        set_(previous)


_BLAS_CONTROLS = []


def blas_thread_controls():
    """(get, set) for the thread count of the BLAS the kernels call, or None."""
    if not _BLAS_CONTROLS:
        lib = private_blas()
        _BLAS_CONTROLS.append(_find_blas_thread_controls() if lib is None
                              else _controls_in(lib))
    return _BLAS_CONTROLS[0]


_PRIVATE_BLAS = []


def private_blas():
    """The ctypes library of scipy-openblas32's OpenBLAS, or None (not installed, not
    loadable, or NNCHECK_BLAS=scipy)."""
    if not _PRIVATE_BLAS:
        _PRIVATE_BLAS.append(_load_private_blas())
    return _PRIVATE_BLAS[0]


def _load_private_blas():
    import ctypes

    if os.environ.get("NNCHECK_BLAS", "").lower() == "scipy":
        return None
    try:
        import scipy_openblas32
    except ImportError:
        return None
    pattern = os.path.join(scipy_openblas32.get_lib_dir(),
                           f"*{scipy_openblas32.get_library()}.*")
    for path in sorted(glob.glob(pattern)):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        if all(hasattr(lib, name) for name in ("scipy_sgemm_", "scipy_dgemm_")) and \
                _controls_in(lib) is not None:
            return lib
    return None


def numpy_blas_thread_controls():
    """(get, set) for the thread count of the BLAS behind numpy's matmul/dot, or None
    (numpy's wheel bundles its own OpenBLAS, apart from scipy's)."""
    if not _NUMPY_BLAS_CONTROLS:
        import numpy

        _NUMPY_BLAS_CONTROLS.append(_find_blas_thread_controls(numpy))
    return _NUMPY_BLAS_CONTROLS[0]


_NUMPY_BLAS_CONTROLS = []


def _find_blas_thread_controls(package=None):
    import ctypes

    if package is None:
        import scipy as package
        import scipy.linalg.cython_blas  # noqa: F401  (loads the library)

    libs = glob.glob(os.path.join(os.path.dirname(package.__file__), os.pardir,
                                  f"{package.__name__}.libs", "*openblas*"))
    for path in [*libs, None]:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        controls = _controls_in(lib)
        if controls is not None:
            return controls
    return None


def _controls_in(lib):
    """(get, set) of an OpenBLAS's thread count in a ctypes library, or None."""
    import ctypes

    for prefix in ("scipy_openblas", "openblas"):
        for suffix in ("", "64_"):
            get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
            set_ = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
            if get is not None and set_ is not None:
                get.restype, set_.argtypes = ctypes.c_int, [ctypes.c_int]
                return get, set_
    return None
