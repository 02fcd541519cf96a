"""``save``/``load`` as ``.npz``: tensors and (nested) state_dicts, never unpickled."""

import os
from collections import OrderedDict

from ._lazy import np
from .tensor import Tensor

_SINGLE = "__tensor__"


def save(obj, f):
    """Save a Tensor or a flat dict of name -> Tensor/array (a state_dict) to ``f`` (.npz)."""
    if isinstance(obj, Tensor):
        arrays = {_SINGLE: obj.detach().numpy()}
    elif isinstance(obj, dict):
        arrays = {}
        for key, value in obj.items():
            if not isinstance(key, str):
                raise TypeError(f"nncheck.save: dict keys must be str, got {type(key).__name__}")
            if isinstance(value, Tensor):
                value = value.detach().numpy()
            elif not isinstance(value, np.ndarray):
                value = np.asarray(value)
            if value.dtype == object:
                raise TypeError(f"nncheck.save: entry {key!r} is not numeric")
            arrays[key] = value
    else:
        raise TypeError(
            f"nncheck.save: expected a Tensor or a dict of tensors, got {type(obj).__name__}"
        )
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as fh:
            np.savez(fh, **arrays)
    else:
        np.savez(f, **arrays)


def load(f, map_location=None, weights_only=True):
    """Load what ``save`` wrote (or any .npz / .npy of numeric arrays)."""
    data = np.load(f, allow_pickle=False)
    if isinstance(data, np.ndarray):
        return Tensor._wrap(data)
    with data:
        if list(data.files) == [_SINGLE]:
            return Tensor._wrap(data[_SINGLE])
        return OrderedDict((k, Tensor._wrap(data[k])) for k in data.files)
