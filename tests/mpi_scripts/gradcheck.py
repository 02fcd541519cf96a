"""Run under mpiexec: the sharded gradient check gives rank 0 the single-process report.

Every rank starts from different random inputs, parameters and random state; the
check runs at rank 0's point, so its report must match ``check_gradients`` run on rank
0 alone (verdicts, counts and locations exactly; errors to rounding, since each rank
colours only its own columns), and every rank must get the same verdict.
"""

import math

import numpy as np
import pytest

import nncheck
import nncheck.distributed as dist
import nncheck.nn as nn
from nncheck.autograd import Function
from nncheck.autograd.checker import GradcheckError, check_gradients

dist.init_process_group()
rank, world = dist.get_rank(), dist.get_world_size()
nncheck.manual_seed(rank)


class WrongSquare(Function):
    """x**2 whose backward is off by a factor 1.5 at index 1 of the last dimension."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        wrong = np.ones(x.shape)
        wrong[..., 1] = 1.5
        return grad * 2 * x * nncheck.from_numpy(wrong)


def noisy(x, w):
    """Draws random numbers in forward: the check must replay rank 0's random stream."""
    return (x * nncheck.rand(*x.shape, dtype=nncheck.float64)) @ w


def same_report(sharded, single):
    """Same verdicts and counts; where a check fails, the same worst entry (its column is
    recomputed alone, so exactly); errors of passing checks agree to rounding noise, whose
    worst location may move since each rank colours only its own columns."""
    assert sharded["passed"] == single["passed"]
    assert len(sharded["checks"]) == len(single["checks"])
    for a, b in zip(sharded["checks"], single["checks"]):
        for key in ("wrt", "passed", "n_failed", "n_kinks", "n_entries", "signature"):
            assert a[key] == b[key], (key, a, b)
        for key in ("max_abs_err", "max_rel_err"):
            assert math.isclose(a[key], b[key], rel_tol=1e-6, abs_tol=1e-8), (key, a, b)
        if not b["passed"]:
            for key in ("worst_index", "worst_output", "worst_output_index", "analytic",
                        "numeric"):
                assert a[key] == b[key], (key, a, b)


cases = {
    "module": (nn.Sequential(nn.Linear(3, 4), nn.Tanh()).double(),
               (nncheck.randn(2, 3, dtype=nncheck.float64, requires_grad=True),)),
    "random": (noisy, (nncheck.randn(3, 2, dtype=nncheck.float64, requires_grad=True),
                       nncheck.randn(2, 5, dtype=nncheck.float64, requires_grad=True))),
    "kink": (nn.ReLU(), (nncheck.tensor([[0.0, 1.5, -2.0]], dtype=nncheck.float64,
                                        requires_grad=True),)),
    "wrong": (WrongSquare.apply, (nncheck.randn(2, 3, dtype=nncheck.float64,
                                                requires_grad=True),)),
}
for name, (func, inputs) in cases.items():
    report = dist.distributed_check_gradients(func, inputs)
    if rank == 0:
        single = check_gradients(func, inputs)
        same_report(report.as_dict(), single.as_dict())
        assert report.passed == (name != "wrong")
        print(f"{name}: passed={report.passed} "
              f"checks={[(c.wrt, c.n_entries, c.n_failed, c.n_kinks) for c in report.checks]}")
    else:
        assert report is None

func, inputs = cases["wrong"]
assert dist.distributed_gradcheck(func, inputs, raise_exception=False) is False
with pytest.raises(GradcheckError) as sharded:
    dist.distributed_gradcheck(func, inputs)
if rank == 0:
    with pytest.raises(GradcheckError) as single:
        nncheck.gradcheck(func, inputs)
    assert str(sharded.value) == str(single.value)
assert dist.distributed_gradcheck(*cases["module"]) is True
# a non-contiguous input: the perturbations must reach its storage
transposed = nncheck.from_numpy(np.random.default_rng(0).standard_normal((3, 2)).T)
assert dist.distributed_gradcheck(lambda t: t * t, (transposed.requires_grad_(),)) is True
dist.destroy_process_group()
if rank == 0:
    print(f"distributed gradcheck ok (world size {world})")
