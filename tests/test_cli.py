"""The CLI contract (DESIGN.md section 4): commands, --json schemas, exit codes, bad input."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from nncheck import registry
from nncheck.cli import cli, main


def _invoke(argv):
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0
    return code, out.getvalue(), err.getvalue()


def test_shape_json_matches_torch():
    code, out, _ = _invoke(["shape", "Linear", "20", "30", "--in", "128,20", "--json"])
    assert code == 0
    data = json.loads(out)
    ref = torch.nn.Linear(20, 30)
    assert data == {"layer": repr(ref), "input_shapes": [[128, 20]],
                    "output_shapes": [list(ref(torch.zeros(128, 20)).shape)], "params": 630}


def test_shape_explain_and_x_separator():
    code, out, _ = _invoke(["shape", "GLU", "dim=1", "--in", "4x6x5", "--explain"])
    assert code == 0 and "[4, 3, 5]" in out and "6 / 2 = 3" in out


@pytest.mark.parametrize("argv,match", [
    (["shape", "NoSuchLayer", "--in", "2,3"], "unknown layer 'NoSuchLayer'"),
    (["shape", "Linear", "20", "30", "bogus=1", "--in", "2,20"], "unexpected keyword"),
    (["shape", "Linear", "(20", "30", "--in", "2,20"], "cannot parse argument"),
    (["shape", "Linear", "20", "30", "--in", "2,1.5"], "not an integer"),
    (["shape", "Bilinear", "3", "4", "5", "--in", "2,F", "--in", "2,F"], "no input size works"),
    (["shape", "Linear", "20", "30", "--in", "2,-3"], "negative"),
    (["shape", "Linear", "20", "30", "--in", "2,21"], "in_features=20"),
    (["shape", "Linear", "20", "30"], "missing --in"),
    (["forward", "Linear", "2", "3", "--input", "/nonexistent.npy"], "not found"),
    (["shape", "Linear", "__import__('os').system('echo hi')", "3", "--in", "2,2"],
     "cannot parse argument"),
    (["gradcheck"], "missing LAYER"),
    (["gradcheck", "Linear", "3", "2", "--in", "4,3", "--workers", "0"], "--workers"),
    (["list", "--family", "nope"], "unknown family"),
    (["shape", "--bogus-option"], "Error"),
])
def test_bad_input_exits_2_with_one_line(argv, match):
    code, out, err = _invoke(argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and match in lines[0]
    assert "Traceback" not in err


def test_list_json_has_every_registered_layer():
    code, out, _ = _invoke(["list", "--json"])
    data = json.loads(out)
    names = {entry["name"] for entry in data["layers"]}
    assert code == 0 and names == set(registry.layers())
    assert all(set(e) == {"name", "family", "signature", "example"} for e in data["layers"])


def test_every_registered_example_shape_matches_torch():
    for info in registry.layers().values():
        torch_cls = getattr(torch.nn, info.name, None)
        if torch_cls is None:
            continue
        code, out, err = _invoke(["shape", info.name, *info.example.split(), "--json",
                                  *sum((["--in", ",".join(map(str, s))] for s in info.inputs),
                                       [])])
        assert code == 0, (info.name, err)
        assert json.loads(out)["layer"] == repr(_torch_layer(torch_cls, info))


def _torch_layer(torch_cls, info):
    from nncheck.cli.parsing import parse_layer_args

    args, kwargs = parse_layer_args(info.example.split())
    return torch_cls(*args, **kwargs)


def test_forward_save_and_weights(tmp_path):
    ref = torch.nn.Linear(3, 2).double()
    np.savez(tmp_path / "w.npz", **{k: v.detach().numpy() for k, v in ref.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((4, 3))
    np.save(tmp_path / "x.npy", x)
    code, out, err = _invoke(["forward", "Linear", "3", "2", "--weights", str(tmp_path / "w.npz"),
                              "--input", str(tmp_path / "x.npy"), "--dtype", "float64",
                              "--save", str(tmp_path / "y.npy"), "--json"])
    assert code == 0, err
    expected = ref(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=1e-12)
    data = json.loads(out)
    assert data["outputs"][0]["shape"] == [4, 2]
    assert abs(data["outputs"][0]["mean"] - expected.mean()) < 1e-12


def test_forward_bad_weights(tmp_path):
    np.savez(tmp_path / "w.npz", weight=np.zeros((5, 5)))
    code, _, err = _invoke(["forward", "Linear", "3", "2", "--in", "4,3",
                            "--weights", str(tmp_path / "w.npz")])
    assert code == 2 and "Missing key" in err


def test_gradcheck_json_and_failure_exit_code(tmp_path):
    code, out, _ = _invoke(["gradcheck", "Linear", "3", "2", "--in", "4,3", "--json"])
    data = json.loads(out)
    assert code == 0 and data["passed"]
    assert [c["wrt"] for c in data["checks"]] == ["input[0]", "weight", "bias"]
    user = tmp_path / "layers.py"
    user.write_text(textwrap.dedent("""
        from nncheck.autograd import Function

        class Wrong(Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * x

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return g * x  # should be 2 * g * x
    """))
    for extra in ([], ["--workers", "2"]):
        code, out, _ = _invoke(["gradcheck", f"{user}:Wrong", "--in", "3,2", "--json", *extra])
        data = json.loads(out)
        assert code == 1 and not data["passed"] and data["checks"][0]["wrt"] == "input[0]"


def test_user_module_shape_and_summary(tmp_path):
    user = tmp_path / "net.py"
    user.write_text(textwrap.dedent("""
        import nncheck.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 3)
                self.act = nn.Tanh()

            def forward(self, x):
                return self.act(self.fc(x))
    """))
    code, out, _ = _invoke(["shape", f"{user}:Net", "--in", "2,4", "--json"])
    assert code == 0 and json.loads(out)["output_shapes"] == [[2, 3]]
    code, out, _ = _invoke(["summary", f"{user}:Net", "--in", "2,4", "--json"])
    data = json.loads(out)
    assert code == 0 and data["totals"]["params"] == 15


def test_summary_chain_and_shape_error():
    spec = "Linear(8,16) ReLU() Linear(16,4)"
    code, out, _ = _invoke(["summary", spec, "--in", "5,8", "--json"])
    data = json.loads(out)
    assert code == 0 and [r["output_shapes"] for r in data["layers"]][-1] == [[5, 4]]
    assert data["totals"]["params"] == 8 * 16 + 16 + 16 * 4 + 4
    assert data["totals"]["macs"] == 5 * (8 * 16 + 16 * 4)
    code, out, err = _invoke(["summary", "Linear(8,16) Linear(15,4)", "--in", "5,8"])
    assert code == 2 and "in_features=15" in err and "Linear" in out


def test_compare_with_torch():
    code, out, _ = _invoke(["compare", "Linear", "4", "3", "--in", "2,4", "--json"])
    data = json.loads(out)
    assert code == 0 and data["passed"]
    assert {r["what"] for r in data["comparisons"]} >= {"output[0]", "grad input[0]",
                                                         "grad weight", "grad bias"}


def test_bench_reports_times():
    code, out, _ = _invoke(["bench", "Linear", "64", "32", "--in", "16,64", "--repeat", "2",
                            "--json"])
    data = json.loads(out)
    assert code == 0 and data["forward_ms"] > 0 and data["macs"] == 16 * 64 * 32


def test_real_subprocess_and_help():
    proc = subprocess.run([sys.executable, "-m", "nncheck", "shape", "Linear", "2", "3",
                           "--in", "4,2"], capture_output=True, text=True)
    assert proc.returncode == 0 and "[4, 3]" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "nncheck", "--help"], capture_output=True,
                          text=True)
    assert proc.returncode == 0 and "gradcheck" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "nncheck", "shape", "Nope", "--in", "1"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.startswith("Error: ")



def test_click_runner_help_texts_have_examples():
    import nncheck.cli.commands  # noqa: F401  (registers the commands)

    runner = CliRunner()
    for command in ("shape", "summary", "forward", "gradcheck", "compare", "bench", "list"):
        result = runner.invoke(cli, [command, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output
    assert "nncheck shape Conv2d" in runner.invoke(cli, ["--help"]).output


def test_symbolic_dimensions():
    code, out, _ = _invoke(["shape", "Conv2d", "3", "64", "3", "stride=2", "padding=1",
                            "--in", "N,3,H,W", "--json"])
    assert code == 0
    assert json.loads(out)["output_shapes"] == [["N", 64, "floor((H-1)/2)+1", "floor((W-1)/2)+1"]]
    code, out, _ = _invoke(["shape", "Linear", "3", "2", "--in", "N,T,3", "--json"])
    assert code == 0 and json.loads(out)["output_shapes"] == [["N", "T", 2]]
    code, out, _ = _invoke(["shape", "Flatten", "--in", "N,C,H,W", "--json"])
    assert code == 0 and json.loads(out)["output_shapes"] == [["N", "C*H*W"]]


def test_summary_receptive_field_of_a_conv_pool_stack():
    spec = "Conv2d(1,4,3) MaxPool2d(2) Conv2d(4,4,3,dilation=2)"
    code, out, _ = _invoke(["summary", spec, "--in", "1,1,28,28", "--json"])
    rows = json.loads(out)["layers"]
    # rf: 3, then 3 + (2-1)*1 = 4 (jump 2), then 4 + (5-1)*2 = 12
    assert [r["receptive_field"] for r in rows] == [[3, 3], [4, 4], [12, 12]]
    assert [r["jump"] for r in rows] == [[1, 1], [2, 2], [2, 2]]


def test_importing_nncheck_never_imports_torch_or_the_kernels():
    code = ("import sys, nncheck, nncheck.nn, nncheck.nn.functional, nncheck.cuda; "
            "assert 'torch' not in sys.modules, 'torch imported'; "
            "assert not [m for m, mod in sys.modules.items() if m.startswith('nncheck._kernels.')"
            " and str(getattr(mod, '__file__', '')).endswith('.so')], 'kernels loaded eagerly'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
