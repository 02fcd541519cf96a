"""Cython kernels, one extension per layer family.

Layers reach them through ``lazy("family")`` so that ``import nncheck`` (and
``nncheck shape``, which never runs a kernel) does not pay for loading the
extensions and the BLAS they link to.
"""

import importlib

from .._lazy import LazyModule


def lazy(name):
    """A stand-in for ``nncheck._kernels.<name>`` that imports it on first attribute access."""
    return LazyModule(f"{__name__}.{name}")


def preload():
    """Import every compiled kernel module now (so that a timed call doesn't pay for it)."""
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        if info.name != "blas_threads":
            importlib.import_module(f"{__name__}.{info.name}")
