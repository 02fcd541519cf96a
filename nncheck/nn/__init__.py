"""``nncheck.nn``: layers, containers, init and utilities, mirroring ``torch.nn``."""

from . import functional, init, parallel, utils
from .modules import *  # noqa: F403
from .modules import Module
from .parallel import DataParallel, DistributedDataParallel
from .parameter import Buffer, Parameter
