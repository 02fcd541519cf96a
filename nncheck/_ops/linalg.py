"""Products and matrix structure: einsum, tensordot, outer, addmm/addmv/addr/baddbmm/
addbmm, mv, cdist, diag/diagonal/diag_embed, tril/triu, trace, cross, kron; matrix
functions det/inverse/slogdet/logdet/cholesky/matrix_exp/matrix_power."""

import string
from collections import namedtuple

from .._lazy import np
from ..ops import Op, sum_to_shape
from ..tensor import Tensor, matmul, stack, where


# --------------------------------------------------------------------------- einsum
class Einsum(Op):
    """``np.einsum`` on explicit subscripts (one letter per axis, no ellipsis); operands
    are already broadcast where a letter's sizes differ (size 1 against n)."""

    @staticmethod
    def forward(ctx, inputs, output, *operands):
        ctx.inputs, ctx.output = inputs, output
        ctx.save_for_backward(*operands)
        return _einsum(inputs, operands, output)

    @staticmethod
    def backward(ctx, g):
        operands = ctx.saved_tensors
        grads = [None, None]
        for i, (subs, op) in enumerate(zip(ctx.inputs, operands)):
            if not ctx.needs_input_grad[i + 2]:
                grads.append(None)
                continue
            others = [(s, o) for j, (s, o) in enumerate(zip(ctx.inputs, operands)) if j != i]
            known = set(ctx.output).union(*(s for s, _ in others))
            # letters of this operand, once each; those only it has get broadcast back
            letters = "".join(dict.fromkeys(c for c in subs if c in known))
            partial = _einsum([ctx.output, *(s for s, _ in others)],
                              [g, *(o for _, o in others)], letters)
            sizes = {c: n for c, n in zip(subs, op.shape)}
            full = "".join(dict.fromkeys(subs))
            partial = np.broadcast_to(
                partial.reshape([sizes[c] if c in letters else 1 for c in full]),
                [sizes[c] for c in full]) if letters != full else partial
            if len(full) == len(subs):
                grads.append(np.ascontiguousarray(partial))
            else:  # a repeated letter (a diagonal): write back onto that diagonal
                out = np.zeros(op.shape, g.dtype)
                grid = np.indices(partial.shape, sparse=True)
                out[tuple(grid[full.index(c)] for c in subs)] = partial
                grads.append(out)
        return tuple(grads)


def _einsum(inputs, operands, output):
    """``np.einsum`` of explicit subscripts; two operands go through one batched matmul
    (numpy's einsum does not use BLAS for batch letters, as attention's have)."""
    if len(operands) != 2 or any(len(set(t)) != len(t) for t in inputs):
        return np.asarray(np.einsum(f"{','.join(inputs)}->{output}", *operands,
                                    optimize=True))
    (sa, sb), (a, b) = inputs, operands
    # letters only one operand has and the output lacks are summed out first
    a = a.sum(tuple(i for i, c in enumerate(sa) if c not in sb and c not in output))
    sa = "".join(c for c in sa if c in sb or c in output)
    b = b.sum(tuple(i for i, c in enumerate(sb) if c not in sa and c not in output))
    sb = "".join(c for c in sb if c in sa or c in output)
    batch = [c for c in sa if c in sb and c in output]
    left = [c for c in sa if c not in sb]
    right = [c for c in sb if c not in sa]
    inner = [c for c in sa if c in sb and c not in output]
    size = {**dict(zip(sa, a.shape)), **dict(zip(sb, b.shape))}

    def prod(letters):
        return int(np.prod([size[c] for c in letters], dtype=np.int64))

    a = a.transpose([sa.index(c) for c in batch + left + inner]).reshape(
        prod(batch), prod(left), prod(inner))
    b = b.transpose([sb.index(c) for c in batch + inner + right]).reshape(
        prod(batch), prod(inner), prod(right))
    out = np.matmul(a, b).reshape([size[c] for c in batch + left + right])
    order = batch + left + right
    return np.ascontiguousarray(out.transpose([order.index(c) for c in output]))


def _parse_einsum(equation, shapes):
    """Explicit per-operand subscripts and output for ``equation`` (with ``...`` spelled
    out as spare letters, right-aligned as numpy broadcasts them)."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        which = "more" if len(shapes) > len(terms) else "fewer"
        raise RuntimeError(f"einsum(): {which} operands were provided than specified in the "
                           "equation")
    for ch in eq:
        if not (ch.isalpha() or ch in ",.->"):
            raise RuntimeError(f"einsum(): invalid subscript given at index {eq.index(ch)} in "
                               f"the equation string, subscripts must be in [a-zA-Z]")
    spare = [c for c in string.ascii_letters if c not in eq]
    n_ellipsis = max((len(s) - len(t.replace("...", "")) for t, s in zip(terms, shapes)
                      if "..." in t), default=0)
    ellipsis = "".join(spare[:n_ellipsis])
    explicit = []
    for t, shape in zip(terms, shapes):
        if "..." in t:
            t = t.replace("...", ellipsis[n_ellipsis - (len(shape) - len(t) + 3):])
        if len(t) != len(shape):
            raise RuntimeError(f"einsum(): the number of subscripts in the equation "
                               f"({len(t)}) does not match the number of dimensions "
                               f"({len(shape)}) for operand {len(explicit)}"
                               f"{'' if '...' in lhs else ' and no ellipsis was given'}")
        explicit.append(t)
    if arrow:
        out = rhs.replace("...", ellipsis)
    else:  # implicit output: the ellipsis, then letters seen once, in alphabetical order
        counts = "".join(explicit)
        out = ellipsis + "".join(sorted(c for c in set(counts)
                                        if counts.count(c) == 1 and c not in ellipsis))
    return explicit, out


def einsum(equation, *operands):
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not isinstance(equation, str):
        raise NotImplementedError("einsum() in sublist format is not provided by nncheck; "
                                  "pass an equation string")
    inputs, output = _parse_einsum(equation, [tuple(o.shape) for o in operands])
    sizes = {}
    for subs, op in zip(inputs, operands):
        for c, n in zip(subs, op.shape):
            if sizes.get(c, n) != n and 1 not in (n, sizes[c]):
                raise RuntimeError(f"einsum(): operands do not broadcast with remapped shapes "
                                   f"(original->remapped): subscript {c!r} has size "
                                   f"{sizes[c]} and {n}")
            sizes[c] = max(sizes.get(c, 1), n)
    for c in output:
        if c not in sizes:
            raise RuntimeError(f"einsum(): output subscript {c} does not appear in the "
                               f"equation for any input operand")
    # a size-1 axis meeting a size-n one broadcasts: expand it (autograd sums it back)
    operands = [op.expand([sizes[c] for c in subs]) if any(
        n != sizes[c] for c, n in zip(subs, op.shape)) else op
        for subs, op in zip(inputs, operands)]
    return Einsum.apply(tuple(inputs), output, *operands)


# --------------------------------------------------------------------------- products
def tensordot(a, b, dims=2, out=None):
    if isinstance(dims, int):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        dims_a, dims_b = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        dims_a, dims_b = ([d] if isinstance(d, int) else list(d) for d in
                          (dims.tolist() if isinstance(dims, Tensor) else dims))
    dims_a, dims_b = [a._dim(d) for d in dims_a], [b._dim(d) for d in dims_b]
    if len(dims_a) != len(dims_b):
        raise RuntimeError("both dimension lists should have same length")
    for da, db in zip(dims_a, dims_b):
        if a.shape[da] != b.shape[db]:
            raise RuntimeError(f"contracted dimensions need to match, but first has size "
                               f"{a.shape[da]} in dim {da} and second has size {b.shape[db]} "
                               f"in dim {db}")
    free_a = [d for d in range(a.ndim) if d not in dims_a]
    free_b = [d for d in range(b.ndim) if d not in dims_b]
    inner = int(np.prod([a.shape[d] for d in dims_a]))
    left = a.permute(*free_a, *dims_a).reshape(-1, inner)
    right = b.permute(*dims_b, *free_b).reshape(inner, -1)
    return matmul(left, right).reshape(*[a.shape[d] for d in free_a],
                                       *[b.shape[d] for d in free_b])


def _need_ndim(what, **tensors):
    for name, (t, n) in tensors.items():
        if t.ndim != n:
            raise RuntimeError(f"{what}: {name} must be a {n}-D tensor, got {t.ndim}-D "
                               f"(shape {list(t.shape)})")


def outer(input, vec2):
    _need_ndim("outer", input=(input, 1), vec2=(vec2, 1))
    return input.reshape(-1, 1) * vec2.reshape(1, -1)


def mv(input, vec):
    _need_ndim("mv", input=(input, 2), vec=(vec, 1))
    return matmul(input, vec)


def _scaled_sum(input, product, beta, alpha):
    """``beta * input + alpha * product``; beta = 0 ignores input's values (NaN included)
    but, as in PyTorch, input still gets a (zero) gradient."""
    if alpha != 1:
        product = product * alpha
    if beta == 0:
        return where(False, input, product)
    return product + (input * beta if beta != 1 else input)


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    _need_ndim("addmm", mat1=(mat1, 2), mat2=(mat2, 2))
    return _scaled_sum(input, mat1.mm(mat2), beta, alpha)


def addmv(input, mat, vec, *, beta=1, alpha=1):
    return _scaled_sum(input, mv(mat, vec), beta, alpha)


def addr(input, vec1, vec2, *, beta=1, alpha=1):
    return _scaled_sum(input, outer(vec1, vec2), beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    _need_ndim("baddbmm", batch1=(batch1, 3), batch2=(batch2, 3))
    return _scaled_sum(input, batch1.bmm(batch2), beta, alpha)


def addbmm(input, batch1, batch2, *, beta=1, alpha=1):
    _need_ndim("addbmm", batch1=(batch1, 3), batch2=(batch2, 3))
    return _scaled_sum(input, batch1.bmm(batch2).sum(0), beta, alpha)


def kron(input, other):
    n = max(input.ndim, other.ndim)
    a = input.reshape((1,) * (n - input.ndim) + tuple(input.shape))
    b = other.reshape((1,) * (n - other.ndim) + tuple(other.shape))
    # interleave the axes: a's axis i against b's axis i, then merge each pair
    prod = a.reshape([s for d in a.shape for s in (d, 1)]) * \
        b.reshape([s for d in b.shape for s in (1, d)])
    return prod.reshape([x * y for x, y in zip(a.shape, b.shape)])


def cross(input, other, dim=None):
    if dim is None:  # PyTorch's default: the first dimension of size 3
        dim = next((i for i, s in enumerate(np.broadcast_shapes(input.shape, other.shape))
                    if s == 3), None)
        if dim is None:
            raise RuntimeError("no dimension of size 3 in input")
    d = input._dim(dim)
    if input.shape[d] != 3 or other.shape[d] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {d} must have length 3. Got "
                           f"{input.shape[d]} and {other.shape[d]}")
    a = [input.select(d, i) for i in range(3)]
    b = [other.select(d, i) for i in range(3)]
    return stack([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2],
                  a[0] * b[1] - a[1] * b[0]], d)


# --------------------------------------------------------------------------- distances
class CDist(Op):
    """p-norm distance between each row of ``x1`` and each row of ``x2`` (batched)."""

    @staticmethod
    def forward(ctx, x1, x2, p, use_mm):
        ctx.p = p
        if use_mm:  # PyTorch's way for larger inputs: |a|^2 + |b|^2 - 2 a.b in one matmul
            sq = (x1 * x1).sum(-1)[..., :, None] + (x2 * x2).sum(-1)[..., None, :]
            out = np.sqrt(np.maximum(sq - 2 * (x1 @ np.swapaxes(x2, -1, -2)), 0))
            ctx.save_for_backward(x1, x2, out)
            return out
        diff = x1[..., :, None, :] - x2[..., None, :, :]
        ad = np.abs(diff)
        if p == np.inf:
            out = ad.max(-1) if ad.shape[-1] else np.zeros(ad.shape[:-1], ad.dtype)
        elif p == 0:
            out = (ad != 0).sum(-1).astype(x1.dtype)
        else:
            out = (ad ** p).sum(-1) ** (1.0 / p)
        ctx.save_for_backward(x1, x2, out)
        return out

    @staticmethod
    def backward(ctx, g):
        x1, x2, out = ctx.saved_tensors
        p = ctx.p
        if p == 2:  # sum_j w_ij (x1_i - x2_j) with w = g / dist: two matmuls, no P x R x M
            with np.errstate(divide="ignore", invalid="ignore"):
                w = np.where(out == 0, 0, g / out)
            g1 = x1 * w.sum(-1)[..., None] - w @ x2 if ctx.needs_input_grad[0] else None
            g2 = x2 * w.sum(-2)[..., None] - np.swapaxes(w, -1, -2) @ x1 \
                if ctx.needs_input_grad[1] else None
            return _unbroadcast(g1, x1.shape), _unbroadcast(g2, x2.shape)
        diff = x1[..., :, None, :] - x2[..., None, :, :]
        dist = out[..., None]
        with np.errstate(divide="ignore", invalid="ignore"):
            if p == 0:
                local = np.zeros_like(diff)
            elif p == np.inf:
                ad = np.abs(diff)
                local = np.sign(diff) * (ad == dist)
            elif p == 1:
                local = np.sign(diff)
            else:
                local = np.sign(diff) * np.abs(diff) ** (p - 1) / dist ** (p - 1)
            # zero distance: PyTorch's gradient is 0 there
            local = np.where(dist == 0, 0, local)
        dx = g[..., None] * local
        g1 = dx.sum(-2) if ctx.needs_input_grad[0] else None
        g2 = -dx.sum(-3) if ctx.needs_input_grad[1] else None
        return _unbroadcast(g1, x1.shape), _unbroadcast(g2, x2.shape)


def _unbroadcast(g, shape):
    return g if g is None else sum_to_shape(g, shape)


def cdist(x1, x2, p=2.0, compute_mode=None):
    if x1.ndim < 2 or x2.ndim < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors, X1 got: {x1.ndim}D"
                           if x1.ndim < 2 else
                           f"cdist only supports at least 2D tensors, X2 got: {x2.ndim}D")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: "
                           f"{x1.shape[-1]} X2: {x2.shape[-1]}")
    if p < 0:
        raise RuntimeError("cdist only supports non-negative p values")
    # as PyTorch's default compute_mode: the matmul form for p = 2 beyond 25 rows
    use_mm = p == 2 and (compute_mode == "use_mm_for_euclid_dist" or (
        compute_mode in (None, "use_mm_for_euclid_dist_if_necessary")
        and (x1.shape[-2] > 25 or x2.shape[-2] > 25)))
    return CDist.apply(x1, x2, float(p), use_mm)


# --------------------------------------------------------------------------- structure
class Triangle(Op):
    @staticmethod
    def forward(ctx, a, diagonal, upper):
        ctx.diagonal, ctx.pick = diagonal, np.triu if upper else np.tril
        return ctx.pick(a, diagonal)

    @staticmethod
    def backward(ctx, g):
        return ctx.pick(g, ctx.diagonal)


def _triangle(input, diagonal, upper):
    if input.ndim < 2:
        raise RuntimeError(f"{'triu' if upper else 'tril'}: input tensor must have at least 2 "
                           "dimensions")
    return Triangle.apply(input, int(diagonal), upper)


def tril(input, diagonal=0):
    return _triangle(input, diagonal, False)


def triu(input, diagonal=0):
    return _triangle(input, diagonal, True)


def tril_(self, diagonal=0):
    return self._apply_inplace(lambda s: tril(s, diagonal))


def triu_(self, diagonal=0):
    return self._apply_inplace(lambda s: triu(s, diagonal))


def _diagonal_key(shape, offset, dim1, dim2):
    """Index arrays that address ``diagonal(offset, dim1, dim2)`` of a ``shape`` array,
    the diagonal's axis last (numpy's and PyTorch's layout)."""
    rows, cols = shape[dim1], shape[dim2]
    start1, start2 = max(-offset, 0), max(offset, 0)
    n = max(min(rows - start1, cols - start2), 0)
    steps = np.arange(n)
    others = [d for d in range(len(shape)) if d not in (dim1, dim2)]
    grid = np.indices([shape[d] for d in others], sparse=True) if others else ()
    key = [None] * len(shape)
    for axis, g in zip(others, grid):
        key[axis] = g[..., None]
    key[dim1] = start1 + steps
    key[dim2] = start2 + steps
    return tuple(key)


class Diagonal(Op):
    @staticmethod
    def forward(ctx, a, offset, dim1, dim2):
        ctx.shape, ctx.key = a.shape, _diagonal_key(a.shape, offset, dim1, dim2)
        return a[ctx.key]

    @staticmethod
    def backward(ctx, g):
        out = np.zeros_like(g, shape=ctx.shape)
        out[ctx.key] = g
        return out


class DiagEmbed(Op):
    """The last axis of ``a`` written onto the ``offset`` diagonal of new (dim1, dim2)."""

    @staticmethod
    def forward(ctx, a, offset, dim1, dim2):
        n = a.shape[-1] + abs(offset)
        shape = list(a.shape[:-1])
        for d in sorted((dim1, dim2)):
            shape.insert(d, n)
        ctx.key = _diagonal_key(tuple(shape), offset, dim1, dim2)
        out = np.zeros(shape, a.dtype)
        out[ctx.key] = a
        return out

    @staticmethod
    def backward(ctx, g):
        return np.ascontiguousarray(g[ctx.key])


def diagonal(input, offset=0, dim1=0, dim2=1):
    d1, d2 = input._dim(dim1), input._dim(dim2)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return Diagonal.apply(input, int(offset), d1, d2)


def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    n = input.ndim + 1
    d1, d2 = (d % n if -n <= d < n else input._dim(d) for d in (dim1, dim2))
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return DiagEmbed.apply(input, int(offset), d1, d2)


def diag(input, diagonal=0):
    if input.ndim == 1:
        return diag_embed(input, diagonal, 0, 1)
    if input.ndim == 2:
        return Diagonal.apply(input, int(diagonal), 0, 1)
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {input.ndim}D")


def trace(input):
    if input.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {input.ndim}")
    return diagonal(input).sum()


def inner(input, other):
    """Sum over the last dimension of both (a product if either is 0-d)."""
    if input.ndim == 0 or other.ndim == 0:
        return input * other
    if input.shape[-1] != other.shape[-1]:
        raise RuntimeError(f"inner() the last dimension must match on both input tensors but "
                           f"got shapes {list(input.shape)} and {list(other.shape)}")
    return tensordot(input, other, ([-1], [-1]))


def vdot(input, other):
    _need_ndim("vdot", input=(input, 1), other=(other, 1))
    if input.shape != other.shape:
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{input.shape[0]}] and "
                           f"src [{other.shape[0]}] to have the same number of elements, but "
                           "got different sizes")
    return (input.conj() * other).sum()


ger = outer


def diagflat(input, offset=0):
    return diag(input.reshape(-1), offset)


def vander(x, N=None, increasing=False):
    """Columns x**0 .. x**(N-1) (decreasing powers unless ``increasing``)."""
    _need_ndim("vander", x=(x, 1))
    n = x.shape[0] if N is None else N
    if n < 0:
        raise RuntimeError("N must be non-negative.")
    powers = np.arange(n) if increasing else np.arange(n)[::-1]
    if n == 0:
        return x.new_zeros(x.shape[0], 0)
    # a product of columns (not x ** k), so the gradient at x = 0 is exact
    columns = [x.new_ones(x.shape[0])]
    for _ in range(1, n):
        columns.append(columns[-1] * x)
    return stack([columns[k] for k in powers], 1)


# --------------------------------------------------------------------------- matrix functions
def _square(what, A):
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"{what}: A must be batches of square matrices, but they are "
                           f"{A.shape[-2] if A.ndim >= 2 else 1} by {A.shape[-1]} matrices")
    if not A.dtype.is_floating_point:
        raise RuntimeError(f"{what}: Expected a floating point tensor as input. Got "
                           f"{A.dtype.name.capitalize()}")


def _mT(a):
    return np.swapaxes(a, -1, -2)


def _cofactors(a):
    """The cofactor matrices (d det / d a) of a batch of square matrices, singular ones
    included (a determinant of each minor)."""
    n = a.shape[-1]
    out = np.empty_like(a)
    if n == 1:
        return np.ones_like(a)
    for i in range(n):
        for j in range(n):
            minor = np.delete(np.delete(a, i, -2), j, -1)
            out[..., i, j] = (-1) ** (i + j) * np.linalg.det(minor)
    return out


class Det(Op):
    @staticmethod
    def forward(ctx, a):
        out = np.linalg.det(a)
        ctx.save_for_backward(a, out)
        return np.asarray(out)

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        if np.all(out != 0):
            cof = _mT(np.linalg.inv(a)) * out[..., None, None]
        else:  # singular: the cofactors are the gradient (inv does not exist)
            cof = _cofactors(a)
        return g[..., None, None] * cof


class Inverse(Op):
    @staticmethod
    def forward(ctx, a):
        out = np.linalg.inv(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (inv,) = ctx.saved_tensors
        return -_mT(inv) @ g @ _mT(inv)


class LogAbsDet(Op):
    """log|det A| and its sign (whose gradient is zero, but which is in the graph, as in
    PyTorch)."""

    @staticmethod
    def forward(ctx, a):
        sign, logabs = np.linalg.slogdet(a)
        ctx.save_for_backward(a)
        return np.asarray(sign), np.asarray(logabs)

    @staticmethod
    def backward(ctx, g_sign, g):
        (a,) = ctx.saved_tensors
        return g[..., None, None] * _mT(np.linalg.inv(a))


class Cholesky(Op):
    @staticmethod
    def forward(ctx, a, upper):
        try:
            low = np.linalg.cholesky(a)
        except np.linalg.LinAlgError:
            raise RuntimeError("linalg.cholesky: The factorization could not be completed "
                               "because the input is not positive-definite.") from None
        ctx.upper = upper
        ctx.save_for_backward(low)
        return _mT(low).copy() if upper else low

    @staticmethod
    def backward(ctx, g):
        # Murray (2016): with P = Phi(L^T G) (lower triangle, diagonal halved),
        # dA = sym(L^-T P L^-1)
        (low,) = ctx.saved_tensors
        if ctx.upper:
            g = _mT(g)
        p = np.tril(_mT(low) @ g)
        p[..., np.arange(p.shape[-1]), np.arange(p.shape[-1])] *= 0.5
        inv = np.linalg.inv(low)
        s = _mT(inv) @ p @ inv
        return (s + _mT(s)) / 2


class MatrixExp(Op):
    @staticmethod
    def forward(ctx, a):
        from scipy.linalg import expm

        ctx.save_for_backward(a)
        return np.asarray([expm(m) for m in a.reshape(-1, *a.shape[-2:])]).reshape(a.shape)

    @staticmethod
    def backward(ctx, g):
        # the gradient is the upper-right block of exp([[A^T, G], [0, A^T]])
        from scipy.linalg import expm

        (a,) = ctx.saved_tensors
        n = a.shape[-1]
        out = []
        for m, gm in zip(a.reshape(-1, n, n), g.reshape(-1, n, n)):
            block = np.zeros((2 * n, 2 * n), a.dtype)
            block[:n, :n] = block[n:, n:] = m.T
            block[:n, n:] = gm
            out.append(expm(block)[:n, n:])
        return np.asarray(out).reshape(a.shape)


def det(A):
    _square("linalg.det", A)
    return Det.apply(A)


def inverse(A):
    _square("linalg.inv", A)
    if np.any(np.linalg.det(A._data) == 0):
        raise RuntimeError("linalg.inv: The diagonal element 1 is zero, the inversion could "
                           "not be completed because the input matrix is singular.")
    return Inverse.apply(A)


SignLogAbsDet = namedtuple("slogdet", ["sign", "logabsdet"])


def slogdet(A):
    _square("linalg.slogdet", A)
    return SignLogAbsDet(*LogAbsDet.apply(A))


def logdet(A):
    """log(det A): -inf where det is 0; NaN, with a zero gradient, where it is negative
    (as PyTorch)."""
    sign, logabs = slogdet(A)
    return where(sign < 0, float("nan"), logabs)


def cholesky(A, upper=False):
    _square("linalg.cholesky", A)
    return Cholesky.apply(A, upper)


def matrix_exp(A):
    _square("linalg.matrix_exp", A)
    return MatrixExp.apply(A)


def matrix_power(A, n):
    """A to the integer power n, by repeated squaring (A^-1 first for n < 0)."""
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"linalg.matrix_power: A must be batches of square matrices, but "
                           f"they are {A.shape[-2] if A.ndim >= 2 else 1} by {A.shape[-1]} "
                           "matrices")
    if n == 0:  # the identity, in the graph with a zero gradient (as in PyTorch)
        eye = np.broadcast_to(np.eye(A.shape[-1], dtype=A._data.dtype), A.shape)
        return where(False, A, Tensor._wrap(eye.copy()))
    base = inverse(A) if n < 0 else A
    result, n = None, abs(n)
    while n:
        if n & 1:
            result = base if result is None else matmul(result, base)
        n >>= 1
        if n:
            base = matmul(base, base)
    return result


def chain_matmul(*matrices):
    """The product of 2-D matrices, left to right."""
    if not matrices:
        raise RuntimeError("chain_matmul(): Expected one or more matrices")
    for m in matrices:
        _need_ndim("chain_matmul", matrix=(m, 2))
    out = matrices[0]
    for m in matrices[1:]:
        out = matmul(out, m)
    return out
