"""linear and bilinear on the GEMM kernels in ``nncheck._kernels.linear``."""

import math

from ..._lazy import family_names, np
from ...backend import kernels
from ...ops import Op
from ._validation import kernel_array


def _rows(a):
    """View (..., K) as a matrix (M, K); explicit sizes so that K == 0 works too."""
    return a.reshape(math.prod(a.shape[:-1]), a.shape[-1])


class _Linear(Op):
    @staticmethod
    def forward(ctx, x, weight, bias):
        kx = kernel_array(x, "linear")
        _k, xp = kernels("linear", kx, weight, bias)
        dtype = kx.dtype
        w = xp.ascontiguousarray(weight, dtype)
        b = xp.zeros(0, dtype) if bias is None else xp.ascontiguousarray(bias, dtype)
        x2 = _rows(kx)
        out = xp.empty((x2.shape[0], w.shape[0]), dtype)
        _k.linear_forward(x2, w, b, out)
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return out.reshape(kx.shape[:-1] + (w.shape[0],)).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        return tuple(None if g is None else g[0] for g in _Linear.backward_stacked(ctx, grad[None]))

    @staticmethod
    def forward_stacked(ctx, stacked, x, weight, bias):
        """K versions of some arguments on a leading axis (gradcheck's stacked replays):
        K inputs are K * rows for the kernel; K weights or biases, one GEMM per version."""
        if not any(stacked[1:]):
            return _Linear.forward(ctx, x, weight, bias)
        x = x if stacked[0] else x[None]
        w = weight if stacked[1] else weight[None]
        out = np.matmul(x.reshape(x.shape[0], -1, x.shape[-1]), w.swapaxes(-1, -2))
        if bias is not None:
            out = out + (bias if stacked[2] else bias[None])[:, None, :]
        return out.reshape((out.shape[0],) + x.shape[1:-1] + (w.shape[1],)).astype(x.dtype)

    @staticmethod
    def backward_stacked(ctx, grads):
        """Gradients for K cotangents (leading axis): the input's in one kernel call over
        all K * rows, the weight's and bias's one call per cotangent."""
        x, weight = ctx.saved_tensors
        kx = kernel_array(x, "linear")
        _k, xp = kernels("linear", kx, weight, grads)
        dtype = kx.dtype
        w = xp.ascontiguousarray(weight, dtype)
        x2 = _rows(kx)
        stack = grads.shape[0]
        g = xp.ascontiguousarray(grads, dtype).reshape(stack, x2.shape[0], w.shape[0])
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = xp.empty((stack * x2.shape[0], x2.shape[1]), dtype)
            _k.linear_backward_input(g.reshape(gx.shape[0], w.shape[0]), w, gx)
            gx = gx.reshape((stack,) + x.shape).astype(x.dtype, copy=False)
        if ctx.needs_input_grad[1]:
            gw = xp.empty((stack,) + w.shape, dtype)
            for gk, out in zip(g, gw):
                _k.linear_backward_weight(gk, x2, out)
            gw = gw.astype(weight.dtype, copy=False)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = xp.empty((stack, w.shape[0]), dtype)
            for gk, out in zip(g, gb):
                _k.bias_backward(gk, out)
        return gx, gw, gb


def linear(input, weight, bias=None):
    if input.ndim == 0:
        raise ValueError("linear: input must have at least 1 dimension, got a scalar")
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got "
                         f"shape {list(weight.shape)}")
    if input.shape[-1] != weight.shape[1]:
        rows = int(np.prod(input.shape[:-1]))
        raise RuntimeError(
            f"linear: mat1 and mat2 shapes cannot be multiplied ({rows}x{input.shape[-1]} and "
            f"{weight.shape[1]}x{weight.shape[0]}): the input's last dimension is "
            f"{input.shape[-1]} but in_features is {weight.shape[1]}"
        )
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"linear: bias must have shape [{weight.shape[0]}], got "
                         f"{list(bias.shape)}")
    return _Linear.apply(input, weight, bias)


class _Bilinear(Op):
    @staticmethod
    def forward(ctx, x1, x2, weight, bias):
        k1 = kernel_array(x1, "bilinear", "input1")
        _k, xp = kernels("linear", k1, x2, weight, bias)
        dtype = k1.dtype
        k2 = xp.ascontiguousarray(x2, dtype)
        w = xp.ascontiguousarray(weight, dtype)
        b = xp.zeros(0, dtype) if bias is None else xp.ascontiguousarray(bias, dtype)
        lead = k1.shape[:-1]
        a1, a2 = _rows(k1), _rows(k2)
        n, o, j = a1.shape[0], w.shape[0], w.shape[2]
        out = xp.empty((n, o), dtype)
        _k.bilinear_forward(a1, a2, w, b, xp.empty((n, o * j), dtype), out)
        ctx.save_for_backward(x1, x2, weight)
        ctx.has_bias = bias is not None
        return out.reshape(lead + (o,)).astype(x1.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        x1, x2, weight = ctx.saved_tensors
        k1 = kernel_array(x1, "bilinear", "input1")
        _k, xp = kernels("linear", k1, x2, weight, grad)
        dtype = k1.dtype
        a1 = _rows(k1)
        a2 = _rows(xp.ascontiguousarray(x2, dtype))
        w = xp.ascontiguousarray(weight, dtype)
        n, o, j = a1.shape[0], w.shape[0], w.shape[2]
        g = xp.ascontiguousarray(grad, dtype).reshape(n, o)
        g1, g2, gw = xp.empty_like(a1), xp.empty_like(a2), xp.empty_like(w)
        _k.bilinear_backward(a1, a2, w, g, xp.empty((n, o * j), dtype), g1, g2, gw)
        gb = g.sum(axis=0) if ctx.has_bias else None
        return (g1.reshape(x1.shape).astype(x1.dtype, copy=False),
                g2.reshape(x2.shape).astype(x2.dtype, copy=False),
                gw.astype(weight.dtype, copy=False), gb)


def bilinear(input1, input2, weight, bias=None):
    if weight.ndim != 3:
        raise ValueError(f"bilinear: weight must be 3-D, got shape {list(weight.shape)}")
    if input1.shape[:-1] != input2.shape[:-1]:
        raise ValueError(
            f"bilinear: input1 and input2 must have the same batch dimensions, got "
            f"{list(input1.shape)} and {list(input2.shape)}"
        )
    if input1.shape[-1] != weight.shape[1]:
        raise ValueError(f"bilinear: input1 has {input1.shape[-1]} features, expected "
                         f"in1_features={weight.shape[1]}")
    if input2.shape[-1] != weight.shape[2]:
        raise ValueError(f"bilinear: input2 has {input2.shape[-1]} features, expected "
                         f"in2_features={weight.shape[2]}")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"bilinear: bias must have shape [{weight.shape[0]}], got "
                         f"{list(bias.shape)}")
    return _Bilinear.apply(input1, input2, weight, bias)


__all__ = family_names(__name__)
