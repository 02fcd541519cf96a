"""Vision layers and functions against PyTorch: interpolate (every mode and option),
pixel/channel shuffles, grid_sample, affine_grid, and the module classes."""

import shlex
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from reference import (
    assert_close,
    check_repr_and_keys,
    check_shape_rule,
    compare_function,
    compare_module,
    to_nncheck,
)

import nncheck
import nncheck.nn as nn
import nncheck.nn.functional as F
from nncheck import registry
from nncheck.cli.parsing import parse_layer_args
from nncheck.shapes import ShapeError, Sym

RNG = np.random.default_rng(0)


def rand(*shape):
    return RNG.standard_normal(shape)


# --------------------------------------------------------------------------- seed examples
SEED_INPUT = [[[[1.0, 2.0], [3.0, 4.0]]]]


@pytest.mark.parametrize("make", [
    lambda m: m.Upsample(scale_factor=2, mode="nearest"),
    lambda m: m.Upsample(scale_factor=2, mode="bilinear"),
    lambda m: m.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
    lambda m: m.UpsamplingNearest2d(scale_factor=2),
    lambda m: m.UpsamplingBilinear2d(scale_factor=2),
])
def test_seed_examples_match_torch(make):
    """The seed's examples run on nncheck.arange (int64) and print PyTorch's float values."""
    want = make(torch.nn)(torch.tensor(SEED_INPUT))
    small = nncheck.arange(1, 5).view(1, 1, 2, 2)
    np.testing.assert_allclose(make(nn)(small).numpy(), want.numpy(), rtol=1e-6)
    big = nncheck.zeros(3, 3).view(1, 1, 3, 3)
    big[:, :, :2, :2].copy_(small)
    t_big = torch.zeros(1, 1, 3, 3)
    t_big[:, :, :2, :2] = torch.tensor(SEED_INPUT)
    np.testing.assert_allclose(make(nn)(big).numpy(), make(torch.nn)(t_big).numpy(), rtol=1e-6)


def test_integer_inputs():
    x = np.arange(12, dtype=np.int64).reshape(1, 1, 3, 4)
    near = F.interpolate(nncheck.from_numpy(x), scale_factor=(1.5, 0.7))
    assert near.dtype == nncheck.int64
    want = TF.interpolate(torch.from_numpy(x.astype(np.uint8)), scale_factor=(1.5, 0.7))
    np.testing.assert_array_equal(near.numpy(), want.numpy())
    lin = F.interpolate(nncheck.from_numpy(x), size=(5, 5), mode="bilinear")
    assert lin.dtype == nncheck.float32
    want = TF.interpolate(torch.from_numpy(x).float(), size=(5, 5), mode="bilinear")
    np.testing.assert_allclose(lin.numpy(), want.numpy(), rtol=1e-6)


# --------------------------------------------------------------------------- interpolate grid
SPATIAL = {3: (5,), 4: (5, 4), 5: (4, 3, 5)}
SIZES = {3: [(7,), (2,)], 4: [(7, 3), (2, 8)], 5: [(6, 2, 4), (3, 5, 2)]}
FACTORS = {3: [2, 0.6, (2.5,)], 4: [2, 1.5, (2.5, 0.5)], 5: [2, 0.6, (1.5, 2.5, 0.7)]}
MODES = [("nearest", 3), ("nearest", 4), ("nearest", 5), ("nearest-exact", 3),
         ("nearest-exact", 4), ("nearest-exact", 5), ("linear", 3), ("bilinear", 4),
         ("bicubic", 4), ("trilinear", 5), ("area", 3), ("area", 4), ("area", 5)]


def _configs():
    for mode, rank in MODES:
        aligns = [None] if mode in ("nearest", "nearest-exact", "area") else [False, True]
        for align in aligns:
            for size in SIZES[rank]:
                yield mode, rank, align, dict(size=size)
            for factor in FACTORS[rank]:
                for recompute in (None, True):
                    yield mode, rank, align, dict(scale_factor=factor,
                                                  recompute_scale_factor=recompute)


@pytest.mark.parametrize("mode,rank,align,kw", list(_configs()))
def test_interpolate_matches_torch(mode, rank, align, kw):
    if align is not None:
        kw = dict(kw, align_corners=align)
    x = rand(2, 3, *SPATIAL[rank])
    compare_function(F.interpolate, TF.interpolate, x, mode=mode, **kw)


@pytest.mark.parametrize("mode,align", [("bilinear", False), ("bilinear", True),
                                        ("bicubic", False), ("bicubic", True), ("lanczos", None)])
def test_interpolate_antialias(mode, align):
    kw = dict(mode=mode, antialias=True, align_corners=align)
    for size in [(3, 7), (9, 2), (5, 4), (1, 1)]:
        compare_function(F.interpolate, TF.interpolate, rand(2, 2, 5, 4), size=size, **kw)
    compare_function(F.interpolate, TF.interpolate, rand(1, 2, 9, 11), scale_factor=0.37, **kw)


def test_nearest_index_rules_sweep():
    """Both of PyTorch's nearest index rules (4-D vs 3-D/5-D) bit-for-bit, ties included."""
    rng = np.random.default_rng(3)
    for trial in range(600):
        rank = 3 + trial % 3
        mode = ("nearest", "nearest-exact")[(trial // 3) % 2]
        dtype = (np.float32, np.float64)[(trial // 6) % 2]
        n_in = int(rng.integers(1, 40))
        choice = trial % 4
        factor = [None, float(rng.uniform(0.2, 4)), round(float(rng.uniform(0.2, 4)), 1),
                  float(rng.integers(1, 5) / rng.integers(1, 5))][choice]
        n_out = int(np.floor(n_in * factor)) if factor else int(rng.integers(1, 90))
        if n_out < 1:
            continue
        ones = [1] * (rank - 3)
        kw = (dict(scale_factor=[1.0] * (rank - 3) + [factor]) if factor
              else dict(size=ones + [n_out]))
        x = np.broadcast_to(np.arange(n_in, dtype=dtype), (1, 2, *ones, n_in)).copy()
        want = TF.interpolate(torch.from_numpy(x), mode=mode, **kw).numpy()
        got = F.interpolate(nncheck.from_numpy(x), mode=mode, **kw).numpy()
        np.testing.assert_array_equal(got, want, err_msg=f"{mode} {rank}-D {n_in} {kw}")


def test_linear_modes_random_sizes():
    rng = np.random.default_rng(5)
    for trial in range(40):
        mode, rank = [("linear", 3), ("bilinear", 4), ("bicubic", 4), ("trilinear", 5),
                      ("area", 4)][trial % 5]
        spatial = tuple(int(s) for s in rng.integers(1, 7, rank - 2))
        if trial % 2:
            kw = dict(scale_factor=float(rng.uniform(0.5, 3.0)))
            if min(int(s * kw["scale_factor"]) for s in spatial) < 1:
                continue
        else:
            kw = dict(size=tuple(int(s) for s in rng.integers(1, 9, rank - 2)))
        if mode != "area":
            kw["align_corners"] = bool(trial % 3)
        compare_function(F.interpolate, TF.interpolate, rand(1, 2, *spatial), mode=mode, **kw)


def test_nearest_gradient_follows_forward():
    """PyTorch's 3-D/5-D nearest backward uses its 4-D index rule even when the forward
    did not (scale 2.1 on 5 -> 10); nncheck's gradient is the forward's true adjoint."""
    x = rand(1, 2, 5)
    compare_function(F.interpolate, TF.interpolate, x, scale_factor=2.1, grad=False)
    assert nncheck.gradcheck(lambda t: F.interpolate(t, scale_factor=2.1),
                             (to_nncheck(x, True),))


@pytest.mark.parametrize("mode,rank", [("nearest", 4), ("bilinear", 4), ("bicubic", 4),
                                       ("trilinear", 5), ("area", 3), ("nearest-exact", 5)])
def test_interpolate_float32(mode, rank):
    x = rand(2, 3, *SPATIAL[rank]).astype(np.float32)
    compare_function(F.interpolate, TF.interpolate, x, scale_factor=1.7, mode=mode,
                     rtol=1e-4, atol=1e-5)


def test_interpolate_float16():
    x = rand(1, 2, 4, 4).astype(np.float16)
    out = F.interpolate(nncheck.from_numpy(x), scale_factor=2, mode="bilinear")
    assert out.dtype == nncheck.float16
    want = TF.interpolate(torch.from_numpy(x).float(), scale_factor=2, mode="bilinear")
    np.testing.assert_allclose(out.numpy().astype(np.float32), want.numpy(), rtol=2e-3,
                               atol=2e-3)


def test_empty_batch():
    compare_function(F.interpolate, TF.interpolate, rand(0, 3, 4, 4), scale_factor=2,
                     mode="bilinear", grad=False)
    out = F.interpolate(nncheck.zeros(2, 0, 3), size=5, mode="linear")
    assert tuple(out.shape) == (2, 0, 5)


@pytest.mark.parametrize("mode,shape", [("nearest", (1, 2, 3, 4)), ("bilinear", (1, 2, 3, 4)),
                                        ("bicubic", (1, 1, 4, 3)), ("trilinear", (1, 1, 2, 3, 2)),
                                        ("area", (1, 2, 7)), ("linear", (2, 1, 4))])
def test_interpolate_gradcheck(mode, shape):
    x = to_nncheck(rand(*shape), True)
    assert nncheck.gradcheck(lambda t: F.interpolate(t, scale_factor=1.6, mode=mode), (x,))


def test_interpolate_antialias_gradcheck():
    x = to_nncheck(rand(1, 1, 7, 6), True)
    assert nncheck.gradcheck(lambda t: F.interpolate(t, size=(3, 4), mode="bicubic",
                                                     antialias=True), (x,))


@pytest.mark.parametrize("kw,exc,match", [
    (dict(scale_factor=0), ValueError, "scale_factor must be positive"),
    (dict(scale_factor=-1.5), ValueError, "scale_factor must be positive"),
    (dict(scale_factor=float("nan")), ValueError, "scale_factor must be positive"),
    (dict(scale_factor=0.1), RuntimeError, "sizes should be greater than 0"),
    (dict(size=0), RuntimeError, "sizes should be greater than 0"),
    (dict(size=2, scale_factor=2), ValueError, "only one of size or scale_factor"),
    (dict(), ValueError, "either size or scale_factor"),
    (dict(size=(2, 3, 4)), ValueError, "one entry per spatial dimension"),
    (dict(scale_factor=(2,)), ValueError, "one entry per spatial dimension"),
    (dict(size=(2.5, 3)), TypeError, "size must be an int"),
    (dict(scale_factor=2, align_corners=True), ValueError, "align_corners option"),
    (dict(scale_factor=2, mode="area", align_corners=False), ValueError, "align_corners"),
    (dict(scale_factor=2, mode="linear"), ValueError, "'linear' needs a 3-D input"),
    (dict(scale_factor=2, mode="trilinear"), ValueError, "'trilinear' needs a 5-D input"),
    (dict(scale_factor=2, mode="cubic"), ValueError, "mode must be one of"),
    (dict(size=4, recompute_scale_factor=True), ValueError, "recompute_scale_factor"),
    (dict(scale_factor=2, antialias=True), ValueError, "antialias"),
    (dict(scale_factor=2, mode="lanczos"), ValueError, "lanczos mode requires"),
])
def test_interpolate_bad_input(kw, exc, match):
    with pytest.raises(exc, match=match):
        F.interpolate(nncheck.zeros(1, 2, 4, 4), **kw)


def test_interpolate_bad_rank_and_empty():
    with pytest.raises(ValueError, match="3-D, 4-D or 5-D input"):
        F.interpolate(nncheck.zeros(2, 2), scale_factor=2)
    with pytest.raises(RuntimeError, match="greater than 0"):
        F.interpolate(nncheck.zeros(1, 2, 0, 4), scale_factor=2)


# --------------------------------------------------------------------------- modules
UPSAMPLES = [
    ("Upsample", dict(scale_factor=2)),
    ("Upsample", dict(size=(3, 7), mode="bilinear")),
    ("Upsample", dict(scale_factor=(1.5, 2), mode="bicubic", align_corners=True)),
    ("Upsample", dict(scale_factor=1.7, mode="nearest-exact", recompute_scale_factor=True)),
    ("Upsample", dict(size=3, mode="area")),
    ("UpsamplingNearest2d", dict(size=5)),
    ("UpsamplingBilinear2d", dict(scale_factor=2)),
]


@pytest.mark.parametrize("name,kw", UPSAMPLES)
def test_upsample_modules(name, kw):
    nc, to = getattr(nn, name)(**kw), getattr(torch.nn, name)(**kw)
    check_repr_and_keys(nc, to)
    x = rand(2, 3, 4, 5)
    compare_module(nc, to, x)
    check_shape_rule(nc, x)


def test_upsample_scale_factor_zero_is_unset():
    """As in PyTorch, Upsample(scale_factor=0) stores None: 'either size or scale_factor'."""
    assert nn.Upsample(scale_factor=0).scale_factor is None
    with pytest.raises(ValueError, match="either size or scale_factor"):
        nn.Upsample(scale_factor=0)(nncheck.zeros(1, 1, 2, 2))


@pytest.mark.parametrize("name,arg,shape", [
    ("PixelShuffle", 2, (2, 8, 3, 4)), ("PixelShuffle", 3, (9, 2, 2)),
    ("PixelShuffle", 1, (1, 3, 2, 2)), ("PixelShuffle", 2, (2, 1, 4, 2, 3)),
    ("PixelUnshuffle", 2, (2, 3, 4, 6)), ("PixelUnshuffle", 3, (1, 6, 3)),
    ("PixelUnshuffle", 2, (2, 2, 1, 2, 4)),
    ("ChannelShuffle", 2, (2, 4, 3, 3)), ("ChannelShuffle", 3, (1, 6, 5)),
    ("ChannelShuffle", 1, (2, 3, 2, 2, 2)),
])
def test_shuffle_modules(name, arg, shape):
    nc, to = getattr(nn, name)(arg), getattr(torch.nn, name)(arg)
    check_repr_and_keys(nc, to)
    x = rand(*shape)
    compare_module(nc, to, x)
    check_shape_rule(nc, x)
    xi = RNG.integers(0, 100, shape)
    np.testing.assert_array_equal(nc(nncheck.from_numpy(xi)).numpy(),
                                  to(torch.from_numpy(xi)).numpy())


def test_shuffle_float32_and_gradcheck():
    x = rand(2, 8, 3, 3).astype(np.float32)
    compare_function(F.pixel_shuffle, TF.pixel_shuffle, x, upscale_factor=2, rtol=0, atol=0)
    assert nncheck.gradcheck(nn.PixelShuffle(2), (to_nncheck(rand(1, 4, 2, 3), True),))
    assert nncheck.gradcheck(nn.PixelUnshuffle(2), (to_nncheck(rand(1, 1, 2, 4), True),))
    assert nncheck.gradcheck(nn.ChannelShuffle(2), (to_nncheck(rand(1, 4, 2), True),))


@pytest.mark.parametrize("call,match", [
    (lambda: F.pixel_shuffle(nncheck.zeros(1, 3, 2, 2), 2), "divisible by the square"),
    (lambda: F.pixel_shuffle(nncheck.zeros(1, 4, 2, 2), 0), "positive upscale_factor"),
    (lambda: F.pixel_shuffle(nncheck.zeros(4, 2), 2), "at least 3 dimensions"),
    (lambda: F.pixel_unshuffle(nncheck.zeros(1, 1, 3, 4), 2), "height to be divisible"),
    (lambda: F.pixel_unshuffle(nncheck.zeros(1, 1, 4, 3), 2), "width to be divisible"),
    (lambda: F.pixel_unshuffle(nncheck.zeros(1, 1, 4, 4), -1), "positive downscale_factor"),
    (lambda: F.channel_shuffle(nncheck.zeros(1, 3, 2), 2), "divisible by groups"),
    (lambda: F.channel_shuffle(nncheck.zeros(1, 4, 2), 0), "must be positive"),
    (lambda: F.channel_shuffle(nncheck.zeros(4, 2), 2), "> 2 dims"),
])
def test_shuffle_bad_input(call, match):
    with pytest.raises(RuntimeError, match=match):
        call()


@pytest.mark.parametrize("layer,shape,match", [
    (nn.PixelShuffle(2), (1, 6, 2, 2), "not divisible by upscale_factor"),
    (nn.PixelShuffle(2), (6, 2), "at least 3 dimensions"),
    (nn.PixelUnshuffle(2), (1, 1, 3, 4), "H=3 is not divisible"),
    (nn.ChannelShuffle(4), (1, 6, 2), "not divisible by groups"),
    (nn.Upsample(scale_factor=2, mode="bilinear"), (1, 2, 3), "needs a 4-D input"),
    (nn.Upsample(scale_factor=0.1), (1, 2, 3, 3), "greater than 0"),
])
def test_shape_rule_errors(layer, shape, match):
    with pytest.raises(ShapeError, match=match):
        layer.infer_shape(shape)


def test_shape_rule_explains():
    lines = []
    out = nn.Upsample(scale_factor=(2, 0.5)).infer_shape((1, 3, 5, 9), explain=lines)
    assert out == ((1, 3, 10, 4),)
    assert "H_out = floor(H_in * scale_factor) = floor(5 * 2.0) = 10" in lines
    lines = []
    assert nn.PixelShuffle(3).infer_shape((2, 18, 4, 5), explain=lines) == ((2, 2, 12, 15),)
    assert any("C_out = C_in / r^2 = 18 / 9 = 2" in line for line in lines)
    n, h = Sym("N"), Sym("H")  # the CLI's symbolic sizes pass through
    assert nn.Upsample(scale_factor=2).infer_shape((n, 3, h, 8)) == (
        (n, 3, 2 * h, 16),)
    assert nn.PixelUnshuffle(2).infer_shape((n, 3, h, 8)) == ((n, 12, h // 2, 4),)


def test_registry_examples_gradcheck():
    vision = {n: i for n, i in registry.layers().items() if i.family == "vision"}
    assert set(vision) == {"PixelShuffle", "PixelUnshuffle", "ChannelShuffle", "Upsample",
                           "UpsamplingNearest2d", "UpsamplingBilinear2d"}
    for info in vision.values():
        args, kwargs = parse_layer_args(shlex.split(info.example))  # as the CLI reads it
        layer = info.cls(*args, **kwargs)
        inputs = [to_nncheck(rand(*s), True) for s in info.inputs]
        assert layer.infer_shape(*info.inputs) == (tuple(layer(*inputs).shape),)
        assert nncheck.gradcheck(layer, tuple(inputs)), info.name


# --------------------------------------------------------------------------- grid_sample
GRID_CASES = [(nd, mode, pad, align) for nd in (2, 3) for mode in ("bilinear", "nearest",
                                                                   "bicubic")
              for pad in ("zeros", "border", "reflection") for align in (False, True)
              if not (nd == 3 and mode == "bicubic")]


def _grid(shape):
    """Random points spilling past [-1, 1], plus exact corners, centres and borders."""
    g = RNG.uniform(-1.4, 1.4, shape)
    flat = g.reshape(-1, shape[-1])
    special = np.array([-1.0, 1.0, 0.0, -1.2, 1.25, 0.5])[:len(flat), None]
    flat[:len(special)] = special
    return g


@pytest.mark.parametrize("nd,mode,pad,align", GRID_CASES)
def test_grid_sample_matches_torch(nd, mode, pad, align):
    shape = (2, 3, 5, 6) if nd == 2 else (2, 3, 4, 5, 3)
    gshape = (2, 4, 3, 2) if nd == 2 else (2, 3, 2, 4, 3)
    compare_function(F.grid_sample, TF.grid_sample, rand(*shape), _grid(gshape), mode=mode,
                     padding_mode=pad, align_corners=align)


@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
def test_grid_sample_float32(mode):
    x = rand(2, 3, 6, 5).astype(np.float32)
    g = RNG.uniform(-1.1, 1.1, (2, 7, 4, 2)).astype(np.float32)
    compare_function(F.grid_sample, TF.grid_sample, x, g, mode=mode, padding_mode="reflection",
                     align_corners=False, rtol=1e-4, atol=1e-5)


def test_grid_sample_degenerate_sizes():
    compare_function(F.grid_sample, TF.grid_sample, rand(2, 2, 1, 1), _grid((2, 3, 3, 2)),
                     padding_mode="reflection", align_corners=True)
    compare_function(F.grid_sample, TF.grid_sample, rand(0, 2, 3, 3), _grid((0, 2, 2, 2)),
                     align_corners=False, grad=False)
    out = F.grid_sample(nncheck.zeros(1, 0, 3, 3), nncheck.zeros(1, 2, 2, 2),
                        align_corners=False)
    assert tuple(out.shape) == (1, 0, 2, 2)


def test_grid_sample_nonfinite_grid_is_safe():
    grid = np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, 0.3]).reshape(1, 1, 3, 2)
    for pad in ("zeros", "border", "reflection"):
        for mode in ("bilinear", "nearest", "bicubic"):
            out = F.grid_sample(to_nncheck(rand(1, 2, 4, 4), True), to_nncheck(grid, True),
                                mode=mode, padding_mode=pad, align_corners=False)
            out.sum().backward()


@pytest.mark.parametrize("mode,pad", [("bilinear", "zeros"), ("bilinear", "reflection"),
                                      ("bicubic", "border"), ("nearest", "zeros")])
def test_grid_sample_gradcheck(mode, pad):
    x = to_nncheck(rand(1, 2, 4, 5), True)
    g = to_nncheck(RNG.uniform(-0.9, 0.9, (1, 3, 2, 2)), mode != "nearest")
    assert nncheck.gradcheck(lambda a, b: F.grid_sample(a, b, mode=mode, padding_mode=pad,
                                                        align_corners=False), (x, g))


def test_grid_sample_3d_gradcheck():
    x = to_nncheck(rand(1, 2, 3, 4, 3), True)
    g = to_nncheck(RNG.uniform(-0.9, 0.9, (1, 2, 2, 1, 3)), True)
    assert nncheck.gradcheck(lambda a, b: F.grid_sample(a, b, align_corners=True), (x, g))


def test_grid_sample_default_align_warns():
    with pytest.warns(UserWarning, match="align_corners=False"):
        F.grid_sample(nncheck.zeros(1, 1, 2, 2), nncheck.zeros(1, 1, 1, 2))


@pytest.mark.parametrize("x,g,kw,exc,match", [
    ((1, 2, 4, 4), (2, 3, 3, 2), {}, RuntimeError, "same batch size"),
    ((1, 2, 4, 4), (1, 3, 3, 3), {}, RuntimeError, "size 2 in last dimension"),
    ((1, 2, 4), (1, 3, 2), {}, RuntimeError, "4-D or 5-D input"),
    ((1, 2, 0, 4), (1, 3, 3, 2), {}, RuntimeError, "non-empty spatial"),
    ((1, 2, 3, 4, 4), (1, 3, 3, 3, 3), dict(mode="bicubic"), RuntimeError, "bicubic"),
    ((1, 2, 4, 4), (1, 3, 3, 2), dict(mode="area"), ValueError, "expected mode"),
    ((1, 2, 4, 4), (1, 3, 3, 2), dict(padding_mode="wrap"), ValueError, "padding_mode"),
])
def test_grid_sample_bad_input(x, g, kw, exc, match):
    with pytest.raises(exc, match=match):
        F.grid_sample(nncheck.zeros(*x), nncheck.zeros(*g), align_corners=False, **kw)
    with pytest.raises(RuntimeError, match="same dtype"):
        F.grid_sample(nncheck.zeros(1, 1, 2, 2), nncheck.zeros(1, 1, 1, 2, dtype=nncheck.float64),
                      align_corners=False)


# --------------------------------------------------------------------------- affine_grid
@pytest.mark.parametrize("size", [(2, 3, 4, 5), (2, 1, 1, 6), (2, 3, 3, 4, 5), (2, 1, 2, 1, 3)])
@pytest.mark.parametrize("align", [False, True])
def test_affine_grid_matches_torch(size, align):
    k = len(size) - 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compare_function(lambda t: F.affine_grid(t, size, align_corners=align),
                         lambda t: TF.affine_grid(t, size, align_corners=align),
                         rand(2, k, k + 1))


def test_affine_grid_float32_and_gradcheck():
    theta = rand(3, 2, 3).astype(np.float32)
    compare_function(lambda t: F.affine_grid(t, (3, 1, 6, 7), align_corners=False),
                     lambda t: TF.affine_grid(t, (3, 1, 6, 7), align_corners=False), theta,
                     rtol=1e-5, atol=1e-6)
    t = to_nncheck(rand(1, 3, 4), True)
    assert nncheck.gradcheck(lambda a: F.affine_grid(a, (1, 1, 2, 3, 2), align_corners=True),
                             (t,))


def test_affine_grid_then_grid_sample():
    theta, x = rand(2, 2, 3) * 0.5, rand(2, 3, 6, 6)

    def nc(t, a):
        return F.grid_sample(a, F.affine_grid(t, (2, 3, 5, 4), align_corners=False),
                             align_corners=False)

    def to(t, a):
        return TF.grid_sample(a, TF.affine_grid(t, (2, 3, 5, 4), align_corners=False),
                              align_corners=False)

    compare_function(nc, to, theta, x)


@pytest.mark.parametrize("theta,size,match", [
    ((2, 2, 3), (2, 3, 4), "4-D and 5-D sizes"),
    ((2, 3, 3), (2, 3, 4, 5), "Nx2x3"),
    ((2, 2, 3), (2, 3, 4, 5, 6), "Nx3x4"),
    ((2, 2, 3), (2, 3, 0, 5), "positive output size"),
    ((2, 2, 3), (3, 3, 4, 5), "size\\[0\\] = 3"),
])
def test_affine_grid_bad_input(theta, size, match):
    with pytest.raises(ValueError, match=match):
        F.affine_grid(nncheck.zeros(*theta), size, align_corners=False)
    with pytest.raises(ValueError, match="floating point"):
        F.affine_grid(nncheck.zeros(1, 2, 3, dtype=nncheck.int64), (1, 1, 2, 2),
                      align_corners=False)


def test_deprecated_upsample_functions():
    x = rand(1, 2, 3, 3)
    with pytest.warns(UserWarning):
        out = F.upsample_bilinear(to_nncheck(x), scale_factor=2)
    assert_close(out, TF.interpolate(torch.from_numpy(x), scale_factor=2, mode="bilinear",
                                     align_corners=True))
    with pytest.warns(UserWarning):
        out = F.upsample_nearest(to_nncheck(x), size=5)
    assert_close(out, TF.interpolate(torch.from_numpy(x), size=5))
    with pytest.warns(UserWarning):
        out = F.upsample(to_nncheck(x), scale_factor=1.5, mode="bicubic")
    assert_close(out, TF.interpolate(torch.from_numpy(x), scale_factor=1.5, mode="bicubic"))


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_interpolate_antialias_float32(mode):
    """float32 tables (the fused kernel's float specialisation), against PyTorch in float32."""
    x = rand(2, 3, 9, 8).astype(np.float32)
    out = F.interpolate(nncheck.from_numpy(x), size=(4, 5), mode=mode, antialias=True)
    ref = TF.interpolate(torch.from_numpy(x), size=(4, 5), mode=mode, antialias=True)
    assert out.dtype == nncheck.float32
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)
