"""DataParallel on CPU worker threads: PyTorch's full-batch results, one backward, torch's API."""

import os
import threading
from collections import namedtuple

import numpy as np
import pytest
import torch
from reference import check_repr_and_keys, check_shape_rule, compare_module, load_torch_weights

import nncheck
import nncheck.nn as nn
from nncheck.nn.parallel import DataParallel, data_parallel, scatter_kwargs

Pair = namedtuple("Pair", ["out", "total"])


def mlp(lib):
    return lib.nn.Sequential(lib.nn.Linear(5, 7), lib.nn.ReLU(), lib.nn.Linear(7, 3)).double()


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("workers", [1, 2, 3, 4])
@pytest.mark.parametrize("batch", [10, 2])
def test_outputs_and_gradients_match_torch_full_batch(workers, batch):
    # torch's DataParallel on a CPU-only machine runs the module on the whole batch
    compare_module(DataParallel(mlp(nncheck), device_ids=list(range(workers))),
                   torch.nn.DataParallel(mlp(torch)), rand(batch, 5))


def test_scatter_along_dim_1_and_float32():
    compare_module(DataParallel(mlp(nncheck), device_ids=[0, 1, 2], dim=1),
                   torch.nn.DataParallel(mlp(torch)), rand(2, 8, 5))
    compare_module(DataParallel(nn.Linear(5, 3), device_ids=[0, 1, 2]),
                   torch.nn.DataParallel(torch.nn.Linear(5, 3)),
                   rand(9, 5).astype(np.float32), rtol=1e-5, atol=1e-6)


def test_repr_state_dict_and_shape_rule():
    dp = DataParallel(mlp(nncheck), device_ids=[0, 1, 2, 3])
    check_repr_and_keys(dp, torch.nn.DataParallel(mlp(torch)))
    assert dp.module is dp._modules["module"]
    check_shape_rule(dp, rand(10, 5))
    check_shape_rule(DataParallel(nn.Linear(5, 3), device_ids=[0, 1], dim=1), rand(2, 3, 5))
    plain = mlp(nncheck)
    DataParallel(plain).load_state_dict(dp.state_dict())
    for p, q in zip(plain.parameters(), dp.module.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())


def test_device_arguments():
    assert DataParallel(nn.Linear(2, 2)).device_ids == list(range(len(os.sched_getaffinity(0))))
    dp = DataParallel(nn.Linear(2, 2), device_ids=["cpu:1", nncheck.device("cpu", 2), 3])
    assert dp.device_ids == [1, 2, 3] and dp.output_device == 1 and dp.dim == 0
    assert DataParallel(nn.Linear(2, 2), [0, 1], output_device=1).output_device == 1
    with pytest.raises(ValueError, match="non-negative"):
        DataParallel(nn.Linear(2, 2), device_ids=[0, -1])
    with pytest.raises(TypeError, match="device_ids must hold ints or devices"):
        DataParallel(nn.Linear(2, 2), device_ids=[0.5])
    with pytest.raises(TypeError, match="dim must be an int"):
        DataParallel(nn.Linear(2, 2), dim="0")


def test_one_backward_in_the_callers_thread_into_the_original_parameters():
    model = mlp(nncheck)
    forward_threads, grad_events = [], []
    model[0].register_forward_hook(lambda m, i, o: forward_threads.append(
        (threading.current_thread(), i[0].shape[0])))
    for p in model.parameters():
        p.register_post_accumulate_grad_hook(
            lambda p: grad_events.append((id(p), threading.get_ident())))
    x = nncheck.from_numpy(rand(8, 5))
    DataParallel(model, device_ids=[0, 1, 2, 3])(x).sum().backward()
    assert sorted(n for _, n in forward_threads) == [2, 2, 2, 2]
    assert len({t for t, _ in forward_threads}) == 4  # four chunks, four threads
    assert threading.current_thread() in {t for t, _ in forward_threads}  # replica 0: here
    # one engine run: each original parameter's AccumulateGrad fires once, in this thread
    assert sorted(pid for pid, _ in grad_events) == sorted(id(p) for p in model.parameters())
    assert {t for _, t in grad_events} == {threading.get_ident()}


def test_grad_mode_reaches_the_workers():
    model = nn.Linear(5, 3).double()
    recorded = []
    model.register_forward_hook(lambda m, i, o: recorded.append(o.requires_grad))
    dp = DataParallel(model, device_ids=[0, 1, 2])
    with nncheck.no_grad():
        assert not dp(nncheck.from_numpy(rand(6, 5))).requires_grad
    assert recorded == [False] * 3
    assert dp(nncheck.from_numpy(rand(6, 5))).requires_grad


class Mixed(nn.Module):
    """Takes tensors in containers, keyword tensors and plain Python values."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(5, 3).double()
        self.register_buffer("calls", nncheck.zeros(1))
        self.python_calls = 0

    def forward(self, x, pair, offset, *, scale=1.0, extra=None):
        self.calls.add_(1)  # in place: kept from replica 0 only, as in PyTorch
        self.python_calls += 1  # on the replica: lost, as in PyTorch
        y = self.lin(x) * scale + offset + pair[0] * pair[1]
        if extra is not None:
            y = y + extra["bias"]
        return {"out": y, "aux": Pair(y * 2, y.sum(dim=1))}


def test_arguments_scattered_and_broadcast_outputs_gathered():
    model = Mixed()
    x, a, b, e = (nncheck.from_numpy(rand(7, n, seed=s)) for s, n in enumerate((5, 3, 1, 3)))
    args, kwargs = (x, [a, b], 0.5), {"scale": 2.0, "extra": {"bias": e}}
    expected = model(*args, **kwargs)
    got = DataParallel(model, device_ids=[0, 1, 2, 3])(*args, **kwargs)
    assert set(got) == {"out", "aux"} and isinstance(got["aux"], Pair)
    for g, w in ((got["out"], expected["out"]), (got["aux"].out, expected["aux"].out),
                 (got["aux"].total, expected["aux"].total)):
        np.testing.assert_allclose(g.detach().numpy(), w.detach().numpy(), rtol=1e-13)
    assert model.calls.item() == 2  # once by the direct call, once by replica 0
    assert model.python_calls == 1


def test_scatter_kwargs_pads_and_cuts_to_the_number_of_chunks():
    x = nncheck.arange(2.0)
    inputs, kwargs = scatter_kwargs((x,), {"flag": True}, [0, 1, 2, 3])
    assert len(inputs) == len(kwargs) == 2 and kwargs[1] == {"flag": True}
    inputs, kwargs = scatter_kwargs((), {"t": x, "n": 3}, [0, 1])
    assert inputs == ((), ()) and [k["n"] for k in kwargs] == [3, 3]
    assert [k["t"].tolist() for k in kwargs] == [[0.0], [1.0]]


def test_scalar_outputs_become_a_vector_per_chunk():
    class Loss(nn.Module):
        def forward(self, x):
            return (x * x).sum()

    x = nncheck.from_numpy(rand(5, 2))
    dp = DataParallel(Loss(), device_ids=[0, 1, 2])
    with pytest.warns(UserWarning, match="all input tensors were scalars"):
        out = dp(x)
    chunks = [(c * c).sum() for c in np.array_split(x.numpy(), [2, 4])]
    np.testing.assert_allclose(out.numpy(), chunks, rtol=1e-13)
    assert dp.infer_shape((5, 2)) == ((3,),)


def test_empty_batch_and_functional_form():
    model = nn.Linear(5, 3).double()
    x = nncheck.from_numpy(rand(6, 5))
    empty = nncheck.zeros(0, 5, dtype=nncheck.float64)
    assert DataParallel(model, [0, 1, 2])(empty).shape == (0, 3)
    np.testing.assert_allclose(data_parallel(model, x, device_ids=[0, 1]).detach().numpy(),
                               model(x).detach().numpy(), rtol=1e-13)


def test_errors():
    dp = DataParallel(nn.Linear(5, 3), device_ids=[0, 1])
    with pytest.raises(ValueError, match="cannot scatter a 0-dim tensor"):
        dp(nncheck.tensor(1.0))
    with pytest.raises(RuntimeError, match="in_features is 5") as info:
        dp(nncheck.zeros(4, 6))
    assert any("DataParallel replica" in note for note in info.value.__notes__)
    with pytest.raises(IndexError, match="Dimension out of range"):
        DataParallel(nn.Linear(5, 3), device_ids=[0, 1], dim=2)(nncheck.zeros(4, 5))


def test_gradcheck_and_repeatability():
    model = nn.Sequential(nn.Linear(3, 2), nn.Tanh()).double()
    dp = DataParallel(model, device_ids=[0, 1, 2])
    x = nncheck.from_numpy(rand(5, 3)).requires_grad_()
    assert nncheck.gradcheck(dp, (x,))
    runs = []
    for _ in range(3):
        model.zero_grad()
        dp(x).sum().backward()
        runs.append(model[0].weight.grad.numpy().copy())
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(runs[0], runs[2])


def test_torch_weights_load_through_the_wrapper():
    torch_dp = torch.nn.DataParallel(mlp(torch))
    dp = DataParallel(mlp(nncheck), device_ids=[0, 1])
    load_torch_weights(dp, torch_dp)
    x = rand(4, 5)
    np.testing.assert_allclose(dp(nncheck.from_numpy(x)).detach().numpy(),
                               torch_dp(torch.from_numpy(x)).detach().numpy(), rtol=1e-12)
