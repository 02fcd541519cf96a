"""Activations against PyTorch: every layer, forward and backward, float64 and float32."""

import numpy as np
import pytest
import torch
from reference import (
    check_repr_and_keys,
    check_shape_rule,
    compare_function,
    compare_module,
    to_nncheck,
)

import nncheck
import nncheck.nn as nn
import nncheck.nn.functional as F

# (constructor arguments, keyword arguments) per layer; several configurations each
CONFIGS = {
    "ReLU": [(), {"inplace": True}],
    "ReLU6": [()],
    "LeakyReLU": [(), (0.2,), {"negative_slope": -0.3}],
    "ELU": [(), {"alpha": 0.5}],
    "CELU": [(), {"alpha": 2.0}],
    "SELU": [()],
    "Sigmoid": [()],
    "Tanh": [()],
    "Hardtanh": [(), (-0.5, 2.0)],
    "Hardsigmoid": [()],
    "Hardswish": [()],
    "SiLU": [()],
    "Mish": [()],
    "Softplus": [(), {"beta": 2.0, "threshold": 1.0}],
    "Softsign": [()],
    "LogSigmoid": [()],
    "Hardshrink": [(), (1.0,)],
    "Softshrink": [(), (0.2,)],
    "Tanhshrink": [()],
    "Threshold": [(0.1, 20.0), (-0.5, 3.0)],
    "GELU": [(), {"approximate": "tanh"}],
    "Softmax": [{"dim": 1}, {"dim": -1}, {"dim": 0}],
    "Softmin": [{"dim": 1}],
    "LogSoftmax": [{"dim": 1}, {"dim": 2}],
    "Softmax2d": [()],
    "PReLU": [(), (3,), {"num_parameters": 3, "init": 0.1}],
    "GLU": [(), {"dim": 3}],
    "RReLU": [()],
}
CASES = [(name, cfg) for name, cfgs in CONFIGS.items() for cfg in cfgs]


def _build(lib, name, cfg):
    args, kwargs = (cfg, {}) if isinstance(cfg, tuple) else ((), cfg)
    return getattr(lib.nn, name)(*args, **kwargs)


def _input(name, rng, dtype=np.float64):
    # values kept away from the kinks (0, +-3, thresholds) where one-sided derivatives differ
    x = rng.uniform(0.05, 4.0, size=(2, 3, 4, 6)) * rng.choice([-1, 1], size=(2, 3, 4, 6))
    x[np.abs(np.abs(x) - 3) < 0.05] += 0.1
    return x.astype(dtype)


@pytest.mark.parametrize("name,cfg", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_matches_torch_float64(name, cfg):
    rng = np.random.default_rng(0)
    ours, ref = _build(nncheck, name, cfg).double(), _build(torch, name, cfg).double()
    ours.eval(), ref.eval()
    check_repr_and_keys(ours, ref)
    x = _input(name, rng)
    if getattr(ref, "inplace", False):
        # in-place on a leaf is an error in both: feed a non-leaf
        class Wrap(torch.nn.Module):
            def forward(self, t):
                return ref(t * 1)

        class WrapN(nncheck.nn.Module):
            def forward(self, t):
                return ours(t * 1)

        compare_module(WrapN(), Wrap(), x, check_state=False)
    else:
        compare_module(ours, ref, x)
    check_shape_rule(ours, x)


# the layers that take a 0-dim input in PyTorch (softmax over dim 0 or -1 included)
ZERO_DIM_CASES = [(n, c) for n, c in CASES
                  if n not in ("Softmax2d", "GLU") and c not in ({"dim": 1}, {"dim": 2}, (3,))
                  and not (isinstance(c, dict) and c.get("num_parameters", 1) != 1)]


@pytest.mark.parametrize("name,cfg", ZERO_DIM_CASES,
                         ids=[f"{n}-{i}" for i, (n, _) in enumerate(ZERO_DIM_CASES)])
def test_zero_dim_input_keeps_shape_like_torch(name, cfg):
    ours, ref = _build(nncheck, name, cfg).double(), _build(torch, name, cfg).double()
    ours.eval(), ref.eval()
    x = np.array(-0.7 if name != "Threshold" else 1.3)
    if getattr(ref, "inplace", False):
        return  # in-place on a leaf is an error in both; the shape rule is the same code
    n_out, t_out = compare_module(ours, ref, x)
    assert tuple(n_out.shape) == tuple(t_out.shape) == ()


@pytest.mark.parametrize("name,cfg", CASES[::3], ids=[n for n, _ in CASES[::3]])
def test_matches_torch_float32(name, cfg):
    rng = np.random.default_rng(1)
    ours, ref = _build(nncheck, name, cfg), _build(torch, name, cfg)
    ours.eval(), ref.eval()
    x = _input(name, rng, np.float32)
    if getattr(ref, "inplace", False):
        return
    compare_module(ours, ref, x, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("name", ["ELU", "Mish", "GELU", "Softmax", "PReLU", "GLU"])
def test_gradcheck(name):
    cfg = CONFIGS[name][-1]
    module = _build(nncheck, name, cfg).double()
    x = to_nncheck(_input(name, np.random.default_rng(2))[:1, :, :2, :2], requires_grad=True)
    assert nncheck.gradcheck(module, (x,))


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("shape", [(4, 3, 1), (2, 5, 7), (3, 2, 8), (2, 3, 17), (16, 8, 33, 9)])
@pytest.mark.parametrize("shared", [False, True])
def test_prelu_gradients_over_rows_of_every_length_match_torch(shape, shared, dtype, tol):
    # the weight gradient sums each row in 8 partial sums: rows shorter than, equal to and
    # longer than 8 with a remainder, one weight or one per channel, threaded or not
    rng = np.random.default_rng(sum(shape))
    x, g = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    w = rng.random(1 if shared else shape[1]).astype(dtype)
    grads = []
    for lib, fn in ((nncheck, F.prelu), (torch, torch.nn.functional.prelu)):
        xt, wt = lib.tensor(x, requires_grad=True), lib.tensor(w, requires_grad=True)
        fn(xt, wt).backward(lib.tensor(g))
        grads.append((xt.grad.numpy(), wt.grad.numpy()))
    (gx, gw), (tx, tw) = grads
    np.testing.assert_allclose(gx, tx, rtol=tol, atol=tol)
    np.testing.assert_allclose(gw, tw, rtol=tol, atol=tol * np.sqrt(x.size))


@pytest.mark.parametrize("size", [1, 13, 1003, 18432, 32767, 32768 + 5])
@pytest.mark.parametrize("name", ["relu", "gelu", "tanh", "hardtanh", "elu"])
def test_elementwise_sizes_around_the_threading_threshold_match_torch(name, size):
    # below the threshold (32768 elements) a loop runs in one thread, vectorised; above it,
    # threaded: both sides and odd sizes (vector remainders) give torch's values
    x = np.random.default_rng(size).standard_normal(size)
    x[np.abs(x) < 1e-3] += 0.01  # off ReLU's kink
    for dtype, rtol, atol in ((np.float64, 1e-12, 1e-14), (np.float32, 2e-5, 2e-6)):
        compare_function(getattr(F, name), getattr(torch.nn.functional, name),
                         x.astype(dtype), rtol=rtol, atol=atol)


def test_float16_computes_in_float32():
    x = nncheck.tensor([[-1.0, 0.5, 2.0]], dtype=nncheck.float16)
    y = F.gelu(x)
    assert y.dtype is nncheck.float16
    ref = torch.nn.functional.gelu(torch.tensor([[-1.0, 0.5, 2.0]])).numpy()
    np.testing.assert_allclose(y.numpy().astype(np.float32), ref, rtol=1e-3)


def test_inplace_modifies_input_and_keeps_gradient():
    x = nncheck.tensor([-1.0, 2.0, -3.0], requires_grad=True)
    y = x * 2
    out = F.relu(y, inplace=True)
    assert out is y and y.tolist() == [0.0, 4.0, 0.0]
    out.sum().backward()
    assert x.grad.tolist() == [0.0, 2.0, 0.0]


@pytest.mark.parametrize("fn", [F.relu, F.relu6, F.hardtanh, F.leaky_relu])
def test_inplace_writes_over_the_input_and_matches_torch(fn):
    """relu-like in-place ops overwrite their input's storage (no copy) and backward reads it."""
    x = np.random.default_rng(3).standard_normal((3, 5))
    grads = []
    for lib, f in ((torch, getattr(torch.nn.functional, fn.__name__)), (nncheck, fn)):
        t = lib.from_numpy(x.copy()).requires_grad_(True)
        y = t * 2
        out = f(y, inplace=True)
        assert out is y
        (out * out).sum().backward()
        grads.append((out.detach().numpy(), t.grad.numpy()))
    for ours, theirs in zip(grads[1], grads[0]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_inplace_output_modified_again_is_an_error_in_backward():
    x = nncheck.tensor([-1.0, 2.0], requires_grad=True)
    y = F.relu(x * 2, inplace=True)
    y.add_(1)  # overwrites the output relu's backward reads
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_inplace_on_leaf_requiring_grad_is_an_error():
    x = nncheck.tensor([-1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        F.relu(x, inplace=True)


@pytest.mark.parametrize("fn,args", [
    (F.softplus, {"beta": 0.5}), (F.hardtanh, {"min_val": -2.0, "max_val": 0.5}),
    (F.leaky_relu, {"negative_slope": 0.3}), (F.threshold, {"threshold": 0.2, "value": -1.0}),
])
def test_functional_forms(fn, args):
    rng = np.random.default_rng(3)
    compare_function(fn, getattr(torch.nn.functional, fn.__name__),
                     rng.standard_normal((3, 5)), **args)


def test_rrelu_training_draws_slopes_in_range_and_backward_uses_them():
    nncheck.manual_seed(0)
    x = nncheck.tensor(-np.ones((1000,)), requires_grad=True)
    y = F.rrelu(x * 1, 0.1, 0.3, training=True)
    slopes = -y.detach().numpy()
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3 and slopes.std() > 0.03
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), slopes)


def test_softmax_implicit_dim_warns_like_torch():
    with pytest.warns(UserWarning, match="Implicit dimension"):
        y = F.softmax(nncheck.randn(2, 3))
    np.testing.assert_allclose(y.numpy().sum(axis=1), 1, rtol=1e-6)


@pytest.mark.parametrize("call,exc,match", [
    (lambda: F.glu(nncheck.randn(2, 3)), ValueError, "halving dimension must be even"),
    (lambda: F.softmax(nncheck.randn(2, 3), dim=2), IndexError, "out of range"),
    (lambda: F.prelu(nncheck.randn(2, 3), nncheck.ones(2)), ValueError, "3 channels"),
    (lambda: F.relu(nncheck.tensor([1, 2])), TypeError, "floating point"),
    (lambda: nn.Softmax2d()(nncheck.randn(2, 3)), ValueError, "3-D or 4-D"),
    (lambda: F.hardtanh(nncheck.randn(2), 1.0, -1.0), ValueError, "min_val"),
])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
