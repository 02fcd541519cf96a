"""scaled_dot_product_attention, MultiheadAttention and AdaptiveLogSoftmaxWithLoss vs PyTorch."""

import math

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

TF = torch.nn.functional
RNG = np.random.default_rng


def sdpa_pair(**kwargs):
    """Our SDPA and torch's with the same keyword arguments (masks given as numpy arrays)."""
    mask = kwargs.pop("attn_mask", None)

    def ours(*xs):
        m = None if mask is None else to_nncheck(mask)
        return F.scaled_dot_product_attention(*xs, attn_mask=m, **kwargs)

    def theirs(*xs):
        m = None if mask is None else to_torch(mask)
        return TF.scaled_dot_product_attention(*xs, attn_mask=m, **kwargs)

    return ours, theirs


def keep_mask(rng, shape, dead_row=False):
    """A boolean keep-mask; with dead_row one query attends to nothing (torch gives zeros)."""
    mask = rng.random(shape) > 0.4
    mask[..., 0] = True
    if dead_row:
        mask[..., 1, :] = False
    return mask


# ----------------------------------------------------------------------------- SDPA
SDPA_CASES = [
    # (query shape, key shape, value shape, kwargs)
    ((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7), {}),
    ((3, 4, 5), (3, 6, 5), (3, 6, 5), {"scale": 0.3}),
    ((4, 5), (6, 5), (6, 2), {}),
    ((2, 3, 4, 5), (2, 3, 4, 5), (2, 3, 4, 5), {"is_causal": True}),
    ((2, 7, 5), (2, 4, 5), (2, 4, 3), {"is_causal": True}),
    ((2, 3, 5), (2, 6, 5), (2, 6, 3), {"is_causal": True, "scale": 2.0}),
    ((3, 4, 5), (2, 3, 6, 5), (2, 1, 6, 3), {}),  # batch broadcasting
    ((2, 6, 4, 5), (2, 2, 6, 5), (2, 2, 6, 3), {"enable_gqa": True}),
    ((2, 4, 4, 5), (2, 1, 6, 5), (2, 1, 6, 3), {"enable_gqa": True, "is_causal": True}),
    ((2, 6, 4, 5), (2, 2, 6, 5), (2, 3, 6, 3), {"enable_gqa": True}),  # k and v heads differ
    ((2, 0, 5), (2, 3, 5), (2, 3, 4), {}), ((2, 4, 5), (2, 0, 5), (2, 0, 4), {}),  # empty
    ((2, 4, 5), (2, 3, 5), (2, 3, 0), {}),
]


@pytest.mark.parametrize("qs,ks,vs,kwargs", SDPA_CASES)
def test_sdpa_matches_torch(qs, ks, vs, kwargs):
    rng = RNG(0)
    compare_function(F.scaled_dot_product_attention, TF.scaled_dot_product_attention,
                     rng.standard_normal(qs), rng.standard_normal(ks), rng.standard_normal(vs),
                     **kwargs)


@pytest.mark.parametrize("mask_shape", [(4, 6), (6,), (2, 1, 4, 6), (2, 3, 1, 6), (1, 3, 4, 6)])
def test_sdpa_float_mask_and_its_gradient(mask_shape):
    """A float mask is added to the scores; as an input it gets dS summed over broadcasting."""
    rng = RNG(1)
    q, k, v = (rng.standard_normal(s) for s in ((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7)))
    compare_function(F.scaled_dot_product_attention, TF.scaled_dot_product_attention, q, k, v,
                     rng.standard_normal(mask_shape))


@pytest.mark.parametrize("mask_shape,dead_row", [((4, 6), False), ((2, 3, 4, 6), True),
                                                 ((2, 1, 1, 6), False), ((4, 6), True)])
def test_sdpa_bool_mask(mask_shape, dead_row):
    rng = RNG(2)
    q, k, v = (rng.standard_normal(s) for s in ((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7)))
    ours, theirs = sdpa_pair(attn_mask=keep_mask(rng, mask_shape, dead_row))
    compare_function(ours, theirs, q, k, v)


def test_sdpa_threaded_path_matches_torch():
    """Big enough for the OpenMP path (prange over slices, BLAS pinned); GQA backward too."""
    rng = RNG(3)
    q, k, v = (rng.standard_normal(s) for s in ((2, 8, 48, 32), (2, 4, 40, 32), (2, 4, 40, 16)))
    compare_function(F.scaled_dot_product_attention, TF.scaled_dot_product_attention, q, k, v,
                     rng.standard_normal((48, 40)), enable_gqa=True)


def test_sdpa_float32_and_float16():
    rng = RNG(4)
    q, k, v = (rng.standard_normal((2, 3, 4, 8)).astype(np.float32) for _ in range(3))
    ours, theirs = sdpa_pair(attn_mask=keep_mask(rng, (4, 4)))
    compare_function(ours, theirs, q, k, v, rtol=1e-4, atol=1e-5)
    half = F.scaled_dot_product_attention(*(to_nncheck(a.astype(np.float16)) for a in (q, k, v)))
    assert half.dtype == nncheck.float16
    ref = TF.scaled_dot_product_attention(*(torch.from_numpy(a) for a in (q, k, v)))
    assert_close(half.float(), ref, rtol=1e-2, atol=1e-2)


def test_sdpa_dropout_keeps_or_scales_each_weight():
    """With value = identity the output *is* the dropped-out weights: each one is 0 or P/(1-p)."""
    rng, p = RNG(5), 0.4
    q, k = rng.standard_normal((4, 30, 8)), rng.standard_normal((4, 30, 8))
    eye = np.broadcast_to(np.eye(30), (4, 30, 30)).copy()
    nncheck.manual_seed(0)
    out = F.scaled_dot_product_attention(to_nncheck(q), to_nncheck(k), to_nncheck(eye),
                                         dropout_p=p).numpy()
    probs = torch.softmax(torch.from_numpy(q) @ torch.from_numpy(k).mT / math.sqrt(8), -1)
    kept = out != 0
    np.testing.assert_allclose(out[kept], probs.numpy()[kept] / (1 - p), rtol=1e-12)
    assert abs((~kept).mean() - p) < 0.05
    zero = F.scaled_dot_product_attention(to_nncheck(q), to_nncheck(k), to_nncheck(eye),
                                          dropout_p=1.0)
    assert not zero.numpy().any()


def test_sdpa_gradcheck():
    rng = RNG(6)
    q, k, v = (to_nncheck(rng.standard_normal(s), True) for s in ((2, 4, 3, 2), (2, 2, 4, 2),
                                                                 (2, 2, 4, 3)))
    mask = to_nncheck(rng.standard_normal((3, 4)), True)
    assert nncheck.gradcheck(lambda *xs: F.scaled_dot_product_attention(*xs, enable_gqa=True),
                             (q, k, v, mask))
    assert nncheck.gradcheck(lambda *xs: F.scaled_dot_product_attention(*xs, is_causal=True),
                             (q, k[:, :1], v[:, :1]))
    nncheck.manual_seed(0)
    assert nncheck.gradcheck(lambda *xs: F.scaled_dot_product_attention(*xs, dropout_p=0.3),
                             (q, k[:, :1], v[:, :1]))


@pytest.mark.parametrize("shapes,kwargs,exc,match", [
    (((3,), (3,), (3,)), {}, RuntimeError, "at least 2 dimensional"),
    (((2, 4, 5), (2, 6, 4), (2, 6, 5)), {}, RuntimeError, "query's embedding size"),
    (((2, 4, 5), (2, 6, 5), (2, 5, 5)), {}, RuntimeError, "key has 6 positions"),
    (((2, 4, 5), (3, 6, 5), (3, 6, 5)), {}, RuntimeError, "do not broadcast"),
    (((2, 4, 5), (2, 6, 5), (2, 6, 5)), {"attn_mask": (5, 6)}, RuntimeError, "does not broad"),
    (((2, 4, 5), (2, 6, 5), (2, 6, 5)), {"attn_mask": (4, 6), "is_causal": True},
     RuntimeError, "Explicit attn_mask should not be set"),
    (((2, 4, 5), (2, 6, 5), (2, 6, 5)), {"dropout_p": 1.5}, RuntimeError, "between 0 and 1"),
    (((2, 6, 4, 5), (2, 4, 6, 5), (2, 4, 6, 5)), {"enable_gqa": True}, RuntimeError,
     "must divide the number of heads"),
])
def test_sdpa_bad_input(shapes, kwargs, exc, match):
    rng = RNG(7)
    xs = [to_nncheck(rng.standard_normal(s)) for s in shapes]
    if "attn_mask" in kwargs:
        kwargs = {**kwargs, "attn_mask": to_nncheck(rng.standard_normal(kwargs["attn_mask"]))}
    with pytest.raises(exc, match=match):
        F.scaled_dot_product_attention(*xs, **kwargs)


def test_sdpa_bad_dtypes():
    x = nncheck.randn(2, 4, 5)
    with pytest.raises(RuntimeError, match="same dtype"):
        F.scaled_dot_product_attention(x, x.double(), x)
    with pytest.raises(RuntimeError, match="attn_mask dtype to be bool or float"):
        F.scaled_dot_product_attention(x, x, x, attn_mask=nncheck.zeros(4, 4, dtype=nncheck.int64))


# ----------------------------------------------------------------------------- MHA
class _Call:
    """A module calling MultiheadAttention one particular way (same tensor for q/k/v, masks...).

    Built for both libraries so that compare_module checks the wrapped module's parameters.
    """

    @staticmethod
    def make(lib, mha, pattern, **kwargs):
        masks = {k: v for k, v in kwargs.items() if k.endswith("mask")}
        other = {k: v for k, v in kwargs.items() if not k.endswith("mask")}
        wrap = torch.from_numpy if lib is torch else nncheck.from_numpy

        class Call(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.m = mha

            def forward(self, *xs):
                q, k, v = (xs[0],) * 3 if pattern == "self" else (
                    (xs[0], xs[1], xs[1]) if pattern == "kv" else xs)
                return self.m(q, k, v, **{n: wrap(a.copy()) for n, a in masks.items()}, **other)

        return Call()


def mha_pair(*args, **kwargs):
    ours = nn.MultiheadAttention(*args, **kwargs).double()
    ref = torch.nn.MultiheadAttention(*args, **kwargs).double()
    check_repr_and_keys(ours, ref)
    return ours, ref


def compare_mha(ours, ref, inputs, pattern="qkv", grad=True, **kwargs):
    return compare_module(_Call.make(nncheck, ours, pattern, **kwargs),
                          _Call.make(torch, ref, pattern, **kwargs), *inputs, grad=grad)


MHA_CONFIGS = [
    {}, {"bias": False}, {"add_bias_kv": True}, {"add_zero_attn": True},
    {"add_bias_kv": True, "add_zero_attn": True}, {"kdim": 3, "vdim": 5},
    {"kdim": 3, "vdim": 5, "bias": False, "add_bias_kv": True}, {"batch_first": True},
]


@pytest.mark.parametrize("need_weights,average", [(True, True), (True, False), (False, True)])
@pytest.mark.parametrize("config", MHA_CONFIGS)
def test_mha_matches_torch(config, need_weights, average):
    ours, ref = mha_pair(4, 2, **config)
    rng = RNG(10)
    L, S, N = 3, 5, 2
    seq = (lambda n, e: (N, n, e)) if config.get("batch_first") else (lambda n, e: (n, N, e))
    q = rng.standard_normal(seq(L, 4))
    k = rng.standard_normal(seq(S, config.get("kdim", 4)))
    v = rng.standard_normal(seq(S, config.get("vdim", 4)))
    compare_mha(ours, ref, (q, k, v), need_weights=need_weights, average_attn_weights=average)
    if need_weights and average:
        check_shape_rule(ours, q, k, v)


@pytest.mark.parametrize("pattern", ["self", "kv"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_mha_packed_projection_paths(pattern, batch_first):
    """Self-attention (one GEMM) and key-is-value (two) take torch's packed paths."""
    ours, ref = mha_pair(6, 3, batch_first=batch_first)
    rng = RNG(11)
    shape = (lambda n: (2, n, 6)) if batch_first else (lambda n: (n, 2, 6))
    inputs = [rng.standard_normal(shape(4))] + ([rng.standard_normal(shape(5))]
                                                if pattern == "kv" else [])
    compare_mha(ours, ref, inputs, pattern=pattern)


def test_mha_unbatched():
    rng = RNG(12)
    for config in ({}, {"add_bias_kv": True, "add_zero_attn": True, "kdim": 3}):
        ours, ref = mha_pair(4, 2, **config)
        q, k, v = (rng.standard_normal((n, e)) for n, e in ((3, 4), (5, config.get("kdim", 4)),
                                                             (5, 4)))
        compare_mha(ours, ref, (q, k, v), key_padding_mask=np.array([0, 0, 1, 0, 1], bool),
                    attn_mask=keep_mask(rng, (2, 3, 5)))
        check_shape_rule(ours, q, k, v)


MASK_CASES = [
    # (key_padding_mask kind, attn_mask kind, extra kwargs)
    ("bool", None, {}), ("float", None, {}), (None, "bool2d", {}), (None, "float3d", {}),
    ("bool", "bool2d", {}), ("float", "float2d", {}), (None, "causal", {"is_causal": True}),
    ("bool", "causal", {"is_causal": True}),
]


def make_masks(rng, kpm, attn, N=2, H=2, L=4, S=4):
    masks = {}
    if kpm is not None:
        padded = np.zeros((N, S), bool)
        padded[0, -1] = padded[1, 1] = True
        masks["key_padding_mask"] = padded if kpm == "bool" else np.where(padded, -1e9, 0.5)
    if attn == "bool2d":
        masks["attn_mask"] = ~keep_mask(rng, (L, S))
    elif attn in ("float2d", "float3d"):
        masks["attn_mask"] = rng.standard_normal((L, S) if attn == "float2d" else (N * H, L, S))
    elif attn == "causal":
        masks["attn_mask"] = np.triu(np.full((L, S), -np.inf), 1)
    return masks


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("kpm,attn,extra", MASK_CASES)
def test_mha_masks(kpm, attn, extra, need_weights):
    ours, ref = mha_pair(4, 2, add_zero_attn=kpm == "float")
    rng = RNG(13)
    x, y = rng.standard_normal((4, 2, 4)), rng.standard_normal((4, 2, 4))
    compare_mha(ours, ref, (x, y), pattern="kv", need_weights=need_weights,
                **make_masks(rng, kpm, attn), **extra)


@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_fully_padded_sequence(need_weights):
    """Nothing to attend to: NaN through the need_weights softmax, zeros through SDPA (torch)."""
    ours, ref = mha_pair(4, 2)
    rng = RNG(14)
    padded = np.zeros((2, 5), bool)
    padded[1] = True
    compare_mha(ours, ref, (rng.standard_normal((3, 2, 4)), rng.standard_normal((5, 2, 4))),
                pattern="kv", grad=False, key_padding_mask=padded, need_weights=need_weights)


def test_mha_eval_mode_and_torch_fast_path():
    """Eval switches attention dropout off; under no_grad torch takes its fused path."""
    ours, ref = mha_pair(8, 2, dropout=0.5, batch_first=True)
    ours.eval(), ref.eval()
    x = RNG(15).standard_normal((2, 5, 8))
    compare_mha(ours, ref, (x,), pattern="self")
    with torch.no_grad(), nncheck.no_grad():
        a = ours(*(to_nncheck(x),) * 3)[0]
        b = ref(*(to_torch(x),) * 3)[0]
    assert_close(a, b)


@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_training_dropout(need_weights):
    """Training dropout: weights each 0 or P/(1-p) of the eval-mode weights; gradcheck holds."""
    nncheck.manual_seed(0)
    m = nn.MultiheadAttention(4, 1, dropout=0.5).double()
    x = to_nncheck(RNG(16).standard_normal((40, 2, 4)))
    _, dropped = m(x, x, x)
    m.eval()
    _, full = m(x, x, x)
    d, f = dropped.detach().numpy(), full.detach().numpy()
    np.testing.assert_allclose(d[d != 0], f[d != 0] * 2, rtol=1e-12)
    assert abs((d == 0).mean() - 0.5) < 0.05
    m.train()
    small = to_nncheck(RNG(17).standard_normal((3, 2, 4)), True)
    assert nncheck.gradcheck(lambda q: m(q, q, q, need_weights=need_weights)[0], (small,))


@pytest.mark.parametrize("separate", [False, True])
def test_multi_head_attention_forward_static_kv(separate):
    """The functional form with static_k/static_v (and separate projection weights): every
    weight is an input here, so its gradient is compared too."""
    rng = RNG(23)
    E, H, L, S, N = 4, 2, 3, 5, 2
    arrays = [rng.standard_normal(s) for s in ((L, N, E), (S, N, E), (S, N, E), (3 * E, E),
                                               (3 * E,), (E, E), (E,), (N * H, S + 1, E // H),
                                               (N * H, S + 1, E // H))]

    def call(lib):
        fn = lib.nn.functional.multi_head_attention_forward

        def run(q, k, v, w, b, ow, ob, sk, sv):
            extra = {"use_separate_proj_weight": True, "q_proj_weight": w[:E],
                     "k_proj_weight": w[E:2 * E], "v_proj_weight": w[2 * E:]} if separate else {}
            return fn(q, k, v, E, H, None if separate else w, b, None, None, False, 0.0, ow, ob,
                      static_k=sk, static_v=sv, average_attn_weights=False, **extra)
        return run

    compare_function(call(nncheck), call(torch), *arrays)


def test_mha_gradcheck_and_float32():
    nncheck.manual_seed(0)
    m = nn.MultiheadAttention(4, 2, add_bias_kv=True, add_zero_attn=True, kdim=3, vdim=2).double()
    rng = RNG(18)
    q, k, v = (to_nncheck(rng.standard_normal(s), True) for s in ((2, 2, 4), (3, 2, 3), (3, 2, 2)))
    assert nncheck.gradcheck(m, (q, k, v))
    ours, ref = nn.MultiheadAttention(8, 4), torch.nn.MultiheadAttention(8, 4)
    x = rng.standard_normal((5, 3, 8)).astype(np.float32)
    compare_module(_Call.make(nncheck, ours, "self"), _Call.make(torch, ref, "self"), x,
                   rtol=1e-4, atol=1e-5)


def test_mha_init():
    nncheck.manual_seed(0)
    m = nn.MultiheadAttention(64, 4, add_bias_kv=True)
    bound = math.sqrt(6 / (64 + 3 * 64))
    w = m.in_proj_weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert not m.in_proj_bias.detach().numpy().any() and not m.out_proj.bias.detach().numpy().any()
    assert type(m.out_proj).__name__ == "NonDynamicallyQuantizableLinear"
    assert isinstance(m.out_proj, nn.Linear)
    sep = nn.MultiheadAttention(6, 2, kdim=4, vdim=5)
    assert sep.in_proj_weight is None and tuple(sep.k_proj_weight.shape) == (6, 4)


@pytest.mark.parametrize("args,exc,match", [
    ((5, 2), AssertionError, "embed_dim must be divisible by num_heads"),
    ((0, 2), ValueError, "must be greater than 0"),
    ((4, -1), ValueError, "must be greater than 0"),
])
def test_mha_bad_construction(args, exc, match):
    with pytest.raises(exc, match=match):
        nn.MultiheadAttention(*args)
    with pytest.raises(ValueError):  # the CLI reports these as bad input
        nn.MultiheadAttention(*args)


@pytest.mark.parametrize("shapes,kwargs,exc,match", [
    (((2, 3, 2, 4),) * 3, {}, AssertionError, "query should be unbatched 2D or batched 3D"),
    (((3, 2, 4), (5, 4), (5, 4)), {}, AssertionError, "expected `key` and `value` to be 3-D"),
    (((3, 2, 4), (5, 2, 4), (4, 2, 4)), {}, AssertionError, "does not match value shape"),
    (((3, 2, 5), (5, 2, 5), (5, 2, 5)), {}, AssertionError, "expecting embedding dimension"),
    (((3, 2, 4), (5, 2, 3), (5, 2, 3)), {}, AssertionError, "key and value have 3 features"),
    (((3, 2, 4),) * 3, {"attn_mask": (4, 3)}, RuntimeError, "2D attn_mask is \\(4, 3\\)"),
    (((3, 2, 4),) * 3, {"attn_mask": (2, 3, 3)}, RuntimeError, "should be \\(4, 3, 3\\)"),
    (((3, 2, 4),) * 3, {"attn_mask": (3,)}, AssertionError, "2-D or 3-D"),
    (((3, 2, 4),) * 3, {"key_padding_mask": (2, 4)}, RuntimeError, "key_padding_mask of shape"),
    (((3, 2, 4),) * 3, {"key_padding_mask": (3,)}, AssertionError, "`key_padding_mask` to be"),
    (((3, 2, 4),) * 3, {"is_causal": True}, RuntimeError, "Need attn_mask"),
])
def test_mha_bad_input(shapes, kwargs, exc, match):
    m = nn.MultiheadAttention(4, 2)
    rng = RNG(19)
    xs = [to_nncheck(rng.standard_normal(s).astype(np.float32)) for s in shapes]
    kwargs = {k: to_nncheck(rng.standard_normal(v).astype(np.float32)) if isinstance(v, tuple)
              else v for k, v in kwargs.items()}
    with pytest.raises(exc, match=match):
        m(*xs, **kwargs)


def test_mha_mask_dtype_errors():
    m, x = nn.MultiheadAttention(4, 2), nncheck.randn(3, 2, 4)
    with pytest.raises(AssertionError, match="only bool and floating types of attn_mask"):
        m(x, x, x, attn_mask=nncheck.zeros(3, 3, dtype=nncheck.int64))


@pytest.mark.parametrize("shapes,match", [
    (((3, 2, 5),), "query has 5 features"), (((3, 2, 4), (5, 3, 4)), "share the batch size"),
    (((2, 3, 2, 4),), "3-D \\(batched\\) or 2-D"), (((3, 2, 4), (5, 2, 4), (4, 2, 4)),
                                                     "same sequence length"),
])
def test_mha_shape_rule_errors(shapes, match):
    with pytest.raises(ShapeError, match=match):
        nn.MultiheadAttention(4, 2).infer_shape(*shapes)


def test_mha_shape_rule_explains():
    explain = []
    m = nn.MultiheadAttention(4, 2, add_zero_attn=True, batch_first=True)
    assert m.infer_shape((2, 3, 4), (2, 5, 4), explain=explain) == ((2, 3, 4), (2, 3, 6))
    assert "head_dim 2" in explain[0] and "add_zero_attn" in explain[0]


# ----------------------------------------------------------------------------- adaptive softmax
def adaptive_pair(*args, **kwargs):
    ours = nn.AdaptiveLogSoftmaxWithLoss(*args, **kwargs).double()
    ref = torch.nn.AdaptiveLogSoftmaxWithLoss(*args, **kwargs).double()
    check_repr_and_keys(ours, ref)
    return ours, ref


@pytest.mark.parametrize("args,kwargs,targets", [
    ((8, 10, [4, 8]), {"div_value": 2.0}, [0, 5, 9, 3, 8, 1, 6]),
    ((8, 10, [4, 8]), {"div_value": 2.0, "head_bias": True}, [0, 1, 2, 3, 0, 1, 2]),
    ((6, 12, [2, 5, 9]), {"div_value": 1.5}, [11, 2, 6, 10, 4, 0, 9]),
    ((5, 7, (3,)), {}, [6, 3, 4, 3, 5, 6, 4]),
])
def test_adaptive_log_softmax_matches_torch(args, kwargs, targets):
    ours, ref = adaptive_pair(*args, **kwargs)
    rng = RNG(20)
    x, t = rng.standard_normal((len(targets), args[0])), np.array(targets)
    compare_module(ours, ref, x, t, grad_inputs=(0,))
    check_shape_rule(ours, x, t)
    compare_module(ours, ref, x[0], t[0], grad_inputs=(0,))
    assert_close(ours.log_prob(to_nncheck(x)), ref.log_prob(to_torch(x)))
    assert_close(ours.predict(to_nncheck(x)), ref.predict(to_torch(x)))


@pytest.mark.parametrize("cluster_bias", [-50.0, 50.0, 0.0])
def test_adaptive_predict_shortlist_clusters_and_mixed(cluster_bias):
    ours, ref = adaptive_pair(8, 10, [4, 8], div_value=2.0, head_bias=True)
    with torch.no_grad():
        ref.head.bias[4:] = cluster_bias
    ours.load_state_dict({k: to_nncheck(v) for k, v in ref.state_dict().items()})
    x = RNG(21).standard_normal((12, 8))
    assert_close(ours.predict(to_nncheck(x)), ref.predict(to_torch(x)))


def test_adaptive_gradcheck_and_float32():
    nncheck.manual_seed(0)
    m = nn.AdaptiveLogSoftmaxWithLoss(6, 9, [3, 6], div_value=2.0, head_bias=True).double()
    rng = RNG(22)
    x, t = to_nncheck(rng.standard_normal((5, 6)), True), nncheck.tensor([0, 4, 8, 2, 7])
    assert nncheck.gradcheck(lambda a: m(a, t), (x,))
    ours = nn.AdaptiveLogSoftmaxWithLoss(6, 9, [3, 6], div_value=2.0)
    ref = torch.nn.AdaptiveLogSoftmaxWithLoss(6, 9, [3, 6], div_value=2.0)
    compare_module(ours, ref, rng.standard_normal((5, 6)).astype(np.float32),
                   np.array([0, 4, 8, 2, 7]), grad_inputs=(0,), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cutoffs", [[], [5, 3], [0, 4], [4, 10], [3, 3]])
def test_adaptive_bad_cutoffs(cutoffs):
    with pytest.raises(ValueError, match="cutoffs should be"):
        nn.AdaptiveLogSoftmaxWithLoss(8, 10, cutoffs)


@pytest.mark.parametrize("x_shape,target,match", [
    ((3, 8), [0, 1], "same size in the batch dimension"),
    ((3, 8), [0, 1, 10], "Target values should be in \\[0, 9\\]"),
    ((3, 8), [0, -1, 2], "Target values should be in"),
    ((2, 3, 8), [0, 1], "1D target tensor expects 2D input"),
    ((8,), [[0]], "multi-target not supported"),
    ((3, 7), [0, 1, 2], "input has 7 features"),
])
def test_adaptive_bad_input(x_shape, target, match):
    m = nn.AdaptiveLogSoftmaxWithLoss(8, 10, [4, 8], div_value=2.0)
    with pytest.raises(RuntimeError, match=match):
        m(nncheck.randn(*x_shape), nncheck.tensor(target))


@pytest.mark.parametrize("shapes,match", [
    (((3, 8), (2,)), "batch sizes differ"), (((3, 7), (3,)), "input has 7 features"),
    (((2, 3, 8), (2,)), "expected input \\(N, in_features\\)"), (((3, 8),), "takes input and"),
])
def test_adaptive_shape_rule_errors(shapes, match):
    with pytest.raises(ShapeError, match=match):
        nn.AdaptiveLogSoftmaxWithLoss(8, 10, [4, 8], div_value=2.0).infer_shape(*shapes)
