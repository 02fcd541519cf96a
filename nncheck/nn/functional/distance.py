"""pairwise_distance, cosine_similarity and pdist on ``nncheck._kernels.distance``.

The two-input functions broadcast their inputs as torch does; the kernels see the broadcast,
contiguous arrays and the gradients are summed back to each input's own shape.
"""

import math

from ..._lazy import family_names, np
from ...backend import array_namespace, kernels
from ...ops import Op, sum_to_shape
from ._validation import kernel_array, normalize_dim, split_around


def _broadcast_pair(x1, x2, layer):
    """Both inputs as contiguous kernel arrays of their common broadcast shape."""
    a, b = kernel_array(x1, layer, "x1"), kernel_array(x2, layer, "x2")
    dtype = np.promote_types(a.dtype, b.dtype)
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise RuntimeError(f"{layer}: x1 of shape {list(a.shape)} and x2 of shape "
                           f"{list(b.shape)} cannot be broadcast together (sizes must match "
                           "or be 1 in every trailing dimension)") from None
    xp = array_namespace(a, b)
    # a device backend's broadcast_to materialises on the host: only real broadcasts use it
    return tuple(xp.ascontiguousarray(v if v.shape == shape else xp.broadcast_to(v, shape), dtype)
                 for v in (a, b))


def _result_type(x1, x2):
    return np.promote_types(x1.dtype, x2.dtype)


def _reduce_back(grad, like):
    return sum_to_shape(grad, like.shape).astype(like.dtype, copy=False)


class _PairwiseDistance(Op):
    @staticmethod
    def forward(ctx, x1, x2, p, eps, keepdim):
        a, b = _broadcast_pair(x1, x2, "pairwise_distance")
        _k, xp = kernels("distance", a, b)
        shape = a.shape if a.ndim else (1,)
        a2, b2 = a.reshape(-1, shape[-1]), b.reshape(-1, shape[-1])
        diff, out = xp.empty_like(a2), xp.empty(a2.shape[0], a2.dtype)
        _k.pairwise_forward(a2, b2, eps, p, diff, out)
        ctx.diff, ctx.dist, ctx.p = diff, out, p
        ctx.shapes = (x1, x2, a.shape)
        out_shape = shape[:-1] + ((1,) if keepdim else ())
        return out.reshape(out_shape if a.ndim else ()).astype(_result_type(x1, x2), copy=False)

    @staticmethod
    def backward(ctx, grad):
        _k, xp = kernels("distance", ctx.diff, grad)
        if ctx.p == 0:  # the 0-"norm" counts non-zeros: torch leaves the gradient undefined
            return None, None, None, None, None
        x1, x2, shape = ctx.shapes
        g = xp.ascontiguousarray(grad, ctx.diff.dtype).reshape(-1)
        g1, g2 = xp.empty_like(ctx.diff), xp.empty_like(ctx.diff)
        _k.pairwise_backward(ctx.diff, ctx.dist, g, ctx.p, g1, g2, ctx.needs_input_grad[1])
        return (_reduce_back(g1.reshape(shape), x1) if ctx.needs_input_grad[0] else None,
                _reduce_back(g2.reshape(shape), x2) if ctx.needs_input_grad[1] else None,
                None, None, None)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    return _PairwiseDistance.apply(x1, x2, float(p), float(eps), bool(keepdim))


class _CosineSimilarity(Op):
    @staticmethod
    def forward(ctx, x1, x2, dim, eps):
        a, b = _broadcast_pair(x1, x2, "cosine_similarity")
        _k, xp = kernels("distance", a, b)
        view = split_around(a.shape, dim)
        a3, b3 = a.reshape(view), b.reshape(view)
        n1, n2 = xp.empty((view[0], view[2])), xp.empty((view[0], view[2]))
        out = xp.empty((view[0], view[2]), a.dtype)
        _k.cosine_forward(a3, b3, eps, n1, n2, out)
        ctx.save_for_backward(x1, x2)
        ctx.state = (a3, b3, n1, n2, out, eps, a.shape)
        return out.reshape(a.shape[:dim] + a.shape[dim + 1:]).astype(_result_type(x1, x2),
                                                                      copy=False)

    @staticmethod
    def backward(ctx, grad):
        x1, x2 = ctx.saved_tensors
        _k, xp = kernels("distance", x1, x2, grad)
        a3, b3, n1, n2, out, eps, shape = ctx.state
        g = xp.ascontiguousarray(grad, a3.dtype).reshape(out.shape)
        g1, g2 = xp.empty_like(a3), xp.empty_like(b3)
        _k.cosine_backward(a3, b3, n1, n2, out, g, eps, g1, g2)
        return (_reduce_back(g1.reshape(shape), x1), _reduce_back(g2.reshape(shape), x2),
                None, None)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    ndim = max(x1.ndim, x2.ndim)
    dim = normalize_dim(dim, ndim, "cosine_similarity")
    return _CosineSimilarity.apply(x1, x2, dim, float(eps))


class _Pdist(Op):
    @staticmethod
    def forward(ctx, x, p):
        k = kernel_array(x, "pdist")
        _k, xp = kernels("distance", k)
        n = k.shape[0]
        out = xp.empty(n * (n - 1) // 2, k.dtype)
        _k.pdist_forward(k, p, xp.empty_like(k), out)
        ctx.save_for_backward(x)
        ctx.dist, ctx.p = out, p
        return out.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        _k, xp = kernels("distance", x, grad)
        k = kernel_array(x, "pdist")
        gx = xp.empty_like(k)
        _k.pdist_backward(k, ctx.dist, xp.ascontiguousarray(grad, k.dtype), ctx.p, gx)
        return gx.astype(x.dtype, copy=False), None


def pdist(input, p=2):
    if input.ndim != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {input.ndim}D (shape "
                           f"{list(input.shape)}); expected (N, M) row vectors")
    if not p >= 0:
        raise RuntimeError(f"pdist only supports non-negative p values, got p={p}")
    if math.isinf(p) and p < 0:
        raise RuntimeError("pdist only supports non-negative p values, got p=-inf")
    return _Pdist.apply(input, float(p))


__all__ = family_names(__name__)
