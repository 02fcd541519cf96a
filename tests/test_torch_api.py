"""The torch API that model code calls (nncheck/_ops): every function and method
against PyTorch in float64 -- values, integer outputs exactly, input gradients --
and PyTorch's errors for bad dims and out-of-range indices."""

import numpy as np
import pytest
import torch
from reference import assert_close, compare_function

import nncheck

rng = np.random.default_rng(0)


def R(*shape):
    """float64 data (gradients are checked for these)."""
    return rng.standard_normal(shape)


def P(*shape):
    """Positive float64 data, away from 0."""
    return rng.uniform(0.5, 2.0, shape)


def U(*shape):
    """float64 data in (-0.9, 0.9) (inverse trig domains)."""
    return rng.uniform(-0.9, 0.9, shape)


def I(high, *shape):  # noqa: E743
    """int64 indices in [0, high)."""
    return rng.integers(0, high, shape)


def D(*shape):
    """float64 data with distinct values (sort order and ties cannot differ)."""
    return rng.permutation(np.prod(shape, dtype=int)).reshape(shape) / 7.0 - 1.0


def B(*shape):
    return rng.random(shape) < 0.5


# (id, fn(module, *inputs) written once for both torch and nncheck, inputs)
CASES = [
    # ------------------------------------------------------------------ pointwise
    *[(f"{name}", lambda m, x, name=name: getattr(m, name)(x), (data,)) for name, data in [
        ("erf", R(3, 4)), ("erfc", R(3, 4)), ("erfinv", U(3, 4)), ("log2", P(5)),
        ("log10", P(5)), ("log1p", P(5)), ("expm1", R(5)), ("exp2", R(5)), ("tan", U(5)),
        ("asin", U(5)), ("acos", U(5)), ("atan", R(5)), ("sinh", R(5)), ("cosh", R(5)),
        ("asinh", R(5)), ("acosh", P(5) + 1), ("atanh", U(5)), ("lgamma", P(5)),
        ("digamma", P(5)), ("sinc", R(5)), ("deg2rad", R(5)), ("rad2deg", R(5)),
        ("frac", R(5) * 3), ("trunc", R(5) * 3), ("arctan", R(5)), ("positive", R(5)),
        ("logical_not", B(2, 3)), ("signbit", R(5)), ("isneginf", R(3)),
    ]],
    ("erf_int", lambda m, x: m.erf(x), (I(5, 4),)),
    ("sgn", lambda m, x: m.sgn(x) * x, (R(5),)),  # PyTorch's own gradient of sgn is a
    # ZeroTensor numpy cannot read; times x, the gradient is sgn(x) + x * 0
    ("fmod", lambda m, a, b: m.fmod(a, b), (R(3, 4) * 5, P(4) * np.sign(R(4)))),
    ("fmod_scalar", lambda m, a: m.fmod(a, -1.5), (R(3, 4) * 5,)),
    ("fmod_int", lambda m, a, b: m.fmod(a, b), (I(20, 6) - 10, I(4, 6) + 1)),
    ("remainder", lambda m, a, b: m.remainder(a, b), (R(3, 4) * 5, P(3, 1) * np.sign(R(3, 1)))),
    ("remainder_int", lambda m, a: m.remainder(a, 3), (I(20, 6) - 10,)),
    ("atan2", lambda m, a, b: m.atan2(a, b), (R(3, 4), R(4))),
    ("hypot", lambda m, a, b: m.hypot(a, b), (R(3, 4), R(3, 1))),
    ("logaddexp", lambda m, a, b: m.logaddexp(a, b), (R(3, 4), R(4))),
    ("logaddexp2", lambda m, a, b: m.logaddexp2(a, b), (R(3, 4), R(4))),
    ("float_power", lambda m, a: m.float_power(a, 3), (R(5),)),
    ("lerp_scalar", lambda m, a, b: m.lerp(a, b, 0.3), (R(3, 4), R(4))),
    ("lerp_tensor", lambda m, a, b, w: m.lerp(a, b, w), (R(3, 4), R(3, 4), R(4))),
    ("addcmul", lambda m, a, b, c: m.addcmul(a, b, c, value=0.5), (R(3, 4), R(3, 1), R(4))),
    ("addcdiv", lambda m, a, b, c: m.addcdiv(a, b, c, value=-2), (R(3, 4), R(3, 4), P(4))),
    ("clamp_min", lambda m, a: m.clamp_min(a, 0.1), (R(3, 4),)),
    ("clamp_max", lambda m, a: a.clamp_max(0.1), (R(3, 4),)),
    ("nan_to_num", lambda m, a: m.nan_to_num(
        m.where(a > 1, float("inf"), m.where(a < -1, float("nan"), a)), nan=0.5, posinf=9.0),
     (R(3, 4),)),
    ("logical_and", lambda m, a, b: m.logical_and(a, b), (B(2, 3), B(3))),
    ("logical_or", lambda m, a, b: a.logical_or(b), (B(2, 3), B(2, 3))),
    ("logical_xor", lambda m, a, b: m.logical_xor(a, b), (B(2, 3), B(2, 3))),
    ("bitwise", lambda m, a, b: (m.bitwise_and(a, b), a.bitwise_or(b), m.bitwise_xor(a, b),
                                 m.bitwise_not(a), a ^ b), (I(16, 5), I(16, 5))),
    ("isclose", lambda m, a, b: m.isclose(a, a + b * 1e-6, rtol=1e-6), (R(20), R(20))),
    ("where_1arg", lambda m, a: m.where(a > 0), (R(3, 4),)),
    ("i0", lambda m, x: m.i0(x), (R(5),)),
    ("xlogy", lambda m, x, y: m.xlogy(x * (x > 0), y), (R(3, 4), P(4))),
    ("xlogy_method", lambda m, x, y: x.xlogy(y), (R(3, 4), P(3, 4))),
    ("copysign", lambda m, a, b: m.copysign(a, b), (R(3, 4), R(4))),
    ("fmax_fmin", lambda m, a, b: (m.fmax(a, b), a.fmin(b)), (D(3, 4), D(3, 4))),
    ("fmax_nan", lambda m, a, b: m.fmax(m.where(a > 0.5, float("nan"), a), b), (R(3, 4), R(4))),
    ("maximum_minimum_methods", lambda m, a, b: (a.maximum(b), a.minimum(b)), (D(3, 4), D(4))),
    ("logit", lambda m, p: m.logit(p), (rng.uniform(0.05, 0.95, (3, 4)),)),
    ("logit_eps", lambda m, p: p.logit(eps=0.2), (rng.uniform(0.05, 0.95, (3, 4)),)),
    # (PyTorch's own gradient of ldexp is 0 for negative integer exponents: 2 ** -1 in int)
    ("ldexp", lambda m, a, e: m.ldexp(a, e), (R(3, 4), I(4, 4))),
    ("polygamma", lambda m, x: (m.polygamma(1, x), x.polygamma(2)), (P(5),)),
    ("gcd_lcm", lambda m, a, b: (m.gcd(a, b), a.lcm(b)), (I(30, 6), I(30, 6) + 1)),
    # ------------------------------------------------------------------ reductions / scans
    *[(f"cumsum_dim{d}", lambda m, x, d=d: m.cumsum(x, d), (R(3, 4, 2),)) for d in (0, -1, 1)],
    ("cumsum_int", lambda m, x: m.cumsum(x, 0), (I(5, 4, 2),)),
    ("cumsum_dtype", lambda m, x: x.cumsum(1, dtype=m.float64), (I(5, 4, 2),)),
    *[(f"cumprod_dim{d}", lambda m, x, d=d: m.cumprod(x, d), (R(3, 4, 2),)) for d in (0, -1)],
    ("cumprod_zeros", lambda m, x: m.cumprod(x * (x > -0.5), 1), (R(4, 6),)),
    ("cummax", lambda m, x: m.cummax(x, 1), (D(3, 5),)),
    ("cummin", lambda m, x: x.cummin(0), (D(4, 3),)),
    ("logsumexp", lambda m, x: m.logsumexp(x, 1), (R(3, 4, 2),)),
    ("logsumexp_keep", lambda m, x: x.logsumexp((0, -1), keepdim=True), (R(3, 4, 2) * 30,)),
    ("logsumexp_neg_inf", lambda m, x: m.logsumexp(x.masked_fill(x > 0, -float("inf")), 1),
     (R(3, 4),)),
    ("var_mean", lambda m, x: m.var_mean(x, 1, correction=0), (R(3, 4),)),
    ("std_mean", lambda m, x: m.std_mean(x, (0, 1), keepdim=True), (R(3, 4, 2),)),
    ("nansum", lambda m, x: m.nansum(m.where(x > 1, float("nan"), x), 0), (R(5, 3),)),
    ("nanmean", lambda m, x: x.nanmean(), (R(5, 3),)),
    ("aminmax", lambda m, x: m.aminmax(x, dim=1), (D(3, 4),)),
    ("diff", lambda m, x: m.diff(x, n=2, dim=0), (R(5, 3),)),
    ("diff_prepend", lambda m, x, p: x.diff(dim=1, prepend=p), (R(3, 4), R(3, 2))),
    ("logcumsumexp", lambda m, x: m.logcumsumexp(x, 1), (R(3, 5) * 3,)),
    ("logcumsumexp_large", lambda m, x: x.logcumsumexp(0), (R(6, 2) * 200,)),
    *[(f"quantile_{how}", lambda m, x, how=how: m.quantile(x, 0.3, dim=1, interpolation=how),
       (D(3, 6),)) for how in ("linear", "lower", "higher", "midpoint", "nearest")],
    ("quantile_q_tensor", lambda m, x: x.quantile(m.tensor([0.1, 0.5, 0.9],
                                                          dtype=m.float64), 0, keepdim=True),
     (D(5, 3),)),
    ("quantile_all", lambda m, x: m.quantile(x, 0.75), (D(3, 4),)),
    ("quantile_all_keepdim", lambda m, x: m.quantile(x, m.tensor([0.2, 0.6], dtype=m.float64),
                                                     keepdim=True), (D(3, 4),)),
    ("trapezoid", lambda m, y, x: (m.trapezoid(y), m.trapezoid(y, x), m.trapezoid(y, dx=0.5,
                                                                                  dim=0)),
     (R(3, 5), np.sort(R(5)))),
    ("trapz_cumulative", lambda m, y: (m.trapz(y, dim=0), m.cumulative_trapezoid(y, dx=2.0)),
     (R(3, 5),)),
    ("cov_corrcoef", lambda m, x: (m.cov(x), x.cov(correction=0), m.corrcoef(x), m.cov(x[0])),
     (R(3, 6),)),
    ("cov_weights", lambda m, x, f, a: m.cov(x, fweights=f, aweights=a), (R(3, 6), I(4, 6) + 1,
                                                                          P(6))),
    ("dist", lambda m, a, b: (m.dist(a, b), a.dist(b, 3)), (R(3, 4), R(4))),
    ("histc", lambda m, x: (m.histc(x, 5), x.histc(4, -1, 1)), (R(20),)),
    # ------------------------------------------------------------------ indexing
    ("gather", lambda m, x, i: m.gather(x, 1, i), (R(3, 4), I(4, 3, 5))),
    ("gather_neg_dim", lambda m, x, i: x.gather(-2, i), (R(3, 4), I(3, 2, 4))),
    ("gather_repeat", lambda m, x, i: x.gather(0, i), (R(3, 4), I(3, 6, 2))),
    ("scatter_src", lambda m, x, s: m.scatter(x, 1, m.tensor([[0, 2], [3, 1]]), s),
     (R(2, 4), R(2, 2))),
    ("scatter_value", lambda m, x: x.scatter(0, m.tensor([[2, 0, 1]]), 1.5), (R(3, 4),)),
    ("scatter_add", lambda m, x, i, s: m.scatter_add(x, 0, i, s), (R(3, 4), I(3, 5, 4), R(5, 4))),
    ("index_select", lambda m, x, i: m.index_select(x, 1, i), (R(3, 4, 2), I(4, 6))),
    ("index_select_neg", lambda m, x, i: x.index_select(-1, i), (R(3, 4), I(4, 3))),
    ("index_select_0d", lambda m, x, i: x.index_select(0, i), (R(3, 4), np.array(1))),
    ("index_add", lambda m, x, s: m.index_add(x, 0, m.tensor([0, 2, 0]), s, alpha=2),
     (R(3, 4), R(3, 4))),
    ("index_copy", lambda m, x, s: x.index_copy(1, m.tensor([3, 0]), s), (R(3, 4), R(3, 2))),
    ("index_fill", lambda m, x: x.index_fill(1, m.tensor([1, 3]), -2.0), (R(3, 4),)),
    ("masked_select", lambda m, x: m.masked_select(x, x > 0.2), (R(3, 4),)),
    ("masked_select_bcast", lambda m, x, k: x.masked_select(k), (R(3, 4), B(4))),
    ("masked_scatter", lambda m, x, s: x.masked_scatter(x > 0, s), (R(3, 4), R(4, 4))),
    ("nonzero", lambda m, x: m.nonzero(x > 0), (R(3, 4, 2),)),
    ("nonzero_tuple", lambda m, x: x.nonzero(as_tuple=True), (R(3, 4) > 0,)),
    ("argwhere", lambda m, x: m.argwhere(x), (B(3, 4),)),
    ("count_nonzero", lambda m, x: (m.count_nonzero(x), x.count_nonzero(1)), (B(3, 4),)),
    ("take", lambda m, x, i: m.take(x, i - 6), (R(3, 4), I(12, 2, 3))),
    ("take_along_dim", lambda m, x, i: m.take_along_dim(x, i, dim=1), (R(3, 4), I(4, 1, 2))),
    ("take_along_dim_flat", lambda m, x, i: m.take_along_dim(x, i), (R(3, 4), I(12, 5))),
    *[(f"scatter_reduce_{how}_{inc}",
       lambda m, x, i, src, how=how, inc=inc: m.scatter_reduce(x, 1, i, src, how,
                                                                include_self=inc),
       # src interleaves with x, equal to none of it (PyTorch counts an equal self value
       # as a tie of amax/amin even with include_self=False)
       (D(3, 5) + 3, np.array([[0, 1, 0, 4], [2, 2, 2, 2], [1, 3, 3, 1]]), D(3, 4) + 3.05))
      for how in ("sum", "prod", "mean", "amax", "amin") for inc in (True, False)],
    ("scatter_reduce_amax_ties", lambda m, x, s: x.scatter_reduce(0, m.tensor([[0, 0, 1]]),
                                                                 s, "amax"),
     (np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), np.array([[1.0, 0.0, 6.0]]))),
    ("index_put", lambda m, x, v: m.index_put(x, (m.tensor([0, 2]), m.tensor([1, 3])), v),
     (R(3, 4), R(2))),
    ("index_put_accumulate", lambda m, x, v: x.index_put((m.tensor([0, 0, 2]),), v,
                                                         accumulate=True), (R(3, 4), R(4))),
    ("index_put_bool", lambda m, x, v: x.index_put((x > 0,), v), (R(3, 4), R(1))),
    ("put", lambda m, x, v: m.put(x, m.tensor([0, -1, 5]), v), (R(3, 4), R(3))),
    ("put_accumulate", lambda m, x, v: x.put(m.tensor([[1, 1]]), v, accumulate=True),
     (R(3, 4), R(1, 2))),
    # ------------------------------------------------------------------ sorting
    *[(f"sort_{d}_{desc}", lambda m, x, d=d, desc=desc: m.sort(x, d, descending=desc),
       (D(3, 4, 5),)) for d in (0, -1) for desc in (False, True)],
    ("sort_stable_ties", lambda m, x: m.sort(x, stable=True, descending=True),
     (np.round(R(3, 8)),)),
    ("argsort", lambda m, x: m.argsort(x, dim=1, descending=True), (D(3, 5),)),
    ("msort", lambda m, x: m.msort(x), (D(4, 3),)),
    *[(f"topk_{largest}", lambda m, x, largest=largest: m.topk(x, 3, 0, largest),
       (D(6, 4),)) for largest in (True, False)],
    ("topk_method", lambda m, x: x.topk(2), (D(3, 5),)),
    *[(f"topk_partition_{largest}", lambda m, x, largest=largest: x.topk(3, 1, largest),
       (D(4, 20),)) for largest in (True, False)],
    # which of equal values PyTorch's topk returns is unspecified: values only
    ("topk_partition_ties", lambda m, x: m.topk(x, 4).values, (I(3, 5, 30),)),
    ("topk_0d", lambda m, x: m.topk(x, 1), (np.array(1.5),)),
    ("kthvalue", lambda m, x: m.kthvalue(x, 2, 1, keepdim=True), (D(3, 5),)),
    ("median_all", lambda m, x: m.median(x), (D(3, 4),)),
    ("median_dim", lambda m, x: x.median(0), (D(4, 3),)),
    ("mode", lambda m, x: m.mode(x, 1), (I(3, 4, 7).astype(float),)),
    ("unique", lambda m, x: m.unique(x, return_inverse=True, return_counts=True),
     (I(5, 3, 4),)),
    ("unique_dim", lambda m, x: m.unique(x, dim=0, return_inverse=True),
     (I(2, 6, 2),)),
    ("unique_consecutive", lambda m, x: m.unique_consecutive(x, return_inverse=True,
                                                             return_counts=True),
     (np.array([1, 1, 2, 2, 3, 1, 1, 2]),)),
    *[(f"searchsorted_{side}", lambda m, s, v, side=side: m.searchsorted(s, v, side=side),
       (np.sort(I(6, 8)), I(7, 3, 2))) for side in ("left", "right")],
    ("searchsorted_nd", lambda m, s, v: m.searchsorted(s, v, right=True),
     (np.sort(R(3, 5), 1), R(3, 4))),
    *[(f"bucketize_{right}", lambda m, x, b, right=right: m.bucketize(x, b, right=right),
       (I(8, 3, 4).astype(float), np.array([1.0, 3.0, 5.0]))) for right in (False, True)],
    ("isin", lambda m, x, t: m.isin(x, t), (I(6, 3, 4), np.array([1, 3]))),
    # ------------------------------------------------------------------ linear algebra
    ("einsum_matmul", lambda m, a, b: m.einsum("ij,jk->ik", a, b), (R(3, 4), R(4, 2))),
    ("einsum_batched", lambda m, a, b: m.einsum("bhqd,bhkd->bhqk", a, b),
     (R(2, 3, 4, 5), R(2, 3, 6, 5))),
    ("einsum_ellipsis", lambda m, a, b: m.einsum("...ij,...jk", a, b), (R(2, 3, 4), R(4, 5))),
    ("einsum_broadcast", lambda m, a, b: m.einsum("bij,bjk->bik", a, b),
     (R(1, 3, 4), R(2, 4, 5))),
    ("einsum_trace_diag", lambda m, a: (m.einsum("ii", a), m.einsum("ii->i", a)), (R(4, 4),)),
    ("einsum_sum_outer", lambda m, a, b: m.einsum("ij,k->jk", a, b), (R(3, 4), R(5))),
    ("einsum_list", lambda m, a, b, c: m.einsum("i,i,i->", [a, b, c]), (R(4), R(4), R(4))),
    ("einsum_spaces", lambda m, a: m.einsum("b n d -> b d n", a), (R(2, 3, 4),)),
    ("tensordot_int", lambda m, a, b: m.tensordot(a, b, 2), (R(2, 3, 4), R(3, 4, 5))),
    ("tensordot_lists", lambda m, a, b: m.tensordot(a, b, ([0, 2], [1, 0])),
     (R(2, 3, 4), R(4, 2, 5))),
    ("outer", lambda m, a, b: m.outer(a, b), (R(3), R(4))),
    ("mv", lambda m, a, b: a.mv(b), (R(3, 4), R(4))),
    ("addmm", lambda m, c, a, b: m.addmm(c, a, b, beta=0.5, alpha=2), (R(3), R(3, 4), R(4, 3))),
    ("addmv", lambda m, c, a, b: m.addmv(c, a, b), (R(3), R(3, 4), R(4))),
    ("addr", lambda m, c, a, b: c.addr(a, b, alpha=3), (R(3, 4), R(3), R(4))),
    ("baddbmm", lambda m, c, a, b: m.baddbmm(c, a, b, beta=-1, alpha=0.5),
     (R(2, 3, 5), R(2, 3, 4), R(2, 4, 5))),
    ("baddbmm_beta0", lambda m, c, a, b: m.baddbmm(c, a, b, beta=0), (R(1, 3), R(2, 3, 4),
                                                                     R(2, 4, 3))),
    ("addbmm", lambda m, c, a, b: m.addbmm(c, a, b), (R(3, 5), R(2, 3, 4), R(2, 4, 5))),
    ("kron", lambda m, a, b: m.kron(a, b), (R(2, 3), R(3, 2))),
    ("kron_mixed_ndim", lambda m, a, b: m.kron(a, b), (R(2, 3, 2), R(4))),
    ("cross", lambda m, a, b: m.cross(a, b, dim=1), (R(4, 3), R(4, 3))),
    *[(f"cdist_p{p}", lambda m, a, b, p=p: m.cdist(a, b, p=p), (R(2, 4, 3), R(2, 5, 3)))
      for p in (2.0, 1.0, 3.0, float("inf"))],
    ("cdist_zero_distance", lambda m, a: m.cdist(a, a), (R(4, 3),)),
    ("cdist_broadcast", lambda m, a, b: m.cdist(a, b), (R(2, 4, 3), R(5, 3))),
    ("cdist_mm", lambda m, a, b: m.cdist(a, b), (R(30, 4), R(27, 4))),
    ("cdist_mm_forced", lambda m, a, b: m.cdist(a, b, compute_mode="use_mm_for_euclid_dist"),
     (R(2, 5, 3), R(2, 4, 3))),
    *[(f"tril_{k}", lambda m, x, k=k: m.tril(x, k), (R(2, 4, 5),)) for k in (0, 1, -2)],
    *[(f"triu_{k}", lambda m, x, k=k: x.triu(k), (R(4, 5),)) for k in (0, 2, -1)],
    ("diag_vector", lambda m, x: (m.diag(x), m.diag(x, -2)), (R(4),)),
    ("diag_matrix", lambda m, x: (m.diag(x), x.diag(1), m.diag(x, -3)), (R(4, 5),)),
    ("diagonal", lambda m, x: m.diagonal(x, 1, 0, 2), (R(3, 2, 4),)),
    ("diagonal_neg", lambda m, x: x.diagonal(-1, -1, -2), (R(2, 4, 3),)),
    ("diag_embed", lambda m, x: m.diag_embed(x, 1, 0, 2), (R(3, 2),)),
    ("trace", lambda m, x: m.trace(x), (R(3, 4),)),
    ("det", lambda m, a: (m.det(a), a.det()), (R(2, 3, 3),)),
    ("det_singular", lambda m, a: m.det(a * m.tensor([1.0, 1.0, 0.0], dtype=m.float64)),
     (R(3, 3),)),
    ("inverse", lambda m, a: m.inverse(a), (R(2, 3, 3) + 3 * np.eye(3),)),
    ("slogdet", lambda m, a: m.slogdet(a), (R(2, 3, 3),)),
    ("logdet", lambda m, a: (m.logdet(a @ a.mT), (a @ a.mT + m.eye(3, dtype=m.float64)).logdet()),
     (R(3, 3),)),
    ("logdet_negative_det", lambda m, a: m.logdet(a),
     (np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.0, -2.0]]),)),
    ("cholesky", lambda m, a: m.cholesky(a @ a.mT + m.eye(3, dtype=m.float64)), (R(2, 3, 3),)),
    ("cholesky_upper", lambda m, a: (a @ a.mT + m.eye(3, dtype=m.float64)).cholesky(upper=True),
     (R(3, 3),)),
    ("matrix_exp", lambda m, a: m.matrix_exp(a), (R(2, 3, 3),)),
    *[(f"matrix_power_{n}", lambda m, a, n=n: m.matrix_power(a, n), (R(2, 3, 3) + 2 * np.eye(3),))
      for n in (0, 1, 3, 6, -2)],
    ("inner", lambda m, a, b: (m.inner(a, b), m.inner(a[0, 0], b)), (R(2, 3, 4), R(5, 4))),
    ("vdot_ger", lambda m, a, b: (m.vdot(a, b), m.ger(a, b)), (R(4), R(4))),
    ("diagflat", lambda m, x: (m.diagflat(x), x.diagflat(-1)), (R(2, 2),)),
    # ------------------------------------------------------------------ shape
    ("roll_flat", lambda m, x: m.roll(x, 2), (R(3, 4),)),
    ("roll_dims", lambda m, x: m.roll(x, shifts=(-1, 3), dims=(1, 2)), (R(2, 3, 4),)),
    ("roll_method", lambda m, x: x.roll(-5, -1), (R(2, 3),)),
    ("flip", lambda m, x: m.flip(x, [0, 2]), (R(2, 3, 4),)),
    ("flip_method", lambda m, x: x.flip(-1), (R(2, 3),)),
    ("fliplr_flipud", lambda m, x: (m.fliplr(x), m.flipud(x)), (R(3, 4),)),
    *[(f"rot90_{k}", lambda m, x, k=k: m.rot90(x, k, [1, 2]), (R(2, 3, 4),))
      for k in (1, 2, 3, -1)],
    ("repeat_interleave_int", lambda m, x: m.repeat_interleave(x, 2, dim=1), (R(3, 2),)),
    ("repeat_interleave_flat", lambda m, x: x.repeat_interleave(3), (R(2, 2),)),
    ("repeat_interleave_tensor", lambda m, x: m.repeat_interleave(x, m.tensor([1, 0, 3]), 0),
     (R(3, 2),)),
    ("repeat_interleave_counts", lambda m: m.repeat_interleave(m.tensor([2, 0, 3])), ()),
    ("tile", lambda m, x: m.tile(x, (2, 1, 3)), (R(3, 2),)),
    ("broadcast_to", lambda m, x: m.broadcast_to(x, (2, 3, 4)), (R(3, 1),)),
    ("broadcast_to_keep", lambda m, x: x.broadcast_to((-1, 4)), (R(3, 1),)),
    ("broadcast_tensors", lambda m, a, b: m.broadcast_tensors(a, b), (R(3, 1), R(1, 4))),
    *[(f"meshgrid_{ix}", lambda m, a, b, c, ix=ix: m.meshgrid(a, b, c, indexing=ix),
       (R(2), R(3), R(4))) for ix in ("ij", "xy")],
    ("meshgrid_list", lambda m, a, b: m.meshgrid([a, b], indexing="ij"), (R(2), R(3))),
    ("unfold", lambda m, x: x.unfold(1, 3, 2), (R(2, 7, 3),)),
    ("unfold_overlap", lambda m, x: x.unfold(-1, 4, 1), (R(3, 6),)),
    ("sum_to_size", lambda m, x: x.sum_to_size(3, 1), (R(2, 3, 4),)),
    ("movedim", lambda m, x: m.movedim(x, (0, 1), (2, 0)), (R(2, 3, 4),)),
    ("moveaxis_swapdims", lambda m, x: (m.moveaxis(x, -1, 0), x.swapdims(0, 2)), (R(2, 3, 4),)),
    ("select", lambda m, x: m.select(x, 1, -1), (R(2, 3, 4),)),
    ("ravel", lambda m, x: m.ravel(x.transpose(0, 1)), (R(2, 3),)),
    ("stacks", lambda m, a, b: (m.hstack([a, b]), m.vstack([a, b]), m.dstack([a, b]),
                                m.column_stack([a, b]), m.row_stack([a, b])), (R(2, 3), R(2, 3))),
    ("stacks_1d", lambda m, a, b: (m.hstack([a, b]), m.vstack([a, b]), m.column_stack([a, b])),
     (R(3), R(3))),
    ("atleast", lambda m, a, b, c: (m.atleast_1d(a), m.atleast_2d(b), m.atleast_3d(c),
                                    m.atleast_3d(b), m.atleast_2d(a, c)),
     (np.array(2.0), R(3), R(2, 3))),
    ("tensor_split_sections", lambda m, x: m.tensor_split(x, 3, dim=1), (R(2, 7),)),
    ("tensor_split_indices", lambda m, x: x.tensor_split([1, 4, 9]), (R(7, 2),)),
    ("hsplit_vsplit_dsplit", lambda m, x: (m.hsplit(x, 2), m.vsplit(x, [1]), m.dsplit(x, 2)),
     (R(2, 4, 6),)),
    ("split_with_sizes", lambda m, x: x.split_with_sizes([1, 3], 1), (R(2, 4),)),
    ("block_diag", lambda m, a, b, c: m.block_diag(a, b, c), (R(2, 3), R(1), R(2, 2))),
    ("cartesian_prod", lambda m, a, b: m.cartesian_prod(a, b), (R(3), R(2))),
    ("combinations", lambda m, x: (m.combinations(x), m.combinations(x, 3, True)), (R(4),)),
    # ------------------------------------------------------------------ attributes
    ("casts", lambda m, x: (x.byte(), x.char(), x.short(), x.new(2, 3).shape, x.new([1, 2])),
     (I(9, 4) - 4,)),
    ("conj_adjoint", lambda m, x: (x.conj(), x.resolve_conj(), x.mH, x.adjoint(),
                                   m.adjoint(x)), (R(2, 3, 4),)),
    ("H_matrix", lambda m, x: x.H, (R(3, 4),)),
    ("narrow_copy_unsafe", lambda m, x: (x.narrow_copy(1, 1, 2), x.unsafe_chunk(2),
                                         x.unsafe_split(1, 1), x.unsafe_split_with_sizes([2, 2],
                                                                                         1)),
     (R(4, 4),)),
    ("where_method", lambda m, x, y: x.where(x > 0, y), (R(3, 4), R(4))),
    ("fill_diagonal_", lambda m, x: (x * 1).fill_diagonal_(2.5), (R(4, 3),)),
    ("fill_diagonal_wrap", lambda m, x: (x * 1).fill_diagonal_(-1.0, wrap=True), (R(7, 3),)),
    ("all_any_keepdim", lambda m, x: (x.all(1, keepdim=True), x.any((0, 2)), m.all(x, -1),
                                      x.any(dim=0, keepdim=True)), (B(3, 4, 2),)),
    ("softmax_dtype", lambda m, x: (x.softmax(-1, dtype=m.float64),
                                    x.log_softmax(0, dtype=m.float64)), (R(3, 4),)),
    ("new_kwargs", lambda m, x: (x.new_zeros((2, 3), dtype=m.int64, device=x.device),
                                 x.new_ones(2, device="cpu"), x.new_full((2,), 7.0,
                                                                         device=x.device),
                                 x.new_tensor([1, 2], dtype=m.int32), x.new_empty(3).shape),
     (R(3, 4),)),
    ("flip_dims_keyword", lambda m, x: (x.flip(dims=[0, 1]), m.flip(x, dims=(1,))),
     (R(3, 4),)),
    ("view_in_place", lambda m, x: ((x * 1).unsqueeze_(0), (x * 1).t_(), (x * 1).transpose_(0, 1),
                                    (x * 1).unsqueeze_(-1).squeeze_(), (x * 1).swapdims_(1, 0)),
     (R(3, 4),)),
    ("copies", lambda m, x: (m.expand_copy(x[:1], (2, 4)), m.permute_copy(x, (1, 0)),
                             m.view_copy(x, (4, 3)), m.t_copy(x), m.diagonal_copy(x),
                             m.select_copy(x, 1, 2), m.slice_copy(x, 1, 1, 4, 2),
                             m.split_copy(x, 2), m.unbind_copy(x, 1), m.alias_copy(x),
                             m.unfold_copy(x, 1, 2, 1)), (R(3, 4),)),
    ("select_slice_scatter", lambda m, x, a, b: (m.select_scatter(x, a, 0, -1),
                                                 x.slice_scatter(b, 1, 0, 4, 2)),
     (R(3, 4), R(4), R(3, 2))),
    ("diagonal_scatter", lambda m, x, d: m.diagonal_scatter(x, d, 1), (R(3, 4), R(3))),
    ("index_reduce", lambda m, x, s: (m.index_reduce(x, 0, m.tensor([0, 2, 0]), s, "amax"),
                                      x.index_reduce(1, m.tensor([1, 1]), s[:, :2], "mean",
                                                     include_self=False)),
     (D(3, 4), D(3, 4) + 0.05)),
    ("nonzero_static", lambda m, x: (m.nonzero_static(x, size=4), x.nonzero_static(size=20,
                                                                                  fill_value=7)),
     (B(3, 4),)),
    ("unravel_index", lambda m, i: m.unravel_index(i - 30, (4, 3, 5)), (I(60, 7),)),
    ("renorm", lambda m, x: (m.renorm(x, 2, 0, 1.5), x.renorm(1, 1, 2.0)), (R(3, 4),)),
    ("frobenius_norm", lambda m, x: (m.frobenius_norm(x, (0, 1)), m.frobenius_norm(x, (1,), True)),
     (R(3, 4),)),
    ("chain_matmul", lambda m, a, b, c: m.chain_matmul(a, b, c), (R(2, 3), R(3, 4), R(4, 2))),
    ("angle", lambda m, x: m.angle(x) * x, (R(6),)),
    ("mvlgamma", lambda m, x: (m.mvlgamma(x, 3), x.mvlgamma(1)), (P(5) + 1.5,)),
    ("rsub", lambda m, a, b: (m.rsub(a, b, alpha=2), m.rsub(a, 3.0)), (R(3), R(3))),
    ("fill", lambda m, x: m.fill(x, 2.5) + x, (R(3, 2),)),
    ("frexp", lambda m, x: m.frexp(x * 100), (R(5),)),
    ("shifts", lambda m, a, b: (m.bitwise_left_shift(a, b), a.bitwise_right_shift(b)),
     (I(100, 5), I(4, 5))),
    ("real_dim_order", lambda m, x: (x.real, x.transpose(0, 1).dim_order(), x.hardshrink(0.3),
                                     x.prelu(m.tensor([0.25], dtype=m.float64))), (R(3, 4),)),
    ("constant_pad_nd", lambda m, x: m.constant_pad_nd(x, (1, 2, 0, 1), 0.5), (R(2, 3),)),
    ("comparison_aliases", lambda m, a, b: (a.greater(b), m.greater_equal(a, b), a.less(b),
                                            m.less_equal(a, b), a.not_equal(b), m.absolute(a)),
     (I(3, 5) * 1.0, I(3, 5) * 1.0)),
]


# torch.<name> = nn.functional.<name>: PyTorch's positional signatures
FUNCTIONAL = [
    ("conv1d", (R(2, 3, 8), R(4, 3, 3), R(4), 1, 1)),
    ("conv2d", (R(2, 3, 6, 6), R(4, 3, 3, 3), R(4), 2, 1)),
    ("conv3d", (R(1, 2, 4, 4, 4), R(3, 2, 2, 2, 2))),
    ("conv_transpose1d", (R(2, 3, 5), R(3, 4, 3), R(4), 2)),
    ("conv_transpose2d", (R(1, 3, 4, 4), R(3, 2, 3, 3), None, 2, 1, 1)),
    ("conv_transpose3d", (R(1, 2, 3, 3, 3), R(2, 2, 2, 2, 2))),
    ("avg_pool1d", (R(2, 3, 8), 3, 2, 1)),
    ("max_pool1d", (D(2, 3, 8), 2)),
    ("max_pool2d", (D(2, 3, 6, 6), 3, 2, 1)),
    ("max_pool3d", (D(1, 2, 4, 4, 4), 2)),
    ("adaptive_avg_pool1d", (R(2, 3, 8), 3)),
    ("dropout", (R(2, 3), 0.5, False)),
    ("alpha_dropout", (R(2, 3), 0.5, False)),
    ("feature_alpha_dropout", (R(2, 3, 4), 0.5, False)),
    ("layer_norm", (R(2, 3, 4), (4,), R(4), R(4), 1e-5)),
    ("group_norm", (R(2, 4, 3), 2, R(4), R(4))),
    ("rms_norm", (R(2, 3, 4), (4,), R(4), 1e-6)),
    ("pixel_shuffle", (R(1, 8, 2, 2), 2)),
    ("pixel_unshuffle", (R(1, 2, 4, 4), 2)),
    ("channel_shuffle", (R(1, 4, 2, 2), 2)),
    ("prelu", (R(2, 3, 4), P(3))),
    ("selu", (R(2, 3),)),
    ("celu", (R(2, 3), 0.5)),
    ("rrelu", (R(2, 3), 0.1, 0.3, False)),
    ("threshold", (R(2, 3), 0.1, -1.0)),
    ("hardshrink", (R(2, 3), 0.5)),
    ("bilinear", (R(3, 4), R(3, 5), R(2, 4, 5), R(2))),
    ("cosine_similarity", (R(3, 4), R(3, 4), 1)),
    ("pairwise_distance", (R(3, 4), R(3, 4), 2.0)),
    ("pdist", (R(4, 3), 2.0)),
]


@pytest.mark.parametrize("name,args", FUNCTIONAL, ids=[c[0] for c in FUNCTIONAL])
def test_functional_aliases_against_torch(name, args):
    arrays = [(i, a) for i, a in enumerate(args) if isinstance(a, np.ndarray)]

    def call(module, *xs):
        full = list(args)
        for (i, _), x in zip(arrays, xs):
            full[i] = x
        return getattr(module, name)(*full)

    if name == "channel_shuffle":  # PyTorch's channel_shuffle has no autograd formula
        with torch.no_grad():
            expected = call(torch, *(torch.from_numpy(a) for _, a in arrays))
        assert_close(call(nncheck, *(nncheck.from_numpy(a) for _, a in arrays)), expected)
        return
    compare_function(lambda *xs: call(nncheck, *xs), lambda *xs: call(torch, *xs),
                     *(a for _, a in arrays))


IN_PLACE_FUNCTIONS = ["abs_", "relu_", "sigmoid_", "tanh_", "exp_", "erf_", "log1p_", "frac_",
                      "clamp_min_", "rsqrt_", "square_", "negative_"]


@pytest.mark.parametrize("name", IN_PLACE_FUNCTIONS)
def test_in_place_functions_against_torch(name):
    args = (0.1,) if name == "clamp_min_" else ()

    def run(m, x):
        y = x * 1
        assert getattr(m, name)(y, *args) is y
        return y

    compare_function(lambda x: run(nncheck, x), lambda x: run(torch, x), P(3, 4))


@pytest.mark.filterwarnings("ignore:torch.cholesky is deprecated",
                            "ignore:torch.chain_matmul is deprecated",
                            "ignore:.*frobenius_norm is deprecated",
                            "ignore:index_reduce\\(\\) is in beta")
@pytest.mark.parametrize("fn,inputs", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_against_torch(fn, inputs):
    compare_function(lambda *xs: fn(nncheck, *xs), lambda *xs: fn(torch, *xs), *inputs)


# in-place methods: the same values and gradients as the out-of-place function
INPLACE = [
    ("scatter_", lambda m, x, s: x.scatter_(1, m.tensor([[2], [0]]), s), (R(2, 3), R(2, 1))),
    ("scatter_add_", lambda m, x, s: x.scatter_add_(0, m.tensor([[1, 1, 0]]), s),
     (R(2, 3), R(1, 3))),
    ("index_add_", lambda m, x, s: x.index_add_(0, m.tensor([1, 1]), s), (R(2, 3), R(2, 3))),
    ("cumsum_", lambda m, x, s: x.cumsum_(1), (R(2, 3), R(1))),
    ("tril_", lambda m, x, s: x.tril_(-1), (R(3, 3), R(1))),
    ("triu_", lambda m, x, s: x.triu_(), (R(3, 3), R(1))),
    ("lerp_", lambda m, x, s: x.lerp_(s, 0.25), (R(2, 3), R(3))),
    ("addcmul_", lambda m, x, s: x.addcmul_(s, s, value=2), (R(2, 3), R(3))),
    ("erf_", lambda m, x, s: x.erf_(), (R(2, 3), R(1))),
    ("masked_scatter_", lambda m, x, s: x.masked_scatter_(x > 0, s), (R(2, 3), R(6))),
    ("baddbmm_", lambda m, x, s: x.baddbmm_(s, s.transpose(1, 2)), (R(1, 2, 2), R(1, 2, 3))),
]


# values only: PyTorch has no gradient for these (nncheck's is checked by gradcheck below)
NO_GRAD = [
    ("scatter_reduce_add", lambda m, x: x.scatter(1, m.tensor([[0, 0, 3]]), 2.0, reduce="add"),
     (R(2, 4),)),
    ("bincount", lambda m, x, w: (m.bincount(x), x.bincount(w, minlength=9)), (I(6, 10), R(10))),
    ("vander", lambda m, x: (m.vander(x), m.vander(x, 3, increasing=True)),
     (np.array([0.0, 1.5, -2.0, 0.5]),)),
    ("histogram", lambda m, x, w: (m.histogram(x, 5), x.histogram(4, range=(-1.0, 1.0), weight=w,
                                                                 density=True)),
     (R(30), P(30))),
    ("histogram_edges", lambda m, x: m.histogram(x, m.tensor([-2.0, 0.0, 0.5, 3.0],
                                                             dtype=m.float64)), (R(30),)),
    ("nextafter", lambda m, a, b: m.nextafter(a, b), (R(5), R(5))),
]


@pytest.mark.parametrize("fn,inputs", [c[1:] for c in NO_GRAD], ids=[c[0] for c in NO_GRAD])
def test_values_against_torch(fn, inputs):
    compare_function(lambda *xs: fn(nncheck, *xs), lambda *xs: fn(torch, *xs), *inputs,
                     grad=False)


@pytest.mark.parametrize("fn,inputs", [c[1:] for c in INPLACE], ids=[c[0] for c in INPLACE])
def test_in_place_against_torch(fn, inputs):
    def run(m, x, s):
        return fn(m, x * 1, s)  # in place on a non-leaf, so the gradient reaches x

    compare_function(lambda *xs: run(nncheck, *xs), lambda *xs: run(torch, *xs), *inputs)


def test_in_place_bumps_version_and_returns_self():
    x = nncheck.zeros(2, 3)
    before = x._version.value
    assert x.scatter_(0, nncheck.tensor([[1, 0, 1]]), 1.0) is x
    assert x._version.value == before + 1
    np.testing.assert_array_equal(x.numpy(), [[0, 1, 0], [1, 0, 1]])


def test_storage_offset_of_views():
    x = nncheck.arange(24.0).reshape(2, 3, 4)
    t = torch.arange(24.0).reshape(2, 3, 4)
    for view in (lambda a: a, lambda a: a[1], lambda a: a[:, 2], lambda a: a[1, 1:, 2:],
                 lambda a: a.narrow(2, 1, 2), lambda a: a.transpose(0, 2)[3]):
        assert view(x).storage_offset() == view(t).storage_offset()


def test_inference_mode_context_and_decorator():
    x = nncheck.ones(2, requires_grad=True)
    assert not nncheck.is_inference_mode_enabled()
    with nncheck.inference_mode():
        assert nncheck.is_inference_mode_enabled() and not nncheck.is_grad_enabled()
        assert not (x * 2).requires_grad
    assert nncheck.is_grad_enabled() and (x * 2).requires_grad
    with nncheck.inference_mode(False):
        assert (x * 2).requires_grad

    @nncheck.inference_mode()
    def called():
        return x * 2

    @nncheck.inference_mode
    def bare():
        return x * 2

    assert not called().requires_grad and not bare().requires_grad
    assert (x * 2).requires_grad and not nncheck.is_inference_mode_enabled()


def test_dtype_information_like_torch():
    for n, t in ((nncheck.float32, torch.float32), (nncheck.float64, torch.float64),
                 (nncheck.float16, torch.float16)):
        a, b = nncheck.finfo(n), torch.finfo(t)
        assert (a.bits, a.eps, a.max, a.min, a.tiny, a.resolution) == \
            (b.bits, b.eps, b.max, b.min, b.tiny, b.resolution)
    assert nncheck.finfo().eps == torch.finfo().eps
    for n, t in ((nncheck.int64, torch.int64), (nncheck.uint8, torch.uint8),
                 (nncheck.int32, torch.int32)):
        a, b = nncheck.iinfo(n), torch.iinfo(t)
        assert (a.bits, a.min, a.max) == (b.bits, b.min, b.max)
    with pytest.raises(TypeError, match="floating point"):
        nncheck.finfo(nncheck.int64)
    with pytest.raises(TypeError, match="integer"):
        nncheck.iinfo(nncheck.float32)
    pairs = [("int64", "float16"), ("uint8", "int8"), ("int32", "int64"), ("bool", "int8"),
             ("float32", "float64"), ("bool", "float32")]
    for a, b in pairs:
        assert nncheck.promote_types(getattr(nncheck, a), getattr(nncheck, b)).name == \
            str(torch.promote_types(getattr(torch, a), getattr(torch, b))).split(".")[1]
    assert nncheck.get_default_dtype() is nncheck.float32
    x = nncheck.ones(2)
    assert nncheck.is_floating_point(x) and not nncheck.is_complex(x)
    assert nncheck.is_nonzero(nncheck.tensor([1.5]))


# ---------------------------------------------------------------------- bad input
def _torch_and_nncheck(make):
    return make(torch), make(nncheck)


BAD = [
    ("gather_oob", lambda m: m.zeros(3, 4).gather(1, m.tensor([[4]]))),
    ("gather_negative", lambda m: m.zeros(3, 4).gather(0, m.tensor([[-1]]))),
    ("gather_ndim", lambda m: m.zeros(3, 4).gather(0, m.zeros(2, 2, 2, dtype=m.long))),
    ("gather_too_big", lambda m: m.zeros(3, 4).gather(1, m.zeros(4, 1, dtype=m.long))),
    ("gather_float_index", lambda m: m.zeros(3, 4).gather(1, m.zeros(3, 1))),
    ("gather_bad_dim", lambda m: m.zeros(3, 4).gather(2, m.zeros(3, 1, dtype=m.long))),
    ("scatter_oob", lambda m: m.zeros(3, 4).scatter(0, m.tensor([[3]]), 1.0)),
    ("scatter_negative", lambda m: m.zeros(3, 4).scatter(1, m.tensor([[-1]]), 1.0)),
    ("scatter_src_small", lambda m: m.zeros(3, 4).scatter(0, m.zeros(4, 1, dtype=m.long),
                                                          m.ones(3, 1))),
    ("scatter_add_oob", lambda m: m.zeros(3, 4).scatter_add_(1, m.tensor([[9]]), m.ones(1, 1))),
    ("index_select_oob", lambda m: m.zeros(3, 4).index_select(0, m.tensor([3]))),
    ("index_select_negative", lambda m: m.zeros(3, 4).index_select(0, m.tensor([-1]))),
    ("index_select_2d_index", lambda m: m.zeros(3, 4).index_select(0, m.tensor([[0]]))),
    ("index_select_float", lambda m: m.zeros(3, 4).index_select(0, m.tensor([0.5]))),
    ("index_add_oob", lambda m: m.zeros(3, 4).index_add(0, m.tensor([5]), m.ones(1, 4))),
    ("index_add_shape", lambda m: m.zeros(3, 4).index_add(0, m.tensor([0]), m.ones(1, 3))),
    ("masked_select_shape", lambda m: m.zeros(3, 4).masked_select(m.ones(2, 4, dtype=m.bool))),
    ("masked_select_float", lambda m: m.zeros(3, 4).masked_select(m.ones(3, 4))),
    ("topk_k", lambda m: m.zeros(3, 4).topk(5)),
    ("sort_dim", lambda m: m.zeros(3, 4).sort(2)),
    ("kthvalue_k", lambda m: m.zeros(3, 4).kthvalue(5)),
    ("cumsum_dim", lambda m: m.zeros(3, 4).cumsum(-3)),
    ("roll_dim", lambda m: m.zeros(3, 4).roll(1, 5)),
    ("roll_mismatch", lambda m: m.zeros(3, 4).roll((1, 2), (0,))),
    ("flip_dim", lambda m: m.zeros(3, 4).flip(3)),
    ("unfold_size", lambda m: m.zeros(3, 4).unfold(1, 5, 1)),
    ("unfold_step", lambda m: m.zeros(3, 4).unfold(1, 2, 0)),
    ("sum_to_size", lambda m: m.zeros(3, 4).sum_to_size(2, 4)),
    ("broadcast_to", lambda m: m.zeros(3, 4).broadcast_to((2, 4))),
    ("einsum_operands", lambda m: m.einsum("ij,jk->ik", m.zeros(2, 3))),
    ("einsum_ndim", lambda m: m.einsum("ijk->i", m.zeros(2, 3))),
    ("einsum_sizes", lambda m: m.einsum("ij,jk->ik", m.zeros(2, 3), m.zeros(4, 2))),
    ("tensordot_sizes", lambda m: m.tensordot(m.zeros(2, 3), m.zeros(4, 2), 1)),
    ("outer_ndim", lambda m: m.outer(m.zeros(2, 3), m.zeros(2))),
    ("addmm_ndim", lambda m: m.addmm(m.zeros(2), m.zeros(2, 3, 1), m.zeros(3, 2))),
    ("baddbmm_ndim", lambda m: m.baddbmm(m.zeros(2), m.zeros(2, 3), m.zeros(2, 3, 2))),
    ("cdist_columns", lambda m: m.cdist(m.zeros(2, 3), m.zeros(2, 4))),
    ("cdist_ndim", lambda m: m.cdist(m.zeros(3), m.zeros(2, 3))),
    ("tril_1d", lambda m: m.tril(m.zeros(3))),
    ("diag_3d", lambda m: m.diag(m.zeros(2, 2, 2))),
    ("diagonal_same_dims", lambda m: m.zeros(2, 2).diagonal(0, 1, 1)),
    ("meshgrid_2d", lambda m: m.meshgrid(m.zeros(2, 2), m.zeros(2), indexing="ij")),
    ("repeat_interleave_size", lambda m: m.zeros(3).repeat_interleave(m.tensor([1, 2]))),
    ("searchsorted_leading", lambda m: m.searchsorted(m.zeros(2, 3), m.zeros(3, 3))),
    ("bucketize_2d", lambda m: m.bucketize(m.zeros(3), m.zeros(2, 2))),
    ("movedim_count", lambda m: m.zeros(2, 3).movedim((0, 1), (0,))),
    ("select_index", lambda m: m.zeros(2, 3).select(1, 3)),
    ("bitwise_float", lambda m: m.zeros(2).bitwise_not()),
    ("take_oob", lambda m: m.zeros(2, 3).take(m.tensor([6]))),
]


@pytest.mark.parametrize("make", [c[1] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_input_raises_like_torch(make):
    with pytest.raises(Exception) as expected:
        make(torch)
    with pytest.raises(type(expected.value)):
        make(nncheck)


def test_out_of_range_messages_name_the_index():
    with pytest.raises(RuntimeError, match="index 4 is out of bounds for dimension 1 with size 4"):
        nncheck.zeros(3, 4).gather(1, nncheck.tensor([[4]]))
    with pytest.raises(IndexError, match="index out of range in self"):
        nncheck.zeros(3, 4).index_select(0, nncheck.tensor([-1]))
    with pytest.raises(RuntimeError, match="selected index k out of range"):
        nncheck.zeros(3, 4).topk(5)


def test_nncheck_gradcheck_on_new_ops():
    """nncheck's own checker agrees with the analytic backward of the composite ops."""
    x = nncheck.tensor(R(3, 4), dtype=nncheck.float64, requires_grad=True)
    y = nncheck.tensor(R(4, 3), dtype=nncheck.float64, requires_grad=True)
    for fn in (lambda a, b: nncheck.einsum("ij,jk->ik", a, b).logsumexp(1),
               lambda a, b: nncheck.cdist(a, b.t(), p=3).cumprod(0),
               lambda a, b: a.unfold(1, 2, 1).sum(-1) * b.t().topk(2, 1).values.sum(),
               lambda a, b: nncheck.scatter_add(a, 0, nncheck.tensor([[2, 0, 1, 0]]),
                                                b.t()[:1]),
               lambda a, b: a.scatter(1, nncheck.tensor([[2], [0], [1]]), b[:3, :1]),
               lambda a, b: nncheck.vander(a[0], 3) * b,
               lambda a, b: nncheck.scatter_reduce(a, 1, nncheck.tensor([[0, 0, 1]] * 3),
                                                   b[:3], "prod") + a.quantile(0.3, 1, True)):
        assert nncheck.gradcheck(fn, (x, y))


def test_tensor_flags_and_metadata():
    x = nncheck.zeros(2, 3, dtype=nncheck.float64)
    t = torch.zeros(2, 3, dtype=torch.float64)
    for name in ("is_cpu", "is_sparse", "is_quantized", "is_nested", "is_mkldnn", "itemsize",
                 "nbytes", "output_nr"):
        assert getattr(x, name) == getattr(t, name), name
    for name in ("is_complex", "is_signed", "is_pinned", "is_shared", "is_conj", "is_neg",
                 "is_inference", "get_device"):
        assert getattr(x, name)() == getattr(t, name)(), name
    assert x.is_same_size(nncheck.ones(2, 3)) and not x.is_same_size(nncheck.ones(3, 2))
    assert nncheck.is_nonzero(nncheck.tensor([2])) and not nncheck.tensor(0.0).is_nonzero()
    with pytest.raises(RuntimeError, match="ambiguous"):
        nncheck.ones(2).is_nonzero()
    assert x.pin_memory() is x and x.share_memory_() is x and x.data_ptr() != 0
    assert x.cfloat().dtype is nncheck.complex64 and x.cdouble().dtype is nncheck.complex128
    assert x.new_empty_strided((3, 2), (2, 1)).shape == (3, 2)


def test_apply_and_map_in_place():
    x = nncheck.tensor([1.0, -2.0, 3.0])
    assert x.apply_(lambda v: v * v + 1) is x
    np.testing.assert_array_equal(x.numpy(), [2.0, 5.0, 10.0])
    x.map_(nncheck.tensor([1.0, 2.0, 3.0]), lambda a, b: a - b)
    np.testing.assert_array_equal(x.numpy(), [1.0, 3.0, 7.0])


def test_creation_functions_against_torch():
    for nc, to in ((nncheck.logspace(-2, 3, 7, dtype=nncheck.float64),
                    torch.logspace(-2, 3, 7, dtype=torch.float64)),
                   (nncheck.logspace(0, 4, 5, base=2), torch.logspace(0, 4, 5, base=2)),
                   (nncheck.tril_indices(4, 3, -1), torch.tril_indices(4, 3, -1)),
                   (nncheck.triu_indices(3, 5, 1), torch.triu_indices(3, 5, 1)),
                   (nncheck.scalar_tensor(2.5), torch.scalar_tensor(2.5)),
                   (nncheck.empty_strided((2, 3), (3, 1)).shape, torch.empty_strided((2, 3),
                                                                                    (3, 1)).shape)):
        if isinstance(to, torch.Tensor):
            assert nc.dtype.name == str(to.dtype).split(".")[1]
            assert_close(nc, to, rtol=1e-6, atol=1e-7)
        else:
            assert tuple(nc) == tuple(to)
    for name in ("hann_window", "hamming_window", "blackman_window", "bartlett_window",
                 "kaiser_window"):
        for n, periodic in ((1, True), (8, True), (9, False)):
            assert_close(getattr(nncheck, name)(n, periodic, dtype=nncheck.float64),
                         getattr(torch, name)(n, periodic, dtype=torch.float64), what=name)
    r = nncheck.randint_like(nncheck.zeros(50, dtype=nncheck.int32), 3, 7)
    assert r.dtype is nncheck.int32 and r.shape == (50,) and 3 <= r.min().item() < 7 and \
        r.max().item() < 7


def test_sampling_support_shapes_and_seed():
    nncheck.manual_seed(0)
    p = nncheck.tensor([[0.0, 1.0, 0.0], [1.0, 1.0, 0.0]], dtype=nncheck.float64)
    b = nncheck.bernoulli(p)
    assert b.dtype is nncheck.float64 and b.equal(p)  # probabilities 0 and 1 are certain
    assert nncheck.ones(4).bernoulli(0.0).sum().item() == 0
    draws = nncheck.rand(20000).bernoulli(nncheck.full((20000,), 0.25))
    assert abs(draws.mean().item() - 0.25) < 0.02
    weights = nncheck.tensor([[0.0, 2.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0]])
    s = nncheck.multinomial(weights[:1], 3)
    assert sorted(s.tolist()[0]) == [1, 2, 3]  # without replacement: each once, never 0
    s = weights.multinomial(5, replacement=True)
    assert s.shape == (2, 5) and (s[1] == 0).all() and not (s[0] == 0).any()
    with pytest.raises(RuntimeError, match="without replacement"):
        weights[1:].multinomial(2)
    counts = nncheck.poisson(nncheck.full((20000,), 3.0, dtype=nncheck.float64))
    assert abs(counts.mean().item() - 3.0) < 0.1 and counts.dtype is nncheck.float64
    x = nncheck.zeros(1000)
    assert x.random_(2, 5) is x and set(x.unique().tolist()) == {2.0, 3.0, 4.0}
    assert (x.random_(3) < 3).all() and (x.random_() >= 0).all()
    assert (x.log_normal_() > 0).all() and (x.geometric_(0.5) >= 1).all()
    assert nncheck.isfinite(x.cauchy_()).all()
    nncheck.manual_seed(5)
    first = nncheck.rand(4).bernoulli()
    nncheck.manual_seed(5)
    assert nncheck.rand(4).bernoulli().equal(first)


def test_runtime_switches():
    nncheck._assert(True, "never raised")
    with pytest.raises(AssertionError, match="shape"):
        nncheck._assert(False, "shape")
    model = nncheck.nn.Linear(2, 2)
    assert nncheck.compile(model) is model and nncheck.compile()(model) is model
    x = nncheck.ones(2, requires_grad=True)
    with nncheck.autocast("cpu", enabled=False):
        assert (x * 2).requires_grad and not nncheck.is_autocast_enabled()
    with pytest.raises(NotImplementedError, match="autocast"):
        nncheck.autocast("cpu", dtype=nncheck.float16)
    assert x.new_zeros(2, requires_grad=True).requires_grad


# ---------------------------------------------------------------------- model code
# Written once, the way Hugging Face / torchvision / DETR code is written, and run with
# m = torch and m = nncheck: outputs and all input gradients must agree.
def llama_attention(m, x, wq, wk, wv, wo, gamma):
    F = m.nn.functional
    b, n, d = x.shape
    heads, kv_heads = 4, 2
    hd = d // heads
    var = x.pow(2).mean(-1, keepdim=True)  # RMSNorm
    h = gamma * (x * m.rsqrt(var + 1e-6))
    q = F.linear(h, wq).view(b, n, heads, hd).transpose(1, 2)
    k = F.linear(h, wk).view(b, n, kv_heads, hd).transpose(1, 2)
    v = F.linear(h, wv).view(b, n, kv_heads, hd).transpose(1, 2)
    inv_freq = 1.0 / (10000 ** (m.arange(0, hd, 2, dtype=m.int64).float().double() / hd))
    t = m.arange(n, dtype=m.int64).type_as(inv_freq)
    emb = m.cat((m.outer(t, inv_freq),) * 2, dim=-1)
    cos, sin = emb.cos()[None, None], emb.sin()[None, None]

    def rotate_half(z):
        return m.cat((-z[..., z.shape[-1] // 2:], z[..., : z.shape[-1] // 2]), dim=-1)

    q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
    k = m.repeat_interleave(k, heads // kv_heads, dim=1)
    v = v[:, :, None].expand(b, kv_heads, heads // kv_heads, n, hd).reshape(b, heads, n, hd)
    scores = m.einsum("bhqd,bhkd->bhqk", q, k) / hd ** 0.5
    causal = m.triu(m.ones(n, n, dtype=m.bool), diagonal=1)
    scores = scores.masked_fill(causal, m.finfo(scores.dtype).min)
    attn = scores.softmax(-1, dtype=m.float64)
    out = m.baddbmm(m.zeros(1, 1, 1, dtype=m.float64), attn.reshape(b * heads, n, n),
                    v.reshape(b * heads, n, hd), beta=0)
    return x + F.linear(out.view(b, heads, n, hd).transpose(1, 2).reshape(b, n, d), wo)


def swin_window_attention(m, x, table):
    ws, shift = 2, 1
    B, H, W, C = x.shape
    coords = m.stack(m.meshgrid(m.arange(ws), m.arange(ws), indexing="ij"))
    flat = m.flatten(coords, 1)
    rel = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0).contiguous()
    rel[:, :, 0] += ws - 1
    rel[:, :, 1] += ws - 1
    rel[:, :, 0] *= 2 * ws - 1
    bias = table[rel.sum(-1).flatten()].view(ws * ws, ws * ws, -1).permute(2, 0, 1)
    x = m.roll(x, shifts=(-shift, -shift), dims=(1, 2))
    win = x.view(B, H // ws, ws, W // ws, ws, C).permute(0, 1, 3, 2, 4, 5).reshape(-1, ws * ws, C)
    attn = (win @ win.transpose(-2, -1) / C ** 0.5)[:, None] + bias.unsqueeze(0)
    out = (attn.softmax(-1).mean(1) @ win).view(B, H // ws, W // ws, ws, ws, C)
    out = out.permute(0, 1, 3, 2, 4, 5).reshape(B, H, W, C)
    return m.roll(out, shifts=(shift, shift), dims=(1, 2))


def detr_position_and_loss(m, logits, features, target, pad):
    not_mask = ~pad
    y = not_mask.cumsum(1, dtype=m.float64)
    x = not_mask.cumsum(2, dtype=m.float64)
    y = y / (y[:, -1:, :] + 1e-6)
    x = x / (x[:, :, -1:] + 1e-6)
    dim_t = m.arange(4, dtype=m.float64)
    dim_t = 100 ** (2 * m.div(dim_t, 2, rounding_mode="floor") / 4)
    pos_x, pos_y = x[:, :, :, None] / dim_t, y[:, :, :, None] / dim_t
    pos_x = m.stack((pos_x[..., 0::2].sin(), pos_x[..., 1::2].cos()), dim=4).flatten(3)
    pos_y = m.stack((pos_y[..., 0::2].sin(), pos_y[..., 1::2].cos()), dim=4).flatten(3)
    pos = m.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)
    logp = logits - m.logsumexp(logits, -1, keepdim=True)
    smooth = m.full_like(logp, 0.1 / (logp.shape[-1] - 1)).scatter(1, target[:, None], 0.9)
    loss = -(smooth * logp).sum(-1).mean() + 0.01 * logits.topk(2, -1).values.sum()
    picked = features.flatten(1).index_select(1, target) * pos.flatten(1)[:, : len(target)]
    return loss + picked.sum() + m.where(pad, 0.0, features.sum(1)).std()


MODELS = [
    ("llama_attention", llama_attention, (R(2, 5, 8), R(8, 8) / 3, R(4, 8) / 3, R(4, 8) / 3,
                                          R(8, 8) / 3, P(8))),
    ("swin_window_attention", swin_window_attention, (R(2, 4, 4, 3), R(9, 2))),
    ("detr_position_and_loss", detr_position_and_loss,
     (R(4, 6), R(2, 3, 3, 4), I(6, 4), np.arange(24).reshape(2, 3, 4) % 5 == 0)),
]


@pytest.mark.parametrize("fn,inputs", [c[1:] for c in MODELS], ids=[c[0] for c in MODELS])
def test_model_code_against_torch(fn, inputs):
    compare_function(lambda *xs: fn(nncheck, *xs), lambda *xs: fn(torch, *xs), *inputs)


def test_misc_predicates():
    x = nncheck.ones(2)
    assert nncheck.typename(x) == "nncheck.FloatTensor" and torch.typename(torch.ones(2)) == \
        "torch.FloatTensor" and nncheck.typename(3) == torch.typename(3)
    assert not nncheck.is_storage(x) and nncheck.get_device(x) == -1
    for a, b in (("float32", "int32"), ("int32", "float32"), ("int64", "bool"), ("bool", "int8"),
                 ("float64", "float16"), ("complex64", "float64"), ("float16", "complex64")):
        assert nncheck.can_cast(getattr(nncheck, a), getattr(nncheck, b)) == \
            torch.can_cast(getattr(torch, a), getattr(torch, b)), (a, b)
    with pytest.raises(RuntimeError, match="imag is not implemented"):
        _ = x.imag
    with pytest.raises(RuntimeError, match="leaf Variable"):
        nncheck.ones(2, requires_grad=True).unsqueeze_(0)
    nncheck.manual_seed(0)
    draws = nncheck.binomial(nncheck.full((5000,), 10.0), nncheck.full((5000,), 0.3))
    assert abs(draws.mean().item() - 3.0) < 0.1 and draws.max().item() <= 10
