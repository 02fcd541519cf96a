"""Normalization layers (seed section 归一化层): BatchNorm, InstanceNorm, LayerNorm, GroupNorm,
LocalResponseNorm, with torch's parameters, buffers, defaults and repr."""

import math
import numbers
import warnings

from ... import _dtype as dt
from ... import factories
from ..._lazy import family_names
from ...registry import register
from ...shapes import ShapeError, expect_rank, note
from .. import functional as F
from .. import init
from ..functional import normalization as _fn
from ..parameter import Parameter
from .lazy import LazyModuleMixin
from .module import Module


class _NormBase(Module):
    """Parameters and running statistics shared by BatchNorm and InstanceNorm."""

    _ranks = ()  # accepted input ranks

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None, *, bias=True):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(factories.empty(num_features, dtype=dtype))
            if bias:
                self.bias = Parameter(factories.empty(num_features, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", factories.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", factories.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", factories.tensor(0, dtype=dt.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self):
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self):
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input_dim(self, input):
        if input.ndim not in self._ranks:
            raise ValueError(f"{type(self).__name__}: expected {_ranks_text(self._ranks)} input "
                             f"(got {input.ndim}D input)")

    def infer_shape(self, *shapes, explain=None):
        shape = tuple(shapes[0])
        name = type(self).__name__
        expect_rank(name, shape, self._ranks)
        dim = self._channel_dim(len(shape))
        if shape[dim] != self.num_features and (self.affine or self.track_running_stats):
            raise ShapeError(name, f"input has {shape[dim]} channels at dim {dim}, but "
                                   f"num_features={self.num_features}",
                             f"use {name}({shape[dim]}) or feed {self.num_features} channels")
        note(explain, f"{self._what} over {self._over(shape, dim)} for each of the "
                      f"C={shape[dim]} channels; output shape = input shape {list(shape)}")
        return (shape,)

    def _channel_dim(self, ndim):
        return 1

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


def _ranks_text(ranks):
    return " or ".join(f"{r}D" for r in ranks)


class _BatchNorm(_NormBase):
    _what = "batch statistics"

    def forward(self, input):
        self._check_input_dim(input)
        shape = input.shape
        if shape[1] != self.num_features and (self.affine or self.track_running_stats):
            raise RuntimeError(f"{type(self).__name__}: expected {self.num_features} channels "
                               f"(num_features) at dim 1, got {shape[1]} (input shape "
                               f"{list(shape)})")
        factor = self._running_factor()
        # (each registered tensor read once: a parameter or buffer attribute goes through
        # Module.__getattr__, after a failed ordinary lookup, and this runs every step)
        running_mean, running_var = self.running_mean, self.running_var
        # batch statistics in training, or always when there are no running statistics
        use_batch = self.training or (running_mean is None and running_var is None)
        track = not self.training or self.track_running_stats
        return _fn._batch_norm(input, running_mean if track else None,
                               running_var if track else None, self.weight, self.bias,
                               use_batch, factor, self.eps, type(self).__name__)

    def _running_factor(self):
        """Count this training call; the running statistics' update factor (momentum, or
        1 / calls for the cumulative average of momentum=None)."""
        momentum = self.momentum
        factor = 0.0 if momentum is None else momentum
        if self.training and self.track_running_stats:
            count = self.num_batches_tracked
            if count is not None:
                count._data += 1  # a buffer: no graph, only the version
                count._version.value += 1
                if momentum is None:  # cumulative moving average
                    factor = 1.0 / float(count.item())
        return factor

    @staticmethod
    def _over(shape, dim):
        return f"the batch (N={shape[0]}) and spatial dims {list(shape[2:])}"


@register("normalization", "4", inputs=[(3, 4)])
class BatchNorm1d(_BatchNorm):
    _ranks = (2, 3)


@register("normalization", "3", inputs=[(2, 3, 3, 3)])
class BatchNorm2d(_BatchNorm):
    _ranks = (4,)


@register("normalization", "2", inputs=[(2, 2, 2, 2, 3)])
class BatchNorm3d(_BatchNorm):
    _ranks = (5,)


@register("normalization", "3", inputs=[(2, 3, 4)])
class SyncBatchNorm(_BatchNorm):
    """BatchNorm whose training statistics span the whole process group: under ``mpiexec``
    with ``nncheck.distributed`` initialised on several ranks, each rank's per-channel sums
    are all-reduced, so outputs, running statistics and input gradients equal BatchNorm
    over the concatenated batch (parameter gradients are this rank's share, summed by
    DistributedDataParallel as in PyTorch).  On one process it is BatchNorm."""

    _ranks = range(2, 65)

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, process_group=None, device=None, dtype=None, *,
                 bias=True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device,
                         dtype, bias=bias)
        self.process_group = process_group

    def _check_input_dim(self, input):
        if input.ndim < 2:
            raise ValueError(f"SyncBatchNorm: expected at least 2D input (got {input.ndim}D "
                             "input)")
        if input.shape[1] == 0:
            raise ValueError("SyncBatchNorm number of input channels should be non-zero")

    def infer_shape(self, *shapes, explain=None):
        if len(shapes[0]) < 2:
            raise ShapeError("SyncBatchNorm", f"expected at least 2D input (got "
                                              f"{len(shapes[0])}D input)")
        return super().infer_shape(*shapes, explain=explain)

    def _world_size(self):
        from ... import distributed

        return distributed.get_world_size(self.process_group) \
            if distributed.is_initialized() else 1

    def forward(self, input):
        if not self.training or self._world_size() == 1:
            return super().forward(input)
        self._check_input_dim(input)
        if input.shape[1] != self.num_features:
            raise RuntimeError(f"SyncBatchNorm: expected {self.num_features} channels "
                               f"(num_features) at dim 1, got {input.shape[1]}")
        factor = self._running_factor()
        track = self.track_running_stats
        return _fn.sync_batch_norm(input, self.running_mean if track else None,
                                   self.running_var if track else None, self.weight, self.bias,
                                   factor, self.eps, self.process_group)

    @classmethod
    def convert_sync_batchnorm(cls, module, process_group=None):
        """``module`` with every BatchNorm*d replaced by a SyncBatchNorm holding the same
        parameters and buffers (torch.nn.SyncBatchNorm.convert_sync_batchnorm)."""
        output = module
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            output = cls(module.num_features, module.eps, module.momentum, module.affine,
                         module.track_running_stats, process_group,
                         bias=module.bias is not None or not module.affine)
            for name in ("weight", "bias"):
                if getattr(module, name) is not None:
                    setattr(output, name, getattr(module, name))
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                setattr(output, name, getattr(module, name))
            output.train(module.training)
        for name, child in module.named_children():
            output.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        return output


class _InstanceNorm(_NormBase):
    _what = "per-sample statistics"

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False,
                 track_running_stats=False, device=None, dtype=None, *, bias=True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device,
                         dtype, bias=bias)

    def _channel_dim(self, ndim):
        return ndim - self._ranks[0]

    def forward(self, input):
        self._check_input_dim(input)
        dim = self._channel_dim(input.ndim)
        if input.shape[dim] != self.num_features:
            if self.affine:
                raise ValueError(
                    f"{type(self).__name__}: expected input's size at dim={dim} to match "
                    f"num_features ({self.num_features}), but got: {input.shape[dim]}."
                )
            warnings.warn(
                f"input's size at dim={dim} does not match num_features. You can silence this "
                "warning by not passing in num_features, which is not used because "
                "affine=False", stacklevel=2,
            )
        unbatched = input.ndim == self._ranks[0]
        x = input.unsqueeze(0) if unbatched else input
        out = _fn._instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                 self.training or not self.track_running_stats,
                                 self.momentum if self.momentum is not None else 0.0, self.eps,
                                 type(self).__name__)
        return out.squeeze(0) if unbatched else out

    def infer_shape(self, *shapes, explain=None):
        shape = tuple(shapes[0])
        expect_rank(type(self).__name__, shape, self._ranks)
        if not (self.affine or self.track_running_stats):  # num_features is not used
            note(explain, f"{self._what} over the spatial dims {list(shape[-self._ranks[0] + 1:])}"
                          f" of each channel; output shape = input shape {list(shape)}")
            return (shape,)
        return super().infer_shape(shape, explain=explain)

    @staticmethod
    def _over(shape, dim):
        return f"the spatial dims {list(shape[dim + 1:])}"


@register("normalization", "3 affine=True", inputs=[(2, 3, 4)])
class InstanceNorm1d(_InstanceNorm):
    _ranks = (2, 3)


@register("normalization", "2 affine=True", inputs=[(2, 2, 3, 3)])
class InstanceNorm2d(_InstanceNorm):
    _ranks = (3, 4)


@register("normalization", "2 affine=True", inputs=[(2, 2, 2, 2, 2)])
class InstanceNorm3d(_InstanceNorm):
    _ranks = (4, 5)


def _register_affine(module, enabled, shape, bias, dtype):
    """The learnable ``weight`` (and ``bias``) of shape ``shape``, or None entries when off;
    ``bias=None``: no bias entry at all (RMSNorm)."""
    module.register_parameter(
        "weight", Parameter(factories.empty(*shape, dtype=dtype)) if enabled else None)
    if bias is not None:
        module.register_parameter(
            "bias", Parameter(factories.empty(*shape, dtype=dtype)) if enabled and bias else None)


def _reset_affine(module):
    """Identity affine: weight ones, bias zeros (PyTorch's initialisation)."""
    if module.weight is not None:
        init.ones_(module.weight)
    if getattr(module, "bias", None) is not None:
        init.zeros_(module.bias)


class _TrailingNorm(Module):
    """LayerNorm and RMSNorm: statistics over the trailing ``normalized_shape`` dims of each
    row, an elementwise affine of that shape."""

    def __init__(self, normalized_shape, eps, elementwise_affine, bias, dtype):
        super().__init__()
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        _register_affine(self, elementwise_affine, self.normalized_shape, bias, dtype)
        self.reset_parameters()

    def reset_parameters(self):
        _reset_affine(self)

    def infer_shape(self, *shapes, explain=None):
        shape, norm, name = tuple(shapes[0]), self.normalized_shape, type(self).__name__
        if len(shape) < len(norm) or shape[len(shape) - len(norm):] != norm:
            raise ShapeError(name, f"input shape {list(shape)} does not end with "
                                   f"normalized_shape {list(norm)}",
                             f"feed [*, {', '.join(map(str, norm))}] or use "
                             f"{name}({list(shape[-len(norm):])})")
        note(explain, f"statistics over the last {len(norm)} dim(s) {list(norm)} "
                      f"({math.prod(norm)} values) of each of the "
                      f"{math.prod(shape[:-len(norm)])} rows; output shape = input shape "
                      f"{list(shape)}")
        return (shape,)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


@register("normalization", "4", inputs=[(2, 3, 4)])
class LayerNorm(_TrailingNorm):
    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                 device=None, dtype=None):
        super().__init__(normalized_shape, eps, elementwise_affine, bias, dtype)

    def forward(self, input):
        return _fn._layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps,
                               "LayerNorm")

    def extra_repr(self):
        return f"{super().extra_repr()}, bias={self.bias is not None}"


@register("normalization", "4", inputs=[(2, 3, 4)])
class RMSNorm(_TrailingNorm):
    """x / sqrt(mean(x^2) + eps) * weight; ``eps=None`` is the input dtype's machine
    epsilon."""

    def __init__(self, normalized_shape, eps=None, elementwise_affine=True, device=None,
                 dtype=None):
        super().__init__(normalized_shape, eps, elementwise_affine, None, dtype)

    def forward(self, input):
        return _fn._rms_norm(input, self.normalized_shape, self.weight, self.eps, "RMSNorm")


@register("normalization", "2 4", inputs=[(2, 4, 3)])
class GroupNorm(Module):
    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None, dtype=None,
                 *, bias=True):
        super().__init__()
        if num_groups <= 0 or num_channels % num_groups != 0:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups "
                             f"({num_groups})")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        _register_affine(self, affine, (num_channels,), bias, dtype)
        self.reset_parameters()

    def reset_parameters(self):
        _reset_affine(self)

    def forward(self, input):
        return _fn._group_norm(input, self.num_groups, self.weight, self.bias, self.eps,
                               "GroupNorm")

    def infer_shape(self, *shapes, explain=None):
        shape = tuple(shapes[0])
        if len(shape) < 2:
            raise ShapeError("GroupNorm", f"expected input (N, C, *) with at least 2 dims, got "
                                          f"{len(shape)}-D shape {list(shape)}")
        c = shape[1]
        if self.affine and c != self.num_channels:
            raise ShapeError("GroupNorm", f"input has {c} channels at dim 1, but "
                                          f"num_channels={self.num_channels}",
                             f"feed {self.num_channels} channels")
        if c % self.num_groups:
            raise ShapeError("GroupNorm", f"input channels {c} are not divisible by "
                                          f"num_groups={self.num_groups}")
        note(explain, f"{self.num_groups} groups of C/G = {c}/{self.num_groups} = "
                      f"{c // self.num_groups} channels, statistics per sample and group; "
                      f"output shape = input shape {list(shape)}")
        return (shape,)

    def extra_repr(self):
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, "
                f"affine={self.affine}, bias={self.bias is not None}")


@register("normalization", "2", inputs=[(2, 4, 3)])
class LocalResponseNorm(Module):
    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input):
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def infer_shape(self, *shapes, explain=None):
        shape = tuple(shapes[0])
        if len(shape) < 3:
            raise ShapeError("LocalResponseNorm", f"expected 3D or higher dimensionality input "
                                                  f"(N, C, *), got {len(shape)}-D shape "
                                                  f"{list(shape)}")
        note(explain, f"each value divided by (k + alpha * mean of x^2 over {self.size} "
                      f"neighbouring channels)^beta; output shape = input shape {list(shape)}")
        return (shape,)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


# the legacy algorithm's backward is not its forward's gradient: see F's _CrossMapLRN2d
@register("normalization", "3", inputs=[(2, 5, 3, 3)], gradcheck=False)
class CrossMapLRN2d(Module):
    def __init__(self, size, alpha=1e-4, beta=0.75, k=1):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input):
        return _fn.cross_map_lrn2d(input, self.size, self.alpha, self.beta, self.k)

    def infer_shape(self, *shapes, explain=None):
        shape = tuple(shapes[0])
        expect_rank("CrossMapLRN2d", shape, (4,))
        note(explain, f"each value divided by (k + alpha/size * sum of x^2 over {self.size} "
                      f"neighbouring channels)^beta; output shape = input shape {list(shape)}")
        return (shape,)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class _LazyNormBase(LazyModuleMixin):
    """num_features from the first input's dim 1."""

    def __init__(self, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 device=None, dtype=None, *, bias=True):
        super().__init__(1, eps, momentum, affine, track_running_stats, device, dtype,
                         bias=bias)
        self._make_lazy("num_features", dtype, parameters=("weight", "bias"),
                        buffers=("running_mean", "running_var"))

    def initialize_parameters(self, input):
        if self.has_uninitialized_params():
            self.num_features = input.shape[1]
            size = (self.num_features,)
            self._materialize({"weight": size, "bias": size, "running_mean": size,
                               "running_var": size})


class LazyBatchNorm1d(_LazyNormBase, BatchNorm1d):
    cls_to_become = BatchNorm1d


class LazyBatchNorm2d(_LazyNormBase, BatchNorm2d):
    cls_to_become = BatchNorm2d


class LazyBatchNorm3d(_LazyNormBase, BatchNorm3d):
    cls_to_become = BatchNorm3d


class LazyInstanceNorm1d(_LazyNormBase, InstanceNorm1d):
    cls_to_become = InstanceNorm1d


class LazyInstanceNorm2d(_LazyNormBase, InstanceNorm2d):
    cls_to_become = InstanceNorm2d


class LazyInstanceNorm3d(_LazyNormBase, InstanceNorm3d):
    cls_to_become = InstanceNorm3d


__all__ = family_names(__name__)
