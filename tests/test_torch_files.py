"""PyTorch model files run on nncheck as they are: ``nncheck.as_torch()`` and ``FILE.py:Name``.

Each model of scripts/models/ (small sizes) is built twice from the same file: once by
PyTorch, once with nncheck standing in for torch; with PyTorch's weights loaded, outputs,
input gradients and parameter gradients must agree to float64 rounding.
"""

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from reference import compare_module, load_torch_weights

import nncheck
from nncheck._torch_compat import TorchNameMissing
from nncheck.cli import main

MODELS = Path(__file__).resolve().parent.parent / "scripts" / "models"


def _images(*shape):
    return [np.random.default_rng(0).standard_normal(shape)]


def _tokens():
    # padded at the end, lengths 4, 2, 3 (0 is padding)
    return [np.array([[3, 4, 5, 6], [1, 2, 0, 0], [7, 8, 9, 0]], dtype=np.int64)]


def _decoder_inputs():
    rng = np.random.default_rng(0)
    return [rng.standard_normal((2, 5, 6)), np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int64)]


# file, expression building a small model, inputs, training mode
CASES = {
    "resnet18": ("resnet.py", "resnet18(width=4, num_classes=5)", _images(2, 3, 32, 32), True),
    "mobilenet_v2": ("mobilenetv2.py", "MobileNetV2(width_mult=0.25, num_classes=5, dropout=0.0)",
                     _images(2, 3, 16, 16), True),
    "densenet": ("densenet.py", "densenet121(growth_rate=4, block_config=(2, 2), "
                 "num_init_features=8, num_classes=5)", _images(2, 3, 32, 32), True),
    "shufflenet_v2": ("shufflenetv2.py", "ShuffleNetV2((2, 1, 1), (8, 16, 32, 64, 128), 5)",
                      _images(2, 3, 32, 32), True),
    "unet": ("unet.py", "UNet(in_channels=3, num_classes=2, base=4, depth=2)",
             _images(1, 3, 18, 16), True),
    "vit": ("vit.py", "ViT(image_size=8, patch=4, dim=8, depth=2, heads=2, mlp=16, "
            "num_classes=5)", _images(2, 3, 8, 8), True),
    "convnext": ("convnext.py", "ConvNeXt(num_classes=5, depths=(1, 2), dims=(8, 16), "
                 "layer_scale_init=0.5)", _images(2, 3, 8, 8), True),
    "lstm_classifier": ("lstm_classifier.py", "LSTMClassifier(vocab_size=12, embed_dim=5, "
                        "hidden=4, num_classes=3)", _tokens(), True),
    "gru_attention": ("gru_attention.py", "AttnDecoder(vocab_size=11, hidden=6)",
                      _decoder_inputs(), True),
}


def _load_with_torch(filename):
    """The model file imported by PyTorch (a fresh module object per call)."""
    path = MODELS / filename
    spec = importlib.util.spec_from_file_location(f"torch_model_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load_with_nncheck(filename):
    path = MODELS / filename
    spec = importlib.util.spec_from_file_location(f"nncheck_model_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    with nncheck.as_torch():
        spec.loader.exec_module(module)
    return module


def _build(module, expression):
    # the expression is one of CASES' literals: a call of a name the file defines
    name, _, rest = expression.partition("(")
    import ast

    call = ast.parse(expression, mode="eval").body
    args = [ast.literal_eval(a) for a in call.args]
    kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    return getattr(module, name)(*args, **kwargs)


@pytest.mark.parametrize("case", sorted(CASES))
def test_model_file_under_as_torch_matches_pytorch(case):
    filename, expression, inputs, training = CASES[case]
    torch.manual_seed(0)
    theirs = _build(_load_with_torch(filename), expression).double().train(training)
    ours = _build(_load_with_nncheck(filename), expression).double().train(training)
    assert isinstance(ours, nncheck.nn.Module)
    assert repr(ours) == repr(theirs)
    compare_module(ours, theirs, *inputs, rtol=1e-8, atol=1e-10)
    # the training step's effect on the buffers (BatchNorm running statistics) too
    for (k, a), (k2, b) in zip(ours.state_dict().items(), theirs.state_dict().items()):
        assert k == k2
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=k)


def test_full_size_models_have_torchvision_parameter_counts():
    # the defaults are the published models: same parameter counts as PyTorch builds
    for filename, expression in [("resnet.py", "resnet18()"), ("mobilenetv2.py", "mobilenet_v2()"),
                                 ("densenet.py", "densenet121()"),
                                 ("shufflenetv2.py", "shufflenet_v2_x1_0()")]:
        with nncheck.device("meta"):
            ours = _build(_load_with_nncheck(filename), expression)
        theirs = _build(_load_with_torch(filename), expression)
        assert sum(p.numel() for p in ours.parameters()) == \
            sum(p.numel() for p in theirs.parameters()), filename


# ---------------------------------------------------------------------- sys.modules
def _write(folder, name, text):
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def test_sys_modules_restored_with_torch_imported_before(tmp_path):
    _write(tmp_path, "helper_block.py", """
        import torch.nn as nn

        def block(c):
            return nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.ReLU())
    """)
    _write(tmp_path, "mymodel.py", """
        import torch
        from helper_block import block

        def build():
            return block(2)
    """)
    real = dict(sys.modules)
    assert sys.modules["torch"] is torch
    sys.path.insert(0, str(tmp_path))
    try:
        with nncheck.as_torch():
            import mymodel
            inside = sys.modules["torch"]
    finally:
        sys.path.remove(str(tmp_path))
    assert inside is not torch and "nncheck" in repr(inside)
    assert isinstance(mymodel.build(), nncheck.nn.Sequential)
    assert "mymodel" not in sys.modules and "helper_block" not in sys.modules
    # everything that was there is there again, the same objects; only nncheck's own
    # modules, loaded on first use of a name, may have been added
    for name, mod in real.items():
        assert sys.modules.get(name) is mod, name
    added = set(sys.modules) - set(real)
    assert all(n == "nncheck" or n.startswith("nncheck.") for n in added), added


def test_sys_modules_restored_without_torch(tmp_path):
    _write(tmp_path, "tiny.py", """
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        from torch.nn.utils.rnn import pack_padded_sequence
        from torch.autograd import Function
        import torch.nn.init, torch.nn.parameter

        DEVICE = "cuda" if torch.cuda.is_available() else "cpu"

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(3, 2)

            def forward(self, x):
                return F.relu(self.fc(torch.flatten(x, 1)))
    """)
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        import nncheck
        before = dict(sys.modules)
        with nncheck.as_torch():
            import tiny
        assert "torch" not in sys.modules and "tiny" not in sys.modules
        assert not [n for n in sys.modules if n.startswith("torch")]
        assert all(sys.modules[n] is m for n, m in before.items())
        # what stays: nncheck's modules and the installed libraries they loaded (numpy,
        # cuda-bindings for torch.cuda.is_available()), never the user's
        added = set(sys.modules) - set(before)
        installed = (sys.prefix, sys.base_prefix)
        stayed = [n for n in added if not n.startswith("nncheck")
                  and not str(getattr(sys.modules[n], "__file__", None) or sys.prefix)
                  .startswith(installed)]
        assert not stayed, stayed
        out = tiny.Net()(nncheck.ones(4, 3))
        print(type(out).__module__, list(out.shape))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["nncheck.tensor", "[4,", "2]"]


# ---------------------------------------------------------------------- missing names
@pytest.mark.parametrize("line,torch_name", [
    ("x = torch.fft.rfft", "torch.fft"),
    ("import torch.distributions", "torch.distributions"),
    ("from torch.utils.data import DataLoader", "torch.utils"),
    ("from torch.nn import SomethingMissing", "torch.nn.SomethingMissing"),
    ("layer = nn.SomethingMissing(3)", "torch.nn.SomethingMissing"),
])
def test_missing_torch_name_names_file_and_line(tmp_path, line, torch_name):
    path = _write(tmp_path, "model.py", f"import torch\nimport torch.nn as nn\n\n{line}\n")
    spec = importlib.util.spec_from_file_location("missing_model", path)
    module = importlib.util.module_from_spec(spec)
    with pytest.raises(TorchNameMissing) as info, nncheck.as_torch():
        spec.loader.exec_module(module)
    assert str(info.value) == f"model.py:4: {torch_name} is not provided by nncheck"
    assert sys.modules["torch"] is torch


def test_missing_torch_name_in_forward_is_one_cli_error(tmp_path, capsys):
    _write(tmp_path, "spectral.py", """
        import torch
        import torch.nn as nn


        class Net(nn.Module):
            def forward(self, x):
                return torch.fft.rfft(x)
    """)
    code, out, err = _cli(["forward", f"{tmp_path}/spectral.py:Net", "--in", "2,8"], capsys)
    assert code == 2
    assert err == "Error: spectral.py:8: torch.fft is not provided by nncheck\n"


# ---------------------------------------------------------------------- the CLI
def _cli(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    captured = capsys.readouterr()
    return info.value.code, captured.out, captured.err


def test_cli_forward_of_a_torch_file_with_torch_weights(tmp_path, capsys):
    """`forward FILE.py:"fn(args)" --weights W.npz --input X.npy --save Y.npy` equals torch."""
    torch.manual_seed(1)
    ref = _load_with_torch("resnet.py").resnet18(width=4, num_classes=3).double().eval()
    weights, x_file, y_file = tmp_path / "w.npz", tmp_path / "x.npy", tmp_path / "y.npy"
    np.savez(weights, **{k: v.numpy() for k, v in ref.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((2, 3, 32, 32))
    np.save(x_file, x)
    target = f"{MODELS}/resnet.py:resnet18(width=4, num_classes=3)"
    code, _, err = _cli(["forward", target, "--weights", str(weights), "--input", str(x_file),
                         "--dtype", "float64", "--save", str(y_file), "--json"], capsys)
    assert code == 0, err
    np.testing.assert_allclose(np.load(y_file), ref(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-10, atol=1e-12)


def test_cli_module_class_with_args_and_call_form_agree(capsys):
    shapes = ["--in", "2,3,8,8", "--json"]
    code, out, err = _cli(["shape", f"{MODELS}/vit.py:ViT", "8", "4", "8", "2", "2", "16",
                           "num_classes=7", *shapes], capsys)
    assert code == 0, err
    by_args = json.loads(out)
    code, out, err = _cli(["shape", f"{MODELS}/vit.py:ViT(8, 4, 8, 2, 2, 16, num_classes=7)",
                           *shapes], capsys)
    assert code == 0, err
    by_call = json.loads(out)
    ref = _load_with_torch("vit.py").ViT(8, 4, 8, 2, 2, 16, num_classes=7)
    assert by_args == by_call
    assert by_call["output_shapes"] == [[2, 7]]
    assert by_call["params"] == sum(p.numel() for p in ref.parameters())


def test_cli_summary_of_a_torch_file(capsys):
    """The issue's first failure: summary of a torch file said "not a Module subclass"."""
    code, out, err = _cli(["summary", f"{MODELS}/resnet.py:resnet18", "--in", "1,3,64,64",
                           "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    ref = _load_with_torch("resnet.py").resnet18()
    assert data["totals"]["params"] == sum(p.numel() for p in ref.parameters())
    fc = [r for r in data["layers"] if r["name"] == "fc"]
    assert fc[0]["output_shapes"] == [[1, 1000]]


def test_cli_gradcheck_of_a_torch_unet(capsys):
    """The issue's second failure: gradcheck unet.py:Net died with 'Boolean value of
    Tensor ... ambiguous' (the torch class was called with the input as its argument)."""
    code, out, err = _cli(["gradcheck", f"{MODELS}/unet.py:Net(3, 1, 2, 1)", "--in", "1,3,4,4",
                           "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)  # a model: checked layer by layer (in-place ReLUs included)
    assert data["passed"] and data["end_to_end"]["passed"]
    outc = next(m for m in data["modules"] if m["name"] == "outc")
    assert {c["wrt"] for c in outc["checks"]} == {"input[0]", "weight", "bias"}
    assert all(m["passed"] and m["mode"] == "full" for m in data["modules"])


def test_cli_compare_runs_the_file_on_pytorch_and_nncheck(capsys):
    code, out, err = _cli(["compare", f"{MODELS}/convnext.py:ConvNeXt(3, 4, (1,), (8,), 0.5)",
                           "--in", "2,3,8,8", "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["passed"]
    whats = [c["what"] for c in data["comparisons"]]
    assert "output[0]" in whats and "grad input[0]" in whats and "grad head.weight" in whats


@pytest.mark.parametrize("source,name,match", [
    ("import torch\nraise ValueError('bad config')\n", "Net",
     "model.py:2: importing model.py failed: ValueError: bad config"),
    ("import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self, width):\n"
     "        super().__init__()\n        assert width > 0, 'width must be positive'\n",
     "Net(-1)", "model.py:6: building Net failed: AssertionError: width must be positive"),
    ("import torch.nn as nn\n\nclass Net(nn.Module):\n    pass\n", "Missing",
     "defines no 'Missing'"),
    ("import torch.nn as nn\n\nclass Net(nn.Module):\n    pass\n", "Net(__import__('os'))",
     "arguments must be literals"),
    ("import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self, width):\n"
     "        super().__init__()\n", "Net", "missing a required argument: 'width'"),
    ("class Plain:\n    pass\n", "Plain", "is a class but not"),
])
def test_cli_errors_in_user_files_are_one_line(tmp_path, capsys, source, name, match):
    _write(tmp_path, "model.py", source)
    code, out, err = _cli(["summary", f"{tmp_path}/model.py:{name}", "--in", "1,3"], capsys)
    assert code == 2
    assert err.startswith("Error: ") and err.count("\n") == 1 and match in err, err
    assert "Traceback" not in err


def test_cli_function_of_tensors_still_checked(tmp_path, capsys):
    _write(tmp_path, "fn.py", "import torch\n\n\ndef swish(x):\n    return x * torch.sigmoid(x)\n")
    code, out, err = _cli(["gradcheck", f"{tmp_path}/fn.py:swish", "--in", "3,4", "--json"],
                          capsys)
    assert code == 0, err
    assert json.loads(out)["passed"]


# ---------------------------------------------------------------------- small CLI checks
@pytest.mark.parametrize("option,value", [("--eps", "-1"), ("--eps", "0"), ("--atol", "-1e-5"),
                                          ("--rtol", "-0.1"), ("--eps", "nan")])
def test_gradcheck_tolerances_must_be_positive(capsys, option, value):
    code, _, err = _cli(["gradcheck", "Linear", "3", "2", "--in", "2,3", option, value], capsys)
    assert code == 2 and err.startswith(f"Error: {option} ") and err.count("\n") == 1


@pytest.mark.parametrize("argv", [
    ["forward", "Conv2d", "3", "3", "3", "--in", "100000,3,1000,1000"],
    ["gradcheck", "Conv2d", "3", "3", "3", "--in", "100000,3,1000,1000"],
    ["bench", "Linear", "1000", "1000", "--in", "1000000000,1000"],
    ["forward", "Linear", "1000000", "1000000", "--in", "2,1000000"],
])
def test_commands_stop_before_allocating_what_does_not_fit(capsys, argv):
    code, _, err = _cli(argv, capsys)
    assert code == 2 and err.count("\n") == 1
    assert "bytes) but" in err and "of memory is available" in err


def test_memory_error_names_the_exact_bytes(capsys):
    code, _, err = _cli(["forward", "Conv2d", "3", "3", "3", "--in", "100000,3,1000,1000"], capsys)
    n_in, n_out = 100000 * 3 * 1000 * 1000, 100000 * 3 * 998 * 998
    assert f"({(n_in + n_out) * 4:,} bytes)" in err


def test_torch_weights_load_into_an_as_torch_model():
    # state_dict keys of a torch file's model are PyTorch's (load_torch_weights checks them)
    ours = _load_with_nncheck("densenet.py").densenet121(4, (1, 1), 8, 3)
    theirs = _load_with_torch("densenet.py").densenet121(4, (1, 1), 8, 3)
    load_torch_weights(ours, theirs)
    for k, v in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[k].numpy(), v.numpy())


# ---------------------------------------------------------------------- summary on shapes alone
@pytest.mark.parametrize("case", sorted(c for c in CASES
                                         if all(x.dtype.kind == "f" for x in CASES[c][2])))
def test_summary_shape_trace_equals_a_real_forward(case):
    """summary runs a torch file's model on meta tensors (layers answer from their shape
    rules); every module's input/output shapes equal those of a real forward."""
    from nncheck.cli.summary import _forward_pass, _hooked_pass, build_model
    from nncheck.cli.user_code import resolve_user_target

    filename, expression, inputs, _ = CASES[case]
    spec = f"{MODELS}/{filename}:{expression}"
    shapes = [x.shape for x in inputs]
    traced = build_model(spec)
    real, _, _ = resolve_user_target(spec, [], {})

    def by_name(model, seen):
        return {name: seen.get(id(m)) for name, m in model.named_modules()}

    assert by_name(traced, _hooked_pass(traced, shapes)) == \
        by_name(real, _forward_pass(real, shapes, zeros=True))


@pytest.mark.parametrize("command", ["summary", "shape"])
def test_shapes_of_a_torch_resnet18_import_neither_numpy_nor_kernels(command):
    code = textwrap.dedent(f"""
        import sys
        from nncheck.cli import main
        try:
            main(["{command}", "{MODELS}/resnet.py:resnet18", "--in", "1,3,224,224", "--json"])
        except SystemExit as exc:
            assert exc.code == 0, exc.code
        loaded = [m for m in sys.modules if m == "numpy" or m.startswith("nncheck._kernels.")
                  or m == "torch"]
        assert not loaded, loaded
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    if command == "shape":
        assert data["output_shapes"] == [[1, 1000]] and data["params"] == 11689512
    else:
        assert data["totals"]["params"] == 11689512  # torchvision's resnet18
        assert [r["output_shapes"] for r in data["layers"] if r["name"] == "fc"] == [[[1, 1000]]]
