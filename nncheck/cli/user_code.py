"""``FILE.py:Name``: the user's own model files, written for nncheck or for PyTorch.

The file is imported with ``nncheck.as_torch()`` active, so ``import torch`` in it (and
in the files it imports from its folder) gives nncheck.  ``Name`` is a Module class, a
function returning a Module, an ``autograd.Function``, a function of tensors, or a call
with literal arguments (``"Net(width=64, num_classes=10)"``, parsed with ``ast``).
Whatever goes wrong in the user's code is one line naming the file and line at fault.
"""

import importlib.util
import os
import sys
import traceback
from pathlib import Path

from .parsing import UsageError, parse_call

SUFFIX = ".py:"


def is_user_target(text):
    return SUFFIX in text


def split_user_target(target):
    """'model.py:Net(width=8)' -> ('model.py', 'Net', [], {'width': 8})."""
    path_text, _, expr = target.partition(SUFFIX)
    path_text += ".py"
    if not expr.strip():
        raise UsageError(f"{target}: expected FILE.py:Name (a Module class, a function "
                         "returning a Module, or Name(arg, ..., key=value))")
    name, args, kwargs = parse_call(expr.strip())
    return path_text, name, args, kwargs


def load_user_object(path_text, name, real_torch=False):
    """Import ``name`` from the file at ``path_text``: with nncheck standing in for torch, or
    (``real_torch``, for ``compare``) with PyTorch itself.  Returns (object, file's folder).

    Either way the interpreter's modules are put back afterwards, so that the same file
    (and its helpers) can be loaded once each way in one process.
    """
    from .._torch_compat import as_torch, isolated_imports

    path = Path(path_text)
    if not path.is_file():
        raise UsageError(f"{path_text}:{name}: file {path_text!r} not found")
    folder = str(path.resolve().parent)
    module_name = f"nncheck_user_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, folder)  # the file's own imports (`from blocks import Block`)
    try:
        with isolated_imports() if real_torch else as_torch():
            sys.modules[module_name] = module  # as for any import (dataclasses look here)
            with user_errors(folder, f"importing {path.name}"):
                spec.loader.exec_module(module)
    finally:
        sys.path.remove(folder)
    if not hasattr(module, name):
        raise UsageError(f"{path_text}:{name}: {path_text} defines no {name!r}")
    return getattr(module, name), folder


class user_errors:
    """Turn any exception escaping the user's code into a UsageError naming file:line."""

    def __init__(self, folder, doing):
        self.folder, self.doing = folder, doing

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        from .._torch_compat import TorchNameMissing

        if exc is None or isinstance(exc, (UsageError, KeyboardInterrupt)):
            return False
        if isinstance(exc, TorchNameMissing):
            raise UsageError(str(exc)) from None
        if not isinstance(exc, Exception):
            return False
        where = user_location(tb, self.folder)
        prefix = f"{where[0]}:{where[1]}: " if where else ""
        message = " ".join(str(exc).split())
        raise UsageError(f"{prefix}{self.doing} failed: {type(exc).__name__}: {message}") \
            from None


def user_location(tb, folder):
    """(file name, line) of the innermost traceback frame in the user's folder."""
    found = None
    for frame, line in traceback.walk_tb(tb):
        filename = os.path.abspath(frame.f_code.co_filename)
        if filename.startswith(folder + os.sep):
            found = (os.path.basename(filename), line)
    return found


def resolve_user_target(target, args, kwargs, real_torch=False, meta=False):
    """``_resolve`` on meta tensors where the user's constructor allows (``meta``: for the
    commands that read shapes only), else for real."""
    if meta:
        from .. import device

        try:
            with device("meta"):
                return _resolve(target, args, kwargs, real_torch)
        except UsageError:  # the constructor computed on a meta tensor: build it for real
            pass
    return _resolve(target, args, kwargs, real_torch)


def _resolve(target, args, kwargs, real_torch):
    """What ``FILE.py:Name`` names: (module, function, label); one of the two is None.

    A Module class is built with ``args``/``kwargs`` (the CLI's ARGs, or the arguments of
    the call form); a function is called with them when they bind its signature and it
    returns a Module (``resnet18``), else it is a function of the input tensors.
    ``real_torch``: the file runs on PyTorch (``compare``'s reference).
    """
    import inspect

    if real_torch:
        from torch.autograd import Function
        from torch.nn import Module
    else:
        from ..autograd import Function
        from ..nn import Module

    path_text, name, call_args, call_kwargs = split_user_target(target)
    if (call_args or call_kwargs) and (args or kwargs):
        raise UsageError(f"{target}: give the constructor arguments either in the call or "
                         "as ARGs, not both")
    args, kwargs = (call_args, call_kwargs) if call_args or call_kwargs else (args, kwargs)
    obj, folder = load_user_object(path_text, name, real_torch)
    label = f"{Path(path_text).name}:{name}"
    if isinstance(obj, type) and issubclass(obj, Function):
        if args or kwargs:
            raise UsageError(f"{label} is an autograd.Function: it takes no constructor "
                             "arguments")
        return None, obj.apply, f"{name}.apply"
    if isinstance(obj, Module):
        return obj, None, label
    if not callable(obj):
        raise UsageError(f"{label} is a {type(obj).__name__}, not a Module class, a function "
                         "or an autograd.Function")
    is_module_class = isinstance(obj, type) and issubclass(obj, Module)
    if isinstance(obj, type) and not is_module_class:
        raise UsageError(f"{label} is a class but not an nncheck/torch Module nor an "
                         "autograd.Function")
    try:
        inspect.signature(obj).bind(*args, **kwargs)
    except TypeError as exc:
        if is_module_class or args or kwargs:
            raise UsageError(f"{label}: {exc}; expected {name}{inspect.signature(obj)}") \
                from None
        return None, obj, label  # a function of the input tensors
    except ValueError:  # no signature to read (a builtin): take it as a function of tensors
        return None, obj, label
    with user_errors(folder, f"building {name}"):
        built = obj(*args, **kwargs)
    if isinstance(built, Module):
        return built, None, label
    if is_module_class:
        raise UsageError(f"{label}: constructor returned {type(built).__name__}")
    raise UsageError(f"{label}() returned {type(built).__name__}, not a Module")
