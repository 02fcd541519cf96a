"""Analytic shape rules and their human explanations.

Each layer class defines ``infer_shape(self, *input_shapes, explain=None)``
returning a tuple of output shapes without running a kernel; when ``explain`` is
a list, the rule appends one line per output dimension with the formula and the
numbers filled in.  Impossible shapes raise ``ShapeError`` naming the argument
at fault and, where there is one, the fix.
"""

import math


class ShapeError(ValueError):
    """An input shape a layer cannot take; the message says why and what would work."""

    def __init__(self, layer, message, hint=None):
        self.layer, self.reason, self.hint = layer, message, hint
        super().__init__(f"{layer}: {message}" + (f" ({hint})" if hint else ""))


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
    if stride <= 0:
        raise ShapeError(layer, f"{s_name} must be positive, got {stride}")
    if dilation <= 0:
        raise ShapeError(layer, f"{d_name} must be positive, got {dilation}")
    if kernel <= 0:
        raise ShapeError(layer, f"{k_name} must be positive, got {kernel}")
    effective = dilation * (kernel - 1) + 1
    span = size + 2 * padding - effective
    rounding = math.ceil if ceil_mode else math.floor
    out = rounding(span / stride) + 1 if span >= 0 else 0
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
