"""gradcheck within a time budget: the plan, sampled checks, --full, Ctrl-C (issue 19)."""

import json

import numpy as np
import pytest
from helpers import PlantedScale, invoke

import nncheck
from nncheck import nn, registry
from nncheck.autograd import Function, checker
from nncheck.autograd.checker import check_gradients

BUG = (123, 45)  # the weight element whose gradient is planted wrong


class _MatmulT(Function):
    """x @ w.T, with (when ``bug``) one element of the weight's gradient three times too big."""

    bug = False

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return nncheck.from_numpy(x.detach().numpy() @ w.detach().numpy().T)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        gx = g.numpy() @ w.detach().numpy()
        gw = g.numpy().reshape(-1, w.shape[0]).T @ x.detach().numpy().reshape(-1, w.shape[1])
        if _MatmulT.bug:
            gw[BUG] *= 3
        return nncheck.from_numpy(gx), nncheck.from_numpy(gw)


class _Wide(nn.Module):
    """A 200 x 300 weight on 16 samples: 3,200 outputs x 65,000 elements, a Jacobian of
    2e8 entries whose full check takes minutes."""

    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(0)
        self.weight = nn.Parameter(nncheck.from_numpy(rng.standard_normal((200, 300))))

    def forward(self, x):
        return _MatmulT.apply(x, self.weight)


def _wide_check(bug, seed, monkeypatch):
    monkeypatch.setattr(_MatmulT, "bug", bug)
    x = nncheck.from_numpy(np.random.default_rng(seed).standard_normal((16, 300)))
    x.requires_grad_(True)
    return check_gradients(_Wide(), (x,), seed=seed, max_seconds=1.0)


@pytest.mark.parametrize("seed", range(4))
def test_sampled_check_catches_one_wrong_weight_gradient_element(seed, monkeypatch):
    # Why this holds with high probability, whatever the column sample: each random
    # projection compares u^T J_analytic v with the central difference of u^T f along v,
    # u and v standard normal.  The planted error changes it by
    # v_c * 2 * sum_b u_(b,i) x[b, j]  (c = the element (i, j)), a product of independent
    # continuous variables of typical size ~6, against a tolerance ~1e-4 set by the
    # difference's own error: one round misses only if |v_c| * |sum| < ~2e-5, probability
    # ~1e-4, and three independent rounds all miss with probability ~1e-12.  A projection
    # that disagrees is bisected to the element, whose column is differenced: the failure
    # names the element.  (The entry sample itself hits column c with probability ~ its
    # share of the 65,000 columns, a bonus.)
    report = _wide_check(True, seed, monkeypatch)
    assert report.sampled and 0 < report.checked_entries < report.total_entries
    weight = next(c for c in report.checks if c.wrt == "weight")
    assert not report.passed and not weight.passed
    assert weight.worst_index == list(BUG)
    assert weight.analytic == pytest.approx(3 * weight.numeric, rel=1e-6)  # the planted x3
    assert next(c for c in report.checks if c.wrt == "input[0]").passed


@pytest.mark.parametrize("seed", range(4))
def test_sampled_check_passes_a_right_backward(seed, monkeypatch):
    report = _wide_check(False, seed, monkeypatch)
    assert report.sampled and report.passed
    # every input and parameter is represented in the entry sample
    assert [c.wrt for c in report.checks] == ["input[0]", "weight"]
    assert all(c.n_entries > 0 for c in report.checks)
    assert report.checked_entries == sum(c.n_entries for c in report.checks)


def test_gradcheck_takes_max_seconds_and_raises_on_a_sampled_failure(monkeypatch):
    monkeypatch.setattr(_MatmulT, "bug", True)
    x = nncheck.from_numpy(np.random.default_rng(0).standard_normal((16, 300)))
    x.requires_grad_(True)
    with pytest.raises(nncheck.autograd.GradcheckError, match=r"weight\[123, 45\]"):
        nncheck.gradcheck(_Wide(), (x,), max_seconds=1.0)


@pytest.mark.parametrize("seed", range(3))
def test_fast_screen_flags_one_wrong_element_of_a_large_weight(seed, monkeypatch):
    # the screen's tolerance is the central difference's own error, not a bound that grows
    # with the Jacobian's size: the planted element is flagged, the right input is not
    monkeypatch.setattr(_MatmulT, "bug", True)
    x = nncheck.from_numpy(np.random.default_rng(seed).standard_normal((16, 300)))
    x.requires_grad_(True)
    problem = checker._Problem(_Wide(), (x,))
    assert checker._fast_screen(problem, 1e-6, 1e-5, seed) == [False, True]
    monkeypatch.setattr(_MatmulT, "bug", False)
    assert checker._fast_screen(problem, 1e-6, 1e-5, seed) == [False, False]


@pytest.mark.parametrize("bug,wrt", [("scale", "input[0]"), ("one_element", "input[0]"),
                                     ("missing", "input[1]")])
def test_sampled_check_catches_the_classic_planted_bugs(bug, wrt, monkeypatch):
    monkeypatch.setattr(PlantedScale, "bug", bug)
    rng = np.random.default_rng(0)
    x, w = (nncheck.tensor(rng.uniform(0.5, 1.5, (6, 7)), dtype=nncheck.float64,
                           requires_grad=True) for _ in range(2))
    report = check_gradients(PlantedScale.apply, (x, w), max_seconds=1e-4)
    assert report.sampled and not report.passed
    assert [c.wrt for c in report.checks if not c.passed] == [wrt]
    if bug == "one_element":
        assert next(c for c in report.checks if not c.passed).worst_index == [1, 2]


def test_every_registered_layer_passes_a_sampled_check():
    # no false alarms: each layer's example, forced to sample by a tiny budget
    code, out, _ = invoke(["gradcheck", "--all", "--max-seconds", "0.0001", "--json"])
    data = json.loads(out)
    assert code == 0 and data["passed"]
    assert all(r["sampled"] and r["checked_entries"] > 0 for r in data["results"])


def test_library_default_is_the_full_check():
    m = nn.Linear(4, 3).double()
    x = nncheck.randn(2, 4, dtype=nncheck.float64, requires_grad=True)
    report = check_gradients(m, (x,))
    assert not report.sampled and report.checked_entries == report.total_entries == 6 * (8 + 15)
    d = report.as_dict()
    assert d["sampled"] is False and d["checked_entries"] == d["total_entries"] == 138


def test_cli_samples_a_layer_too_big_to_check_in_full():
    code, out, err = invoke(["gradcheck", "Linear", "1000", "1000", "--in", "64,1000",
                             "--max-seconds", "2", "--json"])
    data = json.loads(out)
    assert code == 0 and data["passed"] and data["sampled"]
    assert data["total_entries"] == 64000 * (64000 + 1000 * 1000 + 1000)
    assert 0 < data["checked_entries"] < data["total_entries"]
    assert [c["wrt"] for c in data["checks"]] == ["input[0]", "weight", "bias"]
    assert all(c["n_entries"] > 0 for c in data["checks"])
    assert data["sample"]["projections"] >= 1
    assert data["full_command"] == ("nncheck gradcheck Linear 1000 1000 --in 64,1000 --full")
    assert err.startswith("plan: the full check of 68,160,000,000 Jacobian entries")
    assert "random sample" in err


def test_cli_sampled_text_report_says_so_and_full_insists():
    code, out, _ = invoke(["gradcheck", "Linear", "30", "20", "--in", "8,30",
                           "--max-seconds", "0.001", "--seed", "3"])
    assert code == 0 and "SAMPLED" in out
    assert "nncheck gradcheck Linear 30 20 --in 8,30 --seed 3 --full" in out
    code, out, err = invoke(["gradcheck", "Linear", "30", "20", "--in", "8,30",
                             "--max-seconds", "0.001", "--full", "--json"])
    data = json.loads(out)
    assert code == 0 and not data["sampled"]
    assert data["checked_entries"] == data["total_entries"] == 160 * (240 + 600 + 20)
    assert err.startswith("plan: 137,600 Jacobian entries") and "forward calls" in err


def test_cli_rejects_a_non_positive_budget():
    code, _, err = invoke(["gradcheck", "Linear", "3", "2", "--in", "4,3",
                           "--max-seconds", "0"])
    assert code == 2 and err == "Error: --max-seconds must be positive, got 0\n"


def _interrupt_after(monkeypatch, calls):
    """Make the ``calls + 1``-th forward call of the check raise KeyboardInterrupt."""
    real_values = checker._Problem.values  # every forward of the numerical side goes there
    seen = [0]

    def values(self, *args, **kwargs):
        seen[0] += 1
        if seen[0] > calls:
            raise KeyboardInterrupt
        return real_values(self, *args, **kwargs)

    monkeypatch.setattr(checker._Problem, "values", values)


def _calls_until_first_tensor_done(monkeypatch, argv):
    """Forward calls made when the first tensor's comparison is done (an uninterrupted run)."""
    real_values, real_compare = checker._Problem.values, checker._compare
    seen, at = [0], []

    def values(self, *args, **kwargs):
        seen[0] += 1
        return real_values(self, *args, **kwargs)

    def compare(*args, **kwargs):
        at.append(seen[0])
        return real_compare(*args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(checker._Problem, "values", values)
        m.setattr(checker, "_compare", compare)
        assert invoke(argv)[0] == 0
    return at[0]


def test_ctrl_c_gives_a_partial_report_and_exit_130(monkeypatch):
    argv = ["gradcheck", "Linear", "3", "2", "--in", "4,3", "--full"]
    done = _calls_until_first_tensor_done(monkeypatch, argv)
    _interrupt_after(monkeypatch, done + 1)
    code, out, _ = invoke(argv + ["--json"])
    data = json.loads(out)
    assert code == 130 and data["interrupted"]
    assert [c["wrt"] for c in data["checks"]] == ["input[0]"] and data["checks"][0]["passed"]
    assert data["unchecked"] == ["weight", "bias"]
    assert data["checked_entries"] == 8 * 12 < data["total_entries"] == 8 * (12 + 6 + 2)
    monkeypatch.undo()
    _interrupt_after(monkeypatch, done + 1)
    code, out, _ = invoke(argv)
    assert code == 130 and "INTERRUPTED: partial report, 96 of 160" in out
    assert "not checked: weight, bias" in out and "input[0]" in out


def test_ctrl_c_stops_gradcheck_all_with_the_layers_so_far(monkeypatch):
    _interrupt_after(monkeypatch, 200)
    code, out, _ = invoke(["gradcheck", "--all", "--json"])
    data = json.loads(out)
    assert code == 130 and data["interrupted"] and data["results"][-1]["interrupted"]
    assert 1 < len(data["results"]) < len(
        [i for i in registry.layers().values() if i.gradcheck])
    assert all(r["passed"] for r in data["results"][:-1])


def test_ctrl_c_in_the_library_restores_the_inputs(monkeypatch):
    m = nn.Linear(3, 2).double()
    x = nncheck.randn(4, 3, dtype=nncheck.float64, requires_grad=True)
    before = x.detach().numpy().copy(), m.weight.detach().numpy().copy()
    _interrupt_after(monkeypatch, 3)
    report = check_gradients(m, (x,))
    assert report.interrupted and report.checks == [] and not report.as_dict()["checks"]
    assert report.unchecked == ["input[0]", "weight", "bias"]
    assert np.array_equal(x.detach().numpy(), before[0])
    assert np.array_equal(m.weight.detach().numpy(), before[1])


def test_ctrl_c_outside_the_check_exits_130(monkeypatch):
    from nncheck.cli import gradcheck

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(gradcheck, "sample_inputs", interrupted)
    code, out, err = invoke(["gradcheck", "Linear", "3", "2", "--in", "4,3"])
    assert code == 130 and err.strip() == "Error: interrupted"  # click starts a new line
