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


def _tensor_params(target):
    """(name, [(parameter, its tensor or tuple of tensor names)], required parameters,
    takes *args).

    None for the list where the signature cannot be read (nothing to check against).
    """
    from .. import registry

    name, fn, skip = _forward_of(target)
    try:
        params = list(inspect.signature(fn).parameters.values())[skip:]
    except (TypeError, ValueError):  # a builtin without a signature
        return name, None, 0, True
    info = target.info or (registry.info_of(target.module) if target.module is not None
                           else None)
    groups = (info.input_groups if info is not None else None) or ()
    taken, required = [], 0
    for p in params:
        if p.kind is p.VAR_POSITIONAL:
            return name, taken, required, True
        if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) or not _takes_tensor(p):
            break
        group = groups[len(taken)] if len(taken) < len(groups) else p.name
        taken.append((p.name, group))
        if p.default is inspect.Parameter.empty:
            required = len(taken)
    return name, taken, required, False


def forward_arity(target):
    """(name, fewest inputs, most inputs or None for any number) of ``target``'s forward,
    counted as --in tensors (LSTM's hx pair counts two)."""
    name, taken, required, variadic = _tensor_params(target)
    if taken is None:
        return name, 0, None
    least = _count(taken[:required])
    return name, least, None if variadic else _count(taken)


def _count(taken):
    """--in tensors that fill these parameters: a tuple argument takes one per name."""
    return sum(1 if isinstance(group, str) else len(group) for _, group in taken)


def _inputs(n):
    return f"{n} input" if n == 1 else f"{n} inputs"


def check_input_count(target, given, flag="--in"):
    """Raise a UsageError unless ``forward`` accepts ``len(given)`` tensors.

    ``given``: the command-line values (shapes or file names), quoted back in the message.
    """
    name, taken, required, variadic = _tensor_params(target)
    if taken is None:
        return
    # the counts that fill whole arguments: a pair (LSTM's hx) takes both tensors or none
    counts = [_count(taken[:k]) for k in range(required, len(taken) + 1)]
    n = len(given)
    if n in counts or (variadic and n >= counts[0]):
        return
    tuples = [(p, group) for p, group in taken if not isinstance(group, str)]
    if variadic:
        takes = f"at least {_inputs(counts[0])}"
    elif len(counts) == 1:
        takes = _inputs(counts[0])
    elif tuples:
        takes = f"{', '.join(map(str, counts[:-1]))} or {_inputs(counts[-1])}"
    else:
        takes = f"{counts[0]} to {counts[-1]} inputs"
    were = "was" if n == 1 else "were"
    quoted = " ".join(f"{flag} {v}" for v in given)
    why = "".join(f"; {p} is the tuple ({', '.join(group)}): give all {len(group)} or none"
                  for p, group in tuples)
    raise UsageError(f"{name} takes {takes}, {n} {were} given"
                     + (f" ({quoted})" if n else "") + why)
