"""Embedding, EmbeddingBag and one_hot against PyTorch (and against exact math where torch
2.13's CPU kernel is wrong: EmbeddingBag's scale_grad_by_freq, pytorch/pytorch#190063, and
indices after the last offset with include_last_offset)."""

import numpy as np
import pytest
import torch
from reference import (
    assert_close,
    check_repr_and_keys,
    check_shape_rule,
    compare_function,
    compare_module,
    load_torch_weights,
    to_nncheck,
)

import nncheck
import nncheck.nn as nn
import nncheck.nn.functional as F
from nncheck.shapes import ShapeError

rng = np.random.default_rng(7)


def pair(name, *args, **kwargs):
    nc = getattr(nn, name)(*args, **kwargs).double()
    to = getattr(torch.nn, name)(*args, **kwargs).double()
    check_repr_and_keys(nc, to)
    load_torch_weights(nc, to)
    return nc, to


def indices(shape, high=10, dtype=np.int64):
    return rng.integers(0, high, size=shape).astype(dtype)


# ---------------------------------------------------------------- Embedding
@pytest.mark.parametrize("padding_idx", [None, 0, 4, -1])
@pytest.mark.parametrize("scale_grad_by_freq", [False, True])
@pytest.mark.parametrize("shape", [(), (7,), (3, 5), (2, 3, 4)])
def test_embedding_matches_torch(padding_idx, scale_grad_by_freq, shape):
    nc, to = pair("Embedding", 10, 3, padding_idx=padding_idx,
                  scale_grad_by_freq=scale_grad_by_freq)
    idx = indices(shape)
    if padding_idx is not None and idx.size:
        idx.reshape(-1)[0] = padding_idx % 10
    compare_module(nc, to, idx, grad_inputs=())
    if padding_idx is not None:
        assert not nc.weight.grad.numpy()[padding_idx].any()
    check_shape_rule(nc, idx)


def test_embedding_int32_indices_and_sparse_flag():
    nc, to = pair("Embedding", 10, 4, sparse=True)
    idx = indices((3, 4), dtype=np.int32)
    out = nc(to_nncheck(idx))
    ref = to(torch.from_numpy(idx))
    assert_close(out, ref)
    g = rng.standard_normal(tuple(ref.shape))
    ref.backward(torch.from_numpy(g))
    out.backward(nncheck.from_numpy(g))
    assert_close(nc.weight.grad, to.weight.grad.to_dense())  # ours is dense, torch's sparse


@pytest.mark.parametrize("max_norm,norm_type", [(1.0, 2.0), (0.5, 1.0), (1.2, 3), (0.3, 0.5),
                                                (0.7, float("inf"))])
def test_embedding_max_norm_renormalises_looked_up_rows(max_norm, norm_type):
    nc, to = pair("Embedding", 10, 4, max_norm=max_norm, norm_type=norm_type)
    idx = np.array([[1, 2, 2, 9], [3, 1, 0, 0]])
    compare_module(nc, to, idx, grad_inputs=())
    assert_close(nc.weight.detach(), to.weight.detach())  # rows 1, 2, 9, 3, 0 shrunk in place
    untouched = [4, 5, 6, 7, 8]
    assert_close(nc.weight.detach().numpy()[untouched], to.weight.detach().numpy()[untouched])


def test_embedding_max_norm_float16_table():
    w = rng.standard_normal((5, 3)).astype(np.float16)
    ours, theirs = to_nncheck(w), torch.tensor(w)
    out = F.embedding(nncheck.tensor([1, 3]), ours, max_norm=0.5)
    ref = torch.nn.functional.embedding(torch.tensor([1, 3]), theirs, max_norm=0.5)
    assert out.dtype == nncheck.float16
    assert_close(ours.numpy().astype(np.float32), theirs.numpy().astype(np.float32), rtol=1e-3,
                 atol=1e-3)
    assert_close(out.numpy().astype(np.float32), ref.numpy().astype(np.float32), rtol=1e-3,
                 atol=1e-3)


def test_from_pretrained_and_seed_examples():
    weight = nncheck.tensor([[1, 2.3, 3], [4, 5.1, 6.3]])
    embedding = nn.Embedding.from_pretrained(weight)
    assert_close(embedding(nncheck.tensor([1])), np.array([[4.0, 5.1, 6.3]], np.float32))
    assert not embedding.weight.requires_grad
    assert nn.Embedding.from_pretrained(weight, freeze=False).weight.requires_grad
    padded = nn.Embedding.from_pretrained(weight, padding_idx=0)
    assert repr(padded) == repr(torch.nn.Embedding.from_pretrained(
        torch.tensor(weight.numpy()), padding_idx=0))
    embedding = nn.Embedding(10, 3)
    assert tuple(embedding(nncheck.tensor([[1, 2, 4, 5], [4, 3, 2, 9]])).shape) == (2, 4, 3)
    embedding = nn.Embedding(10, 3, padding_idx=0)
    out = embedding(nncheck.tensor([[0, 2, 0, 5]])).numpy(force=True)
    assert not out[0, 0].any() and not out[0, 2].any() and out[0, 1].any()


def test_embedding_init_is_standard_normal():
    w = nn.Embedding(4000, 50).weight.numpy(force=True)
    assert abs(w.mean()) < 0.01 and abs(w.std() - 1) < 0.01


def test_embedding_gradcheck():
    """(padding_idx and scale_grad_by_freq change the gradient on purpose: not checked here)"""
    m = nn.Embedding(6, 3).double()
    assert nncheck.gradcheck(m, (nncheck.tensor([[0, 2, 5], [5, 1, 5]]),))


def test_embedding_float32_matches_torch():
    nc, to = nn.Embedding(20, 8), torch.nn.Embedding(20, 8)
    compare_module(nc, to, indices((4, 6), 20), grad_inputs=(), rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------- EmbeddingBag
BAG_INPUTS = {
    "2d": lambda: (indices((4, 3)),),
    "offsets": lambda: (indices(11), np.array([0, 2, 2, 6, 9])),
    "empty_input": lambda: (np.zeros(0, np.int64), np.array([0, 0])),
}


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("kind", list(BAG_INPUTS))
@pytest.mark.parametrize("padding_idx", [None, 3])
def test_embedding_bag_matches_torch(mode, kind, padding_idx):
    nc, to = pair("EmbeddingBag", 10, 4, mode=mode, padding_idx=padding_idx)
    inputs = BAG_INPUTS[kind]()
    if padding_idx is not None and inputs[0].size:
        inputs[0].reshape(-1)[:2] = padding_idx  # a bag made only of padding comes out zero
    compare_module(nc, to, *inputs, grad_inputs=())
    check_shape_rule(nc, *inputs)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_include_last_offset(mode):
    nc, to = pair("EmbeddingBag", 10, 3, mode=mode, include_last_offset=True)
    compare_module(nc, to, indices(8), np.array([0, 3, 3, 8]), grad_inputs=())


def test_embedding_bag_indices_after_last_offset_belong_to_no_bag():
    """torch 2.13's CPU kernel returns garbage gradients here; the exact answer is zero."""
    nc = nn.EmbeddingBag(10, 3, mode="sum", include_last_offset=True).double()
    out = nc(nncheck.tensor([1, 2, 3, 4]), nncheck.tensor([0, 1, 2]))
    w = nc.weight.detach().numpy()
    assert_close(out, np.stack([w[1], w[2]]))
    out.sum().backward()
    expected = np.zeros_like(w)
    expected[[1, 2]] = 1
    assert_close(nc.weight.grad, expected)


@pytest.mark.parametrize("padding_idx", [None, 2])
def test_embedding_bag_per_sample_weights(padding_idx):
    nc, to = pair("EmbeddingBag", 10, 4, mode="sum", padding_idx=padding_idx)
    idx = indices(9)
    idx[0] = 2
    compare_module(nc, to, idx, np.array([0, 4, 4, 7]), rng.standard_normal(9), grad_inputs=(2,))
    compare_module(_NoOffsets(nc), _TorchNoOffsets(to), indices((3, 3)),
                   rng.standard_normal((3, 3)), grad_inputs=(1,))


class _NoOffsets(nn.Module):
    """bag(input, None, per_sample_weights) for 2-D inputs (compare_module takes no None)."""

    def __init__(self, bag):
        super().__init__()
        self.bag = bag

    def forward(self, input, per_sample_weights):
        return self.bag(input, None, per_sample_weights)


class _TorchNoOffsets(torch.nn.Module):
    def __init__(self, bag):
        super().__init__()
        self.bag = bag

    def forward(self, input, per_sample_weights):
        return self.bag(input, None, per_sample_weights)


@pytest.mark.parametrize("mode", ["sum", "mean"])
def test_embedding_bag_scale_grad_by_freq_exact(mode):
    """Each entry's gradient divided by how often its index occurs in the whole input."""
    nc = nn.EmbeddingBag(6, 2, mode=mode, scale_grad_by_freq=True).double()
    idx, offsets = np.array([1, 1, 3, 5, 1, 3]), np.array([0, 3, 5])
    out = nc(to_nncheck(idx), to_nncheck(offsets))
    g = rng.standard_normal((3, 2))
    out.backward(nncheck.from_numpy(g))
    bag = np.array([0, 0, 0, 1, 1, 2])
    size = np.bincount(bag).astype(float)
    count = np.bincount(idx, minlength=6).astype(float)
    expected = np.zeros((6, 2))
    for k, row in enumerate(idx):
        expected[row] += g[bag[k]] / count[row] / (size[bag[k]] if mode == "mean" else 1)
    assert_close(nc.weight.grad, expected)


def test_embedding_bag_max_norm_and_from_pretrained():
    nc, to = pair("EmbeddingBag", 10, 4, max_norm=1.0, mode="mean")
    compare_module(nc, to, indices((3, 4)), grad_inputs=())
    assert_close(nc.weight.detach(), to.weight.detach())
    weight = rng.standard_normal((5, 3))
    a = nn.EmbeddingBag.from_pretrained(to_nncheck(weight), mode="max", padding_idx=1)
    b = torch.nn.EmbeddingBag.from_pretrained(torch.tensor(weight), mode="max", padding_idx=1)
    assert repr(a) == repr(b) and not a.weight.requires_grad
    compare_module(a, b, np.array([[0, 1, 4], [1, 1, 1]]), grad=False)


def test_embedding_bag_gradcheck():
    for mode in ("sum", "mean", "max"):
        m = nn.EmbeddingBag(5, 2, mode=mode).double()
        assert nncheck.gradcheck(m, (nncheck.tensor([0, 3, 3, 1, 4]), nncheck.tensor([0, 2, 2])))
    w = nncheck.randn(5, 2, dtype=nncheck.float64, requires_grad=True)
    psw = nncheck.randn(4, dtype=nncheck.float64, requires_grad=True)
    idx, offs = nncheck.tensor([0, 3, 3, 1]), nncheck.tensor([0, 1])
    assert nncheck.gradcheck(lambda w, s: F.embedding_bag(idx, w, offs, mode="sum",
                                                          per_sample_weights=s), (w, psw))


def test_embedding_bag_float32_matches_torch():
    nc, to = nn.EmbeddingBag(20, 8), torch.nn.EmbeddingBag(20, 8)
    compare_module(nc, to, indices((5, 6), 20), grad_inputs=(), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- one_hot
@pytest.mark.parametrize("shape,num_classes", [((5,), -1), ((2, 3), 6), ((), 4), ((0,), 3)])
def test_one_hot_matches_torch(shape, num_classes):
    idx = indices(shape, 4)
    out = F.one_hot(to_nncheck(idx), num_classes)
    ref = torch.nn.functional.one_hot(torch.from_numpy(idx), num_classes)
    assert out.dtype == nncheck.int64
    assert_close(out, ref)


@pytest.mark.parametrize("args,match", [
    ((nncheck.tensor([0, -1]),), "Class values must be non-negative"),
    ((nncheck.tensor([0, 3]), 3), "Class values must be smaller than num_classes"),
    ((nncheck.tensor([0.0, 1.0]),), "only applicable to index tensor of type LongTensor"),
    ((nncheck.tensor([], dtype=nncheck.int64),), "Can not infer total number of classes"),
])
def test_one_hot_errors(args, match):
    with pytest.raises(RuntimeError, match=match):
        F.one_hot(*args)


# ---------------------------------------------------------------- errors and shape rules
W = nncheck.randn(10, 3)


@pytest.mark.parametrize("call,exc,match", [
    (lambda: F.embedding(nncheck.tensor([0, 10]), W), IndexError,
     r"index out of range in self: input\[1\] = 10 is not in \[0, 10\)"),
    (lambda: F.embedding(nncheck.tensor([[0, 1], [-1, 2]]), W), IndexError,
     r"input\[2\] = -1"),
    (lambda: nn.Embedding(10, 3)(nncheck.tensor([0.0, 1.0])), RuntimeError,
     "Embedding: Expected tensor for argument 'input' .* scalar types: Long, Int"),
    (lambda: F.embedding(nncheck.tensor([1]), nncheck.randn(10)), RuntimeError,
     "'weight' must be 2-D"),
    (lambda: nn.Embedding(10, 3, padding_idx=10), ValueError,
     "padding_idx must be within num_embeddings: expected -10 <= padding_idx < 10, got 10"),
    (lambda: nn.Embedding(10, 3, padding_idx=-11), ValueError, "got -11"),
    (lambda: F.embedding(nncheck.tensor([1]), W, padding_idx=12), ValueError, "padding_idx"),
    (lambda: nn.Embedding(4, 3, _weight=nncheck.randn(3, 3)), ValueError, "Shape of weight"),
    (lambda: nn.Embedding.from_pretrained(nncheck.randn(3)), ValueError, "2-dimensional"),
    (lambda: nn.EmbeddingBag(10, 3, padding_idx=12), ValueError, "padding_idx"),
    (lambda: F.embedding_bag(nncheck.tensor([0, 11, 2]), W, nncheck.tensor([0, 2])), IndexError,
     r"input\[1\] = 11"),
    (lambda: F.embedding_bag(nncheck.tensor([0, 1, 2, 3]), W, nncheck.tensor([1, 2])),
     RuntimeError, r"offsets\[0\] has to be 0"),
    (lambda: F.embedding_bag(nncheck.tensor([0, 1, 2, 3]), W, nncheck.tensor([0, 3, 2])),
     RuntimeError, r"offsets must be non-decreasing, but offsets\[2\] = 2 < offsets\[1\] = 3"),
    (lambda: F.embedding_bag(nncheck.tensor([0, 1, 2, 3]), W, nncheck.tensor([0, 5])),
     RuntimeError, r"offsets\[-1\] can not be greater than input's length 4"),
    (lambda: F.embedding_bag(nncheck.tensor([[0, 1]]), W, nncheck.tensor([0])), ValueError,
     "if input is 2D, then offsets has to be None"),
    (lambda: F.embedding_bag(nncheck.tensor([0, 1]), W), ValueError,
     "offsets has to be a 1D Tensor but got None"),
    (lambda: F.embedding_bag(nncheck.tensor([0, 1]), W, nncheck.tensor([[0]])), ValueError,
     "offsets has to be a 1D Tensor"),
    (lambda: F.embedding_bag(nncheck.zeros(2, 2, 2, dtype=nncheck.int64), W), ValueError,
     "input has to be 1D or 2D Tensor, but got Tensor of dimension 3"),
    (lambda: F.embedding_bag(nncheck.tensor([[0, 1]]), W, mode="median"), ValueError,
     "mode has to be one of sum, mean or max"),
    (lambda: F.embedding_bag(nncheck.tensor([[0, 1]]), W, mode="max", scale_grad_by_freq=True),
     ValueError, "max mode does not support scaling the gradient by the frequency"),
    (lambda: F.embedding_bag(nncheck.tensor([[0, 1]]), W, per_sample_weights=nncheck.ones(1, 2)),
     ValueError, "per_sample_weights is only supported for mode='sum'"),
    (lambda: F.embedding_bag(nncheck.tensor([[0, 1]]), W, mode="sum",
                             per_sample_weights=nncheck.ones(2)), ValueError,
     "must have the same shape as the input"),
])
def test_bad_input_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_shape_rules():
    assert nn.Embedding(10, 3).infer_shape((2, 4)) == ((2, 4, 3),)
    bag = nn.EmbeddingBag(10, 3, include_last_offset=True)
    assert bag.infer_shape((7,), (4,)) == ((3, 3),)
    assert nn.EmbeddingBag(10, 3).infer_shape((2, 5)) == ((2, 3),)
    with pytest.raises(ShapeError, match="pass offsets with a 1-D input"):
        nn.EmbeddingBag(10, 3).infer_shape((7,))


def test_functional_embedding_matches_torch():
    w = rng.standard_normal((8, 3))
    idx = torch.tensor([[1, 7], [0, 1]])
    compare_function(lambda w: F.embedding(to_nncheck(idx.numpy()), w, padding_idx=1),
                     lambda w: torch.nn.functional.embedding(idx, w, padding_idx=1), w)


@pytest.mark.parametrize("name,shape", [("Embedding", (3, 4)), ("EmbeddingBag", (3, 4))])
def test_meta_table_with_padding_idx_like_torch(name, shape):
    """`nncheck shape Embedding 10 3 padding_idx=0` builds the layer on meta tensors: the
    padding row has no data to zero there."""
    import json

    from click.testing import CliRunner

    import nncheck.cli.commands  # noqa: F401  (registers the commands)
    from nncheck.cli import cli

    with torch.device("meta"):
        expected = tuple(getattr(torch.nn, name)(10, 3, padding_idx=0)(
            torch.zeros(shape, dtype=torch.int64)).shape)
    with nncheck.device("meta"):
        m = getattr(nn, name)(10, 3, padding_idx=0)
        assert m.weight.is_meta
        assert [tuple(s) for s in m.infer_shape(shape)] == [expected]
    result = CliRunner().invoke(cli, ["shape", name, "10", "3", "padding_idx=0", "--in",
                                      ",".join(map(str, shape)), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["output_shapes"] == [list(expected)]
