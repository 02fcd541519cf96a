"""PyTorch callables checked by nncheck's checker: PyTorch runs forward and the VJPs."""

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from helpers import invoke, script, square_source

import nncheck
from nncheck.autograd.checker import check_gradients

# the benchmark's torch Function with planted backward bugs (one home for both)
MatMul = script("bench_torch_gradcheck").MatMul


@pytest.fixture(autouse=True)
def _reset_bug():
    yield
    MatMul.bug = None


def _inputs():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    w = torch.randn(3, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    return x, w


def test_a_right_pytorch_function_passes_and_its_tensors_are_left_as_they_were():
    x, w = _inputs()
    before = x.detach().clone(), w.detach().clone()
    report = check_gradients(MatMul.apply, (x, w))
    assert report.passed and [c.wrt for c in report.checks] == ["input[0]", "input[1]"]
    assert report.checks[0].n_entries == 12 * 12
    assert torch.equal(x.detach(), before[0]) and torch.equal(w.detach(), before[1])
    assert nncheck.gradcheck(MatMul.apply, (x, w))


@pytest.mark.parametrize("bug,wrt,index,signature", [
    ("doubled", "input[0]", None, "analytic = 2 x numerical"),
    ("transposed", "input[1]", None, "transposed"),
    ("one element", "input[0]", [1, 2], None),
    ("1% error", "input[1]", None, "analytic = 1.01 x numerical"),
])
def test_planted_bugs_in_pytorch_functions_are_named(bug, wrt, index, signature):
    MatMul.bug = bug
    x, w = _inputs()
    # PyTorch's own gradcheck sees a mismatch too, without naming the pattern
    assert not torch.autograd.gradcheck(MatMul.apply, (x, w), raise_exception=False)
    report = check_gradients(MatMul.apply, (x, w))
    failing = [c for c in report.checks if not c.passed]
    assert [c.wrt for c in failing] == [wrt]
    if index is not None:
        assert failing[0].worst_index == index
        # the element's whole Jacobian column is off, and nothing else
        assert failing[0].n_failed == 4 * 3
    if signature is not None:
        assert signature in failing[0].signature
    with pytest.raises(nncheck.autograd.GradcheckError, match=wrt.replace("[", r"\[")):
        nncheck.gradcheck(MatMul.apply, (x, w))


def test_pytorch_module_parameters_are_checked_under_their_own_names():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(),
                                torch.nn.Linear(4, 2)).double()
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    weight = model[0].weight.detach().clone()
    report = check_gradients(model, (x,))
    assert report.passed
    assert [c.wrt for c in report.checks] == ["input[0]", "0.weight", "0.bias", "2.weight",
                                             "2.bias"]
    assert torch.equal(model[0].weight.detach(), weight)


def test_checking_nncheck_code_does_not_import_torch():
    code = ("import sys, nncheck\n"
            "from nncheck.autograd.checker import check_gradients\n"
            "x = nncheck.randn(2, 3, dtype=nncheck.float64, requires_grad=True)\n"
            "assert check_gradients(lambda t: t.sin(), (x,)).passed\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


TORCH_NET = textwrap.dedent("""

    class Net(torch.nn.Module):
        def __init__(self, n=4):
            super().__init__()
            self.fc = torch.nn.Linear(n, 3)

        def forward(self, x):
            return Square.apply(self.fc(x))
""")


def _torch_file(factor):
    """A PyTorch model file whose custom Function's backward has this factor (right: 2)."""
    return ("import torch\n" + square_source(factor=factor, base="torch.autograd.Function")
            + TORCH_NET)


@pytest.mark.parametrize("factor,passed", [(2, True), (2.02, False)])
def test_cli_torch_runs_the_file_with_pytorch(tmp_path, factor, passed):
    path = tmp_path / "net.py"
    path.write_text(_torch_file(factor))
    code, out, err = invoke(["gradcheck", f"{path}:Net", "--torch", "--in", "2,4", "--json"])
    result = json.loads(out)
    assert code == (0 if passed else 1) and result["passed"] is passed
    assert [c["wrt"] for c in result["checks"]] == ["input[0]", "fc.weight", "fc.bias"]
    if not passed:
        assert all("1.01 x numerical" in c["signature"] for c in result["checks"])
    code, _, err = invoke(["gradcheck", f"{path}:Net", "5", "--torch", "--in", "2,4"])
    assert code == 2 and err.startswith("Error: ") and "shapes cannot be multiplied" in err


def test_check_model_refuses_pytorch_objects_with_a_clear_error():
    from nncheck.autograd.model_check import check_model

    with pytest.raises(TypeError, match="as_torch"):
        check_model(torch.nn.Sequential(torch.nn.Linear(2, 2)), torch.randn(1, 2))
