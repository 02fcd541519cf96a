"""Scans and reductions beyond ``Tensor.sum/mean/...``: cumsum/cumprod/cummax/cummin,
logsumexp, var_mean/std_mean, nansum/nanmean, aminmax, diff."""

from collections import namedtuple

from .. import _dtype as dt
from .._lazy import np
from ..ops import Op, _axes
from ..tensor import Tensor, ValuesIndices, cat, where
from .indexing import Gather


def _reverse_cumsum(g, axis):
    return np.flip(np.cumsum(np.flip(g, axis), axis), axis)


class CumSum(Op):
    @staticmethod
    def forward(ctx, a, dim):
        ctx.dim = dim
        return np.cumsum(a, axis=dim)

    @staticmethod
    def backward(ctx, g):
        return _reverse_cumsum(g, ctx.dim)


class CumProd(Op):
    @staticmethod
    def forward(ctx, a, dim):
        ctx.dim = dim
        out = np.cumprod(a, axis=dim)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        if np.all(a != 0):
            return _reverse_cumsum(g * out, ctx.dim) / a
        # with zeros the quotient above is 0/0: take the product of the others directly,
        # d out[j] / d a[k] = prod(a[i] for i <= j, i != k), O(n^2) along the dimension
        x, gx = np.moveaxis(a, ctx.dim, -1), np.moveaxis(g, ctx.dim, -1)
        before = np.cumprod(np.concatenate([np.ones_like(x[..., :1]), x[..., :-1]], -1), -1)
        grad = np.empty_like(x)
        for k in range(x.shape[-1]):
            after = np.cumprod(x[..., k + 1:], -1)  # prod(a[k+1..j]) for j > k
            grad[..., k] = before[..., k] * (gx[..., k] + (gx[..., k + 1:] * after).sum(-1))
        return np.moveaxis(grad, -1, ctx.dim)


def _scan_input(input, dtype):
    """PyTorch's cumsum/cumprod accumulate integers (and bools) in int64."""
    if dtype is not None:
        return input.to(dtype)
    if not (input.dtype.is_floating_point or input.dtype.is_complex):
        return input.to(dt.int64)
    return input


def cumsum(input, dim, *, dtype=None):
    src = _scan_input(input, dtype)
    return CumSum.apply(src, src._dim(dim)) if src.ndim else src.clone()


def cumprod(input, dim, *, dtype=None):
    src = _scan_input(input, dtype)
    return CumProd.apply(src, src._dim(dim)) if src.ndim else src.clone()


def cumsum_(self, dim, *, dtype=None):
    return self._apply_inplace(lambda s: cumsum(s, dim, dtype=dtype))


def cumprod_(self, dim, *, dtype=None):
    return self._apply_inplace(lambda s: cumprod(s, dim, dtype=dtype))


def _cumulative_extreme(input, dim, is_max):
    """Running max/min and where it was reached (the latest position among equals)."""
    if input.ndim == 0:
        return ValuesIndices(input.clone(), Tensor._wrap(np.zeros((), np.int64)))
    d = input._dim(dim)
    a = np.moveaxis(input._data, d, -1)
    positions = np.zeros(a.shape, np.int64)
    if a.shape[-1]:
        best = a[..., 0].copy()
        better = np.greater_equal if is_max else np.less_equal
        for k in range(1, a.shape[-1]):
            # NaN propagates as in PyTorch: once seen, it stays the extreme
            take = better(a[..., k], best) | np.isnan(a[..., k]) if a.dtype.kind == "f" \
                else better(a[..., k], best)
            if a.dtype.kind == "f":
                take &= ~np.isnan(best)
            best = np.where(take, a[..., k], best)
            positions[..., k] = np.where(take, k, positions[..., k - 1])
    positions = np.ascontiguousarray(np.moveaxis(positions, -1, d))
    return ValuesIndices(Gather.apply(input, d, positions), Tensor._wrap(positions))


def cummax(input, dim):
    return _cumulative_extreme(input, dim, True)


def cummin(input, dim):
    return _cumulative_extreme(input, dim, False)


class LogSumExp(Op):
    @staticmethod
    def forward(ctx, a, axes, keepdim):
        ctx.axes, ctx.keepdim, ctx.shape = axes, keepdim, a.shape
        m = np.max(a, axis=axes, keepdims=True) if a.size else np.zeros((1,) * a.ndim, a.dtype)
        m = np.where(np.isfinite(m), m, 0)  # all -inf (or an inf) must not give inf - inf
        with np.errstate(divide="ignore"):
            out = np.log(np.exp(a - m).sum(axis=axes, keepdims=True)) + m
        ctx.save_for_backward(a, out)
        return out if keepdim else np.squeeze(out, axis=axes)

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        if not ctx.keepdim:
            g = np.expand_dims(g, ctx.axes)
        return g * np.exp(a - out)


def logsumexp(input, dim, keepdim=False):
    if not input.dtype.is_floating_point:
        input = input.to(dt.float32)
    axes = _axes(dim, input.ndim) if input.ndim else None
    if axes is None:  # 0-d input: log(exp(x)) = x
        return input.clone()
    return LogSumExp.apply(input, axes, keepdim)


def _correction(unbiased, correction):
    if correction is not None:
        return correction
    return 0 if unbiased is False else 1


def var_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    corr = _correction(unbiased, correction)
    return input.var(dim, keepdim=keepdim, correction=corr), input.mean(dim, keepdim=keepdim)


def std_mean(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    corr = _correction(unbiased, correction)
    return input.std(dim, keepdim=keepdim, correction=corr), input.mean(dim, keepdim=keepdim)


def nansum(input, dim=None, keepdim=False, *, dtype=None):
    if not input.dtype.is_floating_point:
        return input.sum(dim, keepdim=keepdim, dtype=dtype)
    return where(input.isnan(), 0.0, input).sum(dim, keepdim=keepdim, dtype=dtype)


def nanmean(input, dim=None, keepdim=False, *, dtype=None):
    kept = (~input.isnan()).sum(dim, keepdim=keepdim)
    return nansum(input, dim, keepdim, dtype=dtype) / kept


MinMax = namedtuple("aminmax", ["min", "max"])


def aminmax(input, *, dim=None, keepdim=False):
    return MinMax(input.amin(dim, keepdim), input.amax(dim, keepdim))


def diff(input, n=1, dim=-1, prepend=None, append=None):
    """Differences of neighbours along ``dim``, ``n`` times."""
    d = input._dim(dim)
    parts = [t for t in (prepend, input, append) if t is not None]
    x = cat(parts, d) if len(parts) > 1 else input
    for _ in range(n):
        size = x.shape[d]
        hi = x.narrow(d, 1, max(size - 1, 0))
        lo = x.narrow(d, 0, max(size - 1, 0))
        x = hi ^ lo if x.dtype is dt.bool else hi - lo
    return x
