"""Build the Cython kernels in nncheck/_kernels.

Every ``nncheck/_kernels/<family>.pyx`` becomes the extension
``nncheck._kernels.<family>``; a ``<family>.pyx.tp`` Tempita template is
expanded to ``<family>.pyx`` first (as scikit-learn does for its losses).
OpenMP is used when the compiler accepts ``-fopenmp``; otherwise ``prange``
runs serially.  ``NNCHECK_KERNELS=conv,pooling`` restricts the build to some
families (handy while developing one of them).
"""

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import numpy
from Cython.Build import cythonize
from Cython.Tempita import sub as tempita_sub
from setuptools import Extension, setup

KERNEL_DIR = Path("nncheck") / "_kernels"


def expand_templates():
    for template in sorted(KERNEL_DIR.glob("*.pyx.tp")):
        target = template.with_suffix("")
        text = tempita_sub(template.read_text())
        if not target.exists() or target.read_text() != text:
            target.write_text(text)


def openmp_flags():
    """Return (compile, link) flags for OpenMP, or empty lists when unsupported."""
    if os.environ.get("NNCHECK_NO_OPENMP"):
        return [], []
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    flag = "/openmp" if sys.platform == "win32" else "-fopenmp"
    probe = "#include <omp.h>\nint main(void){return omp_get_max_threads() > 0 ? 0 : 1;}\n"
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "probe.c"
        src.write_text(probe)
        cmd = cc.split() + [flag, str(src), "-o", str(Path(tmp) / "probe")]
        try:
            ok = subprocess.run(cmd, capture_output=True).returncode == 0
        except OSError:
            ok = False
    if not ok:
        print("nncheck: compiler has no OpenMP; kernels will run single-threaded")
        return [], []
    return [flag], ([] if sys.platform == "win32" else [flag])


def libmvec_available():
    """True when glibc's vector math library links (x86-64 Linux): float32 loops then call
    its SIMD expf/erff/... (see _kernels/vecmath.h)."""
    if os.environ.get("NNCHECK_NO_LIBMVEC") or sys.platform != "linux":
        return False
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    probe = ("#include <math.h>\nfloat expf(float) __attribute__((simd(\"notinbranch\")));\n"
             "float x[64];\nint main(void){for(int i=0;i<64;i++) x[i]=expf(x[i]);"
             "return x[0] > 1.0f;}\n")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "probe.c"
        src.write_text(probe)
        cmd = cc.split() + ["-O3", "-fno-math-errno", "-fopenmp-simd", str(src),
                            "-o", str(Path(tmp) / "probe"), "-lmvec", "-lm"]
        try:
            return subprocess.run(cmd, capture_output=True).returncode == 0
        except OSError:
            return False


def extensions():
    expand_templates()
    wanted = {k for k in os.environ.get("NNCHECK_KERNELS", "").split(",") if k}
    compile_flags, link_flags = openmp_flags()
    if sys.platform != "win32":
        # errno and FP exception flags are never read: gcc may inline sqrt and if-convert
        # conditional arithmetic, which lets it vectorise loops with selects (ReLU backward)
        compile_flags = compile_flags + ["-O3", "-fno-math-errno", "-fno-trapping-math"]
    macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
    libraries = []
    if libmvec_available():
        macros.append(("NNCHECK_LIBMVEC", "1"))
        libraries = ["mvec", "m"]
    exts = []
    for pyx in sorted(KERNEL_DIR.glob("*.pyx")):
        name = pyx.stem
        if wanted and name not in wanted:
            continue
        exts.append(
            Extension(
                f"nncheck._kernels.{name}",
                [str(pyx)],
                include_dirs=[numpy.get_include(), str(KERNEL_DIR)],
                # headers included from verbatim C (conv_direct.h): an edit rebuilds
                depends=[str(h) for h in sorted(KERNEL_DIR.glob("*.h"))],
                define_macros=macros,
                libraries=libraries,
                extra_compile_args=compile_flags,
                extra_link_args=link_flags,
            )
        )
    return cythonize(
        exts,
        language_level=3,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
        nthreads=int(os.environ.get("NNCHECK_BUILD_JOBS", "0")) or None,
    )


if __name__ == "__main__":
    if shutil.which("cc") is None and "CC" not in os.environ:
        print("nncheck: no C compiler found; install gcc to build the kernels", file=sys.stderr)
    # compile the extensions side by side (setuptools' build_ext --parallel)
    setup(ext_modules=extensions(),
          options={"build_ext": {"parallel": max(1, os.cpu_count() or 1)}})
