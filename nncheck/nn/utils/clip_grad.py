"""Gradient clipping (``torch.nn.utils.clip_grad``): in place on ``p.grad``, under no_grad.

``foreach`` is accepted for signature compatibility; there is one CPU code path.
"""

import math
import types
import warnings

from ..._lazy import np
from ...autograd.grad_mode import no_grad
from ...tensor import Tensor


def _as_list(parameters, warn_empty=False):
    if isinstance(parameters, Tensor):
        return [parameters]
    is_generator = isinstance(parameters, types.GeneratorType)
    parameters = list(parameters)
    if warn_empty and is_generator and not parameters:
        warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.",
                      stacklevel=3)
    return parameters


def _vector_norm(arr, p):
    """torch.linalg.vector_norm of a whole array, in the array's precision."""
    work = np.abs(arr.astype(np.float32) if arr.dtype == np.float16 else arr)
    if p == math.inf:
        value = work.max(initial=0)
    elif p == -math.inf:
        if work.size == 0:
            raise RuntimeError("linalg.vector_norm cannot compute the -inf norm on an empty "
                               "tensor because the operation does not have an identity")
        value = work.min()
    elif p == 0:
        value = np.count_nonzero(work)
    elif p == 1:
        value = work.sum()
    elif p == 2:
        value = np.sqrt(np.sum(work * work))
    else:
        value = np.sum(work ** p) ** (1.0 / p)
    return np.asarray(value, arr.dtype)


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The ``norm_type`` norm of all ``tensors`` seen as one vector (a 0-d tensor)."""
    tensors = _as_list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return Tensor._wrap(np.asarray(0.0, np.float32))
    norms = [_vector_norm(t._data, norm_type) for t in tensors]
    total = _vector_norm(np.stack(norms), norm_type)  # mixed dtypes promote, as torch.stack
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is "
            "non-finite, so it cannot be clipped. To disable this error and scale the gradients "
            "by the non-finite norm anyway, set `error_if_nonfinite=False`"
        )
    return Tensor._wrap(total)


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scale every gradient by min(1, max_norm / (total_norm + 1e-6))."""
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    if not grads:
        return
    total = total_norm._data if isinstance(total_norm, Tensor) else np.asarray(total_norm)
    coef = Tensor._wrap(np.minimum(float(max_norm) / (total + total.dtype.type(1e-6)),
                                   total.dtype.type(1.0)))
    with no_grad():
        for g in grads:
            g.mul_(coef)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False,
                    foreach=None):
    """Clip the gradients' total norm to ``max_norm`` in place; returns the norm before."""
    parameters = _as_list(parameters, warn_empty=True)
    grads = [p.grad for p in parameters if p.grad is not None]
    total_norm = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total_norm, foreach)
    return total_norm


def clip_grad_norm(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False,
                   foreach=None):
    """Deprecated spelling of clip_grad_norm_."""
    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated in favor of "
                  "`torch.nn.utils.clip_grad_norm_`.", FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient element to [-clip_value, clip_value] in place."""
    clip_value = float(clip_value)
    with no_grad():
        for p in _as_list(parameters):
            if p.grad is not None:
                p.grad.clamp_(min=-clip_value, max=clip_value)


__all__ = ["clip_grad_norm", "clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_",
           "get_total_norm"]
