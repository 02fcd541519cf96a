"""The host emulation of CUDA (NNCHECK_CUDA_EMULATE=1): the .cu kernels compiled by g++ and
run with their real grids and blocks, behind nncheck's own driver layer.

The ``emulated`` fixture sets the variable for this module only (and resets the driver
state around it), so the rest of the suite sees this machine as it is.  Skips where there
is no C++ compiler.
"""

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from nncheck import cuda
from nncheck.cuda import emulator

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which(os.environ.get("CXX", "g++")) is None,
                                reason="no C++ compiler for the CUDA host emulation")


@pytest.fixture(scope="module")
def emulated():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NNCHECK_CUDA_EMULATE", "1")
        cuda.reset()
        yield
    cuda.reset()


def test_only_the_variable_turns_it_on(monkeypatch):
    monkeypatch.delenv("NNCHECK_CUDA_EMULATE", raising=False)
    cuda.reset()
    try:
        assert "emulation" not in str(cuda.unavailable_reason() or cuda.get_device())
    finally:
        cuda.reset()


def test_the_emulated_device(emulated):
    assert cuda.is_available() and cuda.device_count() == 1
    dev = cuda.get_device()
    assert "emulation" in dev.name and dev.arch == "sm_90"


def test_every_family_builds_and_exports_both_dtypes(emulated):
    for family in cuda.families():
        program = emulator.compile_family(family)
        source = (emulator.KERNEL_DIR / f"{family}.cu").read_text()
        templated, plain = emulator.kernel_names(source)
        assert set(program.lowered) == ({f"{n}<float>" for n in templated}
                                        | {f"{n}<double>" for n in templated} | set(plain))


def test_relu_launch_and_parameter_check(emulated):
    x = np.linspace(-2, 2, 1001).astype(np.float32)
    dx, dy = cuda.DeviceArray.from_numpy(x), cuda.DeviceArray.empty(x.shape, np.float32)
    relu = cuda.get_kernel("activation", "relu_forward", np.float32)
    relu(cuda.grid_for(x.size), 256, dx, dy, x.size, 0.0, 0.0)
    np.testing.assert_array_equal(dy.numpy(), np.maximum(x, 0))
    with pytest.raises(TypeError, match="parameters of sizes"):
        relu(1, 32, dx, dy, 8, 0.0)  # one argument short, caught like on a GPU
    with pytest.raises(cuda.CudaError, match="CUDA_ERROR_LAUNCH_FAILED.*1024"):
        relu(1, 2048, dx, dy, 8, 0.0, 0.0)  # more threads per block than CUDA allows


def test_block_barriers_and_warp_shuffles(emulated):
    """softmax reduces with warp shuffles, GEMM tiles through shared memory + __syncthreads."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 50, 3))
    y = cuda.DeviceArray.empty(x.shape, np.float64)
    softmax = cuda.get_kernel("activation", "softmax_forward", np.float64)
    softmax(cuda.grid_for(21 * 32), 256, cuda.DeviceArray.from_numpy(x), y, 7, 50, 3, 0)
    e = np.exp(x - x.max(1, keepdims=True))
    np.testing.assert_allclose(y.numpy(), e / e.sum(1, keepdims=True), rtol=1e-12)

    A, B = rng.standard_normal((130, 70)), rng.standard_normal((70, 150))
    C = cuda.DeviceArray.empty((130, 150), np.float64)
    gemm = cuda.get_kernel("linear", "gemm_nn", np.float64)
    gemm((2, 2, 1), 256, cuda.DeviceArray.from_numpy(A), cuda.DeviceArray.from_numpy(B), C,
         None, 130, 150, 70, 70, 150, 150, 0, 0, 0, 1.0, 0.0, 0)
    np.testing.assert_allclose(C.numpy(), A @ B, rtol=1e-12, atol=1e-12)


def test_out_of_memory_names_the_bytes(emulated, monkeypatch):
    monkeypatch.setenv("NNCHECK_CUDA_EMULATE_MEMORY", str(1 << 20))
    with pytest.raises(cuda.OutOfMemoryError, match="tried to allocate 8388608 bytes"):
        cuda.DeviceArray.empty((1 << 20,), np.float64)


def _gpu_check():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import gpu_check
    finally:
        sys.path.pop(0)
    return gpu_check


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_kernel_matches_pytorch(emulated, dtype):
    """scripts/gpu_check.py's cases -- every kernel of every family -- on the emulated device."""
    pytest.importorskip("torch")
    check = _gpu_check()
    failures = check.run_cases(check.CudaBackend(), dtypes=(dtype,), verbose=False)
    assert not failures, "\n".join(failures)
