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


class LogCumSumExp(Op):
    @staticmethod
    def forward(ctx, a, dim):
        out = np.logaddexp.accumulate(a, axis=dim)
        ctx.dim = dim
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, g):
        # d out[j] / d a[k] = exp(a[k] - out[j]) for j >= k; shifted by the last (largest)
        # out of each row so that neither exponential overflows
        a, out = ctx.saved_tensors
        last = np.take(out, [-1], axis=ctx.dim)
        last = np.where(np.isfinite(last), last, 0)
        with np.errstate(over="ignore", invalid="ignore"):
            tail = _reverse_cumsum(g * np.exp(last - out), ctx.dim)
            return np.where(np.isneginf(a), 0, np.exp(a - last) * tail)


def logcumsumexp(input, dim):
    src = input if input.dtype.is_floating_point else input.to(dt.float32)
    return LogCumSumExp.apply(src, src._dim(dim)) if src.ndim else src.clone()


def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    """The q-th quantiles (q a number or a 1-D tensor, in [0, 1]) from the sorted values,
    interpolated as PyTorch does; differentiable through the sorted values."""
    from .sorting import sort

    if interpolation not in ("linear", "lower", "higher", "midpoint", "nearest"):
        raise RuntimeError("quantile() interpolation must be one of linear, lower, higher, "
                           f"midpoint or nearest. Got {interpolation}")
    qs = np.atleast_1d(np.asarray(q._data if isinstance(q, Tensor) else q, np.float64))
    if qs.ndim > 1:
        raise RuntimeError("quantile() q must be a scalar or 1D tensor")
    if ((qs < 0) | (qs > 1)).any():
        raise RuntimeError("quantile() q values must be in the range [0, 1]")
    if not input.dtype.is_floating_point:
        raise RuntimeError("quantile() input tensor must be either float or double dtype")
    x = input.reshape(-1) if dim is None else input
    d = 0 if dim is None else x._dim(dim)
    n = x.shape[d]
    ordered = sort(x, d).values
    rank = qs * (n - 1)
    lo, hi = np.floor(rank).astype(np.int64), np.ceil(rank).astype(np.int64)
    if interpolation == "lower":
        hi = lo
    elif interpolation == "higher":
        lo = hi
    elif interpolation == "nearest":
        lo = hi = np.round(rank).astype(np.int64)  # half to even, as torch.round
    weight = {"linear": rank - lo, "midpoint": np.full_like(rank, 0.5)}.get(
        interpolation, np.zeros_like(rank))
    shape = [1] * x.ndim
    shape[d] = len(qs)
    below = ordered.index_select(d, Tensor._wrap(lo))
    above = ordered.index_select(d, Tensor._wrap(hi))
    w = Tensor._wrap(weight.reshape(shape).astype(x._data.dtype))
    out = below + w * (above - below)
    if keepdim and dim is None:
        out = out.reshape([len(qs)] + [1] * input.ndim)
    elif keepdim:
        out = out.movedim(d, 0).unsqueeze(d + 1)
    else:
        out = out.movedim(d, 0)
    scalar_q = not isinstance(q, Tensor) and np.ndim(q) == 0 or \
        isinstance(q, Tensor) and q.ndim == 0
    return out.squeeze(0) if scalar_q else out


def dist(input, other, p=2):
    return (input - other).norm(p)


def bincount(input, weights=None, minlength=0):
    if input.ndim != 1 or input._data.dtype.kind not in "iu":
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if input.numel() and input._data.min() < 0:
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    w = None if weights is None else weights._data
    counts = np.bincount(input._data, w, minlength)
    return Tensor._wrap(counts if w is not None else counts.astype(np.int64))


def histc(input, bins=100, min=0, max=0):
    """Counts in ``bins`` equal bins over [min, max] (the data's range when both are 0);
    values outside are ignored."""
    a = input._data
    lo, hi = float(min), float(max)
    if lo == hi and a.size:
        lo, hi = float(a.min()), float(a.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if lo > hi:
        raise RuntimeError("torch.histc: max must be larger than min")
    counts, _ = np.histogram(a, bins=bins, range=(lo, hi))
    return Tensor._wrap(counts.astype(a.dtype))


def _trapezoids(y, x, dx, d):
    """The area of each trapezoid between neighbouring samples along ``d``."""
    n = max(y.shape[d] - 1, 0)
    mid = (y.narrow(d, 1, n) + y.narrow(d, 0, n)) / 2 if y.shape[d] else y
    if x is not None:
        step = x.diff(dim=-1 if x.ndim == 1 else d)
        return mid * (step.reshape([-1 if i == d else 1 for i in range(y.ndim)])
                      if x.ndim == 1 else step)
    return mid * dx if dx is not None else mid


def trapezoid(y, x=None, *, dx=None, dim=-1):
    """The trapezoidal rule along ``dim`` (samples at ``x``, or spaced ``dx``, default 1)."""
    d = y._dim(dim)
    return _trapezoids(y, x, dx, d).sum(d)


def cumulative_trapezoid(y, x=None, *, dx=None, dim=-1):
    d = y._dim(dim)
    return cumsum(_trapezoids(y, x, dx, d), d)


trapz = trapezoid


def cov(input, *, correction=1, fweights=None, aweights=None):
    """Covariance of the variables in the rows of ``input`` (observations in columns)."""
    if input.ndim > 2:
        raise RuntimeError(f"cov(): expected input to have two or fewer dimensions but got an "
                           f"input with {input.ndim} dimensions")
    x = input.reshape(1, -1) if input.ndim < 2 else input
    if not x.dtype.is_floating_point:
        x = x.to(dt.float32)
    w = None
    for weights in (fweights, aweights):
        if weights is not None:
            w = weights if w is None else w * weights
    if w is None:
        n = x.shape[1]
        centred = x - x.mean(1, keepdim=True)
        out = centred @ centred.t() / (n - correction)
    else:
        w = w.to(x.dtype)
        total = w.sum()
        mean = (x * w).sum(1, keepdim=True) / total
        centred = x - mean
        norm = total - correction * ((w * aweights).sum() / total if aweights is not None
                                     else 1)
        out = (centred * w) @ centred.t() / norm
    return out.squeeze() if input.ndim < 2 else out


def corrcoef(input):
    c = cov(input)
    if c.ndim == 0:
        return c / c
    d = c.diagonal().sqrt()
    return (c / d[:, None] / d[None, :]).clamp(-1, 1)


def renorm(input, p, dim, maxnorm):
    """Each slice along ``dim`` whose p-norm exceeds ``maxnorm`` scaled down to it."""
    d = input._dim(dim)
    if p <= 0:
        raise RuntimeError(f"renorm: non-positive-norm not supported (got p={p})")
    if maxnorm < 0:
        raise RuntimeError(f"renorm: expected maxnorm to be >= 0 but got {maxnorm}")
    others = tuple(i for i in range(input.ndim) if i != d)
    norms = input.norm(p, others, keepdim=True) if others else input.abs()
    scale = where(norms > maxnorm, maxnorm / (norms + 1e-7), 1.0)
    return input * scale


def frobenius_norm(input, dim=(), keepdim=False):
    return input.norm(2, dim if dim else None, keepdim)


Histogram = namedtuple("histogram", ["hist", "bin_edges"])


def histogram(input, bins=100, *, range=None, weight=None, density=False):
    """Counts (or weights) in ``bins`` bins (or at the edges given), and the edges."""
    edges = bins._data if isinstance(bins, Tensor) else bins
    w = None if weight is None else weight._data
    hist, edges = np.histogram(input._data, edges, range=range, weights=w, density=density)
    dtype = input._data.dtype
    return Histogram(Tensor._wrap(hist.astype(dtype)), Tensor._wrap(edges.astype(dtype)))
