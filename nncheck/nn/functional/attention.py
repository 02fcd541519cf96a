"""Attention: scaled_dot_product_attention and multi_head_attention_forward.

Both end in the kernels of ``nncheck._kernels.attention``, which see 3-D slices
q (B, L, E), k and v (Bk, S, .) with B = Bk * group, and an additive bias (1 or B, L, S).
Everything that is not one of those slices (batch broadcasting, grouped heads, boolean
masks, the packed in-projection, bias_k/bias_v, zero attention) is arranged here with
differentiable tensor ops, so a float mask gets a gradient like any other input.

Without dropout one fused op computes softmax(scale * q k^T + bias) v; with dropout the
weights op and the values op run on either side of ``nncheck.nn.functional.dropout``.
"""

import math
import warnings

from ..._kernels import lazy
from ..._lazy import family_names, np
from ...backend import array_namespace, ascontiguousarray, kernels
from ...ops import Op, sum_to_shape
from ...tensor import Tensor, cat
from ._validation import kernel_array
from .dropout import dropout
from .linear import linear

_blas = lazy("blas_threads")

# multiply-adds below which OpenMP start-up costs more than threads save
_PARALLEL_MIN_WORK = 1 << 17


class _AssertionValueError(AssertionError, ValueError):
    """torch raises AssertionError for malformed MultiheadAttention arguments; being a
    ValueError too lets the CLI and ``except ValueError`` callers treat it as bad input."""


# ----------------------------------------------------------------------------- ops
def _run(kernel, tasks, work, *args):
    """kernel(*args, parallel) over ``tasks`` slices.

    OpenMP threads share the slices, each running single-threaded GEMMs, when there are
    several and the work pays for starting them; where the BLAS keeps threads of its own
    (not an OpenBLAS whose count ``_kernels.blas`` could set) the slices run in turn.
    """
    _k = kernels("attention")[0]  # the CPU thread count
    parallel = (tasks > 1 and work >= _PARALLEL_MIN_WORK and _k.max_threads() > 1
                and _blas.blas_thread_controls() is not None)
    kernel(*args, parallel)


def _same_dtype(first, *others):
    """Kernel arrays of one dtype: ``first`` decides it (float16 computes in float32)."""
    a = kernel_array(first, "scaled_dot_product_attention", "query")
    return (a, *(array_namespace(o).ascontiguousarray(o, a.dtype) for o in others))


def _empty(*shape_and_dtype):
    *shape, dtype = shape_and_dtype
    return np.zeros(shape, dtype)


def _bias_array(bias, dtype):
    return _empty(0, 1, 1, dtype) if bias is None else ascontiguousarray(bias, dtype)


def _grads(ctx, grads, refs):
    """Gradients in the dtypes of the inputs they belong to; None where none is needed."""
    return tuple(g.astype(r.dtype, copy=False) if need and r is not None else None
                 for g, r, need in zip(grads, refs, ctx.needs_input_grad))


def _bias_grad(scores_grad, bias):
    """dS summed down to the bias' shape (it was shared by every slice when its batch is 1)."""
    return None if bias is None else sum_to_shape(scores_grad, bias.shape)


class _Attention(Op):
    """softmax(scale * q k^T + bias) v in one kernel; ``want_probs`` also returns the weights."""

    @staticmethod
    def forward(ctx, q, k, v, bias, scale, causal, safe, want_probs):
        _k, xp = kernels("attention", q, k, v, bias)
        kq, kk, kv = _same_dtype(q, k, v)
        (B, L, E), S, Ev = kq.shape, kk.shape[1], kv.shape[2]
        probs, out = xp.empty((B, L, S), kq.dtype), xp.empty((B, L, Ev), kq.dtype)
        _run(_k.attention_forward, B, B * L * S * (E + Ev), kq, kk, kv,
             _bias_array(bias, kq.dtype), probs, out, scale, causal, safe, True)
        ctx.save_for_backward(kq, kk, kv, probs)
        ctx.scale, ctx.refs = scale, (q, k, v, bias)
        out = out.astype(q.dtype, copy=False)
        return (out, probs.astype(q.dtype, copy=False)) if want_probs else out

    @staticmethod
    def backward(ctx, grad_out, grad_probs=None):
        _k, xp = kernels("attention", grad_out, grad_probs)
        kq, kk, kv, probs = ctx.saved_tensors
        go = xp.ascontiguousarray(grad_out, kq.dtype)
        gs = (xp.zeros_like(probs) if grad_probs is None
              else xp.ascontiguousarray(grad_probs, kq.dtype).copy())
        gq, gk, gv = xp.empty_like(kq), xp.empty_like(kk), xp.empty_like(kv)
        (B, L, E), S, Ev = kq.shape, kk.shape[1], kv.shape[2]
        _run(_k.attention_backward, B, 2 * B * L * S * (E + Ev), kq, kk, kv, probs, go, gs,
             gq, gk, gv, ctx.scale, True)
        return _grads(ctx, (gq, gk, gv, _bias_grad(gs, ctx.refs[3])), ctx.refs)

    @staticmethod
    def backward_stacked(ctx, grad_out, grad_probs=None):
        """K cotangents (leading axis): K times the slices in one kernel call."""
        _k, xp = kernels("attention", grad_out, grad_probs)
        stack = grad_out.shape[0]
        kq, kk, kv, probs = (np.ascontiguousarray(np.broadcast_to(a, (stack,) + a.shape))
                             .reshape((-1,) + a.shape[1:]) for a in ctx.saved_tensors)
        go = xp.ascontiguousarray(grad_out, kq.dtype).reshape((-1,) + grad_out.shape[2:])
        gs = (xp.zeros_like(probs) if grad_probs is None else
              xp.ascontiguousarray(grad_probs, kq.dtype).reshape(probs.shape).copy())
        gq, gk, gv = xp.empty_like(kq), xp.empty_like(kk), xp.empty_like(kv)
        (B, L, E), S, Ev = kq.shape, kk.shape[1], kv.shape[2]
        _run(_k.attention_backward, B, 2 * B * L * S * (E + Ev), kq, kk, kv, probs, go, gs,
             gq, gk, gv, ctx.scale, True)
        bias = ctx.refs[3]
        grads = [a.reshape((stack, -1) + a.shape[1:]) for a in (gq, gk, gv, gs)]
        grads[3] = None if bias is None else sum_to_shape(grads[3], (stack,) + bias.shape)
        return _grads(ctx, grads, ctx.refs)

    @staticmethod
    def forward_stacked(ctx, stacked, q, k, v, bias, scale, causal, safe, want_probs):
        """K versions of some of q, k, v, bias (leading axis): K times the slices."""
        shared = bias is not None and not stacked[3] and bias.shape[0] == 1  # every slice's
        if bias is not None and stacked[3]:  # K biases: one per slice of each version
            batch = (q if stacked[0] else q[None]).shape[1]
            bias = np.broadcast_to(bias, bias.shape[:1] + (batch,) + bias.shape[2:])
        n, (q, k, v, per_slice) = _folded((q, k, v, None if shared else bias), stacked[:4])
        bias = bias if shared else per_slice
        result = _Attention.forward(ctx, q, k, v, bias, scale, causal, safe, want_probs)
        return (tuple(r.reshape((n, -1) + r.shape[1:]) for r in result) if want_probs
                else result.reshape((n, -1) + result.shape[1:]))


class _AttentionWeights(Op):
    """softmax(scale * q k^T + bias): the first half, when dropout comes between."""

    @staticmethod
    def forward(ctx, q, k, bias, scale, causal, safe):
        _k, xp = kernels("attention", q, k, bias)
        kq, kk = _same_dtype(q, k)
        (B, L, E), (Bk, S) = kq.shape, kk.shape[:2]
        probs = xp.empty((B, L, S), kq.dtype)
        _run(_k.attention_forward, B, B * L * S * E, kq, kk, _empty(Bk, S, 0, kq.dtype),
             _bias_array(bias, kq.dtype), probs, _empty(B, L, 0, kq.dtype), scale, causal,
             safe, False)
        ctx.save_for_backward(kq, kk, probs)
        ctx.scale, ctx.refs = scale, (q, k, bias)
        return probs.astype(q.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad_probs):
        _k, xp = kernels("attention", grad_probs)
        kq, kk, probs = ctx.saved_tensors
        (B, L, E), (Bk, S) = kq.shape, kk.shape[:2]
        gs = xp.ascontiguousarray(grad_probs, kq.dtype).copy()
        gq, gk = xp.empty_like(kq), xp.empty_like(kk)
        _run(_k.attention_backward, B, 2 * B * L * S * E, kq, kk, _empty(Bk, S, 0, kq.dtype),
             probs, _empty(B, L, 0, kq.dtype), gs, gq, gk, _empty(Bk, S, 0, kq.dtype),
             ctx.scale, False)
        return _grads(ctx, (gq, gk, _bias_grad(gs, ctx.refs[2])), ctx.refs)


class _AttentionValues(Op):
    """probs v: the second half, applied to the (dropped-out) weights."""

    @staticmethod
    def forward(ctx, probs, v):
        _k, xp = kernels("attention", probs, v)
        kp, kv = _same_dtype(probs, v)
        (B, L, S), Ev = kp.shape, kv.shape[2]
        out = xp.empty((B, L, Ev), kp.dtype)
        _run(_k.values_forward, B, B * L * S * Ev, kp, kv, out)
        ctx.save_for_backward(kp, kv)
        ctx.refs = (probs, v)
        return out.astype(probs.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad_out):
        _k, xp = kernels("attention", grad_out)
        kp, kv = ctx.saved_tensors
        go = xp.ascontiguousarray(grad_out, kp.dtype)
        gp, gv = xp.empty_like(kp), xp.empty_like(kv)
        B, L, S = kp.shape
        _run(_k.values_backward, B, 2 * B * L * S * kv.shape[2], kp, kv, go, gp, gv)
        return _grads(ctx, (gp, gv), ctx.refs)


def _folded(arrays, stacked):
    """Arguments of a ``forward_stacked`` (K versions of some, on a leading axis) with every
    array given that axis (a broadcast view where it has none) and then folded into its
    first axis: (K, B, ...) -> (K * B, ...), so that a forward over batches of independent
    slices computes all K at once.  Returns (K, the folded arrays; None stays None)."""
    k = next(a.shape[0] for a, s in zip(arrays, stacked) if s)
    return k, [None if a is None else
               np.ascontiguousarray(a if s else np.broadcast_to(a, (k,) + a.shape))
               .reshape((k * a.shape[int(s)],) + a.shape[1 + int(s):])
               for a, s in zip(arrays, stacked)]


def _attend(q, k, v, bias, dropout_p, causal, scale, safe, want_probs):
    """Attention on 3-D slices: q (B, L, E), k (Bk, S, E), v (Bk, S, Ev), bias (1|B, L, S).

    Returns (output, weights or None); with dropout the weights are the dropped-out ones.
    """
    if dropout_p > 0:
        probs = dropout(_AttentionWeights.apply(q, k, bias, scale, causal, safe), dropout_p, True)
        return _AttentionValues.apply(probs, v), (probs if want_probs else None)
    result = _Attention.apply(q, k, v, bias, scale, causal, safe, want_probs)
    return result if want_probs else (result, None)


# ----------------------------------------------------------------------------- SDPA
def _float_mask(mask, dtype, name, layer):
    """A boolean keep-mask becomes an additive 0/-inf bias; a float mask is used as given."""
    if mask._data.dtype == np.bool_:
        return Tensor._wrap(np.where(mask._data, 0, -np.inf).astype(dtype.np))
    if not mask.dtype.is_floating_point:
        raise RuntimeError(f"{layer}: expected {name} dtype to be bool or float or to match "
                           f"query dtype, but got {name}.dtype: {mask.dtype.name} and "
                           f"query.dtype: {dtype.name} instead.")
    return mask if mask.dtype is dtype else mask.to(dtype)


def _slices(x, batch, rows, cols):
    """x broadcast to batch + (rows, cols) and viewed as (prod(batch), rows, cols)."""
    full = tuple(batch) + (rows, cols)
    if tuple(x.shape) != full:
        x = x.expand(*full)
    return x.reshape(math.prod(batch), rows, cols)


def _bias_slices(bias, batch, L, S):
    """The additive mask as (1, L, S) when every batch entry shares it, else (B, L, S)."""
    if all(s == 1 for s in bias.shape[:-2]):
        tail = tuple(bias.shape[-2:]) if bias.ndim else ()
        return _slices(bias.reshape((1,) * (2 - len(tail)) + tail), (1,), L, S)
    return _slices(bias, batch, L, S)


def _broadcast(layer, what, *shapes):
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise RuntimeError(f"{layer}: the batch dimensions of {what} "
                           f"{', '.join(str(list(s)) for s in shapes)} do not broadcast") from None


def _check_sdpa(query, key, value, attn_mask, dropout_p, is_causal):
    layer = "scaled_dot_product_attention"
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{layer}: {name} must be a Tensor, got {type(t).__name__}")
    if min(query.ndim, key.ndim, value.ndim) < 2:
        raise RuntimeError(f"{layer}: expected query, key, and value to all be at least 2 "
                           f"dimensional, but got query.dim: {query.ndim} key.dim: {key.ndim} "
                           f"and value.dim: {value.ndim} instead.")
    if not (query.dtype is key.dtype is value.dtype):
        raise RuntimeError(f"{layer}: expected query, key, and value to have the same dtype, "
                           f"but got query.dtype: {query.dtype.name} key.dtype: "
                           f"{key.dtype.name} and value.dtype: {value.dtype.name} instead.")
    if query.shape[-1] != key.shape[-1]:
        raise RuntimeError(f"{layer}: query's embedding size (last dim) is {query.shape[-1]} "
                           f"but key's is {key.shape[-1]}; they must be equal")
    if key.shape[-2] != value.shape[-2]:
        raise RuntimeError(f"{layer}: key has {key.shape[-2]} positions (dim -2) but value has "
                           f"{value.shape[-2]}; they must be equal")
    if not 0.0 <= dropout_p <= 1.0:
        raise RuntimeError(f"dropout probability has to be between 0 and 1, but got {dropout_p}")
    if is_causal and attn_mask is not None:
        raise RuntimeError(f"{layer}: Explicit attn_mask should not be set when is_causal=True")


def _gqa_heads(query, key, value):
    """How many query heads (dim -3) share each key/value head; 1 when key and value have
    different head counts (the caller then repeats both up to the query's heads)."""
    hq, hk, hv = query.shape[-3], key.shape[-3], value.shape[-3]
    if hk == 0 or hv == 0 or hq % hk or hq % hv:
        raise RuntimeError(f"scaled_dot_product_attention: with enable_gqa the number of heads "
                           f"in key ({hk}) and value ({hv}) must divide the number of heads in "
                           f"query ({hq})")
    return hq // hk if hk == hv else 1


def _repeat_heads(x, heads):
    """repeat_interleave along dim -3 (key/value heads with different group sizes)."""
    reps = heads // x.shape[-3]
    if reps == 1:
        return x
    lead, (h, s, e) = tuple(x.shape[:-3]), tuple(x.shape[-3:])
    return x.unsqueeze(-3).expand(*lead, h, reps, s, e).reshape(*lead, heads, s, e)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False):
    """softmax(query key^T * scale + mask) value over the last two dims (torch's semantics).

    A bool ``attn_mask`` keeps positions where True; a float one is added to the scores.
    ``is_causal`` keeps key j <= query i.  Batch dims broadcast; with ``enable_gqa`` query
    heads (dim -3) share key/value heads in groups without copying them.
    """
    _check_sdpa(query, key, value, attn_mask, dropout_p, is_causal)
    L, E = query.shape[-2:]
    S, Ev = key.shape[-2], value.shape[-1]
    group = 1
    if enable_gqa and min(query.ndim, key.ndim, value.ndim) >= 3:
        group = _gqa_heads(query, key, value)
        if group == 1:
            key, value = (_repeat_heads(t, query.shape[-3]) for t in (key, value))
    if group > 1:
        outer = _broadcast("scaled_dot_product_attention", "query, key and value",
                           query.shape[:-3], key.shape[:-3], value.shape[:-3])
        batch, kv_batch = outer + (query.shape[-3],), outer + (key.shape[-3],)
    else:
        batch = kv_batch = _broadcast("scaled_dot_product_attention", "query, key and value",
                                      query.shape[:-2], key.shape[:-2], value.shape[:-2])
    bias = None
    if attn_mask is not None:
        bias = _float_mask(attn_mask, query.dtype, "attn_mask", "scaled_dot_product_attention")
        full = batch + (L, S)
        try:
            fits = np.broadcast_shapes(tuple(bias.shape), full) == full
        except ValueError:
            fits = False
        if not fits:
            raise RuntimeError(f"scaled_dot_product_attention: attn_mask of shape "
                               f"{list(bias.shape)} does not broadcast to the attention "
                               f"weights' shape {list(full)}")
        bias = _bias_slices(bias, batch, L, S)
    scale = 1.0 / math.sqrt(E) if scale is None else float(scale)
    out, _ = _attend(_slices(query, batch, L, E), _slices(key, kv_batch, S, E),
                     _slices(value, kv_batch, S, Ev), bias, dropout_p, is_causal, scale, True,
                     False)
    return out.reshape(*batch, L, Ev)


# ----------------------------------------------------------------------------- MHA
def _none_or_dtype(input):
    if input is None:
        return None
    if isinstance(input, Tensor):
        return input.dtype
    raise RuntimeError("input to _none_or_dtype() must be None or Tensor")


def _canonical_mask(mask, mask_name, other_type, other_name, target_type, check_other=True):
    """torch's F._canonical_mask: a bool mask (True = masked out) becomes a 0/-inf float mask."""
    if mask is None:
        return None
    if mask._data.dtype != np.bool_ and not mask.dtype.is_floating_point:
        raise _AssertionValueError(f"only bool and floating types of {mask_name} are supported, "
                                   f"got {mask.dtype.name}")
    if check_other and other_type is not None and mask.dtype is not other_type:
        warnings.warn(f"Support for mismatched {mask_name} and {other_name} is deprecated. "
                      "Use same type for both instead.", stacklevel=3)
    if mask._data.dtype == np.bool_:
        return Tensor._wrap(np.where(mask._data, -np.inf, 0).astype(target_type.np))
    return mask


def _keep_identity(fn, query, key, value):
    """fn applied to each of query, key, value, keeping which of them are the same tensor
    (self-attention and key-is-value take the packed projection paths)."""
    q = fn(query)
    k = q if key is query else fn(key)
    v = k if value is key else (q if value is query else fn(value))
    return q, k, v


def _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads):
    """Whether the input is batched; the ranks of everything checked as torch does."""
    layer = "MultiheadAttention"
    if query.ndim not in (2, 3):
        raise _AssertionValueError(f"{layer}: query should be unbatched 2D or batched 3D tensor "
                                   f"but received {query.ndim}-D query tensor of shape "
                                   f"{list(query.shape)}")
    batched = query.ndim == 3
    kind = "batched (3-D)" if batched else "unbatched (2-D)"
    if key.ndim != query.ndim or value.ndim != query.ndim:
        raise _AssertionValueError(f"{layer}: for {kind} `query`, expected `key` and `value` to "
                                   f"be {query.ndim}-D but found {key.ndim}-D and {value.ndim}-D "
                                   "tensors respectively")
    if key_padding_mask is not None and key_padding_mask.ndim != query.ndim - 1:
        raise _AssertionValueError(f"{layer}: for {kind} `query`, expected `key_padding_mask` to "
                                   f"be `None` or {query.ndim - 1}-D but found "
                                   f"{key_padding_mask.ndim}-D tensor instead")
    if attn_mask is not None:
        if attn_mask.ndim not in (2, 3):
            raise _AssertionValueError(f"{layer}: for {kind} `query`, expected `attn_mask` to be "
                                       f"`None`, 2-D or 3-D but found {attn_mask.ndim}-D tensor "
                                       "instead")
        expected = (num_heads, query.shape[0], key.shape[0])
        if not batched and attn_mask.ndim == 3 and tuple(attn_mask.shape) != expected:
            raise _AssertionValueError(f"{layer}: expected `attn_mask` shape to be "
                                       f"{expected} but got {tuple(attn_mask.shape)}")
    return batched


def _check_projection(layer, name, weight, shape):
    if weight is None:
        raise _AssertionValueError(f"{layer}: use_separate_proj_weight is True but {name} is None")
    if tuple(weight.shape) != shape:
        raise _AssertionValueError(f"{layer}: expecting {name} shape of {shape}, but got "
                                   f"{tuple(weight.shape)}")


class _SplitHeads(Op):
    """(seq, bsz, n*E) -> n contiguous (bsz*heads, seq, head_dim) arrays: unpacks a packed
    projection and lays each part out per head in one copy (backward: one copy back)."""

    @staticmethod
    def forward(ctx, x, n, heads):
        seq, bsz, width = x.shape
        ctx.shape = x.shape
        parts = ascontiguousarray(
            x.reshape(seq, bsz, n, heads, width // (n * heads)).transpose(2, 1, 3, 0, 4))
        parts = parts.reshape(n, bsz * heads, seq, width // (n * heads))
        return tuple(parts) if n > 1 else parts[0]

    @staticmethod
    def backward(ctx, *grads):
        seq, bsz, width = ctx.shape
        n, heads = len(grads), grads[0].shape[0] // bsz
        stacked = np.stack(grads).reshape(n, bsz, heads, seq, width // (n * heads))
        return ascontiguousarray(stacked.transpose(3, 1, 0, 2, 4)).reshape(ctx.shape)

    @staticmethod
    def backward_stacked(ctx, *grads):
        seq, bsz, width = ctx.shape
        stack, n, heads = grads[0].shape[0], len(grads), grads[0].shape[1] // bsz
        stacked = np.stack(grads, axis=1).reshape(stack, n, bsz, heads, seq,
                                                  width // (n * heads))
        return np.ascontiguousarray(stacked.transpose(0, 4, 2, 1, 3, 5)).reshape(
            (stack,) + ctx.shape)

    @staticmethod
    def forward_stacked(ctx, stacked, x, n, heads):
        k, seq, bsz, width = x.shape
        parts = np.ascontiguousarray(
            x.reshape(k, seq, bsz, n, heads, width // (n * heads)).transpose(3, 0, 2, 4, 1, 5))
        parts = parts.reshape(n, k, bsz * heads, seq, width // (n * heads))
        return tuple(parts) if n > 1 else parts[0]


def _in_projection(query, key, value, in_proj_weight, in_proj_bias, separate, num_heads):
    """q, k, v projected and split into heads: one GEMM for self-attention, two when key is
    value, else three (as torch's _in_projection_packed / _in_projection)."""

    def heads(x, w, b, n=1):
        part = _SplitHeads.apply(linear(x, w, b), n, num_heads)
        return part if n > 1 else (part,)

    biases = (None,) * 3 if in_proj_bias is None else in_proj_bias.chunk(3)
    if separate is not None:
        weights = separate
    else:
        if in_proj_weight is None:
            raise _AssertionValueError("MultiheadAttention: use_separate_proj_weight is False "
                                       "but in_proj_weight is None")
        if key is value and query is key:
            return heads(query, in_proj_weight, in_proj_bias, 3)
        E = query.shape[-1]
        if key is value:
            w_q, w_kv = in_proj_weight.split([E, 2 * E])
            b_q, b_kv = (None, None) if in_proj_bias is None else in_proj_bias.split([E, 2 * E])
            return heads(query, w_q, b_q) + heads(key, w_kv, b_kv, 2)
        weights = in_proj_weight.chunk(3)
    return tuple(heads(x, w, b)[0] for x, w, b in zip((query, key, value), weights, biases))


def _pad_last(mask):
    """One more key position that nothing masks (for bias_k/bias_v and add_zero_attn)."""
    return None if mask is None else cat([mask, mask.new_zeros(*mask.shape[:-1], 1)], dim=-1)


def _append_key(x, extra, bsz, num_heads):
    """x (bsz*heads, S, head_dim) with one more position: ``extra`` (E,) split per head."""
    head_dim = x.shape[-1]
    extra = extra.reshape(1, num_heads, 1, head_dim).expand(bsz, num_heads, 1, head_dim)
    return cat([x, extra.reshape(bsz * num_heads, 1, head_dim)], dim=1)


def _check_static(name, static, bsz, num_heads, head_dim):
    if static.shape[0] != bsz * num_heads or static.ndim != 3 or static.shape[2] != head_dim:
        raise _AssertionValueError(f"MultiheadAttention: expecting {name} of shape "
                                   f"({bsz * num_heads}, S, {head_dim}), got "
                                   f"{tuple(static.shape)}")


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads,
                                 in_proj_weight, in_proj_bias, bias_k, bias_v, add_zero_attn,
                                 dropout_p, out_proj_weight, out_proj_bias, training=True,
                                 key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None,
                                 k_proj_weight=None, v_proj_weight=None, static_k=None,
                                 static_v=None, average_attn_weights=True, is_causal=False):
    """torch's F.multi_head_attention_forward; query/key/value are (L|S, N, E) or unbatched."""
    layer = "MultiheadAttention"
    batched = _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not batched:
        query, key, value = _keep_identity(lambda x: x.unsqueeze(1), query, key, value)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]
    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask",
                                       _none_or_dtype(attn_mask), "attn_mask", query.dtype)
    if is_causal and attn_mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the "
                           "Transformer module method `generate_square_subsequent_mask` to "
                           "create this mask.")
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None  # the kernel applies the causal rule itself
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", None, "", query.dtype, False)
        if key_padding_mask is not None:
            is_causal = False
    if embed_dim != embed_dim_to_check:
        raise _AssertionValueError(f"{layer}: was expecting embedding dimension of "
                                   f"{embed_dim_to_check}, but got {embed_dim}")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise _AssertionValueError(f"{layer}: embed_dim {embed_dim} not divisible by num_heads "
                                   f"{num_heads}")
    if use_separate_proj_weight:
        if key.shape[:2] != value.shape[:2]:
            raise _AssertionValueError(f"{layer}: key's sequence and batch dims "
                                       f"{tuple(key.shape[:2])} do not match value's "
                                       f"{tuple(value.shape[:2])}")
        for name, w, x in (("q_proj_weight", q_proj_weight, query),
                           ("k_proj_weight", k_proj_weight, key),
                           ("v_proj_weight", v_proj_weight, value)):
            _check_projection(layer, name, w, (embed_dim, x.shape[-1]))
        separate = (q_proj_weight, k_proj_weight, v_proj_weight)
    else:
        if key.shape != value.shape:
            raise _AssertionValueError(f"{layer}: key shape {tuple(key.shape)} does not match "
                                       f"value shape {tuple(value.shape)}")
        if key.shape[-1] != embed_dim:
            raise _AssertionValueError(f"{layer}: key and value have {key.shape[-1]} features "
                                       f"but embed_dim is {embed_dim} (pass kdim/vdim to "
                                       "MultiheadAttention for other sizes)")
        separate = None
    q, k, v = _in_projection(query, key, value, in_proj_weight, in_proj_bias, separate,
                             num_heads)

    if attn_mask is not None:
        expected = (tgt_len, src_len) if attn_mask.ndim == 2 else (bsz * num_heads, tgt_len,
                                                                   src_len)
        if tuple(attn_mask.shape) != expected:
            raise RuntimeError(f"{layer}: the shape of the {attn_mask.ndim}D attn_mask is "
                               f"{tuple(attn_mask.shape)}, but should be {expected}.")
        if attn_mask.ndim == 2:
            attn_mask = attn_mask.unsqueeze(0)
    if (bias_k is None) != (bias_v is None):
        raise _AssertionValueError(f"{layer}: bias_k and bias_v must be both set or both None")
    if bias_k is not None:
        if static_k is not None or static_v is not None:
            raise _AssertionValueError(f"{layer}: bias cannot be added to static key/value.")
        k = _append_key(k, bias_k.reshape(embed_dim), bsz, num_heads)
        v = _append_key(v, bias_v.reshape(embed_dim), bsz, num_heads)
        attn_mask, key_padding_mask = _pad_last(attn_mask), _pad_last(key_padding_mask)
    if static_k is not None:
        _check_static("static_k", static_k, bsz, num_heads, head_dim)
        k = static_k
    if static_v is not None:
        _check_static("static_v", static_v, bsz, num_heads, head_dim)
        v = static_v
    if add_zero_attn:
        zeros = k.new_zeros(bsz * num_heads, 1, head_dim)
        k, v = cat([k, zeros], dim=1), cat([v, zeros], dim=1)
        attn_mask, key_padding_mask = _pad_last(attn_mask), _pad_last(key_padding_mask)
    src_len = k.shape[1]
    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (bsz, src_len):
            raise RuntimeError(f"{layer}: expected key_padding_mask of shape ({bsz}, {src_len}) "
                               f"(batch, source length), got {tuple(key_padding_mask.shape)}")
        kpm = (key_padding_mask.reshape(bsz, 1, 1, src_len)
               .expand(bsz, num_heads, 1, src_len).reshape(bsz * num_heads, 1, src_len))
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    if attn_mask is not None:
        attn_mask = _slices(attn_mask, (attn_mask.shape[0],), tgt_len, src_len)
    if not training:
        dropout_p = 0.0

    out, weights = _attend(q, k, v, attn_mask, dropout_p, is_causal, 1.0 / math.sqrt(head_dim),
                           not need_weights, need_weights)
    out = out.transpose(0, 1).reshape(tgt_len * bsz, embed_dim)
    out = linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, embed_dim)
    if weights is not None:
        weights = weights.reshape(bsz, num_heads, tgt_len, src_len)
        if average_attn_weights:
            weights = weights.mean(dim=1)
    if not batched:
        out = out.squeeze(1)
        weights = None if weights is None else weights.squeeze(0)
    return out, weights


__all__ = family_names(__name__)
