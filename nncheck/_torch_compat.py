"""``nncheck.as_torch()``: code written for PyTorch imports nncheck in its place.

While the context is active, ``import torch`` (and ``torch.nn``, ``.functional``, ``.init``,
``.utils``, ``.utils.rnn``, ``.parameter``, ``torch.autograd``, ``torch.cuda``) gives an
alias module that reads its names from nncheck's module of the same role; every module
imported meanwhile (a model file and the files it imports from its folder) sees them.  On exit
``sys.modules`` is put back as it was: a real torch imported before is back in place, and
nothing imported under the aliases stays.  Only nncheck's own modules, loaded on first use
of a name, are kept: dropping them would make a second copy of each class on the next use.

A torch name that nncheck lacks raises :class:`TorchNameMissing`, whose message names the
file and line of the code that asked for it (``model.py:42: torch.fft is not provided by
nncheck``), at import time (``import torch.fft``, ``from torch.nn import X``) or when the
attribute is read (``torch.fft.rfft(x)`` in a forward).
"""

import contextlib
import importlib
import os
import sys
import types

# torch's module -> nncheck's module playing its role
ALIASES = {
    "torch": "nncheck",
    "torch.nn": "nncheck.nn",
    "torch.nn.functional": "nncheck.nn.functional",
    "torch.nn.init": "nncheck.nn.init",
    "torch.nn.utils": "nncheck.nn.utils",
    "torch.nn.utils.rnn": "nncheck.nn.utils.rnn",
    "torch.nn.parameter": "nncheck.nn.parameter",
    "torch.autograd": "nncheck.autograd",
    "torch.cuda": "nncheck.cuda",  # `torch.cuda.is_available()` picks a model file's device
}


class TorchNameMissing(AttributeError):
    """A torch name that nncheck does not provide; the message starts with ``file:line:``.

    An AttributeError, so that ``hasattr(torch, name)`` in user code answers False.
    """

    def __init__(self, torch_name):
        self.torch_name = torch_name
        self.location = caller_location()
        prefix = f"{self.location[0]}:{self.location[1]}: " if self.location else ""
        super().__init__(f"{prefix}{torch_name} is not provided by nncheck")


def caller_location():
    """(file name, line) of the innermost frame outside this module and the import system."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename != __file__ and not filename.startswith("<frozen importlib"):
            return os.path.basename(filename), frame.f_lineno
        frame = frame.f_back
    return None


class TorchAlias(types.ModuleType):
    """``torch.<...>`` as seen by user code: nncheck's module of the same role, by name.

    Has a ``__path__`` so that the import system treats it as a package and asks the
    finder below for submodules it lacks (``import torch.fft``, ``from torch.nn import X``).
    """

    def __init__(self, torch_name, target_name):
        super().__init__(torch_name)
        self.__path__ = []
        self.__target_name = target_name

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)  # protocol probes (copy, pickle, inspect)
        full = f"{self.__name__}.{name}"
        if full in ALIASES:
            value = _alias(full)
        else:
            target = importlib.import_module(self.__target_name)
            try:
                value = getattr(target, name)
            except AttributeError:
                raise TorchNameMissing(full) from None
            if isinstance(value, types.ModuleType) and value.__name__.startswith("nncheck."):
                # an nncheck submodule that torch has under another role (nncheck.ops, ...)
                raise TorchNameMissing(full)
        setattr(self, name, value)  # later reads are plain attribute lookups
        return value

    def __dir__(self):
        children = {n.rpartition(".")[2] for n in ALIASES if n.startswith(self.__name__ + ".")}
        return sorted(set(dir(importlib.import_module(self.__target_name))) | children)

    def __repr__(self):
        return f"<module {self.__name__!r} (nncheck's {self.__target_name})>"


_ALIAS_MODULES = {}


def _alias(torch_name):
    """The one alias module of ``torch_name`` (shared by every as_torch context)."""
    if torch_name not in _ALIAS_MODULES:
        _ALIAS_MODULES[torch_name] = TorchAlias(torch_name, ALIASES[torch_name])
    return _ALIAS_MODULES[torch_name]


class _MissingTorchFinder:
    """Last word on ``torch.*`` imports while as_torch is active: anything not aliased is
    missing (the aliases themselves are found in sys.modules before any finder runs)."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise TorchNameMissing(name)
        return None


def _is_torch(name):
    return name == "torch" or name.startswith("torch.")


@contextlib.contextmanager
def isolated_imports():
    """Modules first imported inside (the user's files) are dropped from sys.modules on exit."""
    saved = dict(sys.modules)
    try:
        yield
    finally:
        for name in [n for n in sys.modules if n not in saved]:
            if _drop_on_exit(sys.modules[name]):
                del sys.modules[name]
        sys.modules.update(saved)


@contextlib.contextmanager
def as_torch():
    """While active, ``import torch`` and its main submodules resolve to nncheck.

    >>> import nncheck
    >>> with nncheck.as_torch():
    ...     import torch.nn as nn
    >>> nn.Linear(3, 2)
    Linear(in_features=3, out_features=2, bias=True)
    """
    finder = _MissingTorchFinder()
    with isolated_imports():
        for name in [n for n in sys.modules if _is_torch(n)]:  # hide a real torch meanwhile
            del sys.modules[name]
        sys.modules.update((name, _alias(name)) for name in ALIASES)
        sys.meta_path.insert(0, finder)
        try:
            yield
        finally:
            sys.meta_path.remove(finder)


def _library_dirs():
    import sysconfig

    paths = sysconfig.get_paths()
    return tuple(os.path.realpath(paths[k]) + os.sep
                 for k in ("stdlib", "platstdlib", "purelib", "platlib"))


def _drop_on_exit(module):
    """Whether a module first imported inside the context goes when it ends: the user's own
    files and anything holding a torch alias go; nncheck's modules and the installed
    libraries they import (numpy, ...: a second copy of an extension module is unsafe) stay.
    """
    if isinstance(module, TorchAlias):
        return True
    name = getattr(module, "__name__", "")
    if name == "nncheck" or name.startswith("nncheck."):
        return False
    if any(isinstance(v, TorchAlias) for v in getattr(module, "__dict__", {}).values()):
        return True
    filename = getattr(module, "__file__", None)
    return filename is not None and not os.path.realpath(filename).startswith(_library_dirs())
