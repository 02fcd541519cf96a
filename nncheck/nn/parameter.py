"""``Parameter`` (a leaf tensor a Module registers) and ``Buffer``."""

from .. import _dtype as dt
from .. import factories
from ..tensor import MetaStorage, Tensor, _to_array


class Parameter(Tensor):
    """A Tensor that a Module registers as a parameter when assigned as an attribute."""

    _is_param = True

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            arr = factories.empty(0)._data
        elif isinstance(data, Tensor):
            arr = data._data
        else:
            arr = _to_array(data)
        self._init(arr)
        self.requires_grad = requires_grad
        if isinstance(data, Tensor):
            self._version = data._version

    def __reduce_ex__(self, proto):
        raise TypeError("nncheck parameters are saved with nncheck.save (npz), not pickled")

    def __deepcopy__(self, memo):
        out = Parameter(Tensor._wrap(self._data.copy()), self.requires_grad)
        memo[id(self)] = out
        return out


class Buffer(Tensor):
    """Marks a tensor assigned to a Module attribute as a buffer (``nn.Buffer``)."""

    def __init__(self, data=None, persistent=True):
        arr = data._data if isinstance(data, Tensor) else _to_array(data)
        self._init(arr)
        self.persistent = persistent


class _Uninitialized:
    """A tensor whose shape is known only at a Lazy* module's first forward: it holds no
    data (computing with it raises, as with a meta tensor) until ``materialize``."""

    _materialized_class = Tensor

    def _start(self, requires_grad, dtype):
        self._init(MetaStorage((0,), dt.get_dtype(dtype or dt.float32)))
        self.requires_grad = requires_grad

    def materialize(self, shape, device=None, dtype=None):
        """Storage of ``shape`` (uninitialised values; the module resets them next)."""
        dtype = dt.get_dtype(dtype) if dtype is not None else self._data.dtype
        self._data = factories.empty(*shape, dtype=dtype)._data
        self.__class__ = self._materialized_class

    def __repr__(self):
        return f"<{type(self).__name__}>"


class UninitializedParameter(_Uninitialized, Parameter):
    _materialized_class = Parameter

    def __init__(self, requires_grad=True, device=None, dtype=None):
        self._start(requires_grad, dtype)


class UninitializedBuffer(_Uninitialized, Tensor):
    def __init__(self, requires_grad=False, device=None, dtype=None, persistent=True):
        self._start(requires_grad, dtype)
        self.persistent = persistent
