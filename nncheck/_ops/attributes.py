"""Tensor metadata and conversions that PyTorch code reads: legacy ``new`` and casts,
``is_*`` flags, conjugate views (identities for real tensors), ``fill_diagonal_``,
``apply_``/``map_``, and the aliases PyTorch keeps (``unsafe_split``, ``narrow_copy``)."""

import builtins

from .. import _dtype as dt
from .._lazy import np
from ..tensor import Tensor, _sizes
from ..tensor import where as _where


def new(self, *args):
    """Legacy ``x.new(...)``: ``x.new(*sizes)`` / ``x.new(Size)``, or ``x.new(data)``, in
    x's dtype."""
    if all(isinstance(a, builtins.int) for a in args) or \
            len(args) == 1 and isinstance(args[0], dt.Size):
        return self.new_zeros(*args) if args else self.new_zeros(0)
    return self.new_tensor(args[0])


def byte(self):
    return self.to(dt.uint8)


def char(self):
    return self.to(dt.int8)


def short(self):
    return self.to(dt.int16)


def cfloat(self):
    return self.to(dt.complex64)


def cdouble(self):
    return self.to(dt.complex128)


def is_complex(self):
    return self.dtype.is_complex


def is_signed(self):
    return self.dtype.is_signed


def is_nonzero(self):
    if self.numel() != 1:
        count = "no" if self.numel() == 0 else "more than one"
        raise RuntimeError(f"Boolean value of Tensor with {count} values is ambiguous")
    return builtins.bool(self.item())


def is_same_size(self, other):
    return self.shape == other.shape


def is_inference(self):
    return False  # nncheck's inference_mode makes ordinary tensors without a graph


def _false(self):
    return False


is_pinned = is_shared = is_conj = is_neg = _false
# properties PyTorch code tests (``if x.is_sparse``): a tensor here is dense, strided, on
# the host or the meta device
is_cpu = property(lambda self: self.device.type == "cpu")
is_sparse = is_quantized = is_nested = is_mkldnn = property(_false)
itemsize = property(lambda self: self.element_size())
nbytes = property(lambda self: self.element_size() * self.numel())
output_nr = property(lambda self: self._output_nr)


def get_device(self):
    return -1 if self.device.type == "cpu" else (self.device.index or 0)


def data_ptr(self):
    return 0 if self.is_meta else self._data.__array_interface__["data"][0]


def pin_memory(self, device=None):
    return self


def share_memory_(self):
    return self


# ---------------------------------------------------------------------- conjugation
def conj(self):
    return Tensor._wrap(np.conj(self._data)) if self.dtype.is_complex else self


resolve_conj = resolve_neg = conj_physical = conj


def adjoint(self):
    return conj(self.transpose(-2, -1))


def _h(self):
    if self.ndim > 2:
        raise RuntimeError(f"tensor.H is only supported on matrices (2-D tensors). Got "
                           f"{self.ndim}-D tensor. For batches of matrices, consider using "
                           "tensor.mH")
    return conj(self.T)


H = property(_h)
mH = property(adjoint)


# ---------------------------------------------------------------------- in place
def fill_diagonal_(self, fill_value, wrap=False):
    """Write ``fill_value`` on the main diagonal (all dims equal, or a tall matrix; with
    ``wrap`` the diagonal restarts every ncols + 1 rows)."""
    if self.ndim < 2:
        raise RuntimeError("dimensions must larger than 1")
    if self.ndim > 2 and len(set(self.shape)) != 1:
        raise RuntimeError("all dimensions of input must be of equal length")
    mask = np.zeros(self.shape, bool)
    np.fill_diagonal(mask, True, wrap=wrap)
    return self._apply_inplace(lambda s: s.masked_fill(Tensor._wrap(mask), fill_value))


def apply_(self, callable):
    """Replace every element by ``callable(element)`` (Python, slow, no gradient)."""
    return self._fill_raw(lambda: np.vectorize(callable, otypes=[self._data.dtype])(self._data))


def map_(self, tensor, callable):
    """``self[i] = callable(self[i], tensor[i])`` (tensor broadcast to self)."""
    other = np.broadcast_to(tensor._data, self._data.shape)
    return self._fill_raw(
        lambda: np.vectorize(callable, otypes=[self._data.dtype])(self._data, other))


# ---------------------------------------------------------------------- aliases
def narrow_copy(self, dim, start, length):
    return self.narrow(dim, start, length).clone()


def unsafe_chunk(self, chunks, dim=0):
    return self.chunk(chunks, dim)


def unsafe_split(self, split_size, dim=0):
    return self.split(split_size, dim)


def unsafe_split_with_sizes(self, split_sizes, dim=0):
    return self.split_with_sizes(split_sizes, dim)


def where(self, condition, y):
    """``x.where(condition, y)``: x where condition holds, else y."""
    return _where(condition, self, y)


def new_empty_strided(self, size, stride, dtype=None):
    return self.new_zeros(_sizes((size,)), dtype=dtype)


def _real(self):
    return Tensor._wrap(self._data.real) if self.dtype.is_complex else self


def _imag(self):
    if not self.dtype.is_complex:
        raise RuntimeError("imag is not implemented for tensors with non-complex dtypes.")
    return Tensor._wrap(self._data.imag)


real, imag = property(_real), property(_imag)


def dim_order(self):
    """The dimensions from the outermost in memory (largest stride) to the innermost."""
    strides = self.stride()
    return tuple(sorted(range(self.ndim), key=lambda d: -strides[d]))


def hardshrink(self, lambd=0.5):
    from ..nn import functional as F

    return F.hardshrink(self, lambd)


def prelu(self, weight):
    from ..nn import functional as F

    return F.prelu(self, weight)


def is_storage(obj):
    return False  # nncheck has no storage objects: a tensor owns its array


def typename(obj):
    if isinstance(obj, Tensor):
        return obj.type()
    cls = type(obj)
    return cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__name__}"
