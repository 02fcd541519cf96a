"""Layer-by-layer gradcheck of whole models: each module on the inputs it really saw."""

import json
import textwrap
import tracemalloc

import numpy as np
import pytest

import nncheck
import nncheck.nn as nn
from nncheck.autograd import Function
from nncheck.autograd.model_check import check_model
from nncheck.cli import main


class Scale(Function):
    """y = x * w (w per feature); ``bug`` plants a wrong backward."""

    bug = None

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return x * w

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        gx, gw = g * w, (g * x).sum(0)
        if Scale.bug == "one_element":
            gx = gx.clone()
            gx[0, 3] = gx[0, 3] * 2
        elif Scale.bug == "weight_doubled":
            gw = gw * 2
        return gx, gw


class Scaled(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.weight = nn.Parameter(nncheck.rand(features) + 0.5)

    def forward(self, x):
        return Scale.apply(x, self.weight)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 8), nn.Tanh())
        self.scale = Scaled(8)
        self.unused = nn.Linear(2, 2)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(self.scale(self.body(x)))


@pytest.fixture(autouse=True)
def _reset_bug():
    yield
    Scale.bug = None


def _net():
    nncheck.manual_seed(0)
    return Net(), nncheck.randn(2, 6)


def test_correct_model_passes_module_by_module_in_forward_order():
    model, x = _net()
    report = check_model(model, x)
    assert report.passed and report.first_failure is None
    # containers (body) are not rows; the module never called is listed as such
    assert [(m.name, m.mode) for m in report.modules] == [
        ("body.0", "full"), ("body.1", "full"), ("scale", "full"), ("head", "full"),
        ("unused", "not called")]
    scale = report.modules[2]
    assert [c.wrt for c in scale.checks] == ["input[0]", "weight"]
    assert scale.n_entries == 16 * (16 + 8)  # (2x8 outputs) x (2x8 input + 8 weights)
    assert report.end_to_end.mode == "projection" and report.end_to_end.passed
    # the caller's model stays float32 and untouched
    assert model.head.weight.dtype == nncheck.float32


@pytest.mark.parametrize("full_entries", [1 << 21, 0], ids=["full", "sampled"])
def test_planted_bug_in_a_custom_layer_is_found_and_named(full_entries):
    Scale.bug = "one_element"
    model, x = _net()
    report = check_model(model, x, full_entries=full_entries)
    assert not report.passed
    failure = report.first_failure
    assert failure.name == "scale" and failure.type == "Scaled"
    assert failure.mode == ("full" if full_entries else "sampled")
    bad = failure.worst
    assert bad.wrt == "input[0]" and bad.worst_index == [0, 3]
    assert all(m.passed for m in report.modules if m.name != "scale")
    assert "input[0][0, 3]" in failure.describe()


def test_wrong_parameter_gradient_is_named_by_parameter():
    Scale.bug = "weight_doubled"
    model, x = _net()
    failure = check_model(model, x).first_failure
    assert failure.name == "scale" and failure.worst.wrt == "weight"
    assert "constant factor" in failure.worst.signature


def test_end_to_end_projection_catches_a_wrong_model_backward():
    Scale.bug = "weight_doubled"
    model, x = _net()
    report = check_model(model, x)
    assert not report.end_to_end.passed
    assert report.end_to_end.worst.wrt == "u^T J v"


def test_module_called_with_keywords_is_checked_with_them():
    class Net2(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = nn.MultiheadAttention(4, 2, batch_first=True)

        def forward(self, x):
            return self.attn(x, x, x, need_weights=False)[0]

    nncheck.manual_seed(1)
    report = check_model(Net2(), nncheck.randn(1, 3, 4))
    attn = report.modules[0]
    assert attn.name == "attn" and attn.passed and attn.mode == "full"
    assert "in_proj_weight" in [c.wrt for c in attn.checks]


def test_million_parameter_model_stays_within_memory():
    nncheck.manual_seed(0)
    model = nn.Sequential(nn.Linear(1000, 1000), nn.Tanh(), nn.Linear(1000, 10))
    assert sum(p.numel() for p in model.parameters()) > 1_000_000
    tracemalloc.start()
    try:
        report = check_model(model, nncheck.randn(2, 1000))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.passed
    assert report.modules[0].mode == "sampled"
    # the first layer's full Jacobian alone would be 2000 x 1e6 float64 = 16 GB
    assert peak < 200 * 2**20


MODEL_FILE = """
    import nncheck
    import nncheck.nn as nn
    from nncheck.autograd import Function


    class Doubled(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 3

        @staticmethod
        def backward(ctx, g):
            return g * {factor}


    class Triple(nn.Module):
        def forward(self, x):
            return Doubled.apply(x)


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 3, 3, padding=1)
            self.triple = Triple()
            self.fc = nn.Linear(48, 2)

        def forward(self, x):
            return self.fc(nncheck.flatten(self.triple(self.conv(x)), 1))
"""


def _model_file(tmp_path, factor):
    path = tmp_path / f"net{factor}.py"
    path.write_text(textwrap.dedent(MODEL_FILE.format(factor=factor)))
    return f"{path}:Net"


def _invoke(argv):
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def test_cli_json_shape_of_a_layer_by_layer_check(tmp_path):
    code, out, err = _invoke(["gradcheck", _model_file(tmp_path, 3), "--in", "1,2,4,4",
                              "--json"])
    assert code == 0 and err == ""
    result = json.loads(out)
    assert {"layer", "passed", "modules", "end_to_end"} <= set(result) and result["passed"]
    assert [m["name"] for m in result["modules"]] == ["conv", "triple", "fc"]
    for m in result["modules"]:
        assert {"name", "type", "passed", "checks"} <= set(m)
        assert all({"wrt", "max_abs_err", "worst_index", "passed"} <= set(c)
                   for c in m["checks"])
    assert result["end_to_end"]["passed"] and result["end_to_end"]["mode"] == "projection"


def test_cli_names_the_failing_module_in_the_last_line(tmp_path):
    code, out, _ = _invoke(["gradcheck", _model_file(tmp_path, 2), "--in", "1,2,4,4"])
    assert code == 1
    last = out.strip().splitlines()[-1]
    assert "first failing module triple (Triple)" in last
    assert "constant factor" in last and "0.6667" in last
    code, out, _ = _invoke(["gradcheck", _model_file(tmp_path, 2), "--in", "1,2,4,4",
                            "--json"])
    result = json.loads(out)
    assert code == 1 and not result["passed"]
    assert [m["passed"] for m in result["modules"]] == [True, False, True]
    assert np.isclose(result["modules"][1]["checks"][0]["analytic"]
                      / result["modules"][1]["checks"][0]["numeric"], 2 / 3)


# ---------------------------------------------------------------------- error heatmaps
from nncheck.autograd.checker import TensorCheck, check_gradients  # noqa: E402
from nncheck.cli.heatmap import error_grid, render  # noqa: E402


class Bugged(Function):
    """y = 2x with a wrong backward: ``where`` picks the wrong entries."""

    where = None

    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        gx = g * 2
        gx[Bugged.where] = gx[Bugged.where] * 1.5
        return gx


def _failing_check(shape, where):
    Bugged.where = where
    x = nncheck.randn(*shape, dtype=nncheck.float64, requires_grad=True)
    report = check_gradients(Bugged.apply, (x,))
    assert not report.passed
    return report.checks[0]


def _cells(text, grid):
    """Per grid row, the indices of the cells drawn as failing in the rendered text."""
    lines = text.plain.splitlines()[3:]
    width = max(len(n) for n in grid.row_names) + 1
    return [[c for c in range(grid.error.shape[1]) if line[width + 2 * c:width + 2 * c + 2]
             == "██"] for line in lines]


def test_heatmap_of_a_small_jacobian_marks_the_single_wrong_entry():
    check = _failing_check((3, 3), (1, 2))
    grid = error_grid(check)
    assert grid.error.shape == (9, 9)  # the Jacobian itself: outputs x input elements
    assert [tuple(rc) for rc in np.argwhere(grid.failed)] == [(5, 5)]
    cells = _cells(render(grid), grid)
    assert cells[5] == [5] and all(not row for r, row in enumerate(cells) if r != 5)


def test_heatmap_over_elements_shows_a_border_bug_as_rows_of_the_picture():
    check = _failing_check((1, 2, 6, 6), (slice(None), slice(None), 0))  # row 0 of each map
    grid = error_grid(check)
    assert grid.error.shape == (12, 6) and grid.row_names[6] == "0,1,0"
    expected = np.zeros((12, 6), bool)
    expected[[0, 6]] = True
    assert np.array_equal(grid.failed, expected)
    assert _cells(render(grid), grid) == [list(range(6)) if r in (0, 6) else []
                                          for r in range(12)]


def test_heatmap_of_a_large_tensor_is_reduced_by_max_over_blocks():
    shape = (1, 3, 64, 64)
    failed = np.zeros(shape, bool)
    failed[0, 1] = True  # one bad channel
    error = np.where(failed, 1.0, 1e-9)
    check = TensorCheck("input[0]", shape, passed=False, column_error=error.reshape(-1),
                        column_failed=failed.reshape(-1))
    grid = error_grid(check, max_rows=32, max_cols=32)
    assert grid.block == (6, 2) and grid.error.shape == (32, 32)
    rows = np.nonzero(grid.failed.any(axis=1))[0]
    # channel 1 is flat rows 64..127 of 192: cells 10..21 (cell 10 holds rows 60..65)
    assert rows.tolist() == list(range(10, 22)) and grid.failed[rows].all()
    assert np.isclose(grid.error.max(), 1.0)


def test_cli_prints_the_heatmap_and_plot_needs_matplotlib(tmp_path, monkeypatch):
    path = tmp_path / "bug.py"
    path.write_text(textwrap.dedent("""
        import nncheck.nn as nn
        from nncheck.autograd import Function

        class Bad(Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, g):
                gx = g * 2
                gx[:, 1] = gx[:, 1] * 3
                return gx

        class Layer(nn.Module):
            def forward(self, x):
                return Bad.apply(x)
    """))
    code, out, _ = _invoke(["gradcheck", f"{path}:Layer", "--in", "2,3"])
    assert code == 1 and "|analytic - numeric| for input[0]" in out and "██" in out
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)
    code, out, err = _invoke(["gradcheck", f"{path}:Layer", "--in", "2,3", "--plot",
                              str(tmp_path / "x.png")])
    assert code == 2 and out == "" and err.startswith("Error: --plot needs matplotlib")


def test_plot_writes_an_image(tmp_path):
    pytest.importorskip("matplotlib")
    target = tmp_path / "heat.png"
    code, _, err = _invoke(["gradcheck", _model_file(tmp_path, 2), "--in", "1,2,4,4",
                            "--plot", str(target)])
    assert code == 1 and "written to" in err
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_max_pool_over_tied_zeros_is_no_false_alarm_when_sampled():
    # after a ReLU whole max-pool windows are zeros: every direction crosses a tie (a kink)
    nncheck.manual_seed(0)
    model = nn.Sequential(nn.ReLU(), nn.MaxPool2d(3, 2, 1))
    report = check_model(model, nncheck.randn(1, 2, 8, 8) - 1.0, full_entries=0)
    pool = report.modules[1]
    assert pool.mode == "sampled" and pool.passed
    projection = pool.checks[-1]
    assert projection.wrt == "u^T J v" and projection.n_kinks > 0
