"""Transformer layers (torch.nn.modules.transformer): encoder/decoder layers and stacks.

Built from nncheck's MultiheadAttention, Linear, LayerNorm and Dropout with torch's
submodule names, so state_dict keys (encoder.layers.0.self_attn.in_proj_weight, ...) and
reprs match and a torch state_dict loads unchanged.  torch's inference fast paths
(nested tensors, fused encoder kernels) compute the same function, so they have no
counterpart here.
"""

import copy

from ... import factories
from ..._lazy import family_names, np
from ...registry import register
from ...shapes import ShapeError, note
from .. import functional as F
from .. import init
from ..functional.attention import _canonical_mask, _none_or_dtype
from .activation import GELU, ReLU
from .attention import MultiheadAttention
from .container import ModuleList
from .dropout import Dropout
from .linear import Linear
from .module import Module
from .normalization import LayerNorm


def _generate_square_subsequent_mask(sz, device=None, dtype=None):
    """(sz, sz) float mask: 0 on and below the diagonal, -inf above (position i sees j <= i)."""
    mask = factories.full((sz, sz), float("-inf"), dtype=dtype)
    mask._data[np.tril_indices(sz)] = 0
    return mask


def _get_seq_len(src, batch_first):
    return src.shape[0] if src.ndim == 2 else src.shape[1 if batch_first else 0]


def _detect_is_causal_mask(mask, is_causal=None, size=None):
    """is_causal as given; when None, whether ``mask`` is exactly the square causal mask."""
    if is_causal is not None or mask is None:
        return is_causal is True
    sz = size if size is not None else mask.shape[-2]
    causal = _generate_square_subsequent_mask(sz, dtype=mask.dtype)._data
    return mask.shape == causal.shape and bool(np.array_equal(mask._data, causal))


def _get_activation_fn(activation):
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    raise RuntimeError(f"activation should be relu/gelu, not {activation}")


def _get_clones(module, N):
    return ModuleList([copy.deepcopy(module) for _ in range(N)])


def _sequence_shape(layer, shape, d_model, arg):
    """Check a (S, N, E) / (N, S, E) / unbatched (S, E) input; returns it as a tuple."""
    shape = tuple(shape)
    if len(shape) not in (2, 3):
        raise ShapeError(layer, f"{arg} must be 3-D (batched) or 2-D (unbatched), got "
                                f"{len(shape)}-D shape {list(shape)}")
    if shape[-1] != d_model:
        raise ShapeError(layer, f"{arg} has {shape[-1]} features (last dim) but d_model="
                                f"{d_model}", f"feed {arg} [..., {d_model}]")
    return shape


def _same_batch(layer, first, second, batch_first, names):
    if len(first) != len(second):
        raise ShapeError(layer, f"{names[0]} and {names[1]} must both be batched or both "
                                f"unbatched, got {list(first)} and {list(second)}")
    dim = 0 if batch_first else 1
    if len(first) == 3 and first[dim] != second[dim]:
        raise ShapeError(layer, f"the batch number of {names[0]} and {names[1]} must be equal "
                                f"(dim {dim}), got {first[dim]} and {second[dim]}")


def _seq_and_batch(shape, batch_first):
    """(sequence length, batch size or None unbatched) of a checked sequence shape."""
    if len(shape) == 2:
        return shape[0], None
    return (shape[1], shape[0]) if batch_first else (shape[0], shape[1])


def _check_masks(layer, nhead, batch, masks):
    """Check optional mask shapes as PyTorch's multi_head_attention_forward does.

    ``masks``: (name, query length L, key length S, is a key padding mask, given shape);
    an attention mask is (L, S) or (batch * nhead, L, S) ((nhead, L, S) unbatched), a key
    padding mask (batch, S) ((S,) unbatched).
    """
    for name, L, S, padding, given in masks:
        given = tuple(given)
        if padding:
            allowed = [(S,) if batch is None else (batch, S)]
        else:
            allowed = [(L, S), ((nhead if batch is None else batch * nhead), L, S)]
        if given not in allowed:
            expected = " or ".join(str(list(a)) for a in allowed)
            what = "(batch, key length)" if padding else "(L, S) or (batch*nhead, L, S)"
            raise ShapeError(layer, f"{name} has shape {list(given)}, expected {expected} "
                                    f"{what}")


class _Layer(Module):
    """What the encoder and decoder layers share: feed-forward block and activation."""

    def _init_common(self, d_model, dim_feedforward, dropout, activation, layer_norm_eps,
                     norm_first, bias, dtype, n_norms):
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = norm_first
        for i in range(1, n_norms + 1):
            setattr(self, f"norm{i}", LayerNorm(d_model, eps=layer_norm_eps, bias=bias,
                                                dtype=dtype))
        for i in range(1, n_norms + 1):
            setattr(self, f"dropout{i}", Dropout(dropout))
        self.activation = (_get_activation_fn(activation) if isinstance(activation, str)
                           else activation)

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal=False):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x, last_dropout):
        return last_dropout(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    @property
    def _d_model(self):
        return self.linear1.in_features


@register("transformer", "8 2 16 0.0", inputs=[(5, 2, 8)])
class TransformerEncoderLayer(_Layer):
    __constants__ = ["norm_first"]

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation=F.relu,
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True,
                 device=None, dtype=None):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, dtype=dtype)
        self._init_common(d_model, dim_feedforward, dropout, activation, layer_norm_eps,
                          norm_first, bias, dtype, 2)
        act = self.activation
        self.activation_relu_or_gelu = (1 if act is F.relu or isinstance(act, ReLU) else
                                        2 if act is F.gelu or isinstance(act, GELU) else 0)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        src_key_padding_mask = _canonical_mask(src_key_padding_mask, "src_key_padding_mask",
                                               _none_or_dtype(src_mask), "src_mask", src.dtype)
        src_mask = _canonical_mask(src_mask, "src_mask", None, "", src.dtype, False)
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x), self.dropout2)
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x, self.dropout2))
        return x

    def infer_shape(self, *shapes, explain=None):
        layer = type(self).__name__
        if not 1 <= len(shapes) <= 3:
            raise ShapeError(layer, f"takes src and the optional src_mask and "
                                    f"src_key_padding_mask, got {len(shapes)} inputs")
        src = _sequence_shape(layer, shapes[0], self._d_model, "src")
        S, batch = _seq_and_batch(src, self.self_attn.batch_first)
        _check_masks(layer, self.self_attn.num_heads, batch,
                     [(*mask, given) for mask, given in
                      zip([("src_mask", S, S, False), ("src_key_padding_mask", S, S, True)],
                          shapes[1:])])
        note(explain, f"self-attention ({self.self_attn.num_heads} heads) and feed-forward "
                      f"{self._d_model} -> {self.linear1.out_features} -> {self._d_model}, "
                      f"each with a residual: output shape = src shape {list(src)}")
        return (src,)


@register("transformer", "8 2 16 0.0", inputs=[(5, 2, 8), (6, 2, 8)])
class TransformerDecoderLayer(_Layer):
    __constants__ = ["norm_first"]

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation=F.relu,
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True,
                 device=None, dtype=None):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout,
                                            batch_first=batch_first, bias=bias, dtype=dtype)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout,
                                                 batch_first=batch_first, bias=bias,
                                                 dtype=dtype)
        self._init_common(d_model, dim_feedforward, dropout, activation, layer_norm_eps,
                          norm_first, bias, dtype, 3)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask,
                                    memory_key_padding_mask, memory_is_causal)
            x = x + self._ff_block(self.norm3(x), self.dropout3)
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask,
                                               memory_is_causal))
            x = self.norm3(x + self._ff_block(x, self.dropout3))
        return x

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal=False):
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask,
                                key_padding_mask=key_padding_mask, is_causal=is_causal,
                                need_weights=False)[0]
        return self.dropout2(x)

    def infer_shape(self, *shapes, explain=None):
        layer = type(self).__name__
        if not 2 <= len(shapes) <= 6:
            raise ShapeError(layer, f"takes tgt, memory and up to four optional masks, got "
                                    f"{len(shapes)} inputs")
        tgt = _sequence_shape(layer, shapes[0], self._d_model, "tgt")
        memory = _sequence_shape(layer, shapes[1], self._d_model, "memory")
        _same_batch(layer, tgt, memory, self.self_attn.batch_first, ("tgt", "memory"))
        T, batch = _seq_and_batch(tgt, self.self_attn.batch_first)
        S, _ = _seq_and_batch(memory, self.self_attn.batch_first)
        _check_masks(layer, self.self_attn.num_heads, batch,
                     [(*mask, given) for mask, given in zip(_decoder_masks(T, S), shapes[2:])])
        note(explain, f"self-attention on tgt, attention over memory (any length), feed-forward"
                      f" {self._d_model} -> {self.linear1.out_features} -> {self._d_model}: "
                      f"output shape = tgt shape {list(tgt)}")
        return (tgt,)


def _decoder_masks(T, S):
    """The decoder's masks in forward's order: (name, L, S, is a key padding mask)."""
    return [("tgt_mask", T, T, False), ("memory_mask", T, S, False),
            ("tgt_key_padding_mask", T, T, True), ("memory_key_padding_mask", T, S, True)]


class TransformerEncoder(Module):
    """A stack of ``num_layers`` deep copies of ``encoder_layer`` and an optional final norm.

    Not in the CLI registry: its first argument is a layer instance, which command-line
    literals cannot express (``Transformer`` covers it there).
    """

    __constants__ = ["norm"]

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True,
                 mask_check=True):
        super().__init__()
        self.layers = _get_clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.use_nested_tensor = False  # nncheck has no nested tensors; results are the same
        self.mask_check = mask_check

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        src_key_padding_mask = _canonical_mask(src_key_padding_mask, "src_key_padding_mask",
                                               _none_or_dtype(mask), "mask", src.dtype)
        mask = _canonical_mask(mask, "mask", None, "", src.dtype, False)
        batch_first = self.layers[0].self_attn.batch_first
        is_causal = _detect_is_causal_mask(mask, is_causal, _get_seq_len(src, batch_first))
        output = src
        for mod in self.layers:
            output = mod(output, src_mask=mask, is_causal=is_causal,
                         src_key_padding_mask=src_key_padding_mask)
        return self.norm(output) if self.norm is not None else output

    def infer_shape(self, *shapes, explain=None):
        return _stack_shape(self, shapes, explain)


class TransformerDecoder(Module):
    """A stack of ``num_layers`` deep copies of ``decoder_layer`` and an optional final norm.

    Not in the CLI registry for the reason TransformerEncoder is not.
    """

    __constants__ = ["norm"]

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__()
        self.layers = _get_clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False):
        seq_len = _get_seq_len(tgt, self.layers[0].self_attn.batch_first)
        tgt_is_causal = _detect_is_causal_mask(tgt_mask, tgt_is_causal, seq_len)
        output = tgt
        for mod in self.layers:
            output = mod(output, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                         tgt_key_padding_mask=tgt_key_padding_mask,
                         memory_key_padding_mask=memory_key_padding_mask,
                         tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)
        return self.norm(output) if self.norm is not None else output

    def infer_shape(self, *shapes, explain=None):
        return _stack_shape(self, shapes, explain)


def _stack_shape(stack, shapes, explain):
    """Every layer keeps the shape it is given; the first layer's rule checks the inputs."""
    if not len(stack.layers):
        return (tuple(shapes[0]),)
    out = stack.layers[0].infer_shape(*shapes, explain=explain)
    note(explain, f"{stack.num_layers} identical layers"
                  + (" and a final norm" if stack.norm is not None else "")
                  + f": output shape {list(out[0])}")
    return out


@register("transformer", "8 2 1 1 16 0.0", inputs=[(5, 2, 8), (4, 2, 8)])
class Transformer(Module):
    def __init__(self, d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6,
                 dim_feedforward=2048, dropout=0.1, activation=F.relu, custom_encoder=None,
                 custom_decoder=None, layer_norm_eps=1e-5, batch_first=False, norm_first=False,
                 bias=True, device=None, dtype=None):
        super().__init__()
        layer_args = (d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                      batch_first, norm_first, bias)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            self.encoder = TransformerEncoder(
                TransformerEncoderLayer(*layer_args, dtype=dtype), num_encoder_layers,
                LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            self.decoder = TransformerDecoder(
                TransformerDecoderLayer(*layer_args, dtype=dtype), num_decoder_layers,
                LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype))
        self._reset_parameters()
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
                src_key_padding_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal=False):
        batch = 0 if self.batch_first else 1
        if src.ndim == 3 and src.shape[batch] != tgt.shape[batch]:
            raise RuntimeError(f"Transformer: the batch number of src and tgt must be equal "
                               f"(dim {batch}), got {src.shape[batch]} and {tgt.shape[batch]}")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError(f"Transformer: the feature number of src and tgt must be equal "
                               f"to d_model={self.d_model}, got {src.shape[-1]} and "
                               f"{tgt.shape[-1]}")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz, device=None, dtype=None):
        return _generate_square_subsequent_mask(sz, device=device, dtype=dtype)

    def _reset_parameters(self):
        for p in self.parameters():
            if p.dim() > 1:
                init.xavier_uniform_(p)

    def infer_shape(self, *shapes, explain=None):
        layer = "Transformer"
        if not 2 <= len(shapes) <= 8:
            raise ShapeError(layer, f"takes src, tgt and up to six optional masks, got "
                                    f"{len(shapes)} inputs")
        src = _sequence_shape(layer, shapes[0], self.d_model, "src")
        tgt = _sequence_shape(layer, shapes[1], self.d_model, "tgt")
        _same_batch(layer, src, tgt, self.batch_first, ("src", "tgt"))
        S, batch = _seq_and_batch(src, self.batch_first)
        T, _ = _seq_and_batch(tgt, self.batch_first)
        # forward's order: src_mask, tgt_mask, memory_mask, then the three padding masks
        masks = [("src_mask", S, S, False), *_decoder_masks(T, S)[:2],
                 ("src_key_padding_mask", S, S, True), *_decoder_masks(T, S)[2:]]
        _check_masks(layer, self.nhead, batch,
                     [(*mask, given) for mask, given in zip(masks, shapes[2:])])
        note(explain, f"encoder: memory = src shape {list(src)}; decoder attends to it: "
                      f"output shape = tgt shape {list(tgt)}")
        return (tgt,)


__all__ = family_names(__name__)
