"""The BLAS under the kernels: scipy-openblas32's private OpenBLAS (or scipy's), one thread."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from nncheck._kernels import blas_threads


def test_kernels_call_the_private_openblas_on_one_thread():
    pytest.importorskip("scipy_openblas32")  # a dependency; absent only in odd installs
    from nncheck._kernels import blas

    assert blas.blas_name() == "scipy-openblas32"
    get, _ = blas_threads.blas_thread_controls()
    assert get() == 1
    assert blas_threads.private_blas() is not None


PROBE = textwrap.dedent("""
    import numpy as np
    import nncheck
    from nncheck._kernels.blas_threads import _find_blas_thread_controls
    scipy_threads = _find_blas_thread_controls()[0]
    before = scipy_threads()
    from nncheck._kernels import blas
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5, 9, 9))
    w = rng.standard_normal((7, 5, 3, 3))
    y = nncheck.nn.functional.conv2d(nncheck.from_numpy(x), nncheck.from_numpy(w), padding=1)
    a = rng.standard_normal((70, 300)).astype(np.float32)
    b = rng.standard_normal((40, 300)).astype(np.float32)
    z = nncheck.nn.functional.linear(nncheck.from_numpy(a), nncheck.from_numpy(b))
    print(blas.blas_name(), before, scipy_threads())
    np.save(OUT + "_conv.npy", y.numpy()); np.save(OUT + "_linear.npy", z.numpy())
""")


def conv_reference(x, w):
    """Conv2d with padding 1 by its definition, in float64."""
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    windows = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3))
    return np.einsum("nchwij,ocij->nohw", windows, w)


@pytest.mark.parametrize("choice", ["default", "scipy"])
def test_either_blas_computes_the_same_products(choice, tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    if choice == "scipy":
        env["NNCHECK_BLAS"] = "scipy"
    else:
        env.pop("NNCHECK_BLAS", None)
    out = str(tmp_path / "r")
    run = subprocess.run([sys.executable, "-c", f"OUT = {out!r}\n" + PROBE], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    name, scipy_before, scipy_after = run.stdout.split()
    if choice == "scipy" or blas_threads.private_blas() is None:
        # the kernels share scipy's OpenBLAS: it is set to one thread
        assert (name, scipy_after) == ("scipy", "1")
    else:  # the user's scipy keeps its threads
        assert (name, scipy_after) == ("scipy-openblas32", scipy_before)
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((3, 5, 9, 9)), rng.standard_normal((7, 5, 3, 3))
    np.testing.assert_allclose(np.load(out + "_conv.npy"), conv_reference(x, w), rtol=1e-12,
                               atol=1e-12)
    a = rng.standard_normal((70, 300)).astype(np.float32)
    b = rng.standard_normal((40, 300)).astype(np.float32)
    np.testing.assert_allclose(np.load(out + "_linear.npy"),
                               a.astype(np.float64) @ b.T.astype(np.float64), rtol=1e-4,
                               atol=1e-4)
