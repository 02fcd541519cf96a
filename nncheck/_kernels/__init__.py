"""Cython kernels, one extension per layer family.

Layers reach them through ``lazy("family")`` so that ``import nncheck`` (and
``nncheck shape``, which never runs a kernel) does not pay for loading the
extensions and the BLAS they link to.
"""

import importlib
import os

from .._lazy import LazyModule

# After each parallel region libgomp's idle threads spin (~300000 iterations) waiting for the
# next one.  On a machine busier than it has cores, the spinning holds the cores the team's
# other threads need, and every region waits for a time slice: a ViT training step with 2
# threads on 2 cores at load 7 took 1358 ms spinning, 153 ms waiting passively (~106
# regions a step; ~100 ms on one thread).  On an idle machine waking a sleeping thread costs
# some microseconds per region.  libgomp reads the policy when it loads, which is when the
# first kernel module loads unless another library (torch) loaded it before; a user's
# OMP_WAIT_POLICY or GOMP_SPINCOUNT wins.
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["OMP_WAIT_POLICY"] = "passive"


def lazy(name):
    """A stand-in for ``nncheck._kernels.<name>`` that imports it on first attribute access."""
    return LazyModule(f"{__name__}.{name}")


def preload():
    """Import every compiled kernel module now (so that a timed call doesn't pay for it)."""
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        if info.name != "blas_threads":
            importlib.import_module(f"{__name__}.{info.name}")
