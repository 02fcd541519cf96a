"""Run-time compilation of nncheck/cuda/kernels/*.cu with NVRTC, cached in memory and on disk.

Works without a GPU: only the NVRTC library (the ``nvidia-cuda-nvrtc`` wheel) is needed,
so CI compiles every kernel for several architectures on a CPU-only machine.

Kernel convention (see kernels/_common.cu): every kernel is either
``template <typename T> __global__ void NAME(...)`` -- instantiated for float and double
through NVRTC name expressions ``NAME<float>`` / ``NAME<double>`` -- or a plain
``extern "C" __global__ void NAME(...)``. Kernels are found by scanning the source.
"""

import ctypes
import glob
import hashlib
import json
import os
import re
import sys
import threading
from pathlib import Path

from ._driver import CudaUnavailableError, bindings

KERNEL_DIR = Path(__file__).parent / "kernels"
DTYPES = {"float32": "float", "float64": "double"}
_CACHE_FORMAT = 1
_BASE_OPTIONS = ("--std=c++17",)

_lock = threading.Lock()
_memory_cache = {}
stats = {"compiled": 0, "memory_hits": 0, "disk_hits": 0}

_COMMENT_RE = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_BOUNDS = r"(?:__launch_bounds__\s*\([^)]*\)\s*)?"
_TEMPLATE_RE = re.compile(
    r"template\s*<\s*typename\s+T\s*>\s*__global__\s+void\s+" + _BOUNDS + r"(\w+)\s*\(")
_PLAIN_RE = re.compile(r'extern\s+"C"\s+__global__\s+void\s+' + _BOUNDS + r"(\w+)\s*\(")


class NvrtcError(RuntimeError):
    """NVRTC failed; ``name`` is NVRTC's result name and ``log`` the compiler's log."""

    def __init__(self, message, name="", log=""):
        self.name, self.log = name, log
        super().__init__(message + (f"\n--- NVRTC log ---\n{log.rstrip()}" if log else ""))


# ---------------------------------------------------------------- loading libnvrtc

_nvrtc_ready = False


def _nvrtc():
    """The nvrtc bindings module, with libnvrtc loaded (preloaded from the wheel if needed)."""
    global _nvrtc_ready
    _, nvrtc = bindings()
    if not _nvrtc_ready:
        try:
            nvrtc.nvrtcVersion()
        except Exception as first:  # cuda-bindings could not locate libnvrtc by itself
            if not _preload_wheel_nvrtc():
                raise CudaUnavailableError(
                    "the NVRTC library was not found; pip install 'nvidia-cuda-nvrtc' "
                    f"matching cuda-bindings' major version ({first})"
                ) from None
            nvrtc.nvrtcVersion()
        _nvrtc_ready = True
    return nvrtc


def _preload_wheel_nvrtc():
    """dlopen libnvrtc.so.* shipped in site-packages/nvidia/*/lib (RTLD_GLOBAL), newest first."""
    candidates = []
    for root in sys.path:
        candidates += glob.glob(os.path.join(root, "nvidia", "*", "lib", "libnvrtc.so.*"))
        candidates += glob.glob(os.path.join(root, "nvidia", "cuda_nvrtc", "lib", "libnvrtc.so*"))
    for path in sorted(set(candidates), reverse=True):
        if "builtins" in os.path.basename(path):
            continue
        try:
            ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
            return True
        except OSError:
            continue
    return False


def _check(fn_name, result):
    """Unpack ``(nvrtcResult, *values)``; raise NvrtcError on failure."""
    nvrtc = _nvrtc()
    err, values = (result[0], result[1:]) if isinstance(result, tuple) else (result, ())
    if int(err) != 0:
        name = getattr(err, "name", str(err))
        got, raw = nvrtc.nvrtcGetErrorString(err)
        if int(got) == 0 and raw:
            name = raw.decode()
        raise NvrtcError(f"{fn_name} failed: {name}", name=name)
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def version():
    """NVRTC's (major, minor)."""
    return tuple(int(v) for v in _check("nvrtcVersion", _nvrtc().nvrtcVersion()))


def supported_archs():
    """SM numbers NVRTC can emit CUBIN for (e.g. [75, 80, 86, 89, 90, ...])."""
    nvrtc = _nvrtc()
    if not hasattr(nvrtc, "nvrtcGetSupportedArchs"):  # NVRTC < 11.2 cannot tell
        return []
    return sorted(int(a) for a in _check("nvrtcGetSupportedArchs", nvrtc.nvrtcGetSupportedArchs()))


def _arch_number(arch):
    if isinstance(arch, tuple):
        return int(arch[0]) * 10 + int(arch[1])
    if isinstance(arch, int):
        return arch
    match = re.fullmatch(r"(?:sm_|compute_)?(\d+)[af]?", str(arch).strip())
    if not match:
        raise ValueError(f"nncheck.cuda: cannot read architecture {arch!r} (expected e.g. 'sm_90')")
    return int(match.group(1))


def resolve_arch(arch):
    """``(target, kind)`` for a device architecture, clamped to what this NVRTC supports.

    Exact match -> CUBIN for it. Otherwise the newest supported SM of the same major
    (CUBIN is binary compatible upwards within a major), else PTX for the newest older
    supported SM, which the driver JIT-compiles for the newer GPU.
    """
    cc = _arch_number(arch)
    supported = supported_archs()
    if not supported or cc in supported:
        return f"sm_{cc}", "cubin"
    same_major = [a for a in supported if a // 10 == cc // 10 and a <= cc]
    if same_major:
        return f"sm_{max(same_major)}", "cubin"
    older = [a for a in supported if a <= cc]
    if older:
        return f"compute_{max(older)}", "ptx"
    raise NvrtcError(
        f"architecture sm_{cc} is older than every architecture NVRTC {version()} supports "
        f"(sm_{supported[0]} and newer); install an older cuda-bindings/nvidia-cuda-nvrtc"
    )


# ---------------------------------------------------------------- compiled programs

class Program:
    """A compiled image plus the lowered (mangled) name of each kernel instantiation."""

    def __init__(self, key, image, kind, target, lowered, log, origin):
        self.key, self.image, self.kind, self.target = key, image, kind, target
        self.lowered, self.log, self.origin = lowered, log, origin

    def __repr__(self):
        return (f"<Program {self.kind} {self.target}, {len(self.lowered)} kernels, "
                f"from {self.origin}>")


def cache_dir():
    """Disk cache folder: $NNCHECK_CACHE_DIR, else ~/.cache/nncheck/kernels."""
    env = os.environ.get("NNCHECK_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "nncheck" / "kernels"


def clear_memory_cache():
    with _lock:
        _memory_cache.clear()


def _cache_key(source, headers, options, name_expressions):
    payload = json.dumps([_CACHE_FORMAT, source, sorted(headers.items()), list(options),
                          list(name_expressions), list(version())])
    return hashlib.sha256(payload.encode()).hexdigest()


def _read_disk(key):
    folder = cache_dir()
    try:
        meta = json.loads((folder / f"{key}.json").read_text())
        image = (folder / f"{key}.bin").read_bytes()
    except (OSError, ValueError):
        return None
    if len(image) != meta.get("size"):
        return None
    return Program(key, image, meta["kind"], meta["target"], meta["lowered"], meta["log"],
                   "disk")


def _write_disk(program):
    """Write image then metadata, each atomically; a failed write only loses the cache."""
    folder = cache_dir()
    meta = {"kind": program.kind, "target": program.target, "lowered": program.lowered,
            "log": program.log, "size": len(program.image)}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for suffix, data in ((".bin", program.image), (".json", json.dumps(meta).encode())):
            tmp = folder / f"{program.key}{suffix}.{os.getpid()}.tmp"
            tmp.write_bytes(data)
            os.replace(tmp, folder / f"{program.key}{suffix}")
    except OSError:
        pass


def compile_source(source, arch, name="kernels.cu", options=(), name_expressions=(),
                   headers=None):
    """Compile CUDA C++ ``source`` for ``arch`` ('sm_90', (9, 0), 90).

    ``headers`` maps include names to their text. Returns a Program; raises NvrtcError
    (with the compiler log) when the source does not compile.
    """
    headers = dict(headers or {})
    target, kind = resolve_arch(arch)
    options = (*_BASE_OPTIONS, f"--gpu-architecture={target}", *options)
    key = _cache_key(source, headers, options, name_expressions)
    with _lock:
        if key in _memory_cache:
            stats["memory_hits"] += 1
            return _memory_cache[key]
    program = _read_disk(key)
    if program is not None:
        stats["disk_hits"] += 1
    else:
        program = _compile(key, source, name, headers, options, name_expressions, target, kind)
        stats["compiled"] += 1
        _write_disk(program)
    with _lock:
        _memory_cache[key] = program
    return program


def _compile(key, source, name, headers, options, name_expressions, target, kind):
    nvrtc = _nvrtc()
    prog = _check("nvrtcCreateProgram", nvrtc.nvrtcCreateProgram(
        source.encode(), name.encode(), len(headers),
        [h.encode() for h in headers.values()], [n.encode() for n in headers]))
    try:
        for expr in name_expressions:
            _check("nvrtcAddNameExpression", nvrtc.nvrtcAddNameExpression(prog, expr.encode()))
        result = nvrtc.nvrtcCompileProgram(prog, len(options), [o.encode() for o in options])
        log = _program_log(nvrtc, prog)
        try:
            _check("nvrtcCompileProgram", result)
        except NvrtcError as exc:
            raise NvrtcError(f"compiling {name} for {target} failed: {exc.name}",
                             name=exc.name, log=log) from None
        getter = "CUBIN" if kind == "cubin" else "PTX"
        size = _check(f"nvrtcGet{getter}Size", getattr(nvrtc, f"nvrtcGet{getter}Size")(prog))
        image = b" " * int(size)
        _check(f"nvrtcGet{getter}", getattr(nvrtc, f"nvrtcGet{getter}")(prog, image))
        lowered = {
            expr: _check("nvrtcGetLoweredName",
                         nvrtc.nvrtcGetLoweredName(prog, expr.encode())).decode()
            for expr in name_expressions
        }
    finally:
        nvrtc.nvrtcDestroyProgram(prog)
    return Program(key, image, kind, target, lowered, log, "compiled")


def _program_log(nvrtc, prog):
    size = int(_check("nvrtcGetProgramLogSize", nvrtc.nvrtcGetProgramLogSize(prog)))
    if size <= 1:
        return ""
    buf = b" " * size
    _check("nvrtcGetProgramLog", nvrtc.nvrtcGetProgramLog(prog, buf))
    return buf.rstrip(b"\0").decode(errors="replace")


# ---------------------------------------------------------------- the kernel files

def families():
    """Kernel families: kernels/<family>.cu, skipping shared headers named _*.cu."""
    return sorted(p.stem for p in KERNEL_DIR.glob("*.cu") if not p.name.startswith("_"))


def _headers():
    return {p.name: p.read_text() for p in sorted(KERNEL_DIR.glob("_*.cu"))}


def kernel_names(source):
    """(templated kernel names, extern "C" kernel names) defined in ``source``."""
    code = _COMMENT_RE.sub("", source)
    return _TEMPLATE_RE.findall(code), _PLAIN_RE.findall(code)


def name_expression(name, dtype):
    return f"{name}<{DTYPES[str(dtype)]}>"


def compile_family(family, arch, options=()):
    """Compile kernels/<family>.cu for ``arch``; lowered names cover both dtypes."""
    path = KERNEL_DIR / f"{family}.cu"
    if not path.is_file():
        raise ValueError(
            f"nncheck.cuda: no kernel family {family!r} (have: {', '.join(families())})")
    source = path.read_text()
    templated, plain = kernel_names(source)
    expressions = [name_expression(n, d) for n in templated for d in DTYPES] + plain
    return compile_source(source, arch, name=path.name, options=options,
                          name_expressions=expressions, headers=_headers())


def compile_all(arch="sm_90", options=()):
    """Compile every kernel family for ``arch`` (no GPU needed); ``options`` go to NVRTC.

    Returns ``{family: {name expression: lowered name}}``, e.g.
    ``{"activation": {"relu_forward<float>": "_Z12relu_forwardIfEvPKT_PS0_xS0_S0_", ...}}``.
    """
    return {family: dict(compile_family(family, arch, options).lowered)
            for family in families()}
