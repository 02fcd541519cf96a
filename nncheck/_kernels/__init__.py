"""Cython kernels, one extension per layer family.

Layers reach them through ``lazy("family")`` so that ``import nncheck`` (and
``nncheck shape``, which never runs a kernel) does not pay for loading the
extensions and the BLAS they link to.
"""

import importlib
import os
import sys

from .._lazy import LazyModule

# scipy's OpenBLAS (the BLAS our kernels call) keeps its idle threads spinning for ~2^28
# cycles after each threaded GEMM; on a machine with few cores they hold the cores our OpenMP
# teams need next (a DenseNet-121 step: 780 ms with 2 threads, 230 ms with the short spin).
# OpenBLAS reads the timeout when it loads, so it is set before a kernel module pulls it in.
if "scipy.linalg" not in sys.modules:
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")


def lazy(name):
    """A stand-in for ``nncheck._kernels.<name>`` that imports it on first attribute access."""
    return LazyModule(f"{__name__}.{name}")


def preload():
    """Import every compiled kernel module now (so that a timed call doesn't pay for it)."""
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        if info.name != "blas_threads":
            importlib.import_module(f"{__name__}.{info.name}")
