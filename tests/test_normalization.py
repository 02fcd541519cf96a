"""Normalization layers against PyTorch: outputs, gradients, running statistics over several
training steps, eval mode, repr/state_dict, gradcheck, float32, shape rules and errors."""

import ctypes
import itertools
import warnings

import numpy as np
import pytest
import torch
from reference import (
    assert_close,
    check_lazy,
    check_repr_and_keys,
    check_shape_rule,
    compare_function,
    compare_module,
    load_torch_weights,
    to_nncheck,
    to_torch,
)

import nncheck
import nncheck.nn as nn
import nncheck.nn.functional as F
from nncheck.shapes import ShapeError

rng = np.random.default_rng(1234)


def randn(*shape, scale=2.0, shift=0.5):
    return rng.standard_normal(shape) * scale + shift


def pair(name, *args, **kwargs):
    """The same layer built in nncheck and torch, float64, torch's random affine copied over."""
    nc = getattr(nn, name)(*args, **kwargs).double()
    to = getattr(torch.nn, name)(*args, **kwargs).double()
    with torch.no_grad():
        for p in to.parameters():
            p.copy_(torch.randn(p.shape, dtype=p.dtype))
    load_torch_weights(nc, to)
    return nc, to


def assert_same_state(nc, to):
    t_state = to.state_dict()
    n_state = nc.state_dict()
    assert list(n_state) == list(t_state)
    for key, value in t_state.items():
        assert n_state[key].dtype.name == str(value.dtype).removeprefix("torch."), key
        assert_close(n_state[key], value, what=key)


def train_steps(nc, to, shape, steps=3, rtol=1e-9, atol=1e-11):
    """Several training steps without re-syncing state, then eval: everything must agree."""
    for _ in range(steps):
        _step(nc, to, randn(*shape), rtol, atol)
        assert_same_state(nc, to)
    nc.eval()
    to.eval()
    _step(nc, to, randn(*shape), rtol, atol)
    assert_same_state(nc, to)


def _step(nc, to, x, rtol, atol):
    """One forward/backward of both modules on the same input and grad_output."""
    tx, nx = to_torch(x, True), to_nncheck(x, True)
    t_out, n_out = to(tx), nc(nx)
    assert_close(n_out, t_out, rtol, atol, "output")
    g = rng.standard_normal(tuple(t_out.shape))
    for p in to.parameters():
        p.grad = None
    for p in nc.parameters():
        p.grad = None
    t_out.backward(torch.from_numpy(g).to(t_out.dtype))
    n_out.backward(nncheck.from_numpy(g.astype(n_out.numpy(force=True).dtype)))
    assert_close(nx.grad, tx.grad, rtol, atol, "grad of input")
    t_params = dict(to.named_parameters())
    for name, p in nc.named_parameters():
        assert_close(p.grad, t_params[name].grad, rtol, atol, f"grad of {name}")


# ---------------------------------------------------------------- BatchNorm
BN_CASES = [("BatchNorm1d", (6, 4)), ("BatchNorm1d", (5, 4, 3)), ("BatchNorm2d", (3, 4, 3, 5)),
            ("BatchNorm3d", (2, 4, 2, 3, 2))]


@pytest.mark.parametrize("name,shape", BN_CASES)
@pytest.mark.parametrize("affine,bias", [(True, True), (True, False), (False, True)])
@pytest.mark.parametrize("track,momentum", [(True, 0.1), (True, None), (True, 0.5),
                                            (False, 0.1)])
def test_batchnorm_matches_torch_over_training_steps(name, shape, affine, bias, track, momentum):
    nc, to = pair(name, shape[1], eps=1e-3, momentum=momentum, affine=affine,
                  track_running_stats=track, bias=bias)
    check_repr_and_keys(nc, to)
    train_steps(nc, to, shape)


@pytest.mark.parametrize("name,shape", [("BatchNorm1d", (0, 4)), ("BatchNorm1d", (3, 4, 0)),
                                        ("BatchNorm2d", (0, 4, 3, 5)),
                                        ("BatchNorm3d", (0, 4, 2, 3, 2))])
def test_batchnorm_empty_batch_keeps_running_stats_like_torch(name, shape):
    nc, to = pair(name, 4)
    _step(nc, to, randn(3, *shape[1:]) if shape[0] == 0 else randn(3, 4, 2), 1e-9, 1e-11)
    _step(nc, to, randn(*shape), 1e-9, 1e-11)  # running stats no longer at their defaults
    assert_same_state(nc, to)


def test_batchnorm_running_update_uses_unbiased_variance():
    m = nn.BatchNorm1d(2, momentum=1.0).double()
    x = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 13.0]])
    m(to_nncheck(x))
    assert_close(m.running_mean, x.mean(axis=0))
    assert_close(m.running_var, x.var(axis=0, ddof=1))
    assert m.num_batches_tracked.dtype == nncheck.int64 and m.num_batches_tracked.item() == 1


def test_batchnorm_cumulative_average_with_momentum_none():
    m = nn.BatchNorm1d(3, momentum=None).double()
    xs = [randn(4, 3) for _ in range(4)]
    for x in xs:
        m(to_nncheck(x))
    assert_close(m.running_mean, np.mean([x.mean(axis=0) for x in xs], axis=0))
    assert m.num_batches_tracked.item() == 4


def test_batchnorm_loads_torch_state_dict_and_seed_example():
    to = torch.nn.BatchNorm2d(100)
    to(torch.randn(4, 100, 3, 3))
    nc = nn.BatchNorm2d(100)
    load_torch_weights(nc, to)
    assert nc.num_batches_tracked.item() == 1
    for m in (nn.BatchNorm2d(100), nn.BatchNorm2d(100, affine=False)):
        output = m(nncheck.randn(20, 100, 35, 45))
        assert tuple(output.shape) == (20, 100, 35, 45)


@pytest.mark.parametrize("training", [True, False])
def test_functional_batch_norm(training):
    x = randn(4, 3, 5)
    rm, rv = rng.standard_normal(3), rng.random(3) + 0.5
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    t_rm, t_rv = torch.tensor(rm), torch.tensor(rv)
    n_rm, n_rv = to_nncheck(rm), to_nncheck(rv)
    compare_function(
        lambda x, w, b: F.batch_norm(x, n_rm, n_rv, w, b, training, 0.3, 1e-4),
        lambda x, w, b: torch.nn.functional.batch_norm(x, t_rm, t_rv, w, b, training, 0.3, 1e-4),
        x, w, b)
    assert_close(n_rm, t_rm)
    assert_close(n_rv, t_rv)
    compare_function(lambda x: F.batch_norm(x, None, None, training=True),
                     lambda x: torch.nn.functional.batch_norm(x, None, None, training=True), x)


# ---------------------------------------------------------------- InstanceNorm
@pytest.mark.parametrize("name,shape", [("InstanceNorm1d", (3, 4, 5)), ("InstanceNorm1d", (4, 6)),
                                        ("InstanceNorm2d", (2, 3, 4, 3)),
                                        ("InstanceNorm2d", (3, 4, 3)),
                                        ("InstanceNorm3d", (2, 2, 3, 2, 2))])
@pytest.mark.parametrize("affine,track", list(itertools.product([False, True], [False, True])))
def test_instancenorm_matches_torch(name, shape, affine, track):
    channels = shape[1] if len(shape) == int(name[-2]) + 2 else shape[0]
    nc, to = pair(name, channels, momentum=0.2, affine=affine, track_running_stats=track)
    check_repr_and_keys(nc, to)
    train_steps(nc, to, shape)


def test_functional_instance_norm_with_running_stats():
    x, rm, rv = randn(3, 2, 6), rng.standard_normal(2), rng.random(2) + 0.5
    t_rm, t_rv, n_rm, n_rv = torch.tensor(rm), torch.tensor(rv), to_nncheck(rm), to_nncheck(rv)
    compare_function(lambda x: F.instance_norm(x, n_rm, n_rv, momentum=0.4),
                     lambda x: torch.nn.functional.instance_norm(x, t_rm, t_rv, momentum=0.4), x)
    assert_close(n_rm, t_rm)
    assert_close(n_rv, t_rv)
    compare_function(lambda x: F.instance_norm(x, n_rm, n_rv, use_input_stats=False),
                     lambda x: torch.nn.functional.instance_norm(x, t_rm, t_rv,
                                                                 use_input_stats=False), x)


# ---------------------------------------------------------------- LayerNorm / GroupNorm / LRN
@pytest.mark.parametrize("normalized_shape,shape", [(5, (3, 5)), ((4,), (2, 3, 4)),
                                                    ((3, 4), (2, 3, 4)), ([2, 3, 2], (2, 3, 2))])
@pytest.mark.parametrize("affine,bias", [(True, True), (True, False), (False, True)])
@pytest.mark.parametrize("eps", [1e-5, 0.1])
def test_layernorm_matches_torch(normalized_shape, shape, affine, bias, eps):
    nc, to = pair("LayerNorm", normalized_shape, eps=eps, elementwise_affine=affine, bias=bias)
    check_repr_and_keys(nc, to)
    compare_module(nc, to, randn(*shape))
    check_shape_rule(nc, randn(*shape))


def test_layernorm_many_rows_uses_all_blocks():
    nc, to = pair("LayerNorm", 7)
    compare_module(nc, to, randn(37, 3, 7))


@pytest.mark.parametrize("normalized_shape,shape", [(5, (3, 5)), ((3, 4), (2, 3, 4)),
                                                    ([2, 3, 2], (2, 3, 2))])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("eps", [None, 1e-5, 0.1])
def test_rmsnorm_matches_torch(normalized_shape, shape, affine, eps):
    nc, to = pair("RMSNorm", normalized_shape, eps=eps, elementwise_affine=affine)
    check_repr_and_keys(nc, to)
    compare_module(nc, to, randn(*shape))
    check_shape_rule(nc, randn(*shape))
    assert not hasattr(nc, "bias") and not hasattr(to, "bias")


def test_rms_norm_functional_and_float32_default_eps():
    x, w = randn(4, 6), rng.standard_normal(6)
    compare_function(lambda x, w: F.rms_norm(x, (6,), w),
                     lambda x, w: torch.nn.functional.rms_norm(x, (6,), w), x, w)
    compare_function(lambda x: F.rms_norm(x, [6]), lambda x: torch.nn.functional.rms_norm(x, [6]),
                     x)
    tiny = np.full((2, 3), 1e-4, np.float32)  # mean(x^2) ~ eps: float32's eps must be used
    assert_close(F.rms_norm(to_nncheck(tiny), (3,)),
                 torch.nn.functional.rms_norm(torch.tensor(tiny), (3,)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("groups,channels,shape", [(1, 4, (3, 4, 5)), (2, 4, (2, 4, 3, 2)),
                                                   (4, 4, (2, 4, 6)), (3, 6, (2, 6)),
                                                   (2, 6, (1, 6, 2, 2, 2))])
@pytest.mark.parametrize("affine,bias", [(True, True), (True, False), (False, True)])
def test_groupnorm_matches_torch(groups, channels, shape, affine, bias):
    nc, to = pair("GroupNorm", groups, channels, eps=1e-4, affine=affine, bias=bias)
    check_repr_and_keys(nc, to)
    compare_module(nc, to, randn(*shape))
    check_shape_rule(nc, randn(*shape))


@pytest.mark.parametrize("size", [1, 2, 3, 5])
@pytest.mark.parametrize("shape", [(2, 6, 4), (2, 5, 3, 2), (1, 4, 2, 2, 3)])
def test_local_response_norm_matches_torch(size, shape):
    nc, to = pair("LocalResponseNorm", size, alpha=0.3, beta=0.6, k=1.5)
    check_repr_and_keys(nc, to)
    compare_module(nc, to, randn(*shape))
    check_shape_rule(nc, randn(*shape))


def test_local_response_norm_defaults_and_empty_input():
    nc, to = pair("LocalResponseNorm", 2)
    check_repr_and_keys(nc, to)
    compare_module(nc, to, randn(2, 3, 4))
    empty = nncheck.zeros(0, 3, 4)
    assert F.local_response_norm(empty, 2) is empty


def test_functional_layer_and_group_norm_partial_affine():
    x, w, b = randn(2, 6, 3), rng.standard_normal(6), rng.standard_normal(6)
    compare_function(lambda x, w: F.group_norm(x, 3, w), lambda x, w:
                     torch.nn.functional.group_norm(x, 3, w), x, w)
    # torch's own backward fails for bias without weight ("tensor does not have a device"),
    # so the reference passes an explicit unit weight
    ones = torch.ones(6, dtype=torch.float64)
    compare_function(lambda x, b: F.group_norm(x, 2, None, b, 1e-3),
                     lambda x, b: torch.nn.functional.group_norm(x, 2, ones, b, 1e-3), x, b)
    compare_function(lambda x, b: F.layer_norm(x, (3,), None, b),
                     lambda x, b: torch.nn.functional.layer_norm(x, (3,), None, b), x, b[:3])


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, 0.5, float("inf")])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_normalize_matches_torch(p, dim):
    x = randn(3, 4, 2)
    x[0, 1] = 0.0  # a zero vector along some dims: the clamp at eps
    compare_function(lambda x: F.normalize(x, p, dim, eps=1e-6),
                     lambda x: torch.nn.functional.normalize(x, p, dim, eps=1e-6), x)


def test_normalize_ties_and_out():
    x = np.array([[3.0, -3.0, 1.0], [0.0, 0.0, 0.0]])
    compare_function(lambda x: F.normalize(x, float("inf")),
                     lambda x: torch.nn.functional.normalize(x, float("inf")), x)
    out = nncheck.zeros(2, 3, dtype=nncheck.float64)
    F.normalize(to_nncheck(x), out=out)
    assert_close(out, torch.nn.functional.normalize(torch.tensor(x)))


# ---------------------------------------------------------------- gradcheck / float32 / fp16
GRADCHECK = [("BatchNorm1d", (3,), (4, 3)), ("BatchNorm2d", (2,), (2, 2, 2, 2)),
             ("BatchNorm3d", (2,), (2, 2, 2, 1, 2)),
             ("InstanceNorm1d", (2,), {"affine": True}, (2, 2, 4)),
             ("InstanceNorm2d", (2,), (2, 2, 2, 2)), ("LayerNorm", ((2, 3),), (2, 2, 3)),
             ("GroupNorm", (2, 4), (2, 4, 2)), ("LocalResponseNorm", (3,), (2, 4, 2))]


@pytest.mark.parametrize("case", GRADCHECK, ids=[c[0] for c in GRADCHECK])
def test_gradcheck(case):
    name, args, *rest = case
    kwargs, shape = (rest[0], rest[1]) if len(rest) == 2 else ({}, rest[0])
    m = getattr(nn, name)(*args, **kwargs).double()
    with nncheck.no_grad():
        for p in m.parameters():
            p.copy_(nncheck.randn(*p.shape, dtype=nncheck.float64))
    x = nncheck.randn(*shape, dtype=nncheck.float64, requires_grad=True)
    assert nncheck.gradcheck(m, (x,))
    if name.startswith("BatchNorm"):
        m.eval()
        assert nncheck.gradcheck(m, (x,))


def test_gradcheck_normalize():
    x = nncheck.randn(3, 4, dtype=nncheck.float64, requires_grad=True)
    for p in (1.0, 2.0, 3.0):
        assert nncheck.gradcheck(lambda t, p=p: F.normalize(t, p, dim=1), (x,))


FLOAT32 = [("BatchNorm2d", (4,), (3, 4, 5, 5)), ("InstanceNorm2d", (4,), (3, 4, 5, 5)),
           ("LayerNorm", (16,), (6, 16)), ("GroupNorm", (2, 4), (3, 4, 5)),
           ("LocalResponseNorm", (3,), (2, 5, 4))]


@pytest.mark.parametrize("name,args,shape", FLOAT32, ids=[c[0] for c in FLOAT32])
def test_float32_matches_torch(name, args, shape):
    nc, to = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    with torch.no_grad():
        for p in to.parameters():
            p.copy_(torch.randn(p.shape))
    compare_module(nc, to, randn(*shape).astype(np.float32), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("hw", [3, 7, 9, 14])
def test_batchnorm2d_float32_short_and_blocked_rows_match_torch(hw):
    # per-channel rows of 9..196 elements: all tail, or 64-element blocks plus a tail (the
    # kernels sum both in float32 blocks); an offset mean checks the centring
    nc, to = nn.BatchNorm2d(16), torch.nn.BatchNorm2d(16)
    x = (randn(2, 16, hw, hw) * 3 + 50).astype(np.float32)
    compare_module(nc, to, x, rtol=1e-4, atol=1e-4)
    assert_close(nc.running_var.numpy(), to.running_var, rtol=1e-5, atol=1e-6)


def test_float16_input_computes_in_float32():
    x = randn(4, 3, 2).astype(np.float16)
    out = nn.BatchNorm1d(3)(to_nncheck(x))
    assert out.dtype == nncheck.float16
    ref = torch.nn.functional.batch_norm(torch.tensor(x, dtype=torch.float32), None, None,
                                         training=True)
    assert_close(out.numpy(force=True).astype(np.float32), ref, rtol=2e-3, atol=2e-3)


# ---------------------------------------------------------------- threads
@pytest.fixture
def two_openmp_threads():
    """Run the kernels' prange loops on two threads (the suite itself runs on one), through
    the libgomp that the extensions loaded; skipped where there is none."""
    try:
        gomp = ctypes.CDLL("libgomp.so.1")
    except OSError:
        pytest.skip("no libgomp: kernels are single-threaded")
    before = gomp.omp_get_max_threads()
    gomp.omp_set_num_threads(2)
    yield
    gomp.omp_set_num_threads(before)


@pytest.mark.parametrize("name,args,shape", [("LayerNorm", (64,), (2000, 64)),
                                             ("BatchNorm1d", (16,), (40, 16, 70)),
                                             ("GroupNorm", (4, 16), (100, 16, 7)),
                                             ("InstanceNorm1d", (16,), (100, 16, 7)),
                                             ("LocalResponseNorm", (3,), (10, 16, 7))])
def test_multithreaded_kernels_match_torch(two_openmp_threads, name, args, shape):
    """Per-row values in the parallel loops must stay thread-private: a shared row mean once
    corrupted a few LayerNorm rows, only when both threads ran at once (hence the repeats
    and the offset inputs, which magnify a wrong mean)."""
    nc, to = pair(name, *args)
    for _ in range(8):
        x = randn(*shape, shift=50.0)
        assert_close(nc(to_nncheck(x)), to(to_torch(x)), rtol=1e-7, atol=1e-7)


# ---------------------------------------------------------------- shape rules and errors
@pytest.mark.parametrize("m,shape", [(nn.BatchNorm1d(3), (4, 3)), (nn.BatchNorm1d(3), (4, 3, 2)),
                                     (nn.BatchNorm3d(2), (2, 2, 2, 2, 2)),
                                     (nn.InstanceNorm1d(3), (3, 5)),
                                     (nn.InstanceNorm3d(2, affine=True), (2, 2, 2, 3, 2)),
                                     (nn.LayerNorm([2, 3]), (4, 2, 3))])
def test_shape_rule_matches_forward(m, shape):
    check_shape_rule(m, randn(*shape))
    explain = []
    m.infer_shape(shape, explain=explain)
    assert explain and str(list(shape)) in explain[-1]


@pytest.mark.parametrize("m,shape,match", [
    (nn.BatchNorm2d(3), (2, 4, 5, 5), "num_features=3"),
    (nn.BatchNorm2d(3), (2, 3, 5), "4-D"),
    (nn.LayerNorm(4), (2, 5), "normalized_shape"),
    (nn.GroupNorm(2, 4), (2, 6, 3), "num_channels=4"),
    (nn.GroupNorm(2, 4, affine=False), (2, 5, 3), "divisible"),
    (nn.InstanceNorm2d(3, affine=True), (2, 4, 3, 3), "num_features=3"),
    (nn.LocalResponseNorm(2), (3, 3), "3D or higher"),
])
def test_shape_rule_errors(m, shape, match):
    with pytest.raises(ShapeError, match=match):
        m.infer_shape(shape)


@pytest.mark.parametrize("call,exc,match", [
    (lambda: nn.BatchNorm2d(3)(nncheck.randn(2, 4, 5, 5)), RuntimeError,
     r"BatchNorm2d: expected 3 channels \(num_features\) at dim 1, got 4"),
    (lambda: nn.BatchNorm2d(3)(nncheck.randn(2, 3, 5)), ValueError,
     r"BatchNorm2d: expected 4D input \(got 3D input\)"),
    (lambda: nn.BatchNorm1d(3)(nncheck.randn(1, 3)), ValueError,
     "Expected more than 1 value per channel when training"),
    (lambda: F.batch_norm(nncheck.randn(2, 3), None, None), RuntimeError,
     "running_mean must be defined in evaluation mode"),
    (lambda: F.batch_norm(nncheck.randn(2, 3), nncheck.zeros(4), nncheck.ones(4)), RuntimeError,
     "running_mean should contain 3 elements not 4"),
    (lambda: F.batch_norm(nncheck.randn(2, 3), None, None, training=True, eps=0), ValueError,
     "eps must be positive"),
    (lambda: nn.InstanceNorm2d(3, affine=True)(nncheck.randn(2, 4, 3, 3)), ValueError,
     r"expected input's size at dim=1 to match num_features \(3\), but got: 4"),
    (lambda: nn.InstanceNorm2d(3)(nncheck.randn(2, 3, 1, 1)), ValueError,
     "Expected more than 1 spatial element"),
    (lambda: nn.LayerNorm(4)(nncheck.randn(2, 5)), RuntimeError,
     r"Given normalized_shape=\[4\], expected input with shape \[\*, 4\]"),
    (lambda: F.layer_norm(nncheck.randn(2, 3), (3,), nncheck.ones(4)), RuntimeError,
     "Expected weight to be of same shape as normalized_shape"),
    (lambda: nn.GroupNorm(2, 5), ValueError, r"num_channels \(5\) must be divisible"),
    (lambda: nn.GroupNorm(2, 4)(nncheck.randn(2, 6, 3)), RuntimeError,
     "Expected weight to be a vector of size equal to the number of channels"),
    (lambda: F.group_norm(nncheck.randn(2, 6), 4), RuntimeError, "divisible by num_groups"),
    (lambda: nn.GroupNorm(2, 4)(nncheck.randn(4)), RuntimeError, "at least 2 dimensions"),
    (lambda: nn.LocalResponseNorm(2)(nncheck.randn(3, 3)), ValueError,
     "Expected 3D or higher dimensionality input"),
    (lambda: F.normalize(nncheck.randn(2, 3), dim=3), IndexError, "out of range"),
    (lambda: nn.LayerNorm(3)(nncheck.tensor([[1, 2, 3]])), TypeError, "floating point"),
])
def test_bad_input_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_instancenorm_channel_mismatch_warns_without_affine():
    with pytest.warns(UserWarning, match="does not match num_features"):
        nn.InstanceNorm2d(3)(nncheck.randn(2, 4, 3, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.InstanceNorm2d(4)(nncheck.randn(2, 4, 3, 3))


@pytest.mark.parametrize("name,kwargs,shape", [
    ("LazyBatchNorm1d", {}, (4, 3)), ("LazyBatchNorm2d", {"affine": False}, (2, 3, 4, 4)),
    ("LazyBatchNorm3d", {"track_running_stats": False}, (2, 2, 3, 2, 2)),
    ("LazyInstanceNorm1d", {}, (2, 3, 5)), ("LazyInstanceNorm2d", {"affine": False}, (2, 3, 4, 4)),
    ("LazyInstanceNorm3d", {"track_running_stats": False}, (2, 2, 3, 2, 2)),
])
def test_lazy_norms_become_their_layers_like_torch(name, kwargs, shape):
    check_lazy(name, (), randn(*shape), **kwargs)


# ---------------------------------------------------------------- CrossMapLRN2d
@pytest.mark.parametrize("size,kwargs,shape", [
    (3, {}, (2, 7, 3, 3)),
    (2, {"alpha": 0.5, "beta": 0.6, "k": 2.0}, (1, 4, 2, 5)),
    (5, {"alpha": 0.3}, (2, 8, 2, 2)),
    (6, {"alpha": 0.1, "k": 1.5}, (3, 3, 1, 2)),  # window wider than the channels
])
def test_cross_map_lrn2d_matches_torch(size, kwargs, shape):
    """PyTorch's legacy algorithm, forward and backward as PyTorch computes them (its
    backward is not the gradient of its forward, so there is no gradcheck here)."""
    nc, to = nn.CrossMapLRN2d(size, **kwargs), torch.nn.CrossMapLRN2d(size, **kwargs)
    check_repr_and_keys(nc, to)
    x = randn(*shape)
    compare_module(nc, to, x)
    check_shape_rule(nc, x)


def test_cross_map_lrn2d_errors_like_torch():
    for lib in (torch, nncheck):
        with pytest.raises(ValueError, match="Expected input to be 4D, got 3D instead"):
            lib.nn.CrossMapLRN2d(3)(lib.ones(2, 3, 4))
        x = lib.ones(1, 3, 2, 2, dtype=lib.float64, requires_grad=True)
        y = lib.nn.CrossMapLRN2d(1)(x)  # forward runs, PyTorch's backward cannot
        with pytest.raises(RuntimeError, match="exceeds dimension size"):
            y.sum().backward()


# ---------------------------------------------------------------- SyncBatchNorm (one process;
# several ranks: tests/test_distributed.py)
@pytest.mark.parametrize("shape,kwargs", [((6, 4), {}), ((3, 4, 5), {"momentum": None}),
                                          ((2, 4, 3, 3, 2), {"affine": False}),
                                          ((3, 4, 2, 2), {"track_running_stats": False})])
def test_sync_batchnorm_on_one_process_is_batchnorm_like_torch(shape, kwargs):
    nc, to = pair("SyncBatchNorm", 4, **kwargs)
    check_repr_and_keys(nc, to)
    train_steps(nc, to, shape)
    check_shape_rule(nc, randn(*shape))


def test_convert_sync_batchnorm_like_torch():
    def model(lib):
        return lib.nn.Sequential(lib.nn.Conv2d(2, 3, 1), lib.nn.BatchNorm2d(3, momentum=0.3),
                                 lib.nn.Sequential(lib.nn.BatchNorm1d(5, affine=False)))

    ours, ref = model(nncheck), model(torch)
    ours[1].running_mean.fill_(0.5)
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(ours)
    assert repr(converted) == repr(torch.nn.SyncBatchNorm.convert_sync_batchnorm(ref))
    assert converted[1].weight is ours[1].weight
    assert converted[1].running_mean.tolist() == [0.5] * 3


def test_sync_batchnorm_errors_like_torch():
    for lib in (torch, nncheck):
        with pytest.raises(ValueError, match="expected at least 2D input \\(got 1D input\\)"):
            lib.nn.SyncBatchNorm(3)(lib.ones(3))
