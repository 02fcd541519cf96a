"""Transformer encoder/decoder layers, stacks and the full Transformer vs PyTorch."""

import numpy as np
import pytest
import torch
from reference import (
    check_repr_and_keys,
    check_shape_rule,
    compare_module,
    load_torch_weights,
    to_nncheck,
    to_torch,
)

import nncheck
import nncheck.nn as nn
import nncheck.nn.functional as F
from nncheck.shapes import ShapeError

RNG = np.random.default_rng
# torch and nncheck both warn when a bool padding mask meets a float attention mask
# (and torch's encoder warns that it cannot use its nested-tensor fast path)
pytestmark = [pytest.mark.filterwarnings("ignore:Support for mismatched"),
              pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")]
D, H, FF = 8, 2, 16  # d_model, nhead, dim_feedforward of every small case


def activation_pair(name):
    """The same activation for both libraries: a name, a function, or a module instance."""
    return {"relu": ("relu", "relu"), "gelu": ("gelu", "gelu"),
            "F.gelu": (F.gelu, torch.nn.functional.gelu),
            "F.silu": (F.silu, torch.nn.functional.silu),
            "GELU()": (nn.GELU(), torch.nn.GELU())}[name]


def layer_pair(cls, *args, activation="relu", **kwargs):
    ours_act, ref_act = activation_pair(activation)
    ours = getattr(nn, cls)(*args, activation=ours_act, **kwargs).double()
    ref = getattr(torch.nn, cls)(*args, activation=ref_act, **kwargs).double()
    check_repr_and_keys(ours, ref)
    return ours, ref


class _Call:
    """Calls a transformer module with fixed keyword masks, in either library."""

    @staticmethod
    def make(lib, module, **kwargs):
        wrap = torch.from_numpy if lib is torch else nncheck.from_numpy

        class Call(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.m = module

            def forward(self, *xs):
                return self.m(*xs, **{k: wrap(v.copy()) if isinstance(v, np.ndarray) else v
                                      for k, v in kwargs.items()})

        return Call()


def compare_call(ours, ref, inputs, **kwargs):
    return compare_module(_Call.make(nncheck, ours, **kwargs), _Call.make(torch, ref, **kwargs),
                          *inputs)


def seq(n, batch_first, unbatched=False, N=2):
    return (n, D) if unbatched else ((N, n, D) if batch_first else (n, N, D))


def causal(n):
    return np.triu(np.full((n, n), -np.inf), 1)


def padding(n, N=2):
    mask = np.zeros((N, n), bool)
    mask[0, -1] = mask[-1, 1] = True
    return mask


# ----------------------------------------------------------------------------- encoder layer
ENCODER_CASES = [
    ({}, "relu"), ({"norm_first": True}, "gelu"), ({"batch_first": True}, "F.gelu"),
    ({"bias": False, "layer_norm_eps": 1e-3}, "GELU()"), ({"norm_first": True}, "F.silu"),
]


@pytest.mark.parametrize("kwargs,activation", ENCODER_CASES)
def test_encoder_layer_matches_torch(kwargs, activation):
    ours, ref = layer_pair("TransformerEncoderLayer", D, H, FF, 0.0, activation=activation,
                           **kwargs)
    x = RNG(0).standard_normal(seq(5, kwargs.get("batch_first", False)))
    compare_module(ours, ref, x)
    check_shape_rule(ours, x)


@pytest.mark.parametrize("masks", [
    {"src_mask": causal(5)}, {"src_mask": causal(5), "is_causal": True},
    {"src_key_padding_mask": padding(5)}, {"src_mask": causal(5) > -1,
                                           "src_key_padding_mask": padding(5)},
    {"src_mask": RNG(1).standard_normal((2 * H, 5, 5))},
])
@pytest.mark.parametrize("batch_first", [False, True])
def test_encoder_layer_masks(masks, batch_first):
    ours, ref = layer_pair("TransformerEncoderLayer", D, H, FF, 0.0, batch_first=batch_first)
    if "src_mask" in masks and masks["src_mask"].dtype == bool:
        masks = {**masks, "src_mask": ~masks["src_mask"]}  # True = not allowed to attend
    compare_call(ours, ref, [RNG(2).standard_normal(seq(5, batch_first))], **masks)


def test_encoder_layer_unbatched():
    ours, ref = layer_pair("TransformerEncoderLayer", D, H, FF, 0.0, norm_first=True)
    x = RNG(3).standard_normal(seq(5, False, unbatched=True))
    compare_call(ours, ref, [x], src_mask=causal(5), src_key_padding_mask=padding(5, 1)[0])
    check_shape_rule(ours, x)


# ----------------------------------------------------------------------------- decoder layer
@pytest.mark.parametrize("kwargs,activation", ENCODER_CASES)
def test_decoder_layer_matches_torch(kwargs, activation):
    ours, ref = layer_pair("TransformerDecoderLayer", D, H, FF, 0.0, activation=activation,
                           **kwargs)
    bf = kwargs.get("batch_first", False)
    rng = RNG(4)
    tgt, memory = rng.standard_normal(seq(5, bf)), rng.standard_normal(seq(6, bf))
    compare_module(ours, ref, tgt, memory)
    check_shape_rule(ours, tgt, memory)


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_masks(norm_first):
    ours, ref = layer_pair("TransformerDecoderLayer", D, H, FF, 0.0, norm_first=norm_first)
    rng = RNG(5)
    masks = {"tgt_mask": causal(5), "memory_mask": rng.standard_normal((5, 6)),
             "tgt_key_padding_mask": padding(5), "memory_key_padding_mask": padding(6),
             "tgt_is_causal": True}
    compare_call(ours, ref, [rng.standard_normal(seq(5, False)), rng.standard_normal(
        seq(6, False))], **masks)
    tgt, mem = rng.standard_normal((5, D)), rng.standard_normal((6, D))
    compare_call(ours, ref, [tgt, mem], tgt_mask=causal(5),
                 memory_key_padding_mask=padding(6, 1)[0])


# ----------------------------------------------------------------------------- stacks
def stack_pair(kind, num_layers, with_norm, **kwargs):
    layer_cls = f"Transformer{kind}Layer"
    ours_layer = getattr(nn, layer_cls)(D, H, FF, 0.0, **kwargs).double()
    ref_layer = getattr(torch.nn, layer_cls)(D, H, FF, 0.0, **kwargs).double()
    ours = getattr(nn, f"Transformer{kind}")(
        ours_layer, num_layers, nn.LayerNorm(D).double() if with_norm else None)
    ref = getattr(torch.nn, f"Transformer{kind}")(
        ref_layer, num_layers, torch.nn.LayerNorm(D).double() if with_norm else None,
        **({"enable_nested_tensor": False} if kind == "Encoder" else {}))
    assert list(ours.state_dict()) == list(ref.state_dict())
    if num_layers == 1:
        check_repr_and_keys(ours, ref)
    return ours, ref


@pytest.mark.parametrize("num_layers,with_norm,masks", [
    (1, True, {}), (2, False, {"mask": causal(5)}),
    (2, True, {"mask": causal(5), "is_causal": None}),
    (2, True, {"src_key_padding_mask": padding(5), "mask": ~(causal(5) > -1)}),
])
def test_encoder_stack(num_layers, with_norm, masks):
    ours, ref = stack_pair("Encoder", num_layers, with_norm, norm_first=with_norm)
    x = RNG(6).standard_normal(seq(5, False))
    compare_call(ours, ref, [x], **masks)
    check_shape_rule(ours, x)


@pytest.mark.parametrize("num_layers,with_norm", [(1, True), (2, False)])
def test_decoder_stack(num_layers, with_norm):
    ours, ref = stack_pair("Decoder", num_layers, with_norm, batch_first=True)
    rng = RNG(7)
    tgt, mem = rng.standard_normal(seq(5, True)), rng.standard_normal(seq(4, True))
    compare_call(ours, ref, [tgt, mem], tgt_mask=causal(5), tgt_is_causal=None,
                 memory_key_padding_mask=padding(4))
    check_shape_rule(ours, tgt, mem)


def test_causal_mask_detection():
    """With is_causal=None a stack recognises the square causal mask, as torch does."""
    from torch.nn.modules.transformer import _detect_is_causal_mask as torch_detect

    from nncheck.nn.modules.transformer import _detect_is_causal_mask

    for mask, size, flag in [(causal(4), None, None), (causal(4), 5, None),
                             (np.zeros((4, 4)), None, None), (None, None, True),
                             (causal(4), None, False)]:
        ours = _detect_is_causal_mask(None if mask is None else to_nncheck(mask), flag, size)
        ref = torch_detect(None if mask is None else to_torch(mask), flag, size)
        assert ours == ref


# ----------------------------------------------------------------------------- Transformer
@pytest.mark.parametrize("kwargs", [{}, {"batch_first": True, "norm_first": True},
                                    {"activation": "gelu", "bias": False}])
def test_transformer_matches_torch(kwargs):
    ours = nn.Transformer(D, H, 1, 2, FF, 0.0, **kwargs).double()
    ref = torch.nn.Transformer(D, H, 1, 2, FF, 0.0, **kwargs).double()
    assert list(ours.state_dict()) == list(ref.state_dict())
    bf = kwargs.get("batch_first", False)
    rng = RNG(8)
    src, tgt = rng.standard_normal(seq(6, bf)), rng.standard_normal(seq(5, bf))
    masks = {"tgt_mask": causal(5), "src_key_padding_mask": padding(6),
             "memory_key_padding_mask": padding(6), "tgt_key_padding_mask": padding(5),
             "memory_mask": rng.standard_normal((5, 6))}
    compare_call(ours, ref, [src, tgt], **masks)
    check_shape_rule(ours, src, tgt)


def test_transformer_repr_init_and_mask():
    ours, ref = nn.Transformer(D, H, 1, 1, FF), torch.nn.Transformer(D, H, 1, 1, FF)
    check_repr_and_keys(ours, ref)
    for name, p in ours.named_parameters():
        if p.dim() > 1:  # xavier_uniform_ everywhere a matrix is
            fan_out, fan_in = p.shape[0], int(np.prod(p.shape[1:]))
            bound = np.sqrt(6 / (fan_in + fan_out))
            assert np.abs(p.detach().numpy()).max() <= bound, name
    mask = nn.Transformer.generate_square_subsequent_mask(4)
    assert mask.dtype == nncheck.float32
    np.testing.assert_array_equal(mask.numpy(),
                                  torch.nn.Transformer.generate_square_subsequent_mask(4))
    assert nn.Transformer.generate_square_subsequent_mask(3, dtype=nncheck.float64).dtype \
        == nncheck.float64


def test_eval_mode_switches_dropout_off():
    ours, ref = layer_pair("TransformerDecoderLayer", D, H, FF, 0.3)
    ours.eval(), ref.eval()
    rng = RNG(9)
    compare_module(ours, ref, rng.standard_normal(seq(5, False)), rng.standard_normal(
        seq(6, False)))
    enc, enc_ref = layer_pair("TransformerEncoderLayer", D, H, FF, 0.3, batch_first=True)
    enc.eval(), enc_ref.eval()
    x = rng.standard_normal(seq(5, True))
    compare_module(enc, enc_ref, x)
    with torch.no_grad(), nncheck.no_grad():  # torch's fused inference path: same function
        load_torch_weights(enc, enc_ref)
        np.testing.assert_allclose(enc(to_nncheck(x)).numpy(), enc_ref(to_torch(x)).numpy(),
                                   rtol=1e-9, atol=1e-11)


def test_gradcheck_tiny_layers():
    nncheck.manual_seed(0)
    rng = RNG(10)
    enc = nn.TransformerEncoderLayer(4, 2, 6, dropout=0.2, norm_first=True).double()
    x = to_nncheck(rng.standard_normal((3, 2, 4)), True)
    assert nncheck.gradcheck(enc, (x,))  # training dropout: the checker replays the masks
    dec = nn.TransformerDecoderLayer(4, 2, 6, 0.0, activation="gelu").double()
    mem = to_nncheck(rng.standard_normal((2, 2, 4)), True)
    assert nncheck.gradcheck(dec, (x, mem))


def test_float32_path():
    ours, ref = layer_pair("TransformerEncoderLayer", D, H, FF, 0.0)
    ours, ref = ours.float(), ref.float()
    x = RNG(11).standard_normal(seq(5, False)).astype(np.float32)
    compare_module(ours, ref, x, rtol=1e-4, atol=1e-5)


def test_training_dropout_runs_and_differs_from_eval():
    nncheck.manual_seed(0)
    m = nn.TransformerEncoderLayer(D, H, FF, dropout=0.5)
    x = nncheck.randn(5, 2, D)
    train_out = m(x)
    m.eval()
    assert train_out.shape == m(x).shape
    assert not np.allclose(train_out.detach().numpy(), m(x).detach().numpy())


@pytest.mark.parametrize("build,call,exc,match", [
    (lambda: nn.TransformerEncoderLayer(6, 4), None, AssertionError, "divisible by num_heads"),
    (lambda: nn.TransformerEncoderLayer(8, 2, activation="tanh"), None, RuntimeError,
     "activation should be relu/gelu, not tanh"),
    (lambda: nn.Transformer(8, 2, 1, 1, 16), lambda m: m(nncheck.randn(5, 2, 8),
                                                         nncheck.randn(4, 3, 8)),
     RuntimeError, "batch number of src and tgt must be equal"),
    (lambda: nn.Transformer(8, 2, 1, 1, 16), lambda m: m(nncheck.randn(5, 2, 8),
                                                         nncheck.randn(4, 2, 6)),
     RuntimeError, "feature number of src and tgt must be equal to d_model=8"),
    (lambda: nn.TransformerEncoderLayer(8, 2, 16), lambda m: m(nncheck.randn(5, 2, 6)),
     AssertionError, "expecting embedding dimension of 8, but got 6"),
    (lambda: nn.TransformerEncoderLayer(8, 2, 16), lambda m: m(nncheck.randn(5, 2, 8),
                                                               src_mask=nncheck.zeros(4, 5)),
     RuntimeError, "2D attn_mask is \\(4, 5\\), but should be \\(5, 5\\)"),
])
def test_bad_input(build, call, exc, match):
    with pytest.raises(exc, match=match):
        module = build()
        call(module)


@pytest.mark.parametrize("module,shapes,match", [
    (lambda: nn.TransformerEncoderLayer(8, 2, 16), [(5, 2, 6)], "src has 6 features"),
    (lambda: nn.TransformerEncoderLayer(8, 2, 16), [(4, 5, 2, 8)], "3-D \\(batched\\) or 2-D"),
    (lambda: nn.TransformerDecoderLayer(8, 2, 16), [(5, 2, 8), (6, 3, 8)],
     "batch number of tgt and memory"),
    (lambda: nn.TransformerDecoderLayer(8, 2, 16), [(5, 2, 8)], "takes tgt, memory"),
    (lambda: nn.Transformer(8, 2, 1, 1, 16), [(5, 2, 8), (4, 8)], "must both be batched"),
])
def test_shape_rule_errors(module, shapes, match):
    with pytest.raises(ShapeError, match=match):
        module().infer_shape(*shapes)


def test_shape_rule_explains():
    explain = []
    assert nn.Transformer(8, 2, 1, 1, 16).infer_shape((6, 2, 8), (5, 2, 8), explain=explain) \
        == ((5, 2, 8),)
    assert "memory = src shape [6, 2, 8]" in explain[0]


# ----------------------------------------------------------------------------- masks in shape rules
def _mask_shapes(kind, S, T, N, three_d):
    """forward's optional masks in its positional order, for src length S and tgt length T
    (N None: unbatched); ``three_d``: attention masks per head, (N*H, L, S)."""
    def attn(L, K):
        return (((N or 1) * H, L, K) if three_d else (L, K))

    def pad(K):
        return (K,) if N is None else (N, K)

    if kind == "Encoder":
        return [attn(S, S), pad(S)]
    decoder = [attn(T, T), attn(T, S), pad(T), pad(S)]
    if kind == "Decoder":
        return decoder
    return [attn(S, S), *decoder[:2], pad(S), *decoder[2:]]


def _mask_modules():
    """(kind, nncheck module, PyTorch module) for every transformer module with masks."""
    def pair(name, *args, **kwargs):
        return getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)

    def stack(kind):
        ours, ref = pair(f"Transformer{kind}Layer", D, H, FF, 0.0)
        extra = {"enable_nested_tensor": False} if kind == "Encoder" else {}
        return (getattr(nn, f"Transformer{kind}")(ours, 2),
                getattr(torch.nn, f"Transformer{kind}")(ref, 2, **extra))

    return [("Encoder", *pair("TransformerEncoderLayer", D, H, FF, 0.0)),
            ("Decoder", *pair("TransformerDecoderLayer", D, H, FF, 0.0)),
            ("Encoder", *stack("Encoder")), ("Decoder", *stack("Decoder")),
            ("Transformer", *pair("Transformer", D, H, 1, 1, FF, 0.0))]


@pytest.mark.parametrize("N", [2, None], ids=["batched", "unbatched"])
def test_shape_rules_take_every_mask_forward_takes(N):
    S, T = 5, 4
    for kind, ours, ref in _mask_modules():
        sequences = [(S, N, D) if N else (S, D)]
        if kind != "Encoder":
            sequences = [(S, N, D), (T, N, D)] if N else [(S, D), (T, D)]
            if kind == "Decoder":  # tgt first, then memory
                sequences = sequences[::-1]
        for three_d in (False, True):
            masks = _mask_shapes(kind, S, T, N, three_d)
            for k in range(len(masks) + 1):  # every count the CLI's arity check accepts
                shapes = sequences + masks[:k]
                with torch.no_grad():
                    want = ref(*[torch.randn(s) for s in shapes])  # PyTorch accepts these
                assert ours.infer_shape(*shapes) == (tuple(want.shape),), (kind, shapes)
            for i, bad in enumerate(masks):  # one wrong size: PyTorch refuses, and so do we
                shapes = sequences + masks[:i] + [bad[:-1] + (bad[-1] + 1,)]
                with pytest.raises((RuntimeError, AssertionError)):
                    ref(*[torch.randn(s) for s in shapes])
                with pytest.raises(ShapeError, match="mask has shape"):
                    ours.infer_shape(*shapes)
