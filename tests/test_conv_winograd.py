"""Winograd F(2x2, 3x3) convolutions (ConvGeometry.winograd) against PyTorch: forward, input,
weight and bias gradients in float64 and float32, over plane sizes (odd, even, one pixel),
paddings, batch sizes, channel counts and non-contiguous inputs, with a check that the
Winograd kernels really ran; ConvTranspose2d and gradcheck's stacked replays through them;
and which layers the default thresholds send there."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from reference import assert_close

import nncheck
import nncheck.nn as nn
import nncheck.nn.functional as F
from nncheck.backend import kernels
from nncheck.nn.functional import conv as conv_impl

ENTRY_POINTS = ("winograd_cols", "winograd_image", "winograd_weight_grad")


@pytest.fixture
def winograd_calls(monkeypatch):
    """Counts the calls of each Winograd kernel entry point."""
    module = kernels("conv", np.zeros(1))[0]
    calls = dict.fromkeys(ENTRY_POINTS, 0)

    def counted(name):
        kernel = getattr(module, name)

        def wrapper(*args):
            calls[name] += 1
            return kernel(*args)
        return wrapper

    for name in ENTRY_POINTS:
        monkeypatch.setattr(module, name, counted(name))
    return calls


@pytest.fixture
def winograd_everywhere(monkeypatch, winograd_calls):
    """Every 2-d 3x3 stride-1 ungrouped convolution takes Winograd, whatever its channels
    and tiles (the thresholds only choose the faster path; the results must not depend on
    them)."""
    monkeypatch.setattr(conv_impl, "_DIRECT_MAX_GROUP_CHANNELS", 0)
    monkeypatch.setattr(conv_impl, "_WINOGRAD_MIN_IMAGE_OUT", 1)
    monkeypatch.setattr(conv_impl, "_WINOGRAD_MIN_TILES_PER_CALL", 1)
    return winograd_calls


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of one unit of at most three tiles (a tile row split into segments) on three
    threads: every block boundary and every thread's partial weight gradient is used."""
    monkeypatch.setattr(conv_impl, "_WINOGRAD_BLOCK_BYTES", 1)
    monkeypatch.setattr(conv_impl, "_WINOGRAD_MIN_TILES", 1)
    monkeypatch.setattr(conv_impl, "_WINOGRAD_MAX_TILES", 3)
    monkeypatch.setattr(conv_impl, "_max_threads", lambda: 3)
    monkeypatch.setattr(conv_impl, "_PARALLEL_MIN_WORK", 0)


def run_both(x, w, b, padding, view=lambda t: t, transposed=False):
    """conv2d (or conv_transpose2d) of view(x) in both libraries, backward with the same
    cotangent: (output, x grad, weight grad, bias grad) of each, as numpy arrays."""
    results = []
    g = None
    for lib, fn in ((torch, TF), (nncheck, F)):
        leaves = [None if a is None else lib.from_numpy(a.copy()).requires_grad_()
                  for a in (x, w, b)]
        conv = fn.conv_transpose2d if transposed else fn.conv2d
        y = conv(view(leaves[0]), leaves[1], leaves[2], padding=padding)
        if g is None:
            g = np.random.default_rng(1).standard_normal(tuple(y.shape)).astype(x.dtype)
        y.backward(lib.from_numpy(g.copy()))
        results.append([y.detach().numpy()] + [None if a is None else a.grad.numpy()
                                               for a in leaves])
    return results


def check_against_torch(x, w, b, padding, rtol, atol, **kwargs):
    want, got = run_both(x, w, b, padding, **kwargs)
    for what, a, e in zip(("output", "input grad", "weight grad", "bias grad"), got, want):
        if e is not None:
            assert a.dtype == e.dtype
            assert_close(a, e, rtol, atol, what)


def operands(n, c, o, size, dtype, bias=True, transposed=False, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c) + size).astype(dtype)
    w = rng.standard_normal((c, o, 3, 3) if transposed else (o, c, 3, 3)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype) if bias else None
    return x, w, b


# (batch, in channels, out channels, plane, padding, bias): odd/even/one-pixel planes,
# padding 0/1/2 (and 3: the input gradient's 2 - p crops), channels 1 to 300
CASES = [
    (2, 20, 24, (8, 8), 1, True),
    (3, 17, 9, (7, 9), 1, False),
    (1, 33, 40, (5, 6), 0, True),
    (2, 24, 18, (3, 3), 2, True),
    (4, 18, 20, (1, 1), 1, True),
    (1, 20, 17, (1, 5), 2, True),
    (2, 19, 21, (4, 3), 3, False),
    (1, 300, 34, (6, 5), 1, True),
    (2, 40, 300, (3, 4), 1, True),
    (2, 1, 1, (6, 7), 1, True),
    (3, 3, 5, (9, 4), 1, True),
    (1, 16, 2, (4, 4), 0, False),
]


@pytest.mark.parametrize("n, c, o, size, padding, bias", CASES)
def test_winograd_float64_matches_torch(winograd_everywhere, n, c, o, size, padding, bias):
    x, w, b = operands(n, c, o, size, np.float64, bias)
    check_against_torch(x, w, b, padding, rtol=1e-10, atol=1e-10)
    assert all(winograd_everywhere[name] == 1 for name in ENTRY_POINTS), winograd_everywhere


@pytest.mark.parametrize("n, c, o, size, padding, bias", CASES)
def test_winograd_float32_matches_torch(winograd_everywhere, n, c, o, size, padding, bias):
    x, w, b = operands(n, c, o, size, np.float32, bias)
    # float32 rounding grows with the longest sum (a weight gradient's over the batch and
    # plane, the forward's over 9 taps per input channel): atol is scaled to it
    longest = max(9 * c, 9 * o, n * (size[0] + 2 * padding) * (size[1] + 2 * padding))
    check_against_torch(x, w, b, padding, rtol=1e-4, atol=2e-6 * longest)
    assert all(winograd_everywhere[name] == 1 for name in ENTRY_POINTS), winograd_everywhere


@pytest.mark.parametrize("n, c, o, size, padding", [
    (2, 20, 24, (9, 11), 1),
    (3, 5, 4, (16, 7), 0),
    (1, 33, 7, (5, 12), 2),
])
def test_winograd_blocks_and_threads_match_torch(winograd_everywhere, small_blocks, n, c, o,
                                                 size, padding):
    x, w, b = operands(n, c, o, size, np.float64)
    check_against_torch(x, w, b, padding, rtol=1e-10, atol=1e-10)
    assert all(winograd_everywhere[name] == 1 for name in ENTRY_POINTS), winograd_everywhere


@pytest.mark.parametrize("view", [
    lambda t: t.permute(0, 1, 3, 2),  # channels and planes transposed in memory
    lambda t: t[:, ::2, 1:, :-1],     # every other channel, a cropped plane
], ids=["permuted", "sliced"])
def test_winograd_non_contiguous_input(winograd_everywhere, view):
    x, w, b = operands(2, 36, 20, (9, 8), np.float64)
    w = w[:, :view(torch.from_numpy(x)).shape[1]].copy()
    check_against_torch(x, w, b, 1, rtol=1e-10, atol=1e-10, view=view)
    assert winograd_everywhere["winograd_cols"] == 1


@pytest.mark.parametrize("padding", [0, 1, 2])
def test_winograd_conv_transpose_matches_torch(winograd_everywhere, padding):
    """ConvTranspose2d, 3x3 stride 1: the same geometry, its forward the input gradient's
    kernel (winograd_image) and its input gradient the convolution's."""
    x, w, b = operands(2, 20, 18, (6, 7), np.float64, transposed=True)
    check_against_torch(x, w, b, padding, rtol=1e-10, atol=1e-10, transposed=True)
    assert all(winograd_everywhere[name] == 1 for name in ENTRY_POINTS), winograd_everywhere


@pytest.mark.parametrize("name", ["Conv2d", "ConvTranspose2d"])
def test_winograd_gradcheck(winograd_everywhere, name):
    """gradcheck replays the layer with stacked inputs and side-by-side weights (wider
    geometries): those run through Winograd too."""
    layer = getattr(nn, name)(3, 4, 3, padding=1).double()
    x = nncheck.from_numpy(np.random.default_rng(2).standard_normal((2, 3, 4, 5)))
    assert nncheck.gradcheck(layer, (x.requires_grad_(),))
    assert all(winograd_everywhere[n] > 0 for n in ENTRY_POINTS), winograd_everywhere


def test_default_thresholds(winograd_calls):
    """At the defaults 3x3 stride-1 layers take Winograd; few input channels keep the
    direct loops, few output channels keep the input gradient off it, and a call with few
    2x2 tiles (one 14x14 sample: 49) stays on im2col."""
    geom = conv_impl.ConvGeometry
    assert geom(64, (28, 28), 64, (28, 28), (3, 3), (1, 1), (1, 1), (1, 1), 1).winograd
    assert not geom(64, (28, 28), 64, (14, 14), (3, 3), (2, 2), (1, 1), (1, 1), 1).winograd
    assert not geom(64, (28, 28), 64, (28, 28), (3, 3), (1, 1), (1, 1), (1, 1), 2).winograd
    assert not geom(64, (28, 28), 64, (26, 24), (3, 3), (1, 1), (0, 0), (1, 2), 1).winograd
    assert not geom(16, (28, 28), 64, (28, 28), (3, 3), (1, 1), (1, 1), (1, 1), 1).winograd
    few_out = geom(64, (28, 28), 3, (28, 28), (3, 3), (1, 1), (1, 1), (1, 1), 1)
    assert few_out.winograd and not few_out.winograd_image

    x, w, b = operands(1, 32, 32, (16, 16), np.float32)
    check_against_torch(x, w, b, 1, rtol=1e-4, atol=1e-3)
    assert all(winograd_calls[name] == 1 for name in ENTRY_POINTS), winograd_calls
    x, w, b = operands(1, 32, 32, (14, 14), np.float32)
    check_against_torch(x, w, b, 1, rtol=1e-4, atol=1e-3)
    assert all(winograd_calls[name] == 1 for name in ENTRY_POINTS), winograd_calls
