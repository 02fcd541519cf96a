"""Analytic shape rules and their human explanations.

Each layer class defines ``infer_shape(self, *input_shapes, explain=None)``
returning a tuple of output shapes without running a kernel; when ``explain`` is
a list, the rule appends one line per output dimension with the formula and the
numbers filled in.  Impossible shapes raise ``ShapeError`` naming the argument
at fault and, where there is one, the fix.
"""

import math
import operator
import sys


class ShapeError(ValueError):
    """An input shape a layer cannot take; the message says why and what would work."""

    def __init__(self, layer, message, hint=None):
        self.layer, self.reason, self.hint = layer, message, hint
        super().__init__(f"{layer}: {message}" + (f" ({hint})" if hint else ""))


def Sym(name):
    """A symbolic dimension (``--in N,3,H,W``): a sympy-backed ``nncheck.symbolic.SymInt``.

    Rules do their usual arithmetic on it (``floor((H-1)/2)+1``) and state what they need
    with ``require``; sympy is imported here, only when a dimension is a name.
    """
    from .symbolic import SymInt

    return SymInt(name)


class SymbolicDimensionError(TypeError):
    """A rule needed the concrete value of a symbolic dimension."""

    def __init__(self, expr):
        super().__init__(f"this layer needs a concrete size where the symbolic dimension "
                         f"{expr!r} is used")


def is_symbolic(*values):
    symbolic = sys.modules.get("nncheck.symbolic")  # nothing is symbolic before it is loaded
    return symbolic is not None and any(symbolic.is_sym(v) for v in values)


def require(layer, ok, message, hint=None):
    """A condition ``layer`` needs: checked now when ``ok`` is a bool; when it is a
    condition on symbolic sizes, the running analysis records it against the layer."""
    if is_symbolic(ok):
        from .symbolic import record

        record(ok, message)
    elif not ok:
        raise ShapeError(layer, message, hint)


def broadcast_shapes(*shapes):
    """numpy's broadcast_shapes without numpy (shape rules must not import it): ValueError
    when the shapes do not broadcast; symbolic sizes must be equal or 1 (recorded)."""
    if any(is_symbolic(*s) for s in shapes):
        from .symbolic import broadcast_symbolic

        return broadcast_symbolic(*shapes)
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
    require(layer, shape[dim] == size, f"{what} has size {shape[dim]} at dim {dim}, but "
                                       f"{arg}={size}",
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
    """The same formula on a symbolic size; the layer needs at least one window."""
    effective = dilation * (kernel - 1) + 1
    span = size + (2 * padding - effective)
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode:  # the last window must start inside the input or the left padding
        from .symbolic import sym_min

        out = sym_min(out, (size + padding - 1) // stride + 1)
    k_name, s_name, p_name, d_name = arg_names
    op = "ceil" if ceil_mode else "floor"
    note(explain, f"{dim_name}_out = {op}(({dim_name}_in + 2*{p_name} - {d_name}*({k_name}-1) "
                  f"- 1)/{s_name}) + 1 = {out}  (with {k_name}={kernel}, {s_name}={stride}, "
                  f"{p_name}={padding}, {d_name}={dilation})")
    require(dim_name, out >= 1, f"{dim_name}: the input ({size}) plus padding 2*{padding} "
                                f"must be at least the effective {k_name} {effective}")
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


def analyze(model, *shapes, hints=None):
    """Which input sizes does ``model`` accept?  ``analyze(model, ("N", 3, "H", "W"))`` runs
    its forward with names as symbolic sizes; see ``nncheck.symbolic.ShapeAnalysis``."""
    from .symbolic import analyze as run

    return run(model, *shapes, hints=hints)
