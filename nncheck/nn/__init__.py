"""``nncheck.nn``: layers, containers, init and utilities, mirroring ``torch.nn``."""

from . import functional, init, utils
from .modules import *  # noqa: F403
from .modules import Module
from .parameter import Buffer, Parameter
