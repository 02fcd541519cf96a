"""Loss functions (``torch.nn.functional``'s) on the kernels in ``nncheck._kernels.loss``.

Each function validates shapes, dtypes, index ranges and options here, in Python, then
hands C-contiguous arrays to a kernel.  Four kinds of op cover every loss:

* ``_Pointwise``: an elementwise loss of up to three broadcast operands and a weight,
  summed per element, per row or over everything (the kernels ``<name>_forward``);
* ``_CrossEntropy``/``_CrossEntropyProb``/``_NLL``: class scores viewed as (N, C, inner);
* ``_Rows``: the margin and embedding losses that reduce rows of (N, C) or (N, D);
* ``_CTC``: the alpha/beta recursions.

``_Pointwise`` and the cross entropies compute their input gradients in the forward pass
(while the exps and logs are at hand) when grad mode is on and an input requires grad;
backward then only multiplies them by the upstream gradient (not at all for the usual 1).
"""

import dataclasses
import math
import warnings
from types import SimpleNamespace
from typing import NamedTuple

from ..._lazy import family_names, np
from ...autograd.grad_mode import is_grad_enabled
from ...backend import array_namespace, asarray, ascontiguousarray, host_array, kernels
from ...ops import Op, sum_to_shape
from ...tensor import Tensor
from ._validation import kernel_array
from .linear import linear

_REDUCTIONS = ("none", "mean", "sum")


# ---------------------------------------------------------------- reduction and checks

def _legacy_reduction(size_average, reduce, stacklevel=3):
    """torch's ``_Reduction.legacy_get_string``: the old flags as a reduction, with a warning."""
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    ret = "mean" if size_average and reduce else ("sum" if reduce else "none")
    warnings.warn("size_average and reduce args will be deprecated, please use "
                  f"reduction='{ret}' instead.", stacklevel=stacklevel)
    return ret


def _reduction(fn, size_average, reduce, reduction, allowed=_REDUCTIONS):
    if size_average is not None or reduce is not None:
        return _legacy_reduction(size_average, reduce, stacklevel=4)
    if reduction == "elementwise_mean":
        warnings.warn("reduction='elementwise_mean' is deprecated. Please use reduction='mean' "
                      "instead.", stacklevel=3)
        return "mean"
    if reduction not in allowed:
        expected = ", ".join(repr(r) for r in allowed)
        raise ValueError(f"{fn}: {reduction} is not a valid value for reduction "
                         f"(expected one of {expected})")
    return reduction


def _tensors(fn, **named):
    for name, value in named.items():
        if value is not None and not isinstance(value, Tensor):
            raise TypeError(f"{fn}: {name} must be a Tensor, got {type(value).__name__}")


def _broadcast(fn, **named):
    """The broadcast shape of the named tensors, or a RuntimeError naming the two that clash."""
    shapes = {k: tuple(v.shape) for k, v in named.items() if v is not None}
    try:
        return tuple(np.broadcast_shapes(*shapes.values()))
    except ValueError:
        pass
    names = list(shapes)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            sa, sb = shapes[a], shapes[b]
            for d in range(1, min(len(sa), len(sb)) + 1):
                if sa[-d] != sb[-d] and 1 not in (sa[-d], sb[-d]):
                    raise RuntimeError(
                        f"{fn}: the size of {a} ({sa[-d]}) must match the size of {b} "
                        f"({sb[-d]}) at non-singleton dimension {max(len(sa), len(sb)) - d}: "
                        f"{a} has shape {list(sa)}, {b} has shape {list(sb)}")
    raise RuntimeError(f"{fn}: shapes {shapes} cannot be broadcast together")


def _warn_size(input, target):
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(f"Using a target size ({target.shape}) that is different to the input size "
                      f"({input.shape}). This will likely lead to incorrect results due to "
                      "broadcasting. Please ensure they have the same size.", stacklevel=4)


def _check_same_size(fn, weight, input):
    if weight is not None and tuple(weight.shape) != tuple(input.shape):
        raise ValueError(f"{fn}: Weights and input must have the same size: weight has shape "
                         f"{list(weight.shape)}, input has shape {list(input.shape)}")


def _check_unit_interval(fn, x, arg):
    a = x._data
    if a.size and not np.all((a >= 0) & (a <= 1)):
        raise RuntimeError(f"{fn}: all elements of {arg} should be between 0 and 1, got values "
                           f"in [{np.nanmin(a):g}, {np.nanmax(a):g}]"
                           + (" and NaN" if np.isnan(a).any() else ""))


def _class_weight(fn, weight, C):
    if weight is not None and (weight.ndim != 1 or weight.shape[0] != C):
        raise RuntimeError(f"{fn}: weight tensor should be defined either for all {C} classes or "
                           f"no classes but got weight tensor of shape: {list(weight.shape)}")


def _kernel_weight(weight, dtype):
    if weight is None:
        return np.zeros(0, dtype)
    data = weight._data if isinstance(weight, Tensor) else weight  # stays on its device
    return array_namespace(data).ascontiguousarray(data, dtype).reshape(-1)


def _frozen(ctx, fn, *named):
    """torch raises at backward for arguments its kernel has no derivative for."""
    for index, name in named:
        if ctx.needs_input_grad[index]:
            raise RuntimeError(f"the function '{fn}' is not differentiable with respect to "
                               f"argument '{name}'")


def _reduce(loss, reduction, out_shape, mean_divisor=None):
    """Per-row losses -> the output (none/sum/mean) and the divisor backward applies."""
    if reduction == "none":
        return loss.reshape(out_shape), 1.0
    divisor = 1.0
    if reduction == "mean":
        divisor = loss.size if mean_divisor is None else mean_divisor
    total = loss.sum(dtype=np.float64)
    if divisor != 0:  # the common case skips errstate (a few us, and replays call this often)
        total = total / divisor
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            total = total / divisor
    return asarray(total, loss.dtype), divisor


def _grad_rows(grad, dtype):
    return ascontiguousarray(grad, dtype).reshape(-1)


# ---------------------------------------------------------------- pointwise losses

class _Spec(NamedTuple):
    """What a ``_Pointwise`` call computes."""

    kernel: str  # <kernel>_forward in the loss extension
    fn: str  # torch's function name, for messages
    mode: str  # 'none': per element, 'rows': per row of the last dim, 'all': one total
    divisor: float  # each sum is divided by this (mean: element count)
    params: tuple = (0.0, 0.0, 0.0)
    frozen: tuple = ()  # (operand index, name or None): no gradient; a name makes it an error
    grad: bool = True  # grad mode was on: compute the gradients of inputs that require them


def _operand(a, shape, dtype):
    """``a`` broadcast to ``shape`` as a flat C-contiguous kernel array (empty when absent)."""
    if a is None:
        return np.zeros(0, dtype)
    xp = array_namespace(a)
    if np.shape(a) != shape:  # (a device backend's broadcast_to materialises on the host)
        a = xp.broadcast_to(a, shape)
    return xp.ascontiguousarray(a, dtype).reshape(-1)


def _scaled(unit, grad, outer=1, inner=1):
    """The precomputed gradient ``unit`` (for an upstream gradient of 1) times ``grad``.

    A scalar ``grad`` scales everything; otherwise ``unit`` is viewed as (outer, mid,
    inner) and ``grad`` as (outer, inner), one upstream gradient per output element.
    """
    _k, xp = kernels("loss", unit, grad)
    if unit.size == 0:
        return unit
    g = asarray(grad, unit.dtype)
    if g.size == 1:
        if g.reshape(-1)[0] == 1:
            return unit
        out = xp.empty_like(unit)
        _k.scale(unit.reshape(-1), float(g.reshape(-1)[0]), out.reshape(-1))
        return out
    out = xp.empty_like(unit)
    _k.scale_rows(unit.reshape(outer, -1, inner), xp.ascontiguousarray(g).reshape(outer, inner),
                  out.reshape(outer, -1, inner))
    return out


class _Pointwise(Op):
    """loss(x, y[, z]) * w elementwise over the broadcast operands, summed per segment."""

    @staticmethod
    def forward(ctx, x, y, z, w, spec):
        k = kernel_array(x, spec.fn)
        _k, xp = kernels("loss", x, y, z, w)
        ops = (x, y, z, w)
        shape = tuple(np.broadcast_shapes(*(a.shape for a in ops if a is not None)))
        out_shape = {"none": shape, "rows": shape[:-1], "all": ()}[spec.mode]
        n, nseg = math.prod(shape), math.prod(out_shape)
        frozen = dict(spec.frozen)
        want = [spec.grad and ctx.needs_input_grad[i] and i not in frozen for i in range(4)]
        units = [xp.empty(n, k.dtype) if want[i] else xp.zeros(0, k.dtype) for i in range(4)]
        out = xp.empty(nseg, k.dtype)
        flat = [_operand(a, shape, k.dtype) for a in ops]
        getattr(_k, spec.kernel + "_forward")(*flat, out, n // nseg if nseg else 0, spec.divisor,
                                              *units, *spec.params)
        ctx.spec, ctx.shape, ctx.nseg, ctx.units, ctx.want = spec, shape, nseg, units, want
        ctx.operands = [None if a is None else (a.shape, a.dtype) for a in ops]
        return out.reshape(out_shape).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        spec = ctx.spec
        _frozen(ctx, spec.fn, *[(i, n) for i, n in spec.frozen if n is not None])
        result = []
        for unit, meta, want in zip(ctx.units, ctx.operands, ctx.want):
            if not want:
                result.append(None)
                continue
            g = _scaled(unit, grad, ctx.nseg).reshape(ctx.shape)
            result.append(sum_to_shape(g, meta[0]).astype(meta[1], copy=False))
        return (*result, None)


def _pointwise(kernel, fn, reduction, x, y, z=None, w=None, params=(), frozen=(), divisor=None,
               names=("input", "target", "var", "weight")):
    """Run pointwise ``kernel`` with the standard reductions (``divisor`` overrides mean's)."""
    shape = _broadcast(fn, **dict(zip(names, (x, y, z, w))))
    if reduction == "none":
        mode, div = "none", 1.0
    else:
        mode = "all"
        div = 1.0 if reduction == "sum" else float(math.prod(shape))
    if divisor is not None:
        div = float(divisor)
    params = tuple(float(p) for p in params) + (0.0,) * (3 - len(params))
    return _Pointwise.apply(x, y, z, w, _Spec(kernel, fn, mode, div, params, tuple(frozen),
                                              is_grad_enabled()))


def _regression(kernel, fn, input, target, reduction, weight, params=(), mean_by_weight=True):
    """l1/mse/smooth_l1/huber: broadcast with a warning, optional same-size weight."""
    _tensors(fn, input=input, target=target, weight=weight)
    _warn_size(input, target)
    _broadcast(fn, input=input, target=target)
    _check_same_size(fn, weight, input)
    if weight is not None and reduction == "mean" and mean_by_weight:
        return _pointwise(kernel, fn, "sum", input, target, w=weight, params=params) / weight.sum()
    return _pointwise(kernel, fn, reduction, input, target, w=weight, params=params)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """mean |x - y|; with ``weight``, 'mean' divides by the sum of the weights (as torch)."""
    reduction = _reduction("l1_loss", size_average, reduce, reduction)
    return _regression("l1", "l1_loss", input, target, reduction, weight)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """mean (x - y)^2; with ``weight``, 'mean' divides by the sum of the weights (as torch)."""
    reduction = _reduction("mse_loss", size_average, reduce, reduction)
    return _regression("mse", "mse_loss", input, target, reduction, weight)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    reduction = _reduction("smooth_l1_loss", size_average, reduce, reduction)
    if beta < 0:
        raise RuntimeError(f"smooth_l1_loss does not support negative values for beta (got "
                           f"beta={beta}).")
    if beta == 0:
        return _regression("l1", "smooth_l1_loss", input, target, reduction, None)
    return _regression("smooth_l1", "smooth_l1_loss", input, target, reduction, None,
                       (beta, 1.0 / beta))


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """Huber loss; with ``weight``, 'mean' is the plain mean of the weighted losses (as torch)."""
    reduction = _reduction("huber_loss", None, None, reduction)
    if delta <= 0:
        raise RuntimeError(f"huber_loss does not support non-positive values for delta (got "
                           f"delta={delta}).")
    return _regression("huber", "huber_loss", input, target, reduction, weight, (delta,),
                       mean_by_weight=False)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction="mean"):
    """-w (y log x + (1-y) log(1-x)) with the logs clamped at -100 as torch."""
    fn = "binary_cross_entropy"
    reduction = _reduction(fn, size_average, reduce, reduction)
    _tensors(fn, input=input, target=target, weight=weight)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"{fn}: Using a target size ({target.shape}) that is different to the "
                         f"input size ({input.shape}) is deprecated. Please ensure they have the "
                         "same size.")
    if weight is not None and _broadcast(fn, target=target, weight=weight) != tuple(target.shape):
        raise RuntimeError(f"{fn}: weight of shape {list(weight.shape)} cannot be expanded to the "
                           f"target's shape {list(target.shape)}")
    _check_unit_interval(fn, input, "input")
    _check_unit_interval(fn, target, "target")
    return _pointwise("bce", fn, reduction, input, target, w=weight, frozen=((3, "weight"),))


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """BCE on logits: (1-y) x - (1 + (pw-1) y) log_sigmoid(x), stable for any x."""
    fn = "binary_cross_entropy_with_logits"
    reduction = _reduction(fn, size_average, reduce, reduction)
    _tensors(fn, input=input, target=target, weight=weight, pos_weight=pos_weight)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"{fn}: Target size ({target.shape}) must be the same as input size "
                         f"({input.shape})")
    _broadcast(fn, input=input, pos_weight=pos_weight, weight=weight)
    kernel = "bce_logits" if pos_weight is None else "bce_logits_pw"
    return _pointwise(kernel, fn, reduction, input, target, pos_weight, weight,
                      frozen=((2, "pos_weight"), (3, "weight")),
                      names=("input", "target", "pos_weight", "weight"))


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """KL(target || exp(input)) pointwise; 'batchmean' divides the sum by the batch size."""
    fn = "kl_div"
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    else:
        if reduction == "mean":
            warnings.warn("reduction: 'mean' divides the total loss by both the batch size and "
                          "the support size.'batchmean' divides only by the batch size, and "
                          "aligns with the KL div math definition.'mean' will be changed to "
                          "behave the same as 'batchmean' in the next major release.",
                          stacklevel=2)
        reduction = _reduction(fn, None, None, reduction, _REDUCTIONS + ("batchmean",))
    _tensors(fn, input=input, target=target)
    kernel = "kl_div_log" if log_target else "kl_div"
    if reduction == "batchmean":
        batch = input.shape[0] if input.ndim else 1
        return _pointwise(kernel, fn, "sum", input, target, divisor=batch)
    return _pointwise(kernel, fn, reduction, input, target)


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8,
                     reduce=None, reduction="mean"):
    """exp(x) - y x (log_input) or x - y log(x + eps), plus Stirling's term when ``full``."""
    fn = "poisson_nll_loss"
    reduction = _reduction(fn, size_average, reduce, reduction)
    _tensors(fn, input=input, target=target)
    kernel = "poisson_log" if log_input else "poisson"
    return _pointwise(kernel, fn, reduction, input, target, params=(eps, 0.0, 1.0 if full else 0.0))


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """0.5 (log max(var, eps) + (x - y)^2 / max(var, eps)) (+ 0.5 log 2 pi when ``full``)."""
    fn = "gaussian_nll_loss"
    _tensors(fn, input=input, target=target)
    if isinstance(var, (int, float)):
        if var < 0:
            raise ValueError(f"{fn}: var has negative entry/entries (var={var})")
        var = Tensor._wrap(np.asarray(var, input._data.dtype))
    else:
        _tensors(fn, var=var)
        if np.any(var._data < 0):
            raise ValueError(f"{fn}: var has negative entry/entries")
        ishape, vshape = tuple(input.shape), tuple(var.shape)
        if vshape != ishape:
            if ishape[:-1] == vshape:
                var = var.unsqueeze(-1)
            elif not (len(ishape) == len(vshape)
                      and sum(v for i, v in zip(ishape, vshape) if i != v) == 1):
                raise ValueError(
                    f"{fn}: var is of incorrect size: expected the input's shape {list(ishape)}, "
                    f"that shape without its last dimension, or it with one dimension of size "
                    f"1; got {list(vshape)}")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{fn}: {reduction} is not valid")
    const = 0.5 * math.log(2 * math.pi) if full else 0.0
    return _pointwise("gaussian_nll", fn, reduction, input, target, var, params=(eps, 0.0, const))


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """log(1 + exp(-y x))."""
    fn = "soft_margin_loss"
    reduction = _reduction(fn, size_average, reduce, reduction)
    _tensors(fn, input=input, target=target)
    return _pointwise("soft_margin", fn, reduction, input, target, frozen=((1, "target"),))


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None,
                         reduction="mean"):
    """x where y = 1, max(0, margin - x) where y = -1 (both where y is neither, as torch)."""
    fn = "hinge_embedding_loss"
    reduction = _reduction(fn, size_average, reduce, reduction)
    _tensors(fn, input=input, target=target)
    return _pointwise("hinge_embedding", fn, reduction, input, target, params=(margin,),
                      frozen=((1, None),))


def margin_ranking_loss(input1, input2, target, margin=0, size_average=None, reduce=None,
                        reduction="mean"):
    """max(0, -y (x1 - x2) + margin)."""
    fn = "margin_ranking_loss"
    reduction = _reduction(fn, size_average, reduce, reduction)
    _tensors(fn, input1=input1, input2=input2, target=target)
    if not input1.ndim == input2.ndim == target.ndim:
        raise RuntimeError(f"{fn}: All input tensors should have same dimension but got sizes: "
                           f"input1: {input1.shape}, input2: {input2.shape}, target: "
                           f"{target.shape}")
    _broadcast(fn, input1=input1, input2=input2, target=target)
    return _pointwise("margin_ranking", fn, reduction, input1, input2, target, params=(margin,),
                      names=("input1", "input2", "target"))


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,
                                reduction="mean"):
    """Per sample, the mean over the C classes of the (weighted) BCE with logits."""
    fn = "multilabel_soft_margin_loss"
    reduction = _reduction(fn, size_average, reduce, reduction)
    _tensors(fn, input=input, target=target, weight=weight)
    if input.ndim == 0:
        raise ValueError(f"{fn}: input must have a class dimension (C) or (N, C), got a 0-D "
                         "tensor")
    shape = _broadcast(fn, input=input, target=target, weight=weight)
    C = input.shape[-1]
    if reduction == "none":
        mode, divisor = "rows", C
    else:
        mode = "all"
        divisor = math.prod(shape) // max(shape[-1], 1) * C if reduction == "mean" else C
    spec = _Spec("bce_logits", fn, mode, float(divisor), grad=is_grad_enabled())
    return _Pointwise.apply(input, target, None, weight, spec)


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None,
                                      margin=1.0, swap=False, reduction="mean"):
    """max(0, margin + d(a, p) - d(a, n)); the default distance is pairwise_distance (p=2)."""
    fn = "triplet_margin_with_distance_loss"
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{fn}: {reduction} is not a valid value for reduction")
    if margin <= 0:
        raise ValueError(f"{fn}: margin must be greater than 0, got {margin}")
    _tensors(fn, anchor=anchor, positive=positive, negative=negative)
    _same_ndim(anchor, positive, negative)
    if distance_function is None:
        return triplet_margin_loss(anchor, positive, negative, margin, 2.0, 1e-6, swap,
                                   reduction=reduction)
    dist_pos = distance_function(anchor, positive)
    dist_neg = distance_function(anchor, negative)
    names = ("dist_pos", "dist_neg", "dist_swap")
    if swap:
        return _pointwise("triplet_hinge_swap", fn, reduction, dist_pos, dist_neg,
                          distance_function(positive, negative), params=(margin,), names=names)
    return _pointwise("triplet_hinge", fn, reduction, dist_pos, dist_neg, params=(margin,),
                      names=names)


def _same_ndim(anchor, positive, negative):
    if not anchor.ndim == positive.ndim == negative.ndim:
        raise RuntimeError(
            "The anchor, positive, and negative tensors are expected to have the same number of "
            f"dimensions, but got: anchor {anchor.ndim}D, positive {positive.ndim}D, and "
            f"negative {negative.ndim}D inputs")


# ---------------------------------------------------------------- cross entropy and NLL

def _class_layout(shape):
    """(N, C, inner) of class scores shaped (C,), (N, C) or (N, C, d1, ..., dK)."""
    if len(shape) == 1:
        return 1, shape[0], 1
    return shape[0], shape[1], math.prod(shape[2:])


def _class_targets(fn, input, target, ignore_index):
    """Validate class-index targets against the scores; return them as flat int64."""
    shape, tshape = tuple(input.shape), tuple(target.shape)
    expected = () if len(shape) == 1 else shape[:1] + shape[2:]
    if len(shape) >= 2 and tshape and tshape[0] != shape[0]:  # PyTorch checks this first
        raise ValueError(f"{fn}: Expected input batch_size ({shape[0]}) to match target "
                         f"batch_size ({tshape[0]}).")
    if target._data.dtype.kind not in "iu":
        raise RuntimeError(f"{fn}: expected target dtype to be Long or Byte, but got "
                           f"{target.dtype}: targets hold class indices (an integer tensor of "
                           f"shape {list(expected)}) or class probabilities (a float tensor of the "
                           f"input's shape {list(shape)}), got a {target.dtype} tensor of shape "
                           f"{list(tshape)}")
    if tshape != expected:
        if len(shape) == 1:
            raise RuntimeError(f"{fn}: 0D or 1D target tensor expected, multi-target not "
                               f"supported (unbatched input of shape {list(shape)} takes a 0-D "
                               f"target, got shape {list(tshape)})")
        raise RuntimeError(f"{fn}: Expected target size {list(expected)}, got {list(tshape)} "
                           f"(input has shape {list(shape)}: (N, C, d1, ..., dK) takes targets "
                           "(N, d1, ..., dK))")
    t = host_array(target._data, np.int64).reshape(-1)  # bounds checked on the host
    C = _class_layout(shape)[1]
    bad = (t != ignore_index) & ((t < 0) | (t >= C))
    if bad.any():
        raise IndexError(f"{fn}: Target {t[np.argmax(bad)]} is out of bounds. (class indices "
                         f"must be in [0, {C}) or equal ignore_index={ignore_index})")
    return t


def _class_divisor(weight, target, ignore_index, reduction):
    """'mean' divides by the sum of w[target] over the targets that are not ignored."""
    if reduction != "mean":
        return 1.0
    valid = target[target != ignore_index]
    if weight is None:
        return float(valid.size)
    w = array_namespace(weight._data).asarray(weight._data).reshape(-1)
    return float(w[valid].sum(dtype=np.float64))


class _CrossEntropy(Op):
    """Fused log_softmax + NLL over class indices, with class weights and label smoothing."""

    @staticmethod
    def forward(ctx, x, weight, target, ignore_index, smoothing, reduction, grad, divisor):
        # divisor: _class_divisor's, from the wrapper (it depends on the targets only, so
        # gradcheck's replayed forwards do not recompute it)
        _k, xp = kernels("loss", x)
        k = kernel_array(x, "cross_entropy")
        N, C, inner = _class_layout(k.shape)
        w = _kernel_weight(weight, k.dtype)
        loss = xp.empty(N * inner, k.dtype)
        want_unit = grad and ctx.needs_input_grad[0]
        ctx.unit = xp.empty(k.size if want_unit else 0, k.dtype)
        unit_scale = 1.0
        if reduction == "mean":
            unit_scale = 1.0 / divisor if divisor != 0 else math.copysign(math.inf, divisor)
        _k.cross_entropy_forward(k.reshape(-1), target, w, C, inner, ignore_index, smoothing,
                                 unit_scale, loss, ctx.unit)
        out_shape = () if k.ndim == 1 else k.shape[:1] + k.shape[2:]
        out, _ = _reduce(loss, reduction, out_shape, divisor if reduction == "mean" else None)
        ctx.layout, ctx.shape, ctx.dtype = (N, inner), x.shape, x.dtype
        return out.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        _frozen(ctx, "cross_entropy", (1, "weight"))
        gx = _scaled(ctx.unit, grad, *ctx.layout)
        return gx.reshape(ctx.shape).astype(ctx.dtype, copy=False), None

    @staticmethod
    def forward_stacked(ctx, stacked, x, weight, target, ignore_index, smoothing, reduction, grad,
                        divisor):
        """K versions of the scores (leading axis): one call over K times the rows, per-row
        losses, then each version's reduction."""
        if any(stacked[1:]):
            raise NotImplementedError("stacked cross entropy: only the scores vary")
        k, shape = x.shape[0], x.shape[1:]
        rows = x if len(shape) == 1 else x.reshape((k * shape[0],) + shape[1:])
        loss = _CrossEntropy.forward(ctx, rows, weight, np.tile(target, k),
                                     ignore_index, smoothing, "none", False, divisor)
        loss = loss.reshape(k, -1)
        if reduction == "none":
            return loss.reshape((k,) + (() if len(shape) == 1 else shape[:1] + shape[2:]))
        total = loss.sum(axis=1, dtype=np.float64)
        if reduction == "mean":
            with np.errstate(divide="ignore", invalid="ignore"):
                total = total / divisor
        return total.astype(x.dtype)


class _CrossEntropyProb(Op):
    """Cross entropy against class probabilities (target shaped like the input)."""

    @staticmethod
    def forward(ctx, x, y, weight, smoothing, reduction, grad):
        _k, xp = kernels("loss", x)
        k = kernel_array(x, "cross_entropy")
        N, C, inner = _class_layout(k.shape)
        ky = xp.ascontiguousarray(y, k.dtype).reshape(-1)
        loss = xp.empty(N * inner, k.dtype)
        units = [xp.empty(k.size, k.dtype) if grad and ctx.needs_input_grad[i] else
                 xp.zeros(0, k.dtype) for i in (0, 1)]
        with np.errstate(divide="ignore"):
            unit_scale = np.float64(1.0) / (N * inner) if reduction == "mean" else 1.0
        _k.cross_entropy_prob_forward(k.reshape(-1), ky, _kernel_weight(weight, k.dtype), C, inner,
                                      smoothing, float(unit_scale), loss, *units)
        out_shape = () if k.ndim == 1 else k.shape[:1] + k.shape[2:]
        out, _ = _reduce(loss, reduction, out_shape)
        ctx.units, ctx.layout = units, (N, inner)
        ctx.meta = [(x.shape, x.dtype), (y.shape, y.dtype)]
        return out.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        _frozen(ctx, "cross_entropy", (2, "weight"))
        return (*(_scaled(u, grad, *ctx.layout).reshape(shape).astype(dtype, copy=False)
                  if ctx.needs_input_grad[i] else None
                  for i, (u, (shape, dtype)) in enumerate(zip(ctx.units, ctx.meta))), None)


class _NLL(Op):
    @staticmethod
    def forward(ctx, x, weight, target, ignore_index, reduction):
        _k, xp = kernels("loss", x)
        k = kernel_array(x, "nll_loss")
        N, C, inner = _class_layout(k.shape)
        loss, used = xp.empty(N * inner, k.dtype), xp.empty(N * inner, k.dtype)
        _k.nll_forward(k.reshape(-1), target, _kernel_weight(weight, k.dtype), C, inner,
                       ignore_index, loss, used)
        out_shape = () if k.ndim == 1 else k.shape[:1] + k.shape[2:]
        out, ctx.divisor = _reduce(loss, reduction, out_shape,
                                   used.sum(dtype=np.float64) if reduction == "mean" else None)
        ctx.save_for_backward(x, weight)
        ctx.target, ctx.ignore_index = target, ignore_index
        return out.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        _k, xp = kernels("loss", grad)
        _frozen(ctx, "nll_loss", (1, "weight"))
        x, weight = ctx.saved_tensors
        dtype = kernel_array(x, "nll_loss").dtype
        N, C, inner = _class_layout(x.shape)
        gx = xp.zeros(x.size, dtype)
        _k.nll_backward(ctx.target, _kernel_weight(weight, dtype), C, inner, ctx.ignore_index,
                        _grad_rows(grad, dtype), ctx.divisor, gx)
        return gx.reshape(x.shape).astype(x.dtype, copy=False), None


def _class_scores(fn, input, weight):
    if input.ndim == 0:
        raise ValueError(f"{fn}: input must have a class dimension: (C), (N, C) or "
                         "(N, C, d1, ..., dK); got a 0-D tensor")
    C = _class_layout(tuple(input.shape))[1]
    _class_weight(fn, weight, C)
    return C


_SCALAR_TYPE_NAMES = {"float64": "Double", "float32": "Float", "float16": "Half"}


def _weight_of_input_dtype(fn, input, weight):
    """The class-index kernels read weight in the input's dtype: PyTorch refuses others."""
    if weight is not None and weight.dtype != input.dtype:
        names = (_SCALAR_TYPE_NAMES.get(d.name, d.name) for d in (input.dtype, weight.dtype))
        raise RuntimeError(f"{fn}: expected scalar type {next(names)} but found {next(names)} "
                           "(weight must have the input's dtype)")


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """-w[t] * input[t]; 'mean' divides by the sum of w[t] over non-ignored targets."""
    fn = "nll_loss"
    reduction = _reduction(fn, size_average, reduce, reduction)
    _tensors(fn, input=input, target=target, weight=weight)
    _class_scores(fn, input, weight)
    _weight_of_input_dtype(fn, input, weight)
    t = _class_targets(fn, input, target, ignore_index)
    return _NLL.apply(input, weight, t, int(ignore_index), reduction)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """log_softmax over dim 1 (dim 0 unbatched) then NLL, or soft targets of the input's shape."""
    fn = "cross_entropy"
    reduction = _reduction(fn, size_average, reduce, reduction)
    _tensors(fn, input=input, target=target, weight=weight)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"{fn}: label_smoothing must be between 0.0 and 1.0. Got: "
                           f"{label_smoothing}")
    _class_scores(fn, input, weight)
    if tuple(target.shape) == tuple(input.shape):
        if not target.is_floating_point():
            raise RuntimeError(f"{fn}: Expected floating point type for target with class "
                               f"probabilities, got {target.dtype}")
        if ignore_index >= 0:
            raise RuntimeError(f"{fn}: ignore_index is not supported for floating point target "
                               f"(got ignore_index={ignore_index})")
        return _CrossEntropyProb.apply(input, target, weight, float(label_smoothing), reduction,
                                       is_grad_enabled())
    _weight_of_input_dtype(fn, input, weight)
    t = _class_targets(fn, input, target, ignore_index)
    return _CrossEntropy.apply(input, weight, t, int(ignore_index), float(label_smoothing),
                               reduction, is_grad_enabled(),
                               _class_divisor(weight, t, ignore_index, reduction))


@dataclasses.dataclass(slots=True, frozen=True)
class LinearCrossEntropyOptions:
    """torch.nn.LinearCrossEntropyOptions: how linear_cross_entropy splits the batch so
    that the (N, C) logits never exist at once (see _ChunkedLinearCrossEntropy).
    ``acc_policy``/``acc_dtype`` choose PyTorch's mixed-precision accumulation; nncheck
    accumulates in the input's dtype (float16 in float32) and only validates them."""

    allow_retain_graph: bool = False
    batch_chunk_size: int | None = None
    chunking_method: str | None = "auto"
    acc_policy: str = "auto"
    acc_dtype: object = None

    def __post_init__(self):
        if self.acc_policy not in {"auto", "accurate", "balanced", "compact"}:
            raise ValueError(f"invalid acc_policy: {self.acc_policy!r}")
        if self.chunking_method is not None and self.chunking_method != "auto":
            name, sep, factor = self.chunking_method.partition(":")
            factor = factor if sep else "1"
            if not (name == "aspect_ratio" and factor.isdigit() and int(factor) > 0):
                raise ValueError(f"invalid chunking_method: {self.chunking_method!r}")
        size = self.batch_chunk_size
        if not (size is None or (isinstance(size, int) and size > 0)):
            raise ValueError(f"batch_chunk_size must be positive int or None, got {size!r}")
        if self.acc_dtype is not None and getattr(self.acc_dtype, "name", None) not in (
                "float16", "bfloat16", "float32", "float64"):
            raise ValueError(f"acc_dtype must be one of {{None, float16, bfloat16, float32, "
                             f"float64}}, got {self.acc_dtype!r}")

    def chunk_rows(self, num_batches, in_features, num_classes):
        """Rows per chunk, resolved as PyTorch's ``_adjust`` does on the CPU in float32/64
        ("auto" is "aspect_ratio:2" there)."""
        method = self.chunking_method
        if method == "auto":
            method = None if self.batch_chunk_size is not None else "aspect_ratio:2"
        size = num_batches if self.batch_chunk_size is None else min(self.batch_chunk_size,
                                                                     num_batches)
        if method is not None:
            factor = int(method.partition(":")[2] or 1)
            target = -(-num_batches // -(-num_classes // in_features))
            size = min((1 << (target - 1).bit_length()) // factor, num_batches)
            if self.batch_chunk_size is not None and self.batch_chunk_size != size:
                raise ValueError(f"batch_chunk_size (={self.batch_chunk_size}) and "
                                 f"chunking_method ('{method}') give different chunk sizes "
                                 f"({self.batch_chunk_size} vs {size}); pass only one.")
        return max(1, size)


class _ChunkedLinearCrossEntropy(Op):
    """cross_entropy(x @ W.T + b, t) a chunk of rows at a time: forward keeps only each
    row's log-sum-exp, backward recomputes each chunk's logits, so memory is O(chunk * C)
    instead of O(N * C) (PyTorch's chunked path; no label smoothing, class indices)."""

    @staticmethod
    def forward(ctx, x, w, b, t, class_weight, ignore_index, reduction, rows):
        n = x.shape[0]
        keep = t != ignore_index
        safe_t = np.where(keep, t, 0)
        row_weight = (np.ones(n, x.dtype) if class_weight is None
                      else class_weight[safe_t].astype(x.dtype)) * keep
        lse, losses = np.empty(n, x.dtype), np.empty(n, x.dtype)
        for start in range(0, n, rows):
            part = slice(start, start + rows)
            logits = x[part] @ w.T if b is None else x[part] @ w.T + b
            top = logits.max(axis=1)
            lse[part] = top + np.log(np.exp(logits - top[:, None]).sum(axis=1))
            losses[part] = lse[part] - logits[np.arange(logits.shape[0]), safe_t[part]]
        losses *= row_weight
        ctx.save_for_backward(x, w, b)
        ctx.keep = (safe_t, row_weight, lse, rows, reduction, b is not None)
        if reduction == "none":
            return losses
        total = losses.sum()
        return np.asarray(total / row_weight.sum() if reduction == "mean" else total)

    @staticmethod
    def backward(ctx, grad):
        x, w, b = ctx.saved_tensors
        safe_t, row_weight, lse, rows, reduction, has_bias = ctx.keep
        if reduction == "none":
            scale = grad * row_weight
        else:
            scale = row_weight * (grad / row_weight.sum() if reduction == "mean" else grad)
        gx, gw = np.empty_like(x), np.zeros_like(w)
        gb = np.zeros(w.shape[0], x.dtype) if has_bias else None
        for start in range(0, x.shape[0], rows):
            part = slice(start, start + rows)
            logits = x[part] @ w.T if b is None else x[part] @ w.T + b
            dlogits = np.exp(logits - lse[part, None])  # softmax
            dlogits[np.arange(dlogits.shape[0]), safe_t[part]] -= 1
            dlogits *= scale[part, None]
            gx[part] = dlogits @ w
            gw += dlogits.T @ x[part]
            if has_bias:
                gb += dlogits.sum(axis=0)
        return gx, gw, gb


def linear_cross_entropy(input, linear_weight, target, *, linear_bias=None, weight=None,
                         reduction="mean", ignore_index=None, label_smoothing=0.0, options=None):
    """cross_entropy(linear(input, linear_weight, linear_bias), target, ...) with a
    (C, d1, ..., dK, in_features) weight for K-dimensional losses (PyTorch 2.13)."""
    fn = "linear_cross_entropy"
    _tensors(fn, input=input, linear_weight=linear_weight, target=target,
             linear_bias=linear_bias, weight=weight)
    if options is not None and not isinstance(options, LinearCrossEntropyOptions):
        raise TypeError(f"{fn}: options must be a LinearCrossEntropyOptions or None, got "
                        f"{type(options).__name__}")
    if input.dim() < 1 or input.dim() > 2:
        raise RuntimeError(f"expected input with dimensionality 1 or 2, got {input.dim()}")
    if linear_weight.dim() < 2:
        raise RuntimeError("expected linear_weight with dimensionality at least 2, got "
                           f"{linear_weight.dim()}")
    batch, in_features = tuple(input.shape[:-1]), input.shape[-1]
    if in_features != linear_weight.shape[-1]:
        raise RuntimeError("expected equal input and linear_weight last dimensions "
                           f"(in_features), got {in_features} and {linear_weight.shape[-1]}, "
                           "respectively")
    num_classes, out_features = linear_weight.shape[0], tuple(linear_weight.shape[1:-1])
    if linear_bias is not None and tuple(linear_bias.shape) != (num_classes, *out_features):
        raise RuntimeError(f"expected linear_bias shape {(num_classes, *out_features)}, got "
                           f"{tuple(linear_bias.shape)}")
    if out_features and not batch:
        raise RuntimeError(f"K-dimensional loss defined by linear_weight shape "
                           f"{tuple(linear_weight.shape)} requires batched input, "
                           f"(N, {in_features}), got unbatched input with shape "
                           f"{tuple(input.shape)}")
    logits_shape = (*batch, num_classes, *out_features)
    if tuple(target.shape) == logits_shape and ignore_index is not None:
        raise RuntimeError("ignore_index cannot be specified when target contains probabilities")
    if (options is not None and not out_features and label_smoothing == 0.0
            and target.dtype.name == "int64" and reduction in ("mean", "sum", "none")):
        return _chunked_linear_cross_entropy(input, linear_weight, target, linear_bias, weight,
                                             reduction, ignore_index, options)
    rows = math.prod(out_features, start=num_classes)
    logits = linear(input, linear_weight.reshape(rows, in_features),
                    None if linear_bias is None else linear_bias.reshape(rows))
    return cross_entropy(logits.reshape(logits_shape), target, weight=weight,
                         reduction=reduction,
                         ignore_index=-100 if ignore_index is None else ignore_index,
                         label_smoothing=label_smoothing)


def _chunked_linear_cross_entropy(input, linear_weight, target, linear_bias, weight,
                                  reduction, ignore_index, options):
    fn = "linear_cross_entropy"
    num_classes, in_features = linear_weight.shape
    batched = input.ndim == 2
    x = input if batched else input.reshape(1, in_features)
    _class_weight(fn, weight, num_classes)
    for name, t in (("linear_weight", linear_weight), ("linear_bias", linear_bias),
                    ("weight", weight)):
        if t is not None and t.dtype != input.dtype:
            raise RuntimeError(f"{fn}: expected {name} of dtype {input.dtype}, got {t.dtype}")
    ignore_index = -100 if ignore_index is None else ignore_index
    # the targets are checked against the logits' shape, without the logits
    logits = SimpleNamespace(shape=(x.shape[0], num_classes) if batched else (num_classes,))
    t = _class_targets(fn, logits, target, ignore_index)
    rows = options.chunk_rows(x.shape[0], in_features, num_classes)
    out = _ChunkedLinearCrossEntropy.apply(
        x, linear_weight, linear_bias, t, None if weight is None else weight._data, ignore_index,
        reduction, rows)
    return out if batched or reduction != "none" else out.reshape(())


# ---------------------------------------------------------------- margin and embedding losses

class _Rows(Op):
    """A loss that reduces each row of 2-D operands: kernels ``<name>_forward/_backward``.

    ``arrays`` are the differentiable 2-D operands, ``extra`` the non-differentiable
    kernel arguments (targets, options); ``saved`` is what forward hands to backward.
    """

    @staticmethod
    def forward(ctx, *args):
        *arrays, spec = args
        name, fn, extra, reduction, out_shape, n_diff = spec
        k = kernel_array(arrays[0], fn)
        _k, xp = kernels("loss", *arrays)
        ops = [xp.ascontiguousarray(a, k.dtype) for a in arrays[:n_diff]]
        rows = ops[0].shape[0]
        loss = xp.empty(rows, k.dtype)
        saved = _ROW_SAVED[name](rows, k.dtype, xp)
        getattr(_k, name + "_forward")(*ops, *_kernel_extra(extra, k.dtype), loss, *saved)
        out, ctx.divisor = _reduce(loss, reduction, out_shape)
        ctx.save_for_backward(*arrays[:n_diff])
        ctx.spec, ctx.saved, ctx.n_args = spec, saved, len(arrays)
        return out.astype(arrays[0].dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        name, fn, extra, reduction, out_shape, n_diff = ctx.spec
        arrays = ctx.saved_tensors
        _frozen(ctx, fn, *[(i, "weight") for i in range(n_diff, ctx.n_args)])
        dtype = kernel_array(arrays[0], fn).dtype
        _k, xp = kernels("loss", *arrays, grad)
        ops = [xp.ascontiguousarray(a, dtype) for a in arrays]
        grads = [xp.zeros_like(a) for a in ops]
        getattr(_k, name + "_backward")(*ops, *_kernel_extra(extra, dtype), *ctx.saved,
                                        _grad_rows(grad, dtype), ctx.divisor, *grads)
        return (*(g.astype(a.dtype, copy=False) if ctx.needs_input_grad[i] else None
                  for i, (g, a) in enumerate(zip(grads, arrays))),
                *([None] * (ctx.n_args - n_diff)), None)


def _kernel_extra(extra, dtype):
    """Kernel arguments after the operands, float arrays (weights, labels) in the kernel dtype."""
    def convert(e):
        if e is None or isinstance(e, Tensor):
            return _kernel_weight(e, dtype)
        if isinstance(e, np.ndarray) and e.dtype.kind == "f":
            return np.ascontiguousarray(e, dtype)
        return e

    return [convert(e) for e in extra]


_ROW_SAVED = {
    "multi_margin": lambda rows, dtype, xp: (),
    "cosine_embedding": lambda rows, dtype, xp: (),
    "triplet_margin": lambda rows, dtype, xp: (xp.empty((rows, 3), dtype),),
}


def _rows_apply(name, fn, operands, extra, reduction, out_shape, weight=None):
    spec = (name, fn, tuple(extra), reduction, tuple(out_shape), len(operands))
    args = list(operands) + ([weight] if weight is not None and weight.requires_grad else [])
    return _Rows.apply(*args, spec)


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None,
                      reduce=None, reduction="mean"):
    """sum_{j != y} max(0, margin - x[y] + x[j])^p * w[y] / C per sample (p = 1 or 2)."""
    fn = "multi_margin_loss"
    reduction = _reduction(fn, size_average, reduce, reduction)
    _tensors(fn, input=input, target=target, weight=weight)
    if p not in (1, 2):
        raise ValueError(f"{fn}: only p == 1 and p == 2 supported (got p={p})")
    if weight is not None and weight.ndim != 1:
        raise ValueError(f"{fn}: weight must be one-dimensional, got shape {list(weight.shape)}")
    if input.ndim > 2 or (input.ndim >= 1 and input.shape[-1] == 0):
        raise RuntimeError(f"{fn}: Expected non-empty vector or matrix with optional 0-dim batch "
                           f"size, but got: {list(input.shape)}")
    N = input.shape[0] if input.ndim == 2 else 1
    C = input.shape[-1] if input.ndim else 1
    if target.ndim > 1 or target.numel() != N:
        raise RuntimeError(f"{fn}: inconsistent target size: target tensor should be 1-D with "
                           f"size equal to the batch size. Expected target size [{N}], but got "
                           f"{list(target.shape)}")
    if weight is not None and weight.numel() != C:
        raise RuntimeError(f"{fn}: inconsistent weight size, expected {C} but got "
                           f"{list(weight.shape)}")
    t = _index_array(fn, target)
    if np.any((t < 0) | (t >= C)):
        raise RuntimeError(f"{fn}: target out of range: got {t[(t < 0) | (t >= C)][0]}, class "
                           f"indices must be in [0, {C})")
    x = input.reshape(N, C)
    out_shape = (N,) if target.ndim > 0 else ()
    return _rows_apply("multi_margin", fn, [x], [t, weight, int(p), float(margin)], reduction,
                       out_shape, weight)


def _index_array(fn, target):
    if target._data.dtype.kind not in "iu":
        raise RuntimeError(f"{fn}: expected target to hold class indices (an integer tensor), "
                           f"got {target.dtype}")
    return host_array(target._data, np.int64).reshape(-1)


class _MultiLabelMargin(Op):
    @staticmethod
    def forward(ctx, x, target, reduction, out_shape):
        _k, xp = kernels("loss", x)
        k = xp.ascontiguousarray(kernel_array(x, "multilabel_margin_loss"))
        is_target = xp.zeros(k.shape, np.uint8)
        loss = xp.empty(k.shape[0], k.dtype)
        _k.multilabel_margin_forward(k, target, is_target, loss)
        out, ctx.divisor = _reduce(loss, reduction, out_shape)
        ctx.save_for_backward(x)
        ctx.target, ctx.is_target = target, is_target
        return out.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        _k, xp = kernels("loss", grad)
        (x,) = ctx.saved_tensors
        k = kernel_array(x, "multilabel_margin_loss")
        gx = xp.empty_like(k)
        _k.multilabel_margin_backward(k, ctx.target, ctx.is_target, _grad_rows(grad, k.dtype),
                                      ctx.divisor, gx)
        return gx.astype(x.dtype, copy=False)


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """sum over target classes k (listed before the first -1) and other classes j of
    max(0, 1 - (x[k] - x[j])) / C per sample."""
    fn = "multilabel_margin_loss"
    reduction = _reduction(fn, size_average, reduce, reduction)
    _tensors(fn, input=input, target=target)
    shape = tuple(input.shape)
    if not (len(shape) == 0 or (len(shape) <= 2 and shape[-1] != 0)):
        raise RuntimeError(f"{fn}: Expected non-empty vector or matrix with optional 0-dim batch "
                           f"size, but got: {list(shape)}")
    N, C = (shape[0], shape[1]) if len(shape) == 2 else (1, shape[0] if shape else 1)
    ok = (target.ndim == 2 and tuple(target.shape) == (N, C)) if len(shape) == 2 else (
        target.ndim <= 1 and target.numel() == C)
    if not ok:
        raise RuntimeError(f"{fn}: inconsistent target size: {list(target.shape)} for input of "
                           f"size: {list(shape)} (the target must have the input's shape)")
    t = _index_array(fn, target).reshape(N, C)
    listed = np.cumprod(t >= 0, axis=1).astype(bool)  # entries before the first negative one
    if np.any(listed & (t >= C)):
        raise RuntimeError(f"{fn}: argument #2 'target' is out of range: got "
                           f"{t[listed & (t >= C)][0]}, class indices must be in [0, {C}) "
                           "(a -1 ends each sample's list)")
    return _MultiLabelMargin.apply(input.reshape(N, C), t, reduction,
                                   (N,) if len(shape) == 2 else ())


def cosine_embedding_loss(input1, input2, target, margin=0, size_average=None, reduce=None,
                          reduction="mean"):
    """1 - cos(x1, x2) where y = 1, max(0, cos(x1, x2) - margin) where y = -1."""
    fn = "cosine_embedding_loss"
    reduction = _reduction(fn, size_average, reduce, reduction)
    _tensors(fn, input1=input1, input2=input2, target=target)
    if target.ndim > 1:
        raise RuntimeError(f"{fn}: 0D or 1D target tensor expected, multi-target not supported "
                           f"(got target of shape {list(target.shape)})")
    want = 2 if target.ndim == 1 else 1
    if input1.ndim != want or input2.ndim != want:
        raise RuntimeError(f"{fn}: {target.ndim}D target tensor expects {want}D input tensors, "
                           f"but found inputs with sizes {list(input1.shape)} and "
                           f"{list(input2.shape)}.")
    shape = _broadcast(fn, input1=input1, input2=input2)
    N, D = (shape[0], shape[1]) if want == 2 else (1, shape[0])
    if target.numel() not in (1, N):
        raise RuntimeError(f"{fn}: target has {target.numel()} entries but the inputs have {N} "
                           "rows")
    y = np.broadcast_to(asarray(target._data, np.float64).reshape(-1), (N,))
    x1, x2 = (_expand_rows(a, shape, N, D) for a in (input1, input2))
    return _rows_apply("cosine_embedding", fn, [x1, x2], [y, float(margin)], reduction,
                       (N,) if want == 2 else ())


def _expand_rows(a, shape, rows, width):
    """``a`` broadcast to ``shape`` and viewed as (rows, width), through autograd."""
    if tuple(a.shape) != tuple(shape):
        a = a.expand(*shape)
    return a.reshape(rows, width)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False,
                        size_average=None, reduce=None, reduction="mean"):
    """max(0, margin + ||a - p + eps||_p - ||a - n + eps||_p), with the swap of Balntas et al."""
    fn = "triplet_margin_loss"
    reduction = _reduction(fn, size_average, reduce, reduction)
    if margin <= 0:
        raise ValueError(f"{fn}: margin must be greater than 0, got {margin}")
    _tensors(fn, anchor=anchor, positive=positive, negative=negative)
    _same_ndim(anchor, positive, negative)
    shape = _broadcast(fn, anchor=anchor, positive=positive, negative=negative)
    D = shape[-1] if shape else 1
    rows = math.prod(shape[:-1])
    ops = [_expand_rows(a, shape, rows, D) for a in (anchor, positive, negative)]
    return _rows_apply("triplet_margin", fn, ops, [float(margin), float(p), float(eps), bool(swap)],
                       reduction, shape[:-1])


# ---------------------------------------------------------------- CTC

def _lengths(fn, value, arg, batch):
    if isinstance(value, Tensor):
        if value._data.dtype.kind not in "iu":
            raise RuntimeError(f"{fn}: {arg} must be integers, got a {value.dtype} tensor")
        arr = host_array(value._data, np.int64).reshape(-1)
    else:
        arr = np.asarray(value if np.ndim(value) else [value])
        if arr.size and arr.dtype.kind not in "iu":
            raise RuntimeError(f"{fn}: {arg} must be integers, got {value!r}")
        arr = arr.astype(np.int64).reshape(-1)
    if arr.size != batch:
        raise RuntimeError(f"{fn}: {arg} must be of size batch_size ({batch}), got {arr.size} "
                           "entries")
    if np.any(arr < 0):
        raise RuntimeError(f"{fn}: Expected {arg} to have value at least 0, but got value "
                           f"{arr[arr < 0][0]}")
    return np.ascontiguousarray(arr)


class _CTC(Op):
    @staticmethod
    def forward(ctx, log_probs, targets, offsets, input_lengths, target_lengths, blank, reduction,
                zero_infinity, out_shape):
        _k, xp = kernels("loss", log_probs)
        k = kernel_array(log_probs, "ctc_loss")
        T, N, C = k.shape
        width = 2 * int(target_lengths.max(initial=0)) + 1
        log_alpha = xp.empty((N, T, width), k.dtype)
        nll = xp.empty(N, k.dtype)
        _k.ctc_forward(k, targets, offsets, input_lengths, target_lengths, blank, log_alpha, nll)
        loss = np.where(zero_infinity & (nll == np.inf), 0, nll).astype(k.dtype)
        if reduction == "mean":
            per_char = np.maximum(target_lengths, 1)
            out = asarray((loss / per_char).mean(dtype=np.float64), k.dtype)
            scale = 1.0 / (per_char * N)
        elif reduction == "sum":
            out, scale = asarray(loss.sum(dtype=np.float64), k.dtype), xp.ones(N)
        else:
            out, scale = loss.reshape(out_shape), None
        ctx.save_for_backward(log_probs)
        ctx.state = (targets, offsets, input_lengths, target_lengths, blank, log_alpha, nll,
                     scale, zero_infinity)
        return out.astype(log_probs.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        _k, xp = kernels("loss", grad)
        (log_probs,) = ctx.saved_tensors
        targets, offsets, input_lengths, target_lengths, blank, log_alpha, nll, scale, zinf = \
            ctx.state
        k = kernel_array(log_probs, "ctc_loss")
        g = asarray(grad, np.float64).reshape(-1)
        per_sample = xp.ascontiguousarray(g if scale is None else g[0] * scale, k.dtype)
        gx = xp.empty_like(k)
        _k.ctc_backward(k, targets, offsets, input_lengths, target_lengths, blank, log_alpha, nll,
                        per_sample, bool(zinf), xp.empty_like(log_alpha), gx)
        return gx.astype(log_probs.dtype, copy=False)


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean",
             zero_infinity=False):
    """Connectionist temporal classification loss of log_probs (T, N, C) or (T, C).

    targets are padded (N, S) or concatenated (sum(target_lengths),); lengths are
    tensors or sequences of ints.  'mean' divides each loss by its target length,
    then averages over the batch.  The gradient is torch's, which assumes log_probs
    are log_softmax outputs.
    """
    fn = "ctc_loss"
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{fn}: {reduction} is not a valid value for reduction")
    _tensors(fn, log_probs=log_probs, targets=targets)
    if log_probs.ndim not in (2, 3):
        raise RuntimeError(f"{fn}: log_probs must be (T, N, C) or unbatched (T, C), got shape "
                           f"{list(log_probs.shape)}")
    batched = log_probs.ndim == 3
    if not batched:
        log_probs = log_probs.unsqueeze(1)
        targets = targets.unsqueeze(0)
    T, N, C = log_probs.shape
    if not 0 <= blank < C:
        raise RuntimeError(f"{fn}: blank must be in label range [0, {C}), got blank={blank}")
    il = _lengths(fn, input_lengths, "input_lengths", N)
    tl = _lengths(fn, target_lengths, "target_lengths", N)
    if np.any(il > T):
        raise RuntimeError(f"{fn}: Expected input_lengths to have value at most {T}, but got value "
                           f"{il[il > T][0]}")
    tg = _index_array(fn, targets)
    if targets.ndim == 1:
        if tg.size != tl.sum():
            raise RuntimeError(f"{fn}: concatenated targets must have sum(target_lengths) = "
                               f"{tl.sum()} entries, got {tg.size}")
        offsets = np.concatenate([[0], np.cumsum(tl)[:-1]]).astype(np.int64)
        used = tg
    elif targets.ndim == 2:
        S = targets.shape[1]
        if targets.shape[0] != N:
            raise RuntimeError(f"{fn}: padded targets must have batch_size ({N}) rows, got "
                               f"{targets.shape[0]}")
        if np.any(tl > S):
            raise RuntimeError(f"{fn}: Expected tensor to have size at least {tl.max()} at "
                               f"dimension 1, but got size {S} for argument #2 'targets'")
        offsets = np.arange(N, dtype=np.int64) * S
        used = tg.reshape(N, S)[np.arange(S) < tl[:, None]] if N else tg
    else:
        raise RuntimeError(f"{fn}: targets must be padded (N, S) or concatenated 1-D, got shape "
                           f"{list(targets.shape)}")
    if np.any((used < 0) | (used >= C)):
        raise RuntimeError(f"{fn}: targets must be class indices in [0, {C}), got "
                           f"{used[(used < 0) | (used >= C)][0]}")
    flat_targets = tg if tg.size else np.zeros(0, np.int64)
    return _CTC.apply(log_probs, flat_targets, offsets, il, tl, int(blank), reduction,
                      bool(zero_infinity), (N,) if batched else ())


__all__ = family_names(__name__)
