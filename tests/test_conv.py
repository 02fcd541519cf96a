"""Convolution layers against PyTorch: Conv1d/2d/3d, ConvTranspose1d/2d/3d, Unfold/Fold and
their functional forms, over a grid of every option; plus the kernels' chunked and threaded
paths, gradcheck, shape rules and their explanations, and bad-input errors."""

import math
import shlex
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from reference import (
    assert_close,
    check_lazy,
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
from nncheck.nn.functional import conv as conv_impl
from nncheck.shapes import ShapeError, Sym

RNG = np.random.default_rng(0)
SPATIAL = {1: (9,), 2: (7, 8), 3: (5, 4, 6)}


def rand(*shape):
    return RNG.standard_normal(shape)


def pair(name, *args, **kwargs):
    """The same layer built by torch.nn and nncheck.nn, in float64."""
    return getattr(nn, name)(*args, **kwargs).double(), \
        getattr(torch.nn, name)(*args, **kwargs).double()


def check_layer(name, args, kwargs, in_shape, **tol):
    mine, ref = pair(name, *args, **kwargs)
    check_repr_and_keys(mine, ref)
    x = rand(*in_shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns about even kernels with padding='same'
        compare_module(mine, ref, x, **tol)
    check_shape_rule(mine, x)


# --------------------------------------------------------------------------- the grid
CONV_OPTIONS = [
    dict(),
    dict(stride=2),
    dict(padding=1, bias=False),
    dict(kernel_size=2, padding="same"),  # even kernel: the extra zero goes after
    dict(padding="same", dilation=2),
    dict(padding="valid", stride=(1, 2, 1)),
    dict(stride=(2, 1, 3), padding=(1, 0, 2), dilation=(1, 2, 1)),
    dict(groups=2),
    dict(groups=4, out_channels=8),  # depthwise, multiplier 2
    # depthwise (1-d and 2-d: direct loops) with stride, padding and dilation
    dict(groups=4, out_channels=4, stride=(2, 1, 2), padding=(1, 2, 1), dilation=(1, 2, 1)),
    dict(groups=4, out_channels=4, kernel_size=(7, 5, 3), padding=(3, 2, 1), bias=False),
    dict(kernel_size=1),  # 1x1 fast path: no im2col
    dict(kernel_size=1, stride=2),
    dict(padding_mode="reflect", padding=2),
    dict(padding_mode="replicate", padding=(1, 2, 0), stride=2),
    dict(padding_mode="circular", padding="same", kernel_size=2),
    dict(kernel_size=(3, 1, 2), padding=(0, 1, 1), dilation=(2, 1, 3), groups=2),
]


def _per_dim(value, nd):
    return tuple(value[:nd]) if isinstance(value, tuple) else value


def conv_case(nd, options):
    options = dict(options)
    in_ch = 4
    out_ch = options.pop("out_channels", 6)
    kernel = _per_dim(options.pop("kernel_size", (3, 2, 3)), nd)
    options = {k: _per_dim(v, nd) for k, v in options.items()}
    return (in_ch, out_ch, kernel), options


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("options", CONV_OPTIONS, ids=lambda o: str(o)[1:-1] or "defaults")
def test_conv_matches_torch(nd, options):
    args, kwargs = conv_case(nd, options)
    check_layer(f"Conv{nd}d", args, kwargs, (2, 4) + SPATIAL[nd])


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_conv_unbatched(nd):
    check_layer(f"Conv{nd}d", (4, 6, 2), dict(padding=1, stride=2), (4,) + SPATIAL[nd])


TRANSPOSE_OPTIONS = [
    dict(),
    dict(stride=2, bias=False),
    dict(stride=(2, 3, 1), padding=(1, 2, 0), output_padding=(1, 2, 0)),
    dict(dilation=2, output_padding=1),  # output_padding < dilation is allowed too
    dict(groups=2, stride=2, padding=1),
    dict(groups=4, out_channels=8),
    dict(groups=4, out_channels=4, stride=(2, 1, 2), padding=1, dilation=(1, 2, 1)),
    dict(kernel_size=1),  # 1x1 fast path: no col2im
    dict(kernel_size=1, stride=3, output_padding=2),
]


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("options", TRANSPOSE_OPTIONS,
                         ids=lambda o: str(o)[1:-1] or "defaults")
def test_conv_transpose_matches_torch(nd, options):
    args, kwargs = conv_case(nd, options)
    check_layer(f"ConvTranspose{nd}d", args, kwargs, (2, 4) + SPATIAL[nd])


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_conv_transpose_unbatched(nd):
    check_layer(f"ConvTranspose{nd}d", (4, 2, 3), dict(stride=2, output_padding=1),
                (4,) + SPATIAL[nd])


@pytest.mark.parametrize("name", ["Conv2d", "ConvTranspose1d", "Unfold"])
def test_empty_batch(name):
    args, shape = {"Conv2d": ((3, 4, 3), (0, 3, 5, 5)), "ConvTranspose1d": ((3, 4, 3), (0, 3, 5)),
                   "Unfold": ((2,), (0, 3, 5, 5))}[name]
    check_layer(name, args, {}, shape)


BLOCK_OPTIONS = [
    dict(kernel_size=2),
    dict(kernel_size=(2, 3), dilation=(2, 1), padding=1, stride=(1, 2)),
    dict(kernel_size=3, stride=2, padding=(0, 1)),
]


@pytest.mark.parametrize("options", BLOCK_OPTIONS)
@pytest.mark.parametrize("batched", [True, False])
def test_unfold_fold_match_torch(options, batched):
    lead = (2,) if batched else ()
    unfold_args = dict(options)
    kernel = unfold_args.pop("kernel_size")
    check_layer("Unfold", (kernel,), unfold_args, lead + (3, 7, 8))
    blocks = torch.nn.Unfold(kernel, **unfold_args)(torch.zeros((1, 3, 7, 8))).shape[1:]
    check_layer("Fold", ((7, 8), kernel), unfold_args, lead + tuple(blocks))


# --------------------------------------------------------------------------- functional forms
FUNCTIONAL = [
    ("conv1d", (2, 4, 9), (6, 2, 3), 6, dict(stride=2, padding=1, groups=2)),
    ("conv2d", (2, 4, 7, 8), (6, 4, 3, 2), 6, dict(padding="same", dilation=(2, 1))),
    ("conv3d", (1, 4, 5, 4, 6), (2, 4, 2, 2, 3), 2, dict(stride=(1, 2, 2), padding=1)),
    ("conv_transpose1d", (2, 4, 9), (4, 3, 3), 6, dict(stride=2, groups=2, output_padding=1)),
    ("conv_transpose2d", (2, 4, 5, 6), (4, 3, 3, 2), 3, dict(stride=(2, 1), padding=1)),
    ("conv_transpose3d", (1, 4, 3, 4, 2), (4, 2, 2, 3, 2), 2, dict(dilation=2)),
]


@pytest.mark.parametrize("name, x, w, bias, kwargs", FUNCTIONAL, ids=[f[0] for f in FUNCTIONAL])
def test_functional_matches_torch(name, x, w, bias, kwargs):
    compare_function(getattr(F, name), getattr(TF, name), rand(*x), rand(*w), rand(bias),
                     **kwargs)
    compare_function(getattr(F, name), getattr(TF, name), rand(*x), rand(*w), **kwargs)


def test_functional_unfold_fold_match_torch():
    kwargs = dict(dilation=(1, 2), padding=1, stride=2)
    compare_function(F.unfold, TF.unfold, rand(2, 3, 7, 8), kernel_size=(3, 2), **kwargs)
    compare_function(F.fold, TF.fold, rand(2, 12, 16), output_size=(7, 8), kernel_size=2,
                     **kwargs)


def test_fold_inverts_unfold_up_to_counts():
    """fold(unfold(x)) = x * (number of blocks covering each pixel), as PyTorch documents."""
    x = nncheck.from_numpy(rand(1, 2, 6, 7))
    kwargs = dict(kernel_size=(2, 3), padding=1, stride=1)
    counts = F.fold(F.unfold(nncheck.ones(1, 2, 6, 7, dtype=nncheck.float64), **kwargs),
                    (6, 7), **kwargs)
    again = F.fold(F.unfold(x, **kwargs), (6, 7), **kwargs)
    assert_close(again, x.numpy() * counts.numpy())


# --------------------------------------------------------------------------- kernel paths
@pytest.fixture
def small_chunks(monkeypatch):
    """Column blocks of a few columns and three threads: every task split is exercised."""
    monkeypatch.setattr(conv_impl, "_COL_BUDGET_BYTES", 8)
    monkeypatch.setattr(conv_impl, "_MIN_CHUNK", 5)
    monkeypatch.setattr(conv_impl, "_max_threads", lambda: 3)
    monkeypatch.setattr(conv_impl, "_PARALLEL_MIN_WORK", 0)


@pytest.mark.parametrize("name, args, kwargs, shape", [
    ("Conv2d", (4, 6, 3), dict(stride=(2, 1), padding=(2, 1), dilation=(1, 2), groups=2),
     (3, 4, 9, 10)),
    ("Conv1d", (4, 6, 1), dict(), (1, 4, 23)),  # direct path, one sample
    ("Conv1d", (4, 6, 3), dict(padding=2, dilation=3), (1, 4, 40)),  # one sample: split
    ("Conv3d", (2, 4, 2), dict(padding=1), (1, 2, 4, 5, 3)),
    ("ConvTranspose2d", (4, 6, 3), dict(stride=2, padding=1, output_padding=1, groups=2),
     (1, 4, 5, 6)),
    ("ConvTranspose1d", (4, 6, 1), dict(), (2, 4, 17)),
    # depthwise planes split over three threads: kernel widths with and without a
    # specialised loop, padding wider than the kernel (the transpose crops), multiplier 2
    ("Conv2d", (4, 8, (3, 7)), dict(padding=(1, 3), groups=4), (3, 4, 9, 10)),
    ("Conv2d", (4, 4, (2, 4)), dict(padding=(3, 5), stride=(1, 2), dilation=(2, 1),
                                    groups=4), (2, 4, 6, 7)),
    ("Conv1d", (4, 4, 9), dict(padding=3, stride=3, groups=4), (2, 4, 40)),
    ("Conv2d", (6, 9, 3), dict(padding=(2, 0), dilation=(1, 2), groups=3), (3, 6, 8, 11)),
    ("ConvTranspose2d", (4, 4, 5), dict(stride=(2, 3), padding=2, output_padding=(1, 2),
                                        groups=4), (2, 4, 5, 6)),
])
def test_chunked_threaded_paths_match_torch(small_chunks, name, args, kwargs, shape):
    check_layer(name, args, kwargs, shape)


# --------------------------------------------------------------------------- float32, float16
@pytest.mark.parametrize("name, args, shape", [
    ("Conv2d", (3, 8, 3), (2, 3, 12, 11)),
    ("ConvTranspose2d", (3, 8, 3), (2, 3, 6, 5)),
    ("Conv1d", (5, 4, 1), (2, 5, 30)),
    ("Conv2d", (16, 16, 3, 1, 1, 1, 16), (2, 16, 37, 45)),  # depthwise: long vector loops
    ("Conv2d", (16, 16, 7, 2, 3, 1, 16), (2, 16, 37, 45)),
    ("Conv2d", (32, 32, 3, 1, 1, 1, 2), (2, 32, 9, 11)),  # 16 channels per group: tiles
    ("Conv2d", (6, 10, (2, 5), 1, (0, 3), 2, 2), (2, 6, 15, 17)),  # 5 outputs: a tile of 1
    ("Conv1d", (16, 7, 4, 1, 3), (2, 16, 61)),
])
def test_float32_matches_torch(name, args, shape):
    mine, ref = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    # its own generator: the result must not depend on which tests ran before.  A weight
    # gradient sums thousands of float32 products (magnitude ~50): both libraries' rounding
    # is ~1e-5 there, so atol is 1e-4, not float32's bare epsilon
    x = np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32)
    compare_module(mine, ref, x, rtol=1e-4, atol=1e-4)
    assert mine.weight.grad.dtype == nncheck.float32


def test_float16_computes_in_float32_and_keeps_dtype():
    conv = nn.Conv2d(2, 3, 3).half()
    x = nncheck.from_numpy(rand(1, 2, 5, 5).astype(np.float16)).requires_grad_()
    y = conv(x)
    y.sum().backward()
    assert y.dtype == nncheck.float16 and x.grad.dtype == nncheck.float16
    want = TF.conv2d(*(torch.from_numpy(t.detach().numpy()).float()
                       for t in (x, conv.weight, conv.bias)))
    np.testing.assert_allclose(y.detach().numpy(), want.numpy(), rtol=1e-2, atol=1e-2)


# --------------------------------------------------------------------------- gradcheck
@pytest.mark.parametrize("name, args, kwargs, shape", [
    ("Conv1d", (2, 3, 3), dict(stride=2, padding=1), (2, 2, 6)),
    ("Conv2d", (2, 4, (2, 3)), dict(padding="same", groups=2), (1, 2, 4, 4)),
    ("Conv3d", (2, 2, 2), dict(dilation=(1, 2, 1)), (1, 2, 3, 4, 3)),
    ("ConvTranspose1d", (2, 3, 3), dict(stride=2, output_padding=1), (1, 2, 4)),
    ("ConvTranspose2d", (2, 2, 2), dict(stride=2, padding=1), (1, 2, 3, 3)),
    ("ConvTranspose3d", (2, 2, 2), dict(stride=(1, 2, 1)), (1, 2, 2, 2, 2)),
    ("Unfold", (2,), dict(padding=1, stride=2), (1, 2, 4, 4)),
    ("Fold", ((3, 3), 2), dict(), (1, 8, 4)),
])
def test_gradcheck(name, args, kwargs, shape):
    layer = getattr(nn, name)(*args, **kwargs).double()
    x = to_nncheck(rand(*shape), True)
    assert nncheck.gradcheck(layer, (x,))


def test_registry_examples_are_small_and_pass_gradcheck():
    conv = {n: i for n, i in registry.layers().items() if i.family == "conv"}
    assert set(conv) == {"Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
                         "ConvTranspose3d", "Unfold", "Fold"}
    for info in conv.values():
        args, kwargs = parse_layer_args(shlex.split(info.example))  # as the CLI reads it
        layer = info.cls(*args, **kwargs).double()
        inputs = [to_nncheck(rand(*s), True) for s in info.inputs]
        assert all(math.prod(s) <= 100 for s in info.inputs), info.name
        assert layer.infer_shape(*info.inputs) == (tuple(layer(*inputs).shape),)
        assert nncheck.gradcheck(layer, tuple(inputs)), info.name


# --------------------------------------------------------------------------- seed, init, shapes
def test_seed_transposed_output_size_example():
    x = nncheck.randn(1, 16, 12, 12)
    downsample = nn.Conv2d(16, 16, 3, stride=2, padding=1)
    upsample = nn.ConvTranspose2d(16, 16, 3, stride=2, padding=1)
    h = downsample(x)
    assert h.size() == (1, 16, 6, 6)
    assert upsample(h, output_size=x.size()).size() == (1, 16, 12, 12)
    assert upsample(h, output_size=[11, 11]).size() == (1, 16, 11, 11)
    assert nn.ConvTranspose2d(16, 33, (3, 5), stride=(2, 1), padding=(4, 2))(
        nncheck.randn(20, 16, 50, 100)).size() == (20, 33, 93, 100)
    with pytest.raises(ValueError, match=r"valid sizes range from \[11, 11\] to \[12, 12\]"):
        upsample(h, output_size=(13, 13))


def test_output_size_matches_torch():
    mine, ref = pair("ConvTranspose2d", 2, 3, 3, stride=3, padding=1)
    x = rand(1, 2, 4, 5)
    ref.load_state_dict(ref.state_dict())
    mine.load_state_dict({k: nncheck.from_numpy(v.detach().numpy().copy())
                          for k, v in ref.state_dict().items()})
    want = ref(torch.from_numpy(x), output_size=(11, 14))
    assert_close(mine(nncheck.from_numpy(x), output_size=(11, 14)), want)


@pytest.mark.parametrize("name, args", [("Conv2d", (6, 8, 3)), ("ConvTranspose2d", (6, 8, 3)),
                                        ("Conv1d", (4, 6, 5, 1, 0, 1, 2))])
def test_init_bounds_like_torch(name, args):
    """kaiming_uniform_(a=sqrt(5)) gives U(-1/sqrt(fan_in), 1/sqrt(fan_in)), as the bias."""
    nncheck.manual_seed(0)
    layer, ref = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    bound = 1 / math.sqrt(ref.weight[0].numel())
    for mine, theirs in ((layer.weight, ref.weight), (layer.bias, ref.bias)):
        assert tuple(mine.shape) == tuple(theirs.shape)
        assert np.abs(mine.detach().numpy()).max() <= bound
    weight = layer.weight.detach().numpy()
    assert abs(weight.std() - bound / math.sqrt(3)) < 0.15 * bound  # uniform, not narrower


def test_shape_explanations_show_the_numbers():
    explain = []
    conv = nn.Conv2d(16, 33, (3, 5), stride=(2, 1), padding=(4, 2), dilation=(3, 1))
    assert conv.infer_shape((20, 16, 50, 100), explain=explain) == ((20, 33, 26, 100),)
    text = "\n".join(explain)
    assert "floor((50 + 2*4 - 3*(3-1) - 1)/2) + 1 = 26" in text
    assert "floor((100 + 2*2 - 1*(5-1) - 1)/1) + 1 = 100" in text
    explain = []
    up = nn.ConvTranspose2d(16, 16, 3, stride=2, padding=1, output_padding=1)
    assert up.infer_shape((1, 16, 6, 6), explain=explain) == ((1, 16, 12, 12),)
    assert "(6-1)*2 - 2*1 + 1*(3-1) + 1 + 1 = 12" in "\n".join(explain)
    explain = []
    nn.Conv1d(2, 2, 4, padding="same", padding_mode="reflect").infer_shape((2, 9),
                                                                          explain=explain)
    assert "pads 1 before and 2 after: 9 -> 12" in "\n".join(explain)
    explain = []
    assert nn.Unfold((2, 3), stride=2).infer_shape((2, 3, 7, 8), explain=explain) == \
        ((2, 18, 9),)
    assert "L = number of blocks = 3 * 3 = 9" in "\n".join(explain)


def test_symbolic_shapes_pass_through():
    n, h = Sym("N"), Sym("H")
    (out,) = nn.Conv2d(3, 8, 3, stride=2, padding=1).infer_shape((n, 3, h, 9))
    assert out[:2] == (n, 8) and str(out[2]) == "floor((H-1)/2)+1" and out[3] == 5
    (out,) = nn.ConvTranspose1d(3, 8, 3, stride=2, padding=1).infer_shape((n, 3, h))
    assert str(out[2]) == "2*H-1"


# --------------------------------------------------------------------------- bad input
def test_channel_mismatch():
    conv = nn.Conv2d(3, 4, 3)
    with pytest.raises(RuntimeError, match=r"expected input\[2, 4, 5, 5\] to have 3 channels"):
        conv(nncheck.randn(2, 4, 5, 5))
    with pytest.raises(ShapeError, match="input has 4 channels .* but in_channels=3"):
        conv.infer_shape((2, 4, 5, 5))
    with pytest.raises(RuntimeError, match="expected input.* to have 4 channels, but got 3"):
        F.conv_transpose2d(nncheck.randn(1, 3, 4, 4), nncheck.randn(4, 2, 3, 3))


def test_kernel_larger_than_padded_input():
    with pytest.raises(RuntimeError, match=r"H: the padded input \(4 \+ 2\*1 = 6\) is smaller "
                                           r"than the effective kernel_size"):
        nn.Conv2d(1, 1, 7, padding=1)(nncheck.randn(1, 1, 4, 9))
    with pytest.raises(ShapeError, match="W: the padded input"):
        nn.Conv2d(1, 1, (1, 5), dilation=2).infer_shape((1, 1, 4, 8))
    with pytest.raises(ShapeError, match="L: the output size would be -2 .*use padding <= 0"):
        nn.ConvTranspose1d(1, 1, 2, padding=2).infer_shape((1, 1, 1))


def test_groups_must_divide_channels():
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.Conv2d(4, 6, 3, groups=3)
    with pytest.raises(ValueError, match="out_channels must be divisible by groups"):
        nn.ConvTranspose1d(4, 6, 3, groups=4)
    with pytest.raises(ValueError, match="groups must be a positive integer"):
        nn.Conv1d(4, 4, 3, groups=0)
    with pytest.raises(RuntimeError, match="expected weight to be divisible by 4 at dimension 0"):
        F.conv2d(nncheck.randn(1, 8, 5, 5), nncheck.randn(6, 2, 3, 3), groups=4)


@pytest.mark.parametrize("arg, value", [("stride", 0), ("stride", -1), ("dilation", 0),
                                        ("dilation", (1, -2))])
def test_non_positive_stride_or_dilation(arg, value):
    with pytest.raises(RuntimeError, match=f"non-positive {arg} is not supported"):
        F.conv2d(nncheck.randn(1, 1, 5, 5), nncheck.randn(1, 1, 3, 3), **{arg: value})
    with pytest.raises(ShapeError, match=f"non-positive {arg} is not supported"):
        nn.Conv2d(1, 1, 3, **{arg: value}).infer_shape((1, 1, 5, 5))
    with pytest.raises(RuntimeError, match=f"non-positive {arg}"):
        F.conv_transpose2d(nncheck.randn(1, 1, 5, 5), nncheck.randn(1, 1, 3, 3), **{arg: value})
    with pytest.raises(RuntimeError, match=f"non-positive {arg}"):
        F.unfold(nncheck.randn(1, 1, 5, 5), 2, **{arg: value})


def test_wrong_rank():
    with pytest.raises(RuntimeError, match=r"expected 3D \(unbatched\) or 4D \(batched\) input"):
        nn.Conv2d(1, 1, 3)(nncheck.randn(5, 5))
    with pytest.raises(ShapeError, match="expected input to be 2-D or 3-D, got 4-D"):
        nn.ConvTranspose1d(1, 1, 3).infer_shape((1, 1, 5, 5))
    with pytest.raises(RuntimeError, match="expected weight to be 3-D"):
        F.conv1d(nncheck.randn(2, 4, 5), nncheck.randn(3, 4, 3, 3))
    with pytest.raises(RuntimeError, match="expected a 3-D .* or 4-D"):
        F.unfold(nncheck.randn(2, 3, 4, 5, 6), 3)
    with pytest.raises(RuntimeError, match=r"expected stride to be a single integer value or a "
                                           r"list of 2 values"):
        F.conv2d(nncheck.randn(1, 1, 5, 5), nncheck.randn(1, 1, 3, 3), stride=(1, 1, 1))


def test_padding_rules():
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        F.conv1d(nncheck.randn(1, 1, 5), nncheck.randn(1, 1, 3), stride=2, padding="same")
    with pytest.raises(ValueError, match="invalid padding string 'full'"):
        nn.Conv1d(1, 1, 3, padding="full")
    with pytest.raises(RuntimeError, match="negative padding is not supported"):
        F.conv2d(nncheck.randn(1, 1, 5, 5), nncheck.randn(1, 1, 3, 3), padding=-1)
    with pytest.raises(TypeError, match="padding strings are for convolutions only"):
        F.conv_transpose1d(nncheck.randn(1, 1, 5), nncheck.randn(1, 1, 3), padding="same")
    with pytest.raises(ValueError, match='Only "zeros" padding mode is supported for '
                                         'ConvTranspose2d'):
        nn.ConvTranspose2d(1, 1, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv2d(1, 1, 3, padding_mode="mirror")
    with pytest.raises(ShapeError, match="padding_mode='reflect' can pad at most 2"):
        nn.Conv1d(1, 1, 3, padding=3, padding_mode="reflect").infer_shape((1, 1, 3))
    with pytest.raises(RuntimeError, match="output padding must be smaller than either stride "
                                           "or dilation"):
        F.conv_transpose2d(nncheck.randn(1, 1, 3, 3), nncheck.randn(1, 1, 3, 3), stride=2,
                           output_padding=2)
    with pytest.raises(ShapeError, match="output padding must be smaller"):
        nn.ConvTranspose1d(1, 1, 3, output_padding=1).infer_shape((1, 1, 4))


def test_bias_and_dtype_errors():
    with pytest.raises(RuntimeError, match="expected bias to be 1-dimensional with 3 elements"):
        F.conv2d(nncheck.randn(1, 4, 5, 5), nncheck.randn(3, 4, 2, 2), nncheck.randn(2))
    with pytest.raises(RuntimeError, match="should have the same dtype"):
        F.conv2d(nncheck.randn(1, 4, 5, 5), nncheck.randn(3, 4, 2, 2, dtype=nncheck.float64))
    with pytest.raises(TypeError, match="must be a floating point tensor"):
        F.conv1d(nncheck.ones(1, 1, 5, dtype=nncheck.int64), nncheck.ones(1, 1, 2))


def test_checked_calls_are_remembered_per_exact_signature(monkeypatch):
    """Calls with the sizes and arguments of an earlier valid call skip its checks; an
    argument a dict would take for that call's (True or 1.0 for 1), a new dtype or shape
    is still checked, and a full cache starts again from empty."""
    x, w = nncheck.randn(1, 2, 5, 5), nncheck.randn(3, 2, 3, 3)
    F.conv2d(x, w, stride=1, padding=(1, 1))
    F.conv_transpose2d(x, nncheck.randn(2, 3, 3, 3), stride=2, output_padding=1)
    for bad, error, message in [({"stride": True}, TypeError, "stride must be an int"),
                                ({"stride": 1.0}, TypeError, "stride must be an int"),
                                ({"padding": (1, 1.0)}, TypeError, "padding must be an int"),
                                ({"groups": True}, RuntimeError, "groups must be a positive")]:
        with pytest.raises(error, match=message):
            F.conv2d(x, w, **{"stride": 1, "padding": (1, 1), **bad})
    with pytest.raises(TypeError, match=r"output_padding must be an int"):
        F.conv_transpose2d(x, nncheck.randn(2, 3, 3, 3), stride=2, output_padding=True)
    with pytest.raises(RuntimeError, match="should have the same dtype"):
        F.conv2d(x, w.double(), stride=1, padding=(1, 1))
    with pytest.raises(RuntimeError, match="expected input.* to have 2 channels, but got 4"):
        F.conv2d(nncheck.randn(1, 4, 5, 5), w, stride=1, padding=(1, 1))
    monkeypatch.setattr(conv_impl, "_MAX_CHECKED_CALLS", 2)
    for size in (5, 6, 7, 6):
        xs = RNG.standard_normal((1, 2, size, size))
        ws = RNG.standard_normal((3, 2, 3, 3))
        got = F.conv2d(to_nncheck(xs), to_nncheck(ws), padding=1)
        assert_close(got, TF.conv2d(torch.from_numpy(xs), torch.from_numpy(ws), padding=1))
        assert len(conv_impl._CHECKED_CALLS) <= 2


def test_fold_unfold_errors():
    with pytest.raises(RuntimeError, match=r"divisible by the product of kernel_size, but got "
                                           r"input.size\(1\)=35"):
        F.fold(nncheck.randn(2, 35, 9), (5, 5), 3)
    with pytest.raises(RuntimeError, match="calculated number of sliding blocks 3 \\* 3 = 9, "
                                           "but got input.size\\(2\\)=8"):
        F.fold(nncheck.randn(2, 36, 8), (5, 5), 3)
    with pytest.raises(ShapeError, match="has 8 blocks but output_size=\\(5, 5\\) holds 9"):
        nn.Fold((5, 5), 3).infer_shape((2, 36, 8))
    with pytest.raises(RuntimeError, match="the padded input"):
        F.unfold(nncheck.randn(1, 1, 5, 5), 7)


@pytest.mark.parametrize("name,args,kwargs,shape", [
    ("LazyConv1d", (4, 3), {}, (2, 3, 9)),
    ("LazyConv2d", (4, 3), {"groups": 2, "padding": 1}, (2, 6, 5, 5)),
    ("LazyConv2d", (2, 3), {"stride": 2, "bias": False}, (3, 7, 7)),  # unbatched
    ("LazyConv3d", (2, 2), {}, (1, 2, 3, 4, 3)),
    ("LazyConvTranspose1d", (4, 3), {"stride": 2, "output_padding": 1}, (2, 3, 5)),
    ("LazyConvTranspose2d", (4, 3), {"groups": 2}, (2, 4, 3, 3)),
    ("LazyConvTranspose3d", (2, 2), {}, (1, 2, 2, 3, 2)),
])
def test_lazy_convolutions_become_their_layers_like_torch(name, args, kwargs, shape):
    check_lazy(name, args, np.random.default_rng(0).standard_normal(shape), **kwargs)


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")
@pytest.mark.parametrize("name,kwargs,shape", [
    ("Conv1d", {}, (2, 0, 5)),
    ("Conv2d", {"stride": 2, "padding": 1}, (2, 0, 4, 4)),
    ("Conv2d", {"bias": False}, (0, 4, 4)),
    ("Conv3d", {}, (1, 0, 3, 3, 3)),
])
def test_zero_input_channels_like_torch(name, kwargs, shape):
    """PyTorch accepts in_channels=0: an empty output (with 0 channels) and zero gradients."""
    ours, ref = getattr(nn, name)(0, 7, 2, **kwargs), getattr(torch.nn, name)(0, 7, 2, **kwargs)
    check_repr_and_keys(ours.double(), ref.double())
    x = np.zeros(shape)
    compare_module(ours, ref, x)
    check_shape_rule(ours, x)


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")
def test_zero_input_channels_transposed_fails_in_forward_like_torch():
    for lib in (torch, nncheck):
        m = lib.nn.ConvTranspose2d(0, 7, 2)
        with pytest.raises(RuntimeError):
            m(lib.zeros(2, 0, 4, 4))


@pytest.mark.parametrize("name,args,shape", [
    ("LazyConv2d", (4, 3), (2, 3, 5, 5)),
    ("LazyConvTranspose1d", (4, 3), (2, 3, 5)),
])
def test_lazy_convolutions_convert_dtype_before_the_first_call(name, args, shape):
    check_lazy(name, args, np.random.default_rng(0).standard_normal(shape), convert="double")


def test_lazy_conv_rejects_a_bad_first_input():
    with pytest.raises(RuntimeError, match="Expected 3D .unbatched. or 4D .batched. input"):
        nn.LazyConv2d(4, 3)(nncheck.randn(2, 3))
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.LazyConv2d(4, 3, groups=2)(nncheck.randn(1, 3, 5, 5))


# ----------------------------------------------------------------- stride 1 without im2col
# (last in the file: the shared RNG's draws for the tests above stay as they were)
@pytest.fixture
def shifted_everywhere(monkeypatch):
    """Every stride-1 convolution takes the no-im2col paths (ConvGeometry.shifted and
    shifted_image) unless it is depthwise (direct loops); 3x3 ones too (not Winograd)."""
    monkeypatch.setattr(conv_impl, "_DIRECT_MAX_GROUP_CHANNELS", 0)
    monkeypatch.setattr(conv_impl, "_WINOGRAD_MIN_TILES_PER_CALL", 1 << 62)
    monkeypatch.setattr(conv_impl, "_SHIFTED_MAX_GROUP_OUT", 1 << 30)
    monkeypatch.setattr(conv_impl, "_SHIFTED_MIN_GROUP_IN", 1)
    monkeypatch.setattr(conv_impl, "_SHIFTED_IMAGE_MIN_RATIO", 0)


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("options", CONV_OPTIONS, ids=lambda o: str(o)[1:-1] or "defaults")
def test_shifted_forward_matches_torch(shifted_everywhere, nd, options):
    args, kwargs = conv_case(nd, options)
    check_layer(f"Conv{nd}d", args, kwargs, (2, 4) + SPATIAL[nd])


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("options", TRANSPOSE_OPTIONS,
                         ids=lambda o: str(o)[1:-1] or "defaults")
def test_shifted_transpose_matches_torch(shifted_everywhere, nd, options):
    args, kwargs = conv_case(nd, options)
    check_layer(f"ConvTranspose{nd}d", args, kwargs, (2, 4) + SPATIAL[nd])


@pytest.mark.parametrize("name, args, kwargs, shape", [
    ("Conv2d", (4, 6, 3), dict(padding=(2, 1), dilation=(1, 2), groups=2), (3, 4, 9, 10)),
    ("Conv2d", (4, 6, (2, 4)), dict(padding="same"), (1, 4, 7, 9)),
    ("Conv3d", (2, 4, 2), dict(padding=1, dilation=(2, 1, 1)), (1, 2, 4, 5, 3)),
    ("ConvTranspose2d", (4, 6, 3), dict(padding=(0, 1), dilation=2, output_padding=1),
     (2, 4, 5, 6)),
])
def test_shifted_chunked_threaded_matches_torch(shifted_everywhere, small_chunks, name, args,
                                                 kwargs, shape):
    check_layer(name, args, kwargs, shape)


def test_shifted_forward_at_the_default_thresholds_float32(monkeypatch):
    """DenseNet's kind of layer (many input, few output channels, stride 1) takes it (where
    Winograd does not: a 3x3 kernel takes Winograd first, so it is off here)."""
    monkeypatch.setattr(conv_impl, "_WINOGRAD_MIN_TILES_PER_CALL", 1 << 62)
    geom = conv_impl.ConvGeometry(128, (9, 11), 32, (9, 11), (3, 3), (1, 1), (1, 1), (1, 1),
                                  1)
    assert geom.shifted and geom.shifted_image
    mine, ref = nn.Conv2d(128, 32, 3, padding=1), torch.nn.Conv2d(128, 32, 3, padding=1)
    compare_module(mine, ref, rand(2, 128, 9, 11).astype(np.float32), rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------- samples side by side
# (after the shifted tests, for the same reason: the shared RNG's draws stay as they were)
@pytest.fixture
def batch_plans(monkeypatch):
    """Records (use, samples per block, rows per task, rows of the GEMM) of every batched
    kernel call (conv_impl._batch_plan)."""
    chosen, plan = [], conv_impl._batch_plan

    def spy(n_samples, geom, dtype, xp, k, use):
        out = plan(n_samples, geom, dtype, xp, k, use)
        if out is not None:
            full = (geom.O if use == 0 else geom.C) // geom.G
            chosen.append((use, out[1], out[2], full))
        return out

    monkeypatch.setattr(conv_impl, "_batch_plan", spy)
    return chosen


def columns_per_sample(name, args, kwargs, shape):
    """Output positions of a convolution, input positions of a transposed one."""
    if name.startswith("ConvTranspose"):
        return math.prod(shape[2:])
    return math.prod(getattr(torch.nn, name)(*args, **kwargs)(torch.zeros(shape)).shape[2:])


BATCHED_CASES = [  # (name, args, kwargs, input shape): a few output positions per sample
    ("Conv2d", (20, 12, 3), dict(padding=1), (5, 20, 4, 4)),
    ("Conv2d", (40, 24, 3), dict(stride=2, padding=1, groups=2), (5, 40, 7, 7)),
    ("Conv2d", (6, 10, (2, 3)), dict(stride=(1, 2), padding=(1, 2), dilation=(2, 1),
                                     bias=False), (7, 6, 3, 5)),
    ("ConvTranspose2d", (12, 8, 3), dict(stride=2, padding=1, output_padding=1),
     (5, 12, 3, 3)),
    ("Conv1d", (20, 10, 3), dict(padding=1), (5, 20, 8)),
    ("Conv3d", (4, 6, 3), dict(padding=1), (5, 4, 3, 3, 3)),
    ("ConvTranspose3d", (4, 6, 2), dict(stride=2, groups=2), (3, 4, 2, 2, 2)),
]


@pytest.mark.parametrize("split", ["one block", "blocks of 2", "threads"])
@pytest.mark.parametrize("name, args, kwargs, shape", BATCHED_CASES)
def test_batched_paths_match_torch(batch_plans, monkeypatch, split, name, args, kwargs,
                                   shape):
    """Forward and every gradient with the samples side by side: all in one block, in
    blocks of two (the batch no multiple of them), or shared by three threads (the rows of
    each GEMM split between them)."""
    if split == "blocks of 2":
        monkeypatch.setattr(conv_impl, "_COL_BUDGET_BYTES", 8)
        monkeypatch.setattr(conv_impl, "_MIN_CHUNK",
                            2 * columns_per_sample(name, args, kwargs, shape))
    elif split == "threads":
        monkeypatch.setattr(conv_impl, "_max_threads", lambda: 3)
        monkeypatch.setattr(conv_impl, "_PARALLEL_MIN_WORK", 0)
    check_layer(name, args, kwargs, shape)
    assert sorted({use for use, _, _, _ in batch_plans}) == [0, 1, 2]
    if split == "blocks of 2":
        assert {nb for _, nb, _, _ in batch_plans} == {2}
    if split == "threads":
        assert any(rows < full for _, _, rows, full in batch_plans)


def test_batched_forward_rows_split_between_threads(batch_plans, monkeypatch):
    """Two samples, three threads: one block, its output channels in three tasks."""
    monkeypatch.setattr(conv_impl, "_max_threads", lambda: 3)
    monkeypatch.setattr(conv_impl, "_PARALLEL_MIN_WORK", 0)
    check_layer("Conv2d", (20, 12, 3), dict(padding=1), (2, 20, 3, 4))
    assert (0, 2, 4, 12) in batch_plans and (1, 2, 4, 20) in batch_plans


def test_one_sample_takes_a_gemm_of_its_own(batch_plans):
    """... in the forward and input gradient; the weight gradient's kernel takes it alone."""
    check_layer("Conv2d", (20, 12, 3), dict(padding=1), (1, 20, 4, 4))
    assert batch_plans == [(2, 1, 20, 20)]


@pytest.mark.parametrize("threads", [1, 3])
def test_weight_gradient_in_blocks_of_one_sample(batch_plans, monkeypatch, threads):
    """Columns of one sample fill a chunk: only the weight gradient takes the batched kernel
    (blocks of one sample), over three threads too."""
    monkeypatch.setattr(conv_impl, "_max_threads", lambda: threads)
    monkeypatch.setattr(conv_impl, "_PARALLEL_MIN_WORK", 0)
    monkeypatch.setattr(conv_impl, "_COL_BUDGET_BYTES", 8)
    monkeypatch.setattr(conv_impl, "_MIN_CHUNK", 30)
    check_layer("Conv2d", (20, 12, 3), dict(stride=2, padding=1, groups=2), (3, 20, 9, 11))
    assert {(use, nb) for use, nb, _, _ in batch_plans} == {(2, 1)}


@pytest.mark.parametrize("name, args, shape", [
    ("Conv2d", (64, 48, 3, 1, 1), (6, 64, 4, 4)),  # 16 positions: all 6 in one GEMM
    ("Conv2d", (32, 40, 3, 2, 1), (3, 32, 7, 7)),
    ("ConvTranspose2d", (48, 32, 3, 2, 1), (4, 48, 3, 3)),
])
def test_batched_float32_matches_torch(batch_plans, name, args, shape):
    mine, ref = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    x = np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32)
    # float32 rounding grows with the longest sum: a weight gradient's over samples and
    # positions, an output's over channels and taps
    longest = max(shape[0] * math.prod(shape[2:]) * 4, shape[1] * args[2] ** 2,
                  args[1] * args[2] ** 2)
    compare_module(mine, ref, x, rtol=1e-4, atol=1e-7 * longest)
    assert sorted({use for use, _, _, _ in batch_plans}) == [0, 1, 2]


def test_batched_kernels_check_their_scratch():
    geom = conv_impl.ConvGeometry(4, (3, 3), 6, (3, 3), (3, 3), (1, 1), (1, 1), (1, 1), 1)
    img, w = np.zeros((2, 36)), np.zeros((6, 36))
    cols, none = np.zeros((2, 54)), np.zeros(0)
    k = conv_impl._k
    small = np.zeros((1, k.batch_scratch(geom.args, 2, 6, 0) - 1))
    with pytest.raises(ValueError, match="scratch"):
        k.conv_cols_batched(geom.args, img, w, none, cols, small, 1, 2, 6)
    with pytest.raises(ValueError, match="block sizes"):
        k.conv_cols_batched(geom.args, img, w, none, cols, np.zeros((1, 999)), 1, 0, 6)
    with pytest.raises(ValueError, match="grad_weight"):
        k.conv_weight_grad_batched(geom.args, img, cols, np.zeros((1, 6 * 36 - 1)),
                                   np.zeros((1, 999)), 1, 2, 4)
