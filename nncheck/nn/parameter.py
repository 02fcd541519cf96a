"""``Parameter`` (a leaf tensor a Module registers) and ``Buffer``."""

from .. import factories
from ..tensor import Tensor, _to_array


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
