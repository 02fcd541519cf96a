"""``nncheck.nn``: layers, containers, init and utilities, mirroring ``torch.nn``.

Names load on first use (see nncheck/_lazy.py): ``nn.Conv2d`` imports the
convolution family only.
"""

from .._lazy import lazy_package
from . import modules

__all__ = lazy_package(__name__, {
    "modules": modules.__all__,
    "parameter": ("Parameter", "Buffer", "UninitializedParameter", "UninitializedBuffer"),
    "parallel": ("DataParallel", "DistributedDataParallel"),
}, submodules=("functional", "init", "parallel", "utils", "modules", "parameter"))
