"""Pooling layers against PyTorch: values, argmax indices, gradients, shape rules, errors."""

import numpy as np
import pytest
import torch
from reference import (
    assert_close,
    check_repr_and_keys,
    check_shape_rule,
    compare_function,
    compare_module,
    to_nncheck,
    to_torch,
)

import nncheck
import nncheck.nn as nn
import nncheck.nn.functional as F
from nncheck.shapes import ShapeError

RNG = np.random.default_rng(0)
SPATIAL = {1: (9,), 2: (7, 8), 3: (5, 6, 4)}


def sample(nd, batched=True, channels=2, spatial=None):
    return RNG.standard_normal(((2,) if batched else ()) + (channels,) + (spatial or SPATIAL[nd]))


def both(name, *args, **kwargs):
    return getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)


def check_layer(name, args, kwargs, x, **compare):
    ours, theirs = both(name, *args, **kwargs)
    check_repr_and_keys(ours, theirs)
    compare_module(ours, theirs, x, **compare)
    check_shape_rule(ours, x)


def per_dim(value, nd):
    return value[:nd] if isinstance(value, tuple) else value


# ---------------------------------------------------------------- max pooling

MAX_CONFIGS = [
    # kernel, stride, padding, dilation, ceil_mode, return_indices
    (2, None, 0, 1, False, False),
    (3, 2, 1, 1, False, True),
    (3, 2, 1, 2, True, True),
    (3, 3, 0, 1, True, True),  # ceil_mode adds a partial window
    ((2, 3, 2), (1, 2, 2), (1, 1, 0), (2, 1, 1), True, True),
    ((3, 2, 3), 2, (1, 0, 1), 1, False, False),
]


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("config", MAX_CONFIGS)
@pytest.mark.parametrize("batched", [True, False])
def test_max_pool(nd, config, batched):
    kernel, stride, padding, dilation, ceil_mode, return_indices = (
        per_dim(v, nd) for v in config)
    check_layer(f"MaxPool{nd}d", (kernel, stride, padding, dilation, return_indices, ceil_mode),
                {}, sample(nd, batched))


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_max_pool_ties_and_nan_resolve_as_torch(nd):
    x = RNG.integers(0, 3, size=(2, 3) + SPATIAL[nd]).astype(np.float64)  # many ties
    check_layer(f"MaxPool{nd}d", (3, 2, 1), {"return_indices": True}, x)
    x[..., 1] = np.nan
    x.reshape(-1)[::7] = np.nan
    check_layer(f"MaxPool{nd}d", (2,), {"return_indices": True, "ceil_mode": True}, x)
    x = np.full((1, 1) + SPATIAL[nd], -np.inf)  # nothing above -inf: the first index
    check_layer(f"MaxPool{nd}d", (2,), {"return_indices": True}, x)


def test_max_pool_functional_forms():
    x = sample(2)
    for fn in ("max_pool2d", "max_pool2d_with_indices"):
        compare_function(getattr(F, fn), getattr(torch.nn.functional, fn), x, kernel_size=3,
                         stride=2, padding=1, return_indices=True)
    compare_function(F.max_pool1d, torch.nn.functional.max_pool1d, sample(1), kernel_size=(3,),
                     stride=(2,), ceil_mode=True)
    compare_function(F.max_pool3d_with_indices, torch.nn.functional.max_pool3d_with_indices,
                     sample(3), kernel_size=2)


def test_max_pool_ceil_mode_window_covering_the_whole_input():
    # ceil((2 - 3)/2) + 1 = 1: PyTorch keeps one window although the span is negative
    check_layer("MaxPool2d", (3, 2), {"ceil_mode": True, "return_indices": True},
                sample(2, spatial=(2, 2)))
    check_layer("AvgPool2d", (3, 2, 1, True), {}, sample(2, spatial=(2, 2)))


# ---------------------------------------------------------------- average pooling

AVG_CONFIGS = [
    # kernel, stride, padding, ceil_mode, count_include_pad, divisor_override
    (2, None, 0, False, True, None),
    (3, 2, 1, False, False, None),
    (3, 2, 1, True, True, None),
    (3, 2, 1, True, False, None),
    (3, 2, 1, True, True, 5),
    ((2, 3, 2), (1, 2, 3), (1, 1, 0), False, False, 2),
]


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("config", AVG_CONFIGS)
@pytest.mark.parametrize("batched", [True, False])
def test_avg_pool(nd, config, batched):
    kernel, stride, padding, ceil_mode, count_include_pad, divisor = (
        per_dim(v, nd) for v in config)
    args = (kernel, stride, padding, ceil_mode, count_include_pad)
    if nd == 1 and divisor is not None:
        pytest.skip("AvgPool1d has no divisor_override")
    check_layer(f"AvgPool{nd}d", args + ((divisor,) if nd > 1 else ()), {},
                sample(nd, batched))


# ---------------------------------------------------------------- LP pooling

@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("norm", [1, 2, 3.5, float("inf"), -float("inf")])
@pytest.mark.parametrize("kernel,stride,ceil_mode", [(2, None, False), (3, 2, True),
                                                     ((2, 3, 1), (1, 2, 1), False)])
def test_lp_pool(nd, norm, kernel, stride, ceil_mode):
    x = sample(nd)
    if norm == 3.5:
        x = np.abs(x) + 0.1  # a fractional power of a negative number is NaN in both
    kernel, stride = per_dim(kernel, nd), per_dim(stride, nd)
    if nd == 1 and isinstance(kernel, tuple):  # PyTorch's lp_pool1d takes an int kernel only
        kernel, stride = kernel[0], stride[0]
    check_layer(f"LPPool{nd}d", (norm, kernel, stride, ceil_mode), {}, x)


def test_lp_pool_zero_sum_has_zero_gradient_as_torch():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, :2, :2] = [[1.0, -1.0], [0.5, -0.5]]
    check_layer("LPPool2d", (1, 2), {}, x)
    check_layer("LPPool2d", (2, 2), {}, x)


# ---------------------------------------------------------------- adaptive pooling

ADAPTIVE_SIZES = {1: [1, 4, 9, 12, (5,)], 2: [1, 3, (2, 5), (None, 3), (9, 10)],
                  3: [1, 2, (3, None, 2), (6, 7, 5)]}


@pytest.mark.parametrize("nd,size", [(nd, s) for nd, sizes in ADAPTIVE_SIZES.items()
                                     for s in sizes])
@pytest.mark.parametrize("batched", [True, False])
def test_adaptive_pools(nd, size, batched):
    x = sample(nd, batched)
    check_layer(f"AdaptiveAvgPool{nd}d", (size,), {}, x)
    check_layer(f"AdaptiveMaxPool{nd}d", (size,), {"return_indices": True}, x)
    check_layer(f"AdaptiveMaxPool{nd}d", (size,), {}, x)


@pytest.mark.parametrize("size", [7, (5, 3), (20, 9)])
def test_adaptive_avg_pool2d_large_planes(size):
    # the column-sum kernels on enough planes to run threaded, windows that do not divide
    # the input (overlapping ones for 20 > 17) and outputs larger than the input
    x = sample(2, channels=24, spatial=(17, 56))
    check_layer("AdaptiveAvgPool2d", (size,), {}, x)
    check_layer("AdaptiveAvgPool2d", (size,), {}, x.astype(np.float32), rtol=1e-5, atol=1e-6)


def test_adaptive_functional_forms():
    x = sample(2)
    for fn in ("adaptive_max_pool2d", "adaptive_max_pool2d_with_indices"):
        compare_function(getattr(F, fn), getattr(torch.nn.functional, fn), x, output_size=3,
                         return_indices=True)
    compare_function(F.adaptive_avg_pool1d, torch.nn.functional.adaptive_avg_pool1d, sample(1),
                     output_size=4)


# ---------------------------------------------------------------- fractional max pooling

@pytest.mark.parametrize("nd", [2, 3])
@pytest.mark.parametrize("kernel,size,ratio", [
    (2, 3, None), ((3, 2, 2), (4, 5, 2), None), (2, None, 0.5), ((1, 2, 2), None, (0.7, 0.4, 0.6)),
])
@pytest.mark.parametrize("batched", [True, False])
def test_fractional_max_pool_with_given_samples(nd, kernel, size, ratio, batched):
    x = sample(nd, batched, spatial=(9, 8, 7)[:nd])
    samples = torch.rand(2 if batched else 1, 2, nd, dtype=torch.float64)
    kwargs = dict(output_size=per_dim(size, nd), output_ratio=per_dim(ratio, nd),
                  return_indices=True, _random_samples=samples)
    ours = getattr(nn, f"FractionalMaxPool{nd}d")(per_dim(kernel, nd), **{
        **kwargs, "_random_samples": to_nncheck(samples)})
    theirs = getattr(torch.nn, f"FractionalMaxPool{nd}d")(per_dim(kernel, nd), **kwargs)
    check_repr_and_keys(ours, theirs)
    compare_module(ours, theirs, x)
    check_shape_rule(ours, x)


def test_fractional_max_pool_float32_samples_and_random_draw():
    x = sample(2, spatial=(11, 10)).astype(np.float32)
    samples = torch.rand(2, 2, 2)
    compare_function(F.fractional_max_pool2d, torch.nn.functional.fractional_max_pool2d, x,
                     rtol=1e-6, atol=1e-6, kernel_size=3, output_size=(5, 4),
                     return_indices=True, _random_samples=samples)
    values, indices = F.fractional_max_pool2d(to_nncheck(x), 3, output_ratio=0.5,
                                              return_indices=True)
    assert tuple(values.shape) == (2, 2, 5, 5)
    flat = x.reshape(4, -1)
    np.testing.assert_array_equal(values.numpy().reshape(4, -1),
                                  np.take_along_axis(flat, indices.numpy().reshape(4, -1), 1))


# ---------------------------------------------------------------- max unpooling

@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("kernel,stride,padding", [(2, None, 0), (3, 2, 1)])
@pytest.mark.parametrize("explicit_size", [False, True])
def test_max_unpool(nd, kernel, stride, padding, explicit_size):
    # sizes the default output size restores, so torch accepts every index
    x = torch.from_numpy(sample(nd, spatial=((8, 6, 4) if kernel == 2 else (9, 7, 5))[-nd:]))
    values, indices = getattr(torch.nn.functional, f"max_pool{nd}d")(
        x, kernel, stride, padding, return_indices=True)
    ours, theirs = both(f"MaxUnpool{nd}d", kernel, stride, padding)
    check_repr_and_keys(ours, theirs)
    if explicit_size:
        size = x.shape

        class Sized(torch.nn.Module):
            def forward(self, v, i):
                return theirs(v, i, output_size=size)

        class SizedOurs(nn.Module):
            def forward(self, v, i):
                return ours(v, i, output_size=nncheck.Size(size))

        compare_module(SizedOurs(), Sized(), values.numpy(), indices.numpy(), grad_inputs=(0,))
    else:
        compare_module(ours, theirs, values.numpy(), indices.numpy(), grad_inputs=(0,))
        check_shape_rule(ours, values.numpy(), indices.numpy())


def test_max_unpool_duplicate_indices_last_write_wins():
    values = np.array([[[1.0, 2.0, 3.0]]])
    indices = np.array([[[1, 1, 0]]])
    compare_module(nn.MaxUnpool1d(2), torch.nn.MaxUnpool1d(2), values, indices, grad_inputs=(0,))


# ---------------------------------------------------------------- gradcheck, float32, seed

def distinct(shape):
    n = int(np.prod(shape))
    return nncheck.from_numpy(((RNG.permutation(n) / n - 0.5) * 4).reshape(shape))


@pytest.mark.parametrize("module,shape", [
    (nn.MaxPool2d(3, 2, 1, dilation=1, ceil_mode=True), (1, 2, 5, 5)),
    (nn.MaxPool1d(2, 1, 1, dilation=2), (2, 6)),
    (nn.AvgPool3d(2, 1, 1, count_include_pad=False), (1, 1, 3, 3, 3)),
    (nn.AvgPool2d(3, 2, 1, ceil_mode=True, divisor_override=4), (1, 1, 5, 6)),
    (nn.LPPool2d(3, 2), (1, 2, 4, 4)),
    (nn.AdaptiveAvgPool2d((3, 2)), (1, 2, 5, 5)),
    (nn.AdaptiveMaxPool3d(2), (1, 1, 3, 4, 3)),
    (nn.FractionalMaxPool2d(2, output_size=3), (1, 2, 6, 6)),
])
def test_gradcheck(module, shape):
    assert nncheck.gradcheck(module, (distinct(shape).requires_grad_(),))


def test_gradcheck_unpool():
    values, indices = F.max_pool2d(distinct((1, 2, 4, 4)), 2, return_indices=True)
    values = values.detach().requires_grad_()
    assert nncheck.gradcheck(lambda v: F.max_unpool2d(v, indices, 2), (values,))


@pytest.mark.parametrize("name,args", [
    ("MaxPool2d", (3, 2, 1)), ("AvgPool2d", (3, 2, 1)), ("LPPool2d", (2, 3)),
    ("AdaptiveAvgPool2d", (3,)), ("AdaptiveMaxPool2d", (3,)), ("AvgPool3d", (2,)),
])
def test_float32_matches_torch(name, args):
    check_layer(name, args, {}, sample(2 if "3d" not in name else 3).astype(np.float32),
                rtol=1e-5, atol=1e-6)


def test_float16_computes_in_float32():
    x = sample(2).astype(np.float16)
    out = nn.MaxPool2d(2)(to_nncheck(x))
    assert out.dtype == nncheck.float16
    assert_close(out, torch.nn.MaxPool2d(2)(to_torch(x)))


def test_seed_examples():
    m = nn.MaxPool1d(3, stride=2)
    assert m(nncheck.randn(20, 16, 50)).shape == (20, 16, 24)
    assert nn.MaxPool2d((3, 2), stride=(2, 1))(nncheck.randn(20, 16, 50, 32)).shape == (
        20, 16, 24, 31)
    assert nn.AvgPool2d((3, 2), stride=(2, 1))(nncheck.randn(20, 16, 50, 32)).shape == (
        20, 16, 24, 31)
    out = nn.AvgPool1d(3, stride=2)(nncheck.tensor([[[1.0, 2, 3, 4, 5, 6, 7]]]))
    np.testing.assert_array_equal(out.numpy(), [[[2.0, 4.0, 6.0]]])

    pool = nn.MaxPool1d(2, stride=2, return_indices=True)
    unpool = nn.MaxUnpool1d(2, stride=2)
    output, indices = pool(nncheck.tensor([[[1.0, 2, 3, 4, 5, 6, 7, 8]]]))
    np.testing.assert_array_equal(output.numpy(), [[[2.0, 4, 6, 8]]])
    np.testing.assert_array_equal(unpool(output, indices).numpy(), [[[0.0, 2, 0, 4, 0, 6, 0, 8]]])
    nine = nncheck.tensor([[[1.0, 2, 3, 4, 5, 6, 7, 8, 9]]])
    output, indices = pool(nine)
    np.testing.assert_array_equal(unpool(output, indices, output_size=nine.size()).numpy(),
                                  [[[0.0, 2, 0, 4, 0, 6, 0, 8, 0]]])
    np.testing.assert_array_equal(unpool(output, indices).numpy(), [[[0.0, 2, 0, 4, 0, 6, 0, 8]]])

    pool = nn.MaxPool2d(2, stride=2, return_indices=True)
    unpool = nn.MaxUnpool2d(2, stride=2)
    output, indices = pool(nncheck.Tensor([[[[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12],
                                            [13, 14, 15, 16]]]]))
    np.testing.assert_array_equal(unpool(output, indices).numpy()[0, 0],
                                  [[0, 0, 0, 0], [0, 6, 0, 8], [0, 0, 0, 0], [0, 14, 0, 16]])
    np.testing.assert_array_equal(
        unpool(output, indices, output_size=nncheck.Size([1, 1, 5, 5])).numpy()[0, 0],
        [[0, 0, 0, 0, 0], [6, 0, 8, 0, 0], [0, 0, 0, 14, 0], [16, 0, 0, 0, 0], [0, 0, 0, 0, 0]])


# ---------------------------------------------------------------- shape rules and errors

def test_explain_names_the_formula():
    lines = []
    shapes = nn.MaxPool2d(3, 2, ceil_mode=True, return_indices=True).infer_shape(
        (1, 2, 6, 7), explain=lines)
    assert shapes == ((1, 2, 3, 3), (1, 2, 3, 3))
    assert lines[0] == ("H_out = ceil((H_in + 2*padding - dilation*(kernel_size-1) - 1)/stride)"
                        " + 1 = ceil((6 + 2*0 - 1*(3-1) - 1)/2) + 1 = 3")
    lines = []
    nn.MaxUnpool1d(2).infer_shape((1, 2, 4), (1, 2, 4), explain=lines)
    assert lines == [
        "L_out = (L_in - 1)*stride - 2*padding + kernel_size = (4 - 1)*2 - 2*0 + 2 = 8"]


@pytest.mark.parametrize("module,shape,match", [
    (nn.MaxPool2d(3, padding=2), (1, 1, 5, 5), "pad should be at most half of effective kernel"),
    (nn.AvgPool1d(4, padding=3), (1, 1, 9), "padding=3 and kernel_size=4"),
    (nn.MaxPool2d(3), (1, 1, 2, 2), "smaller than the effective kernel_size"),
    (nn.MaxPool3d(2), (1, 4, 4), "non-empty 4D or 5D"),
    (nn.MaxPool1d(2), (2, 0, 4), "non-zero sizes"),
    (nn.MaxPool2d(0), (1, 1, 4, 4), "kernel_size must be positive"),
    (nn.MaxPool2d(2, stride=0), (1, 1, 4, 4), "stride must be positive"),
    (nn.MaxPool2d(2, dilation=0), (1, 1, 4, 4), "dilation must be positive"),
    (nn.MaxPool2d((2, 2, 2)), (1, 1, 4, 4), "tuple of 2 ints"),
    (nn.AdaptiveAvgPool2d((-1, 2)), (1, 1, 4, 4), "must be >= 0"),
    (nn.AdaptiveMaxPool2d((1, 2, 3)), (1, 1, 4, 4), "must have 2 elements"),
    (nn.FractionalMaxPool2d(3, output_size=4), (1, 1, 5, 5), "too large relative to input"),
    (nn.FractionalMaxPool3d(2, output_size=3), (1, 1, 4, 4, 4), "too large relative to input"),
    (nn.LPPool2d(2, 5), (1, 1, 4, 4), "output would be 0"),
])
def test_bad_shapes(module, shape, match):
    with pytest.raises(ShapeError, match=match):
        module.infer_shape(shape)
    with pytest.raises(RuntimeError, match=match):
        module(nncheck.zeros(*shape))


def test_bad_unpool_inputs():
    values, indices = F.max_pool2d(nncheck.randn(1, 1, 4, 4), 2, return_indices=True)
    bad = indices.clone()
    bad._data[0, 0, 1, 1] = 16
    with pytest.raises(RuntimeError, match="invalid max index: 16 .* size 4x4"):
        F.max_unpool2d(values, bad, 2)
    bad._data[0, 0, 1, 1] = -1
    with pytest.raises(RuntimeError, match="invalid max index: -1"):
        F.max_unpool2d(values, bad, 2)
    with pytest.raises(RuntimeError, match="should be type int64"):
        F.max_unpool2d(values, indices.int(), 2)
    with pytest.raises(RuntimeError, match="indices of the input's shape"):
        F.max_unpool2d(values, indices.reshape(1, 1, 4), 2)
    with pytest.raises(ValueError, match="dim 0 must be between 2 and 6"):
        F.max_unpool2d(values, indices, 2, output_size=(7, 7))
    with pytest.raises(ValueError, match="2 or 4 elements"):
        F.max_unpool2d(values, indices, 2, output_size=(1, 4, 4))
    with pytest.raises(ShapeError, match="same shape"):
        nn.MaxUnpool2d(2).infer_shape((1, 1, 2, 2), (1, 1, 2, 3))


def test_bad_arguments():
    x = nncheck.randn(1, 2, 6, 6)
    with pytest.raises(RuntimeError, match="divisor_override must be non-zero"):
        F.avg_pool2d(x, 2, divisor_override=0)
    with pytest.raises(RuntimeError, match=r"_random_samples must have shape \(>= 1, 2, 2\)"):
        F.fractional_max_pool2d(x, 2, output_size=3, _random_samples=nncheck.rand(1, 2, 3))
    with pytest.raises(RuntimeError, match="dtype"):
        F.fractional_max_pool2d(x, 2, output_size=3,
                                _random_samples=nncheck.rand(1, 2, 2, dtype=nncheck.float64))
    with pytest.raises(RuntimeError, match=r"must lie in \[0, 1\)"):
        # float32 rounding of (i + u) * alpha for a huge u moves a window off the input
        F.fractional_max_pool2d(nncheck.randn(1, 2, 9, 9), 2, output_size=5,
                                _random_samples=nncheck.full((1, 2, 2), 3.3e7))
    with pytest.raises(ValueError, match="either an output size, or a pooling ratio"):
        nn.FractionalMaxPool2d(2)
    with pytest.raises(ValueError, match="output_ratio must be between 0 and 1"):
        nn.FractionalMaxPool3d(2, output_ratio=1.5)
    with pytest.raises(TypeError, match="kernel_size must contain ints"):
        F.max_pool2d(x, 2.5)
