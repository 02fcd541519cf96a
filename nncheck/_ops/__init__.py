"""The torch API beyond the core ``Tensor``: one module per op family.

    pointwise.py    erf/log2/trig..., fmod/remainder/atan2, lerp/addcmul, logical, isclose
    reductions.py   cumsum/cumprod/cummax, logsumexp, var_mean, nansum, aminmax, diff
    indexing.py     gather/scatter, index_select/index_add/index_copy, masked_*, nonzero
    sorting.py      sort/argsort/topk/kthvalue/median/mode, unique, searchsorted/bucketize
    linalg.py       einsum, tensordot, outer, addmm/baddbmm, cdist, diag, tril/triu
    shape.py        roll/flip, repeat_interleave, broadcast_to, meshgrid, unfold, *stack
    sampling.py     bernoulli, multinomial, poisson, random_/cauchy_/... fills
    attributes.py   legacy new/casts, is_* flags, conj/H/mH, fill_diagonal_, apply_
    runtime.py      _assert, compile, autocast: no-ops where nncheck has nothing to switch

Each function takes the tensor first (``torch.topk(x, 3)``), so the same function is
the method (``x.topk(3)``).  The tables below say which functions are ``nncheck.*``
functions, which are ``Tensor`` methods and which also get an in-place ``name_``
method.  A family is imported when one of its names is first used (as the layer
families are, see ``nncheck/_lazy.py``), so ``import nncheck`` stays small.
"""

import importlib

_UNARY = ("erf", "erfc", "erfinv", "log2", "log10", "log1p", "expm1", "exp2", "tan", "asin",
          "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "lgamma", "digamma",
          "sinc", "deg2rad", "rad2deg", "frac", "i0", "arcsin", "arccos", "arctan", "arcsinh",
          "arccosh", "arctanh", "trunc", "fix")

# family: (torch.<name> and Tensor.<name>, torch.<name> only, Tensor.<name> only)
_FAMILIES = {
    "pointwise": (
        (*_UNARY, "positive", "sgn", "signbit", "fmod", "remainder", "atan2", "arctan2",
         "hypot", "logaddexp", "logaddexp2", "float_power", "floor_divide", "true_divide",
         "heaviside", "lerp", "addcmul", "addcdiv", "clamp_min", "clamp_max", "nan_to_num",
         "logical_not", "logical_and", "logical_or", "logical_xor", "bitwise_not",
         "bitwise_and", "bitwise_or", "bitwise_xor", "isclose", "isneginf", "isposinf",
         "isreal", "xlogy", "copysign", "fmax", "fmin", "maximum", "minimum", "logit", "ldexp",
         "polygamma", "gcd", "lcm", "angle", "mvlgamma", "frexp", "nextafter",
         "bitwise_left_shift", "bitwise_right_shift"),
        ("where", "rsub", "fill"),
        ("__xor__",)),
    "reductions": (
        ("cumsum", "cumprod", "cummax", "cummin", "logsumexp", "nansum", "nanmean", "aminmax",
         "diff", "logcumsumexp", "quantile", "dist", "bincount", "histc", "cov", "corrcoef",
         "renorm", "histogram"),
        ("var_mean", "std_mean", "trapezoid", "trapz", "cumulative_trapezoid",
         "frobenius_norm"),
        ()),
    "indexing": (
        ("gather", "scatter", "scatter_add", "index_select", "index_add", "index_copy",
         "index_fill", "masked_select", "masked_scatter", "nonzero", "argwhere",
         "count_nonzero", "take", "take_along_dim", "scatter_reduce", "index_put", "put",
         "select_scatter", "slice_scatter", "diagonal_scatter", "index_reduce",
         "nonzero_static"),
        ("unravel_index",),
        ()),
    "sorting": (
        ("sort", "argsort", "msort", "topk", "kthvalue", "median", "mode", "unique",
         "unique_consecutive"),
        ("searchsorted", "bucketize", "isin"),
        ()),
    "linalg": (
        ("tensordot", "outer", "mv", "addmm", "addmv", "addr", "baddbmm", "addbmm", "kron",
         "cross", "tril", "triu", "diagonal", "diag_embed", "diag", "trace", "inner", "vdot",
         "ger", "diagflat", "det", "inverse", "slogdet", "logdet", "cholesky", "matrix_exp",
         "matrix_power"),
        ("einsum", "cdist", "vander", "chain_matmul"),
        ()),
    "shape": (
        ("roll", "flip", "fliplr", "flipud", "rot90", "repeat_interleave", "tile",
         "broadcast_to", "movedim", "moveaxis", "swapdims", "select", "ravel", "tensor_split",
         "hsplit", "vsplit", "dsplit", "split_with_sizes"),
        ("broadcast_shapes", "broadcast_tensors", "meshgrid", "atleast_1d", "atleast_2d",
         "atleast_3d", "hstack", "vstack", "dstack", "column_stack", "row_stack", "block_diag",
         "cartesian_prod", "combinations", "constant_pad_nd", "slice_copy", "alias_copy",
         *(f"{name}_copy" for name in ("expand", "permute", "view", "t", "transpose",
                                       "squeeze", "unsqueeze", "diagonal", "detach", "select",
                                       "split", "split_with_sizes", "unbind", "unfold"))),
        ("unfold", "sum_to_size", "storage_offset", "squeeze_", "unsqueeze_", "t_",
         "transpose_", "swapaxes_", "swapdims_")),
    "sampling": (
        ("bernoulli", "multinomial"),
        ("poisson", "binomial"),
        ("random_", "log_normal_", "cauchy_", "geometric_")),
    "runtime": (
        (),
        ("_assert", "compile", "autocast", "is_autocast_enabled"),
        ()),
    "attributes": (
        ("is_complex", "is_signed", "is_nonzero", "is_same_size", "is_inference", "is_conj",
         "is_neg", "conj", "resolve_conj", "resolve_neg", "conj_physical", "adjoint",
         "narrow_copy", "unsafe_chunk", "unsafe_split", "unsafe_split_with_sizes",
         "get_device"),
        ("is_storage", "typename"),
        ("new", "byte", "char", "short", "cfloat", "cdouble", "is_pinned", "is_shared",
         "is_cpu", "is_sparse", "is_quantized", "is_nested", "is_mkldnn", "itemsize", "nbytes",
         "output_nr", "data_ptr", "pin_memory", "share_memory_", "H", "mH",
         "fill_diagonal_", "apply_", "map_", "where", "new_empty_strided", "real", "imag",
         "dim_order", "hardshrink", "prelu")),
}
# Tensor.<name>_ (in place) for these
_INPLACE = (
    *_UNARY, "fmod", "remainder", "atan2", "arctan2", "hypot", "float_power", "floor_divide",
    "true_divide", "heaviside", "lerp", "addcmul", "addcdiv", "clamp_min", "clamp_max",
    "nan_to_num", "logical_not", "logical_and", "logical_or", "logical_xor", "bitwise_not",
    "bitwise_and", "bitwise_or", "bitwise_xor", "cumsum", "cumprod", "scatter", "scatter_add",
    "index_add", "index_copy", "index_fill", "masked_scatter", "addmm", "addmv", "addr",
    "baddbmm", "addbmm", "tril", "triu", "sgn", "xlogy", "copysign", "logit", "ldexp", "gcd",
    "lcm", "polygamma", "scatter_reduce", "index_put", "put", "renorm", "index_reduce",
    "nextafter", "bitwise_left_shift", "bitwise_right_shift", "mvlgamma",
)
# Tensor.<name>_ for methods of tensor.py itself, and PyTorch's other names for them
_CORE_INPLACE = ("abs", "absolute", "ceil", "floor", "round", "cos", "sin", "log",
                 "reciprocal", "rsqrt", "sigmoid", "tanh", "relu", "sign", "square", "negative",
                 "divide", "multiply", "subtract", "eq", "ne", "lt", "le", "gt", "ge", "greater",
                 "greater_equal", "less", "less_equal", "not_equal")
_CORE_ALIASES = {"absolute": "abs", "greater": "gt", "greater_equal": "ge", "less": "lt",
                 "less_equal": "le", "not_equal": "ne"}

FUNCTIONS = {name: family for family, (both, functions, _) in _FAMILIES.items()
             for name in (*both, *functions)}
_METHODS = {name: family for family, (both, _, methods) in _FAMILIES.items()
            for name in (*both, *methods)}


def function(name, table=FUNCTIONS):
    """The function ``name`` of its family in ``table`` (imported now if it was not yet);
    a name may differ as function and method (``where``)."""
    return getattr(importlib.import_module(f"{__name__}.{table[name]}"), name)


def _in_place(function):
    def method(self, *args, **kwargs):
        return self._apply_inplace(lambda snapshot: function(snapshot, *args, **kwargs))

    method.__name__ = function.__name__ + "_"
    method.__doc__ = f"In-place ``{function.__name__}``."
    return method


class _LazyMethod:
    """A Tensor method whose family loads on first use; it then replaces itself on the
    class with the plain function, so later calls cost nothing extra."""

    def __init__(self, name, in_place):
        self.name, self.in_place = name, in_place

    def __set_name__(self, owner, attr):
        self.attr = attr

    def __get__(self, obj, cls):
        fn = function(self.name, FUNCTIONS if self.in_place else _METHODS)
        if self.in_place:
            fn = _in_place(fn)
        setattr(cls, self.attr, fn)
        return fn if obj is None else fn.__get__(obj, cls)


def install(tensor_class):
    """Give ``tensor_class`` (nncheck.Tensor) the methods of the families."""
    for alias, name in _CORE_ALIASES.items():
        setattr(tensor_class, alias, getattr(tensor_class, name))
    for name in _CORE_INPLACE:
        setattr(tensor_class, name + "_", _in_place(getattr(tensor_class, name)))
    for name in _METHODS:
        method = _LazyMethod(name, in_place=False)
        setattr(tensor_class, name, method)
        method.__set_name__(tensor_class, name)
    for name in _INPLACE:
        method = _LazyMethod(name, in_place=True)
        setattr(tensor_class, name + "_", method)
        method.__set_name__(tensor_class, name + "_")
