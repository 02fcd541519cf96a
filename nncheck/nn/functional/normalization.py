"""Normalization functions on the fused kernels in ``nncheck._kernels.normalization``.

batch_norm, instance_norm and group_norm are one operation (``_ChannelNorm``): normalise
groups of Cg channels, per sample or over the whole batch, then apply a per-channel affine.
layer_norm has its own kernel pair because its affine is per element.  Each public function
validates its arguments first (torch's messages, prefixed with the layer name) and hands
the kernels only shapes they can take.
"""

import math
import numbers

from ..._lazy import family_names, np
from ...backend import array_namespace, ascontiguousarray, kernels
from ...ops import Op
from ._validation import kernel_array, normalize_dim, split_around

_LN_ROW_BLOCK = 16  # rows per partial weight gradient: ROW_BLOCK in the kernel


def _vector(t, n, dtype, fill):
    """A length-n kernel array: the tensor's data, or ``fill`` when the tensor is None."""
    return np.full(n, fill, dtype) if t is None else ascontiguousarray(t, dtype).reshape(n)


def _like(arr, ref, lead=()):
    """``arr`` in the shape and dtype of the array ``ref`` (kernels may compute in float32),
    after ``lead`` stacking dimensions."""
    shape = lead + ref.shape
    if arr.shape != shape:
        arr = arr.reshape(shape)
    # (tested first: astype costs a call even when it has nothing to do)
    return arr if arr.dtype == ref.dtype else arr.astype(ref.dtype)


def _grads(ctx, arrays, refs, lead=()):
    """Gradients for the inputs that need one, None elsewhere."""
    return tuple(_like(a, r, lead) if need else None
                 for a, r, need in zip(arrays, refs, ctx.needs_input_grad))


class _Plan:
    """How ``_ChannelNorm`` groups channels and where its statistics come from (read-only
    by convention; a plain class with slots, as one is built for every call and a frozen
    dataclass's __init__ costs several times as much)."""

    __slots__ = ("layer", "group_channels", "reduce_batch", "eps", "batch_stats", "running",
                 "momentum")

    def __init__(self, layer, group_channels, reduce_batch, eps, batch_stats, running=None,
                 momentum=0.0):
        self.layer = layer
        self.group_channels = group_channels  # Cg: channels per statistics group
        self.reduce_batch = reduce_batch  # one group spans all samples (BatchNorm, running)
        self.eps = eps
        self.batch_stats = batch_stats  # statistics from the input; else the running ones
        self.running = running  # (running_mean, running_var) tensors, or None
        self.momentum = momentum  # update factor of ``running`` when batch_stats


def _update_running(plan, mean, var, count, channels):
    """running = (1 - momentum) * running + momentum * batch statistic (unbiased variance),
    averaged over samples when the statistics were per sample (instance norm)."""
    running_mean, running_var = plan.running
    m = plan.momentum
    # the unbiased factor folded into var's weight: one array operation less per call
    for tensor, stat, weight in ((running_mean, mean, m),
                                 (running_var, var, m * (count / max(count - 1, 1)))):
        if stat.size != channels:
            stat = stat.reshape(-1, channels).mean(axis=0)
        data = tensor._data
        data *= 1 - m
        data += weight * stat
        tensor._version.value += 1


def _as_3d(k):
    n, c = k.shape[0], k.shape[1]
    return k.reshape(n, c, math.prod(k.shape[2:]))


class _ChannelNorm(Op):
    @staticmethod
    def forward(ctx, x, weight, bias, plan):
        _k, xp = kernels("normalization", x, weight, bias)
        k3 = _as_3d(kernel_array(x, plan.layer))
        n, c = k3.shape[:2]
        groups = c // plan.group_channels * (1 if plan.reduce_batch else n)
        mean, var, invstd = xp.empty(groups), xp.empty(groups), xp.empty(groups)
        if not plan.batch_stats:
            mean[:] = plan.running[0]._data
            var[:] = plan.running[1]._data
        out = xp.empty_like(k3)
        _k.channel_norm_forward(k3, plan.group_channels, plan.reduce_batch, plan.eps,
                                _vector(weight, c, k3.dtype, 1), _vector(bias, c, k3.dtype, 0),
                                plan.batch_stats, mean, var, invstd, xp.empty((n, c)),
                                xp.empty((n, c)), out)
        # an empty batch has no statistics: PyTorch leaves the running ones as they are
        if plan.batch_stats and plan.running is not None and k3.size:
            _update_running(plan, mean, var, k3.size // max(groups, 1), c)
        ctx.save_for_backward(x, weight, bias)
        ctx.plan, ctx.mean, ctx.invstd = plan, mean, invstd
        return _like(out, x)

    @staticmethod
    def backward(ctx, grad):
        return _ChannelNorm._backward(ctx, grad, ())

    @staticmethod
    def backward_stacked(ctx, grads):
        """Gradients for K cotangents (leading axis), one kernel call each: the statistics
        couple every element of a group, so cotangents cannot share a call."""
        return _ChannelNorm._backward(ctx, grads, grads.shape[:1])

    @staticmethod
    def _backward(ctx, grads, lead):
        """backward (``lead`` = ()) or backward_stacked (``lead`` = (K,)): the one-cotangent
        case, every BatchNorm of every training step, allocates no stacking axis."""
        _k, xp = kernels("normalization", grads)
        x, weight, bias = ctx.saved_tensors
        plan = ctx.plan
        k3 = _as_3d(kernel_array(x, plan.layer))
        n, c = k3.shape[:2]
        groups = ctx.mean.shape[0]
        g = xp.ascontiguousarray(grads, k3.dtype).reshape(lead + k3.shape)
        need_x, need_affine = ctx.needs_input_grad[:2]
        need_affine = need_affine or ctx.needs_input_grad[2]
        gx = xp.empty(g.shape if need_x else lead + (0, 0, 0), k3.dtype)
        gw, gb = xp.empty(lead + (c,), k3.dtype), xp.empty(lead + (c,), k3.dtype)
        w = _vector(weight, c, k3.dtype, 1)
        scratch = (xp.empty((n, c)), xp.empty((n, c)), xp.empty(groups), xp.empty(groups))
        common = (plan.group_channels, plan.reduce_batch, plan.batch_stats, w, ctx.mean,
                  ctx.invstd, *scratch, need_x)
        if not lead:
            _k.channel_norm_backward(k3, g, *common, gx, need_affine, gw, gb)
        for k in range(lead[0] if lead else 0):
            _k.channel_norm_backward(k3, g[k], *common, gx[k], need_affine, gw[k], gb[k])
        return _grads(ctx, (gx, gw, gb), (x, weight, bias), lead) + (None,)

    @staticmethod
    def forward_stacked(ctx, stacked, x, weight, bias, plan):
        """K versions of some of x, weight, bias (leading axis), for gradcheck's stacked
        replays: statistics and affine map in numpy, batched over the versions (the
        running statistics are not updated)."""
        x = x if stacked[0] else x[None]
        k, n, c = x.shape[:3]
        groups = x.reshape(k, n, c // plan.group_channels, -1).astype(np.float64)
        if plan.batch_stats:
            axes = (1, 3) if plan.reduce_batch else (3,)
            mean = groups.mean(axis=axes, keepdims=True)
            var = ((groups - mean) ** 2).mean(axis=axes, keepdims=True)
        else:  # one group per channel
            mean, var = (r._data.reshape(1, 1, c, 1) for r in plan.running)
        out = ((groups - mean) / np.sqrt(var + plan.eps)).reshape(k, n, c, -1)
        if weight is not None:
            out = out * (weight if stacked[1] else weight[None]).reshape(-1, 1, c, 1)
        if bias is not None:
            out = out + (bias if stacked[2] else bias[None]).reshape(-1, 1, c, 1)
        return out.reshape((out.shape[0],) + x.shape[1:]).astype(x.dtype)


def _check_vectors(layer, size, what, **vectors):
    shape = (size,)
    for name, t in vectors.items():
        # the storage's plain shape tuple: each BatchNorm call checks four vectors
        if t is not None and t._data.shape != shape:
            raise RuntimeError(f"{layer}: {name} should contain {size} elements not "
                               f"{t.numel()} (the input has {size} {what})")


def _verify_batch_size(layer, size):
    """torch's rule: training needs more than one value per channel."""
    if size[0] * math.prod(size[2:]) == 1:
        raise ValueError(f"{layer}: Expected more than 1 value per channel when training, "
                         f"got input size {list(size)}")


def _check_eps(layer, eps, training):
    if training and eps <= 0.0:
        raise ValueError(f"{layer}: eps must be positive during training, but got {eps}")
    if eps < 0.0:
        raise ValueError(f"{layer}: eps must be non-negative, but got {eps}")


def _check_running(layer, running_mean, running_var):
    if (running_mean is None) != (running_var is None):
        raise RuntimeError(f"{layer}: running_mean and running_var must both be given or "
                           "both be None")


def _check_min_dim(layer, input, ndim=2):
    if input.ndim < ndim:
        raise ValueError(f"{layer}: expected input of shape (N, C, *) with at least {ndim} "
                         f"dimensions, got {input.ndim}-D input of shape {list(input.shape)}")


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    return _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps,
                       "batch_norm")


def _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps,
                layer):
    """batch_norm with the calling layer's name in its error messages."""
    _check_min_dim(layer, input)
    shape = input.shape
    _check_vectors(layer, shape[1], "channels at dim 1", running_mean=running_mean,
                   running_var=running_var, weight=weight, bias=bias)
    _check_running(layer, running_mean, running_var)
    if training:
        _verify_batch_size(layer, shape)
    _check_eps(layer, eps, training)
    if not training and running_mean is None:
        raise RuntimeError(f"{layer}: running_mean must be defined in evaluation mode")
    running = None if running_mean is None else (running_mean, running_var)
    plan = _Plan(layer, 1, True, float(eps), bool(training), running, float(momentum or 0.0))
    return _ChannelNorm.apply(input, weight, bias, plan)


class _SyncBatchNorm(Op):
    """Batch norm over every rank's batch: per-channel sums (count, sum x, sum x^2) are
    all-reduced in forward, (sum dy, sum dy * (x - mean)) in backward, so each rank's input
    gradient is its slice of the whole batch's (PyTorch's SyncBatchNorm algorithm)."""

    @staticmethod
    def forward(ctx, x, weight, bias, running, momentum, eps, group):
        shape = (1, -1) + (1,) * (x.ndim - 2)
        axes = (0,) + tuple(range(2, x.ndim))
        sums = np.stack([np.full(x.shape[1], x.size // x.shape[1], x.dtype),
                         x.sum(axis=axes), (x * x).sum(axis=axes)])
        _all_reduce(sums, group)
        count, mean = sums[0], sums[1] / sums[0]
        var = np.maximum(sums[2] / count - mean * mean, 0)  # biased, as normalisation uses
        invstd = 1 / np.sqrt(var + eps)
        if running is not None:
            for tensor, stat in zip(running, (mean, var * count / np.maximum(count - 1, 1))):
                tensor._data *= 1 - momentum
                tensor._data += momentum * stat
                tensor._version.value += 1
        xhat = (x - mean.reshape(shape)) * invstd.reshape(shape)
        ctx.save_for_backward(weight)
        ctx.xhat, ctx.invstd, ctx.count, ctx.group, ctx.has_bias = (
            xhat, invstd, count, group, bias is not None)
        out = xhat if weight is None else xhat * weight.reshape(shape)
        return out if bias is None else out + bias.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        (weight,) = ctx.saved_tensors
        xhat = ctx.xhat
        shape = (1, -1) + (1,) * (xhat.ndim - 2)
        axes = (0,) + tuple(range(2, xhat.ndim))
        local = np.stack([grad.sum(axis=axes), (grad * xhat).sum(axis=axes)])
        grad_weight, grad_bias = local[1].copy(), local[0].copy()  # this rank's share
        _all_reduce(local, ctx.group)
        mean_dy, mean_dy_xhat = local[0] / ctx.count, local[1] / ctx.count
        scale = ctx.invstd if weight is None else ctx.invstd * weight
        grad_in = (grad - mean_dy.reshape(shape) - xhat * mean_dy_xhat.reshape(shape)) \
            * scale.reshape(shape)
        return (grad_in, None if weight is None else grad_weight,
                grad_bias if ctx.has_bias else None)


def _all_reduce(arr, group):
    """Sum ``arr`` over the process group, in place."""
    from ... import distributed
    from ...tensor import Tensor

    distributed.all_reduce(Tensor._wrap(arr), group=group)


def sync_batch_norm(input, running_mean, running_var, weight, bias, momentum, eps, group):
    """Training-mode batch norm with statistics over the process group (SyncBatchNorm)."""
    layer = "SyncBatchNorm"
    _check_min_dim(layer, input)
    _check_vectors(layer, input.shape[1], "channels at dim 1", running_mean=running_mean,
                   running_var=running_var, weight=weight, bias=bias)
    _check_running(layer, running_mean, running_var)
    _check_eps(layer, eps, True)
    if input.dtype.name not in ("float32", "float64"):
        raise TypeError(f"{layer}: input must be float32 or float64, got {input.dtype}")
    running = None if running_mean is None else (running_mean, running_var)
    return _SyncBatchNorm.apply(input, weight, bias, running, float(momentum), float(eps), group)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
                  use_input_stats=True, momentum=0.1, eps=1e-5):
    return _instance_norm(input, running_mean, running_var, weight, bias, use_input_stats,
                          momentum, eps, "instance_norm")


def _instance_norm(input, running_mean, running_var, weight, bias, use_input_stats, momentum,
                   eps, layer):
    _check_min_dim(layer, input)
    _check_vectors(layer, input.shape[1], "channels at dim 1", running_mean=running_mean,
                   running_var=running_var, weight=weight, bias=bias)
    _check_running(layer, running_mean, running_var)
    _check_eps(layer, eps, use_input_stats)
    if use_input_stats and math.prod(input.shape[2:]) == 1:
        raise ValueError(f"{layer}: Expected more than 1 spatial element when training, got "
                         f"input size {list(input.shape)}")
    if not use_input_stats and running_mean is None:
        raise RuntimeError(f"{layer}: Expected running_mean and running_var to be defined "
                           "when use_input_stats is false")
    running = None if running_mean is None else (running_mean, running_var)
    # per-sample statistics are groups of one channel; running ones are shared by the batch
    plan = _Plan(layer, 1, not use_input_stats, float(eps), bool(use_input_stats), running,
                 float(momentum or 0.0))
    return _ChannelNorm.apply(input, weight, bias, plan)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    return _group_norm(input, num_groups, weight, bias, eps, "group_norm")


def _group_norm(input, num_groups, weight, bias, eps, layer):
    if input.ndim < 2:
        raise RuntimeError(f"{layer}: Expected at least 2 dimensions for input tensor but "
                           f"received {input.ndim}")
    n, c = input.shape[0], input.shape[1]
    if num_groups <= 0 or c % num_groups:
        raise RuntimeError(f"{layer}: Expected number of channels in input to be divisible by "
                           f"num_groups, but got input of shape {list(input.shape)} and "
                           f"num_groups={num_groups}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise RuntimeError(f"{layer}: Expected {name} to be a vector of size equal to the "
                               f"number of channels in input, but got {name} of shape "
                               f"{list(t.shape)} and input of shape {list(input.shape)}")
    _verify_batch_size(layer, [n * c // num_groups, num_groups, *input.shape[2:]])
    _check_eps(layer, eps, True)
    plan = _Plan(layer, c // num_groups, False, float(eps), True)
    return _ChannelNorm.apply(input, weight, bias, plan)


# ---------------------------------------------------------------- layer norm, RMS norm
class _LayerNorm(Op):
    """Each row over the trailing ``d`` elements normalised: by mean and standard deviation
    (``centered``, LayerNorm) or by root mean square (RMSNorm), then scaled and shifted."""

    @staticmethod
    def forward(ctx, x, weight, bias, d, eps, centered):
        _k, xp = kernels("normalization", x, weight, bias)
        k = kernel_array(x, "layer_norm").reshape(-1, d)
        mean, invstd = xp.empty(k.shape[0]), xp.empty(k.shape[0])
        out = xp.empty_like(k)
        _k.layer_norm_forward(k, _vector(weight, d, k.dtype, 1), _vector(bias, d, k.dtype, 0),
                              eps, centered, mean, invstd, out)
        ctx.save_for_backward(x, weight, bias)
        ctx.d, ctx.centered, ctx.mean, ctx.invstd = d, centered, mean, invstd
        return _like(out, x)

    @staticmethod
    def backward(ctx, grad):
        return tuple(None if g is None else g[0]
                     for g in _LayerNorm.backward_stacked(ctx, grad[None]))

    @staticmethod
    def backward_stacked(ctx, grads):
        """Gradients for K cotangents (leading axis), one kernel call each (gradcheck asks
        for hundreds at once)."""
        _k, xp = kernels("normalization", grads)
        x, weight, bias = ctx.saved_tensors
        d = ctx.d
        k = kernel_array(x, "layer_norm").reshape(-1, d)
        stack = grads.shape[0]
        g = xp.ascontiguousarray(grads, k.dtype).reshape((stack,) + k.shape)
        need_x, need_affine = ctx.needs_input_grad[0], any(ctx.needs_input_grad[1:3])
        gx = xp.empty(g.shape if need_x else (stack, 0, 0), k.dtype)
        gw, gb = xp.empty((stack, d), k.dtype), xp.empty((stack, d), k.dtype)
        part = (-(-k.shape[0] // _LN_ROW_BLOCK), d if need_affine else 0)
        w = _vector(weight, d, k.dtype, 1)
        scratch = (xp.empty(part, k.dtype), xp.empty(part, k.dtype), xp.empty(d), xp.empty(d))
        for i in range(stack):
            _k.layer_norm_backward(k, g[i], w, ctx.centered, ctx.mean, ctx.invstd, need_x,
                                   gx[i], need_affine, *scratch, gw[i], gb[i])
        return _grads(ctx, (gx, gw, gb), (x, weight, bias), (stack,)) + (None, None, None)

    @staticmethod
    def forward_stacked(ctx, stacked, x, weight, bias, d, eps, centered):
        """K versions of some of x, weight, bias (leading axis): K inputs are K times the
        rows; K weights or biases scale and shift the normalised rows version by version."""
        if not any(stacked[1:]):
            return _LayerNorm.forward(ctx, x, weight, bias, d, eps, centered)
        normed = _LayerNorm.forward(ctx, x, None, None, d, eps, centered)
        normed = normed if stacked[0] else normed[None]
        out = normed.reshape(normed.shape[0], -1, d)
        if weight is not None:
            out = out * weight.reshape((-1, 1, d) if stacked[1] else (1, 1, d))
        if bias is not None:
            out = out + bias.reshape((-1, 1, d) if stacked[2] else (1, 1, d))
        return out.reshape((out.shape[0],) + normed.shape[1:])


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    return _layer_norm(input, normalized_shape, weight, bias, eps, "layer_norm")


def _layer_norm(input, normalized_shape, weight, bias, eps, layer):
    d = _check_normalized(layer, input, normalized_shape, weight=weight, bias=bias)
    _check_eps(layer, eps, False)
    return _LayerNorm.apply(input, weight, bias, d, float(eps), True)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    return _rms_norm(input, normalized_shape, weight, eps, "rms_norm")


def _rms_norm(input, normalized_shape, weight, eps, layer):
    """rms_norm; ``eps=None`` is the machine epsilon of the input's dtype, as in PyTorch."""
    d = _check_normalized(layer, input, normalized_shape, weight=weight)
    if eps is None:
        eps = float(np.finfo(input._data.dtype).eps) if input.is_floating_point() else 0.0
    _check_eps(layer, eps, False)
    return _LayerNorm.apply(input, weight, None, d, float(eps), False)


def _check_normalized(layer, input, normalized_shape, **affine):
    """The number of elements normalised together, after checking that the input ends with
    ``normalized_shape`` and the affine tensors have that shape."""
    shape = _shape_tuple(normalized_shape)
    k = len(shape)
    if not k or input.ndim < k or input._data.shape[input.ndim - k:] != shape:
        raise RuntimeError(f"{layer}: Given normalized_shape={list(shape)}, expected input with "
                           f"shape [*, {', '.join(map(str, shape))}], but got input of size "
                           f"{list(input.shape)}")
    for name, t in affine.items():
        if t is not None and t._data.shape != shape:
            raise RuntimeError(f"{layer}: Expected {name} to be of same shape as "
                               f"normalized_shape, but got {name} of shape {list(t.shape)} and "
                               f"normalized_shape = {list(shape)}")
    return math.prod(shape)


def _shape_tuple(shape):
    if isinstance(shape, numbers.Integral):
        return (int(shape),)
    return tuple(int(s) for s in shape)


# ---------------------------------------------------------------- local response norm
class _LocalResponseNorm(Op):
    @staticmethod
    def forward(ctx, x, size, alpha, beta, k):
        _k, xp = kernels("normalization", x)
        k3 = _as_3d(kernel_array(x, "local_response_norm"))
        denom, out = xp.empty_like(k3), xp.empty_like(k3)
        _k.lrn_forward(k3, size, alpha, beta, k, denom, out)
        ctx.save_for_backward(x)
        ctx.denom, ctx.params = denom, (size, alpha, beta)
        return _like(out, x)

    @staticmethod
    def backward(ctx, grad):
        _k, xp = kernels("normalization", grad)
        (x,) = ctx.saved_tensors
        k3 = _as_3d(kernel_array(x, "local_response_norm"))
        g = xp.ascontiguousarray(grad, k3.dtype).reshape(k3.shape)
        gx = xp.empty_like(k3)
        _k.lrn_backward(k3, ctx.denom, g, *ctx.params, xp.empty_like(k3), gx)
        return _like(gx, x)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    if input.ndim < 3:
        raise ValueError(f"local_response_norm: Expected 3D or higher dimensionality input "
                         f"(got {input.ndim} dimensions)")
    if not isinstance(size, numbers.Integral) or size < 1:
        raise ValueError(f"local_response_norm: size must be a positive int, got {size!r}")
    if input.numel() == 0:
        return input
    return _LocalResponseNorm.apply(input, int(size), float(alpha), float(beta), float(k))


class _CrossMapLRN2d(Op):
    """torch.nn.CrossMapLRN2d's legacy (Lua torch) algorithm, reproduced as PyTorch runs it.

    Its channel window is a running sum whose first channel is never subtracted for
    ``c <= pre_pad``, so the forward differs from local_response_norm, and its backward is
    the gradient of LocalResponseNorm's formula, not of this forward (PyTorch's own
    gradcheck of it fails).  Both are kept as PyTorch computes them so that models using
    the layer get PyTorch's numbers; the layer is left out of ``gradcheck --all``."""

    @staticmethod
    def forward(ctx, x, size, alpha, beta, k):
        channels = x.shape[1]
        square = x * x
        pre_pad = int((size - 1) / 2 + 1)
        scale = np.empty_like(x)
        scale[:, 0] = square[:, :min(pre_pad, channels)].sum(axis=1)
        for c in range(1, channels):  # add the next channel, drop the one before the window
            scale[:, c] = scale[:, c - 1]
            if c < channels - pre_pad + 1:
                scale[:, c] += square[:, c + pre_pad - 1]
            if c > pre_pad:
                scale[:, c] -= square[:, c - pre_pad]
        scale = scale * (alpha / size) + k
        out = scale ** -beta * x
        ctx.save_for_backward(x, out)
        ctx.scale, ctx.params = scale, (size, alpha, beta)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        size, alpha, beta = ctx.params
        n, channels = x.shape[:2]
        start = int(size - (size - 1) / 2)
        if start + channels > channels + size - 1:
            raise RuntimeError(f"CrossMapLRN2d: start ({start}) + length ({channels}) exceeds "
                               f"dimension size ({channels + size - 1}) (PyTorch's backward "
                               f"fails for size={size} too)")
        padded = array_namespace(x).zeros((n, channels + size - 1) + x.shape[2:], x.dtype)
        padded[:, start:start + channels] = grad * out / ctx.scale
        grad_in = ctx.scale ** -beta * grad
        accum = padded[:, :size - 1].sum(axis=1)
        for c in range(channels):
            accum += padded[:, c + size - 1]
            grad_in[:, c] -= (2 * alpha * beta / size) * x[:, c] * accum
            accum -= padded[:, c]
        return grad_in


def cross_map_lrn2d(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """CrossMapLRN2d's computation (PyTorch has no functional form; nncheck's is private)."""
    if input.ndim != 4:
        raise ValueError(f"CrossMapLRN2d: Expected input to be 4D, got {input.ndim}D instead.")
    if not isinstance(size, numbers.Integral) or size < 1:
        raise ValueError(f"CrossMapLRN2d: size must be a positive int, got {size!r}")
    if not input.dtype.is_floating_point:
        raise TypeError(f"CrossMapLRN2d: input must be a floating point tensor, got "
                        f"{input.dtype}")
    if input.numel() == 0:
        return input * 1
    return _CrossMapLRN2d.apply(input, int(size), float(alpha), float(beta), float(k))


# ---------------------------------------------------------------- normalize
class _Normalize(Op):
    """x / max(||x||_p, eps) along a dim, on the vector-norm kernels of the distance family."""

    @staticmethod
    def forward(ctx, x, p, dim, eps):
        _k, xp = kernels("distance", x)
        k = kernel_array(x, "normalize")
        k3 = k.reshape(split_around(k.shape, dim))
        norm, out = xp.empty((k3.shape[0], k3.shape[2]), k.dtype), xp.empty_like(k3)
        _k.normalize_forward(k3, p, eps, norm, out)
        ctx.save_for_backward(x)
        ctx.norm, ctx.params = norm, (p, eps, dim)
        return _like(out, x)

    @staticmethod
    def backward(ctx, grad):
        _k, xp = kernels("distance", grad)
        (x,) = ctx.saved_tensors
        p, eps, dim = ctx.params
        k = kernel_array(x, "normalize")
        k3 = k.reshape(split_around(k.shape, dim))
        g = xp.ascontiguousarray(grad, k.dtype).reshape(k3.shape)
        gx = xp.empty_like(k3)
        _k.normalize_backward(k3, ctx.norm, g, p, eps, gx)
        return _like(gx, x)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    dim = normalize_dim(dim, input.ndim, "normalize")
    result = _Normalize.apply(input, float(p), dim, float(eps))
    if out is None:
        return result
    return out.copy_(result)


__all__ = family_names(__name__)
