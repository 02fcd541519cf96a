"""Every registered layer on the emulated CUDA device (NNCHECK_CUDA_EMULATE=1) against the
CPU path: outputs, input gradients and parameter gradients, float64 to 1e-12 and float32 to
1e-5.  A layer whose family has no CUDA launchers yet skips, naming the family, and so does a
layer that ran no .cu kernel (pure view/reshape layers computed by generic tensor ops): only
layers run by their kernels count.
"""

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import nncheck
from nncheck import cuda, registry
from nncheck.cuda import launchers

pytestmark = pytest.mark.skipif(shutil.which(os.environ.get("CXX", "g++")) is None,
                                reason="no C++ compiler for the CUDA host emulation")

LAYERS = sorted(registry.layers())
ROOT = Path(__file__).resolve().parents[1]


def _gpu_check():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import gpu_check
    finally:
        sys.path.pop(0)
    return gpu_check


@pytest.fixture(scope="module")
def emulated():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NNCHECK_CUDA_EMULATE", "1")
        cuda.reset()
        yield
    cuda.reset()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", LAYERS)
def test_layer_on_emulated_cuda_equals_cpu(emulated, name, dtype):
    """scripts/gpu_check.py's layer check (the same a GPU machine runs)."""
    check = _gpu_check()
    try:
        worst = check.layer_case(name, dtype)
    except check.LayerSkipped as exc:
        pytest.skip(str(exc))
    assert worst <= 1, f"{name}: error {worst:.2f} x tolerance"


GRADCHECK_LAYERS = [
    ("ReLU", (), [(3, 4)]), ("GELU", (), [(3, 4)]), ("Tanh", (), [(3, 4)]),
    ("Softmax", (1,), [(2, 5)]), ("LogSoftmax", (1,), [(2, 5)]), ("PReLU", (3,), [(2, 3, 2)]),
    ("GLU", (), [(2, 4)]), ("Linear", (4, 3), [(2, 4)]), ("Bilinear", (3, 2, 2), [(2, 3), (2, 2)]),
    ("Conv1d", (2, 2, 3), [(1, 2, 5)]), ("Conv2d", (2, 2, 2), [(1, 2, 3, 3)]),
    ("ConvTranspose2d", (2, 1, 2), [(1, 2, 2, 2)]), ("ReflectionPad1d", (2,), [(1, 2, 4)]),
    ("Unfold", (2,), [(1, 2, 3, 3)]),
]


@pytest.mark.parametrize("name, args, shapes", GRADCHECK_LAYERS,
                         ids=[g[0] for g in GRADCHECK_LAYERS])
def test_gradcheck_on_emulated_cuda(emulated, name, args, shapes):
    module = registry.get(name).cls(*args).double().cuda()
    rng = np.random.default_rng(0)
    inputs = [nncheck.from_numpy(rng.standard_normal(s)).cuda().requires_grad_()
              for s in shapes]
    before = launchers.stats["launches"]
    assert nncheck.gradcheck(module, tuple(inputs))
    assert launchers.stats["launches"] > before


def _invoke(argv):
    """(exit code, stdout, stderr) of ``nncheck ARGV``, run in this process."""
    import contextlib
    import io

    from nncheck.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("command", [
    ["forward", "Conv2d", "2", "3", "3", "--in", "1,2,6,6", "--dtype", "float64"],
    ["gradcheck", "Linear", "3", "2", "--in", "2,3"],
    ["compare", "ReflectionPad2d", "1", "--in", "1,2,3,3"],
    ["bench", "GELU", "--in", "8,8", "--repeat", "1"],
])
def test_cli_device_cuda(emulated, command):
    code, out, err = _invoke([*command, "--device", "cuda", "--json"])
    assert code == 0, err
    assert json.loads(out).get("passed", True)


def test_cli_device_cuda_without_cuda_is_one_error_line(monkeypatch):
    monkeypatch.delenv("NNCHECK_CUDA_EMULATE", raising=False)
    cuda.reset()
    try:
        if cuda.is_available():
            pytest.skip("this machine has a CUDA device")
        code, out, err = _invoke(["forward", "ReLU", "--in", "2,3", "--device", "cuda"])
    finally:
        cuda.reset()
    assert code == 2 and not out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: --device cuda: CUDA is not available")


def test_factories_state_dict_and_device_errors(emulated):
    import nncheck.nn as nn

    z = nncheck.zeros(2, 3, device="cuda")
    assert z.device == nncheck.device("cuda:0") and z.is_cuda and not z.cpu().numpy().any()
    np.testing.assert_array_equal(nncheck.tensor([1.0, 2.0], device="cuda").cpu().numpy(),
                                  [1.0, 2.0])
    assert nncheck.ones_like(z).is_cuda and nncheck.arange(4, device="cuda").is_cuda
    with pytest.raises(TypeError, match="can't convert cuda:0 device type tensor to numpy"):
        z.numpy()
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
        z + nncheck.ones(2, 3)

    model = nn.Linear(3, 2).cuda()
    state = model.state_dict()
    assert list(state) == ["weight", "bias"] and all(v.is_cuda for v in state.values())
    host = nn.Linear(3, 2)
    host.load_state_dict({k: v.cpu() for k, v in state.items()})
    np.testing.assert_array_equal(host.weight.detach().numpy(),
                                  model.weight.detach().cpu().numpy())
    again = nn.Linear(3, 2).cuda()
    again.load_state_dict(host.state_dict())
    assert again.weight.is_cuda
    np.testing.assert_array_equal(again.bias.detach().cpu().numpy(), host.bias.detach().numpy())
    x = nncheck.randn(4, 3, device="cuda", requires_grad=True)
    again(x).sum().backward()
    assert x.grad.is_cuda and again.weight.grad.is_cuda
