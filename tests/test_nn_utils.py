"""nn.utils against PyTorch: gradient clipping, weight_norm, spectral_norm, parameter vectors."""

import math
import warnings

import numpy as np
import pytest
import torch
from reference import assert_close, to_nncheck, to_torch

import nncheck
import nncheck.nn as nn
from nncheck.nn import utils

RNG = np.random.default_rng(0)


def rand(*shape):
    return RNG.standard_normal(shape)


def _param_pairs(shapes, dtypes=None):
    """The same parameters with the same gradients in both libraries (some grads None)."""
    nc, to = [], []
    for i, shape in enumerate(shapes):
        dtype = (dtypes or [np.float64] * len(shapes))[i]
        value = rand(*shape).astype(dtype)
        p, q = nn.Parameter(to_nncheck(value)), torch.nn.Parameter(to_torch(value))
        if i != 1:  # parameter 1 never received a gradient
            g = (rand(*shape) * 3).astype(dtype)
            p.grad, q.grad = to_nncheck(g), to_torch(g)
        nc.append(p)
        to.append(q)
    return nc, to


SHAPES = [(3, 4), (5,), (2, 3, 2), ()]


@pytest.mark.parametrize("norm_type", [2, 1, 3.5, 0.5, math.inf, -math.inf, 0, "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    nc, to = _param_pairs(SHAPES)
    total = utils.clip_grad_norm_(nc, max_norm, norm_type=norm_type)
    want = torch.nn.utils.clip_grad_norm_(to, max_norm, norm_type=norm_type)
    assert isinstance(total, nncheck.Tensor) and total.shape == ()
    assert_close(total, want)
    for p, q in zip(nc, to):
        assert (p.grad is None) == (q.grad is None)
        if q.grad is not None:
            assert_close(p.grad, q.grad)


def test_clip_grad_norm_float32_and_mixed_dtypes():
    nc, to = _param_pairs(SHAPES, [np.float32, np.float32, np.float64, np.float32])
    assert_close(utils.clip_grad_norm_(nc, 0.3, foreach=True),
                 torch.nn.utils.clip_grad_norm_(to, 0.3, foreach=False), rtol=1e-6)
    for p, q in zip(nc, to):
        if q.grad is not None:
            assert p.grad.dtype.name == str(q.grad.dtype).removeprefix("torch.")
            assert_close(p.grad, q.grad, rtol=1e-6)


def test_clip_grad_norm_single_tensor_and_empty():
    nc, to = _param_pairs([(4, 4)])
    assert_close(utils.clip_grad_norm_(nc[0], 1.0), torch.nn.utils.clip_grad_norm_(to[0], 1.0))
    assert_close(nc[0].grad, to[0].grad)
    total = utils.clip_grad_norm_([], 1.0)
    assert total.item() == 0.0 and total.dtype == nncheck.float32
    with pytest.warns(UserWarning, match="empty generator"):
        utils.clip_grad_norm_((p for p in []), 1.0)


def test_clip_grad_norm_nonfinite():
    nc, _ = _param_pairs([(3,), (2,)])
    nc[0].grad._data[1] = np.nan
    with pytest.raises(RuntimeError, match="non-finite"):
        utils.clip_grad_norm_(nc, 1.0, error_if_nonfinite=True)
    total = utils.clip_grad_norm_(nc, 1.0)
    assert math.isnan(total.item())


def test_get_total_norm_and_clip_with_norm():
    nc, to = _param_pairs(SHAPES)
    grads_nc = [p.grad for p in nc if p.grad is not None]
    grads_to = [p.grad for p in to if p.grad is not None]
    total = utils.get_total_norm(grads_nc, 3.0)
    assert_close(total, torch.nn.utils.get_total_norm(grads_to, 3.0))
    utils.clip_grads_with_norm_(nc, 0.25, total)
    torch.nn.utils.clip_grads_with_norm_(to, 0.25, torch.nn.utils.get_total_norm(grads_to, 3.0))
    for p, q in zip(nc, to):
        if q.grad is not None:
            assert_close(p.grad, q.grad)


def test_clip_grad_norm_deprecated_alias():
    nc, to = _param_pairs(SHAPES)
    with pytest.warns(FutureWarning):
        total = utils.clip_grad_norm(nc, 0.5)
    assert_close(total, torch.nn.utils.clip_grad_norm_(to, 0.5))


@pytest.mark.parametrize("clip", [0.1, 1, 10.0])
def test_clip_grad_value_matches_torch(clip):
    nc, to = _param_pairs(SHAPES)
    assert utils.clip_grad_value_(nc, clip) is None
    torch.nn.utils.clip_grad_value_(to, clip)
    for p, q in zip(nc, to):
        if q.grad is not None:
            assert_close(p.grad, q.grad)


def test_clip_grad_after_backward():
    """The usual training-loop use: clip real gradients of a module in place."""
    layer = nn.Linear(4, 3).double()
    out = layer(to_nncheck(rand(5, 4)))
    (out * out).sum().backward()
    before = [p.grad.numpy().copy() for p in layer.parameters()]
    total = utils.clip_grad_norm_(layer.parameters(), 0.1)
    norm = math.sqrt(sum(float((b * b).sum()) for b in before))
    assert total.item() == pytest.approx(norm)
    scale = 0.1 / (norm + 1e-6)
    for p, b in zip(layer.parameters(), before):
        np.testing.assert_allclose(p.grad.numpy(), b * scale, rtol=1e-12)


# --------------------------------------------------------------------------- weight_norm
class _Weighted(nn.Module):
    """A module with an N-D weight, to exercise weight_norm/spectral_norm on any dim."""

    def __init__(self, shape):
        super().__init__()
        self.weight = nn.Parameter(nncheck.zeros(*shape, dtype=nncheck.float64))

    def forward(self, x):
        return x @ self.weight.reshape(x.shape[-1], -1)


class _TorchWeighted(torch.nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(*shape, dtype=torch.float64))

    def forward(self, x):
        return x @ self.weight.reshape(x.shape[-1], -1)


def _pair(shape):
    if shape is None:
        nc, to = nn.Linear(5, 4).double(), torch.nn.Linear(5, 4).double()
    else:
        nc, to = _Weighted(shape), _TorchWeighted(shape)
        with torch.no_grad():
            to.weight.copy_(torch.from_numpy(rand(*shape)))
    nc.load_state_dict({k: to_nncheck(v) for k, v in to.state_dict().items()})
    return nc, to


def _run_both(nc, to, x, n_steps=1):
    """Forward + backward in both; returns outputs.  Loads torch's state first."""
    nc.load_state_dict({k: to_nncheck(v) for k, v in to.state_dict().items()})
    for _ in range(n_steps):
        a, b = nc(to_nncheck(x)), to(to_torch(x))
        assert_close(a, b, what="output")
        go = rand(*b.shape)
        a.backward(to_nncheck(go))
        b.backward(to_torch(go))
    for (name, p), (tname, q) in zip(nc.named_parameters(), to.named_parameters()):
        assert name == tname
        assert_close(p.grad, q.grad, what=f"grad of {name}")
    for (name, b1), (_, b2) in zip(nc.named_buffers(), to.named_buffers()):
        assert_close(b1, b2, what=f"buffer {name}")


@pytest.mark.parametrize("shape,dim", [(None, 0), (None, 1), (None, None), (None, -2),
                                       ((5, 2, 3, 2), 0), ((5, 2, 3, 2), 2),
                                       ((5, 2, 3, 2), -1), ((5, 2, 3, 2), 3)])
def test_weight_norm_matches_torch(shape, dim):
    nc, to = _pair(shape)
    utils.weight_norm(nc, dim=dim)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.nn.utils.weight_norm(to, dim=dim)
    assert list(nc.state_dict()) == list(to.state_dict())
    assert tuple(nc.weight_g.shape) == tuple(to.weight_g.shape)
    assert_close(nc.weight_g, to.weight_g)
    x = rand(3, 5) if shape is None else rand(3, 5)
    _run_both(nc, to, x, n_steps=2)
    utils.remove_weight_norm(nc)
    torch.nn.utils.remove_weight_norm(to)
    assert list(nc.state_dict()) == list(to.state_dict())
    assert isinstance(nc.weight, nn.Parameter)
    assert_close(nc.weight, to.weight)


def test_weight_norm_seed_example():
    m = utils.weight_norm(nn.Linear(20, 40), name="weight")
    assert tuple(m.weight_g.size()) == (40, 1)
    assert tuple(m.weight_v.size()) == (40, 20)
    np.testing.assert_allclose(m.weight.detach().numpy(), m.weight_v.detach().numpy(),
                               rtol=1e-6)
    utils.remove_weight_norm(m)
    assert [n for n, _ in m.named_parameters()] == ["bias", "weight"]


def test_weight_norm_gradcheck_and_hook():
    layer = utils.weight_norm(nn.Linear(3, 2).double())
    with nncheck.no_grad():
        layer.weight_g.mul_(2.0)
    out = layer(to_nncheck(rand(4, 3)))
    row_norms = np.linalg.norm(layer.weight.detach().numpy(), axis=1)
    np.testing.assert_allclose(row_norms, layer.weight_g.detach().numpy()[:, 0], rtol=1e-12)
    assert out.shape == (4, 2)
    assert nncheck.gradcheck(layer, (to_nncheck(rand(2, 3), True),))


def test_weight_norm_errors():
    layer = utils.weight_norm(nn.Linear(3, 2))
    with pytest.raises(RuntimeError, match="two weight_norm hooks"):
        utils.weight_norm(layer)
    with pytest.raises(ValueError, match="weight_norm of 'bias' not found"):
        utils.remove_weight_norm(layer, "bias")


# --------------------------------------------------------------------------- spectral_norm
@pytest.mark.parametrize("shape,dim,iters", [(None, None, 1), (None, 1, 3),
                                             ((5, 2, 3, 2), None, 2), ((5, 2, 3, 2), 2, 1)])
def test_spectral_norm_matches_torch(shape, dim, iters):
    nc, to = _pair(shape)
    utils.spectral_norm(nc, n_power_iterations=iters, dim=dim, eps=1e-10)
    torch.nn.utils.spectral_norm(to, n_power_iterations=iters, dim=dim, eps=1e-10)
    assert list(nc.state_dict()) == list(to.state_dict())
    assert [n for n, _ in nc.named_buffers()] == [n for n, _ in to.named_buffers()]
    _run_both(nc, to, rand(3, 5), n_steps=3)  # train mode: u, v follow torch's every step
    nc.eval()
    to.eval()
    _run_both(nc, to, rand(2, 5))
    utils.remove_spectral_norm(nc)
    torch.nn.utils.remove_spectral_norm(to)
    assert list(nc.state_dict()) == list(to.state_dict())
    assert_close(nc.weight, to.weight)


def test_spectral_norm_normalises_and_gradchecks():
    layer = utils.spectral_norm(nn.Linear(6, 4).double(), n_power_iterations=300)
    layer(to_nncheck(rand(1, 6)))
    sigma = np.linalg.svd(layer.weight.detach().numpy(), compute_uv=False)[0]
    assert sigma == pytest.approx(1.0, rel=1e-6)
    layer.eval()
    assert nncheck.gradcheck(layer, (to_nncheck(rand(2, 6), True),))


def test_spectral_norm_default_dim_for_conv_transpose():
    class ConvTranspose2d(_Weighted):  # stands for nn.ConvTranspose2d: dim defaults to 1
        pass

    layer = utils.spectral_norm(ConvTranspose2d((3, 4, 2, 2)))
    assert tuple(layer.weight_u.shape) == (4,) and tuple(layer.weight_v.shape) == (12,)


def test_spectral_norm_errors():
    with pytest.raises(ValueError, match="n_power_iterations to be positive"):
        utils.spectral_norm(nn.Linear(3, 2), n_power_iterations=0)
    with pytest.raises(ValueError, match="parameter `bias` is None"):
        utils.spectral_norm(nn.Linear(3, 2, bias=False), name="bias")
    layer = utils.spectral_norm(nn.Linear(3, 2))
    with pytest.raises(RuntimeError, match="two spectral_norm hooks"):
        utils.spectral_norm(layer)
    with pytest.raises(ValueError, match="spectral_norm of 'bias' not found"):
        utils.remove_spectral_norm(layer, "bias")


# --------------------------------------------------------------------------- vectors
def test_parameters_vector_round_trip():
    nc_layer, to_layer = nn.Linear(4, 3).double(), torch.nn.Linear(4, 3).double()
    nc_layer.load_state_dict({k: to_nncheck(v) for k, v in to_layer.state_dict().items()})
    vec = utils.parameters_to_vector(nc_layer.parameters())
    assert_close(vec, torch.nn.utils.parameters_to_vector(to_layer.parameters()))
    new = rand(vec.numel())
    utils.vector_to_parameters(to_nncheck(new), nc_layer.parameters())
    torch.nn.utils.vector_to_parameters(to_torch(new), to_layer.parameters())
    for p, q in zip(nc_layer.parameters(), to_layer.parameters()):
        assert_close(p, q)
    weights = [nn.Parameter(to_nncheck(rand(2, 2))), nn.Parameter(to_nncheck(rand(3)))]
    (utils.parameters_to_vector(weights) ** 2).sum().backward()
    np.testing.assert_allclose(weights[1].grad.numpy(), 2 * weights[1].detach().numpy())


def test_vector_to_parameters_needs_a_tensor():
    with pytest.raises(TypeError, match="expected torch.Tensor, but got: list"):
        utils.vector_to_parameters([1.0, 2.0], nn.Linear(1, 1).parameters())
