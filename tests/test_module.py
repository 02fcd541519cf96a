"""The Module API as the seed documents it, checked against PyTorch."""

from collections import OrderedDict

import numpy as np
import pytest
import torch
from reference import to_nncheck

import nncheck
import nncheck.nn as nn


def _pair(lib):
    class Model(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.add_module("fc", lib.nn.Linear(4, 3))
            self.act = lib.nn.ReLU()
            self.head = lib.nn.Sequential(lib.nn.Linear(3, 2), lib.nn.Tanh())
            self.register_buffer("steps", lib.zeros(1))
            self.register_buffer("scratch", lib.zeros(2), persistent=False)

        def forward(self, x):
            return self.head(self.act(self.fc(x)))

    return Model()


def test_names_repr_and_state_dict_keys_match_torch():
    ours, ref = _pair(nncheck), _pair(torch)
    assert repr(ours) == repr(ref)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in ref.named_buffers()]
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in ref.named_modules()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in ref.named_children()]


def test_load_state_dict_from_torch_gives_same_outputs():
    # seeded PyTorch weights (whatever ran before) and float64, so only the loading is tested,
    # not float32 rounding on whichever weights the random state gave
    with torch.random.fork_rng():
        torch.manual_seed(0)
        ref = _pair(torch).double()
    ours = _pair(nncheck).double()
    ours.load_state_dict({k: nncheck.from_numpy(v.numpy().copy())
                          for k, v in ref.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((5, 4))
    np.testing.assert_allclose(ours(nncheck.from_numpy(x)).detach().numpy(),
                               ref(torch.from_numpy(x)).detach().numpy(), rtol=1e-12,
                               atol=1e-15)


def test_load_state_dict_strict_reports_keys():
    m = _pair(nncheck)
    sd = m.state_dict()
    del sd["fc.bias"]
    sd["extra"] = nncheck.zeros(1)
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "fc.bias"'):
        m.load_state_dict(sd)
    result = m.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["fc.bias"] and result.unexpected_keys == ["extra"]
    sd = m.state_dict()
    sd["fc.weight"] = nncheck.zeros(2, 2)
    with pytest.raises(RuntimeError, match="size mismatch for fc.weight"):
        m.load_state_dict(sd)


def test_seed_examples_module_api(capsys):
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.add_module("conv", nn.Linear(10, 20))

    model = Model()
    print(model.conv)

    def init_weights(m):
        if type(m) is nn.Linear:
            m.weight.data.fill_(1.0)

    net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    assert net.apply(init_weights) is net
    assert net[0].weight.tolist() == [[1.0, 1.0], [1.0, 1.0]]
    layer = nn.Linear(2, 2)
    dup = nn.Sequential(layer, layer)
    assert len(list(dup.modules())) == 2 and len(list(dup.named_modules())) == 2
    assert list(layer.state_dict().keys()) == ["weight", "bias"]
    layer.to(nncheck.double)
    assert layer.weight.dtype is nncheck.float64
    layer.half()
    assert layer.weight.dtype is nncheck.float16
    layer.float().cpu()
    assert "Linear(in_features=10, out_features=20, bias=True)" in capsys.readouterr().out


def test_train_eval_zero_grad_requires_grad():
    m = _pair(nncheck)
    assert m.training and m.head.training
    m.eval()
    assert not m.training and not m.head[0].training
    x = to_nncheck(np.ones((2, 4), np.float32))
    m(x).sum().backward()
    assert m.fc.weight.grad is not None
    m.zero_grad()
    assert m.fc.weight.grad is None
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())


def test_forward_hooks_and_removable_handles():
    m = nn.Linear(3, 2)
    calls = []
    pre = m.register_forward_pre_hook(lambda mod, inp: calls.append("pre"))
    post = m.register_forward_hook(lambda mod, inp, out: out * 0)
    y = m(nncheck.randn(4, 3))
    assert calls == ["pre"] and y.abs().sum().item() == 0
    pre.remove()
    post.remove()
    assert m(nncheck.randn(4, 3)).abs().sum().item() > 0 and calls == ["pre"]


def test_full_backward_hook_sees_and_replaces_grads():
    results = []
    for lib in (nncheck, torch):
        m = lib.nn.Linear(3, 2)
        with lib.no_grad():
            m.weight.fill_(0.5)
        seen = {}

        def hook(mod, grad_input, grad_output, seen=seen):
            seen["gi"] = grad_input[0].tolist()
            seen["go"] = grad_output[0].tolist()
            return (grad_input[0] * 2,)

        m.register_full_backward_hook(hook)
        x = lib.ones(1, 3, requires_grad=True)
        m(x).sum().backward()
        results.append((seen["gi"], seen["go"], x.grad.tolist()))
    assert results[0] == results[1]


def test_containers():
    seq = nn.Sequential(OrderedDict([("a", nn.Linear(2, 3)), ("b", nn.ReLU())]))
    assert isinstance(seq[1], nn.ReLU) and len(seq) == 2 and isinstance(seq[:1], nn.Sequential)
    seq.append(nn.Linear(3, 1))
    assert seq(nncheck.randn(4, 2)).shape == (4, 1)
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    ml.append(nn.ReLU())
    assert len(ml) == 4 and len(list(ml.parameters())) == 6
    md = nn.ModuleDict({"x": nn.Linear(1, 1)})
    md["y"] = nn.ReLU()
    assert list(md.keys()) == ["x", "y"]
    pl = nn.ParameterList([nn.Parameter(nncheck.randn(2, 2)) for _ in range(2)])
    assert len(list(pl.parameters())) == 2
    pd = nn.ParameterDict({"w": nn.Parameter(nncheck.ones(1))})
    assert [n for n, _ in pd.named_parameters()] == ["w"]
    for n in (1, 2):
        ours = nn.ParameterList([nn.Parameter(nncheck.randn(10, 10)) for _ in range(n)])
        ref = torch.nn.ParameterList([torch.nn.Parameter(torch.randn(10, 10)) for _ in range(n)])
        assert repr(ours) == repr(ref).replace("torch", "nncheck")


def test_parameter_list_seed_example():
    class MyModule(nn.Module):
        def __init__(self):
            super().__init__()
            self.params = nn.ParameterList([nn.Parameter(nncheck.randn(10, 10)) for _ in range(10)])

        def forward(self, x):
            for i, p in enumerate(self.params):
                x = self.params[i // 2].mm(x) + p.mm(x)
            return x

    out = MyModule()(nncheck.randn(10, 3))
    assert out.shape == (10, 3)


def test_register_errors():
    m = nn.Module()
    with pytest.raises(TypeError, match="nn.Parameter or None required"):
        m.register_parameter("w", nncheck.ones(1))
    with pytest.raises(KeyError, match="contain"):
        m.add_module("a.b", nn.ReLU())
    with pytest.raises(TypeError, match="is not a Module subclass"):
        m.add_module("x", 3)
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        _ = m.missing


def test_init_functions():
    w = nncheck.empty(300, 200)
    nn.init.xavier_uniform_(w)
    bound = np.sqrt(6 / 500)
    assert np.abs(w.numpy()).max() <= bound
    nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    assert abs(w.numpy().std() - np.sqrt(2 / 300)) < 0.01
    nn.init.orthogonal_(w)
    np.testing.assert_allclose(w.numpy().T @ w.numpy(), np.eye(200), atol=1e-5)
    nn.init.trunc_normal_(w, std=1.0, a=-0.5, b=0.5)
    assert np.abs(w.numpy()).max() <= 0.5
    assert nn.init.calculate_gain("leaky_relu", 0.2) == torch.nn.init.calculate_gain(
        "leaky_relu", 0.2)
    nn.init.eye_(nncheck.empty(3, 3))
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init.xavier_uniform_(nncheck.empty(3))
