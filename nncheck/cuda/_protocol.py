"""DeviceArray's numpy protocol: numpy calls on device arrays run as device kernels.

``np.add(a, b)``, ``a + b``, ``np.sum(a, axis)``, ``np.where``, ``np.concatenate``, setitem
through a view ... reach ``array_ufunc`` / ``array_function`` / ``assign`` here, which plan
them as numpy would (result dtypes from numpy itself on empty stand-ins, broadcasting, out=
in place, overlapping operands) and run ``launchers/elementwise.py``.  What has no kernel
(sorting, einsum, advanced indices mixed with slices, ...) is computed on
the host -- values downloaded, numpy, results uploaded, in-place results written back
through the view -- and counted in ``launchers.stats["host_fallbacks"]`` (names in
``launchers.fallback_names``).
"""

import math

from .._lazy import np
from ._driver import DeviceArray, _axis, _host, _host_fallback, _upload_like
from .launchers import elementwise as ew

# numpy ufunc name -> kernel op (aliases: true_divide is divide, mod is remainder, ...)
_UNARY_NAMES = {name: name for name in ew.UNARY}
_UNARY_NAMES.update(positive="identity", conjugate="identity", fabs="absolute")
_INTEGER_UNARY = {"identity", "negative", "absolute", "sign", "square", "floor", "ceil", "rint",
                  "trunc", "isnan", "isinf", "isfinite", "logical_not"}
_dtype_cache = {}


# ---------------------------------------------------------------- ufuncs

def array_ufunc(ufunc, method, inputs, kwargs):
    try:
        if ufunc is np.matmul and method == "__call__" and not kwargs:
            return matmul(*inputs)
        if method == "__call__":
            return _ufunc_call(ufunc, inputs, dict(kwargs))
        if method == "at" and ufunc is np.add and len(inputs) == 3 and not kwargs:
            return add_at(*inputs)
    except ew.Unsupported:
        pass
    return _ufunc_on_host(ufunc, method, inputs, kwargs)


def _ufunc_on_host(ufunc, method, inputs, kwargs):
    _host_fallback(f"{ufunc.__name__}.{method}")
    if method == "at":  # in place into inputs[0] (np.add.at): on a host copy, written back
        target = _host(inputs[0])
        ufunc.at(target, *_host(inputs[1:]), **_host(kwargs))
        if isinstance(inputs[0], DeviceArray):
            assign(inputs[0], target)
        return None
    out = kwargs.pop("out", None)
    if out is None:
        return _upload_like(getattr(ufunc, method)(*_host(inputs), **_host(kwargs)),
                            _first_device(inputs))
    host_out = tuple(_host(out))  # host targets are written by numpy itself
    getattr(ufunc, method)(*_host(inputs), out=host_out, **_host(kwargs))
    for target, value in zip(out, host_out):
        if isinstance(target, DeviceArray):
            assign(target, value)
    return out[0] if len(out) == 1 else out


def _proto(a):
    """What numpy needs to resolve a result dtype: an empty array of a device array's
    dtype, a numpy scalar for a 0-d host array, Python scalars as they are (weak)."""
    if isinstance(a, DeviceArray):
        return np.empty(0, a.dtype)
    if isinstance(a, np.ndarray):
        return a[()] if a.ndim == 0 else np.empty(0, a.dtype)
    return a


def _key(p):
    return p.dtype if isinstance(p, np.ndarray) else (type(p), getattr(p, "dtype", None))


def _resolve(ufunc, protos):
    """(result dtype, dtype the inputs promote to), as numpy computes them."""
    key = (ufunc, tuple(_key(p) for p in protos))
    found = _dtype_cache.get(key)
    if found is None:
        result = ufunc(*protos)
        if isinstance(result, tuple):
            raise ew.Unsupported(f"nncheck.cuda: {ufunc.__name__} has several outputs")
        found = _dtype_cache[key] = (np.asarray(result).dtype, np.result_type(*protos))
    return found


def _compute(result, promoted):
    """The kernels' compute type: the result's if floating, else the inputs' (comparisons
    of floats), else exact 64-bit integers."""
    for dtype in (result, promoted):
        if dtype.kind == "f":
            return ew.compute_code(dtype)
    if result.kind not in "biu" or promoted.kind not in "biu":
        raise ew.Unsupported(f"nncheck.cuda: no elementwise kernels for {result}")
    return ew.I64


def _ufunc_call(ufunc, inputs, kwargs):
    out = kwargs.pop("out", None)
    kwargs.pop("casting", None)
    if kwargs:
        raise ew.Unsupported(f"nncheck.cuda: {ufunc.__name__} with {sorted(kwargs)}")
    if out is not None:
        out = out[0] if isinstance(out, tuple) and len(out) == 1 else out
        if not isinstance(out, DeviceArray):
            raise ew.Unsupported("nncheck.cuda: a ufunc's out= is not one device array")
    name = ufunc.__name__
    if name == "invert":  # ~mask
        if not all(getattr(a, "dtype", None) == np.bool_ for a in inputs):
            raise ew.Unsupported("nncheck.cuda: bitwise invert of integers")
        name = "logical_not"
    unary = _UNARY_NAMES.get(name) if len(inputs) == 1 else None
    if unary is None and (len(inputs) != 2 or name not in ew.BINARY):
        raise ew.Unsupported(f"nncheck.cuda: no kernel for ufunc {name}")
    like = next(a for a in (*inputs, out) if isinstance(a, DeviceArray))
    operands = [_on_device(a, like) for a in inputs]
    result, promoted = _resolve(ufunc, [_proto(a) for a in operands])
    compute = _compute(result, promoted)
    if compute == ew.I64 and (unary not in _INTEGER_UNARY if unary
                              else name not in ew.INTEGER_BINARY):
        raise ew.Unsupported(f"nncheck.cuda: no integer kernel for {name}")
    shape = np.broadcast_shapes(*(a.shape for a in operands if isinstance(a, DeviceArray)))
    if out is None:
        out = DeviceArray.empty(shape, result, like.device.ordinal, like.stream)
    else:
        if np.broadcast_shapes(shape, out.shape) != out.shape:
            raise ValueError(f"non-broadcastable output operand with shape {out.shape} doesn't "
                             f"match the broadcast shape {shape}")
        if not np.can_cast(result, out.dtype, "same_kind"):
            raise TypeError(f"Cannot cast ufunc '{ufunc.__name__}' output from "
                            f"{result!r} to {out.dtype!r} with casting rule 'same_kind'")
        operands = [_unaliased(a, out) for a in operands]
    if unary:
        ew.unary(unary, operands[0], out, compute)
    else:
        ew.binary(name, operands[0], operands[1], out, compute)
    return out


def matmul(a, b):
    """``np.matmul`` of float32/float64 arrays by the GEMM kernel of kernels/linear.cu
    (batched, numpy's broadcasting and 1-d promotion rules)."""
    like = a if isinstance(a, DeviceArray) else b
    a, b = _on_device(a, like), _on_device(b, like)
    if not (isinstance(a, DeviceArray) and isinstance(b, DeviceArray)) or not a.ndim or \
            not b.ndim:
        raise ValueError("matmul: Input operand does not have enough dimensions")
    dtype = np.result_type(a.dtype, b.dtype)
    if dtype.name not in ("float32", "float64"):
        raise ew.Unsupported(f"nncheck.cuda: matmul of {dtype}")
    a2 = a[None] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    (M, K), (K2, N) = a2.shape[-2:], b2.shape[-2:]
    if K != K2:
        raise ValueError(f"matmul: Input operand 1 has a mismatch in its core dimension 0, with "
                         f"gufunc signature (n?,k),(k,m?)->(n?,m?) (size {K2} is different "
                         f"from {K})")
    batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    count = math.prod(batch)

    def operand(x, rows, cols):  # a contiguous batch of matrices, or one shared (stride 0)
        x = x.astype(dtype) if x.dtype != dtype else x
        if x.ndim == 2 or math.prod(x.shape[:-2]) == 1:
            return x.reshape(rows, cols) if x.is_c_contiguous else x.copy().reshape(rows, cols), 0
        x = x.broadcast_to(batch + (rows, cols))
        return (x if x.is_c_contiguous else x.copy()), rows * cols

    (A, sA), (B, sB) = operand(a2, M, K), operand(b2, K, N)
    out = DeviceArray.empty(batch + (M, N), dtype, like.device.ordinal, like.stream)
    if K == 0:
        out.fill(0)
    else:
        from .launchers import linear

        linear.gemm(False, False, A, B, out, M, N, K, batch=count, sA=sA, sB=sB, sC=M * N)
    if a.ndim == 1:
        out = out.reshape(out.shape[:-2] + (N,))
    if b.ndim == 1:
        out = out.reshape(out.shape[:-1])
    return out


def _on_device(a, like):
    """Device arrays as they are, scalars as scalars, host arrays uploaded."""
    if isinstance(a, DeviceArray) or isinstance(a, (bool, int, float, np.generic)):
        return a
    host = np.asarray(a)
    if host.ndim == 0:
        return host[()]
    return DeviceArray.from_numpy(host, like.device.ordinal, like.stream)


def _unaliased(a, out):
    """``a``, or a copy where it overlaps ``out`` other than element for element (an
    elementwise kernel writing ``out`` would otherwise read values it already wrote)."""
    if not isinstance(a, DeviceArray) or not shares_memory(a, out):
        return a
    if a.ptr == out.ptr and a.broadcast_to(out.shape).element_strides == out.element_strides:
        return a
    return a.copy()


# ---------------------------------------------------------------- writing into views

def assign(view, value):
    """``view[...] = value`` (broadcast, cast as numpy's setitem) into the view's memory."""
    if isinstance(value, DeviceArray):
        try:
            value = value.broadcast_to(view.shape)
        except ValueError:
            raise ValueError(f"could not broadcast input array from shape {value.shape} into "
                             f"shape {view.shape}") from None
        ew.copy_into(_unaliased(value, view), view)
        return
    host = np.asarray(value)
    if host.ndim == 0 and ew.supported(view.dtype):
        scalar = host[()]
        ew.fill(view, scalar.item() if scalar.dtype.kind in "biuf" else scalar)
        return
    assign(view, DeviceArray.from_numpy(host.astype(view.dtype, copy=False),
                                        view.device.ordinal, view.stream))


def _integer_index(a, key):
    """``(index arrays on a's device, their broadcast shape)`` where ``key`` is integer
    arrays (or ints) for the leading dims of ``a`` -- numpy's advanced indexing that the
    index kernels do -- with every index checked against its dim; else None (masks,
    slices mixed in, ...)."""
    items = key if isinstance(key, tuple) else (key,)
    if not items or len(items) > a.ndim or a.dtype.itemsize not in (1, 2, 4, 8):
        return None
    arrays = []
    for k in items:
        if not isinstance(k, DeviceArray):
            if k is None or k is Ellipsis or isinstance(k, (slice, bool, np.bool_)):
                return None
            k = np.asarray(k)
        if k.dtype.kind not in "iu" or not ew.supported(k.dtype):
            return None
        arrays.append(k)
    shape = np.broadcast_shapes(*(k.shape for k in arrays))
    for d, k in enumerate(arrays):
        if k.size:
            lo, hi = (int(k.min()), int(k.max()))
            bad = lo if lo < -a.shape[d] else hi if hi >= a.shape[d] else None
            if bad is not None:
                raise IndexError(f"index {bad} is out of bounds for axis {d} with size "
                                 f"{a.shape[d]}")
    return [_on_device(k, a) if k.ndim else k for k in arrays], shape


def _masked_rows(a, key):
    """``(rows, positions)`` for ``a[mask]``: ``a`` viewed as (mask elements, rest...) and the
    flat positions of the mask's True elements on the device; None where ``key`` is not one
    boolean mask over leading dims of ``a`` that can be viewed so."""
    mask = key[0] if isinstance(key, tuple) and len(key) == 1 else key
    if isinstance(mask, np.ndarray) and mask.dtype == np.bool_ and mask.ndim:
        mask = DeviceArray.from_numpy(mask, a.device.ordinal, a.stream)
    if not (isinstance(mask, DeviceArray) and mask.dtype == np.bool_) or not 0 < mask.ndim \
            <= a.ndim:
        return None
    for d, (size, want) in enumerate(zip(mask.shape, a.shape)):
        if size != want:
            raise IndexError(f"boolean index did not match indexed array along axis {d}; size "
                             f"of axis is {want} but size of corresponding boolean axis is "
                             f"{size}")
    shape = (math.prod(mask.shape),) + a.shape[mask.ndim:]
    from ._driver import _nocopy_strides

    strides = _nocopy_strides(a.shape, a.element_strides, shape)
    if strides is None:  # (a copy would not write back into a)
        return None
    positions = DeviceArray.empty((int(np.sum(mask)),), np.int64, a.device.ordinal, a.stream)
    ew.flat_nonzero(mask, positions)
    return a._view(0, shape, strides), positions


def gather(a, key):
    """``a[key]`` for integer index arrays or a boolean mask (kernels); other advanced
    indices on the host (counted)."""
    masked = _masked_rows(a, key)
    if masked is not None:
        rows, positions = masked
        return gather(rows, (positions,))
    plan = _integer_index(a, key)
    if plan is None:
        _host_fallback("getitem (advanced index)")
        return DeviceArray.from_numpy(np.asarray(a.numpy()[_host(key)]), a.device.ordinal)
    arrays, shape = plan
    out = DeviceArray.empty(shape + a.shape[len(arrays):], a.dtype, a.device.ordinal, a.stream)
    ew.index_copy(a, arrays, shape, out, put=False)
    return out


def scatter(a, key, value):
    """``a[key] = value`` for integer index arrays (a kernel; with repeated indices one of
    the values lands, as on a GPU) or a boolean mask; other advanced indices on the host,
    written back (counted)."""
    masked = _masked_rows(a, key)
    if masked is not None:
        rows, positions = masked
        scatter(rows, (positions,), value)
        return
    plan = _integer_index(a, key)
    if plan is None:
        _host_fallback("setitem (advanced index)")
        host = a.numpy()
        host[_host(key)] = _host(value)
        a.copy_(host)
        return
    arrays, shape = plan
    ew.index_copy(a, arrays, shape, _values_for(a, value, shape + a.shape[len(arrays):]),
                  put=True)


def _values_for(a, value, shape):
    """``value`` on a's device in a's dtype, broadcast to ``shape``."""
    value = _on_device(value, a)
    if not isinstance(value, DeviceArray):
        value = DeviceArray.from_numpy(np.asarray(value, a.dtype), a.device.ordinal, a.stream)
    elif value.dtype != a.dtype:
        value = value.astype(a.dtype)
    return value.broadcast_to(shape)


def add_at(a, key, values):
    """``np.add.at(a, key, values)`` for integer index arrays: an atomic scatter-add."""
    plan = _integer_index(a, key) if isinstance(a, DeviceArray) else None
    if plan is None:
        raise ew.Unsupported("nncheck.cuda: add.at with this index")
    arrays, shape = plan
    ew.index_add(a, arrays, shape, _values_for(a, values, shape + a.shape[len(arrays):]))


# ---------------------------------------------------------------- reductions

def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = tuple(_axis(d, ndim) for d in (axis if isinstance(axis, (tuple, list)) else (axis,)))
    if len(set(axes)) != len(axes):
        raise ValueError("duplicate value in 'axis'")
    return axes


_REDUCE_NAMES = {"max": "maximum", "min": "minimum", "argmax": "argmax", "argmin": "argmin"}


def _reduction(op, mean=False):
    def run(a, axis=None, dtype=None, out=None, keepdims=False, **extra):
        if extra or not isinstance(a, DeviceArray):
            raise ew.Unsupported(f"nncheck.cuda: {op} with {sorted(extra)}")
        if op in ("argmax", "argmin") and axis is not None and not isinstance(
                axis, (int, np.integer)):
            raise TypeError("an integer is required for the axis")
        axes = _axes(axis, a.ndim)
        kept = [d for d in range(a.ndim) if d not in axes]
        inner = math.prod(a.shape[d] for d in axes)
        result = _reduce_dtype(op, mean, a.dtype, dtype)
        source = np.dtype(dtype) if dtype is not None and op in ("sum", "prod") else a.dtype
        compute = _compute(result if op in ("sum", "prod") or mean else source, source)
        if inner == 0 and op not in ("sum", "prod", "any", "all") and a.size == 0:
            if op.startswith("arg"):
                raise ValueError(f"attempt to get {op} of an empty sequence")
            raise ValueError(f"zero-size array to reduction operation {_REDUCE_NAMES[op]} "
                             "which has no identity")
        res = DeviceArray.empty(tuple(a.shape[d] for d in kept), result, a.device.ordinal,
                                a.stream)
        view = a.transpose(kept + list(axes))
        if a.dtype != source:  # sum(dtype=...): values cast before they are added
            view = view.astype(source)
        ew.reduce(op, view, res.size, inner, res, compute, max(inner, 1) if mean else 1)
        if keepdims:
            res = res.reshape(tuple(1 if d in axes else s for d, s in enumerate(a.shape)))
        if out is not None:
            assign(out, res)
            return out
        return res
    run.__name__ = op if not mean else "mean"
    return run


def _cumulative(product):
    numpy_fn = np.cumprod if product else np.cumsum

    def run(a, axis=None, dtype=None, out=None):
        if out is not None:
            raise ew.Unsupported("nncheck.cuda: cumsum/cumprod with out=")
        if axis is None:
            a, axis = a.reshape(-1), 0
        axis = _axis(axis, a.ndim)
        result = numpy_fn(np.empty(0, a.dtype), dtype=dtype).dtype
        res = DeviceArray.empty(a.shape, result, a.device.ordinal, a.stream)
        order = [d for d in range(a.ndim) if d != axis] + [axis]
        inner = a.shape[axis] if a.ndim else 1
        ew.scan(a.transpose(order), res.transpose(order), a.size // max(inner, 1), inner,
                product, _compute(result, a.dtype))
        return res
    return run


def _reduce_dtype(op, mean, dtype, requested):
    if op in ("argmax", "argmin"):
        return np.dtype(np.int64)
    if op in ("any", "all"):
        return np.dtype(np.bool_)
    if op in ("max", "min"):
        return dtype
    proto = np.empty(1, dtype)
    if mean:
        return np.mean(proto, dtype=requested).dtype
    return np.sum(proto, dtype=requested).dtype


# ---------------------------------------------------------------- shape functions

def shares_memory(a, b, max_work=None):
    """Whether two views' byte ranges overlap in one allocation (numpy's may_share_memory;
    exact enough for nncheck's question "is this a view of that")."""
    if not (isinstance(a, DeviceArray) and isinstance(b, DeviceArray)):
        return False
    if a._block is not b._block or a._block is None:
        return False
    (lo1, hi1), (lo2, hi2) = a.extent(), b.extent()
    return lo1 < hi2 and lo2 < hi1


def _device_arrays(values):
    """``values`` as DeviceArrays: host arrays and numbers uploaded next to the first device
    array (device 0 when there is none)."""
    like = _first_device(values)
    ordinal, stream = (0, None) if like is None else (like.device.ordinal, like.stream)
    return [v if isinstance(v, DeviceArray) else DeviceArray.from_numpy(np.asarray(v), ordinal,
                                                                        stream)
            for v in values]


def concatenate(arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    arrays = _device_arrays(list(arrays))
    like = arrays[0]
    if axis is None:
        arrays, axis = [a.reshape(-1) for a in arrays], 0
    first = arrays[0]
    if first.ndim == 0:
        raise ValueError("zero-dimensional arrays cannot be concatenated")
    axis = _axis(axis, first.ndim)
    for i, a in enumerate(arrays):
        if a.ndim != first.ndim:
            raise ValueError(
                "all the input array dimensions except for the concatenation axis must match "
                f"exactly, but along dimension 0, the array at index 0 has {first.ndim} "
                f"dimension(s) and the array at index {i} has {a.ndim} dimension(s)")
        for d in range(first.ndim):
            if d != axis and a.shape[d] != first.shape[d]:
                raise ValueError(
                    "all the input array dimensions except for the concatenation axis must "
                    f"match exactly, but along dimension {d}, the array at index 0 has size "
                    f"{first.shape[d]} and the array at index {i} has size {a.shape[d]}")
    shape = list(first.shape)
    shape[axis] = sum(a.shape[axis] for a in arrays)
    result = np.dtype(dtype) if dtype is not None else np.result_type(
        *(np.empty(0, a.dtype) for a in arrays))
    if out is None:
        out = DeviceArray.empty(tuple(shape), result, like.device.ordinal, like.stream)
    start = 0
    for a in arrays:  # each input copied (and cast) into its slice of the output
        stop = start + a.shape[axis]
        assign(out[(slice(None),) * axis + (slice(start, stop),)], a)
        start = stop
    return out


def stack(arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    arrays = list(arrays)
    if not arrays:
        raise ValueError("need at least one array to stack")
    shapes = {tuple(np.shape(a)) for a in arrays}
    if len(shapes) != 1:
        raise ValueError("all input arrays must have the same shape")
    axis = _axis(axis, len(shapes.pop()) + 1)
    expanded = [expand_dims(a, axis) for a in _device_arrays(arrays)]
    return concatenate(expanded, axis, out=out, dtype=dtype)


def expand_dims(a, axis):
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    ndim = a.ndim + len(axes)
    axes = sorted(_axis(d, ndim) for d in axes)
    shape, strides, it = [], [], iter(zip(a.shape, a.element_strides))
    for d in range(ndim):
        if d in axes:
            shape.append(1)
            strides.append(0)
        else:
            s, st = next(it)
            shape.append(s)
            strides.append(st)
    return a._view(0, tuple(shape), tuple(strides))


def moveaxis(a, source, destination):
    src = [_axis(s, a.ndim) for s in (source if isinstance(source, (tuple, list)) else (source,))]
    dst = [_axis(d, a.ndim) for d in (destination if isinstance(destination, (tuple, list))
                                      else (destination,))]
    order = [d for d in range(a.ndim) if d not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return a.transpose(order)


def where(condition, x=None, y=None):
    if x is None or y is None:
        raise ew.Unsupported("nncheck.cuda: where(condition) (nonzero)")
    like = next(a for a in (condition, x, y) if isinstance(a, DeviceArray))
    cond, x, y = (_on_device(v, like) for v in (condition, x, y))
    key = ("where", _key(_proto(x)), _key(_proto(y)))
    result = _dtype_cache.get(key)
    if result is None:
        result = _dtype_cache[key] = np.where(np.empty(0, bool), _proto(x), _proto(y)).dtype
    shape = np.broadcast_shapes(*(v.shape for v in (cond, x, y) if isinstance(v, DeviceArray)))
    out = DeviceArray.empty(shape, result, like.device.ordinal, like.stream)
    if isinstance(cond, DeviceArray) and not ew.supported(cond.dtype):
        raise ew.Unsupported(f"nncheck.cuda: a {cond.dtype} condition")
    if not isinstance(cond, DeviceArray):
        cond = bool(cond)
    ew.where(cond, x, y, out, ew.compute_code(result) if result.kind == "f" else ew.I64)
    return out


def clip(a, a_min=None, a_max=None, out=None, **kwargs):
    if kwargs:
        raise ew.Unsupported(f"nncheck.cuda: clip with {sorted(kwargs)}")
    result = a
    if a_min is not None:
        result = np.maximum(result, a_min)
    if a_max is not None:
        result = np.minimum(result, a_max, out=result if result is not a else None)
    if out is not None:
        assign(out, result)
        return out
    return result if result is not a else a.copy()


def _like(fill):
    def make(a, dtype=None, order="K", subok=True, shape=None, device=None, **kw):
        out = DeviceArray.empty(a.shape if shape is None else shape, dtype or a.dtype,
                                a.device.ordinal, a.stream)
        if fill is not None:
            out.fill(fill)
        return out
    return make


def full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None, **kw):
    out = _like(None)(a, dtype, shape=shape)
    assign(out, fill_value)
    return out


def copyto(dst, src, casting="same_kind", where=True):
    if not isinstance(dst, DeviceArray) or where is not True:
        raise ew.Unsupported("nncheck.cuda: copyto into a host array or with where=")
    assign(dst, src)


def split(a, indices_or_sections, axis=0):
    axis = _axis(axis, a.ndim)
    n = a.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        if n % indices_or_sections:
            raise ValueError("array split does not result in an equal division")
        step = n // indices_or_sections
        bounds = list(range(0, n + 1, step)) if step else [0] * (indices_or_sections + 1)
    else:
        bounds = [0, *(int(i) for i in indices_or_sections), n]
    return [a[(slice(None),) * axis + (slice(lo, hi),)] for lo, hi in zip(bounds, bounds[1:])]


def take(a, indices, axis=None, out=None, mode="raise"):
    if isinstance(indices, (int, np.integer)) and out is None:
        view = a.reshape(-1) if axis is None else a
        return view[(slice(None),) * (0 if axis is None else _axis(axis, a.ndim)) + (indices,)]
    raise ew.Unsupported("nncheck.cuda: take with an index array")


def _along_axis(a, indices, axis):
    """numpy's *_along_axis as one integer index per dim: ``indices`` along ``axis``, the
    position itself (a small arange, broadcast) along the others."""
    axis = _axis(axis, a.ndim)
    if np.ndim(indices) != a.ndim:
        raise ValueError("`indices` and `arr` must have the same number of dimensions")
    key = []
    for d in range(a.ndim):
        if d == axis:
            key.append(indices)
        else:
            place = [1] * a.ndim
            place[d] = a.shape[d]
            key.append(np.arange(a.shape[d]).reshape(place))
    return tuple(key)


def take_along_axis(arr, indices, axis=-1):
    if axis is None or not isinstance(arr, DeviceArray):
        raise ew.Unsupported("nncheck.cuda: take_along_axis of a flattened or host array")
    return arr[_along_axis(arr, indices, axis)]


def put_along_axis(arr, indices, values, axis):
    if axis is None or not isinstance(arr, DeviceArray):
        raise ew.Unsupported("nncheck.cuda: put_along_axis into a flattened or host array")
    arr[_along_axis(arr, indices, axis)] = values


def tile(a, reps):
    """numpy's tile: a broadcast view (stride 0 along the repeats) copied once."""
    reps = (reps,) if isinstance(reps, (int, np.integer)) else tuple(reps)
    d = max(a.ndim, len(reps))
    shape = (1,) * (d - a.ndim) + a.shape
    reps = (1,) * (d - len(reps)) + reps
    spread = a.reshape(shape)[tuple(x for _ in shape for x in (None, slice(None)))]
    tiled = spread.broadcast_to(tuple(x for r, s in zip(reps, shape) for x in (r, s)))
    return tiled.copy().reshape(tuple(r * s for r, s in zip(reps, shape)))


def flip(m, axis=None):
    """A view with negative strides along ``axis`` (numpy's flip is a view too)."""
    axes = set(_axes(axis, m.ndim))
    return m[tuple(slice(None, None, -1) if d in axes else slice(None) for d in range(m.ndim))]


def roll(a, shift, axis=None):
    if axis is None:
        return roll(a.reshape(-1), shift, 0).reshape(a.shape)
    shifts = shift if isinstance(shift, (tuple, list)) else (shift,)
    axes = axis if isinstance(axis, (tuple, list)) else (axis,) * len(shifts)
    if len(axes) != len(shifts):
        raise ValueError("'shift' and 'axis' should be scalars or 1D sequences")
    out = a
    for s, d in zip(shifts, axes):  # the last n - s elements first, then the rest
        d = _axis(d, a.ndim)
        n = a.shape[d]
        s = int(s) % n if n else 0
        if s:
            head = (slice(None),) * d
            out = concatenate([out[head + (slice(n - s, None),)], out[head + (slice(0, n - s),)]],
                              axis=d)
    return out if out is not a else a.copy()


def _triangle(m, k, lower):
    rows, cols = m.shape[-2:]
    keep = np.tri(rows, cols, k if lower else k - 1, dtype=bool)  # small, uploaded
    return where(keep if lower else ~keep, m, m.dtype.type(0))


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    close = np.less_equal(np.abs(np.subtract(a, b)), atol + rtol * np.abs(b))
    close = np.logical_or(close, np.equal(a, b))  # equal infinities
    if equal_nan:
        close = np.logical_or(close, np.logical_and(np.isnan(a), np.isnan(b)))
    return close


def array_equal(a1, a2, equal_nan=False):
    if np.shape(a1) != np.shape(a2) or equal_nan:
        if equal_nan:
            raise ew.Unsupported("nncheck.cuda: array_equal(equal_nan=True)")
        return False
    return bool(np.all(np.equal(a1, a2)))


FUNCTIONS = {
    np.shape: lambda a: tuple(a.shape),
    np.ndim: lambda a: a.ndim,
    np.size: lambda a, axis=None: a.size if axis is None else a.shape[axis],
    np.sum: _reduction("sum"), np.prod: _reduction("prod"), np.mean: _reduction("sum", True),
    np.max: _reduction("max"), np.amax: _reduction("max"), np.min: _reduction("min"),
    np.amin: _reduction("min"), np.argmax: _reduction("argmax"),
    np.argmin: _reduction("argmin"), np.any: _reduction("any"), np.all: _reduction("all"),
    np.where: where, np.clip: clip, np.concatenate: concatenate, np.stack: stack,
    np.broadcast_to: lambda a, shape, subok=False: a.broadcast_to(
        (shape,) if isinstance(shape, (int, np.integer)) else shape),
    np.expand_dims: expand_dims, np.moveaxis: moveaxis,
    np.squeeze: lambda a, axis=None: a.squeeze(axis),
    np.transpose: lambda a, axes=None: a.transpose(axes or ()),
    np.swapaxes: lambda a, axis1, axis2: a.swapaxes(axis1, axis2),
    np.reshape: lambda a, shape=None, order="C", *, newshape=None, copy=None: a.reshape(
        shape if shape is not None else newshape),
    np.ravel: lambda a, order="C": a.reshape(-1),
    np.copy: lambda a, order="K", subok=False: a.copy(),
    np.copyto: copyto, np.shares_memory: shares_memory, np.may_share_memory: shares_memory,
    np.zeros_like: _like(0), np.ones_like: _like(1), np.empty_like: _like(None),
    np.full_like: full_like, np.split: split, np.array_split: split, np.take: take,
    np.array_equal: array_equal, np.tile: tile, np.take_along_axis: take_along_axis,
    np.put_along_axis: put_along_axis, np.flip: flip, np.roll: roll,
    np.cumsum: _cumulative(False), np.cumprod: _cumulative(True),
    np.tril: lambda m, k=0: _triangle(m, k, True), np.triu: lambda m, k=0: _triangle(m, k, False),
    np.isclose: isclose,
    np.allclose: lambda a, b, rtol=1e-05, atol=1e-08, equal_nan=False: bool(
        np.all(isclose(a, b, rtol, atol, equal_nan))),
}

# ndarray methods DeviceArray answers through the functions above (a.sum(axis=1), ...)
METHODS = {f.__name__: FUNCTIONS[f] for f in (np.sum, np.prod, np.mean, np.max, np.min,
                                               np.argmax, np.argmin, np.any, np.all)}
METHODS.update(clip=clip, cumsum=FUNCTIONS[np.cumsum], cumprod=FUNCTIONS[np.cumprod])


def array_function(func, args, kwargs):
    handler = FUNCTIONS.get(func)
    if handler is not None:
        try:
            return handler(*args, **kwargs)
        except ew.Unsupported:
            pass
    return _function_on_host(func, args, kwargs)


def _function_on_host(func, args, kwargs):
    _host_fallback(func.__name__)
    like = _first_device(args)
    like = like if like is not None else _first_device(list(kwargs.values()))
    if func is np.copyto and isinstance(args[0], DeviceArray):  # in place: write back
        host = args[0].numpy()
        np.copyto(host, *_host(args[1:]), **_host(kwargs))
        assign(args[0], host)
        return None
    out = kwargs.get("out")
    if isinstance(out, DeviceArray):
        kwargs = dict(kwargs, out=None)
        assign(out, func(*_host(args), **_host(kwargs)))
        return out
    return _upload_like(func(*_host(args), **_host(kwargs)), like)


def _first_device(values):
    for v in values:
        if isinstance(v, DeviceArray):
            return v
        if isinstance(v, (list, tuple)):
            found = _first_device(v)
            if found is not None:
                return found
    return None
