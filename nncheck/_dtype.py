"""dtypes, devices and Size: the small value types PyTorch exposes at top level."""

import builtins

import numpy as np


class dtype:
    """A tensor element type (``nncheck.float32`` ...), backed by a numpy dtype."""

    __slots__ = ("name", "np", "is_floating_point", "is_complex", "is_signed", "itemsize")

    def __init__(self, name, np_dtype):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.is_floating_point = self.np.kind == "f"
        self.is_complex = self.np.kind == "c"
        self.is_signed = self.np.kind in "fic"
        self.itemsize = self.np.itemsize

    def __repr__(self):
        return f"nncheck.{self.name}"

    def __reduce__(self):
        return (get_dtype, (self.name,))


float16 = half = dtype("float16", np.float16)
float32 = float = dtype("float32", np.float32)
float64 = double = dtype("float64", np.float64)
int8 = dtype("int8", np.int8)
uint8 = dtype("uint8", np.uint8)
int16 = short = dtype("int16", np.int16)
int32 = int = dtype("int32", np.int32)
int64 = long = dtype("int64", np.int64)
bool = dtype("bool", np.bool_)
complex64 = dtype("complex64", np.complex64)
complex128 = dtype("complex128", np.complex128)

ALL_DTYPES = (float16, float32, float64, int8, uint8, int16, int32, int64, bool,
              complex64, complex128)
_BY_NP = {d.np: d for d in ALL_DTYPES}
_BY_NAME = {d.name: d for d in ALL_DTYPES}
_BY_NAME.update(half=float16, float=float32, double=float64, short=int16, int=int32, long=int64)


def get_dtype(spec):
    """Turn an nncheck dtype, numpy dtype, Python type or name into an nncheck dtype."""
    if isinstance(spec, dtype):
        return spec
    if isinstance(spec, str):
        key = spec.removeprefix("nncheck.").removeprefix("torch.")
        if key in _BY_NAME:
            return _BY_NAME[key]
        raise TypeError(f"unknown dtype {spec!r}; expected one of {sorted(_BY_NAME)}")
    python_types = {builtins.float: float64, builtins.int: int64, builtins.bool: bool}
    if spec in python_types:
        return python_types[spec]
    try:
        return _BY_NP[np.dtype(spec)]
    except (TypeError, KeyError):
        raise TypeError(f"unsupported dtype {spec!r}") from None


class device:
    """A device spec: ``device('cpu')``, ``device('cuda', 0)``, ``device('meta')``."""

    __slots__ = ("type", "index")

    def __init__(self, spec="cpu", index=None):
        if isinstance(spec, device):
            self.type, self.index = spec.type, spec.index
            return
        spec = str(spec)
        kind, _, idx = spec.partition(":")
        if kind not in ("cpu", "cuda", "meta"):
            raise RuntimeError(f"Expected one of cpu, cuda, meta device type, got {spec!r}")
        self.type = kind
        self.index = builtins.int(idx) if idx else index

    def __eq__(self, other):
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self):
        return hash((self.type, self.index))

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        idx = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{idx})"


class Size(tuple):
    """The shape of a tensor: a tuple of ints that prints like PyTorch's."""

    def __repr__(self):
        return f"nncheck.Size({list(self)})"

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n

    def __getitem__(self, item):
        out = super().__getitem__(item)
        return Size(out) if isinstance(item, slice) else out
