"""CUDA backend: NVRTC compilation (no GPU needed), the kernel cache, errors and availability.

The compile tests need cuda-bindings + nvidia-cuda-nvrtc (``pip install 'nncheck[cuda]'``)
and skip cleanly without them. The runtime tests run every kernel against PyTorch's CPU
result through scripts/gpu_check.py's cases and skip without a CUDA device.
"""

import importlib.util
import os
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

import nncheck
import nncheck.nn as nn
from nncheck import cuda
from nncheck.cuda import _nvrtc

ROOT = Path(__file__).resolve().parents[1]


def _nvrtc_missing():
    try:
        cuda.nvrtc_version()
    except Exception as exc:  # cuda-python or libnvrtc absent
        return f"NVRTC unavailable ({exc}); pip install 'nncheck[cuda]'"
    return None


NVRTC_MISSING = _nvrtc_missing()
needs_nvrtc = pytest.mark.skipif(NVRTC_MISSING is not None, reason=str(NVRTC_MISSING))
needs_gpu = pytest.mark.skipif(not cuda.is_available(),
                               reason=f"no CUDA device: {cuda.unavailable_reason()}")
ARCHS = ["sm_75", "sm_80", "sm_90"]
# -O3 ptxas takes minutes for every family x 3 archs on a CI core; the front end, template
# instantiation and ptxas still run in full at this level (NVRTC >= 12.8).
FAST = ("--Ofast-compile=max",)


def _fast_options():
    return FAST if NVRTC_MISSING is None and cuda.nvrtc_version() >= (12, 8) else ()


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A private disk cache for the module (the user's ~/.cache stays untouched)."""
    folder = tmp_path_factory.mktemp("kernel-cache")
    old = os.environ.get("NNCHECK_CACHE_DIR")
    os.environ["NNCHECK_CACHE_DIR"] = str(folder)
    _nvrtc.clear_memory_cache()
    yield folder
    _nvrtc.clear_memory_cache()
    if old is None:
        del os.environ["NNCHECK_CACHE_DIR"]
    else:
        os.environ["NNCHECK_CACHE_DIR"] = old


def _elf_symbols(image):
    """Names in a CUBIN's ELF symbol table (to prove the kernels really are in the image)."""
    assert image[:4] == b"\x7fELF" and image[4] == 2, "CUBIN must be a 64-bit ELF file"
    shoff, = struct.unpack_from("<Q", image, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", image, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", image, shoff + i * shentsize)
                for i in range(shnum)]
    names = set()
    for sec in sections:
        if sec[1] != 2:  # SHT_SYMTAB
            continue
        strtab = sections[sec[6]]
        for off in range(sec[4], sec[4] + sec[5], sec[9]):
            name_off, = struct.unpack_from("<I", image, off)
            start = strtab[4] + name_off
            names.add(image[start:image.index(b"\0", start)].decode())
    return names


# ---------------------------------------------------------------- without a GPU

def test_is_available_false_here_never_raises():
    if cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    assert cuda.is_available() is False
    assert cuda.device_count() == 0
    reason = cuda.unavailable_reason()
    assert reason and ("cuda-python" in reason or "libcuda" in reason or "device" in reason)


def test_module_cuda_raises_clear_error():
    if cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    model = nn.Linear(3, 2)
    with pytest.raises(RuntimeError, match=r"^nncheck: CUDA is not available \(.+\)"):
        model.cuda()
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        model.to("cuda")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        nncheck.ones(2).to("cuda")
    assert model.weight.device.type == "cpu"


def test_get_device_raises_without_gpu():
    if cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    with pytest.raises(cuda.CudaUnavailableError, match="CUDA is not available"):
        cuda.DeviceArray.empty((2, 3))


def test_size_classes():
    assert cuda.size_class(1) == 512
    assert cuda.size_class(513) == 1024
    assert cuda.size_class(1 << 20) == 1 << 20
    assert cuda.size_class((1 << 20) + 1) == 2 << 20
    assert cuda.size_class(5 << 20) == 6 << 20


def test_window3_pads_leading_dims():
    w = cuda.window3((5, 6), (3, 4), k=(2, 3), stride=(2, 1), pad=(1, 0))
    assert list(w.in_) == [1, 5, 6] and list(w.out) == [1, 3, 4]
    assert list(w.k) == [1, 2, 3] and list(w.stride) == [1, 2, 1]
    assert list(w.pad) == [0, 1, 0] and list(w.dil) == [1, 1, 1]


def test_kernel_scan_finds_templates_and_plain_kernels():
    src = """
    // template <typename T> __global__ void commented_out(int x);
    template <typename T> __global__ void __launch_bounds__(256) alpha(const T* x) {}
    template <typename T>
    __global__ void beta(T* y) {}
    extern "C" __global__ void gamma(int* z) {}
    """
    assert _nvrtc.kernel_names(src) == (["alpha", "beta"], ["gamma"])


def test_every_family_has_a_kernel_file():
    expected = {"activation", "linear", "conv", "pooling", "padding", "normalization",
                "dropout", "sparse", "distance", "loss", "vision", "rnn", "attention",
                "elementwise"}
    assert set(cuda.families()) == expected


# ---------------------------------------------------------------- NVRTC (no GPU needed)

@needs_nvrtc
def test_arch_resolution():
    supported = cuda.supported_archs()
    assert cuda.resolve_arch("sm_90") == ("sm_90", "cubin")
    assert cuda.resolve_arch((8, 0)) == ("sm_80", "cubin")
    newest = max(supported)
    # a GPU newer than this NVRTC: PTX for the newest known SM, JIT-compiled by the driver
    assert cuda.resolve_arch(f"sm_{newest // 10 + 1}0") == (f"compute_{newest}", "ptx")
    with pytest.raises(cuda.NvrtcError, match="older than every architecture"):
        cuda.resolve_arch("sm_30")
    with pytest.raises(ValueError, match="cannot read architecture"):
        cuda.resolve_arch("hopper")


@needs_nvrtc
@pytest.mark.parametrize("arch", ARCHS)
def test_compile_all(arch, cache):
    options = _fast_options()
    result = {f: dict(_nvrtc.compile_family(f, arch, options).lowered)
              for f in cuda.families()}
    assert set(result) == set(cuda.families())
    for family in cuda.families():
        program = _nvrtc.compile_family(family, arch, options)
        assert program.kind == "cubin" and program.target == arch
        symbols = _elf_symbols(program.image)
        templated, plain = _nvrtc.kernel_names((_nvrtc.KERNEL_DIR / f"{family}.cu").read_text())
        for name in templated:
            for ctype in ("float", "double"):
                lowered = result[family][f"{name}<{ctype}>"]
                assert lowered in symbols, f"{family}: {name}<{ctype}> missing from the CUBIN"
        for name in plain:
            assert result[family][name] == name and name in symbols
    names = {expr.split("<")[0] for lowered in result.values() for expr in lowered}
    # a forward and a backward for each family's ops
    for op in ("relu", "gelu", "softmax", "prelu", "glu", "max_pool", "avg_pool",
               "adaptive_avg_pool", "adaptive_max_pool", "pad", "batch_norm", "layer_norm",
               "group_norm", "embedding", "embedding_bag", "pairwise",
               "cosine", "normalize", "pdist", "nll", "multi_margin", "ctc", "grid_sample",
               "grid_sample_bicubic"):
        assert f"{op}_forward" in names, op
        assert any(n.startswith(f"{op}_backward") for n in names), op
    assert {"gemm_nn", "gemm_nt", "gemm_tn", "im2col", "col2im", "bernoulli_mask"} <= names
    # pointwise losses and cross entropy write their unit gradients in the forward (as on the CPU)
    assert {"mse_forward", "bce_logits_forward", "segment_sum", "cross_entropy_forward"} <= names
    assert {"resample_pass", "resample_pass_transposed", "lstm_row", "lstm_row_back", "gru_row",
            "gru_row_back", "rnn_row", "rnn_row_back", "attention_scores"} <= names


@needs_nvrtc
def test_compile_all_public_api(cache):
    result = cuda.compile_all("sm_90", options=_fast_options())
    assert result["activation"]["relu_forward<float>"].startswith("_Z")
    assert result["sparse"]["embedding_count"] == "embedding_count"


@needs_nvrtc
def test_broken_source_raises_with_log(cache):
    src = "template <typename T> __global__ void k(T* x) { x[0] = undefined_name; }\n"
    with pytest.raises(cuda.NvrtcError) as info:
        cuda.compile_source(src, "sm_80", name="broken.cu", name_expressions=["k<float>"])
    err = info.value
    assert err.name == "NVRTC_ERROR_COMPILATION"
    assert "undefined_name" in err.log and "broken.cu" in err.log
    assert "undefined_name" in str(err)


@needs_nvrtc
def test_bad_option_raises(cache):
    with pytest.raises(cuda.NvrtcError, match="NVRTC_ERROR_INVALID_OPTION"):
        cuda.compile_source("__global__ void k() {}", "sm_80", options=("--no-such-option",))


@needs_nvrtc
def test_disk_cache_hit_and_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NNCHECK_CACHE_DIR", str(tmp_path / "kc"))
    assert cuda.cache_dir() == tmp_path / "kc"
    src = "template <typename T> __global__ void twice(T* x) { x[threadIdx.x] *= T(2); }\n"
    exprs = ["twice<float>", "twice<double>"]
    _nvrtc.clear_memory_cache()
    first = cuda.compile_source(src, "sm_80", name_expressions=exprs)
    assert first.origin == "compiled"
    assert len(list((tmp_path / "kc").glob("*.bin"))) == 1
    assert cuda.compile_source(src, "sm_80", name_expressions=exprs).origin == "compiled"
    _nvrtc.clear_memory_cache()  # a new process: only the disk cache is left
    second = cuda.compile_source(src, "sm_80", name_expressions=exprs)
    assert second.origin == "disk"
    assert second.image == first.image and second.lowered == first.lowered
    # another architecture or option set is another entry
    assert cuda.compile_source(src, "sm_90", name_expressions=exprs).origin == "compiled"
    assert cuda.compile_source(src, "sm_80", options=("-lineinfo",),
                               name_expressions=exprs).origin == "compiled"
    # a truncated entry is ignored and rewritten
    _nvrtc.clear_memory_cache()
    (bin_file,) = [p for p in (tmp_path / "kc").glob("*.bin")
                   if p.read_bytes() == first.image]
    bin_file.write_bytes(first.image[:100])
    assert cuda.compile_source(src, "sm_80", name_expressions=exprs).origin == "compiled"


@needs_nvrtc
def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("NNCHECK_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cuda.cache_dir() == tmp_path / ".cache" / "nncheck" / "kernels"


@needs_nvrtc
def test_ptx_fallback_for_unknown_newer_gpu(cache):
    newest = max(cuda.supported_archs())
    src = "extern \"C\" __global__ void k(float* x) { x[0] = 1.0f; }\n"
    program = cuda.compile_source(src, f"sm_{newest // 10 + 1}0", name_expressions=["k"])
    assert program.kind == "ptx" and f".target sm_{newest}" in program.image.decode()


# ---------------------------------------------------------------- the GPU check script

def _gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "scripts" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module
    spec.loader.exec_module(module)
    return module


@needs_nvrtc
def test_gpu_check_launches_match_kernel_signatures(cache):
    """Every launch the GPU check makes passes arguments of the sizes the CUBIN declares.

    Runs all of scripts/gpu_check.py's cases on a CPU stand-in backend that executes no
    kernel but checks each launch against the parameter table (EIATTR_KPARAM_INFO) of the
    compiled kernel, so a wrong argument list is caught without a GPU.
    """
    check = _gpu_check()
    backend = check.DryBackend(arch="sm_90", options=_fast_options())
    failures = check.run_cases(backend, dtypes=(np.float64, np.float32), verbose=False)
    assert not failures, "\n".join(failures)
    assert not backend.errors, "\n".join(backend.errors)
    assert backend.launches > 150


# ---------------------------------------------------------------- with a GPU

@needs_gpu
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_kernel_matches_cpu(dtype):
    check = _gpu_check()
    failures = check.run_cases(check.CudaBackend(), dtypes=(dtype,), verbose=False)
    assert not failures, "\n".join(failures)


@needs_gpu
def test_device_array_roundtrip_and_allocator():
    x = np.arange(1000, dtype=np.float64).reshape(10, 100)
    d = cuda.DeviceArray.from_numpy(x)
    np.testing.assert_array_equal(d.numpy(), x)
    np.testing.assert_array_equal(d.reshape(100, 10).numpy(), x.reshape(100, 10))
    np.testing.assert_array_equal(d.copy().numpy(), x)
    assert not cuda.DeviceArray.zeros((7,)).numpy().any()
    alloc = cuda.allocator()
    ptr = d.ptr
    del d
    again = cuda.DeviceArray.empty((10, 100), np.float64)
    assert again.ptr == ptr  # served from the free list of its size class
    assert alloc.reserved_bytes >= alloc.allocated_bytes > 0


@needs_gpu
def test_launch_errors_name_the_driver_error():
    relu = cuda.get_kernel("activation", "relu_forward", np.float32)
    x = cuda.DeviceArray.zeros((8,), np.float32)
    with pytest.raises(TypeError, match="parameters of sizes"):
        relu(1, 32, x, x, 8, 0.0)  # one argument short
    with pytest.raises(cuda.CudaError, match="CUDA_ERROR_INVALID_VALUE"):
        relu(1, 4096, x, x, 8, 0.0, 0.0)  # too many threads per block


@needs_gpu
def test_module_cuda_moves_parameters_to_the_gpu():
    model = nn.Linear(3, 2)
    model.cuda()
    assert model.weight.device.type == "cuda" and model.bias.is_cuda
    model.cpu()
    assert model.weight.device.type == "cpu"
