"""What several test files share: the CLI run in-process, a Function with planted backward
bugs, the source of a small user Function, and what the CUDA emulation tests need.

(Fixtures live in conftest.py; ``reference.py`` holds the comparisons with PyTorch.)
"""

import contextlib
import importlib
import io
import os
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from nncheck.autograd import Function


def invoke(argv):
    """(exit code, stdout, stderr) of ``nncheck ARGV``, run in this process."""
    from nncheck.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0
    return code, out.getvalue(), err.getvalue()


def ins(shapes):
    """``--in S`` for each shape string."""
    return [w for s in shapes for w in ("--in", s)]


class PlantedScale(Function):
    """y = x * w, w of x's shape or one per feature (then broadcast over the rows).

    ``bug`` plants a wrong backward (conftest.py resets it after each test):
    "scale" doubles the input gradient, "one_element" adds 0.5 to its [1, 2] entry,
    "corner_doubled" doubles its [0, 3] entry, "transposed" transposes it, "missing"
    returns no weight gradient, "weight_doubled" doubles the weight gradient.
    """

    bug = None

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return x * w

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        gx, gw = g * w, g * x
        if tuple(gw.shape) != tuple(w.shape):  # a per-feature weight: sum over the rows
            gw = gw.sum(0)
        bug = PlantedScale.bug
        if bug == "scale":
            gx = gx * 2
        elif bug == "one_element":
            gx = gx.clone()
            gx[1, 2] = gx[1, 2] + 0.5
        elif bug == "corner_doubled":
            gx = gx.clone()
            gx[0, 3] = gx[0, 3] * 2
        elif bug == "transposed":
            gx = gx.t().reshape(gx.shape)
        elif bug == "missing":
            gw = None
        elif bug == "weight_doubled":
            gw = gw * 2
        return gx, gw


def square_source(name="Square", factor=2, base="Function"):
    """Source (at column 0) of a user's Function x * x whose backward is ``factor`` * x * g,
    right for 2; ``base`` torch.autograd.Function makes it a PyTorch file's."""
    return textwrap.dedent(f"""
        class {name}({base}):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * x

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return {factor} * x * g
    """)


# the CUDA host emulation compiles the .cu kernels with the host's C++ compiler
needs_cxx = pytest.mark.skipif(shutil.which(os.environ.get("CXX", "g++")) is None,
                               reason="no C++ compiler for the CUDA host emulation")


def script(name):
    """scripts/<name>.py as a module (its checks and planted bugs serve the tests too)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


def gpu_check():
    """scripts/gpu_check.py as a module: the checks a GPU machine runs, emulated here."""
    return script("gpu_check")
