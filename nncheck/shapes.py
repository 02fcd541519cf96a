"""Analytic shape rules and their human explanations.

Each layer class defines ``infer_shape(self, *input_shapes, explain=None)``
returning a tuple of output shapes without running a kernel; when ``explain`` is
a list, the rule appends one line per output dimension with the formula and the
numbers filled in.  Impossible shapes raise ``ShapeError`` naming the argument
at fault and, where there is one, the fix.
"""

import math
import operator


class ShapeError(ValueError):
    """An input shape a layer cannot take; the message says why and what would work."""

    def __init__(self, layer, message, hint=None):
        self.layer, self.reason, self.hint = layer, message, hint
        super().__init__(f"{layer}: {message}" + (f" ({hint})" if hint else ""))


class Sym:
    """A symbolic dimension (``--in N,3,H,W``): arithmetic on it builds the formula.

    Rules pass symbols through unchanged where a dimension is only carried along;
    sliding windows turn them into ``floor((H-1)/2)+1``.  Comparing a symbol with
    a number has no answer, so it raises ``SymbolicDimensionError``.
    """

    __slots__ = ("expr", "atomic")

    def __init__(self, expr, atomic=True):
        self.expr, self.atomic = expr, atomic

    def _wrapped(self):
        return self.expr if self.atomic else f"({self.expr})"

    def _combine(self, op, other, reverse=False):
        if isinstance(other, int) and not isinstance(other, bool):
            if op in "+-" and other < 0 and not reverse:
                op, other = "-+"[op == "-"], -other
            if op in "+-" and other == 0:
                return self if not reverse or op == "+" else Sym(f"-{self._wrapped()}", False)
            if op == "*" and other == 1:
                return self
        left, right = (self._wrapped(), _text(other))
        if reverse:
            left, right = right, left
        return Sym(f"{left}{op}{right}", False)

    def __add__(self, o):
        return self._combine("+", o)

    def __radd__(self, o):
        return self._combine("+", o, True)

    def __sub__(self, o):
        return self._combine("-", o)

    def __rsub__(self, o):
        return self._combine("-", o, True)

    def __mul__(self, o):
        return self._combine("*", o)

    def __rmul__(self, o):
        return self._combine("*", o, True)

    def __floordiv__(self, o):
        return Sym(f"floor({self.expr}/{_text(o)})") if o != 1 else self

    def __truediv__(self, o):
        return self._combine("/", o)

    def __floor__(self):
        return Sym(f"floor({self.expr})")

    def __ceil__(self):
        return Sym(f"ceil({self.expr})")

    def __eq__(self, o):
        return isinstance(o, Sym) and o.expr == self.expr

    def __ne__(self, o):
        return not self == o

    def __hash__(self):
        return hash(self.expr)

    def _undecidable(self, *_):
        raise SymbolicDimensionError(self.expr)

    __lt__ = __le__ = __gt__ = __ge__ = __int__ = __index__ = __bool__ = _undecidable

    def __repr__(self):
        return self.expr

    __str__ = __repr__


class SymbolicDimensionError(TypeError):
    """A rule needed the concrete value of a symbolic dimension."""

    def __init__(self, expr):
        super().__init__(f"this layer needs a concrete size where the symbolic dimension "
                         f"{expr!r} is used")


def _text(value):
    return value._wrapped() if isinstance(value, Sym) else str(value)


def is_symbolic(*values):
    return any(isinstance(v, Sym) for v in values)


def broadcast_shapes(*shapes):
    """numpy's broadcast_shapes without numpy (shape rules must not import it): ValueError
    when the shapes do not broadcast, SymbolicDimensionError on a symbolic size."""
    shapes = [tuple(operator.index(n) for n in s) for s in shapes]
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for sizes in zip(*[(1,) * (ndim - len(s)) + s for s in shapes]):
        sized = {n for n in sizes if n != 1}
        if len(sized) > 1:
            raise ValueError(f"shapes {[list(s) for s in shapes]} cannot be broadcast together")
        out.append(sized.pop() if sized else 1)
    return tuple(out)


def note(explain, text):
    if explain is not None:
        explain.append(text)


def expect_rank(layer, shape, ranks, what="input"):
    if len(shape) not in ranks:
        expected = " or ".join(f"{r}-D" for r in ranks)
        raise ShapeError(layer, f"expected {what} to be {expected}, got {len(shape)}-D "
                                f"shape {list(shape)}")


def expect_size(layer, shape, dim, size, arg, what="input"):
    if shape[dim] != size:
        raise ShapeError(layer, f"{what} has size {shape[dim]} at dim {dim}, but {arg}={size}",
                         f"expected {what} shape [..., {size}, ...] at dim {dim}")


def same_shape(layer, shapes, explain=None):
    """Rule of elementwise layers: the output has the input's shape."""
    (shape,) = shapes[:1]
    note(explain, f"elementwise: output shape = input shape = {list(shape)}")
    return (tuple(shape),)


def window_output(layer, dim_name, size, kernel, stride, padding, dilation, ceil_mode=False,
                  explain=None, arg_names=("kernel_size", "stride", "padding", "dilation")):
    """Output length of a sliding window (convolution, pooling): PyTorch's formula.

    out = floor_or_ceil((size + 2*padding - dilation*(kernel-1) - 1) / stride) + 1; with
    ceil_mode the last window must still start inside the input or the left padding.
    """
    k_name, s_name, p_name, d_name = arg_names
    if is_symbolic(size):
        return _symbolic_window(dim_name, size, kernel, stride, padding, dilation, ceil_mode,
                                explain, arg_names)
    if stride <= 0:
        raise ShapeError(layer, f"{s_name} must be positive, got {stride}")
    if dilation <= 0:
        raise ShapeError(layer, f"{d_name} must be positive, got {dilation}")
    if kernel <= 0:
        raise ShapeError(layer, f"{k_name} must be positive, got {kernel}")
    effective = dilation * (kernel - 1) + 1
    span = size + 2 * padding - effective
    rounding = math.ceil if ceil_mode else math.floor
    out = rounding(span / stride) + 1
    dropped = ""
    if ceil_mode and out > 0 and (out - 1) * stride >= size + padding:
        out -= 1
        dropped = " (ceil_mode: the last window would start in the right padding, so it is dropped)"
    op = "ceil" if ceil_mode else "floor"
    note(
        explain,
        f"{dim_name}_out = {op}(({dim_name}_in + 2*{p_name} - {d_name}*({k_name}-1) - 1)/"
        f"{s_name}) + 1 = {op}(({size} + 2*{padding} - {dilation}*({kernel}-1) - 1)/{stride})"
        f" + 1 = {out}{dropped}",
    )
    if out < 1:
        smallest = effective - 2 * padding
        raise ShapeError(
            layer,
            f"{dim_name}: the padded input ({size} + 2*{padding} = {size + 2 * padding}) is "
            f"smaller than the effective {k_name} ({dilation}*({kernel}-1)+1 = {effective}), "
            f"so the output would be {out}",
            f"use an input of at least {max(smallest, 1)} along {dim_name}, or raise {p_name} "
            f"to {math.ceil((effective - size) / 2)}, or shrink {k_name}",
        )
    return out


def _symbolic_window(dim_name, size, kernel, stride, padding, dilation, ceil_mode, explain,
                     arg_names):
    effective = dilation * (kernel - 1) + 1
    offset = 2 * padding - effective
    if stride == 1:
        out = size + (offset + 1)
    else:
        op = "ceil" if ceil_mode else "floor"
        inner = f"{size}{offset:+d}" if offset else str(size)
        out = Sym(f"{op}(({inner})/{stride})+1", False)
    k_name, s_name, p_name, d_name = arg_names
    note(explain, f"{dim_name}_out = floor(({dim_name}_in + 2*{p_name} - {d_name}*({k_name}-1) "
                  f"- 1)/{s_name}) + 1 = {out}  (with {k_name}={kernel}, {s_name}={stride}, "
                  f"{p_name}={padding}, {d_name}={dilation})")
    return out


def infer(module, shapes, explain=None):
    """Output shapes of ``module`` on inputs of ``shapes``.

    Uses the layer's analytic ``infer_shape``; a module without one (a user's
    own Module) gets a forward pass on zeros instead.
    """
    rule = getattr(module, "infer_shape", None)
    if rule is not None:
        return [tuple(s) for s in rule(*shapes, explain=explain)]
    import numpy as np

    from .autograd.checker import _flat_outputs
    from .autograd.grad_mode import no_grad
    from .tensor import Tensor

    inputs = [Tensor._wrap(np.zeros(s, np.float32)) for s in shapes]
    with no_grad():
        try:
            out = module(*inputs)
        except Exception as exc:  # a user's forward: report it as a shape problem
            raise ShapeError(type(module).__name__,
                             f"forward on shapes {[list(s) for s in shapes]} failed: "
                             f"{type(exc).__name__}: {exc}") from None
    shapes_out = [tuple(t.shape) for t in _flat_outputs(out)]
    note(explain, f"shapes from a forward pass on zeros: {[list(s) for s in shapes_out]}")
    return shapes_out
