"""Attention layers: MultiheadAttention; and AdaptiveLogSoftmaxWithLoss (torch's adaptive.py).

MultiheadAttention keeps torch's parameters (packed ``in_proj_weight`` or separate
``q/k/v_proj_weight`` when kdim/vdim differ, ``out_proj``, ``bias_k``/``bias_v``), so a
torch state_dict loads unchanged; the math is ``F.multi_head_attention_forward`` on the
attention kernels.
"""

from collections import namedtuple

from ... import factories
from ..._lazy import family_names, np
from ...autograd.grad_mode import no_grad
from ...backend import host_array
from ...registry import register
from ...shapes import ShapeError, note
from ...tensor import Tensor, cat
from .. import functional as F
from .. import init
from ..functional.attention import _AssertionValueError, _keep_identity
from ..parameter import Parameter
from .container import ModuleList, Sequential
from .linear import Linear
from .module import Module


class NonDynamicallyQuantizableLinear(Linear):
    """torch's name for MultiheadAttention.out_proj (it shows in the repr); a plain Linear."""


@register("attention", "4 2", inputs=[(3, 2, 4), (3, 2, 4), (3, 2, 4)])
class MultiheadAttention(Module):
    __constants__ = ["batch_first"]

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False,
                 add_zero_attn=False, kdim=None, vdim=None, batch_first=False, device=None,
                 dtype=None):
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim and num_heads must be greater than 0, got "
                             f"embed_dim={embed_dim} and num_heads={num_heads} instead")
        super().__init__()
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != self.embed_dim:
            raise _AssertionValueError(f"embed_dim must be divisible by num_heads (got "
                                       f"embed_dim={embed_dim}, num_heads={num_heads})")
        if not self._qkv_same_embed_dim:
            self.q_proj_weight = Parameter(factories.empty(embed_dim, embed_dim, dtype=dtype))
            self.k_proj_weight = Parameter(factories.empty(embed_dim, self.kdim, dtype=dtype))
            self.v_proj_weight = Parameter(factories.empty(embed_dim, self.vdim, dtype=dtype))
            self.register_parameter("in_proj_weight", None)
        else:
            self.in_proj_weight = Parameter(factories.empty(3 * embed_dim, embed_dim,
                                                            dtype=dtype))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(factories.empty(3 * embed_dim, dtype=dtype))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias,
                                                        dtype=dtype)
        if add_bias_kv:
            self.bias_k = Parameter(factories.empty(1, 1, embed_dim, dtype=dtype))
            self.bias_v = Parameter(factories.empty(1, 1, embed_dim, dtype=dtype))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self):
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
        if self.bias_v is not None:
            init.xavier_normal_(self.bias_v)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True,
                attn_mask=None, average_attn_weights=True, is_causal=False):
        batched = query.ndim == 3
        if self.batch_first and batched:
            query, key, value = _keep_identity(lambda x: x.transpose(1, 0), query, key, value)
        separate = {}
        if not self._qkv_same_embed_dim:
            separate = {"use_separate_proj_weight": True, "q_proj_weight": self.q_proj_weight,
                        "k_proj_weight": self.k_proj_weight,
                        "v_proj_weight": self.v_proj_weight}
        out, weights = F.multi_head_attention_forward(
            query, key, value, self.embed_dim, self.num_heads, self.in_proj_weight,
            self.in_proj_bias, self.bias_k, self.bias_v, self.add_zero_attn, self.dropout,
            self.out_proj.weight, self.out_proj.bias, training=self.training,
            key_padding_mask=key_padding_mask, need_weights=need_weights, attn_mask=attn_mask,
            average_attn_weights=average_attn_weights, is_causal=is_causal, **separate)
        if self.batch_first and batched:
            out = out.transpose(1, 0)
        return out, weights

    def infer_shape(self, *shapes, explain=None):
        """Shapes of (attn_output, attn_weights) with need_weights=True, averaged over heads.

        One input shape means self-attention (key = value = query), two mean key = value;
        a fourth is forward's key_padding_mask, (N, S) or (S,) unbatched.
        """
        layer = "MultiheadAttention"
        if not 1 <= len(shapes) <= 4:
            raise ShapeError(layer, f"takes query, key, value and an optional key_padding_mask,"
                                    f" got {len(shapes)} inputs")
        q = tuple(shapes[0])
        k = tuple(shapes[1]) if len(shapes) > 1 else q
        v = tuple(shapes[2]) if len(shapes) > 2 else k
        if len(q) not in (2, 3):
            raise ShapeError(layer, f"query must be 3-D (batched) or 2-D (unbatched), got "
                                    f"{len(q)}-D shape {list(q)}")
        if len(k) != len(q) or len(v) != len(q):
            raise ShapeError(layer, f"key and value must have query's rank {len(q)}, got "
                                    f"{list(k)} and {list(v)}")
        seq, batch = (1, 0) if self.batch_first and len(q) == 3 else (0, 1)
        for name, shape, size, arg in (("query", q, self.embed_dim, "embed_dim"),
                                       ("key", k, self.kdim, "kdim"),
                                       ("value", v, self.vdim, "vdim")):
            if shape[-1] != size:
                raise ShapeError(layer, f"{name} has {shape[-1]} features (last dim) but "
                                        f"{arg}={size}",
                                 f"feed {name} [..., {size}] or construct with {arg}="
                                 f"{shape[-1]}")
        if k[seq] != v[seq]:
            raise ShapeError(layer, f"key and value must have the same sequence length, got "
                                    f"{k[seq]} and {v[seq]}")
        if len(q) == 3 and not q[batch] == k[batch] == v[batch]:
            raise ShapeError(layer, f"query, key and value must share the batch size (dim "
                                    f"{batch}), got {q[batch]}, {k[batch]}, {v[batch]}")
        L, S = q[seq], k[seq]
        if len(shapes) == 4:
            want = (q[batch], S) if len(q) == 3 else (S,)
            if tuple(shapes[3]) != want:
                raise ShapeError(layer, f"key_padding_mask has shape {list(shapes[3])}, "
                                        f"expected {list(want)} (batch, key length)")
        extra = int(self.bias_k is not None) + int(self.add_zero_attn)
        note(explain, f"heads: embed_dim {self.embed_dim} = num_heads {self.num_heads} x "
                      f"head_dim {self.head_dim}; scores per head (L, S) = ({L}, "
                      f"{S}{f' + {extra}' if extra else ''})"
                      + (" (bias_k adds one key)" if self.bias_k is not None else "")
                      + (" (add_zero_attn adds one key)" if self.add_zero_attn else ""))
        weights = (L, S + extra) if len(q) == 2 else (q[batch], L, S + extra)
        note(explain, f"attn_output = query's shape {list(q)}; attn_weights averaged over "
                      f"heads: {list(weights)} (N, L, S); average_attn_weights=False gives "
                      f"(N, num_heads, L, S), need_weights=False gives None")
        return q, weights


# ----------------------------------------------------------------------------- adaptive softmax
_ASMoutput = namedtuple("_ASMoutput", ["output", "loss"])

_EXAMPLE_N_CLASSES = 10  # the registered example's n_classes: sample targets lie below it


def _sample_adaptive_inputs(shapes, rng, np_dtype):
    """A float input and class targets in [0, n_classes) of the registered example."""
    return [rng.standard_normal(shapes[0]).astype(np_dtype),
            rng.integers(0, _EXAMPLE_N_CLASSES, shapes[1]).astype(np.int64)]


@register("attention", "8 10 (4,8) 2.0", inputs=[(6, 8), (6,)],
          make_inputs=_sample_adaptive_inputs, grad_inputs=(0,))
class AdaptiveLogSoftmaxWithLoss(Module):
    """Efficient softmax approximation (Grave et al.): frequent classes in the head, the
    rest in clusters whose log-probability adds the head's cluster logit."""

    def __init__(self, in_features, n_classes, cutoffs, div_value=4.0, head_bias=False,
                 device=None, dtype=None):
        super().__init__()
        cutoffs = list(cutoffs)
        if len(cutoffs) == 0:
            raise ValueError("cutoffs should be a sequence of length larger than 0")
        if (cutoffs != sorted(cutoffs) or min(cutoffs) <= 0 or max(cutoffs) > n_classes - 1
                or len(set(cutoffs)) != len(cutoffs) or any(int(c) != c for c in cutoffs)):
            raise ValueError("cutoffs should be a sequence of unique, positive integers sorted "
                             "in an increasing order, where each value is between 1 and "
                             f"n_classes-1 (got cutoffs={cutoffs}, n_classes={n_classes})")
        self.in_features = in_features
        self.n_classes = n_classes
        self.cutoffs = cutoffs + [n_classes]
        self.div_value = div_value
        self.head_bias = head_bias
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        self.head = Linear(self.in_features, self.head_size, bias=self.head_bias, dtype=dtype)
        self.tail = ModuleList()
        for i in range(self.n_clusters):
            hsz = int(self.in_features // (self.div_value ** (i + 1)))
            osz = self.cutoffs[i + 1] - self.cutoffs[i]
            self.tail.append(Sequential(Linear(self.in_features, hsz, bias=False, dtype=dtype),
                                        Linear(hsz, osz, bias=False, dtype=dtype)))

    def reset_parameters(self):
        self.head.reset_parameters()
        for i2h, h2o in self.tail:
            i2h.reset_parameters()
            h2o.reset_parameters()

    def _check(self, input_, target_):
        if target_.ndim == 1:
            if input_.shape[0] != target_.shape[0]:
                raise RuntimeError("AdaptiveLogSoftmaxWithLoss: input and target should have "
                                   f"the same size in the batch dimension, got "
                                   f"{input_.shape[0]} and {target_.shape[0]}")
            if input_.ndim != 2:
                raise RuntimeError(f"AdaptiveLogSoftmaxWithLoss: 1D target tensor expects 2D "
                                   f"input tensors, but found inputs with size "
                                   f"{list(input_.shape)}")
        elif target_.ndim == 0:
            if input_.ndim != 1:
                raise RuntimeError(f"AdaptiveLogSoftmaxWithLoss: 0D target tensor expects 1D "
                                   f"input tensors, but found inputs with size "
                                   f"{list(input_.shape)}")
        else:
            raise RuntimeError("AdaptiveLogSoftmaxWithLoss: 0D or 1D target tensor expected, "
                               "multi-target not supported")
        if input_.shape[-1] != self.in_features:
            raise RuntimeError(f"AdaptiveLogSoftmaxWithLoss: input has {input_.shape[-1]} "
                               f"features but in_features={self.in_features}")
        t = host_array(target_._data).reshape(-1)  # class indices checked on the host
        if t.dtype.kind not in "iu":
            raise TypeError(f"AdaptiveLogSoftmaxWithLoss: target must hold class indices "
                            f"(an integer tensor), got {target_.dtype.name}")
        if t.size and (t.min() < 0 or t.max() >= self.n_classes):
            raise RuntimeError(f"Target values should be in [0, {self.n_classes - 1}], but "
                               f"values in range [{t.min()}, {t.max()}] were found. ")
        return t.astype(np.int64)

    def forward(self, input_, target_):
        t = self._check(input_, target_)
        batched = target_.ndim > 0
        input = input_ if batched else input_.unsqueeze(0)
        head_index = t.copy()
        pieces, rows = [], []
        for i, (low, high) in enumerate(zip(self.cutoffs[:-1], self.cutoffs[1:])):
            r = np.nonzero((t >= low) & (t < high))[0]
            if r.size == 0:
                continue
            head_index[r] = self.shortlist_size + i
            cluster_logprob = F.log_softmax(self.tail[i](input[r]), dim=1)
            pieces.append(cluster_logprob.gather(1, Tensor._wrap((t[r] - low)[:, None]))
                          .squeeze(1))
            rows.append(r)
        head_logprob = F.log_softmax(self.head(input), dim=1)
        output = head_logprob.gather(1, Tensor._wrap(head_index[:, None])).squeeze(1)
        if pieces:
            # scatter the cluster terms back to their rows; rows in the shortlist read a zero
            n_tail = sum(r.size for r in rows)
            position = np.full(t.size, n_tail)
            position[np.concatenate(rows)] = np.arange(n_tail)
            output = output + cat([*pieces, output.new_zeros(1)])[position]
        loss = (-output).mean()
        return _ASMoutput(output if batched else output.squeeze(0), loss)

    def _get_full_log_prob(self, input, head_output):
        head_logprob = F.log_softmax(head_output, dim=1)
        parts = [head_logprob[:, :self.shortlist_size]]
        for i in range(self.n_clusters):
            cluster_logprob = F.log_softmax(self.tail[i](input), dim=1)
            parts.append(cluster_logprob
                         + head_logprob[:, self.shortlist_size + i].unsqueeze(1))
        return cat(parts, dim=1)

    def log_prob(self, input):
        """Log-probabilities of all n_classes for each row of input (N, in_features)."""
        return self._get_full_log_prob(input, self.head(input))

    def predict(self, input):
        """The most likely class per row; clusters are evaluated only for rows that need them."""
        with no_grad():
            head_output = self.head(input)
            output = np.argmax(head_output._data, axis=1)
            outside = output >= self.shortlist_size
            if outside.any():
                rows = np.nonzero(outside)[0]
                log_prob = self._get_full_log_prob(input[rows], head_output[rows])
                output[rows] = np.argmax(log_prob._data, axis=1)
        return Tensor._wrap(output.astype(np.int64))

    def infer_shape(self, *shapes, explain=None):
        layer = "AdaptiveLogSoftmaxWithLoss"
        if len(shapes) != 2:
            raise ShapeError(layer, f"takes input and target, got {len(shapes)} inputs")
        x, t = map(tuple, shapes)
        if len(t) > 1 or len(x) != len(t) + 1:
            raise ShapeError(layer, f"expected input (N, in_features) with target (N,), or "
                                    f"(in_features,) with a scalar target; got {list(x)} and "
                                    f"{list(t)}")
        if x[-1] != self.in_features:
            raise ShapeError(layer, f"input has {x[-1]} features but in_features="
                                    f"{self.in_features}")
        if t and x[0] != t[0]:
            raise ShapeError(layer, f"input and target batch sizes differ: {x[0]} vs {t[0]}")
        note(explain, f"head: {self.in_features} -> {self.head_size} (shortlist "
                      f"{self.shortlist_size} + {self.n_clusters} clusters); output = the "
                      f"target's log-probability per row {list(t)}, loss = -mean() []")
        return t, ()


__all__ = family_names(__name__)
