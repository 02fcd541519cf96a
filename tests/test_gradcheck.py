"""gradcheck: right backwards pass, planted wrong ones are caught and localised."""

import numpy as np
import pytest
import torch

import nncheck
import nncheck.nn as nn
from nncheck.autograd import Function
from nncheck.autograd.checker import GradcheckError, check_gradients


def _x(*shape, seed=0):
    rng = np.random.default_rng(seed)
    return nncheck.tensor(rng.uniform(0.5, 1.5, shape), dtype=nncheck.float64, requires_grad=True)


class Scaled(Function):
    """y = x * w (elementwise); backward has planted bugs selected by `bug`."""

    bug = None

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return x * w

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        gx, gw = g * w, g * x
        bug = Scaled.bug
        if bug == "scale":
            gx = gx * 2
        elif bug == "one_element":
            gx = gx.clone()
            gx[1, 2] = gx[1, 2] + 0.5
        elif bug == "missing":
            gw = None
        elif bug == "transposed":
            gx = gx.t().reshape(gx.shape)
        return gx, gw


@pytest.fixture(autouse=True)
def _reset_bug():
    yield
    Scaled.bug = None


def test_right_backward_passes():
    assert nncheck.gradcheck(Scaled.apply, (_x(3, 3), _x(3, 3, seed=1)))


@pytest.mark.parametrize("bug,wrt", [("scale", "input[0]"), ("one_element", "input[0]"),
                                     ("missing", "input[1]"), ("transposed", "input[0]")])
def test_planted_bugs_are_caught_and_named(bug, wrt):
    Scaled.bug = bug
    x, w = _x(3, 3), _x(3, 3, seed=1)
    report = check_gradients(Scaled.apply, (x, w))
    assert not report.passed
    failed = [c for c in report.checks if not c.passed]
    assert [c.wrt for c in failed] == [wrt]
    if bug == "one_element":
        assert failed[0].worst_index == [1, 2] and failed[0].n_failed == 1
    with pytest.raises(GradcheckError, match=wrt.replace("[", r"\[").replace("]", r"\]")):
        nncheck.gradcheck(Scaled.apply, (x, w))
    assert nncheck.gradcheck(Scaled.apply, (x, w), raise_exception=False) is False


def test_module_parameters_are_checked_by_name():
    class BadBias(nn.Linear):
        def forward(self, x):
            return BadBiasFn.apply(x, self.weight, self.bias)

    class BadBiasFn(Function):
        @staticmethod
        def forward(ctx, x, w, b):
            ctx.save_for_backward(x, w)
            return x.matmul(w.t()) + b

        @staticmethod
        def backward(ctx, g):
            x, w = ctx.saved_tensors
            return g.matmul(w), g.t().matmul(x), g.sum(0) * 3

    m = BadBias(3, 2).double()
    report = check_gradients(m, (_x(4, 3),))
    assert {c.wrt: c.passed for c in report.checks} == {"input[0]": True, "weight": True,
                                                         "bias": False}


def test_agrees_with_torch_gradcheck_on_a_layer():
    x = _x(2, 3, 4)
    assert nncheck.gradcheck(nn.Softmax(dim=1).double(), (x,))
    tx = torch.tensor(x.detach().numpy(), requires_grad=True)
    assert torch.autograd.gradcheck(torch.nn.Softmax(dim=1).double(), (tx,))


def test_report_fields():
    report = check_gradients(nn.Linear(2, 2).double(), (_x(3, 2),))
    d = report.as_dict()
    assert d["passed"] and [c["wrt"] for c in d["checks"]] == ["input[0]", "weight", "bias"]
    assert set(d["checks"][0]) >= {"wrt", "max_abs_err", "max_rel_err", "worst_index", "passed"}


def test_nothing_to_check_is_an_error():
    with pytest.raises(ValueError, match="nothing to check"):
        nncheck.gradcheck(lambda t: t * 2, (nncheck.ones(2, dtype=nncheck.float64),))
