"""Dropout layers: masks cannot equal torch's (different generators), so the tests check the
statistics of the masks, exact scaling and gradients, whole-channel dropping, eval identity,
reproducibility under nncheck.manual_seed, alpha dropout's constants and moments, and torch's
repr and error messages."""

import math
import warnings

import numpy as np
import pytest
import torch
from reference import check_repr_and_keys, check_shape_rule, to_nncheck

import nncheck
import nncheck.nn as nn
import nncheck.nn.functional as F

ALPHA = 1.7580993408473766  # torch's alpha dropout constant (-SELU scale * alpha)
CLASSES = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
           "FeatureAlphaDropout"]
CHANNEL_SHAPES = {"Dropout1d": (40, 50, 7), "Dropout2d": (40, 50, 3, 2),
                  "Dropout3d": (40, 50, 2, 2, 2), "FeatureAlphaDropout": (40, 50, 3, 2)}


def shape_for(name):
    return CHANNEL_SHAPES.get(name, (200, 500))


def channels_of(arr, name):
    """The array as (units, elements per unit): a unit is what one draw keeps or drops."""
    if name in CHANNEL_SHAPES:
        return arr.reshape(arr.shape[0] * arr.shape[1], -1)
    return arr.reshape(-1, 1)


def run(name, p, shape, dtype=np.float64, seed=0):
    nncheck.manual_seed(seed)
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    t = to_nncheck(x, requires_grad=True)
    out = getattr(nn, name)(p)(t)
    return x, t, out


@pytest.mark.parametrize("name", CLASSES)
@pytest.mark.parametrize("p,inplace", [(0.5, False), (0.2, True), (0, False), (1, False)])
def test_repr_and_keys(name, p, inplace):
    check_repr_and_keys(getattr(nn, name)(p, inplace), getattr(torch.nn, name)(p, inplace))


@pytest.mark.parametrize("name", CLASSES)
@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_probability_outside_unit_interval_rejected(name, p):
    with pytest.raises(ValueError, match=f"dropout probability has to be between 0 and 1, but "
                                         f"got {p}"):
        getattr(nn, name)(p)
    fn = getattr(F, {"Dropout": "dropout", "AlphaDropout": "alpha_dropout",
                     "FeatureAlphaDropout": "feature_alpha_dropout"}.get(name, name.lower()))
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        fn(nncheck.randn(*shape_for(name)[:3]), p, True)


@pytest.mark.parametrize("name", CLASSES)
def test_eval_and_p_zero_are_identity(name):
    x = nncheck.randn(*shape_for(name))
    m = getattr(nn, name)(0.5).eval()
    assert m(x) is x
    assert getattr(nn, name)(0.0)(x) is x
    assert F.dropout(x, 0.5, training=False) is x


@pytest.mark.parametrize("name", ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d"])
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_fraction_scaling_and_gradient(name, p):
    x, t, out = run(name, p, shape_for(name))
    y = out.numpy(force=True)
    units = channels_of(y, name)
    kept = np.all(units != 0, axis=1)
    dropped = np.all(units == 0, axis=1)
    assert np.all(kept | dropped), "a unit must be kept or dropped as a whole"
    n = units.shape[0]
    bound = 5 * math.sqrt(p * (1 - p) / n)
    assert abs(dropped.mean() - p) < bound, (dropped.mean(), p, bound)
    scale = 1.0 / (1.0 - p)
    xs = channels_of(x, name)
    np.testing.assert_array_equal(units[kept], xs[kept] * scale)
    g = np.random.default_rng(1).standard_normal(x.shape)
    out.backward(nncheck.from_numpy(g))
    gu = channels_of(t.grad.numpy(), name)
    np.testing.assert_array_equal(gu, channels_of(g, name) * kept[:, None] * scale)


@pytest.mark.parametrize("name", ["AlphaDropout", "FeatureAlphaDropout"])
@pytest.mark.parametrize("p", [0.2, 0.5])
def test_alpha_dropout_constants_and_moments(name, p):
    x, t, out = run(name, p, (60, 400, 10) if name == "AlphaDropout" else (100, 400, 10))
    a = 1.0 / math.sqrt((ALPHA * ALPHA * p + 1) * (1 - p))
    y = out.numpy(force=True)
    units, xs = channels_of(y, name), channels_of(x, name)
    dropped = np.all(units == ALPHA * a * (p - 1), axis=1)
    kept = ~dropped
    np.testing.assert_allclose(units[kept], xs[kept] * a + ALPHA * a * p, rtol=1e-15)
    assert abs(dropped.mean() - p) < 5 * math.sqrt(p * (1 - p) / units.shape[0])
    # a zero input shows the two constants: the same as torch's
    zeros = np.zeros(10000)
    ours = np.unique(F.alpha_dropout(to_nncheck(zeros), p, True).numpy())
    theirs = torch.nn.functional.alpha_dropout(torch.tensor(zeros), p, True).unique().numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-15)
    assert abs(y.mean()) < 0.02 and abs(y.var() - 1) < 0.03
    g = np.ones(x.shape)
    out.backward(nncheck.from_numpy(g))
    np.testing.assert_array_equal(channels_of(t.grad.numpy(), name),
                                  np.broadcast_to(kept[:, None] * a, units.shape))


@pytest.mark.parametrize("name", CLASSES)
def test_p_one_drops_everything_without_drawing(name):
    nncheck.manual_seed(3)
    t = nncheck.randn(*shape_for(name), dtype=nncheck.float64, requires_grad=True)
    state = nncheck.get_rng_state()
    out = getattr(nn, name)(1.0)(t)
    assert nncheck.get_rng_state() == state
    assert not out.numpy(force=True).any()
    out.sum().backward()
    assert not t.grad.numpy().any()


@pytest.mark.parametrize("name", CLASSES)
def test_manual_seed_reproduces_the_mask(name):
    _, _, a = run(name, 0.5, shape_for(name), seed=7)
    _, _, b = run(name, 0.5, shape_for(name), seed=7)
    _, _, c = run(name, 0.5, shape_for(name), seed=8)
    np.testing.assert_array_equal(a.numpy(force=True), b.numpy(force=True))
    assert not np.array_equal(a.numpy(force=True), c.numpy(force=True))


@pytest.mark.parametrize("name", ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d"])
def test_inplace_writes_into_the_input(name):
    nncheck.manual_seed(0)
    leaf = nncheck.randn(*shape_for(name)[:2], *shape_for(name)[2:], requires_grad=True)
    x = leaf * 1.0
    before = x.numpy(force=True).copy()
    out = getattr(nn, name)(0.5, inplace=True)(x)
    assert out is x
    y = x.numpy(force=True)
    assert np.all((y == 0) | (y == before * 2))
    x.sum().backward()
    np.testing.assert_array_equal(leaf.grad.numpy(), (y != 0) * 2.0)


def test_unbatched_channel_dropout():
    """dropout1d on (C, L) and dropout3d on (C, D, H, W) drop whole rows of the first dim."""
    nncheck.manual_seed(1)
    for fn, shape in ((F.dropout1d, (300, 4)), (F.dropout3d, (300, 2, 2, 2))):
        y = fn(nncheck.randn(*shape), 0.5).numpy().reshape(shape[0], -1)
        assert np.all(np.all(y == 0, axis=1) | np.all(y != 0, axis=1))


def test_dropout2d_deprecation_warnings_as_torch():
    with pytest.warns(UserWarning, match="assuming that channel-wise 1D dropout"):
        F.dropout2d(nncheck.randn(2, 3, 4), 0.5)
    with pytest.warns(UserWarning, match="Received a 2-D input to dropout2d"):
        F.dropout2d(nncheck.randn(2, 3), 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.dropout2d(nncheck.randn(2, 3, 2, 2), 0.5)


@pytest.mark.parametrize("call,match", [
    (lambda: F.dropout1d(nncheck.randn(2, 3, 4, 5), 0.5),
     "dropout1d: Expected 2D or 3D input, but received a 4D input"),
    (lambda: F.feature_alpha_dropout(nncheck.randn(3), 0.5, True),
     "Feature dropout requires at least 2 dimensions"),
    (lambda: nn.Dropout1d()(nncheck.randn(5)), "Expected 2D or 3D input"),
])
def test_rank_errors(call, match):
    with pytest.raises(RuntimeError, match=match):
        call()


@pytest.mark.parametrize("name", CLASSES)
def test_float32_keeps_dtype_and_exact_scaling(name):
    x, t, out = run(name, 0.25, shape_for(name), dtype=np.float32)
    assert out.dtype == nncheck.float32
    if "Alpha" not in name:
        y = out.numpy(force=True)
        np.testing.assert_array_equal(y[y != 0], x[y != 0] * np.float32(1 / 0.75))


@pytest.mark.parametrize("name", CLASSES)
def test_gradcheck_in_training_mode(name):
    m = getattr(nn, name)(0.4)
    shape = {"Dropout": (3, 4), "AlphaDropout": (3, 4), "Dropout1d": (2, 3, 2)}.get(name,
                                                                                   (2, 3, 2, 1))
    if name == "Dropout3d":
        shape = (2, 3, 1, 2, 1)
    x = nncheck.randn(*shape, dtype=nncheck.float64, requires_grad=True)
    assert nncheck.gradcheck(m, (x,))


@pytest.mark.parametrize("name", CLASSES)
def test_shape_rule(name):
    check_shape_rule(getattr(nn, name)(0.3), np.zeros(shape_for(name)[:3] if name == "Dropout1d"
                                                      else shape_for(name)))
    explain = []
    getattr(nn, name)(0.3).infer_shape((2, 3, 4), explain=explain)
    assert "0.7" in explain[0]
