"""Linear, Bilinear, Identity, Flatten, Unflatten against PyTorch."""

import math

import numpy as np
import pytest
import torch
from reference import (
    check_lazy,
    check_repr_and_keys,
    check_shape_rule,
    compare_function,
    compare_module,
    to_nncheck,
)

import nncheck
import nncheck.nn as nn
import nncheck.nn.functional as F
from nncheck.shapes import ShapeError

LINEAR_CASES = [
    ((20, 30), (128, 20)), ((5, 3), (5,)), ((4, 6), (2, 3, 4)), ((4, 6, False), (7, 4)),
    ((1, 1), (3, 1)), ((3, 0), (2, 3)),
]


@pytest.mark.parametrize("args,shape", LINEAR_CASES)
def test_linear_matches_torch(args, shape):
    ours, ref = nn.Linear(*args).double(), torch.nn.Linear(*args).double()
    check_repr_and_keys(ours, ref)
    x = np.random.default_rng(0).standard_normal(shape)
    compare_module(ours, ref, x)
    check_shape_rule(ours, x)


def test_linear_float32_and_seed_example():
    m, x = nn.Linear(20, 30), nncheck.randn(128, 20)
    assert m(x).size() == nncheck.Size([128, 30])
    ref = torch.nn.Linear(20, 30)
    compare_module(m, ref, np.random.default_rng(1).standard_normal((16, 20)).astype(np.float32),
                   rtol=1e-5, atol=1e-5)


# Products big enough that the kernels' GEMM splits them over the OpenMP threads (when
# there are several), by rows of the output in some of the three GEMMs of a step and by
# columns in others, at sizes that leave ragged last blocks.
@pytest.mark.parametrize("rows,features_in,features_out", [(301, 67, 1031), (1031, 301, 67)])
def test_linear_on_products_shared_by_threads(rows, features_in, features_out):
    ours = nn.Linear(features_in, features_out).double()
    ref = torch.nn.Linear(features_in, features_out).double()
    x = np.random.default_rng(6).standard_normal((rows, features_in))
    compare_module(ours, ref, x)
    compare_module(ours.float(), ref.float(), x.astype(np.float32), rtol=1e-4, atol=1e-4)


def test_linear_init_distribution():
    nncheck.manual_seed(0)
    m = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w = m.weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound
    assert np.abs(m.bias.detach().numpy()).max() <= bound


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("lead", [(), (3,), (2, 3)])
def test_bilinear_matches_torch(bias, lead):
    ours, ref = nn.Bilinear(4, 5, 3, bias).double(), torch.nn.Bilinear(4, 5, 3, bias).double()
    check_repr_and_keys(ours, ref)
    rng = np.random.default_rng(2)
    x1, x2 = rng.standard_normal(lead + (4,)), rng.standard_normal(lead + (5,))
    if not lead:
        x1, x2 = x1[None], x2[None]
    compare_module(ours, ref, x1, x2)
    check_shape_rule(ours, x1, x2)


def test_bilinear_seed_example():
    m = nn.Bilinear(20, 30, 40)
    assert m(nncheck.randn(128, 20), nncheck.randn(128, 30)).size() == nncheck.Size([128, 40])


@pytest.mark.parametrize("cls,args,shape", [
    ("Identity", (54,), (2, 3)), ("Flatten", (), (2, 3, 4, 5)), ("Flatten", (0, 2), (2, 3, 4, 5)),
    ("Unflatten", (1, (2, 6)), (3, 12)), ("Unflatten", (-1, (2, -1)), (3, 12)),
])
def test_shape_layers(cls, args, shape):
    ours, ref = getattr(nn, cls)(*args), getattr(torch.nn, cls)(*args)
    check_repr_and_keys(ours, ref)
    x = np.random.default_rng(3).standard_normal(shape)
    compare_module(ours, ref, x)
    check_shape_rule(ours, x)


def test_gradcheck_linear_and_bilinear():
    rng = np.random.default_rng(4)
    assert nncheck.gradcheck(nn.Linear(3, 2).double(),
                             (to_nncheck(rng.standard_normal((4, 3)), True),))
    assert nncheck.gradcheck(nn.Bilinear(2, 3, 2).double(),
                             (to_nncheck(rng.standard_normal((2, 2)), True),
                              to_nncheck(rng.standard_normal((2, 3)), True)))


def test_functional_linear_without_bias():
    rng = np.random.default_rng(5)
    compare_function(F.linear, torch.nn.functional.linear, rng.standard_normal((3, 4)),
                     rng.standard_normal((2, 4)))


@pytest.mark.parametrize("call,exc,match", [
    (lambda: nn.Linear(3, 2)(nncheck.randn(4, 5)), RuntimeError, "in_features is 3"),
    (lambda: F.linear(nncheck.randn(2, 3), nncheck.randn(3)), ValueError, "weight must be 2-D"),
    (lambda: nn.Bilinear(2, 3, 4)(nncheck.randn(5, 2), nncheck.randn(5, 4)), ValueError,
     "in2_features=3"),
    (lambda: nn.Linear(-1, 2), ValueError, "in_features"),
])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_shape_rule_errors_name_the_argument():
    with pytest.raises(ShapeError, match="in_features=20"):
        nn.Linear(20, 30).infer_shape((128, 21))


@pytest.mark.parametrize("shape", [(4, 3), (2, 5, 7), (6,)])
def test_lazy_linear_becomes_linear_like_torch(shape):
    check_lazy("LazyLinear", (5,), np.random.default_rng(0).standard_normal(shape))
