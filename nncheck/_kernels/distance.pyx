# cython: language_level=3
"""Distance and vector-norm kernels: p-norms along an axis (pairwise_distance, normalize),
cosine similarity and pdist, each with its backward.

Reductions run along the middle axis of an (outer, n, inner) view. The norm derivatives
follow torch's conventions exactly: a zero norm gives a zero gradient, the inf-norm shares
the gradient among the tied maxima (vector norms) or gives it to each of them (pdist).
Shapes and p are validated in nncheck.nn.functional.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport INFINITY, fabs, isnan, pow, sqrt

from nncheck._kernels.parallel cimport PARALLEL_MIN


cdef inline double _sign(double x) noexcept nogil:
    return (x > 0) - (x < 0)


cdef inline double _pnorm(const floating* x, Py_ssize_t n, Py_ssize_t stride,
                          double p) noexcept nogil:
    """The p-norm of x[0], x[stride], ..., x[(n-1)*stride] (p = 0, +-inf allowed)."""
    cdef Py_ssize_t i
    cdef double acc, a
    if p == INFINITY or p == -INFINITY:
        acc = -INFINITY if p > 0 else INFINITY
        if n == 0:
            return 0.0 if p > 0 else INFINITY
        for i in range(n):
            a = fabs(x[i * stride])
            if isnan(a):
                return a
            if (p > 0 and a > acc) or (p < 0 and a < acc):
                acc = a
        return acc
    acc = 0
    if p == 0:
        for i in range(n):
            acc = acc + (x[i * stride] != 0)
        return acc
    if p == 1:
        for i in range(n):
            acc = acc + fabs(x[i * stride])
        return acc
    if p == 2:
        for i in range(n):
            acc = acc + x[i * stride] * x[i * stride]
        return sqrt(acc)
    for i in range(n):
        acc = acc + pow(fabs(x[i * stride]), p)
    return pow(acc, 1.0 / p)


cdef inline double _count_extremes(const floating* x, Py_ssize_t n, Py_ssize_t stride,
                                   double norm) noexcept nogil:
    """How many |x| equal the inf-norm (or are NaN): torch splits the gradient among them."""
    cdef Py_ssize_t i
    cdef double cnt = 0, a
    for i in range(n):
        a = fabs(x[i * stride])
        cnt = cnt + (a == norm or isnan(a))
    return cnt


cdef inline double _norm_deriv(double x, double norm, double p, double n_ext) noexcept nogil:
    """d||v||_p / dv_i at v_i = x, as torch's norm_backward (n_ext: see _count_extremes)."""
    cdef double a = fabs(x)
    if p == 0:
        return 0.0
    if p == 1:
        return _sign(x)
    if p == INFINITY or p == -INFINITY:
        return _sign(x) / n_ext if (a == norm or isnan(a)) else 0.0
    if p == 2:
        return x / norm if norm != 0 else 0.0
    if p < 1:
        return _sign(x) * pow(a, p - 1) * pow(norm, 1 - p) if x != 0 else 0.0
    if norm == 0:
        return 0.0
    if p < 2:
        return _sign(x) * pow(a, p - 1) / pow(norm, p - 1)
    return x * pow(a, p - 2) / pow(norm, p - 1)


# ---------------------------------------------------------------- pairwise distance
def pairwise_forward(const floating[:, ::1] x1, const floating[:, ::1] x2, double eps,
                     double p, floating[:, ::1] diff, floating[::1] out):
    """out[r] = ||x1[r] - x2[r] + eps||_p; diff keeps x1 - x2 + eps for backward."""
    cdef Py_ssize_t R = x1.shape[0], D = x1.shape[1], r, j
    with nogil:
        for r in prange(R, schedule="static", use_threads_if=R * D >= PARALLEL_MIN):
            for j in range(D):
                diff[r, j] = <floating> (x1[r, j] - x2[r, j] + eps)
            out[r] = <floating> _pnorm(&diff[r, 0], D, 1, p)


def pairwise_backward(const floating[:, ::1] diff, const floating[::1] dist,
                      const floating[::1] grad_out, double p, floating[:, ::1] grad_x1,
                      floating[:, ::1] grad_x2, bint need_x2):
    """grad_x1 = grad * d||diff||/d diff, grad_x2 = -grad_x1."""
    cdef Py_ssize_t R = diff.shape[0], D = diff.shape[1], r, j
    cdef double n_ext, gx
    with nogil:
        for r in prange(R, schedule="static", use_threads_if=R * D >= PARALLEL_MIN):
            n_ext = _count_extremes(&diff[r, 0], D, 1, dist[r])
            for j in range(D):
                gx = grad_out[r] * _norm_deriv(diff[r, j], dist[r], p, n_ext)
                grad_x1[r, j] = <floating> gx
                if need_x2:
                    grad_x2[r, j] = <floating> -gx


# ---------------------------------------------------------------- normalize
def normalize_forward(const floating[:, :, ::1] x, double p, double eps,
                      floating[:, ::1] norm, floating[:, :, ::1] out):
    """out = x / max(||x||_p along axis 1, eps); norm keeps the unclamped norms."""
    cdef Py_ssize_t O = x.shape[0], N = x.shape[1], I = x.shape[2], o, i, j
    cdef double nv, den
    with nogil:
        for o in prange(O, schedule="static", use_threads_if=O * N * I >= PARALLEL_MIN):
            for i in range(I):
                nv = _pnorm(&x[o, 0, i], N, I, p)
                norm[o, i] = <floating> nv
                den = nv if nv > eps else eps
                for j in range(N):
                    out[o, j, i] = <floating> (x[o, j, i] / den)


def normalize_backward(const floating[:, :, ::1] x, const floating[:, ::1] norm,
                       const floating[:, :, ::1] grad_out, double p, double eps,
                       floating[:, :, ::1] grad_in):
    """dx = g/d - [n >= eps] * sum(g*x)/d^2 * dn/dx, d = max(n, eps) (clamp_min's rule)."""
    cdef Py_ssize_t O = x.shape[0], N = x.shape[1], I = x.shape[2], o, i, j
    cdef double nv, den, s, n_ext
    with nogil:
        for o in prange(O, schedule="static", use_threads_if=O * N * I >= PARALLEL_MIN):
            for i in range(I):
                nv = norm[o, i]
                den = nv if nv > eps else eps
                s = 0
                for j in range(N):
                    s = s + grad_out[o, j, i] * x[o, j, i]
                s = -s / (den * den) if nv >= eps else 0.0
                n_ext = _count_extremes(&x[o, 0, i], N, I, nv)
                for j in range(N):
                    grad_in[o, j, i] = <floating> (grad_out[o, j, i] / den
                                                   + s * _norm_deriv(x[o, j, i], nv, p, n_ext))


# ---------------------------------------------------------------- cosine similarity
def cosine_forward(const floating[:, :, ::1] x1, const floating[:, :, ::1] x2, double eps,
                   double[:, ::1] n1, double[:, ::1] n2, floating[:, ::1] out):
    """out = sum(x1*x2) / (max(||x1||, eps) * max(||x2||, eps)) along axis 1."""
    cdef Py_ssize_t O = x1.shape[0], N = x1.shape[1], I = x1.shape[2], o, i, j
    cdef double dot, a, b
    with nogil:
        for o in prange(O, schedule="static", use_threads_if=O * N * I >= PARALLEL_MIN):
            for i in range(I):
                dot = 0
                a = 0
                b = 0
                for j in range(N):
                    dot = dot + x1[o, j, i] * x2[o, j, i]
                    a = a + x1[o, j, i] * x1[o, j, i]
                    b = b + x2[o, j, i] * x2[o, j, i]
                n1[o, i] = sqrt(a)
                n2[o, i] = sqrt(b)
                out[o, i] = <floating> (dot / ((n1[o, i] if n1[o, i] > eps else eps)
                                               * (n2[o, i] if n2[o, i] > eps else eps)))


def cosine_backward(const floating[:, :, ::1] x1, const floating[:, :, ::1] x2,
                    const double[:, ::1] n1, const double[:, ::1] n2,
                    const floating[:, ::1] out, const floating[:, ::1] grad_out, double eps,
                    floating[:, :, ::1] grad_x1, floating[:, :, ::1] grad_x2):
    """d out/d x1 = x2/(c1 c2) - out/c1 * x1/n1 (c = clamped norm; torch clamps without
    grad, so the norm's own derivative x/n is used, 0 for a zero vector); same for x2."""
    cdef Py_ssize_t O = x1.shape[0], N = x1.shape[1], I = x1.shape[2], o, i, j
    cdef double c1, c2, g, f1, f2
    with nogil:
        for o in prange(O, schedule="static", use_threads_if=O * N * I >= PARALLEL_MIN):
            for i in range(I):
                c1 = n1[o, i] if n1[o, i] > eps else eps
                c2 = n2[o, i] if n2[o, i] > eps else eps
                g = grad_out[o, i]
                f1 = g * out[o, i] / (c1 * n1[o, i]) if n1[o, i] != 0 else 0.0
                f2 = g * out[o, i] / (c2 * n2[o, i]) if n2[o, i] != 0 else 0.0
                for j in range(N):
                    grad_x1[o, j, i] = <floating> (g * x2[o, j, i] / (c1 * c2)
                                                   - f1 * x1[o, j, i])
                    grad_x2[o, j, i] = <floating> (g * x1[o, j, i] / (c1 * c2)
                                                   - f2 * x2[o, j, i])


# ---------------------------------------------------------------- pdist
cdef inline Py_ssize_t _pair_index(Py_ssize_t i, Py_ssize_t j, Py_ssize_t N) noexcept nogil:
    """Position of the pair (i, j), i < j, in pdist's row-major upper-triangle output."""
    return i * N - i * (i + 1) // 2 + (j - i - 1)


cdef inline double _pdist_deriv(double d, double dist, double p) noexcept nogil:
    """torch's pdist backward per coordinate difference d (each tied max gets it in full)."""
    if p == 0:
        return 0.0
    if p == 1:
        return _sign(d)
    if p == INFINITY:
        return _sign(d) if fabs(d) == dist else 0.0
    if dist == 0:
        return 0.0
    if p == 2:
        return d / dist
    if p < 2:
        if p < 1 and d == 0:
            return 0.0
        return _sign(d) * pow(fabs(d), p - 1) / pow(dist, p - 1)
    return d * pow(fabs(d), p - 2) / pow(dist, p - 1)


def pdist_forward(const floating[:, ::1] x, double p, floating[:, ::1] scratch,
                  floating[::1] out):
    """out[k(i, j)] = ||x[i] - x[j]||_p for i < j; scratch is (N, M) per-row workspace."""
    cdef Py_ssize_t N = x.shape[0], M = x.shape[1], i, j, m
    with nogil:
        for i in prange(N, schedule="dynamic", use_threads_if=out.shape[0] * M >= PARALLEL_MIN):
            for j in range(i + 1, N):
                for m in range(M):
                    scratch[i, m] = x[i, m] - x[j, m]
                out[_pair_index(i, j, N)] = <floating> _pnorm(&scratch[i, 0], M, 1, p)


def pdist_backward(const floating[:, ::1] x, const floating[::1] dist,
                   const floating[::1] grad_out, double p, floating[:, ::1] grad_in):
    """grad_in[i] = sum over j != i of g(i,j) * d dist(i,j) / d x[i] (one row per thread)."""
    cdef Py_ssize_t N = x.shape[0], M = x.shape[1], i, j, m, k
    cdef double acc, d
    with nogil:
        for i in prange(N, schedule="static", use_threads_if=N * N * M >= PARALLEL_MIN):
            for m in range(M):
                acc = 0
                for j in range(N):
                    if j == i:
                        continue
                    k = _pair_index(i, j, N) if i < j else _pair_index(j, i, N)
                    d = x[i, m] - x[j, m]
                    acc = acc + grad_out[k] * _pdist_deriv(d, dist[k], p)
                grad_in[i, m] = <floating> acc
