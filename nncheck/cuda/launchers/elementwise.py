"""Launchers for ``kernels/elementwise.cu``: copies, casts, fills, unary/binary ufuncs,
``where`` and reductions over strided, broadcast DeviceArrays.

These take arrays already planned by ``cuda/_protocol.py`` (which resolves numpy's result
dtypes and broadcasting): every array operand is viewed with the output's shape (stride 0
along broadcast axes), dims that are contiguous in every operand are merged, and each
operand travels as an ``Operand`` struct (pointer, dtype code, Strided view) so the kernels
read views in place: no operand is copied to make it contiguous.
"""

import ctypes
import math

from ..._lazy import np
from .. import _driver
from . import THREADS, launch, launch_blocks

# storage dtype codes of elementwise.cu (NN_BOOL ...); compute types are I64/F32/F64
DTYPE_CODES = {np.dtype(t): c for c, t in enumerate(
    (np.bool_, np.int8, np.uint8, np.int16, np.int32, np.int64, np.float32, np.float64))}
I64, F32, F64, SCALAR = 5, 6, 7, 8

# op codes, in the order of the enums of elementwise.cu
UNARY = {name: i for i, name in enumerate((
    "identity", "negative", "absolute", "sign", "square", "reciprocal", "exp", "expm1", "exp2",
    "log", "log1p", "log2", "log10", "sqrt", "sin", "cos", "tan", "tanh", "sinh", "cosh",
    "arcsin", "arccos", "arctan", "floor", "ceil", "rint", "trunc", "isnan", "isinf",
    "isfinite", "logical_not"))}
BINARY = {name: i for i, name in enumerate((
    "add", "subtract", "multiply", "divide", "floor_divide", "remainder", "power", "maximum",
    "minimum", "fmax", "fmin", "less", "less_equal", "greater", "greater_equal", "equal",
    "not_equal", "logical_and", "logical_or", "logical_xor", "bitwise_and", "bitwise_or",
    "bitwise_xor", "arctan2", "hypot", "copysign"))}
# binary ops the kernels compute for integer (I64) operands
INTEGER_BINARY = {"add", "subtract", "multiply", "floor_divide", "remainder", "power",
                  "maximum", "minimum", "fmax", "fmin", "less", "less_equal", "greater",
                  "greater_equal", "equal", "not_equal", "logical_and", "logical_or",
                  "logical_xor", "bitwise_and", "bitwise_or", "bitwise_xor"}
REDUCE = {name: i for i, name in enumerate(
    ("sum", "prod", "max", "min", "argmax", "argmin", "any", "all"))}
REDUCE_THREADS = 256  # elementwise.cu NN_REDUCE_THREADS


class Unsupported(TypeError):
    """A dtype the kernels do not store (float16, complex, unsigned > 8 bits)."""


class Operand(ctypes.Structure):
    """The ``Operand`` kernel parameter of elementwise.cu."""

    _fields_ = [("ptr", ctypes.c_uint64), ("dtype", ctypes.c_int64), ("f", ctypes.c_double),
                ("i", ctypes.c_int64), ("s", _driver.Strided)]


def supported(dtype):
    return np.dtype(dtype) in DTYPE_CODES


def compute_code(dtype):
    """The compute type of values of ``dtype``: F32, F64, or I64 for integers and bool."""
    dtype = np.dtype(dtype)
    if dtype not in DTYPE_CODES:
        raise Unsupported(f"nncheck.cuda: no elementwise kernels for {dtype}")
    return {"float32": F32, "float64": F64}.get(dtype.name, I64)


def _collapse(shape, strides_list):
    """Drop size-1 dims and merge neighbours that are contiguous in every operand (fewer
    index divisions in the kernel; more than 8 dims usually collapse below the limit)."""
    dims = [d for d, s in enumerate(shape) if s != 1]
    out_shape, out_strides = [], [[] for _ in strides_list]
    for d in dims:
        if out_shape and all(st[-1] == strides[d] * shape[d]
                             for st, strides in zip(out_strides, strides_list)):
            out_shape[-1] *= shape[d]
            for st, strides in zip(out_strides, strides_list):
                st[-1] = strides[d]
        else:
            out_shape.append(shape[d])
            for st, strides in zip(out_strides, strides_list):
                st.append(strides[d])
    return tuple(out_shape), [tuple(st) for st in out_strides]


def _scalar(value):
    value = value.item() if hasattr(value, "item") else value
    f = float(value)
    return Operand(0, SCALAR, f, int(value) if math.isfinite(f) else 0, _driver.Strided())


def operands(shape, *items):
    """Operand structs for ``items`` (DeviceArrays broadcast to ``shape``, or scalars)."""
    views = [a.broadcast_to(shape) if isinstance(a, _driver.DeviceArray) else a for a in items]
    arrays = [v for v in views if isinstance(v, _driver.DeviceArray)]
    for v in arrays:
        if v.dtype not in DTYPE_CODES:
            raise Unsupported(f"nncheck.cuda: no elementwise kernels for {v.dtype}")
    cshape, cstrides = _collapse(shape, [v.element_strides for v in arrays])
    strides = iter(cstrides)
    return [Operand(v.ptr, DTYPE_CODES[v.dtype], 0.0, 0, v.strided(cshape, next(strides)))
            if isinstance(v, _driver.DeviceArray) else _scalar(v) for v in views]


def _launch(name, n, *args):
    launch("elementwise", name, n, *args, dtype=np.float32)


# ---------------------------------------------------------------- copies, casts, fills

def copy_into(src, dst):
    """dst[...] = src (src broadcast to dst's shape), cast to dst's dtype; any strides."""
    if not dst.size:
        return
    if src.dtype == dst.dtype:
        itemsize = dst.dtype.itemsize
        if itemsize not in (1, 2, 4, 8, 16):
            raise Unsupported(f"nncheck.cuda: cannot copy {dst.dtype} elements")
        src = src.broadcast_to(dst.shape)
        cshape, (s1, s2) = _collapse(dst.shape, [src.element_strides, dst.element_strides])
        _launch("strided_copy", dst.size, Operand(src.ptr, 0, 0.0, 0, src.strided(cshape, s1)),
                Operand(dst.ptr, 0, 0.0, 0, dst.strided(cshape, s2)), dst.size, itemsize)
        return
    x, out = operands(dst.shape, src, dst)
    _launch("ew_unary", dst.size, x, out, dst.size, UNARY["identity"], compute_code(src.dtype))


def cast(a, dtype):
    out = _driver.DeviceArray.empty(a.shape, dtype, a.device.ordinal, a.stream)
    copy_into(a, out)
    return out


def fill(dst, value):
    """Every element of the (maybe strided) view ``dst`` set to the scalar ``value``."""
    if not dst.size:
        return
    x, out = operands(dst.shape, value, dst)
    # a float into an integer or bool array converts as numpy does (0.5 -> True, 2.7 -> 2)
    compute = F64 if isinstance(value, float) and dst.dtype.kind != "f" else compute_code(
        dst.dtype)
    _launch("ew_unary", dst.size, x, out, dst.size, UNARY["identity"], compute)


# ---------------------------------------------------------------- ufuncs and where

def unary(name, x, out, compute):
    if out.size:
        a, o = operands(out.shape, x, out)
        _launch("ew_unary", out.size, a, o, out.size, UNARY[name], compute)


def binary(name, a, b, out, compute):
    if out.size:
        x, y, o = operands(out.shape, a, b, out)
        _launch("ew_binary", out.size, x, y, o, out.size, BINARY[name], compute)


def where(cond, a, b, out, compute):
    if out.size:
        c, x, y, o = operands(out.shape, cond, a, b, out)
        _launch("ew_where", out.size, c, x, y, o, out.size, compute)


# ---------------------------------------------------------------- reductions

REDUCE_SPLIT = 8192  # elements per block when a few long rows are split across blocks


def reduce(name, view, outer, inner, out, compute, divisor=1):
    """out[o] = name(row o) where ``view`` (any strides) holds ``outer`` rows of ``inner``
    elements in C order (the caller moves the reduced axes last) and ``out`` has ``outer``
    elements.  Long rows get blocks (a tree reduction in shared memory; a few very long
    rows, e.g. a full sum, are split across blocks and their partial results reduced by a
    second launch); many short rows a thread each.  ``divisor`` > 1 divides each result
    (mean)."""
    if not outer:
        return
    cshape, (st,) = _collapse(view.shape, [view.element_strides])
    x = Operand(view.ptr, DTYPE_CODES[view.dtype], 0.0, 0, view.strided(cshape, st))
    (o,) = operands(out.shape, out)
    if inner < 64 or (outer >= 64 and inner < REDUCE_THREADS):
        launch("elementwise", "ew_reduce_serial", outer, x, o, outer, inner, REDUCE[name],
               compute, divisor, dtype=np.float32)
        return
    threads = min(REDUCE_THREADS, 1 << (inner - 1).bit_length())
    parts = 1
    if outer < 64 and inner >= 2 * REDUCE_SPLIT and not name.startswith("arg"):
        chunk = -(-inner // min(-(-inner // REDUCE_SPLIT), max(1, 1024 // outer)))
        parts = -(-inner // chunk)  # every part non-empty
    if parts == 1:
        launch_blocks("elementwise", "ew_reduce_block", outer, x, o, outer, inner,
                      REDUCE[name], compute, divisor, 1, threads=threads, dtype=np.float32)
        return
    partial = _driver.DeviceArray.empty((outer, parts), out.dtype, out.device.ordinal,
                                        out.stream)
    (p,) = operands(partial.shape, partial)
    launch_blocks("elementwise", "ew_reduce_block", outer * parts, x, p, outer, inner,
                  REDUCE[name], compute, 1, parts, threads=threads, dtype=np.float32)
    reduce(name, partial, outer, parts, out, compute, divisor)


__all__ = ["THREADS", "copy_into", "cast", "fill", "unary", "binary", "where", "reduce"]


def scan(view, out_view, outer, inner, product, compute):
    """Cumulative sum (or product) along the last axis of ``view`` into ``out_view`` (views of
    one shape holding ``outer`` rows of ``inner`` elements in C order)."""
    if outer and inner:
        x, o = operands(view.shape, view, out_view)
        launch("elementwise", "ew_scan", outer, x, o, outer, inner, int(product), compute,
               dtype=np.float32)


# ---------------------------------------------------------------- advanced indexing

class Indices(ctypes.Structure):
    """The ``Indices`` kernel parameter of elementwise.cu: k index operands."""

    _fields_ = [("k", ctypes.c_int64), ("at", Operand * _driver.MAX_DIMS)]


def _indexed(a, index_arrays, index_shape):
    """(a as an uncollapsed Operand, Indices, elements per index, element count)."""
    inner = math.prod(a.shape[len(index_arrays):])
    ops = operands(index_shape, *index_arrays)
    idx = Indices(len(ops), (Operand * _driver.MAX_DIMS)(*ops))
    base = Operand(a.ptr, DTYPE_CODES.get(a.dtype, 0), 0.0, 0, a.strided())
    return base, idx, inner, math.prod(index_shape) * inner


def index_copy(a, index_arrays, index_shape, other, put):
    """put: a[index] = other; else other[...] = a[index] (other has the result's shape)."""
    base, idx, inner, n = _indexed(a, index_arrays, index_shape)
    if n:
        (o,) = operands(other.shape, other)
        _launch("index_copy", n, base, idx, o, n, inner, a.dtype.itemsize, int(put))


def index_add(a, index_arrays, index_shape, values):
    """np.add.at(a, index, values) for float32/float64/int64 ``a`` (values of a's dtype)."""
    if a.dtype.name not in ("float32", "float64", "int64"):
        raise Unsupported(f"nncheck.cuda: no atomic add for {a.dtype}")
    base, idx, inner, n = _indexed(a, index_arrays, index_shape)
    if n:
        (v,) = operands(values.shape, values)
        _launch("index_add", n, base, idx, v, n, inner, compute_code(a.dtype))


def flat_nonzero(mask, out):
    """out = the flat indices of mask's nonzero elements, in order (out sized by the count)."""
    if mask.size:
        (m,) = operands(mask.shape, mask)
        launch_blocks("elementwise", "flat_nonzero", 1, m, mask.size, out,
                      threads=REDUCE_THREADS, dtype=np.float32)
