"""Generic tensor operations on the emulated CUDA device (kernels/elementwise.cu): views that
alias their base (in-place writes through slices, transposes, narrow, select, ...), strided
copies, numpy's ufuncs with broadcasting, where, casts, reductions, cat/stack -- each against
the same operation on the CPU (numpy), and none computed on the host.
"""

import numpy as np
import pytest
from helpers import needs_cxx

import nncheck
from nncheck import cuda
from nncheck.cuda import launchers

pytestmark = needs_cxx


@pytest.fixture
def no_host_fallbacks(emulated):
    """Fails the test if any generic operation it ran was computed on the host."""
    before = launchers.stats["host_fallbacks"]
    names = dict(launchers.fallback_names)
    yield
    new = {k: v - names.get(k, 0) for k, v in launchers.fallback_names.items()
           if v != names.get(k, 0)}
    assert launchers.stats["host_fallbacks"] == before, f"host fallbacks: {new}"


def _base(device, dtype=np.float64):
    data = np.arange(1, 25, dtype=dtype).reshape(4, 6) / 4
    return nncheck.from_numpy(data.copy()).to(device)


# Each case writes in place through a view of ``t`` (4 x 6); the base must change on the
# device exactly as on the CPU.
INPLACE_THROUGH_VIEWS = {
    "slice_cols_add_": lambda t: t[:, 1:3].add_(1),
    "slice_rows_zero_": lambda t: t[0:2].zero_(),
    "narrow_copy_": lambda t: t.narrow(1, 2, 3).copy_(nncheck.ones(4, 3, device=t.device) * 5),
    "T_mul_": lambda t: t.T.mul_(2),
    "step_fill_": lambda t: t[..., ::2].fill_(3),
    "select_sub_": lambda t: t[1].sub_(t[2]),
    "transpose_slice_div_": lambda t: t.transpose(0, 1)[1:4].div_(2),
    "unsqueeze_index_neg_": lambda t: t.unsqueeze(0)[0, :, 2].neg_(),
    "view_flat_fill_": lambda t: t.view(-1)[3:7].fill_(0),
    "permute_clamp_": lambda t: t.permute(1, 0)[2:].clamp_(1, 3),
    "unbind_exp_": lambda t: t.unbind(0)[1].exp_(),
    "split_sqrt_": lambda t: t.split(2, dim=1)[1].sqrt_(),
    "chunk_pow_": lambda t: t.chunk(3, dim=1)[2].pow_(2),
    "setitem_block": lambda t: t.__setitem__((slice(1, None), slice(None, 2)), 5.0),
    "setitem_from_view": lambda t: t.__setitem__((slice(None), 0), t[:, 5]),
    "setitem_overlapping": lambda t: t.__setitem__((slice(None), slice(1, 6)), t[:, 0:5]),
    "masked_fill_": lambda t: t[:, 1:4].masked_fill_(t[:, 1:4] > 2, -1.0),
    "select_copy_broadcast": lambda t: t.select(1, 4).copy_(nncheck.tensor(9.0)),
}


@pytest.mark.parametrize("case", sorted(INPLACE_THROUGH_VIEWS))
def test_inplace_through_a_view_changes_the_base(no_host_fallbacks, case):
    results = []
    for device in ("cpu", "cuda"):
        t = _base(device)
        with nncheck.no_grad():
            INPLACE_THROUGH_VIEWS[case](t)
        results.append(t.cpu().numpy())
    assert not np.array_equal(results[0], _base("cpu").numpy()), "the case changes nothing"
    np.testing.assert_array_equal(results[1], results[0])


def test_views_share_memory_and_versions(no_host_fallbacks):
    t = _base("cuda")
    view = t[:, 1:3]
    assert view._base is t and view._version is t._version
    assert not view.is_contiguous() and t.T.stride() == (1, 6)
    assert view.contiguous().is_contiguous()
    view.add_(1)
    assert t._version.value == 1
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        t.T.view(-1)


def test_strided_arrays_and_copies(no_host_fallbacks):
    from nncheck.cuda import DeviceArray

    host = np.arange(2 * 3 * 5 * 4, dtype=np.float32).reshape(2, 3, 5, 4)
    dev = DeviceArray.from_numpy(host)
    keys = [(1,), (slice(None), 2), (Ellipsis, slice(None, None, 3)),
            (None, 1, slice(1, 4, 2), None, -1), (slice(None, None, -1), 0, slice(4, 0, -2))]
    for key in keys:
        np.testing.assert_array_equal(dev[key].numpy(), host[key])
    for axes in [(3, 1, 0, 2), (0, 2, 1, 3)]:
        np.testing.assert_array_equal(dev.transpose(axes).numpy(), host.transpose(axes))
        np.testing.assert_array_equal(
            np.ascontiguousarray(host.transpose(axes)).reshape(-1),
            launchers.xp.ascontiguousarray(dev.transpose(axes)).reshape(-1).numpy())
    np.testing.assert_array_equal(dev.diagonal(1, 2, 3).numpy(), host.diagonal(1, 2, 3))
    np.testing.assert_array_equal(np.broadcast_to(dev[:, :1], (4, 2, 3, 5, 4)).numpy(),
                                  np.broadcast_to(host[:, :1], (4, 2, 3, 5, 4)))
    np.testing.assert_array_equal(dev[:, 1:].reshape(2, -1).numpy(), host[:, 1:].reshape(2, -1))
    np.testing.assert_array_equal(dev.swapaxes(0, 3).reshape(4, 30).numpy(),
                                  host.swapaxes(0, 3).reshape(4, 30))
    with pytest.raises(IndexError, match="out of bounds"):
        dev[2]
    with pytest.raises(IndexError, match="too many indices"):
        dev[0, 0, 0, 0, 0]


def test_kernels_refuse_non_contiguous_views(emulated):
    from nncheck.cuda import DeviceArray

    x = DeviceArray.from_numpy(np.ones((4, 4), np.float32))
    with pytest.raises(ValueError, match="non-contiguous"):
        launchers.launch("activation", "relu_forward", 16, x.T, x, 16, 0.0, 0.0)


RNG = np.random.default_rng(0)
A = RNG.standard_normal((3, 1, 5))
B = RNG.standard_normal((4, 5)) + 2.5
UFUNCS_2 = ["add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "less",
            "less_equal", "greater", "greater_equal", "equal", "not_equal", "floor_divide",
            "remainder", "arctan2", "hypot", "logical_and", "fmax"]
UFUNCS_1 = ["negative", "absolute", "exp", "log", "sqrt", "sin", "cos", "tanh", "sign",
            "floor", "ceil", "rint", "square", "reciprocal", "expm1", "log1p", "isnan",
            "isfinite", "arctan", "sinh", "trunc", "logical_not"]


def _up(a):
    return cuda.DeviceArray.from_numpy(a)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", UFUNCS_2)
def test_binary_ufuncs_broadcast_like_numpy(no_host_fallbacks, name, dtype):
    ufunc = getattr(np, name)
    a, b = A.astype(dtype), np.abs(B).astype(dtype)
    a[0, 0, 1] = b[0, 1]  # an equal pair for the comparisons
    tol = 1e-15 if dtype == np.float64 else 1e-6
    for x, y in [(a, b), (a[::2], b.T[:, 1:].T), (a, 2.5), (3, b)]:
        with np.errstate(all="ignore"):
            want = ufunc(x, y)
        got = ufunc(*(_up(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v
                      for v in (x, y)))
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got.numpy(), want, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
@pytest.mark.parametrize("name", UFUNCS_1)
def test_unary_ufuncs_like_numpy(no_host_fallbacks, name, dtype):
    ufunc = getattr(np, name)
    x = (np.abs(B) * 3).astype(dtype)
    x[0, 0] = 0
    if dtype == np.int64 and name in ("reciprocal",):
        pytest.skip("numpy's integer reciprocal is integer division")
    view = _up(x.T.copy()).T  # a transposed (non-contiguous) operand
    with np.errstate(all="ignore"):
        want = ufunc(x)
    got = ufunc(view)
    assert got.dtype == want.dtype
    tol = 1e-15 if dtype != np.float32 else 1e-6
    np.testing.assert_allclose(got.numpy(), want, rtol=tol, atol=tol)


@pytest.mark.parametrize("name, a, b", [
    ("add", np.array([2**62, -7, 5]), 3), ("floor_divide", np.array([7, -7, 6]), 2),
    ("remainder", np.array([7, -7, 6]), -4), ("power", np.array([3, -2, 5]), 3),
    ("maximum", np.array([True, False]), np.array([False, False])),
    ("multiply", np.array([1, 2], np.int32), np.array([2.5, 1.0], np.float32)),
])
def test_integer_and_mixed_dtypes_like_numpy(no_host_fallbacks, name, a, b):
    ufunc = getattr(np, name)
    want = ufunc(a, b)
    got = ufunc(_up(a), _up(b) if isinstance(b, np.ndarray) else b)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got.numpy(), want)


def test_out_casts_where_and_copies(no_host_fallbacks):
    x = A.reshape(3, 5)
    d = _up(x)
    np.add(d[:, 1:], d[:, :-1], out=d[:, 1:])  # overlapping in place: numpy's result
    want = x.copy()
    np.add(want[:, 1:], want[:, :-1], out=want[:, 1:])
    np.testing.assert_array_equal(d.numpy(), want)
    for dtype in (np.float32, np.int64, np.bool_, np.int32, np.uint8):
        np.testing.assert_array_equal(d.astype(dtype).numpy(), want.astype(dtype))
    cond = want > 0
    np.testing.assert_array_equal(np.where(_up(cond), d, 0.5).numpy(), np.where(cond, want, 0.5))
    np.testing.assert_array_equal(np.where(_up(cond[:1]), 1, d.T.T).numpy(),
                                  np.where(cond[:1], 1, want))
    parts = [want[:, :2], want[:, 2:].astype(np.float32), want[:, 1:2]]
    np.testing.assert_array_equal(np.concatenate([_up(p) for p in parts], axis=1).numpy(),
                                  np.concatenate(parts, axis=1))
    np.testing.assert_array_equal(np.stack([d, d * 2], axis=2).numpy(),
                                  np.stack([want, want * 2], axis=2))
    np.testing.assert_array_equal(np.tile(d[:2], (2, 1, 3)).numpy(), np.tile(want[:2], (2, 1, 3)))
    for fn in (lambda a: np.flip(a, 1), lambda a: np.roll(a, (2, -1), (1, 0)),
               lambda a: np.roll(a, 4), lambda a: np.tril(a, 1), lambda a: np.triu(a, -1),
               lambda a: np.isclose(a, a[0] + 1e-9)):
        np.testing.assert_array_equal(fn(d).numpy(), fn(want))
    assert np.allclose(d, d + 1e-9) and not np.allclose(d, d + 1e-3)
    with pytest.raises(ValueError, match="concatenation axis must match"):
        np.concatenate([d, d[:2, :2]], axis=0)


REDUCTIONS = ["sum", "mean", "max", "min", "prod", "argmax", "argmin", "any", "all"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.bool_])
@pytest.mark.parametrize("name", REDUCTIONS)
def test_reductions_like_numpy(no_host_fallbacks, name, dtype):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((3, 70, 4)) * 3).astype(dtype)
    if dtype != np.bool_:
        x[1, 5, 2] = x[1, 9, 2]  # ties: arg* keep the first
    d = _up(x).transpose(1, 0, 2)
    h = x.transpose(1, 0, 2)
    axes = [None, 0, 1, 2, -1] + ([] if name.startswith("arg") else [(0, 2), (1, 2)])
    for axis in axes:
        for keepdims in (False, True):
            if name in ("prod",) and axis in (None, 0, (0, 2)) and dtype != np.bool_:
                continue  # products of 70+ normal values overflow
            want = getattr(np, name)(h, axis=axis, keepdims=keepdims)
            got = getattr(np, name)(d, axis=axis, keepdims=keepdims)
            assert got.dtype == np.asarray(want).dtype and got.shape == np.shape(want)
            rtol = 1e-5 if np.asarray(want).dtype == np.float32 else 1e-12
            np.testing.assert_allclose(got.numpy(), want, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_long_rows_split_across_blocks(no_host_fallbacks, dtype):
    """A full reduction of 40000 elements (5 blocks, then a second launch), as a GPU needs."""
    x = np.random.default_rng(6).standard_normal((2, 20000)).astype(dtype) + 0.5
    d = _up(x)
    for name in ("sum", "mean", "max", "min", "any", "all"):
        for axis in (None, 1):
            want = getattr(np, name)(x.astype(np.float64) if name in ("sum", "mean") else x,
                                     axis=axis)
            got = getattr(np, name)(d[:, ::-1], axis=axis)
            rtol = 1e-5 if dtype == np.float32 else 1e-12
            np.testing.assert_allclose(got.numpy(), want, rtol=rtol)
    np.testing.assert_array_equal(np.argmax(d, axis=None).numpy(), np.argmax(x))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.bool_])
def test_cumulative_sums_and_products_like_numpy(no_host_fallbacks, dtype):
    x = (np.random.default_rng(8).standard_normal((3, 5, 4)) + 1).astype(dtype)
    d = _up(x).transpose(2, 0, 1)
    h = x.transpose(2, 0, 1)
    for fn in (np.cumsum, np.cumprod):
        for axis in (None, 0, 1, -1):
            want = fn(h, axis=axis)
            got = fn(d, axis=axis)
            assert got.dtype == want.dtype
            rtol = 1e-5 if want.dtype == np.float32 else 1e-12
            np.testing.assert_allclose(got.numpy(), want, rtol=rtol)


def test_reduction_errors_and_nan(no_host_fallbacks):
    x = np.array([[1.0, np.nan, 3.0], [2.0, 0.5, -1.0]])
    for name in ("max", "min", "argmax", "argmin", "sum"):
        np.testing.assert_array_equal(getattr(np, name)(_up(x), axis=1).numpy(),
                                      getattr(np, name)(x, axis=1))
    with pytest.raises(ValueError, match="zero-size array to reduction operation maximum"):
        np.max(_up(np.zeros((0, 3))))


def test_tensor_ops_and_autograd_stay_on_the_device(no_host_fallbacks):
    """Tensor arithmetic, reductions, views and the backward engine's gradient sums."""
    rng = np.random.default_rng(2)
    x0, w0 = rng.standard_normal((4, 5)), rng.standard_normal((5,))
    results = []
    for device in ("cpu", "cuda"):
        x = nncheck.from_numpy(x0.copy()).to(device).requires_grad_()
        w = nncheck.from_numpy(w0.copy()).to(device).requires_grad_()
        y = (x * w).exp().sum(1) + x.max(1).values - x[:, 1:3].mean() + (x.T * 2).sum(0)
        z = nncheck.where(y > 0, y, y * 0.1).sum() + nncheck.cat([x, x * w], 1).pow(2).mean()
        z.backward()
        results.append([z.detach().cpu().numpy(), x.grad.cpu().numpy(), w.grad.cpu().numpy()])
    for got, want in zip(results[1], results[0]):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_advanced_indexing_gathers_puts_and_adds_on_the_device(no_host_fallbacks):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 4, 3))
    rows, cols = np.array([[4, 0], [-1, 2]]), np.array([1, 3])
    d = _up(x)
    for key in [(rows,), (rows, cols), (rows, 2), (_up(rows), _up(cols))]:
        host_key = tuple(k.numpy() if isinstance(k, cuda.DeviceArray) else k for k in key)
        np.testing.assert_array_equal(d[key].numpy(), x[host_key])
    np.testing.assert_array_equal(d.transpose(1, 0, 2)[cols, rows].numpy(),
                                  x.transpose(1, 0, 2)[cols, rows])
    want, got = x.copy(), _up(x)
    want[rows, cols] = 7.5
    got[rows, cols] = 7.5
    want[[0, 3]] = x[[1, 2]] * 2
    got[[0, 3]] = _up(x[[1, 2]] * 2)
    np.testing.assert_array_equal(got.numpy(), want)
    picks = np.argmax(x, axis=1)[:, None]
    np.testing.assert_array_equal(np.take_along_axis(d, _up(picks), axis=1).numpy(),
                                  np.take_along_axis(x, picks, axis=1))
    np.put_along_axis(want, picks, -9.0, axis=1)
    np.put_along_axis(got, _up(picks), -9.0, axis=1)
    np.testing.assert_array_equal(got.numpy(), want)
    acc, acc_dev = np.zeros((5, 4)), cuda.DeviceArray.zeros((5, 4), np.float64)
    idx = np.array([0, 4, 0, 0, 2])
    np.add.at(acc, (idx, np.array([1, 1, 1, 3, 0])), x[:, 0, 0])
    np.add.at(acc_dev, (_up(idx), np.array([1, 1, 1, 3, 0])), _up(x[:, 0, 0]))
    np.testing.assert_allclose(acc_dev.numpy(), acc, rtol=1e-15)
    with pytest.raises(IndexError, match="index 5 is out of bounds for axis 0 with size 5"):
        d[np.array([0, 5])]
    with pytest.raises(IndexError, match="index -6 is out of bounds"):
        d[_up(np.array([-6]))] = 1.0


def test_boolean_masks_select_and_assign_on_the_device(no_host_fallbacks):
    x = np.arange(24.0).reshape(2, 3, 4) - 7
    d = _up(x)
    for mask in (x > 5, x.sum(2) < 0, np.zeros((2, 3), bool), (x % 3 == 0)[:, :, 0]):
        np.testing.assert_array_equal(d[_up(mask)].numpy(), x[mask])
        np.testing.assert_array_equal(d[mask].numpy(), x[mask])
    big = np.random.default_rng(7).standard_normal(1001)  # chunks of 4 per thread
    np.testing.assert_array_equal(_up(big)[_up(big > 0.3)].numpy(), big[big > 0.3])
    got, want = _up(x), x.copy()
    got[_up(x > 5)] = -1.0
    want[x > 5] = -1.0
    rows = np.array([[True, False, True], [False, False, True]])
    got[_up(rows)] = _up(np.arange(12.0).reshape(3, 4))
    want[rows] = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(got.numpy(), want)
    with pytest.raises(IndexError, match="boolean index did not match indexed array along axis 1"):
        d[_up(np.ones((2, 4), bool))]


def test_what_has_no_kernel_is_correct_and_counted(emulated):
    """A transposed array viewed through a mask over two dims cannot be one view: the
    host computes it, writes it back, and counts it."""
    x = np.arange(12.0).reshape(3, 4)
    d = _up(x.T.copy()).T
    before = launchers.stats["host_fallbacks"]
    mask = x > 5
    np.testing.assert_array_equal(d[_up(mask)].numpy(), x[mask])
    d[_up(mask)] = -1.0
    x[mask] = -1.0
    np.testing.assert_array_equal(d.numpy(), x)
    assert launchers.stats["host_fallbacks"] == before + 2


@pytest.mark.parametrize("shapes", [((3, 4), (4, 5)), ((4,), (4, 2)), ((2, 3, 4), (4,)),
                                    ((2, 1, 3, 4), (5, 4, 2)), ((3, 0), (0, 2))])
def test_matmul_runs_the_gemm_kernel(no_host_fallbacks, shapes):
    rng = np.random.default_rng(4)
    a, b = (rng.standard_normal(s) for s in shapes)
    got = np.matmul(_up(a), _up(b.T.copy()).T if b.ndim == 2 else _up(b))
    np.testing.assert_allclose(got.numpy(), a @ b, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="mismatch in its core dimension"):
        _up(a) @ _up(np.ones((7, 2)))


def test_gradient_sums_seeds_and_accumulation_run_device_kernels(no_host_fallbacks):
    """The engine's fan-in sums, the ones seed of backward() and .grad accumulation."""
    x0 = np.random.default_rng(5).standard_normal((3, 4)).astype(np.float32)
    x = nncheck.from_numpy(x0).cuda().requires_grad_()
    before = launchers.stats["launches"]
    for _ in range(2):
        (x * 2 + x.exp() + x[:, :2].sum()).sum().backward()  # x feeds three ops
    # d/dx of 12 copies of x[:, :2].sum(): 12 in the first two columns; two backward calls
    want = 2 * (2 + np.exp(x0) + np.concatenate([np.full((3, 2), 12.0), np.zeros((3, 2))], 1))
    assert x.grad.is_cuda
    np.testing.assert_allclose(x.grad.cpu().numpy(), want, rtol=1e-6)
    assert launchers.stats["launches"] > before


def test_a_cuda_tensor_prints_like_torch(emulated):
    x = nncheck.tensor([[1.5, -2.0], [0.25, 3.0]])
    assert repr(x.cuda()) == repr(x)[:-1] + ", device='cuda:0')"
    assert repr(x.cuda().requires_grad_()).endswith("device='cuda:0', requires_grad=True)")
