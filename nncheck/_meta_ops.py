"""Shape rules of tensor ops on meta tensors, so a model's forward can run on shapes alone.

``nncheck summary FILE.py:Name`` builds the user's model on meta tensors and runs its
forward with :class:`ShapeTracer` inputs: layers with an analytic shape rule
(``infer_shape``) answer from it, and the tensor code between them (``x + y``,
``torch.flatten``, ``x.view``, ``torch.cat``, ``x.permute``, ``F.relu``, ``x.mean``, ...)
goes through ``Function.apply``, which hands meta inputs to :func:`apply_on_meta`.
Neither numpy nor a kernel is imported.  An op without a rule here raises the usual
"cannot compute ... on a meta tensor" error, and the caller falls back to a real forward.
"""

import math

from . import ops
from .tensor import MetaStorage, Tensor, _sizes, meta_error


def _shape(x):
    return tuple(x.shape) if isinstance(x, Tensor) else ()


def _broadcast(*shapes):
    ndim = max(len(s) for s in shapes)
    out = []
    for sizes in zip(*[(1,) * (ndim - len(s)) + tuple(s) for s in shapes]):
        big = {n for n in sizes if n != 1}
        if len(big) > 1:
            raise RuntimeError(f"The size of tensors must match: shapes "
                               f"{[list(s) for s in shapes]} do not broadcast")
        out.append(big.pop() if big else 1)
    return tuple(out)


def _dims(dim, ndim):
    if dim is None:
        return tuple(range(ndim))
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    for d in dims:
        if not -max(ndim, 1) <= d < max(ndim, 1):
            raise IndexError(f"Dimension out of range (got {d} for a {ndim}-d tensor)")
    return tuple(d % max(ndim, 1) for d in dims)


def _reduce(a, dim=None, keepdim=False, *rest):
    dims = set(_dims(dim, a.ndim))
    shape = _shape(a)
    if keepdim:
        return tuple(1 if i in dims else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in dims)


def _binary(a, b, *rest, **kwargs):
    return _broadcast(_shape(a), _shape(b))


def _same(a, *rest, **kwargs):
    return _shape(a)


def _cat(dim, *tensors):
    ref = list(_shape(tensors[0]))
    ref[dim] = sum(_shape(t)[dim] for t in tensors)
    return tuple(ref)


def _stack(dim, *tensors):
    ref = list(_shape(tensors[0]))
    ref.insert(dim, len(tensors))
    return tuple(ref)


def _matmul(a, b):
    sa, sb = _shape(a), _shape(b)
    if len(sa) == 1 and len(sb) == 1:
        return ()
    a2 = (1,) + sa if len(sa) == 1 else sa
    b2 = sb + (1,) if len(sb) == 1 else sb
    if a2[-1] != b2[-2]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({a2[-2]}x{a2[-1]} and "
                           f"{b2[-2]}x{b2[-1]})")
    out = _broadcast(a2[:-2], b2[:-2]) + (a2[-2], b2[-1])
    if len(sa) == 1:
        out = out[:-2] + out[-1:]
    if len(sb) == 1:
        out = out[:-1]
    return out


def _index(a, key):
    """Shape of ``a[key]`` for basic indexing (ints, slices, None, Ellipsis)."""
    key = key if isinstance(key, tuple) else (key,)
    if any(not isinstance(k, (int, slice, type(None), type(Ellipsis))) for k in key):
        raise meta_error("index with tensors or lists into")
    fill = (slice(None),) * (a.ndim - sum(1 for k in key if k is not None and k is not ...))
    if ... in key:
        at = key.index(...)
        key = key[:at] + fill + key[at + 1:]
    else:
        key = key + fill
    out, dim = [], 0
    shape = _shape(a)
    for k in key:
        if k is None:
            out.append(1)
            continue
        if dim >= len(shape):
            raise IndexError(f"too many indices for tensor of dimension {len(shape)}")
        if isinstance(k, slice):
            out.append(len(range(*k.indices(shape[dim]))))
        elif not -shape[dim] <= k < shape[dim]:
            raise IndexError(f"index {k} is out of bounds for dimension {dim} with size "
                             f"{shape[dim]}")
        dim += 1
    return tuple(out)


# op (module.qualname) -> output shape from the forward's arguments (tensors as meta)
RULES = {
    **{f"nncheck.ops.{name}": _binary for name in ("Add", "Sub", "Mul", "Div", "Pow")},
    **{f"nncheck.ops.{name}": _same for name in ("Neg", "Abs", "Exp", "Log", "Sqrt", "Sin",
                                                 "Cos", "Clamp")},
    **{f"nncheck.ops.{name}": _reduce for name in ("Sum", "Mean", "Prod")},
    "nncheck.ops.Reshape": lambda a, shape: tuple(shape),
    "nncheck.ops.Permute": lambda a, dims: tuple(_shape(a)[d] for d in dims),
    "nncheck.ops.Expand": lambda a, shape: tuple(shape),
    "nncheck.ops.Cat": _cat,
    "nncheck.ops.Stack": _stack,
    "nncheck.ops.MatMul": _matmul,
    "nncheck.ops.Index": _index,
    "nncheck.nn.functional.activation._Elementwise": _same,
    "nncheck.nn.functional.activation._Softmax": _same,
    # avg_pool / adaptive_avg_pool: (input, layer, nd, tables, divisor, output sizes)
    "nncheck.nn.functional.pooling._WindowAvg":
        lambda a, layer, nd, tables, divisor, out: _shape(a)[:-nd] + tuple(out),
}


def apply_on_meta(cls, args, kwargs):
    """``cls.apply(*args)`` on meta tensors: inside a shape trace (a ShapeTracer among the
    arguments), a ShapeTracer of the op's output shape and the first tensor's dtype."""
    rule = RULES.get(f"{cls.__module__}.{cls.__qualname__}")
    first = next((a for a in args if isinstance(a, Tensor)), None)
    # only a shape trace computes shapes: elsewhere a meta tensor refuses every op
    if rule is None or not any(isinstance(a, ShapeTracer) for a in args):
        raise meta_error(f"compute {cls.__name__} on")
    shape = rule(*args, **kwargs)
    if math.prod(shape) < 0:
        raise RuntimeError(f"{cls.__name__}: negative size in {list(shape)}")
    return tracer(shape, first.dtype)


class ShapeTracer(Tensor):
    """A meta tensor whose view and in-place methods need no data (Tensor's read numpy's
    memory flags), so user code between layers runs on shapes alone."""

    def _view_result(self, out):
        return out

    def is_contiguous(self, memory_format=None):
        return True

    def contiguous(self, memory_format=None):
        return self

    def reshape(self, *shape):
        shape = _sizes(shape)
        known = math.prod(s for s in shape if s != -1)
        if shape.count(-1) == 1 and known:
            shape = tuple(self.numel() // known if s == -1 else s for s in shape)
        if math.prod(shape) != self.numel() or -1 in shape:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size "
                               f"{self.numel()}")
        return ops.Reshape.apply(self, shape)

    view = reshape

    def flatten(self, start_dim=0, end_dim=-1):
        if self.ndim == 0:
            return self.reshape(1)
        s, e = self._dim(start_dim), self._dim(end_dim)
        return self.reshape(self.shape[:s] + (math.prod(self.shape[s:e + 1]),)
                            + self.shape[e + 1:])

    def _apply_inplace(self, compute):
        result = compute(self)
        if tuple(result.shape) != tuple(self.shape):
            raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the "
                               f"broadcast shape {list(result.shape)}")
        return self


def tracer(shape, dtype):
    return ShapeTracer._wrap(MetaStorage(tuple(shape), dtype))
