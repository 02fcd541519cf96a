"""CosineSimilarity, PairwiseDistance and pdist against PyTorch, including zero vectors, ties
of the inf-norm, broadcasting, gradcheck, float32, shape rules and errors."""

import numpy as np
import pytest
import torch
from reference import check_repr_and_keys, check_shape_rule, compare_function, compare_module

import nncheck
import nncheck.nn as nn
import nncheck.nn.functional as F
from nncheck.shapes import ShapeError

rng = np.random.default_rng(11)
INF = float("inf")


def randn(*shape):
    return rng.standard_normal(shape)


@pytest.mark.parametrize("kwargs", [{}, {"dim": 0}, {"dim": -1, "eps": 1e-3}, {"eps": 0.5}])
def test_cosine_similarity_module(kwargs):
    nc, to = nn.CosineSimilarity(**kwargs), torch.nn.CosineSimilarity(**kwargs)
    check_repr_and_keys(nc, to)
    compare_module(nc, to, randn(4, 5, 3), randn(4, 5, 3))
    check_shape_rule(nc, randn(4, 5, 3), randn(4, 5, 3))


@pytest.mark.parametrize("s1,s2,dim", [((3, 4), (3, 4), 1), ((2, 3, 4), (3, 4), -1),
                                       ((5,), (5,), 0), ((2, 3, 4), (2, 1, 4), 1),
                                       ((4, 1), (1, 3), 0)])
def test_cosine_similarity_broadcasting(s1, s2, dim):
    compare_function(lambda a, b: F.cosine_similarity(a, b, dim),
                     lambda a, b: torch.nn.functional.cosine_similarity(a, b, dim),
                     randn(*s1), randn(*s2))


def test_cosine_similarity_small_and_zero_vectors():
    a, b = randn(4, 3), randn(4, 3)
    a[0] = 0.0  # zero vector: clamped norm, zero norm derivative
    a[1] *= 1e-9  # below eps: clamped
    b[2] = 0.0
    compare_function(lambda a, b: F.cosine_similarity(a, b, eps=1e-8),
                     lambda a, b: torch.nn.functional.cosine_similarity(a, b, eps=1e-8), a, b)


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, 1.5, 0.5, 0.0, INF, -INF])
@pytest.mark.parametrize("keepdim", [False, True])
def test_pairwise_distance_module(p, keepdim):
    nc = nn.PairwiseDistance(p=p, eps=1e-5, keepdim=keepdim)
    to = torch.nn.PairwiseDistance(p=p, eps=1e-5, keepdim=keepdim)
    check_repr_and_keys(nc, to)
    a, b = randn(6, 5), randn(6, 5)
    b[0] = a[0] + 1e-5  # zero distance: zero gradient
    b[1, :2] = a[1, :2] + 1.0  # tied maxima for the inf-norms
    b[1, 2:] = a[1, 2:]
    compare_module(nc, to, a, b)
    check_shape_rule(nc, a, b)


@pytest.mark.parametrize("s1,s2", [((3, 5), (5,)), ((2, 3, 5), (3, 5)), ((5,), (5,)),
                                   ((4, 1), (1, 3))])
def test_pairwise_distance_broadcasting(s1, s2):
    compare_function(lambda a, b: F.pairwise_distance(a, b, 3.0, keepdim=True),
                     lambda a, b: torch.nn.functional.pairwise_distance(a, b, 3.0, keepdim=True),
                     randn(*s1), randn(*s2))
    assert nn.PairwiseDistance().infer_shape(s1, s2) == (
        tuple(torch.nn.functional.pairwise_distance(torch.zeros(s1), torch.zeros(s2)).shape),)


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, 1.5, 0.5, 0.0, INF])
def test_pdist_matches_torch(p):
    x = randn(6, 4)
    x[1] = x[0]  # zero distance
    x[3, 1:] = x[2, 1:]  # one coordinate differs
    x[5] = x[4] + np.array([1.0, -1.0, 0.5, 0.0])  # tied maxima
    compare_function(lambda x: F.pdist(x, p), lambda x: torch.nn.functional.pdist(x, p), x)


def test_pdist_degenerate_sizes():
    for shape in ((1, 3), (0, 3)):
        out = F.pdist(nncheck.zeros(*shape))
        assert tuple(out.shape) == (0,)


def test_seed_examples():
    input1, input2 = nncheck.randn(100, 128), nncheck.randn(100, 128)
    cos = nn.CosineSimilarity(dim=1, eps=1e-6)
    assert tuple(cos(input1, input2).shape) == (100,)
    pdist = nn.PairwiseDistance(p=2)
    assert tuple(pdist(input1, input2).shape) == (100,)


def test_gradcheck():
    a = nncheck.randn(3, 4, dtype=nncheck.float64, requires_grad=True)
    b = nncheck.randn(3, 4, dtype=nncheck.float64, requires_grad=True)
    assert nncheck.gradcheck(nn.CosineSimilarity(), (a, b))
    for p in (1.0, 2.0, 3.0):
        assert nncheck.gradcheck(nn.PairwiseDistance(p=p), (a, b))
        assert nncheck.gradcheck(lambda x, p=p: F.pdist(x, p), (a,))


def test_float32_matches_torch():
    a, b = randn(8, 16).astype(np.float32), randn(8, 16).astype(np.float32)
    for nc, to in ((nn.CosineSimilarity(), torch.nn.CosineSimilarity()),
                   (nn.PairwiseDistance(3), torch.nn.PairwiseDistance(3))):
        out, _ = compare_module(nc, to, a, b, rtol=1e-5, atol=1e-6)
        assert out.dtype == nncheck.float32
    compare_function(F.pdist, torch.nn.functional.pdist, a, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("call,exc,match", [
    (lambda: F.pairwise_distance(nncheck.randn(3, 5), nncheck.randn(3, 4)), RuntimeError,
     r"x1 of shape \[3, 5\] and x2 of shape \[3, 4\] cannot be broadcast"),
    (lambda: F.cosine_similarity(nncheck.randn(3, 5), nncheck.randn(3, 4)), RuntimeError,
     "cannot be broadcast"),
    (lambda: F.cosine_similarity(nncheck.randn(3, 5), nncheck.randn(3, 5), dim=2), IndexError,
     r"dim=2 is out of range for a 2-D input"),
    (lambda: F.pdist(nncheck.randn(3)), RuntimeError, "pdist only supports 2D tensors, got: 1D"),
    (lambda: F.pdist(nncheck.randn(3, 3), p=-1), RuntimeError,
     "pdist only supports non-negative p values"),
    (lambda: F.pdist(nncheck.tensor([[1, 2]])), TypeError, "floating point"),
])
def test_bad_input_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_shape_rule_errors():
    with pytest.raises(ShapeError, match="cannot be broadcast"):
        nn.PairwiseDistance().infer_shape((3, 5), (3, 4))
    with pytest.raises(ShapeError, match="dim=3 is out of range"):
        nn.CosineSimilarity(dim=3).infer_shape((3, 5), (3, 5))
    explain = []
    assert nn.CosineSimilarity().infer_shape((4, 5, 2), (5, 2), explain=explain) == ((4, 2),)
    assert "dim 1 (size 5)" in explain[0]
