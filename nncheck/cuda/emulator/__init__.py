"""Host emulation of CUDA (``NNCHECK_CUDA_EMULATE=1`` only): the device path, run on the CPU.

The very ``kernels/<family>.cu`` sources a GPU runs are compiled as host C++ by g++ with
``cuda_host.h`` (CUDA's built-ins) and ``runtime.cpp`` (blocks in order, each block's
threads as fibers meeting at ``__syncthreads`` and warp shuffles), one cached shared
library per family.  ``driver`` stands in for cuda-python's driver module, so nncheck's
own driver layer -- contexts, caching allocator, DeviceArray, Kernel, launch packing and
parameter-size checks -- runs unchanged over host memory.  It exists so that CI without a
GPU executes every kernel with its real grid, block and shared-memory sizes; it is not
fast, and it is never used unless the variable is set.
"""

import hashlib
import os
import subprocess
import threading
from pathlib import Path

from .._nvrtc import DTYPES, KERNEL_DIR, Program, cache_dir, kernel_names

HERE = Path(__file__).parent
ENV = "NNCHECK_CUDA_EMULATE"
CXX_FLAGS = ("-std=c++17", "-O1", "-fPIC", "-shared", "-w")
_lock = threading.Lock()
_programs = {}


def symbol(name, ctype=None):
    """The exported launcher of kernel ``name`` (``<float>``/``<double>`` instance)."""
    return f"nnemu_{name}" + (f"_{ctype}" if ctype else "")


def wrapper_source(family):
    """The translation unit for one family: the runtime, the .cu, one launcher per kernel."""
    source = (KERNEL_DIR / f"{family}.cu").read_text()
    templated, plain = kernel_names(source)
    lines = ['#include "cuda_host.h"', '#include "runtime.cpp"', f'#include "{family}.cu"',
             'extern "C" const char* nnemu_message() { return nnemu::message(); }']
    instances = [(f"{n}<{c}>", symbol(n, c), f"&{n}<{c}>")
                 for n in templated for c in DTYPES.values()]
    instances += [(n, symbol(n), f"&{n}") for n in plain]
    for _, sym, ref in instances:
        lines.append(f'extern "C" int {sym}(const unsigned* d, unsigned long s, void** p) '
                     f"{{ return nnemu::launch({ref}, d, s, p); }}")
        lines.append(f'extern "C" int {sym}_params(long long* out) '
                     f"{{ return nnemu::param_sizes({ref}, out); }}")
    lowered = {expr: sym for expr, sym, _ in instances}
    return "\n".join(lines) + "\n", lowered


def compile_family(family, arch=None):
    """A Program whose image is the path of the family's host library (built once, cached)."""
    with _lock:
        if family in _programs:
            return _programs[family]
        source, lowered = wrapper_source(family)
        inputs = [source, *(p.read_text() for p in sorted(KERNEL_DIR.glob("*.cu"))),
                  (HERE / "cuda_host.h").read_text(), (HERE / "runtime.cpp").read_text(),
                  " ".join(CXX_FLAGS)]
        key = hashlib.sha256("\0".join(inputs).encode()).hexdigest()[:24]
        folder = cache_dir() / "emulated"
        library = folder / f"{family}-{key}.so"
        if not library.is_file():
            _build(source, library, family)
        program = Program(key, str(library).encode(), "host", "emulated", lowered, "",
                          "emulator")
        _programs[family] = program
        return program


def _build(source, library, family):
    library.parent.mkdir(parents=True, exist_ok=True)
    tmp = library.with_suffix(f".{os.getpid()}.tmp")
    cpp = library.with_suffix(f".{os.getpid()}.cpp")
    cpp.write_text(source)
    cmd = [os.environ.get("CXX", "g++"), *CXX_FLAGS, f"-I{HERE}", f"-I{KERNEL_DIR}",
           str(cpp), "-o", str(tmp)]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True)
    except FileNotFoundError:
        raise RuntimeError(f"nncheck: {ENV}=1 needs a C++ compiler (g++ or $CXX) to build "
                           "the emulated kernels") from None
    finally:
        cpp.unlink(missing_ok=True)
    if result.returncode != 0:
        raise RuntimeError(f"nncheck: compiling {family}.cu for the host emulation failed:\n"
                           f"{result.stderr[-4000:]}")
    os.replace(tmp, library)
