"""Differentiable tensor operations (arithmetic, reductions, shape and indexing).

These are the general-purpose building blocks behind ``Tensor`` methods; they
run on numpy directly.  Layers live in ``nncheck/nn`` and run on the Cython
kernels in ``nncheck/_kernels``.
"""

from . import _dtype as _dt
from ._kernels import lazy
from ._lazy import np
from .autograd.function import Function
from .backend import asarray as _array
from .backend import ascontiguousarray as _contiguous

_blas = lazy("blas_threads")


def sum_to_shape(grad, shape):
    """Reduce a broadcast gradient back to ``shape``."""
    shape = tuple(shape)
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


class Op(Function):
    """An nncheck operation: forward/backward see numpy arrays (see ``Function``)."""

    raw = True


# --------------------------------------------------------------------------- elementwise
class Add(Op):
    @staticmethod
    def forward(ctx, a, b, alpha=1):
        ctx.shapes = (np.shape(a), np.shape(b))
        ctx.alpha = alpha
        return np.add(a, b * alpha if alpha != 1 else b)

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes
        gb = sum_to_shape(g, sb)
        return sum_to_shape(g, sa), (gb * ctx.alpha if ctx.alpha != 1 else gb)


class Sub(Op):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (np.shape(a), np.shape(b))
        return np.subtract(a, b)

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes
        return sum_to_shape(g, sa), -sum_to_shape(g, sb)


class Mul(Op):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.multiply(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ga = sum_to_shape(g * b, np.shape(a)) if ctx.needs_input_grad[0] else None
        gb = sum_to_shape(g * a, np.shape(b)) if ctx.needs_input_grad[1] else None
        return ga, gb


class Div(Op):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.true_divide(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ga = sum_to_shape(g / b, np.shape(a)) if ctx.needs_input_grad[0] else None
        gb = sum_to_shape(-g * a / (b * b), np.shape(b)) if ctx.needs_input_grad[1] else None
        return ga, gb


class Pow(Op):
    @staticmethod
    def forward(ctx, a, b):
        out = np.power(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = sum_to_shape(g * b * np.power(a, b - 1), np.shape(a))
        if ctx.needs_input_grad[1]:
            with np.errstate(divide="ignore", invalid="ignore"):
                log_a = np.where(a > 0, np.log(np.where(a > 0, a, 1)), 0)
            gb = sum_to_shape(g * out * log_a, np.shape(b))
        return ga, gb


class Neg(Op):
    @staticmethod
    def forward(ctx, a):
        return np.negative(a)

    @staticmethod
    def backward(ctx, g):
        return -g


class Abs(Op):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.abs(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * np.sign(a)


class Exp(Op):
    @staticmethod
    def forward(ctx, a):
        out = np.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * out


class Log(Op):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g / a


class Sqrt(Op):
    @staticmethod
    def forward(ctx, a):
        out = np.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g / (2 * out)


class Sin(Op):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.sin(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * np.cos(a)


class Cos(Op):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.cos(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return -g * np.sin(a)


class Clamp(Op):
    @staticmethod
    def forward(ctx, a, lo, hi):
        ctx.save_for_backward(a)
        ctx.bounds = (lo, hi)
        return np.clip(a, lo, hi).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        lo, hi = ctx.bounds
        mask = None if lo is None else a >= lo
        if hi is not None:
            mask = a <= hi if mask is None else mask & (a <= hi)
        return (g if mask is None else g * mask), None, None


class Where(Op):
    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.cond = _array(cond, np.dtype(bool))
        ctx.shapes = (np.shape(a), np.shape(b))
        return np.where(ctx.cond, a, b)

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes
        zero = np.zeros((), g.dtype)
        return (None, sum_to_shape(np.where(ctx.cond, g, zero), sa),
                sum_to_shape(np.where(ctx.cond, zero, g), sb))


class Cast(Op):
    @staticmethod
    def forward(ctx, a, np_dtype):
        ctx.src = a.dtype
        return a.astype(np_dtype)

    @staticmethod
    def backward(ctx, g):
        return g.astype(ctx.src) if ctx.src.kind in "fc" else None


class ToDevice(Op):
    """``Tensor.to(device)``: a copy to another device; the gradient goes back the same way."""

    keeps_device = False

    @staticmethod
    def forward(ctx, a, device):
        from .backend import device_name, to_device

        ctx.src = _dt.device(device_name(a))
        return to_device(a, device)

    @staticmethod
    def backward(ctx, g):
        from .backend import to_device

        return to_device(g, ctx.src), None


# --------------------------------------------------------------------------- reductions
def _axes(dim, ndim):
    if dim is None:
        return None
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    out = []
    for d in dims:
        if not -max(ndim, 1) <= d < max(ndim, 1):
            raise IndexError(
                f"Dimension out of range (expected to be in range of "
                f"[{-max(ndim, 1)}, {max(ndim, 1) - 1}], but got {d})"
            )
        out.append(d % max(ndim, 1))
    return tuple(out) if ndim else None


def _expand_back(g, shape, axes, keepdim):
    if axes is not None and not keepdim:
        g = np.expand_dims(g, axes)
    return np.broadcast_to(g, shape)


class Sum(Op):
    @staticmethod
    def forward(ctx, a, dim=None, keepdim=False):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, _axes(dim, a.ndim), keepdim
        return _array(a.sum(axis=ctx.axes, keepdims=keepdim))

    @staticmethod
    def backward(ctx, g):
        return _contiguous(_expand_back(g, ctx.shape, ctx.axes, ctx.keepdim))


class Mean(Op):
    @staticmethod
    def forward(ctx, a, dim=None, keepdim=False):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, _axes(dim, a.ndim), keepdim
        out = _array(a.mean(axis=ctx.axes, keepdims=keepdim))
        ctx.count = max(a.size // max(out.size, 1), 1) if a.size else 1
        return out

    @staticmethod
    def backward(ctx, g):
        return _contiguous(_expand_back(g / ctx.count, ctx.shape, ctx.axes, ctx.keepdim))

    @staticmethod
    def backward_stacked(ctx, g):
        """K cotangents on a leading axis (gradcheck's analytic rows)."""
        k = g.shape[0]
        if ctx.axes is None:
            g = g.reshape((k,) + (1,) * len(ctx.shape))
        elif not ctx.keepdim:
            g = np.expand_dims(g, tuple(a + 1 for a in ctx.axes))
        return np.ascontiguousarray(np.broadcast_to(g / ctx.count, (k,) + ctx.shape))

    @staticmethod
    def forward_stacked(ctx, stacked, a, dim=None, keepdim=False):
        """K versions of ``a`` on a leading axis (gradcheck's stacked replays)."""
        axes = _axes(dim, a.ndim - 1)
        axes = tuple(range(1, a.ndim)) if axes is None else tuple(d + 1 for d in axes)
        return np.asarray(a.mean(axis=axes, keepdims=keepdim))


class Prod(Op):
    @staticmethod
    def forward(ctx, a, dim=None, keepdim=False):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, _axes(dim, a.ndim), keepdim
        out = _array(a.prod(axis=ctx.axes, keepdims=keepdim))
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        full_out = _expand_back(out, ctx.shape, ctx.axes, ctx.keepdim)
        full_g = _expand_back(g, ctx.shape, ctx.axes, ctx.keepdim)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(a != 0, full_out / np.where(a != 0, a, 1), 0)
        # elements equal to zero: gradient is the product of the others
        zeros = a == 0
        if zeros.any():
            axes = ctx.axes if ctx.axes is not None else tuple(range(a.ndim))
            for idx in zip(*np.nonzero(zeros)):
                others = a.copy()
                others[idx] = 1
                sel = list(idx)
                for ax in axes:
                    sel[ax] = slice(None)
                ratio[idx] = np.prod(others[tuple(sel)])
        return full_g * ratio


class Var(Op):
    @staticmethod
    def forward(ctx, a, dim=None, correction=1, keepdim=False):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, _axes(dim, a.ndim), keepdim
        n = a.size if ctx.axes is None else int(np.prod([a.shape[i] for i in ctx.axes]))
        ctx.denom = max(n - correction, 0)
        ctx.mean = a.mean(axis=ctx.axes, keepdims=True)
        ctx.save_for_backward(a)
        with np.errstate(divide="ignore", invalid="ignore"):
            return _array(
                ((a - ctx.mean) ** 2).sum(axis=ctx.axes, keepdims=keepdim) / ctx.denom
            ).astype(a.dtype)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        g = _expand_back(g, ctx.shape, ctx.axes, ctx.keepdim)
        return g * 2 * (a - ctx.mean) / ctx.denom


class MaxMin(Op):
    """max/min over a dim (values and indices) or over everything."""

    @staticmethod
    def forward(ctx, a, dim, keepdim, is_max):
        ctx.shape, ctx.keepdim = a.shape, keepdim
        pick = np.argmax if is_max else np.argmin
        if dim is None:
            flat = int(pick(a.reshape(-1)))
            ctx.dim, ctx.index = None, flat
            return _array(a.reshape(-1)[flat]).copy()
        (axis,) = _axes(dim, a.ndim) or (0,)
        if a.ndim == 0:
            ctx.dim, ctx.index = None, 0
            return a.copy(), np.zeros((), np.int64)
        idx = pick(a, axis=axis, keepdims=True)
        values = np.take_along_axis(a, idx, axis=axis)
        ctx.dim, ctx.index = axis, idx
        if not keepdim:
            values, idx = values.squeeze(axis), idx.squeeze(axis)
        idx = idx.astype(np.int64)
        ctx.mark_non_differentiable(idx)
        return values, idx

    @staticmethod
    def backward(ctx, g, *_):
        if ctx.dim is None:
            out = np.zeros_like(g, shape=ctx.shape)
            out.reshape(-1)[ctx.index] = g
            return out
        out = np.zeros_like(g, shape=ctx.shape)
        if not ctx.keepdim:
            g = np.expand_dims(g, ctx.dim)
        np.put_along_axis(out, ctx.index, g, axis=ctx.dim)
        return out


class Norm(Op):
    @staticmethod
    def forward(ctx, a, p, dim, keepdim):
        ctx.shape, ctx.axes, ctx.keepdim, ctx.p = a.shape, _axes(dim, a.ndim), keepdim, p
        absa = np.abs(a)
        if p == float("inf"):
            out = absa.max(axis=ctx.axes, keepdims=keepdim)
        elif p == float("-inf"):
            out = absa.min(axis=ctx.axes, keepdims=keepdim)
        elif p == 0:
            out = (absa != 0).sum(axis=ctx.axes, keepdims=keepdim).astype(a.dtype)
        else:
            out = (absa**p).sum(axis=ctx.axes, keepdims=keepdim) ** (1.0 / p)
        out = _array(out, a.dtype)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        p = ctx.p
        g = _expand_back(g, ctx.shape, ctx.axes, ctx.keepdim)
        n = _expand_back(out, ctx.shape, ctx.axes, ctx.keepdim)
        if p == 0:
            return np.zeros_like(a)
        if p in (float("inf"), float("-inf")):
            mask = np.abs(a) == n
            count = _expand_back(mask.sum(axis=ctx.axes, keepdims=True), ctx.shape, None, True)
            return g * np.sign(a) * mask / count
        with np.errstate(divide="ignore", invalid="ignore"):
            grad = g * np.sign(a) * np.abs(a) ** (p - 1) / n ** (p - 1)
        return np.where(n == 0, 0, grad)


# --------------------------------------------------------------------------- linear algebra
class MatMul(Op):
    """numpy's matmul, with numpy's BLAS on one thread (see numpy_blas_pinned_to_one_thread:
    its own thread pool would fight the kernels' OpenMP team)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        with _blas.numpy_blas_pinned_to_one_thread():
            return np.matmul(a, b)

    @staticmethod
    def backward(ctx, g):
        with _blas.numpy_blas_pinned_to_one_thread():
            return MatMul._backward(ctx, g)

    @staticmethod
    def _backward(ctx, g):
        a, b = ctx.saved_tensors
        ga = gb = None
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        if b.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        if ctx.needs_input_grad[0]:
            ga = sum_to_shape(np.matmul(g2, np.swapaxes(b2, -1, -2)), a2.shape).reshape(a.shape)
        if ctx.needs_input_grad[1]:
            gb = sum_to_shape(np.matmul(np.swapaxes(a2, -1, -2), g2), b2.shape).reshape(b.shape)
        return ga, gb


# --------------------------------------------------------------------------- shape
class Reshape(Op):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return a.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape)

    @staticmethod
    def backward_stacked(ctx, g):
        return g.reshape((g.shape[0],) + ctx.shape)

    @staticmethod
    def forward_stacked(ctx, stacked, a, shape):
        return a.reshape((a.shape[0],) + tuple(shape))


class Permute(Op):
    @staticmethod
    def forward(ctx, a, dims):
        ctx.inverse = tuple(np.argsort(dims))
        return a.transpose(dims)

    @staticmethod
    def backward(ctx, g):
        return g.transpose(ctx.inverse)

    @staticmethod
    def backward_stacked(ctx, g):
        return g.transpose((0,) + tuple(d + 1 for d in ctx.inverse))

    @staticmethod
    def forward_stacked(ctx, stacked, a, dims):
        return a.transpose((0,) + tuple(d % (a.ndim - 1) + 1 for d in dims))


class Expand(Op):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return np.broadcast_to(a, shape)

    @staticmethod
    def backward(ctx, g):
        return sum_to_shape(g, ctx.shape)


class Cat(Op):
    @staticmethod
    def forward(ctx, dim, *arrays):
        ctx.dim = dim
        ctx.sizes = [a.shape[dim] for a in arrays]
        return np.concatenate(arrays, axis=dim)

    @staticmethod
    def backward(ctx, g):
        # basic slices of g, only for the inputs that need them (np.split costs several
        # array calls per piece; DenseNet concatenates dozens of inputs per layer)
        lead = (slice(None),) * ctx.dim
        grads, start = [None], 0
        for size, need in zip(ctx.sizes, ctx.needs_input_grad[1:]):
            grads.append(g[lead + (slice(start, start + size),)] if need else None)
            start += size
        return tuple(grads)


class Stack(Op):
    @staticmethod
    def forward(ctx, dim, *arrays):
        ctx.dim = dim
        return np.stack(arrays, axis=dim)

    @staticmethod
    def backward(ctx, g):
        return (None, *[np.take(g, i, axis=ctx.dim) for i in range(g.shape[ctx.dim])])


class Index(Op):
    """``a[key]``: a view for basic indexing (see Tensor.__getitem__), a gather otherwise."""

    @staticmethod
    def forward(ctx, a, key):
        ctx.shape, ctx.dtype, ctx.key = a.shape, a.dtype, key
        return a[key]

    @staticmethod
    def backward(ctx, g):
        out = np.zeros_like(g, shape=ctx.shape)
        if _basic_key(ctx.key):  # a view: each element once, a plain assignment (no add.at)
            out[ctx.key] = g
        else:
            np.add.at(out, ctx.key, g)
        return out

    @staticmethod
    def backward_stacked(ctx, g):
        out = np.zeros((g.shape[0],) + ctx.shape, g.dtype)
        if _basic_key(ctx.key):
            out[(slice(None),) + (ctx.key if isinstance(ctx.key, tuple) else (ctx.key,))] = g
        else:  # advanced indices may move the leading axis: one cotangent at a time
            for out_k, g_k in zip(out, g):
                np.add.at(out_k, ctx.key, g_k)
        return out

    @staticmethod
    def forward_stacked(ctx, stacked, a, key):
        if not _basic_key(key):  # advanced indices may move the leading axis
            raise NotImplementedError("stacked Index with an advanced key")
        return a[(slice(None),) + (key if isinstance(key, tuple) else (key,))]


def _basic_key(key):
    """Whether numpy indexes with ``key`` by basic indexing (ints, slices, None, ...)."""
    items = key if isinstance(key, tuple) else (key,)
    return all(k is None or k is Ellipsis or isinstance(k, slice)
               or (isinstance(k, (int, np.integer)) and not isinstance(k, bool)) for k in items)


class IndexPut(Op):
    """``a[key] = value`` as an out-of-place op (used for in-place setitem with autograd)."""

    @staticmethod
    def forward(ctx, a, value, key):
        ctx.key, ctx.vshape = key, np.shape(value)
        out = a.copy()
        out[key] = value
        return out

    @staticmethod
    def backward(ctx, g):
        ga = g.copy()
        ga[ctx.key] = 0
        gv = sum_to_shape(_contiguous(g[ctx.key]), ctx.vshape)
        return ga, gv

