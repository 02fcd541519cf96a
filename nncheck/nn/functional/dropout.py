"""Dropout functions on the kernels in ``nncheck._kernels.dropout``.

All six kinds are one ``_Dropout`` op: draw one uniform number per element (or per channel
for the feature kinds) from nncheck's generator, keep where it is below 1 - p, and compute
out = x * m + c with the kind's (m, c).  As in torch, eval mode and p = 0 return the input
itself, and p = 1 multiplies by zero without drawing.
"""

import math
import warnings

from ..._lazy import family_names, np
from ...backend import kernels
from ...ops import Op
from ...random import generator
from ._validation import kernel_array

# SELU's negative saturation -lambda*alpha, where alpha dropout sends dropped units
_ALPHA = 1.7580993408473766


class _Dropout(Op):
    """``channel_dims``: None drops elements; k drops whole slices x[i_0, ..., i_{k-1}]."""

    @staticmethod
    def forward(ctx, x, p, alpha, channel_dims):
        _k, xp = kernels("dropout", x)
        k = kernel_array(x, "dropout")
        rows = k.size if channel_dims is None else math.prod(k.shape[:channel_dims])
        k2 = k.reshape(rows, k.size // rows)
        if p == 1:
            draws, a, c_keep, c_drop = np.ones(rows), 0.0, 0.0, 0.0
        else:
            draws = generator().random(rows)
            a, c_keep, c_drop = _coefficients(p, alpha)
        mask, out = xp.empty(rows, np.uint8), xp.empty_like(k2)
        _k.dropout_forward(k2, draws, 1.0 - p, a, c_keep, c_drop, mask, out)
        ctx.mask, ctx.a, ctx.shape = mask, a, k2.shape
        return out.reshape(x.shape).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        _k, xp = kernels("dropout", grad)
        g = kernel_array(grad, "dropout").reshape(ctx.shape)
        gx = xp.empty_like(g)
        _k.dropout_backward(g, ctx.mask, ctx.a, gx)
        return gx.reshape(grad.shape).astype(grad.dtype, copy=False)


def _coefficients(p, alpha):
    """(a, c_keep, c_drop): kept units become a*x + c_keep, dropped ones c_drop."""
    if not alpha:
        return 1.0 / (1.0 - p), 0.0, 0.0
    a = 1.0 / math.sqrt((_ALPHA * _ALPHA * p + 1) * (1 - p))
    return a, _ALPHA * a * p, _ALPHA * a * (p - 1)


def _check_p(p):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _dropout(input, p, training, inplace, alpha=False, channel_dims=None):
    _check_p(p)
    if p == 0 or not training or input.numel() == 0:
        return input
    if channel_dims is not None and input.ndim < channel_dims:
        raise RuntimeError(f"Feature dropout requires at least 2 dimensions in the input, got "
                           f"{input.ndim}-D input of shape {list(input.shape)}")
    args = (float(p), alpha, channel_dims)
    if inplace:
        return input._apply_inplace(lambda s: _Dropout.apply(s, *args))
    return _Dropout.apply(input, *args)


def dropout(input, p=0.5, training=True, inplace=False):
    return _dropout(input, p, training, inplace)


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    return _dropout(input, p, training, inplace, alpha=True)


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    return _dropout(input, p, training, inplace, alpha=True, channel_dims=2)


def dropout1d(input, p=0.5, training=True, inplace=False):
    _check_p(p)
    if input.ndim not in (2, 3):
        raise RuntimeError(
            f"dropout1d: Expected 2D or 3D input, but received a {input.ndim}D input. Note that "
            "dropout1d exists to provide channel-wise dropout on inputs with 1 spatial "
            "dimension, a channel dimension, and an optional batch dimension (i.e. 2D or 3D "
            "inputs)."
        )
    # (N, C, L) drops x[n, c]; unbatched (C, L) drops x[c]
    return _dropout(input, p, training, inplace, channel_dims=input.ndim - 1)


def dropout2d(input, p=0.5, training=True, inplace=False):
    _check_p(p)
    if input.ndim not in (3, 4):
        warnings.warn(
            f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is deprecated and "
            "will result in an error in a future release. To retain the behavior and silence "
            "this warning, please use dropout instead. Note that dropout2d exists to provide "
            "channel-wise dropout on inputs with 2 spatial dimensions, a channel dimension, "
            "and an optional batch dimension (i.e. 3D or 4D inputs).", stacklevel=2)
    if input.ndim == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D "
            "dropout behavior is desired - input is interpreted as shape (N, C, L), where C is "
            "the channel dim. This behavior will change in a future release to interpret the "
            "input as one without a batch dimension, i.e. shape (C, H, W). To maintain the 1D "
            "channel-wise dropout behavior, please switch to using dropout1d instead.",
            stacklevel=2)
    return _dropout(input, p, training, inplace, channel_dims=2)


def dropout3d(input, p=0.5, training=True, inplace=False):
    _check_p(p)
    if input.ndim not in (4, 5):
        warnings.warn(
            f"dropout3d: Received a {input.ndim}-D input to dropout3d, which is deprecated and "
            "will result in an error in a future release. To retain the behavior and silence "
            "this warning, please use dropout instead. Note that dropout3d exists to provide "
            "channel-wise dropout on inputs with 3 spatial dimensions, a channel dimension, "
            "and an optional batch dimension (i.e. 4D or 5D inputs).", stacklevel=2)
    return _dropout(input, p, training, inplace, channel_dims=2 if input.ndim == 5 else 1)


__all__ = family_names(__name__)
