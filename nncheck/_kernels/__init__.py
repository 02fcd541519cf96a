"""Cython kernels, one extension per layer family.

Layers reach them through ``lazy("family")`` so that ``import nncheck`` (and
``nncheck shape``, which never runs a kernel) does not pay for loading the
extensions and the BLAS they link to.
"""

import importlib


class _LazyKernels:
    __slots__ = ("_name", "_module")

    def __init__(self, name):
        self._name = name
        self._module = None

    def __getattr__(self, attr):
        if self._module is None:
            self._module = importlib.import_module(f"nncheck._kernels.{self._name}")
        return getattr(self._module, attr)


def lazy(name):
    """A stand-in for ``nncheck._kernels.<name>`` that imports it on first attribute access."""
    return _LazyKernels(name)


def preload():
    """Import every compiled kernel module now (so that a timed call doesn't pay for it)."""
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        if info.name != "blas_threads":
            importlib.import_module(f"{__name__}.{info.name}")
