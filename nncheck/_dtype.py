"""dtypes, devices and Size: the small value types PyTorch exposes at top level."""

import builtins
import functools
import threading

from ._lazy import np


class dtype:
    """A tensor element type (``nncheck.float32`` ...), backed by the numpy dtype of its name.

    Kind and size are known without numpy, so that building layers on meta tensors
    (``nncheck shape``) never imports it; ``.np`` resolves the numpy dtype on first use.
    """

    __slots__ = ("name", "_np", "kind", "is_floating_point", "is_complex", "is_signed",
                 "itemsize")

    def __init__(self, name, kind, itemsize):
        self.name = name
        self._np = None
        self.kind = kind  # numpy's character code, so code over storages reads either dtype
        self.is_floating_point = kind == "f"
        self.is_complex = kind == "c"
        self.is_signed = kind in "fic"
        self.itemsize = itemsize

    @property
    def np(self):
        if self._np is None:
            self._np = np.dtype(self.name)
        return self._np

    def __repr__(self):
        return f"nncheck.{self.name}"

    def __reduce__(self):
        return (get_dtype, (self.name,))


float16 = half = dtype("float16", "f", 2)
float32 = float = dtype("float32", "f", 4)
float64 = double = dtype("float64", "f", 8)
int8 = dtype("int8", "i", 1)
uint8 = dtype("uint8", "u", 1)
int16 = short = dtype("int16", "i", 2)
int32 = int = dtype("int32", "i", 4)
int64 = long = dtype("int64", "i", 8)
bool = dtype("bool", "b", 1)
complex64 = dtype("complex64", "c", 8)
complex128 = dtype("complex128", "c", 16)

ALL_DTYPES = (float16, float32, float64, int8, uint8, int16, int32, int64, bool,
              complex64, complex128)
_BY_NAME = {d.name: d for d in ALL_DTYPES}
_BY_NAME.update(half=float16, float=float32, double=float64, short=int16, int=int32, long=int64)
_PYTHON_TYPES = {builtins.float: float64, builtins.int: int64, builtins.bool: bool}


@functools.cache
def _by_numpy():
    return {d.np: d for d in ALL_DTYPES}


def of_storage(spec):
    """``get_dtype`` for what a tensor's storage holds (a numpy dtype, or an nncheck dtype
    on meta tensors): a dictionary hit on the hot path of ``Tensor.dtype``."""
    found = _STORAGE_DTYPES.get(spec)
    if found is None:
        found = _STORAGE_DTYPES[spec] = get_dtype(spec)
    return found


_STORAGE_DTYPES = {}


def get_dtype(spec):
    """Turn an nncheck dtype, numpy dtype, Python type or name into an nncheck dtype."""
    if isinstance(spec, dtype):
        return spec
    if isinstance(spec, str):
        key = spec.removeprefix("nncheck.").removeprefix("torch.")
        if key in _BY_NAME:
            return _BY_NAME[key]
        raise TypeError(f"unknown dtype {spec!r}; expected one of {sorted(_BY_NAME)}")
    if spec in _PYTHON_TYPES:
        return _PYTHON_TYPES[spec]
    try:
        return _by_numpy()[np.dtype(spec)]
    except (TypeError, KeyError):
        raise TypeError(f"unsupported dtype {spec!r}") from None


class device:
    """A device spec: ``device('cpu')``, ``device('cuda', 0)``, ``device('meta')``.

    As a context manager it is the default device of the factories inside the block:
    ``with nncheck.device('meta'): nn.Conv2d(...)`` builds a layer without data.
    """

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

    def __enter__(self):
        _defaults.__dict__.setdefault("stack", []).append(self)
        return self

    def __exit__(self, *exc):
        _defaults.stack.pop()
        return False

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


_defaults = threading.local()  # .stack: the devices of the enclosing `with device(...)`
_CPU = device("cpu")


def get_default_device():
    """The device factories use when given none (``torch.get_default_device``)."""
    stack = getattr(_defaults, "stack", None)
    return stack[-1] if stack else _CPU


class Size(tuple):
    """The shape of a tensor: a tuple of ints that prints like PyTorch's."""

    def __repr__(self):
        return f"nncheck.Size({list(self)})"

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n

    def __getitem__(self, item):  # (no super(): every shape[i] of every layer comes here)
        out = tuple.__getitem__(self, item)
        return Size(out) if item.__class__ is slice else out


class finfo:
    """Limits of a floating dtype (``torch.finfo``): bits, eps, max, min, tiny,
    smallest_normal, resolution."""

    def __init__(self, type=None):
        kind = get_dtype(type if type is not None else float32)
        if not (kind.is_floating_point or kind.is_complex):
            raise TypeError(f"torch.finfo() requires a floating point input type. Use "
                            f"torch.iinfo to handle '{kind.name}'")
        info = np.finfo(kind.np)
        self.dtype, self.bits = kind.name, info.bits
        self.eps, self.max, self.min = builtins.float(info.eps), builtins.float(info.max), \
            builtins.float(info.min)
        self.tiny = self.smallest_normal = builtins.float(info.smallest_normal)
        self.resolution = 10.0 ** -info.precision

    def __repr__(self):
        return (f"finfo(resolution={self.resolution}, min={self.min:.6g}, max={self.max:.6g}, "
                f"eps={self.eps:.6g}, smallest_normal={self.tiny:.6g}, tiny={self.tiny:.6g}, "
                f"dtype={self.dtype})")


class iinfo:
    """Limits of an integer dtype (``torch.iinfo``): bits, max, min."""

    def __init__(self, type):
        kind = get_dtype(type)
        if kind is bool:
            raise TypeError(f"{kind!r} is not supported by nncheck.iinfo")
        if kind.is_floating_point or kind.is_complex:
            raise TypeError(f"torch.iinfo() requires an integer input type. Use torch.finfo "
                            f"to handle '{kind.name}'")
        info = np.iinfo(kind.np)
        self.dtype, self.bits = kind.name, info.bits
        self.min, self.max = builtins.int(info.min), builtins.int(info.max)

    def __repr__(self):
        return f"iinfo(min={self.min}, max={self.max}, dtype={self.dtype})"


def promote_types(type1, type2):
    """The dtype both promote to (PyTorch's promotion table for these dtypes)."""
    a, b = get_dtype(type1), get_dtype(type2)
    if a is b:
        return a
    found = np.promote_types(a.np, b.np)
    # numpy promotes int64 with float16 to float64; PyTorch keeps the float's dtype
    if a.is_floating_point != b.is_floating_point:
        return a if a.is_floating_point else b
    return get_dtype(found)


def can_cast(from_, to):
    """Whether PyTorch casts ``from_`` to ``to`` implicitly: never to a lower category
    (complex > floating > integral > bool)."""
    def category(kind):
        return 3 if kind.is_complex else 2 if kind.is_floating_point else \
            0 if kind is bool else 1

    return category(get_dtype(from_)) <= category(get_dtype(to))
