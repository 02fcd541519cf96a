"""Tensor basics and differentiable tensor ops, against PyTorch."""

import numpy as np
import pytest
import torch
from reference import assert_close, compare_function

import nncheck


def test_factories_dtypes_and_defaults():
    assert nncheck.tensor([1.0, 2.0]).dtype is nncheck.float32
    assert nncheck.tensor([1, 2]).dtype is nncheck.int64
    assert nncheck.tensor([True]).dtype is nncheck.bool
    assert nncheck.zeros(2, 3).shape == nncheck.Size([2, 3])
    assert nncheck.ones((2, 3), dtype=nncheck.float64).dtype is nncheck.float64
    assert nncheck.arange(5).tolist() == [0, 1, 2, 3, 4]
    assert nncheck.arange(0, 1, 0.25).dtype is nncheck.float32
    assert nncheck.full((2,), 7).dtype is nncheck.int64
    np.testing.assert_allclose(nncheck.linspace(0, 1, 5).numpy(), torch.linspace(0, 1, 5))
    assert nncheck.eye(3).numpy().trace() == 3
    assert nncheck.zeros_like(nncheck.ones(2, 2, dtype=nncheck.float64)).dtype is nncheck.float64
    assert nncheck.randint(0, 3, (100,)).numpy().max() <= 2
    assert repr(nncheck.Size([2, 3])) == "nncheck.Size([2, 3])"
    assert nncheck.empty(2).numel() == 2


def test_legacy_constructors():
    assert nncheck.Tensor([[1, 2], [3, 4]]).dtype is nncheck.float32
    assert nncheck.Tensor(2, 3).shape == (2, 3)
    assert nncheck.LongTensor([[1, 2]]).dtype is nncheck.int64
    assert nncheck.FloatTensor([[1, 2.3, 3]]).dtype is nncheck.float32
    assert nncheck.tensor([1.0]).type() == "nncheck.FloatTensor"


def test_manual_seed_reproduces():
    nncheck.manual_seed(3)
    a = nncheck.randn(5)
    nncheck.manual_seed(3)
    assert a.equal(nncheck.randn(5))


def test_repr_like_torch():
    t = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert repr(nncheck.tensor(t.numpy())) == repr(t)
    x = torch.tensor([-0.5648, 0.6641])
    assert repr(nncheck.tensor(x.numpy())) == repr(x)
    assert repr(nncheck.arange(8).reshape(1, 2, 4)) == repr(torch.arange(8).reshape(1, 2, 4))
    d = nncheck.tensor([1.5], dtype=nncheck.float64, requires_grad=True)
    assert repr(d) == "tensor([1.5000], dtype=nncheck.float64, requires_grad=True)"


def test_conversions_and_metadata():
    x = nncheck.randn(2, 3)
    assert x.double().dtype is nncheck.float64 and x.half().dtype is nncheck.float16
    assert x.long().dtype is nncheck.int64 and x.to(nncheck.float64).dtype is nncheck.float64
    assert x.size(1) == 3 and x.dim() == 2 and x.numel() == 6 and x.ndim == 2
    assert x.device == nncheck.device("cpu") and not x.is_cuda
    assert nncheck.tensor(3.5).item() == 3.5
    with pytest.raises(RuntimeError, match="requires grad"):
        nncheck.ones(2, requires_grad=True).numpy()
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        x.to("cuda")


BINARY = ["add", "sub", "mul", "div", "pow"]


@pytest.mark.parametrize("op", BINARY)
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1))])
def test_broadcasting_binary_ops_match_torch(op, shapes):
    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 2.0, shapes[0])
    b = rng.uniform(0.5, 2.0, shapes[1])
    compare_function(getattr(nncheck, op), getattr(torch, op), a, b)


@pytest.mark.parametrize("name,kwargs", [
    ("sum", {}), ("sum", {"dim": 1}), ("sum", {"dim": (0, 2), "keepdim": True}),
    ("mean", {"dim": -1}), ("prod", {"dim": 1}), ("var", {"dim": 1}), ("std", {}),
    ("norm", {}), ("norm", {"p": 1, "dim": 1}), ("norm", {"p": float("inf"), "dim": 0}),
    ("amax", {"dim": 1}), ("exp", {}), ("log", {}), ("sqrt", {}), ("abs", {}), ("sin", {}),
    ("clamp", {"min": 0.8, "max": 1.5}), ("reshape", {"shape": (4, 6)}), ("t", {}),
    ("permute", {"dims": (2, 0, 1)}), ("transpose", {"dim0": 0, "dim1": 2}),
    ("flatten", {"start_dim": 1}), ("unsqueeze", {"dim": 1}), ("squeeze", {}),
])
def test_unary_and_reductions_match_torch(name, kwargs):
    rng = np.random.default_rng(1)
    shape = (4, 6) if name == "t" else (2, 3, 4)
    x = rng.uniform(0.5, 2.0, shape)
    compare_function(getattr(nncheck, name), getattr(torch, name), x, **kwargs)


def test_max_min_with_dim_return_values_and_indices():
    x = np.random.default_rng(2).standard_normal((3, 5))
    ours = nncheck.tensor(x, requires_grad=True)
    ref = torch.tensor(x, requires_grad=True)
    v, i = ours.max(dim=1)
    rv, ri = ref.max(dim=1)
    assert_close(v, rv)
    assert_close(i, ri)
    v.sum().backward()
    rv.sum().backward()
    assert_close(ours.grad, ref.grad)


def test_matmul_family_matches_torch():
    rng = np.random.default_rng(3)
    compare_function(nncheck.matmul, torch.matmul, rng.standard_normal((2, 3, 4)),
                     rng.standard_normal((4, 5)))
    compare_function(nncheck.matmul, torch.matmul, rng.standard_normal(4),
                     rng.standard_normal((2, 4, 3)))
    compare_function(nncheck.bmm, torch.bmm, rng.standard_normal((2, 3, 4)),
                     rng.standard_normal((2, 4, 2)))


def test_matmul_runs_numpy_blas_on_one_thread_and_restores_its_count(monkeypatch):
    from nncheck import ops
    from nncheck._kernels.blas_threads import numpy_blas_thread_controls

    controls = numpy_blas_thread_controls()
    if controls is None:
        pytest.skip("numpy's BLAS thread count cannot be read or set here")
    get, set_ = controls
    inside, matmul = [], np.matmul

    def spy(*args):
        inside.append(get())
        return matmul(*args)

    monkeypatch.setattr(ops.np, "matmul", spy)
    before = get()
    set_(2)
    try:
        a = nncheck.randn(8, 8, requires_grad=True)
        nncheck.matmul(a, a).sum().backward()
        after = get()
    finally:
        set_(before)
    assert inside == [1, 1, 1] and after == 2  # forward, both gradients; then as it was
    x = a.detach().numpy()
    assert_close(a.grad.numpy(), np.ones((8, 8)) @ x.T + x.T @ np.ones((8, 8)), rtol=1e-5,
                 atol=1e-5)


def test_indexing_cat_stack_gather():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 5))

    compare_function(lambda t: t[1:3, ::2], lambda t: t[1:3, ::2], x)
    compare_function(lambda t: t[[0, 2, 2]], lambda t: t[[0, 2, 2]], x)
    # basic keys (backward assigns, no add.at): ints, None, Ellipsis, chunks
    compare_function(lambda t: t[1, None, ..., 2:], lambda t: t[1, None, ..., 2:], x)
    compare_function(lambda t: t.chunk(2, 1)[1], lambda t: t.chunk(2, 1)[1], x)
    compare_function(lambda a, b: nncheck.cat([a, b], 1), lambda a, b: torch.cat([a, b], 1),
                     x, rng.standard_normal((4, 2)))
    compare_function(lambda a, b: nncheck.stack([a, b], 0), lambda a, b: torch.stack([a, b], 0),
                     x, x + 1)
    idx = np.array([[0, 1], [2, 0], [4, 4], [1, 3]])
    compare_function(lambda t: t.gather(1, nncheck.tensor(idx)),
                     lambda t: t.gather(1, torch.tensor(idx)), x)


def test_views_share_storage_like_the_seed_example():
    x = nncheck.zeros(1, 1, 4, 4)
    y = nncheck.ones(1, 1, 2, 2)
    x[:, :, :2, :2].copy_(y)
    assert x.sum().item() == 4
    v = x.view(16)
    v[0] = 5
    assert x[0, 0, 0, 0].item() == 5


def test_inplace_ops_on_tensors_without_grad():
    x = nncheck.zeros(3)
    x.add_(2).mul_(3).clamp_(max=5)
    assert x.tolist() == [5.0, 5.0, 5.0]
    x.fill_(1.5)
    assert x.tolist() == [1.5, 1.5, 1.5]
    x.zero_()
    assert x.sum().item() == 0
    x.uniform_(2, 3)
    assert 2 <= x.min().item() and x.max().item() <= 3


def test_save_and_load_roundtrip(tmp_path):
    t = nncheck.randn(3, 4)
    nncheck.save(t, tmp_path / "t.npz")
    assert nncheck.load(tmp_path / "t.npz").equal(t)
    sd = {"weight": nncheck.randn(2, 2), "bias": nncheck.zeros(2)}
    nncheck.save(sd, tmp_path / "sd.npz")
    back = nncheck.load(tmp_path / "sd.npz")
    assert list(back) == ["weight", "bias"] and back["weight"].equal(sd["weight"])
    with pytest.raises(TypeError, match="not numeric"):
        nncheck.save({"x": object()}, tmp_path / "bad.npz")


@pytest.mark.parametrize("call,exc,match", [
    (lambda: nncheck.randn(2, 3).view(4), RuntimeError, "invalid for input of size 6"),
    (lambda: nncheck.randn(2, 3) @ nncheck.randn(2, 3), RuntimeError, "cannot be multiplied"),
    (lambda: nncheck.cat([nncheck.randn(2, 3), nncheck.randn(3, 2)], 0), RuntimeError,
     "Sizes of tensors must match"),
    (lambda: nncheck.randn(2).sum(dim=3), IndexError, "Dimension out of range"),
    (lambda: nncheck.randn(2, 2).item(), RuntimeError, "cannot be converted to Scalar"),
    (lambda: nncheck.tensor([1, 2]).requires_grad_(), RuntimeError, "floating point"),
])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("factory", ["empty", "zeros", "ones", "randn"])
def test_negative_size_raises_like_torch(factory):
    for lib in (torch, nncheck):
        with pytest.raises(RuntimeError, match="negative"):  # numpy's error was a ValueError
            getattr(lib, factory)(2, -1)
