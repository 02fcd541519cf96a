"""Turn CLI words into a layer, sample inputs and output shapes."""

import inspect

from .. import registry
from .._lazy import np
from ..shapes import ShapeError, SymbolicDimensionError, infer
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

    ``meta``: build a registered layer on meta tensors (shapes without data), for
    commands that only read shapes; a user's Module is always built for real, since
    its shapes come from a forward pass.
    """
    args, kwargs = parse_layer_args(tokens)
    if is_user_target(layer):
        module, function, label = resolve_user_target(layer, args, kwargs)
        return Target(module=module, function=function, label=label)
    try:
        info = registry.get(layer)
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None
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
    try:
        return infer(target.module, shapes, explain)
    except ShapeError as exc:
        raise UsageError(str(exc)) from None
    except SymbolicDimensionError as exc:
        raise UsageError(f"{type(target.module).__name__}: {exc}") from None


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


def sample_inputs(target, shapes, np_dtype, seed):
    """Random inputs of the given shapes; the layer's own sampler where it needs one."""
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
