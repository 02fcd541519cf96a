"""Loss layers: every loss of torch.nn (seed section Loss functions, 损失函数).

Each class takes the constructor arguments of its torch counterpart (including the
legacy ``size_average``/``reduce`` flags, turned into ``reduction`` with torch's
deprecation warning) and calls the function of the same name in
``nncheck.nn.functional``.  Their ``repr`` is torch's: the class name and nothing else.
"""

import math
import warnings

from ..._lazy import family_names, np
from ...registry import register
from ...shapes import ShapeError, broadcast_shapes, note
from .. import functional as F
from ..functional.loss import LinearCrossEntropyOptions, _legacy_reduction
from .distance import PairwiseDistance
from .module import Module

# ---------------------------------------------------------------- sample inputs for the CLI

def _normal(rng, shape, dtype):
    return rng.standard_normal(tuple(shape)).astype(dtype)


def _signs(rng, shape, dtype):
    return np.where(rng.random(tuple(shape)) < 0.5, -1.0, 1.0).astype(dtype)


def _softmax(a, axis):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _class_axis(shape):
    if not shape:
        raise ValueError("class scores need a class dimension: (C), (N, C) or (N, C, d1, ...)")
    return 1 if len(shape) > 1 else 0


def _class_inputs(shapes, rng, dtype):
    """Scores, then class indices in [0, C) (or probabilities when shaped like the scores)."""
    scores = _normal(rng, shapes[0], dtype)
    axis = _class_axis(tuple(shapes[0]))
    if tuple(shapes[1]) == tuple(shapes[0]):
        return [scores, _softmax(_normal(rng, shapes[1], np.float64), axis).astype(dtype)]
    return [scores, rng.integers(0, shapes[0][axis], tuple(shapes[1]))]


def _with_signs(shapes, rng, dtype):
    """Normal inputs with a last input of +-1 labels."""
    return [_normal(rng, s, dtype) for s in shapes[:-1]] + [_signs(rng, shapes[-1], dtype)]


def _probabilities(shapes, rng, dtype):
    """BCE: probabilities in (0.05, 0.95) and targets in [0, 1]."""
    return [rng.uniform(0.05, 0.95, tuple(shapes[0])).astype(dtype),
            rng.random(tuple(shapes[1])).astype(dtype)]


def _logits_and_probabilities(shapes, rng, dtype):
    return [_normal(rng, shapes[0], dtype), rng.random(tuple(shapes[1])).astype(dtype)]


def _log_probs_and_probs(shapes, rng, dtype):
    """KLDiv: log-probabilities and probabilities along the last dim."""
    return [np.log(_softmax(_normal(rng, s, np.float64), -1)).astype(dtype) for s in shapes[:1]] + [
        _softmax(_normal(rng, s, np.float64), -1).astype(dtype) for s in shapes[1:2]]


def _rates_and_counts(shapes, rng, dtype):
    return [_normal(rng, shapes[0], dtype), rng.poisson(2.0, tuple(shapes[1])).astype(dtype)]


def _gaussian(shapes, rng, dtype):
    return [_normal(rng, shapes[0], dtype), _normal(rng, shapes[1], dtype),
            rng.uniform(0.5, 2.0, tuple(shapes[2])).astype(dtype)]


def _multilabel(shapes, rng, dtype):
    """Scores and, per sample, distinct class indices followed by -1 padding."""
    scores = _normal(rng, shapes[0], dtype)
    C = shapes[0][-1] if shapes[0] else 1
    rows = np.full((int(np.prod(shapes[1][:-1], dtype=np.int64)), C), -1, np.int64)
    for row in rows:
        k = int(rng.integers(1, C + 1))
        row[:k] = rng.permutation(C)[:k]
    return [scores, rows.reshape(tuple(shapes[1]))]


def _margin_targets(shapes, rng, dtype):
    C = shapes[0][-1] if shapes[0] else 1
    return [_normal(rng, shapes[0], dtype), rng.integers(0, C, tuple(shapes[1]))]


def _ctc_inputs(shapes, rng, dtype):
    """log_softmax outputs (T, N, C), padded targets in [1, C), full input lengths."""
    (T, N, C), (_, S) = shapes[0], shapes[1]
    if S > T:
        raise ValueError(f"targets of length {S} cannot align with {T} time steps")
    log_probs = np.log(_softmax(_normal(rng, (T, N, C), np.float64), 2)).astype(dtype)
    return [log_probs, rng.integers(1, C, (N, S)), np.full(N, T, np.int64),
            rng.integers(1, S + 1, N)]


# ---------------------------------------------------------------- shape rules

def _broadcast(layer, **named):
    shapes = {k: tuple(v) for k, v in named.items()}
    try:
        return broadcast_shapes(*shapes.values())
    except ValueError:
        listed = ", ".join(f"{k} {list(v)}" for k, v in shapes.items())
        raise ShapeError(layer, f"{listed} cannot be broadcast together",
                         "give the target the input's shape") from None


def _arity(layer, shapes, names):
    if len(shapes) != len(names):
        raise ShapeError(layer, f"takes {len(names)} inputs ({', '.join(names)}), got "
                                f"{len(shapes)}")
    return [tuple(s) for s in shapes]


def _class_per_position(layer, inp, what="input"):
    if not inp:
        raise ShapeError(layer, f"{what} must have a class dimension: (C), (N, C) or "
                                "(N, C, d1, ..., dK); got a scalar")
    return () if len(inp) == 1 else inp[:1] + inp[2:]


# ---------------------------------------------------------------- base classes

class _Loss(Module):
    def __init__(self, size_average=None, reduce=None, reduction="mean"):
        super().__init__()
        if size_average is not None or reduce is not None:
            self.reduction = _legacy_reduction(size_average, reduce)
        else:
            self.reduction = reduction

    def _reduced(self, shape, explain, what="element"):
        """Output shapes for per-``what`` losses of ``shape`` under this reduction."""
        if self.reduction == "none":
            note(explain, f"reduction='none': one loss per {what}, shape {list(shape)}")
            return (tuple(shape),)
        note(explain, f"reduction='{self.reduction}': the losses of shape {list(shape)} reduce "
                      "to a scalar ()")
        return ((),)


class _WeightedLoss(_Loss):
    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)


class _ElementwiseLoss(_Loss):
    """Losses of (input, target) elementwise over their broadcast shape."""

    same_size = False  # BCE losses insist on target.shape == input.shape

    def infer_shape(self, *shapes, explain=None):
        name = type(self).__name__
        inp, tgt = _arity(name, shapes, ("input", "target"))
        if self.same_size and inp != tgt:
            raise ShapeError(name, f"target {list(tgt)} must have the input's shape {list(inp)}")
        shape = _broadcast(name, input=inp, target=tgt)
        note(explain, f"elementwise over input {list(inp)} and target {list(tgt)}: "
                      f"{list(shape)}")
        return self._reduced(shape, explain)


# ---------------------------------------------------------------- regression losses

@register("loss", inputs=[(3, 5), (3, 5)], grad_inputs=(0, 1))
class L1Loss(_ElementwiseLoss):
    def forward(self, input, target):
        return F.l1_loss(input, target, reduction=self.reduction)


@register("loss", inputs=[(3, 5), (3, 5)], grad_inputs=(0, 1))
class MSELoss(_ElementwiseLoss):
    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)


@register("loss", "beta=0.5", inputs=[(3, 5), (3, 5)], grad_inputs=(0, 1))
class SmoothL1Loss(_ElementwiseLoss):
    def __init__(self, size_average=None, reduce=None, reduction="mean", beta=1.0):
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input, target):
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


@register("loss", "delta=0.5", inputs=[(3, 5), (3, 5)], grad_inputs=(0, 1))
class HuberLoss(_ElementwiseLoss):
    def __init__(self, reduction="mean", delta=1.0):
        if not isinstance(delta, (float, int)):
            raise TypeError(f"delta must be a float or int, got: {type(delta)}")
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input, target):
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


@register("loss", inputs=[(3, 5), (3, 5)], make_inputs=_rates_and_counts, grad_inputs=(0, 1))
class PoissonNLLLoss(_ElementwiseLoss):
    def __init__(self, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                 reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.log_input, self.full, self.eps = log_input, full, eps

    def forward(self, log_input, target):
        return F.poisson_nll_loss(log_input, target, log_input=self.log_input, full=self.full,
                                  eps=self.eps, reduction=self.reduction)


@register("loss", inputs=[(3, 5), (3, 5), (3, 5)], make_inputs=_gaussian, grad_inputs=(0, 1, 2))
class GaussianNLLLoss(_Loss):
    def __init__(self, *, full=False, eps=1e-6, reduction="mean"):
        super().__init__(None, None, reduction)
        self.full, self.eps = full, eps

    def forward(self, input, target, var):
        return F.gaussian_nll_loss(input, target, var, full=self.full, eps=self.eps,
                                   reduction=self.reduction)

    def infer_shape(self, *shapes, explain=None):
        inp, tgt, var = _arity("GaussianNLLLoss", shapes, ("input", "target", "var"))
        if var != inp:
            if var == inp[:-1]:
                note(explain, f"var {list(var)} is the input's shape without its last dim: "
                              "one variance per row")
                var = var + (1,)
            elif not (len(var) == len(inp)
                      and sum(v for i, v in zip(inp, var) if i != v) == 1):
                raise ShapeError("GaussianNLLLoss", f"var {list(var)} is of incorrect size for "
                                                    f"input {list(inp)}",
                                 f"use {list(inp)}, {list(inp[:-1])}, or the input's shape with "
                                 "one dim of size 1")
        shape = _broadcast("GaussianNLLLoss", input=inp, target=tgt, var=var)
        return self._reduced(shape, explain)


@register("loss", "reduction='batchmean'", inputs=[(3, 5), (3, 5)],
          make_inputs=_log_probs_and_probs, grad_inputs=(0, 1))
class KLDivLoss(_ElementwiseLoss):
    def __init__(self, size_average=None, reduce=None, reduction="mean", log_target=False):
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input, target):
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


# ---------------------------------------------------------------- binary classification

@register("loss", inputs=[(3, 5), (3, 5)], make_inputs=_probabilities, grad_inputs=(0, 1))
class BCELoss(_WeightedLoss, _ElementwiseLoss):
    same_size = True

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


@register("loss", inputs=[(3, 5), (3, 5)], make_inputs=_logits_and_probabilities,
          grad_inputs=(0, 1))
class BCEWithLogitsLoss(_ElementwiseLoss):
    same_size = True

    def __init__(self, weight=None, size_average=None, reduce=None, reduction="mean",
                 pos_weight=None):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, self.weight,
                                                  pos_weight=self.pos_weight,
                                                  reduction=self.reduction)


@register("loss", inputs=[(3, 5), (3, 5)], make_inputs=_with_signs, grad_inputs=(0,))
class SoftMarginLoss(_ElementwiseLoss):
    def forward(self, input, target):
        return F.soft_margin_loss(input, target, reduction=self.reduction)


@register("loss", inputs=[(3, 5), (3, 5)], make_inputs=_with_signs, grad_inputs=(0,))
class HingeEmbeddingLoss(_ElementwiseLoss):
    def __init__(self, margin=1.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input, target):
        return F.hinge_embedding_loss(input, target, margin=self.margin, reduction=self.reduction)


# ---------------------------------------------------------------- multi-class

class _ClassLoss(_WeightedLoss):
    """(N, C, d1, ..., dK) scores against (N, d1, ..., dK) class indices."""

    probabilities = False  # CrossEntropyLoss also takes targets shaped like the input

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None,
                 reduction="mean"):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def infer_shape(self, *shapes, explain=None):
        name = type(self).__name__
        inp, tgt = _arity(name, shapes, ("input", "target"))
        per = _class_per_position(name, inp)
        C = inp[1 if len(inp) > 1 else 0]
        if self.probabilities and tgt == inp:
            note(explain, f"target {list(tgt)} has the input's shape: probabilities over "
                          f"C = {C} classes")
        elif tgt != per:
            hint = f"use class indices of shape {list(per)}"
            if self.probabilities:
                hint += f" or class probabilities of shape {list(inp)}"
            raise ShapeError(name, f"target has shape {list(tgt)} but input {list(inp)} takes "
                                   f"targets of shape {list(per)}", hint)
        else:
            note(explain, f"input {list(inp)}: C = {C} classes along dim "
                          f"{1 if len(inp) > 1 else 0}; target {list(tgt)} holds class indices")
        return self._reduced(per, explain, "target position")


@register("loss", inputs=[(3, 5), (3,)], make_inputs=_class_inputs, grad_inputs=(0,))
class NLLLoss(_ClassLoss):
    def forward(self, input, target):
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


@register("loss", inputs=[(2, 3, 4, 4), (2, 4, 4)], make_inputs=_class_inputs, grad_inputs=(0,))
class NLLLoss2d(NLLLoss):
    """Deprecated alias of NLLLoss (torch warns with a FutureWarning)."""

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None,
                 reduction="mean"):
        warnings.warn("`NLLLoss2d` has been deprecated. Please use `NLLLoss` instead as a drop-in "
                      "replacement and see https://pytorch.org/docs/main/nn.html#torch.nn.NLLLoss "
                      "for more details.", FutureWarning, stacklevel=2)
        super().__init__(weight, size_average, ignore_index, reduce, reduction)


@register("loss", inputs=[(3, 5), (3,)], make_inputs=_class_inputs, grad_inputs=(0,))
class CrossEntropyLoss(_ClassLoss):
    probabilities = True

    def __init__(self, weight=None, size_average=None, ignore_index=-100, reduce=None,
                 reduction="mean", label_smoothing=0.0):
        super().__init__(weight, size_average, ignore_index, reduce, reduction)
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


# in_features == num_classes, so that _margin_targets draws indices in [0, num_classes)
@register("loss", "4 4 bias=True", inputs=[(3, 4), (3,)], make_inputs=_margin_targets,
          grad_inputs=(0,))
class LinearCrossEntropyLoss(_WeightedLoss):
    """Cross entropy of ``self.linear(input)`` (PyTorch 2.13): the classifier head and the
    loss in one layer.  The Linear's weight is stored flat,
    (num_classes * prod(out_features), in_features), and reshaped in forward."""

    def __init__(self, in_features, num_classes, *, out_features=(), bias=False, device=None,
                 dtype=None, reduction="mean", weight=None, ignore_index=None,
                 label_smoothing=0.0, options=None):
        if weight is not None and tuple(weight.shape) != (num_classes,):
            raise RuntimeError(f"expected weight shape to be {(num_classes,)}, got "
                               f"{tuple(weight.shape)}")
        if label_smoothing < 0 or label_smoothing > 1.0:
            raise RuntimeError(f"expected label_smoothing to be in range [0, 1], got "
                               f"{label_smoothing}")
        if options is not None and not isinstance(options, LinearCrossEntropyOptions):
            raise TypeError(f"LinearCrossEntropyLoss: options must be a "
                            f"LinearCrossEntropyOptions or None, got {type(options).__name__}")
        super().__init__(weight=weight, reduction=reduction)
        from .linear import Linear  # a family loads on first use

        self.num_classes, self.out_features = num_classes, tuple(out_features)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing
        self.linear = Linear(in_features, math.prod(out_features, start=num_classes),
                             bias=bias, device=device, dtype=dtype)
        self.options = options

    def forward(self, input, target):
        shape = (self.num_classes, *self.out_features)
        bias = self.linear.bias
        return F.linear_cross_entropy(
            input, self.linear.weight.reshape(shape + (self.linear.in_features,)), target,
            linear_bias=None if bias is None else bias.reshape(shape), weight=self.weight,
            reduction=self.reduction, ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing, options=self.options)

    def extra_repr(self):
        return (f"in_features={self.linear.in_features}, num_classes={self.num_classes}, "
                f"out_features={self.out_features}, bias={self.linear.bias is not None}, "
                f"reduction={self.reduction}, ignore_index={self.ignore_index}, "
                f"label_smoothing={self.label_smoothing}, options={self.options}")

    def infer_shape(self, *shapes, explain=None):
        name = type(self).__name__
        inp, tgt = _arity(name, shapes, ("input", "target"))
        if len(inp) not in (1, 2) or inp[-1] != self.linear.in_features:
            raise ShapeError(name, f"input must be (in_features) or (N, in_features) with "
                                   f"in_features={self.linear.in_features}, got {list(inp)}")
        batch = inp[:-1]
        if self.out_features and not batch:
            raise ShapeError(name, f"out_features={self.out_features} needs a batched input "
                                   f"(N, {self.linear.in_features}), got {list(inp)}")
        logits = (*batch, self.num_classes, *self.out_features)
        per = (*batch, *self.out_features)
        if tgt not in (logits, per):
            raise ShapeError(name, f"target has shape {list(tgt)}; the logits {list(logits)} "
                                   f"take class indices {list(per)} or probabilities "
                                   f"{list(logits)}")
        note(explain, f"logits = linear(input): {list(logits)}; cross entropy per target "
                      f"position {list(per)}")
        return self._reduced(per, explain, "target position")


@register("loss", inputs=[(3, 5), (3,)], make_inputs=_margin_targets, grad_inputs=(0,))
class MultiMarginLoss(_WeightedLoss):
    def __init__(self, p=1, margin=1.0, weight=None, size_average=None, reduce=None,
                 reduction="mean"):
        super().__init__(weight, size_average, reduce, reduction)
        if p != 1 and p != 2:
            raise ValueError("only p == 1 and p == 2 supported")
        if weight is not None and weight.dim() != 1:
            raise ValueError(f"MultiMarginLoss: expected weight to be None or 1D tensor, got "
                             f"{weight.dim()}D instead")
        self.p, self.margin = p, margin

    def forward(self, input, target):
        return F.multi_margin_loss(input, target, p=self.p, margin=self.margin,
                                   weight=self.weight, reduction=self.reduction)

    def infer_shape(self, *shapes, explain=None):
        inp, tgt = _arity("MultiMarginLoss", shapes, ("input", "target"))
        if len(inp) > 2:
            raise ShapeError("MultiMarginLoss", f"input must be (C) or (N, C), got {list(inp)}")
        N = inp[0] if len(inp) == 2 else 1
        if len(tgt) > 1 or int(math.prod(tgt)) != N:
            raise ShapeError("MultiMarginLoss", f"target {list(tgt)} must hold one class index "
                                                f"per sample ({N})", f"use a target of shape [{N}]")
        return self._reduced((N,) if tgt else (), explain, "sample")


@register("loss", inputs=[(3, 5), (3, 5)], make_inputs=_multilabel, grad_inputs=(0,))
class MultiLabelMarginLoss(_Loss):
    def forward(self, input, target):
        return F.multilabel_margin_loss(input, target, reduction=self.reduction)

    def infer_shape(self, *shapes, explain=None):
        inp, tgt = _arity("MultiLabelMarginLoss", shapes, ("input", "target"))
        if len(inp) > 2 or tgt != inp:
            raise ShapeError("MultiLabelMarginLoss", f"input {list(inp)} must be (C) or (N, C) "
                                                     f"and target {list(tgt)} of the same shape",
                             "pad each target row with -1 after its class indices")
        return self._reduced(inp[:1] if len(inp) == 2 else (), explain, "sample")


@register("loss", inputs=[(3, 5), (3, 5)], make_inputs=_logits_and_probabilities,
          grad_inputs=(0, 1))
class MultiLabelSoftMarginLoss(_WeightedLoss):
    def forward(self, input, target):
        return F.multilabel_soft_margin_loss(input, target, weight=self.weight,
                                             reduction=self.reduction)

    def infer_shape(self, *shapes, explain=None):
        inp, tgt = _arity("MultiLabelSoftMarginLoss", shapes, ("input", "target"))
        if not inp:
            raise ShapeError("MultiLabelSoftMarginLoss", "input must be (C) or (N, C), got a "
                                                         "scalar")
        shape = _broadcast("MultiLabelSoftMarginLoss", input=inp, target=tgt)
        note(explain, f"mean over the last dim (C = {inp[-1]}) of {list(shape)}")
        return self._reduced(shape[:-1], explain, "sample")


# ---------------------------------------------------------------- ranking and embedding

@register("loss", "margin=0.5", inputs=[(4,), (4,), (4,)], make_inputs=_with_signs,
          grad_inputs=(0, 1, 2))
class MarginRankingLoss(_Loss):
    def __init__(self, margin=0.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        return F.margin_ranking_loss(input1, input2, target, margin=self.margin,
                                     reduction=self.reduction)

    def infer_shape(self, *shapes, explain=None):
        x1, x2, y = _arity("MarginRankingLoss", shapes, ("input1", "input2", "target"))
        if not len(x1) == len(x2) == len(y):
            raise ShapeError("MarginRankingLoss", f"input1 {list(x1)}, input2 {list(x2)} and "
                                                  f"target {list(y)} must have the same number "
                                                  "of dimensions")
        shape = _broadcast("MarginRankingLoss", input1=x1, input2=x2, target=y)
        return self._reduced(shape, explain)


@register("loss", "margin=0.2", inputs=[(3, 5), (3, 5), (3,)], make_inputs=_with_signs,
          grad_inputs=(0, 1))
class CosineEmbeddingLoss(_Loss):
    def __init__(self, margin=0.0, size_average=None, reduce=None, reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        return F.cosine_embedding_loss(input1, input2, target, margin=self.margin,
                                       reduction=self.reduction)

    def infer_shape(self, *shapes, explain=None):
        x1, x2, y = _arity("CosineEmbeddingLoss", shapes, ("input1", "input2", "target"))
        if len(y) > 1 or len(x1) != len(y) + 1 or len(x2) != len(y) + 1:
            raise ShapeError("CosineEmbeddingLoss", f"inputs {list(x1)}, {list(x2)} and target "
                                                    f"{list(y)} must be (N, D), (N, D), (N) or "
                                                    "(D), (D), ()")
        shape = _broadcast("CosineEmbeddingLoss", input1=x1, input2=x2)
        note(explain, f"cosine similarity over the last dim (D = {shape[-1]})")
        return self._reduced(shape[:-1], explain, "pair")


class _TripletLoss(_Loss):
    def infer_shape(self, *shapes, explain=None):
        name = type(self).__name__
        a, p, n = _arity(name, shapes, ("anchor", "positive", "negative"))
        if not len(a) == len(p) == len(n):
            raise ShapeError(name, f"anchor {list(a)}, positive {list(p)} and negative {list(n)} "
                                   "must have the same number of dimensions")
        shape = _broadcast(name, anchor=a, positive=p, negative=n)
        note(explain, f"distances over the last dim (D = {shape[-1] if shape else 1})")
        return self._reduced(shape[:-1], explain, "triplet")


def _positive_margin(layer, margin):
    if margin <= 0:
        raise ValueError(f"{layer}: expected margin to be greater than 0, got {margin} instead")


@register("loss", inputs=[(3, 5), (3, 5), (3, 5)], grad_inputs=(0, 1, 2))
class TripletMarginLoss(_TripletLoss):
    def __init__(self, margin=1.0, p=2.0, eps=1e-6, swap=False, size_average=None, reduce=None,
                 reduction="mean"):
        super().__init__(size_average, reduce, reduction)
        _positive_margin("TripletMarginLoss", margin)
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap

    def forward(self, anchor, positive, negative):
        return F.triplet_margin_loss(anchor, positive, negative, margin=self.margin, p=self.p,
                                     eps=self.eps, swap=self.swap, reduction=self.reduction)


@register("loss", inputs=[(3, 5), (3, 5), (3, 5)], grad_inputs=(0, 1, 2))
class TripletMarginWithDistanceLoss(_TripletLoss):
    """The default distance is a PairwiseDistance() submodule, as in torch (it shows in repr)."""

    def __init__(self, *, distance_function=None, margin=1.0, swap=False, reduction="mean"):
        super().__init__(reduction=reduction)
        _positive_margin("TripletMarginWithDistanceLoss", margin)
        self.distance_function = (distance_function if distance_function is not None
                                  else PairwiseDistance())
        self.margin, self.swap = margin, swap

    def forward(self, anchor, positive, negative):
        return F.triplet_margin_with_distance_loss(
            anchor, positive, negative, distance_function=self.distance_function,
            margin=self.margin, swap=self.swap, reduction=self.reduction)


# ---------------------------------------------------------------- sequences

# torch's CTC gradient assumes log_softmax inputs (it includes the softmax
# normalisation term), so a finite-difference check on free log_probs cannot pass;
# tests check it through log_softmax instead, as torch's own gradcheck does.
@register("loss", inputs=[(6, 2, 4), (2, 3), (2,), (2,)], make_inputs=_ctc_inputs,
          grad_inputs=(0,), gradcheck=False)
class CTCLoss(_Loss):
    def __init__(self, blank=0, reduction="mean", zero_infinity=False):
        super().__init__(reduction=reduction)
        self.blank, self.zero_infinity = blank, zero_infinity

    def forward(self, log_probs, targets, input_lengths, target_lengths):
        return F.ctc_loss(log_probs, targets, input_lengths, target_lengths, self.blank,
                          self.reduction, self.zero_infinity)

    def infer_shape(self, *shapes, explain=None):
        lp, tg, il, tl = _arity("CTCLoss", shapes, ("log_probs", "targets", "input_lengths",
                                                     "target_lengths"))
        if len(lp) not in (2, 3):
            raise ShapeError("CTCLoss", f"log_probs must be (T, N, C) or (T, C), got {list(lp)}")
        N = lp[1] if len(lp) == 3 else 1
        for arg, s in (("input_lengths", il), ("target_lengths", tl)):
            if int(math.prod(s)) != N:
                raise ShapeError("CTCLoss", f"{arg} {list(s)} must have one entry per sample "
                                            f"({N})", f"use {arg} of shape [{N}]")
        if len(tg) not in (1, 2) or (len(tg) == 2 and tg[0] != N):
            raise ShapeError("CTCLoss", f"targets {list(tg)} must be padded (N={N}, S) or "
                                        "concatenated (sum(target_lengths),)")
        note(explain, f"log_probs (T={lp[0]}, N={N}, C={lp[-1]}): one loss per sequence")
        return self._reduced((N,) if len(lp) == 3 else (), explain, "sequence")


__all__ = family_names(__name__)
