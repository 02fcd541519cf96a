"""Every registered layer on the emulated CUDA device (NNCHECK_CUDA_EMULATE=1) against the
CPU path: outputs, input gradients and parameter gradients, float64 to 1e-12 and float32 to
1e-5.  A layer whose family has no CUDA launchers yet skips, naming the family, and so does a
layer that ran no .cu kernel (pure view/reshape layers computed by generic tensor ops): only
layers run by their kernels count.
"""

import copy
import importlib.util
import json
import os
import shutil

import numpy as np
import pytest

import nncheck
from nncheck import cuda, registry
from nncheck.cli.build import Target, construct, grad_input_indices, sample_inputs
from nncheck.cli.parsing import parse_layer_args
from nncheck.cuda import launchers

pytestmark = pytest.mark.skipif(shutil.which(os.environ.get("CXX", "g++")) is None,
                                reason="no C++ compiler for the CUDA host emulation")

LAYERS = sorted(registry.layers())
TOLERANCE = {np.float64: 1e-12, np.float32: 1e-5}


@pytest.fixture(scope="module")
def emulated():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NNCHECK_CUDA_EMULATE", "1")
        cuda.reset()
        yield
    cuda.reset()


def _run(module, arrays, wrt, cotangent_seed, device):
    """Outputs, and gradients of sum(out * cotangent) w.r.t. inputs ``wrt`` and parameters."""
    inputs = []
    for i, a in enumerate(arrays):
        t = nncheck.from_numpy(a.copy()).to(device)
        if i in wrt:
            t.requires_grad_()
        inputs.append(t)
    nncheck.manual_seed(0)
    out = module(*inputs)
    outs = [o for o in (out if isinstance(out, (tuple, list)) else (out,))
            if isinstance(o, nncheck.Tensor)]
    rng = np.random.default_rng(cotangent_seed)
    loss = None
    for o in outs:
        if o.requires_grad:
            cot = nncheck.from_numpy(rng.standard_normal(tuple(o.shape)).astype(
                o.detach().cpu().numpy().dtype)).to(device)
            term = (o * cot).sum()
            loss = term if loss is None else loss + term
    if loss is not None:
        loss.backward()
    host = [o.detach().cpu().numpy() for o in outs]
    grads = [t.grad.cpu().numpy() if t.grad is not None else None for t in inputs]
    grads += [p.grad.cpu().numpy() if p.grad is not None else None
              for p in module.parameters()]
    return host, grads


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", LAYERS)
def test_layer_on_emulated_cuda_equals_cpu(emulated, name, dtype):
    info = registry.get(name)
    args, kwargs = parse_layer_args(info.example.split() if info.example else [])
    module = construct(info.cls, args, kwargs)
    module = module.double() if dtype == np.float64 else module.float()
    target = Target(module=module, info=info)
    arrays = sample_inputs(target, info.inputs, dtype, seed=0)
    wrt = grad_input_indices(target, arrays)
    device_module = copy.deepcopy(module).cuda()
    want_out, want_grads = _run(module, arrays, wrt, 1, "cpu")
    before = launchers.stats["launches"]
    try:
        got_out, got_grads = _run(device_module, arrays, wrt, 1, "cuda")
    except NotImplementedError as exc:  # a kernel the family's launchers lack
        pytest.skip(str(exc))
    except Exception:
        if importlib.util.find_spec(f"nncheck.cuda.launchers.{info.family}") is None:
            pytest.skip(f"family {info.family!r} has no CUDA launchers yet")
        raise
    if launchers.stats["launches"] == before:  # honest count: this layer ran no .cu kernel
        pytest.skip(f"{name} ran no CUDA kernel (generic tensor ops only, on the host)")
    tol = TOLERANCE[dtype]
    for got, want in zip(got_out + got_grads, want_out + want_grads):
        assert (got is None) == (want is None)
        if want is not None:
            scale = max(1.0, float(np.abs(want).max(initial=0)))
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale)
    assert all(p.device.type == "cuda" for p in device_module.parameters())


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
