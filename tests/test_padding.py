"""Padding layers and F.pad against PyTorch: values, gradients, dtypes, shape rules, errors."""

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
)

import nncheck
import nncheck.nn as nn
import nncheck.nn.functional as F
from nncheck._dtype import get_dtype
from nncheck.shapes import ShapeError

RNG = np.random.default_rng(0)
MODES = {"Reflection": "reflect", "Replication": "replicate", "Circular": "circular",
         "Zero": "constant", "Constant": "constant"}


def make(lib, kind, dims, padding, value=3.5):
    cls = getattr(lib.nn, f"{kind}Pad{dims}d")
    return cls(padding, value) if kind == "Constant" else cls(padding)


def sample(shape):
    return RNG.standard_normal(shape)


# every layer: batched and unbatched inputs, symmetric/asymmetric/negative padding
LAYER_CASES = [
    (kind, dims, padding, batched)
    for kind in MODES
    for dims, paddings in (
        (1, [2, (3, 1), (0, 2), (-1, 2)]),
        (2, [1, (1, 1, 2, 0), (2, 0, 0, 3), (-1, 2, 1, -2)]),
        (3, [1, (1, 0, 2, 1, 0, 2), (-1, 1, 0, 2, 1, -1)]),
    )
    for padding in paddings
    for batched in (True, False)
]


@pytest.mark.parametrize("kind,dims,padding,batched", LAYER_CASES)
def test_layer_matches_torch(kind, dims, padding, batched):
    shape = ((2,) if batched else ()) + (3,) + (4, 5, 6)[-dims:]
    ours, theirs = make(nncheck, kind, dims, padding), make(torch, kind, dims, padding)
    check_repr_and_keys(ours, theirs)
    compare_module(ours, theirs, sample(shape))
    check_shape_rule(ours, sample(shape))


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("pad,shape", [
    ((1, 2), (2, 3, 5)), ((2, 0, 1, 3), (2, 3, 4, 5)), ((1, 1, 2, 0, 0, 1), (1, 2, 3, 4, 5)),
    ((-2, 1), (3, 5)), ((2, -3, -1, 2), (3, 4, 5)), ((0, 0), (2, 3, 4)),
])
def test_functional_pad_matches_torch(mode, pad, shape):
    compare_function(F.pad, torch.nn.functional.pad, sample(shape), pad=pad, mode=mode)


@pytest.mark.parametrize("pad,shape", [
    ((1, 1, 2, 0, 0, 1, 1, 2), (2, 3, 4, 5)),  # more than 3 padded dims
    ((1, -1, 0, 2, -1, 1, 2, 0, 1, 1), (2, 3, 4, 2, 3)),
    ((2, 1), (4,)),
    ((-2, -2), (2, 4)),  # crops to an empty dimension
])
def test_constant_pad_any_rank(pad, shape):
    compare_function(F.pad, torch.nn.functional.pad, sample(shape), pad=pad, value=-1.25)


def test_reflect_replicate_accept_empty_padded_axis_like_torch():
    x = sample((1, 2, 3))
    compare_function(F.pad, torch.nn.functional.pad, x, pad=(-3, 0, 0, 0), mode="replicate")
    compare_function(F.pad, torch.nn.functional.pad, x, pad=(-3, 0, 1, 1), mode="reflect")


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int8, np.uint8, np.bool_, np.float16])
@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_other_dtypes_pad_bit_for_bit(dtype, mode):
    if dtype == np.bool_ and mode in ("reflect", "replicate"):
        pytest.skip("PyTorch has no reflection/replication pad for bool")
    x = (RNG.standard_normal((2, 3, 4)) * 10).astype(dtype)
    value = 2.7 if mode == "constant" else None
    expected = torch.nn.functional.pad(torch.from_numpy(x), (2, 1), mode=mode, value=value)
    got = F.pad(nncheck.from_numpy(x), (2, 1), mode=mode, value=value)
    assert got.dtype == get_dtype(dtype)
    np.testing.assert_array_equal(got.numpy(), expected.numpy())


def test_float32_and_float16_paths():
    x = sample((2, 3, 6, 5)).astype(np.float32)
    compare_module(nn.ReflectionPad2d((2, 1, 3, 0)), torch.nn.ReflectionPad2d((2, 1, 3, 0)), x,
                   rtol=1e-6, atol=1e-6)
    xh = nncheck.from_numpy(x.astype(np.float16)).requires_grad_()
    y = nn.ReplicationPad2d(2)(xh)
    y.sum().backward()
    xt = torch.from_numpy(x.astype(np.float16)).requires_grad_()
    torch.nn.ReplicationPad2d(2)(xt).sum().backward()
    assert y.dtype == nncheck.float16 and xh.grad.dtype == nncheck.float16
    assert_close(y, torch.nn.ReplicationPad2d(2)(xt), rtol=0, atol=0)
    assert_close(xh.grad, xt.grad, rtol=1e-3, atol=1e-3)


def test_nan_and_inf_values_are_copied():
    x = np.array([[[np.nan, 1.0, np.inf, -np.inf]]])
    got = F.pad(nncheck.from_numpy(x), (2, 2), mode="reflect").numpy()
    want = torch.nn.functional.pad(torch.from_numpy(x), (2, 2), mode="reflect").numpy()
    np.testing.assert_array_equal(got, want)


def test_gradcheck():
    for module, shape in ((nn.ReflectionPad2d((2, 1, 1, 2)), (1, 2, 3, 4)),
                          (nn.CircularPad1d((2, -1)), (2, 4)),
                          (nn.ConstantPad3d((1, 0, -1, 1, 0, 1), 0.5), (1, 2, 2, 3)),
                          (nn.ReplicationPad3d(1), (1, 1, 2, 2, 2))):
        x = nncheck.from_numpy(sample(shape)).requires_grad_()
        assert nncheck.gradcheck(module, (x,))


# ---------------------------------------------------------------- the seed's examples

def test_seed_reflection_and_replication_examples():
    seq = nncheck.arange(8).reshape(1, 2, 4)
    np.testing.assert_array_equal(nn.ReflectionPad1d(2)(seq).numpy(),
                                  [[[2, 1, 0, 1, 2, 3, 2, 1], [6, 5, 4, 5, 6, 7, 6, 5]]])
    np.testing.assert_array_equal(nn.ReflectionPad1d((3, 1))(seq).numpy(),
                                  [[[3, 2, 1, 0, 1, 2, 3, 2], [7, 6, 5, 4, 5, 6, 7, 6]]])
    img = nncheck.arange(9).reshape(1, 1, 3, 3)
    timg = torch.arange(9).reshape(1, 1, 3, 3)
    for ours, theirs in ((nn.ReflectionPad2d(2), torch.nn.ReflectionPad2d(2)),
                         (nn.ReflectionPad2d((1, 1, 2, 0)), torch.nn.ReflectionPad2d((1, 1, 2, 0))),
                         (nn.ReplicationPad2d(2), torch.nn.ReplicationPad2d(2)),
                         (nn.ReplicationPad2d((1, 1, 2, 0)),
                          torch.nn.ReplicationPad2d((1, 1, 2, 0)))):
        np.testing.assert_array_equal(ours(img).numpy(), theirs(timg).numpy())
    np.testing.assert_array_equal(nn.ReflectionPad2d(2)(img).numpy()[0, 0, 0],
                                  [8, 7, 6, 7, 8, 7, 6])  # the seed's first printed row


def test_seed_zero_pad_example():
    x = sample((1, 1, 3, 3))
    for padding in (2, (1, 1, 2, 0)):
        out = nn.ZeroPad2d(padding)(to_nncheck(x)).numpy()
        np.testing.assert_array_equal(out, torch.nn.ZeroPad2d(padding)(torch.from_numpy(x)))
    assert nn.ZeroPad2d(2)(to_nncheck(x)).shape == (1, 1, 7, 7)


# ---------------------------------------------------------------- shape rules

def test_explain_lists_each_padded_dim():
    lines = []
    shape = nn.ConstantPad2d((1, 2, 3, 4), 0.0).infer_shape((2, 3, 5, 6), explain=lines)
    assert shape == ((2, 3, 12, 9),)
    assert lines == ["dim 2 (constant): out = in + left + right = 5 + 3 + 4 = 12",
                     "dim 3 (constant): out = in + left + right = 6 + 1 + 2 = 9"]


@pytest.mark.parametrize("module,shape,match", [
    (nn.ReflectionPad1d(4), (1, 2, 4), "padding size should be less than"),
    (nn.ReflectionPad2d(3), (1, 3, 3), "dimension 2 of input"),
    (nn.ReflectionPad1d(1), (5,), "not supported for 1D input"),
    (nn.CircularPad2d(1), (3, 3), "expected 3D or 4D input"),
    (nn.CircularPad1d(5), (1, 2, 4), "wraps around"),
    (nn.ReplicationPad1d((-3, -1)), (1, 2, 4), "too small"),
    (nn.ZeroPad1d((-3, -2)), (1, 2, 4), "crops more than"),
    (nn.ReplicationPad2d(1), (2, 0, 4), "non-zero dimensions"),
])
def test_bad_shapes_raise_named_errors(module, shape, match):
    with pytest.raises(ShapeError, match=match):
        module.infer_shape(shape)
    with pytest.raises((RuntimeError, ValueError, NotImplementedError), match=match):
        module(nncheck.zeros(*shape))


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(pad=(1,)), RuntimeError, "divisible by 2"),
    (dict(pad=(1, 1, 1, 1, 1, 1, 1, 1)), RuntimeError, "two times the input dimension"),
    (dict(pad=(1, 1), mode="mirror"), NotImplementedError, "Unrecognised padding mode"),
    (dict(pad=(1, 1), mode="reflect", value=1.0), RuntimeError, "doesn't take in value"),
    (dict(pad=(1.5, 1)), TypeError, "must be a tuple of ints"),
    (dict(pad=(True, 1)), TypeError, "bool"),
    (dict(pad=(1, 1, 1, 1, 1, 1), mode="reflect"), NotImplementedError, "Padding size 6"),
])
def test_bad_pad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        F.pad(nncheck.zeros(2, 3, 4), **kwargs)


def test_circular_wrap_over_cropped_input_is_refused():
    # PyTorch reads uninitialised memory here; nncheck says why instead
    with pytest.raises(RuntimeError, match="left after cropping"):
        F.pad(nncheck.zeros(1, 1, 4), (4, -1), mode="circular")
