"""Symbolic sizes (sympy): which input sizes does a model accept?

A dimension given by name (``--in N,3,H,W``, ``analyze(model, ("N", 3, "H", "W"))``)
becomes a ``SymInt`` holding a sympy expression.  Shape rules do their usual arithmetic
on it (``floor((H-1)/2)+1``); a condition a layer needs (``shapes.require``) is recorded
against that layer instead of being checked, and a Python ``if`` on a symbolic comparison
(``SymBool.__bool__``) takes the branch the current example sizes take and records it as a
guard.  ``analyze`` runs a whole model's forward this way (leaf layers through their shape
rules, the model's own code on ``SymbolicTensor``s) and answers with each layer's output
formulas, the conditions simplified for a person, and the smallest input that meets them.

This module imports sympy; ``nncheck.shapes`` imports it only when a dimension is a name,
so the concrete shape path stays as fast as before.
"""

import functools
import itertools
import math
import operator
from dataclasses import dataclass, field

import sympy

from . import _dtype as dt
from .shapes import ShapeError, SymbolicDimensionError, broadcast_shapes
from .tensor import MetaStorage, Tensor

SEARCH_BOUND = 4096  # sizes 1..SEARCH_BOUND are searched for the smallest input / simplified
COMBINATIONS = 1 << 16  # at most this many size combinations of names tied by one condition


# --------------------------------------------------------------------------- expressions
class FloorDiv(sympy.Function):
    """Integer floor division ``a // b`` (PyTorch's size arithmetic), kept as one node so
    that formulas read ``floor((H-1)/2)`` and whole multiples of ``b`` come out of it
    (``(2*H + 1) // 2 == H + 1 // 2``)."""

    is_integer = True

    @classmethod
    def eval(cls, a, b):
        if not (b.is_Integer and b > 0):
            return None
        if b == 1:
            return a
        if a.is_Integer:
            return sympy.Integer(int(a) // int(b))
        if isinstance(a, FloorDiv) and a.args[1].is_Integer:  # (x//m)//n == x//(m*n)
            return FloorDiv(a.args[0], a.args[1] * b)
        terms = a.args if a.is_Add else (a,)
        whole, rest = [], []
        for t in terms:
            coeff, factor = t.as_coeff_Mul()  # constants stay in: floor((H-1)/2)+1 as PyTorch
            if coeff.is_Integer and factor.is_integer and not factor.is_Number:
                q, r = divmod(int(coeff), int(b))
                if q:
                    whole.append(q * factor)
                if r:
                    rest.append(r * factor)
            else:
                rest.append(t)
        if whole:
            return sympy.Add(*whole) + FloorDiv(sympy.Add(*rest), b)
        return None

    def _sympystr(self, printer):
        a, b = self.args
        return f"floor({_wrap_text(printer._print(a))}/{printer._print(b)})"


def _wrap_text(text):
    return text if text.replace("_", "").isalnum() else f"({text})"


def _lift(value):
    """A sympy expression for an int / SymInt / integral float, else None."""
    if isinstance(value, SymInt):
        return value.expr
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return sympy.Integer(value)
    if isinstance(value, float) and math.isfinite(value):
        return sympy.Rational(repr(value))
    return None


def _size(expr):
    """A plain int when the expression is a constant, else a SymInt."""
    expr = sympy.sympify(expr)
    if expr.is_Integer:
        return int(expr)
    return SymInt(expr)


def floor_of(expr):
    """floor(expr) for a rational-coefficient expression, as a FloorDiv of integers."""
    num, den = sympy.fraction(sympy.together(expr))
    if den == 1:
        return num
    if not den.is_Integer:
        raise SymbolicDimensionError(format_expr(expr))
    return FloorDiv(sympy.expand(num), den)


@functools.lru_cache(maxsize=4096)
def format_expr(expr):
    """The compact formula users read: ``floor((H-1)/2)+1``."""
    return sympy.sstr(expr).replace(" ", "")


def sym_min(*values):
    """min() of sizes without deciding which is smaller (Python's min would branch)."""
    return _extreme(sympy.Min, min, values)


def sym_max(*values):
    return _extreme(sympy.Max, max, values)


def _extreme(symbolic, concrete, values):
    if not any(is_sym(v) for v in values):
        return concrete(values)
    # unevaluated: sympy's Min/Max simplification costs seconds on nested sizes
    return SymInt(symbolic(*map(_lift, values), evaluate=False))


class SymInt:
    """A symbolic size: arithmetic builds the formula, comparisons give ``SymBool``s."""

    __slots__ = ("expr",)

    def __init__(self, expr):
        self.expr = sympy.Symbol(expr, integer=True, positive=True) if isinstance(expr, str) \
            else expr

    def _binary(self, other, fn, reverse=False):
        other = _lift(other)
        if other is None:
            return NotImplemented
        a, b = (other, self.expr) if reverse else (self.expr, other)
        return fn(a, b)

    def __add__(self, o):
        return self._binary(o, lambda a, b: _size(a + b))

    def __radd__(self, o):
        return self._binary(o, lambda a, b: _size(a + b), True)

    def __sub__(self, o):
        return self._binary(o, lambda a, b: _size(a - b))

    def __rsub__(self, o):
        return self._binary(o, lambda a, b: _size(a - b), True)

    def __mul__(self, o):
        return self._binary(o, lambda a, b: _size(a * b))

    def __rmul__(self, o):
        return self._binary(o, lambda a, b: _size(a * b), True)

    def __floordiv__(self, o):
        return self._binary(o, lambda a, b: _size(floor_of(a / b) if b.is_Rational
                                                  and not b.is_Integer else FloorDiv(a, b)))

    def __rfloordiv__(self, o):
        return self._binary(o, lambda a, b: _size(FloorDiv(a, b)), True)

    def __mod__(self, o):
        return self._binary(o, lambda a, b: _size(sympy.Mod(a, b)))

    def __rmod__(self, o):
        return self._binary(o, lambda a, b: _size(sympy.Mod(a, b)), True)

    def __truediv__(self, o):  # exact rational; floor()/ceil()/int() bring it back to a size
        return self._binary(o, lambda a, b: SymInt(a / b))

    def __rtruediv__(self, o):
        return self._binary(o, lambda a, b: SymInt(a / b), True)

    def __neg__(self):
        return _size(-self.expr)

    def __pos__(self):
        return self

    def __abs__(self):
        return _size(sympy.Abs(self.expr))

    def __floor__(self):
        return _size(floor_of(self.expr))

    def __ceil__(self):
        return _size(-floor_of(-self.expr))

    def __trunc__(self):  # sizes are positive: truncation is the floor
        return self.__floor__()

    def _compare(self, o, rel):
        return self._binary(o, lambda a, b: _truth(rel(a, b)))

    def __lt__(self, o):
        return self._compare(o, sympy.Lt)

    def __le__(self, o):
        return self._compare(o, sympy.Le)

    def __gt__(self, o):
        return self._compare(o, sympy.Gt)

    def __ge__(self, o):
        return self._compare(o, sympy.Ge)

    def __eq__(self, o):
        return self._compare(o, lambda a, b: sympy.Eq(a, b))

    def __ne__(self, o):
        return self._compare(o, lambda a, b: sympy.Ne(a, b))

    def __hash__(self):
        return hash(self.expr)

    def __bool__(self):
        return bool(self != 0)

    def __int__(self):
        raise SymbolicDimensionError(format_expr(self.expr))

    __index__ = __int__

    def __repr__(self):
        return format_expr(self.expr)

    __str__ = __repr__


def _truth(rel):
    """A Python bool when sympy can decide the relation for all positive sizes."""
    if rel is sympy.true or rel is sympy.false:
        return bool(rel)
    return SymBool(rel)


class SymBool:
    """A condition on symbolic sizes; ``bool()`` of it records a guard (see ``Analysis``)."""

    __slots__ = ("expr",)

    def __init__(self, expr):
        self.expr = expr

    def __bool__(self):
        analysis = current()
        if analysis is None:
            raise SymbolicDimensionError(format_expr(self.expr))
        return analysis.decide(self.expr)

    def __and__(self, o):
        return _truth(sympy.And(self.expr, _as_bool(o)))

    __rand__ = __and__

    def __or__(self, o):
        return _truth(sympy.Or(self.expr, _as_bool(o)))

    __ror__ = __or__

    def __invert__(self):
        return _truth(sympy.Not(self.expr))

    def __repr__(self):
        return to_python(self.expr)


def _as_bool(value):
    return value.expr if isinstance(value, SymBool) else sympy.true if value else sympy.false


def is_sym(value):
    return isinstance(value, (SymInt, SymBool))


# --------------------------------------------------------------------------- Python text
_REL = {sympy.Eq: "==", sympy.Ne: "!=", sympy.Ge: ">=", sympy.Gt: ">", sympy.Le: "<=",
        sympy.Lt: "<"}


def to_python(expr):
    """A Python expression over the symbol names with only integers, + - * // %,
    comparisons, and/or/not, min/max: anyone can evaluate it."""
    if expr is sympy.true or expr is sympy.false:
        return str(bool(expr))
    if expr.is_Integer:
        return str(int(expr))
    if expr.is_Symbol:
        return expr.name
    if isinstance(expr, sympy.Rel):
        lhs, rhs = _integral_sides(expr.lhs - expr.rhs)
        return f"{to_python(lhs)} {_REL[type(expr)]} {to_python(rhs)}"
    if isinstance(expr, (sympy.And, sympy.Or)):
        joiner = " and " if isinstance(expr, sympy.And) else " or "
        return joiner.join(f"({to_python(a)})" for a in expr.args)
    if isinstance(expr, sympy.Not):
        return f"not ({to_python(expr.args[0])})"
    if isinstance(expr, FloorDiv):
        return f"{_atom(expr.args[0])} // {_atom(expr.args[1])}"
    if isinstance(expr, sympy.Mod):
        return f"{_atom(expr.args[0])} % {_atom(expr.args[1])}"
    if isinstance(expr, (sympy.Min, sympy.Max)):
        name = "min" if isinstance(expr, sympy.Min) else "max"
        return f"{name}({', '.join(to_python(a) for a in expr.args)})"
    if isinstance(expr, sympy.floor):
        return to_python(floor_of(expr.args[0]))
    if isinstance(expr, sympy.ceiling):
        return to_python(-floor_of(-expr.args[0]))
    if isinstance(expr, sympy.Abs):
        return f"abs({to_python(expr.args[0])})"
    if expr.is_Add:
        text = ""
        for term in sorted(expr.args, key=lambda t: t.is_Number):
            coeff, rest = term.as_coeff_Mul()
            if coeff < 0:
                text += f" - {to_python(-term)}" if text else f"-{_atom(-term)}"
            else:
                text += f" + {to_python(term)}" if text else to_python(term)
        return text
    if expr.is_Mul:
        coeff, rest = expr.as_coeff_Mul()
        if coeff == -1:
            return f"-{_atom(rest)}"
        if not coeff.is_Integer:
            raise SymbolicDimensionError(format_expr(expr))
        factors = [] if coeff == 1 else [str(int(coeff))]
        return "*".join(factors + [_atom(f) for f in sympy.Mul.make_args(rest)])
    if expr.is_Pow and expr.exp.is_Integer and expr.exp > 0:
        return "*".join([_atom(expr.base)] * int(expr.exp))
    raise SymbolicDimensionError(format_expr(expr))


def _atom(expr):
    """``to_python`` in parentheses unless it is a name, a number >= 0 or a call."""
    text = to_python(expr)
    bare = expr.is_Symbol or (expr.is_Integer and expr >= 0) or isinstance(
        expr, (sympy.Min, sympy.Max, sympy.Abs))
    return text if bare else f"({text})"


def _integral_sides(diff):
    """lhs - rhs -> (terms, -constant); rational coefficients are cleared first."""
    if any(not r.is_Integer for r in diff.atoms(sympy.Rational)):
        num, den = sympy.fraction(sympy.together(diff))
        if den.is_Integer:
            diff = sympy.expand(num)
    constant, variable = diff.as_coeff_Add()
    return variable, -constant


def evaluator(exprs, names):
    """One compiled function of the symbol values: True when every condition holds."""
    return _compiled(sympy.And(*dict.fromkeys(exprs)), tuple(names))


_PYTHON_NAMES = {"__builtins__": {}, "min": min, "max": max, "abs": abs}


@functools.lru_cache(maxsize=4096)
def _compiled(expr, names):
    return eval(f"lambda {', '.join(names) or '_'}: {to_python(expr)}",  # noqa: S307
                _PYTHON_NAMES)  # our own text


# --------------------------------------------------------------------------- the analysis
@dataclass
class Condition:
    """A condition on the input sizes and the layer that imposed it."""

    kind: str  # "constraint" (the layer needs it) or "guard" (a branch taken on it)
    expr: object
    layer: str
    reason: str

    @property
    def python(self):
        return to_python(self.expr)


_active = []


def current():
    return _active[-1] if _active else None


class Analysis:
    """What one symbolic run collects: the conditions, and the layer being run."""

    def __init__(self, symbols, hints):
        self.symbols, self.hints = symbols, hints
        self.conditions, self.layer, self.failed_in = [], "input", None
        self._example = None

    def require(self, expr, reason):
        if any(c.expr == expr for c in self.conditions):
            return  # the first layer that needed it is the one --explain names
        self.conditions.append(Condition("constraint", expr, self.layer, reason))
        self._example = None

    def decide(self, expr):
        """The branch the example sizes take; recorded as a guard, unless the conditions so
        far already settle it (one symbol: every size 1..SEARCH_BOUND they allow agrees)."""
        free = {s.name for s in expr.free_symbols}
        if len(free) == 1:
            (name,) = free
            known = [c.expr for c in self.conditions
                     if {s.name for s in c.expr.free_symbols} == free]
            test = _compiled(expr, (name,))
            outcomes = set()
            for v in _values(known, name, SEARCH_BOUND):
                outcomes.add(bool(test(v)))
                if len(outcomes) == 2:
                    break
            if len(outcomes) == 1:
                return outcomes.pop()
        example = self.example()
        if example is None:
            example = {s.name: 1 for s in expr.free_symbols}
        names = sorted(example)
        taken = bool(evaluator([expr], names)(*[example[n] for n in names]))
        self.conditions.append(Condition("guard", expr if taken else sympy.Not(expr),
                                         self.layer, "branch taken by the model's code"))
        self._example = None
        return taken

    def example(self):
        """The user's hints, else the smallest sizes meeting the conditions so far."""
        if self._example is None:
            found = smallest([c.expr for c in self.conditions], list(self.symbols), self.hints)
            self._example = found
        return self._example


def record(expr, reason):
    """``shapes.require`` with a symbolic condition: the running analysis keeps it."""
    analysis = current()
    if analysis is not None:
        analysis.require(expr.expr if isinstance(expr, SymBool) else expr, reason)


# --------------------------------------------------------------------------- solving
_FILTERED = {}  # (conditions, name, bound) -> the sizes meeting them


def _values(exprs, name, bound):
    """The sizes 1..bound meeting every condition.  Conditions come in one at a time during
    an analysis, so the answer for each prefix is kept: a new condition filters only what
    the ones before it left."""
    exprs = tuple(dict.fromkeys(exprs))
    if len(_FILTERED) > 4096:
        _FILTERED.clear()
    known = len(exprs)
    while known and (exprs[:known], name, bound) not in _FILTERED:
        known -= 1
    values = _FILTERED.get((exprs[:known], name, bound), range(1, bound + 1))
    for i in range(known, len(exprs)):
        test = _compiled(exprs[i], (name,))
        values = tuple(v for v in values if test(v))
        _FILTERED[exprs[:i + 1], name, bound] = values
    return list(values)


def _split(exprs, names):
    single = {n: [] for n in names}
    multi = []
    for e in exprs:
        free = {s.name for s in e.free_symbols}
        if len(free) == 1:
            single[free.pop()].append(e)
        elif free:
            multi.append(e)
    return single, multi


def smallest(exprs, names, hints=None, bound=SEARCH_BOUND):
    """The smallest sizes (1..bound each; fewest in total) meeting every condition, or None.

    Names tied together by a condition are searched among the first sizes each allows on its
    own, up to COMBINATIONS combinations.  Hinted names are fixed to their hint when it meets
    the conditions."""
    single, multi = _split(exprs, names)
    candidates = {}
    for n in names:
        values = _values(single[n], n, bound) if single[n] else list(range(1, bound + 1))
        if hints and n in hints and hints[n] in values:
            values = [hints[n]]
        if not values:
            return None
        candidates[n] = values
    coupled = sorted({s.name for e in multi for s in e.free_symbols})
    found = {n: candidates[n][0] for n in names}
    if not coupled:
        return found
    test = evaluator(multi, coupled)
    width = 4
    while True:
        best = None
        pools = [candidates[n][:width] for n in coupled]
        for combo in itertools.product(*pools):
            if (best is None or sum(combo) < sum(best)) and test(*combo):
                best = combo
        if best is not None:
            found.update(zip(coupled, best))
            return found
        if all(len(p) == len(candidates[n]) for p, n in zip(pools, coupled)) or \
                width ** len(coupled) > COMBINATIONS:
            return None
        width *= 2


def describe(name, values, bound=SEARCH_BOUND):
    """The set of sizes 1..bound that work for ``name``, as Python conditions a person reads
    at once: ``["H >= 8"]``, ``["H % 16 == 0"]``, ``["32 <= H <= 35"]``; None if it has no
    short description."""
    if not values:
        return ["False"]
    lo, hi = values[0], values[-1]
    unbounded = hi == bound
    if len(values) == hi - lo + 1:  # one interval
        if unbounded:
            return [f"{name} >= {lo}"] if lo > 1 else []
        if lo == hi:
            return [f"{name} == {lo}"]
        return [f"{name} <= {hi}"] if lo == 1 else [f"{lo} <= {name} <= {hi}"]
    for period in range(2, bound // 8):
        residues = sorted({v % period for v in values})
        if len(residues) > period // 2:
            continue
        unbounded = hi + period > bound  # the pattern runs to the end of the searched range
        top = hi if not unbounded else bound
        if values != [v for v in range(lo, top + 1) if v % period in residues]:
            continue
        if len(residues) == 1:
            out = [f"{name} % {period} == {residues[0]}"]
        else:
            out = [" or ".join(f"{name} % {period} == {r}" for r in residues)]
        first = min(r or period for r in residues)  # the smallest positive with a residue
        if lo > first:
            out.insert(0, f"{name} >= {lo}")
        if not unbounded:
            out.append(f"{name} <= {hi}")
        return out
    return None


# --------------------------------------------------------------------------- tensors
class SymbolicTensor(Tensor):
    """A meta tensor whose sizes may be ``SymInt``s: the shape arithmetic of model code
    (views, slicing, broadcasting, reductions) runs on it and records what it needs."""

    @classmethod
    def of(cls, shape, dtype=dt.float32):
        t = cls.__new__(cls)
        t._init(MetaStorage(tuple(shape), dtype))
        return t

    def numel(self):
        return math.prod(self.shape)

    def _like(self, shape):
        return SymbolicTensor.of(shape, self.dtype)

    def _same(self, *args, **kwargs):
        return self._like(self.shape)

    # views
    def view(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], dt.dtype):
            return SymbolicTensor.of(self.shape, shape[0])
        return self._like(infer_view(_sizes(shape), self.numel(), "view"))

    reshape = view

    def view_as(self, other):
        return self.view(other.shape)

    reshape_as = view_as

    def flatten(self, start_dim=0, end_dim=-1):
        if self.ndim == 0:
            return self._like((1,))
        s, e = self._dim(start_dim), self._dim(end_dim)
        return self._like(self.shape[:s] + (math.prod(self.shape[s:e + 1]),) + self.shape[e + 1:])

    def unflatten(self, dim, sizes):
        d = self._dim(dim)
        sizes = infer_view(tuple(sizes), self.shape[d], "unflatten")
        return self._like(self.shape[:d] + sizes + self.shape[d + 1:])

    def squeeze(self, dim=None):
        dims = range(self.ndim) if dim is None else {
            self._dim(d) for d in (dim if isinstance(dim, (tuple, list)) else (dim,))}
        return self._like(tuple(s for i, s in enumerate(self.shape)
                                if not (i in dims and isinstance(s, int) and s == 1)))

    def unsqueeze(self, dim):
        d = dim % (self.ndim + 1)
        return self._like(self.shape[:d] + (1,) + self.shape[d:])

    def permute(self, *dims):
        dims = tuple(self._dim(d) for d in _sizes(dims))
        return self._like(tuple(self.shape[d] for d in dims))

    def transpose(self, dim0, dim1):
        dims = list(range(self.ndim))
        a, b = self._dim(dim0), self._dim(dim1)
        dims[a], dims[b] = dims[b], dims[a]
        return self.permute(*dims)

    def expand(self, *sizes):
        sizes = _sizes(sizes)
        lead = len(sizes) - self.ndim
        shape = []
        for i, s in enumerate(sizes):
            old = self.shape[i - lead] if i >= lead else 1
            if isinstance(s, int) and s == -1:
                s = old
            elif not (isinstance(old, int) and old == 1):
                _require("expand", old == s, f"expand: size {old} at dim {i} must equal {s}")
            shape.append(s)
        return self._like(tuple(shape))

    def expand_as(self, other):
        return self.expand(other.shape)

    def repeat(self, *sizes):
        sizes = _sizes(sizes)
        shape = (1,) * (len(sizes) - self.ndim) + tuple(self.shape)
        return self._like(tuple(a * b for a, b in zip(shape, sizes)))

    def split(self, split_size, dim=0):
        d = self._dim(dim)
        size = self.shape[d]
        if isinstance(split_size, (list, tuple)):
            _require("split", sum(split_size) == size,
                     f"split: sizes {list(split_size)} must add up to {size}")
            pieces = split_size
        else:
            count = -(-size // split_size)
            pieces = [split_size] * (int(count) - 1) + [size - split_size * (int(count) - 1)]
        return tuple(self._like(self.shape[:d] + (p,) + self.shape[d + 1:]) for p in pieces)

    def chunk(self, chunks, dim=0):
        size = self.shape[self._dim(dim)]
        return self.split(-(-size // chunks), dim)

    def __getitem__(self, key):
        return self._like(index_shape(self.shape, key))

    def contiguous(self, memory_format=None):
        return self

    clone = detach = contiguous

    def to(self, *args, **kwargs):
        return self

    float = double = half = cpu = cuda = to

    # elementwise and broadcasting
    def _broadcast(self, other, *_, **__):
        other_shape = other.shape if isinstance(other, Tensor) else ()
        return self._like(broadcast_symbolic(self.shape, other_shape))

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _broadcast
    __truediv__ = __rtruediv__ = __pow__ = __rpow__ = __floordiv__ = __mod__ = _broadcast
    add = sub = mul = div = pow = maximum = minimum = _broadcast
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _broadcast
    __hash__ = Tensor.__hash__

    def __matmul__(self, other):
        return self._like(matmul_shape(self.shape, other.shape))

    matmul = __matmul__

    def _reduce(self, dim=None, keepdim=False, **_):
        if dim is None:
            return self._like(())
        dims = {self._dim(d) for d in (dim if isinstance(dim, (tuple, list)) else (dim,))}
        return self._like(tuple(1 if i in dims else s for i, s in enumerate(self.shape)
                                if keepdim or i not in dims))

    sum = mean = prod = var = std = amax = amin = norm = all = any = _reduce

    def _reduce_max(self, dim=None, keepdim=False):
        out = self._reduce(dim, keepdim)
        return out if dim is None else (out, out)

    max = min = _reduce_max


for _name in ("neg", "abs", "exp", "log", "sqrt", "rsqrt", "sin", "cos", "reciprocal", "square",
              "sign", "floor", "ceil", "round", "clamp", "relu", "sigmoid", "tanh", "softmax",
              "log_softmax", "__neg__", "__pos__", "__abs__", "type_as", "masked_fill",
              "requires_grad_", "add_", "sub_", "mul_", "div_", "clamp_", "relu_", "zero_",
              "fill_", "copy_", "isnan", "isinf", "isfinite"):
    setattr(SymbolicTensor, _name, SymbolicTensor._same)


def _sizes(args):
    return tuple(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else args


def _require(layer, ok, reason):
    from .shapes import require

    require(layer, ok, reason)


def infer_view(sizes, numel, what):
    """``view``/``reshape``/``unflatten`` sizes with one ``-1`` solved: the total must divide."""
    holes = [i for i, s in enumerate(sizes) if isinstance(s, int) and s == -1]
    if len(holes) > 1:
        raise RuntimeError(f"{what}: only one dimension can be inferred")
    known = math.prod(s for i, s in enumerate(sizes) if i not in holes)
    if not holes:
        _require(what, known == numel, f"{what}: shape {list(sizes)} must hold the "
                                       f"{numel} elements of the input")
        return tuple(sizes)
    _require(what, numel % known == 0, f"{what}: the {numel} elements must divide into "
                                       f"rows of {known}")
    return tuple(numel // known if i in holes else s for i, s in enumerate(sizes))


def broadcast_symbolic(*shapes):
    """Broadcast shapes with symbolic sizes: unequal sizes must be equal or 1 (recorded)."""
    if not any(is_sym(s) for shape in shapes for s in shape):
        return broadcast_shapes(*shapes)
    ndim = max(len(s) for s in shapes)
    out = []
    for i, sizes in enumerate(zip(*[(1,) * (ndim - len(s)) + tuple(s) for s in shapes])):
        size = 1
        for s in sizes:
            if isinstance(s, int) and s == 1:
                continue
            if isinstance(size, int) and size == 1:
                size = s
                continue
            if _lift(s) != _lift(size):
                _require("broadcast", (size == s) | (s == 1) | (size == 1),
                         f"sizes {size} and {s} at dim {i} must be equal (or 1) to broadcast")
                # a fixed size other than 1 is the result; two symbolic ones: the larger
                size = size if isinstance(size, int) else s if isinstance(s, int) else \
                    _size(sympy.Max(_lift(size), _lift(s)))
        out.append(size)
    return tuple(out)


def matmul_shape(a, b):
    a2, b2 = (1,) + tuple(a) if len(a) == 1 else tuple(a), tuple(b) + (1,) if len(b) == 1 \
        else tuple(b)
    if not (isinstance(a2[-1], int) and isinstance(b2[-2], int) and a2[-1] == b2[-2]):
        _require("matmul", a2[-1] == b2[-2], f"matmul: inner sizes {a2[-1]} and {b2[-2]} "
                                             "must be equal")
    batch = broadcast_symbolic(a2[:-2], b2[:-2])
    out = batch + (a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


def index_shape(shape, key):
    """The shape of ``x[key]`` for ints, slices (symbolic bounds too), None and Ellipsis."""
    key = key if isinstance(key, tuple) else (key,)
    used = sum(1 for k in key if k is not None and k is not Ellipsis)
    if Ellipsis in key:
        at = key.index(Ellipsis)
        key = key[:at] + (slice(None),) * (len(shape) - used) + key[at + 1:]
    key = key + (slice(None),) * (len(shape) - sum(1 for k in key if k is not None))
    out, d = [], 0
    for k in key:
        if k is None:
            out.append(1)
            continue
        size = shape[d]
        d += 1
        if isinstance(k, slice):
            out.append(_slice_length(size, k))
        elif isinstance(k, (int, SymInt)):
            _require("index", (k < size) & (k >= -size) if is_sym(k) or is_sym(size)
                     else -size <= k < size, f"index {k} is out of range for size {size}")
        else:
            raise TypeError(f"symbolic shapes: index {k!r} is not supported (ints, slices, "
                            "None and ... are)")
    return tuple(out)


def _slice_length(size, key):
    start, stop, step = key.start, key.stop, key.step or 1
    if not any(is_sym(v) for v in (size, start, stop)):
        return len(range(*slice(start, stop, step).indices(size)))
    if step != 1:
        raise SymbolicDimensionError(f"a slice with step {step} of a symbolic size")
    whole = start is None or isinstance(start, int) and start == 0  # no guard on a SymInt
    if whole and stop is None:  # x[:, ...]: the whole dimension
        return size
    n = _lift(size)

    def clamp(v, default):
        if v is None:
            return default
        v = _lift(v)
        if v.is_Integer and v < 0:
            v = n + v
        if v.is_Integer and v == 0 or v == n:
            return v
        return _bounded(sympy.Min, _bounded(sympy.Max, v, 0), n)

    return _size(_bounded(sympy.Max, clamp(stop, n) - clamp(start, sympy.Integer(0)), 0))


def _bounded(extreme, a, b):
    """Min/Max simplified by sympy on small sizes; left unevaluated on large nested ones,
    where sympy's simplification costs seconds (U-Net skips cropped to size)."""
    small = sympy.count_ops(a) + sympy.count_ops(b) <= 8
    return extreme(a, b, evaluate=small)


# --------------------------------------------------------------------------- the result
@dataclass
class LayerRow:
    name: str
    layer: str
    input_shapes: list
    output_shapes: list
    params: int = 0
    notes: list = field(default_factory=list)  # the rule's formulas (--explain)

    def as_dict(self):
        return {"name": self.name, "layer": self.layer, "params": self.params,
                "input_shapes": [[_dim(s) for s in shape] for shape in self.input_shapes],
                "output_shapes": [[_dim(s) for s in shape] for shape in self.output_shapes]}


def _dim(size):
    return size if isinstance(size, int) else str(size)


@dataclass
class ShapeAnalysis:
    """``analyze``'s answer: per-layer formulas, the conditions, the smallest input."""

    symbols: list
    rows: list
    output_shapes: list
    conditions: list
    constraints: list = field(default_factory=list)  # simplified, Python text
    guards: list = field(default_factory=list)
    smallest: dict = None
    failure: str = None  # why no size works (the layer at fault), or the error met

    @property
    def ok(self):
        return self.failure is None

    def as_dict(self):
        return {"symbols": self.symbols, "layers": [r.as_dict() for r in self.rows],
                "output_shapes": [[_dim(s) for s in shape] for shape in self.output_shapes],
                "constraints": self.constraints, "guards": self.guards,
                "smallest": self.smallest, "failure": self.failure,
                "conditions": [{"kind": c.kind, "layer": c.layer, "condition": c.python,
                                "reason": c.reason} for c in self.conditions]}

    def accepts(self, **sizes):
        """True when the sizes meet every stated (simplified) constraint and guard (never
        when no size works)."""
        names = _PYTHON_NAMES
        return self.smallest is not None and all(
            eval(text, names, sizes) for text in self.constraints + self.guards)  # noqa: S307

    def output_at(self, **sizes):
        """The output shapes with the sizes filled in."""
        names = tuple(self.symbols)
        return [tuple(s if isinstance(s, int) else _compiled(s.expr, names)(
            *[sizes[n] for n in names]) for s in shape) for shape in self.output_shapes]


def _simplify(conditions, symbols, context=()):
    """Per-symbol conditions become their shortest description (found over 1..bound);
    conditions coupling several symbols stay, deduplicated, without the alternatives of an
    ``or`` that no size meets together with the rest (``context``: conditions known too)."""
    exprs = [c.expr for c in conditions]
    single, multi = _split(exprs, symbols)
    known = exprs + list(context)
    multi = [_prune(e, known, symbols) for e in multi]
    out = []
    for name in symbols:
        if not single[name]:
            continue
        values = _values(single[name], name, SEARCH_BOUND)
        text = describe(name, values)
        out += text if text is not None else [to_python(e) for e in single[name]]
    seen = set()
    for e in multi:
        text = to_python(e)
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def _prune(expr, known, symbols):
    if not isinstance(expr, sympy.Or):
        return expr
    others = [e for e in known if e is not expr]
    kept = [alt for alt in expr.args if smallest(others + [alt], symbols) is not None]
    return sympy.Or(*kept) if kept else expr


def _at_fault(conditions, symbols):
    """The first condition that no size meets together with those before it."""
    for i in range(len(conditions)):
        if smallest([c.expr for c in conditions[:i + 1]], symbols) is None:
            return conditions[i]
    return None


def analyze(model, dims, *extra, hints=None):
    """Run ``model`` on an input of sizes ``dims`` (ints and names, e.g. ("N", 3, "H", "W"));
    more inputs follow as further tuples.  Returns a ``ShapeAnalysis``."""
    shapes_in = [tuple(dims), *map(tuple, extra)]
    symbols = {}
    inputs = []
    for shape in shapes_in:
        sizes = []
        for s in shape:
            if isinstance(s, SymInt):
                s = s.expr.name
            if isinstance(s, str):
                if not s.isidentifier():
                    raise ValueError(f"symbolic size {s!r} is not a name")
                symbols.setdefault(s, SymInt(s))
                sizes.append(symbols[s])
            else:
                sizes.append(operator.index(s))
        inputs.append(SymbolicTensor.of(sizes))
    names = list(symbols)
    analysis = Analysis(symbols, hints or {})
    rows = []
    failure = None
    outputs = []
    _active.append(analysis)
    try:
        with _intercept(model, rows, analysis), _symbolic_functions():
            out = model(*inputs)
        outputs = [tuple(t.shape) for t in _flat(out)]
    except ShapeError as exc:  # a condition no size meets (fixed sizes, or sympy proved it)
        failure = f"no input size works: {analysis.failed_in or type(model).__name__}: " \
                  f"{exc.reason}" + (f" ({exc.hint})" if exc.hint else "")
    except Exception as exc:  # noqa: BLE001 - the model's own code may raise anything: reported
        failure = f"{analysis.failed_in or type(model).__name__}: {type(exc).__name__}: {exc}"
    finally:
        _active.pop()
    result = ShapeAnalysis(names, rows, outputs, analysis.conditions)
    constraints = [c for c in analysis.conditions if c.kind == "constraint"]
    guards = [c for c in analysis.conditions if c.kind == "guard"]
    result.constraints = _simplify(constraints, names, [c.expr for c in guards])
    result.guards = _simplify(guards, names, [c.expr for c in constraints])
    if failure is None:
        result.smallest = smallest([c.expr for c in analysis.conditions], names, hints)
        if result.smallest is None:
            culprit = _at_fault(analysis.conditions, names)
            earlier = [c for c in analysis.conditions[:analysis.conditions.index(culprit)]]
            result.failure = (f"no input size works: {culprit.layer} needs {culprit.python} "
                              f"({culprit.reason})" + (
                                  ", which contradicts " + "; ".join(
                                      f"{c.layer}: {c.python}" for c in earlier[-3:])
                                  if earlier else ""))
    else:
        result.failure = failure
    return result


def _flat(out):
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in _flat(o)]
    if isinstance(out, dict):
        return [t for o in out.values() for t in _flat(o)]
    return []


_CONTAINERS = ("Sequential", "ModuleList", "ModuleDict")


def _rule_describes(module):
    """nncheck's shape rules speak for nncheck's forwards: a user's subclass that overrides
    ``forward`` (a LayerNorm2d that permutes first) runs its own code instead."""
    mro = type(module).__mro__
    rule_owner = next((c for c in mro if "infer_shape" in c.__dict__), None)
    forward_owner = next((c for c in mro if "forward" in c.__dict__), None)
    return rule_owner is not None and (forward_owner.__module__.startswith("nncheck.")
                                       or issubclass(rule_owner, forward_owner))


class _intercept:
    """While the analysis runs, a layer with a shape rule answers from the rule (its
    ``forward`` is shadowed on the instance); a module without one runs its own code on
    symbolic tensors.  Either way the layer's name is what conditions are charged to."""

    def __init__(self, model, rows, analysis):
        self.model, self.rows, self.analysis = model, rows, analysis
        self.patched = []

    def __enter__(self):
        for name, module in self.model.named_modules():
            kind = type(module).__name__
            label = f"{name} ({kind})" if name else kind
            rule = getattr(module, "infer_shape", None) if _rule_describes(module) else None
            saved = (module.__dict__["_parameters"], module.__dict__["_buffers"])
            self.patched.append((module, saved))
            if kind not in _CONTAINERS:
                module.__dict__["forward"] = self._by_rule(module, label, rule) if rule \
                    else self._by_code(module, label, module.forward)
            # the model's own code meets its weights as symbolic tensors too (x @ w.T, ...)
            for store, tensors in zip(("_parameters", "_buffers"), saved):
                module.__dict__[store] = {
                    k: SymbolicTensor.of(t.shape, t.dtype) if isinstance(t, Tensor) else t
                    for k, t in tensors.items()}
        return self

    def __exit__(self, *exc):
        for module, (parameters, buffers) in self.patched:
            module.__dict__.pop("forward", None)
            module.__dict__["_parameters"], module.__dict__["_buffers"] = parameters, buffers

    def _by_rule(self, module, label, rule):
        """A layer answering from its shape rule (and recording a row of the table)."""
        analysis, rows = self.analysis, self.rows
        params = sum(p.numel() for p in module.parameters())

        def forward(*args, **kwargs):
            tensors = [a for a in args if isinstance(a, Tensor)]
            previous, analysis.layer = analysis.layer, label
            try:
                in_shapes = [tuple(t.shape) for t in tensors]
                notes = []
                outs = rule(*in_shapes, explain=notes)
                rows.append(LayerRow(label, type(module).__name__, in_shapes, list(outs),
                                     params, notes))
            except Exception:
                analysis.failed_in = analysis.failed_in or label
                raise
            finally:
                analysis.layer = previous
            results = [SymbolicTensor.of(s, tensors[0].dtype if tensors else dt.float32)
                       for s in outs]
            return results[0] if len(results) == 1 else tuple(results)

        return forward

    def _by_code(self, module, label, original):
        analysis = self.analysis

        def forward(*args, **kwargs):
            previous, analysis.layer = analysis.layer, label
            try:
                return original(*args, **kwargs)
            except Exception:
                analysis.failed_in = analysis.failed_in or label
                raise
            finally:
                analysis.layer = previous

        return forward


# --------------------------------------------------------------------------- functional
class _symbolic_functions:
    """``F.relu``, ``F.pad``, ``nncheck.cat``, ... on symbolic tensors answer by shape alone
    (the model's code looks them up at call time); their real versions come back after."""

    def __enter__(self):
        import nncheck
        import nncheck.nn.functional as F

        self.saved = []
        for namespace, table in ((F, _functional_rules()), (nncheck, _torch_rules())):
            for name, rule in table.items():
                original = getattr(namespace, name, None)
                if original is None:
                    continue
                self.saved.append((namespace, name, original))
                setattr(namespace, name, _dispatch(original, rule))
        return self

    def __exit__(self, *exc):
        for namespace, name, original in self.saved:
            setattr(namespace, name, original)


def _dispatch(original, rule):
    def call(*args, **kwargs):
        if any(isinstance(a, SymbolicTensor) for a in _flat_args(args, kwargs)):
            return rule(*args, **kwargs)
        return original(*args, **kwargs)

    call.__wrapped__ = original
    return call


def _flat_args(args, kwargs):
    for a in list(args) + list(kwargs.values()):
        if isinstance(a, (list, tuple)):
            yield from a
        else:
            yield a


def _same_shape(input, *args, **kwargs):
    return input._like(input.shape)


def _by_module(cls_name, **fixed):
    def rule(input, *args, **kwargs):
        from . import device
        from .nn import modules

        kwargs = {k: v for k, v in kwargs.items() if k not in ("inplace",)}
        with device("meta"):
            layer = getattr(modules, cls_name)(*args, **kwargs, **fixed)
        (shape,) = layer.infer_shape(tuple(input.shape))[:1]
        return input._like(shape)

    return rule


def _pad(input, pad, mode="constant", value=None):
    """F.pad with computed (symbolic) amounts: the limits of nn/functional/padding.py."""
    pads = list(pad)
    if len(pads) % 2 or len(pads) // 2 > input.ndim:
        raise RuntimeError(f"pad: {len(pads)} padding values for a {input.ndim}-D input")
    shape = list(input.shape)
    for i in range(len(pads) // 2):
        axis = input.ndim - 1 - i
        left, right, n = pads[2 * i], pads[2 * i + 1], shape[axis]
        where = f"padding ({left}, {right}) of size {n} at dim {axis}"
        kept = n - sym_max(-left, 0) - sym_max(-right, 0)
        if mode == "reflect":
            _require("pad", (left < n) & (right < n), f"reflect {where}: pads must be smaller "
                                                      "than the size")
        elif mode == "circular":
            _require("pad", (left <= kept) & (right <= kept), f"circular {where} wraps more "
                                                              "than once")
        if mode in ("constant", "circular"):
            _require("pad", kept >= 0, f"{mode} {where} crops more than the size")
        shape[axis] = n + left + right
        _require("pad", shape[axis] >= 0, f"{mode} {where}: the output size is negative")
    return input._like(tuple(shape))


def _cat(tensors, dim=0, **_):
    tensors = [t for t in tensors if not (t.ndim == 1 and t.shape[0] == 0)]
    first = tensors[0]
    d = first._dim(dim)
    for t in tensors[1:]:
        if t.ndim != first.ndim:
            raise RuntimeError(f"cat: tensors must have the same number of dimensions, got "
                               f"{first.ndim} and {t.ndim}")
        for i, (a, b) in enumerate(zip(first.shape, t.shape)):
            if i != d and not (isinstance(a, int) and isinstance(b, int) and a == b):
                _require("cat", a == b, f"cat along dim {d}: sizes {a} and {b} at dim {i} "
                                        "must be equal")
    size = sum(t.shape[d] for t in tensors)
    return first._like(first.shape[:d] + (size,) + first.shape[d + 1:])


def _stack(tensors, dim=0, **_):
    first = tensors[0]
    for t in tensors[1:]:
        for i, (a, b) in enumerate(zip(first.shape, t.shape)):
            _require("stack", a == b, f"stack: sizes {a} and {b} at dim {i} must be equal")
    d = dim % (first.ndim + 1)
    return first._like(first.shape[:d] + (len(tensors),) + first.shape[d:])


def _flatten(input, start_dim=0, end_dim=-1):
    return input.flatten(start_dim, end_dim)


def _layer_norm(input, normalized_shape, *args, **kwargs):
    normalized = tuple(normalized_shape) if isinstance(normalized_shape, (tuple, list)) \
        else (normalized_shape,)
    tail = tuple(input.shape[input.ndim - len(normalized):])
    _require("layer_norm", len(tail) == len(normalized) and all(
        a == b for a, b in zip(tail, normalized)) if not any(map(is_sym, tail)) else
        _truth(sympy.And(*[sympy.Eq(_lift(a), b) for a, b in zip(tail, normalized)])),
        f"layer_norm: the input's last dimensions {list(tail)} must be normalized_shape "
        f"{list(normalized)}")
    return input._like(input.shape)


def _linear(input, weight, bias=None):
    _require("linear", input.shape[-1] == weight.shape[-1],
             f"linear: the input's last dimension {input.shape[-1]} must equal in_features="
             f"{weight.shape[-1]}")
    return input._like(tuple(input.shape[:-1]) + tuple(weight.shape[:-1]))


def _functional_rules():
    elementwise = ("relu", "relu6", "gelu", "silu", "mish", "sigmoid", "tanh", "hardtanh",
                   "leaky_relu", "elu", "selu", "celu", "softplus", "hardswish",
                   "hardsigmoid", "dropout", "dropout1d", "dropout2d", "dropout3d",
                   "alpha_dropout", "softmax", "log_softmax", "group_norm",
                   "batch_norm", "instance_norm", "normalize")
    rules = {name: _same_shape for name in elementwise}
    rules.update(pad=_pad, linear=_linear, layer_norm=_layer_norm,
                 interpolate=_by_module("Upsample"),
                 pixel_shuffle=_by_module("PixelShuffle"),
                 pixel_unshuffle=_by_module("PixelUnshuffle"))
    for d in (1, 2, 3):
        for fn, cls in (("max_pool", "MaxPool"), ("avg_pool", "AvgPool"),
                        ("adaptive_avg_pool", "AdaptiveAvgPool"),
                        ("adaptive_max_pool", "AdaptiveMaxPool")):
            rules[f"{fn}{d}d"] = _by_module(f"{cls}{d}d")
    return rules


def _torch_rules():
    return {"cat": _cat, "concat": _cat, "concatenate": _cat, "stack": _stack,
            "flatten": _flatten, "relu": _same_shape, "sigmoid": _same_shape,
            "tanh": _same_shape, "add": lambda a, b, **_: a._broadcast(b)
            if isinstance(a, SymbolicTensor) else b._broadcast(a),
            "matmul": lambda a, b: a._like(matmul_shape(a.shape, b.shape))}
