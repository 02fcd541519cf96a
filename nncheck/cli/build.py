"""Turn CLI words into a layer, sample inputs and output shapes."""

import inspect

from .. import registry
from .._lazy import np
from ..shapes import ShapeError, SymbolicDimensionError, infer, is_symbolic
from .parsing import UsageError, parse_layer_args
from .user_code import is_user_target, resolve_user_target


class Target:
    """What a command acts on: a registered layer, a user's Module or a user's Function."""

    def __init__(self, module=None, function=None, info=None, label=""):
        self.module, self.function, self.info, self.label = module, function, info, label

    @property
    def callable(self):
        return self.module if self.module is not None else self.function

    def describe(self):
        return repr(self.module) if self.module is not None else self.label


def build_target(layer, tokens, meta=False):
    """The layer (or user object) LAYER built from TOKENS.

    ``meta``: build the layer on meta tensors (shapes without data), for commands that
    only read shapes (a user's Module where its constructor allows).
    """
    args, kwargs = parse_layer_args(tokens)
    if is_user_target(layer):
        module, function, label = resolve_user_target(layer, args, kwargs, meta=meta)
        return Target(module=module, function=function, label=label)
    try:
        info = registry.get(layer)
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None
    if not meta:  # size the parameters on meta tensors before allocating them
        shell = construct(info.cls, args, kwargs, meta=True)
        check_memory(f"{layer}'s parameters",
                     sum(p.numel() * p.element_size() for p in shell.parameters()))
    return Target(module=construct(info.cls, args, kwargs, meta), info=info)


def construct(cls, args, kwargs, meta=False):
    """Instantiate a layer class (on meta tensors if ``meta``), turning a bad argument into
    a one-line usage error."""
    from .. import device

    name = cls.__name__
    try:
        inspect.signature(cls).bind(*args, **kwargs)
    except TypeError as exc:
        sig = registry.LayerInfo(name, cls, "", "", []).signature
        raise UsageError(f"{name}: {exc}; expected {sig}") from None
    try:
        with device("meta" if meta else "cpu"):
            return cls(*args, **kwargs)
    except (TypeError, ValueError, RuntimeError, IndexError, KeyError) as exc:
        raise UsageError(f"{name}: {exc}") from None


def output_shapes(target, shapes, explain=None):
    """Output shapes by the layer's analytic rule (or a zero-input pass for user code)."""
    if target.module is None:
        return _function_shapes(target, shapes)
    if target.info is None and not any(is_symbolic(*s) for s in shapes):
        return _user_module_shapes(target.module, shapes, explain)
    try:
        return infer(target.module, shapes, explain)
    except ShapeError as exc:
        raise UsageError(str(exc)) from None
    except SymbolicDimensionError as exc:
        raise UsageError(f"{type(target.module).__name__}: {exc}") from None


def _user_module_shapes(module, shapes, explain):
    """A user's model: its forward traced on shapes (or run on zeros), as summary does."""
    from .summary import _hooked_pass

    outs = _hooked_pass(module, shapes)[id(module)][1]
    if explain is not None:
        explain.append(f"shapes from a forward pass: {[list(s) for s in outs]}")
    return outs


def _function_shapes(target, shapes):
    from ..autograd.checker import _flat_outputs
    from ..autograd.grad_mode import no_grad
    from ..tensor import Tensor

    inputs = [Tensor._wrap(np.zeros(s, np.float64)) for s in shapes]
    with no_grad():
        try:
            out = target.function(*inputs)
        except Exception as exc:  # user code: report what failed, in one line
            raise UsageError(f"{target.label}: forward on shapes "
                             f"{[list(s) for s in shapes]} failed: {exc}") from None
    return [tuple(t.shape) for t in _flat_outputs(out)]


def available_memory():
    """Bytes of memory available to a new allocation (MemAvailable), None if unknown."""
    import os

    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def format_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} PiB"


def check_memory(what, needed):
    """Stop before allocating ``needed`` bytes that the machine does not have."""
    available = available_memory()
    if available is not None and needed > available:
        raise UsageError(f"{what} need {format_bytes(needed)} ({needed:,} bytes) but "
                         f"{format_bytes(available)} of memory is available")


def data_bytes(target, shapes, itemsize, jacobian=False):
    """Bytes of the sample inputs, the outputs (by the layer's shape rule, where it has
    one) and, with ``jacobian``, gradcheck's analytic and numerical Jacobian blocks."""
    import math

    from ..autograd.checker import JACOBIAN_BYTES

    n_in = sum(math.prod(s) for s in shapes)
    n_out = 0
    module = target.module
    if module is not None and getattr(module, "infer_shape", None) is not None:
        n_out = sum(math.prod(s) for s in output_shapes(target, shapes))
    needed = (n_in + n_out) * itemsize
    if jacobian:
        n_cols = n_in + count_params(module)
        # float64 analytic + numerical copies, in column blocks of at most JACOBIAN_BYTES
        needed += min(16 * n_out * n_cols, max(JACOBIAN_BYTES, 32 * n_out))
    return needed


def sample_inputs(target, shapes, np_dtype, seed):
    """Random inputs of the given shapes; the layer's own sampler where it needs one."""
    itemsize = np.dtype(np_dtype).itemsize
    check_memory("the sample inputs and outputs", data_bytes(target, shapes, itemsize))
    rng = np.random.default_rng(seed)
    info = target.info
    if info is not None and info.make_inputs is not None:
        try:
            return [np.asarray(a) for a in info.make_inputs(shapes, rng, np_dtype)]
        except (ValueError, IndexError, TypeError) as exc:
            raise UsageError(f"{info.name}: cannot draw sample inputs of shapes "
                             f"{[list(s) for s in shapes]}: {exc}") from None
    return [rng.standard_normal(s).astype(np_dtype) for s in shapes]


def grad_input_indices(target, arrays):
    info = target.info
    if info is not None and info.grad_inputs is not None:
        return [i for i in info.grad_inputs if i < len(arrays)]
    return [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]


def count_params(module):
    if module is None:
        return 0
    return sum(p.numel() for p in module.parameters())
