"""``nncheck.nn.parallel``: data parallelism over worker threads (``DataParallel``) and over
MPI ranks (``DistributedDataParallel``), as ``torch.nn.parallel``."""

from .data_parallel import (
    DataParallel,
    data_parallel,
    gather,
    parallel_apply,
    replicate,
    scatter,
    scatter_kwargs,
)
from .distributed import DistributedDataParallel

__all__ = ["DataParallel", "DistributedDataParallel", "data_parallel", "gather",
           "parallel_apply", "replicate", "scatter", "scatter_kwargs"]
