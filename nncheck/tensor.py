"""Tensor: numpy storage plus shape/dtype/device and the autograd fields."""

import builtins
import math
import numbers
import weakref
from collections import namedtuple

from . import _dtype as dt
from . import ops
from ._lazy import np
from .autograd.engine import run_backward
from .autograd.function import AccumulateGrad, _RemovableHandle
from .autograd.grad_mode import is_grad_enabled

ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])
DEFAULT_FLOAT = dt.float32


class _Version:
    """Shared by a tensor and its views; bumped by every in-place write."""

    __slots__ = ("value",)

    def __init__(self):
        self.value = 0


class MetaStorage:
    """What a meta tensor (``device='meta'``) has instead of an array: a shape and a dtype.

    A layer built on meta tensors has its parameters' shapes and dtypes, so repr,
    state_dict and shape rules work without allocating (or importing numpy), as with
    torch's meta device.  Whatever needs values raises RuntimeError.
    """

    __slots__ = ("shape", "dtype")

    def __init__(self, shape, dtype):
        self.shape, self.dtype = tuple(shape), dtype

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return math.prod(self.shape)

    @property
    def itemsize(self):
        return self.dtype.itemsize

    def copy(self):  # deepcopy of a meta module: TransformerEncoder clones its layer
        return MetaStorage(self.shape, self.dtype)

    def astype(self, dtype, copy=True):  # Module.double()/.to(dtype) of a meta or Lazy module
        return MetaStorage(self.shape, dt.get_dtype(dtype))

    def _refuse(self, *args, **kwargs):
        raise meta_error("read the data of")

    # numpy and indexing land here (numpy calls these hooks before looking at the object)
    __array__ = __array_ufunc__ = __array_function__ = __getitem__ = __setitem__ = _refuse

    def __getattr__(self, name):  # reached for what an ndarray has and this has not
        if name.startswith("__"):
            raise AttributeError(name)  # protocol probes (copy, pickle) must see "absent"
        raise meta_error(f"use .{name} of")


def meta_error(action):
    return RuntimeError(f"cannot {action} a meta tensor: it has a shape and a dtype but no "
                        "data (build it on device='cpu' to compute)")


_CPU, _META = dt.device("cpu"), dt.device("meta")


def _to_array(data, dtype=None):
    """Convert Python data / numpy arrays to an ndarray with PyTorch's default dtypes."""
    np_dtype = dt.get_dtype(dtype).np if dtype is not None else None
    if isinstance(data, Tensor):
        arr = data._data
    elif isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in _flatten(data)):
        arr = np.array([_to_array(x) for x in data])
    else:
        arr = np.asarray(data)
    if np_dtype is not None:
        return arr.astype(np_dtype, copy=False)
    if arr.dtype == np.float64 and not isinstance(data, np.ndarray):
        return arr.astype(DEFAULT_FLOAT.np)
    if arr.dtype.kind in "iu" and not isinstance(data, np.ndarray):
        return arr.astype(np.int64)
    if arr.dtype.kind not in "fiubc":
        raise TypeError(f"can't convert {type(data).__name__} of dtype {arr.dtype} to a tensor")
    return arr


def _flatten(seq):
    for x in seq:
        if isinstance(x, (list, tuple)):
            yield from _flatten(x)
        else:
            yield x


class Tensor:
    """A multi-dimensional array with autograd, PyTorch-compatible by name."""

    __array_priority__ = 1000

    def __init__(self, *args, **kwargs):
        # legacy constructor: Tensor(data) or Tensor(*sizes), always float32
        if len(args) == 1 and not isinstance(args[0], numbers.Integral):
            arr = _to_array(args[0], dt.float32)
        else:
            sizes = args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args
            arr = np.zeros(tuple(int(s) for s in sizes), np.float32)
        self._init(arr)

    def _init(self, arr, base=None, version=None, requires_grad=False):
        self._data = arr
        self.requires_grad = requires_grad
        self.grad = None
        self.grad_fn = None
        self._output_nr = 0
        self._base = base
        self._version = version if version is not None else _Version()
        self._accumulator = None
        self._hooks = {}
        self._post_accumulate_hooks = {}

    @classmethod
    def _wrap(cls, arr, base=None, version=None, requires_grad=False):
        t = cls.__new__(cls)
        if (not isinstance(arr, MetaStorage) and not isinstance(arr, np.ndarray)
                and not hasattr(arr, "__nncheck_backend__")):  # device arrays stay as they are
            arr = np.asarray(arr)
        t._init(arr, base, version, requires_grad)
        return t

    # ------------------------------------------------------------------ metadata
    @property
    def shape(self):
        return dt.Size(self._data.shape)

    def size(self, dim=None):
        if dim is None:
            return self.shape
        return self._data.shape[self._dim(dim)]

    @property
    def dtype(self):
        return dt.of_storage(self._data.dtype)

    @property
    def device(self):
        data = self._data  # (numpy is not imported on the meta path: `nncheck shape`)
        if hasattr(data, "__nncheck_backend__"):
            return dt.device(data.device_name)
        return _META if isinstance(data, MetaStorage) else _CPU

    @property
    def is_meta(self):
        return isinstance(self._data, MetaStorage)

    @property
    def is_cuda(self):
        return self.device.type == "cuda"

    @property
    def ndim(self):
        return self._data.ndim

    def dim(self):
        return self._data.ndim

    ndimension = dim

    def numel(self):
        return int(self._data.size)

    nelement = numel

    def element_size(self):
        return self._data.itemsize

    def stride(self, dim=None):
        strides = tuple(s // self._data.itemsize for s in self._data.strides)
        return strides if dim is None else strides[self._dim(dim)]

    def is_contiguous(self):
        return bool(self._data.flags["C_CONTIGUOUS"])

    def is_floating_point(self):
        return self.dtype.is_floating_point

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def T(self):
        return self.permute(*reversed(range(self.ndim)))

    @property
    def mT(self):
        return self.transpose(-2, -1)

    def _dim(self, d):
        n = max(self.ndim, 1)
        if not -n <= d < n:
            raise IndexError(
                f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {d})"
            )
        return d % n

    def _describe(self):
        return f"a tensor of shape {list(self.shape)} and dtype {self.dtype}"

    # ------------------------------------------------------------------ data access
    @property
    def data(self):
        return Tensor._wrap(self._data, base=self._base, version=self._version)

    @data.setter
    def data(self, value):
        value = value if isinstance(value, Tensor) else Tensor._wrap(_to_array(value))
        self._data = value._data

    def numpy(self, force=False):
        if self.is_meta:
            raise meta_error("call numpy() on")
        # as PyTorch: refused only where autograd records (so a custom Function's forward
        # and backward, which run with grad mode off, may call it)
        if self.requires_grad and not force and is_grad_enabled():
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                "instead."
            )
        if hasattr(self._data, "__nncheck_backend__"):
            raise TypeError(f"can't convert {self.device} device type tensor to numpy. Use "
                            "Tensor.cpu() to copy the tensor to host memory first.")
        return self._data

    def __array__(self, dtype=None, copy=None):
        arr = self.numpy(force=True)
        return arr if dtype is None else arr.astype(dtype)

    def item(self):
        if self._data.size != 1:
            raise RuntimeError(
                f"a Tensor with {self._data.size} elements cannot be converted to Scalar"
            )
        return self._data.reshape(()).item()

    def tolist(self):
        return self._data.tolist()

    def __float__(self):
        return builtins.float(self.item())

    def __int__(self):
        return builtins.int(self.item())

    def __index__(self):
        if self.dtype.is_floating_point:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return builtins.int(self.item())

    def __bool__(self):
        if self._data.size != 1:
            raise RuntimeError(
                f"Boolean value of Tensor with {self._data.size} values is ambiguous"
            )
        return builtins.bool(self._data.reshape(()))

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __hash__(self):
        return id(self)

    def __repr__(self):
        from ._format import format_tensor

        return format_tensor(self)

    # ------------------------------------------------------------------ autograd
    def _grad_node(self):
        if self.grad_fn is not None:
            return self.grad_fn
        if self._accumulator is None:
            self._accumulator = AccumulateGrad(self)
        return self._accumulator

    def requires_grad_(self, requires_grad=True):
        if not self.is_leaf and not requires_grad:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables."
            )
        if requires_grad and not (self.dtype.is_floating_point or self.dtype.is_complex):
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        self.requires_grad = requires_grad
        return self

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        if inputs is not None:
            inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
            grads = run_backward([self], [gradient], retain_graph, create_graph, inputs,
                                 accumulate=False)
            for t, g in zip(inputs, grads):
                if g is not None:
                    t.grad = g.detach() if t.grad is None else t.grad + g.detach()
            return
        run_backward([self], [gradient], retain_graph, create_graph)

    def detach(self):
        return Tensor._wrap(self._data, base=self._base, version=self._version)

    def detach_(self):
        self.grad_fn = None
        self.requires_grad = False
        return self

    def register_hook(self, hook):
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.is_leaf:
            key = object()
            self._hooks[key] = hook
            return _RemovableHandle(self._hooks, key)
        node = self.grad_fn
        if node._tensor_hooks is None:
            node._tensor_hooks = {}
        hooks = node._tensor_hooks.setdefault(self._output_nr, [])
        hooks.append(hook)
        return _RemovableHandle(hooks, hook)

    def register_post_accumulate_grad_hook(self, hook):
        key = object()
        self._post_accumulate_hooks[key] = hook
        return _RemovableHandle(self._post_accumulate_hooks, key)

    def retain_grad(self):
        if self.is_leaf:
            return
        node = self.grad_fn
        if node._retained is None:
            node._retained = {}
        node._retained[self._output_nr] = weakref.ref(self)

    @property
    def retains_grad(self):
        node = self.grad_fn
        return node is not None and self._output_nr in (node._retained or ())

    # ------------------------------------------------------------------ conversion
    def clone(self, memory_format=None):
        return _unary(self, _Clone)

    def contiguous(self, memory_format=None):
        return self if self.is_contiguous() else _unary(self, _Clone)

    def to(self, *args, **kwargs):
        device, dtype, copy = _parse_to(args, kwargs)
        out = self
        if dtype is not None and self.is_meta:
            out = self if dtype is self.dtype else Tensor._wrap(MetaStorage(self.shape, dtype))
        elif dtype is not None and dtype.np != self._data.dtype:
            out = ops.Cast.apply(out, dtype.np)
        if device is not None and device.type == "cuda" and device.index is None:
            device = dt.device("cuda", 0)  # "cuda" is the current device, and that is 0
        if device is not None and device != self.device:
            if device.type in ("cpu", "cuda") and not self.is_meta:
                return ops.ToDevice.apply(out, device)
            if device.type == "meta":
                return Tensor._wrap(MetaStorage(out.shape, out.dtype))
            raise meta_error("copy out of")
        if copy and out is self:
            out = self.clone()
        return out

    def type(self, dtype=None):
        if dtype is None:
            return f"nncheck.{_LEGACY_NAMES.get(self.dtype.name, 'Tensor')}"
        if isinstance(dtype, str) and dtype.split(".")[-1] in _LEGACY_TYPES:
            dtype = _LEGACY_TYPES[dtype.split(".")[-1]]
        return self.to(dt.get_dtype(dtype))

    def cpu(self):
        return self.to(_CPU)

    def cuda(self, device=None):
        return self.to(dt.device("cuda", device if isinstance(device, int) else None)
                       if not isinstance(device, (str, dt.device)) else device)

    def float(self):
        return self.to(dt.float32)

    def double(self):
        return self.to(dt.float64)

    def half(self):
        return self.to(dt.float16)

    def long(self):
        return self.to(dt.int64)

    def int(self):
        return self.to(dt.int32)

    def bool(self):
        return self.to(dt.bool)

    def type_as(self, other):
        return self.to(other.dtype)

    # new_*: self's dtype and device unless given (``x.new_zeros(shape, device=x.device)``)
    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        return self._new_like(_to_array(data, dtype or self.dtype), device, requires_grad)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        return self._new_like(np.zeros(_sizes(size), (dtype or self.dtype).np), device,
                              requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        return self._new_like(np.ones(_sizes(size), (dtype or self.dtype).np), device,
                              requires_grad)

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
        return self._new_like(np.full(_sizes((size,)), fill_value, (dtype or self.dtype).np),
                              device, requires_grad)

    def _new_like(self, host, device, requires_grad):
        """A new_* result (built on the host) on ``device``, else on this tensor's device."""
        from .factories import _finish

        return _finish(host, requires_grad, self.device if device is None else device)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
        return self.new_zeros(*size, dtype=dtype, requires_grad=requires_grad)

    # ------------------------------------------------------------------ arithmetic
    def __add__(self, other):
        return _binary(self, other, ops.Add)

    def __radd__(self, other):
        return _binary(other, self, ops.Add)

    def __sub__(self, other):
        return _binary(self, other, ops.Sub)

    def __rsub__(self, other):
        return _binary(other, self, ops.Sub)

    def __mul__(self, other):
        return _binary(self, other, ops.Mul)

    def __rmul__(self, other):
        return _binary(other, self, ops.Mul)

    def __truediv__(self, other):
        return _binary(self, other, ops.Div, true_div=True)

    def __rtruediv__(self, other):
        return _binary(other, self, ops.Div, true_div=True)

    def __pow__(self, other):
        return _binary(self, other, ops.Pow)

    def __rpow__(self, other):
        return _binary(other, self, ops.Pow)

    def __matmul__(self, other):
        return matmul(self, other)

    def __rmatmul__(self, other):
        return matmul(as_tensor(other), self)

    def __neg__(self):
        return _unary(self, ops.Neg)

    def __pos__(self):
        return self

    def __abs__(self):
        return self.abs()

    def __floordiv__(self, other):
        return Tensor._wrap(np.floor_divide(self._data, _raw(other)))

    def add(self, other, alpha=1):
        if alpha != 1:
            return _binary(self, other * alpha if not isinstance(other, Tensor)
                           else other * alpha, ops.Add)
        return self + other

    def sub(self, other, alpha=1):
        return self - (other * alpha if alpha != 1 else other)

    def mul(self, other):
        return self * other

    def div(self, other, rounding_mode=None):
        if rounding_mode == "floor":
            return self // other
        if rounding_mode == "trunc":
            return Tensor._wrap(np.trunc(self._data / _raw(other)).astype(self._data.dtype))
        return self / other

    def pow(self, exponent):
        return self**exponent

    multiply, subtract, divide, true_divide = mul, sub, div, div

    def neg(self):
        return -self

    negative = neg

    def abs(self):
        return _unary(self, ops.Abs)

    def exp(self):
        return _unary(self, ops.Exp)

    def log(self):
        return _unary(self, ops.Log)

    def sqrt(self):
        return _unary(self, ops.Sqrt)

    def rsqrt(self):
        return 1 / self.sqrt()

    def sin(self):
        return _unary(self, ops.Sin)

    def cos(self):
        return _unary(self, ops.Cos)

    def reciprocal(self):
        return 1 / self

    def square(self):
        return self * self

    def sign(self):
        return Tensor._wrap(np.sign(self._data))

    def floor(self):
        return Tensor._wrap(np.floor(self._data))

    def ceil(self):
        return Tensor._wrap(np.ceil(self._data))

    def round(self, decimals=0):
        return Tensor._wrap(np.round(self._data, decimals))

    def clamp(self, min=None, max=None):
        if min is None and max is None:
            raise RuntimeError("clamp: At least one of 'min' or 'max' must not be None")
        return ops.Clamp.apply(_float_if_needed(self, min, max), _raw(min), _raw(max))

    clip = clamp

    def relu(self):
        from .nn import functional as F

        return F.relu(self)

    def sigmoid(self):
        from .nn import functional as F

        return F.sigmoid(self)

    def tanh(self):
        from .nn import functional as F

        return F.tanh(self)

    def softmax(self, dim, dtype=None):
        from .nn import functional as F

        return F.softmax(self if dtype is None else self.to(dtype), dim)

    def log_softmax(self, dim, dtype=None):
        from .nn import functional as F

        return F.log_softmax(self if dtype is None else self.to(dtype), dim)

    # comparisons: no gradient
    def __eq__(self, other):
        return Tensor._wrap(np.equal(self._data, _raw(other)))

    def __ne__(self, other):
        return Tensor._wrap(np.not_equal(self._data, _raw(other)))

    def __lt__(self, other):
        return Tensor._wrap(np.less(self._data, _raw(other)))

    def __le__(self, other):
        return Tensor._wrap(np.less_equal(self._data, _raw(other)))

    def __gt__(self, other):
        return Tensor._wrap(np.greater(self._data, _raw(other)))

    def __ge__(self, other):
        return Tensor._wrap(np.greater_equal(self._data, _raw(other)))

    def __and__(self, other):
        return Tensor._wrap(np.logical_and(self._data, _raw(other)) if self.dtype is dt.bool
                            else self._data & _raw(other))

    def __or__(self, other):
        return Tensor._wrap(np.logical_or(self._data, _raw(other)) if self.dtype is dt.bool
                            else self._data | _raw(other))

    def __invert__(self):
        return Tensor._wrap(~self._data)

    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__

    def equal(self, other):
        return self.shape == other.shape and builtins.bool(np.array_equal(self._data, other._data))

    def allclose(self, other, rtol=1e-5, atol=1e-8, equal_nan=False):
        return builtins.bool(np.allclose(self._data, _raw(other), rtol, atol, equal_nan))

    def isnan(self):
        return Tensor._wrap(np.isnan(self._data))

    def isinf(self):
        return Tensor._wrap(np.isinf(self._data))

    def isfinite(self):
        return Tensor._wrap(np.isfinite(self._data))

    # ------------------------------------------------------------------ reductions
    def sum(self, dim=None, keepdim=False, dtype=None):
        src = self.to(dtype) if dtype is not None else self
        if src.dtype is dt.bool or not (src.dtype.is_floating_point or src.dtype.is_complex):
            return Tensor._wrap(ops._array(src._data.sum(axis=ops._axes(dim, src.ndim),
                                                         keepdims=keepdim), np.int64))
        return ops.Sum.apply(src, dim, keepdim)

    def mean(self, dim=None, keepdim=False, dtype=None):
        src = self.to(dtype) if dtype is not None else self
        if not src.dtype.is_floating_point:
            raise RuntimeError(
                f"mean(): could not infer output dtype. Input dtype must be either a floating "
                f"point or complex dtype. Got: {src.dtype.name.capitalize()}"
            )
        return ops.Mean.apply(src, dim, keepdim)

    def prod(self, dim=None, keepdim=False):
        return ops.Prod.apply(self, dim, keepdim)

    def var(self, dim=None, unbiased=None, keepdim=False, correction=None):
        corr = correction if correction is not None else (0 if unbiased is False else 1)
        return ops.Var.apply(self, dim, corr, keepdim)

    def std(self, dim=None, unbiased=None, keepdim=False, correction=None):
        return self.var(dim, unbiased, keepdim, correction).sqrt()

    def _maxmin(self, dim, keepdim, is_max):
        if dim is None:
            if self.numel() == 0:
                raise RuntimeError("max(): Expected reduction dim to be specified for empty input")
            return ops.MaxMin.apply(self, None, False, is_max)
        if isinstance(dim, Tensor):
            other = dim
            return _binary(self, other, _Maximum if is_max else _Minimum)
        values, indices = ops.MaxMin.apply(self, dim, keepdim, is_max)
        return ValuesIndices(values, indices)

    def max(self, dim=None, keepdim=False):
        return self._maxmin(dim, keepdim, True)

    def min(self, dim=None, keepdim=False):
        return self._maxmin(dim, keepdim, False)

    def amax(self, dim=None, keepdim=False):
        return self.max(dim, keepdim)[0] if dim is not None else self.max()

    def amin(self, dim=None, keepdim=False):
        return self.min(dim, keepdim)[0] if dim is not None else self.min()

    def argmax(self, dim=None, keepdim=False):
        if dim is None:
            return Tensor._wrap(ops._array(np.argmax(self._data), np.dtype(np.int64)))
        return Tensor._wrap(np.argmax(self._data, axis=self._dim(dim), keepdims=keepdim))

    def argmin(self, dim=None, keepdim=False):
        if dim is None:
            return Tensor._wrap(ops._array(np.argmin(self._data), np.dtype(np.int64)))
        return Tensor._wrap(np.argmin(self._data, axis=self._dim(dim), keepdims=keepdim))

    def norm(self, p="fro", dim=None, keepdim=False):
        p = 2 if p in ("fro", None) else p
        return ops.Norm.apply(self, builtins.float(p), dim, keepdim)

    def all(self, dim=None, keepdim=False):
        axes = ops._axes(dim, self.ndim)
        return Tensor._wrap(ops._array(np.all(self._data, axis=axes, keepdims=keepdim)))

    def any(self, dim=None, keepdim=False):
        axes = ops._axes(dim, self.ndim)
        return Tensor._wrap(ops._array(np.any(self._data, axis=axes, keepdims=keepdim)))

    # ------------------------------------------------------------------ shape / views
    def _view_result(self, out):
        """Mark ``out`` as a view of ``self`` when it shares memory."""
        if np.shares_memory(out._data, self._data):
            out._base = self._base if self._base is not None else self
            out._version = self._version
        return out

    def view(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], dt.dtype):
            return Tensor._wrap(self._data.view(shape[0].np))
        shape = _infer_shape(_sizes(shape), self.numel())
        if not self.is_contiguous() and self.numel() > 1:
            try:
                view = self._data.view()
                view.shape = shape
            except AttributeError:
                raise RuntimeError(
                    "view size is not compatible with input tensor's size and stride (at least "
                    "one dimension spans across two contiguous subspaces). Use .reshape(...) "
                    "instead."
                ) from None
        return self._view_result(ops.Reshape.apply(self, shape))

    def reshape(self, *shape):
        shape = _infer_shape(_sizes(shape), self.numel())
        return self._view_result(ops.Reshape.apply(self, shape))

    def view_as(self, other):
        return self.view(other.shape)

    def reshape_as(self, other):
        return self.reshape(other.shape)

    def flatten(self, start_dim=0, end_dim=-1):
        if self.ndim == 0:
            return self.reshape(1)
        s, e = self._dim(start_dim), self._dim(end_dim)
        shape = self.shape[:s] + (int(np.prod(self.shape[s:e + 1])),) + self.shape[e + 1:]
        return self.reshape(shape)

    def unflatten(self, dim, sizes):
        d = self._dim(dim)
        sizes = _infer_shape(tuple(sizes), self.shape[d])
        return self.reshape(self.shape[:d] + sizes + self.shape[d + 1:])

    def squeeze(self, dim=None):
        if dim is None:
            shape = tuple(s for s in self.shape if s != 1)
        else:
            dims = {self._dim(d) for d in (dim if isinstance(dim, (tuple, list)) else (dim,))}
            shape = tuple(s for i, s in enumerate(self.shape) if not (i in dims and s == 1))
        return self.reshape(shape)

    def unsqueeze(self, dim):
        n = self.ndim + 1
        if not -n <= dim < n:
            raise IndexError(
                f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                f"but got {dim})"
            )
        d = dim % n
        return self.reshape(self.shape[:d] + (1,) + self.shape[d:])

    def permute(self, *dims):
        dims = tuple(self._dim(d) for d in _sizes(dims))
        if sorted(dims) != list(range(self.ndim)):
            raise RuntimeError(
                f"permute(sparse_coo): number of dimensions in the tensor input does not match "
                f"the length of the desired ordering of dimensions i.e. input.dim() = "
                f"{self.ndim} is not equal to len(dims) = {len(dims)}"
            )
        return self._view_result(ops.Permute.apply(self, dims))

    def transpose(self, dim0, dim1):
        dims = list(range(self.ndim))
        a, b = self._dim(dim0), self._dim(dim1)
        dims[a], dims[b] = dims[b], dims[a]
        return self.permute(*dims) if self.ndim else self

    swapaxes = transpose

    def t(self):
        if self.ndim > 2:
            raise RuntimeError(
                f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D"
            )
        return self.transpose(0, 1) if self.ndim == 2 else self

    def expand(self, *sizes):
        sizes = _sizes(sizes)
        lead = len(sizes) - self.ndim
        if lead < 0:
            raise RuntimeError(
                f"expand: the number of sizes provided ({len(sizes)}) must be greater or equal "
                f"to the number of dimensions in the tensor ({self.ndim})"
            )
        shape = tuple(self.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
        return self._view_result(ops.Expand.apply(self, shape))

    def expand_as(self, other):
        return self.expand(other.shape)

    def repeat(self, *sizes):
        sizes = _sizes(sizes)
        x = self.reshape((1,) * (len(sizes) - self.ndim) + tuple(self.shape))
        parts = x
        for d, r in enumerate(sizes):
            if r != 1:
                parts = cat([parts] * r, d)
        return parts

    def chunk(self, chunks, dim=0):
        size = self.shape[self._dim(dim)]
        step = -(-size // chunks)
        return self.split(step, dim)

    def split(self, split_size, dim=0):
        d = self._dim(dim)
        size = self.shape[d]
        if isinstance(split_size, int):
            bounds = list(range(0, size, split_size)) + [size]
        else:
            bounds = [0, *np.cumsum(split_size).tolist()]
        out = []
        for a, b in zip(bounds[:-1], bounds[1:]):
            key = (slice(None),) * d + (slice(a, b),)
            out.append(self[key])
        return tuple(out)

    def narrow(self, dim, start, length):
        d = self._dim(dim)
        return self[(slice(None),) * d + (slice(start, start + length),)]

    def unbind(self, dim=0):
        d = self._dim(dim)
        return tuple(self[(slice(None),) * d + (i,)] for i in range(self.shape[d]))

    def masked_fill(self, mask, value):
        return where(mask, Tensor._wrap(np.asarray(_raw(value), self._data.dtype)), self)

    def mm(self, other):
        if self.ndim != 2 or other.ndim != 2:
            raise RuntimeError("mm: both arguments must be 2-D matrices")
        return matmul(self, other)

    def bmm(self, other):
        if self.ndim != 3 or other.ndim != 3:
            raise RuntimeError("bmm: both arguments must be 3-D tensors")
        return matmul(self, other)

    matmul = __matmul__

    def dot(self, other):
        return (self * other).sum()

    # ------------------------------------------------------------------ indexing
    def __getitem__(self, key):
        key = _index_key(key)
        out = ops.Index.apply(self, key)
        return self._view_result(out)

    def __setitem__(self, key, value):
        key = _index_key(key)
        if isinstance(value, Tensor) and value.requires_grad and is_grad_enabled() or (
            self.requires_grad and is_grad_enabled()
        ):
            value = value if isinstance(value, Tensor) else Tensor._wrap(
                np.asarray(value, self._data.dtype))
            self._apply_inplace(lambda snap: ops.IndexPut.apply(snap, value, key))
            return
        self._check_writable()
        self._data[key] = _raw(value)
        self._version.value += 1

    # ------------------------------------------------------------------ in-place
    def _check_writable(self):
        if is_grad_enabled() and self.requires_grad and self.is_leaf:
            raise RuntimeError(
                "a leaf Variable that requires grad is being used in an in-place operation."
            )
        base = self._base
        if is_grad_enabled() and base is not None and base.requires_grad and base is not self:
            raise RuntimeError(
                "in-place operation on a view of a tensor that requires grad is not supported; "
                "apply it to the base tensor or inside nncheck.no_grad()"
            )

    def _apply_inplace(self, compute):
        """Write ``compute(self)`` into self's storage, rebasing the graph when recording."""
        self._check_writable()
        recording = is_grad_enabled()
        if recording and self.requires_grad:
            snapshot = Tensor._wrap(self._data.copy(), requires_grad=True)
            snapshot.grad_fn, snapshot._output_nr = self.grad_fn, self._output_nr
        else:
            snapshot = self
        result = compute(snapshot)
        np.copyto(self._data, result._data, casting="unsafe")
        self._version.value += 1
        if recording and result.requires_grad:
            self.requires_grad = True
            self.grad_fn, self._output_nr = result.grad_fn, result._output_nr
        return self

    def add_(self, other, alpha=1):
        return self._apply_inplace(lambda s: s.add(other, alpha=alpha))

    def sub_(self, other, alpha=1):
        return self._apply_inplace(lambda s: s.sub(other, alpha=alpha))

    def mul_(self, other):
        return self._apply_inplace(lambda s: s * other)

    def div_(self, other):
        return self._apply_inplace(lambda s: s / other)

    def pow_(self, exponent):
        return self._apply_inplace(lambda s: s**exponent)

    def clamp_(self, min=None, max=None):
        return self._apply_inplace(lambda s: s.clamp(min, max))

    clip_ = clamp_

    def neg_(self):
        return self._apply_inplace(lambda s: -s)

    def exp_(self):
        return self._apply_inplace(lambda s: s.exp())

    def sqrt_(self):
        return self._apply_inplace(lambda s: s.sqrt())

    def masked_fill_(self, mask, value):
        return self._apply_inplace(lambda s: s.masked_fill(mask, value))

    def copy_(self, src):
        src = src if isinstance(src, Tensor) else Tensor._wrap(np.asarray(src))
        if src.requires_grad and is_grad_enabled() or self.requires_grad and is_grad_enabled():
            # the old value is overwritten, so only src receives gradient
            return self._apply_inplace(
                lambda s: ops.Expand.apply(src.to(self.dtype), tuple(self.shape)).clone()
            )
        self._check_writable()
        np.copyto(self._data, np.broadcast_to(src._data, self._data.shape), casting="unsafe")
        self._version.value += 1
        return self

    def _fill_raw(self, make_values):
        """Overwrite the values with ``make_values()``; on a meta tensor, which has none,
        this does nothing (as in torch), so layers initialise on meta without drawing."""
        self._check_writable()
        if self.is_meta:
            return self
        np.copyto(self._data, make_values(), casting="unsafe")
        self._version.value += 1
        return self

    def fill_(self, value):
        return self._fill_raw(lambda: _raw(value))

    def zero_(self):
        return self._fill_raw(lambda: 0)

    def uniform_(self, a=0.0, b=1.0):
        from .random import generator

        return self._fill_raw(lambda: generator().uniform(a, b, self._data.shape))

    def normal_(self, mean=0.0, std=1.0):
        from .random import generator

        return self._fill_raw(lambda: generator().normal(mean, std, self._data.shape))

    def bernoulli_(self, p=0.5):
        from .random import generator

        return self._fill_raw(lambda: generator().random(self._data.shape) < p)

    def exponential_(self, lambd=1.0):
        from .random import generator

        return self._fill_raw(lambda: generator().exponential(1.0 / lambd, self._data.shape))


class _Clone(ops.Op):
    @staticmethod
    def forward(ctx, a):
        return a.copy()  # C order, on the array's own device

    @staticmethod
    def backward(ctx, g):
        return g


class _Maximum(ops.Op):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.maximum(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        pick_a = (a > b) + 0.5 * (a == b)
        return ops.sum_to_shape(g * pick_a, a.shape), ops.sum_to_shape(g * (1 - pick_a), b.shape)


class _Minimum(ops.Op):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.minimum(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        pick_a = (a < b) + 0.5 * (a == b)
        return ops.sum_to_shape(g * pick_a, a.shape), ops.sum_to_shape(g * (1 - pick_a), b.shape)


_LEGACY_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
                 "int64": "LongTensor", "int32": "IntTensor", "uint8": "ByteTensor",
                 "bool": "BoolTensor"}
_LEGACY_TYPES = {v: dt.get_dtype(k) for k, v in _LEGACY_NAMES.items()}


# ---------------------------------------------------------------------- helpers
def _raw(x):
    return x._data if isinstance(x, Tensor) else x


def _sizes(args):
    if len(args) == 1 and isinstance(args[0], (tuple, list, dt.Size)):
        args = tuple(args[0])
    return tuple(builtins.int(a) for a in args)


def _infer_shape(shape, numel):
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    if -1 in shape:
        known = builtins.int(np.prod([s for s in shape if s != -1]))
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    if builtins.int(np.prod(shape)) != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


def _index_key(key):
    if isinstance(key, Tensor):
        return key._data
    if isinstance(key, tuple):
        return tuple(k._data if isinstance(k, Tensor) else k for k in key)
    if isinstance(key, list):
        return np.asarray(key)
    return key


def _float_if_needed(t, *scalars):
    if not t.dtype.is_floating_point and any(isinstance(s, builtins.float) for s in scalars):
        return t.to(dt.float32)
    return t


def _binary(a, b, op, true_div=False):
    """Apply a broadcasting binary op with PyTorch's type promotion for Python scalars."""
    a_t, b_t = isinstance(a, Tensor), isinstance(b, Tensor)
    if a_t and b_t:
        pass
    elif a_t:
        b = _scalar_or_tensor(b, a)
        b_t = isinstance(b, Tensor)
    else:
        a = _scalar_or_tensor(a, b)
        a_t = isinstance(a, Tensor)
    tensors = [t for t in (a, b) if isinstance(t, Tensor)]
    scalars = [s for s in (a, b) if not isinstance(s, Tensor)]
    floating = any(t.dtype.is_floating_point for t in tensors)
    if not floating and (true_div or any(isinstance(s, builtins.float) for s in scalars)):
        a = a.to(dt.float32) if isinstance(a, Tensor) else a
        b = b.to(dt.float32) if isinstance(b, Tensor) else b
    elif a_t and b_t and a.dtype is not b.dtype:
        # a 0-d tensor does not promote a dimensioned one of the same category
        if a.ndim == 0 and b.ndim and a.dtype.is_floating_point == b.dtype.is_floating_point:
            a = a.to(b.dtype)
        elif b.ndim == 0 and a.ndim and a.dtype.is_floating_point == b.dtype.is_floating_point:
            b = b.to(a.dtype)
    return op.apply(a, b)


def _scalar_or_tensor(x, like):
    if isinstance(x, (numbers.Number, np.generic)) and not isinstance(x, np.ndarray):
        return x
    return Tensor._wrap(_to_array(x))


def _unary(t, op):
    return op.apply(t)


def _parse_to(args, kwargs):
    device = kwargs.get("device")
    dtype = kwargs.get("dtype")
    copy = kwargs.get("copy", False)
    for a in args:
        if isinstance(a, Tensor):
            dtype, device = a.dtype, a.device
        elif isinstance(a, dt.dtype):
            dtype = a
        elif isinstance(a, (str, dt.device)):
            device = a
    if dtype is not None:
        dtype = dt.get_dtype(dtype)
    if device is not None:
        device = dt.device(device)
    return device, dtype, copy


def as_tensor(data, dtype=None, device=None):
    if isinstance(data, Tensor) and (dtype is None or data.dtype is dt.get_dtype(dtype)):
        return data
    return Tensor._wrap(_to_array(data, dtype))


def matmul(a, b):
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError("both arguments to matmul need to be at least 1D")
    inner_a = a.shape[-1]
    inner_b = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if inner_a != inner_b:
        rows = a.shape[-2] if a.ndim > 1 else 1
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({rows}x{inner_a} and "
            f"{inner_b}x{b.shape[-1] if b.ndim > 1 else 1})"
        )
    return _binary(a, b, ops.MatMul)


def where(condition, input, other):
    cond = condition._data if isinstance(condition, Tensor) else np.asarray(condition)
    a = input if isinstance(input, Tensor) else Tensor._wrap(np.asarray(input))
    b = other if isinstance(other, Tensor) else Tensor._wrap(np.asarray(other, a._data.dtype))
    return ops.Where.apply(cond, a, b)


def cat(tensors, dim=0):
    tensors = [t for t in tensors if not (t.ndim == 1 and t.numel() == 0)] or list(tensors)
    d = tensors[0]._dim(dim)
    ref = tensors[0]._data.shape  # plain tuples: DenseNet concatenates dozens per layer
    for i, t in enumerate(tensors):
        shape = t._data.shape
        if len(shape) != len(ref) or shape[:d] != ref[:d] or shape[d + 1:] != ref[d + 1:]:
            raise RuntimeError(
                f"Sizes of tensors must match except in dimension {d}. Expected size "
                f"{list(ref)} but got size {list(t.shape)} for tensor number {i} in the list."
            )
    return ops.Cat.apply(d, *tensors)


def stack(tensors, dim=0):
    tensors = list(tensors)
    if any(t.shape != tensors[0].shape for t in tensors):
        raise RuntimeError("stack expects each tensor to be equal size")
    n = tensors[0].ndim + 1
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}])")
    return ops.Stack.apply(dim % n, *tensors)
