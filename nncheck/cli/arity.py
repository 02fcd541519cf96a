"""How many tensors a layer's ``forward`` accepts, read from its signature.

The CLI passes the ``--in``/``--input`` tensors positionally, so ``forward``'s
leading parameters decide: those without a default are required inputs, those
defaulting to ``None`` are optional tensors (``hx``, masks, ``offsets``), and the
first parameter that is not a tensor (``need_weights=True``, ``output_size``,
``*_is_causal``) ends what a positional tensor can reach. The registry's example
inputs are examples; the signature is the truth.
"""

import inspect

from .parsing import UsageError

# parameters that default to None but take no tensor (sizes and flags), as in PyTorch
_NOT_TENSORS = ("output_size",)


def _takes_tensor(param):
    if param.name in _NOT_TENSORS or param.name.endswith("is_causal"):
        return False
    return param.default is inspect.Parameter.empty or param.default is None


def _forward_of(target):
    """(the name users know, the function whose signature counts, leading params to skip)."""
    if target.module is not None:
        cls = type(target.module)
        return f"{cls.__name__}.forward", cls.forward, 1  # skip self
    from ..autograd import Function

    fn = target.function
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, type) and issubclass(owner, Function):  # Fn.apply: forward(ctx, ...)
        return f"{owner.__name__}.forward", owner.forward, 1
    return getattr(fn, "__name__", target.label), fn, 0


def forward_arity(target):
    """(name, fewest inputs, most inputs or None for any number) of ``target``'s forward."""
    name, fn, skip = _forward_of(target)
    try:
        params = list(inspect.signature(fn).parameters.values())[skip:]
    except (TypeError, ValueError):  # a builtin without a signature: nothing to check against
        return name, 0, None
    required = most = 0
    for p in params:
        if p.kind is p.VAR_POSITIONAL:
            return name, required, None
        if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) or not _takes_tensor(p):
            break
        most += 1
        if p.default is inspect.Parameter.empty:
            required = most
    return name, required, most


def _inputs(n):
    return f"{n} input" if n == 1 else f"{n} inputs"


def check_input_count(target, given, flag="--in"):
    """Raise a UsageError unless ``forward`` accepts ``len(given)`` tensors.

    ``given``: the command-line values (shapes or file names), quoted back in the message.
    """
    name, least, most = forward_arity(target)
    n = len(given)
    if least <= n and (most is None or n <= most):
        return
    if most is None:
        takes = f"at least {_inputs(least)}"
    elif least == most:
        takes = _inputs(least)
    else:
        takes = f"{least} to {most} inputs"
    were = "was" if n == 1 else "were"
    quoted = " ".join(f"{flag} {v}" for v in given)
    raise UsageError(f"{name} takes {takes}, {n} {were} given" + (f" ({quoted})" if n else ""))
