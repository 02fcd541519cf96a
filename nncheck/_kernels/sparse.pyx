# cython: language_level=3
"""Embedding kernels: row gather, scatter-add backward, max_norm renormalisation, bags.

Every index was checked against the table size in nncheck.nn.functional.sparse before a
call here. Scatter-adds run in parallel over blocks of embedding columns, so two threads
never write the same element and the summation order is fixed.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport INFINITY, fabs, pow, sqrt

from nncheck._kernels.parallel cimport PARALLEL_MIN

ctypedef long long int64

cdef Py_ssize_t COLUMN_BLOCK = 64  # columns per task in the scatter-add kernels

cdef enum:  # embedding_bag modes, as torch numbers them
    MODE_SUM = 0
    MODE_MEAN = 1
    MODE_MAX = 2


cdef inline Py_ssize_t _n_blocks(Py_ssize_t D) noexcept nogil:
    return (D + COLUMN_BLOCK - 1) // COLUMN_BLOCK


def embedding_forward(const floating[:, ::1] weight, const int64[::1] indices,
                      floating[:, ::1] out):
    """out[k] = weight[indices[k]]."""
    cdef Py_ssize_t K = indices.shape[0], D = weight.shape[1], k, j, row
    with nogil:
        for k in prange(K, schedule="static", use_threads_if=K * D >= PARALLEL_MIN):
            row = indices[k]
            for j in range(D):
                out[k, j] = weight[row, j]


cdef void _count(const int64[::1] indices, int64[::1] counts) noexcept nogil:
    cdef Py_ssize_t k
    for k in range(counts.shape[0]):
        counts[k] = 0
    for k in range(indices.shape[0]):
        counts[indices[k]] += 1


def embedding_backward(const floating[:, ::1] grad_out, const int64[::1] indices,
                       Py_ssize_t padding_idx, bint scale_grad_by_freq, int64[::1] counts,
                       floating[:, ::1] grad_weight):
    """grad_weight[indices[k]] += grad_out[k] (grad_weight starts at zero), skipping
    padding_idx (-1: none); with scale_grad_by_freq each row is divided by how often its
    index occurs (counts is a table-sized scratch)."""
    cdef Py_ssize_t K = indices.shape[0], D = grad_out.shape[1], k, j, t, row, lo, hi
    cdef double f
    with nogil:
        if scale_grad_by_freq:
            _count(indices, counts)
        for t in prange(_n_blocks(D), schedule="static", use_threads_if=K * D >= PARALLEL_MIN):
            lo = t * COLUMN_BLOCK
            hi = lo + COLUMN_BLOCK if lo + COLUMN_BLOCK < D else D
            for k in range(K):
                row = indices[k]
                if row == padding_idx:
                    continue
                if scale_grad_by_freq:
                    f = 1.0 / counts[row]
                    for j in range(lo, hi):
                        grad_weight[row, j] += <floating> (grad_out[k, j] * f)
                else:  # (a plain sum in the element type vectorises)
                    for j in range(lo, hi):
                        grad_weight[row, j] += grad_out[k, j]


cdef inline double _row_norm(const floating* w, Py_ssize_t D, double p) noexcept nogil:
    cdef Py_ssize_t j
    cdef double acc = 0, a
    for j in range(D):
        a = fabs(w[j])
        if p == INFINITY:
            acc = a if a > acc else acc
        elif p == 1:
            acc = acc + a
        elif p == 2:
            acc = acc + a * a
        else:
            acc = acc + pow(a, p)
    if p == INFINITY or p == 1:
        return acc
    return sqrt(acc) if p == 2 else pow(acc, 1.0 / p)


def embedding_renorm(floating[:, ::1] weight, const int64[::1] rows, double max_norm,
                     double norm_type):
    """Rows (distinct) whose p-norm exceeds max_norm are scaled by max_norm / (norm + 1e-7)
    in place, as torch.embedding_renorm_ does."""
    cdef Py_ssize_t R = rows.shape[0], D = weight.shape[1], r, j, row
    cdef double norm, scale
    with nogil:
        for r in prange(R, schedule="static", use_threads_if=R * D >= PARALLEL_MIN):
            row = rows[r]
            norm = _row_norm(&weight[row, 0], D, norm_type)
            if norm > max_norm:
                scale = max_norm / (norm + 1e-7)
                for j in range(D):
                    weight[row, j] = <floating> (weight[row, j] * scale)


# ---------------------------------------------------------------- bags
def embedding_bag_forward(const floating[:, ::1] weight, const int64[::1] indices,
                          const int64[::1] offsets, int mode,
                          const floating[::1] per_sample_weights, Py_ssize_t padding_idx,
                          int64[::1] bag_size, int64[:, ::1] max_index, floating[:, ::1] out):
    """out[b] = sum / mean / max of weight[indices[k]] for k in offsets[b] .. offsets[b+1]-1.

    Entries equal to padding_idx are left out (and not counted); an empty bag gives zeros.
    per_sample_weights (length K, or empty) scales each row in 'sum' mode. bag_size gets the
    counted entries per bag and max_index the table row of each maximum (-1: empty bag).
    """
    cdef Py_ssize_t B = out.shape[0], D = weight.shape[1], b, k, j, row, n
    cdef bint weighted = per_sample_weights.shape[0] > 0
    cdef double f
    with nogil:
        for b in prange(B, schedule="dynamic",
                        use_threads_if=(indices.shape[0] + B) * D >= PARALLEL_MIN):
            for j in range(D):
                out[b, j] = 0
                if mode == MODE_MAX:
                    max_index[b, j] = -1
            n = 0
            for k in range(offsets[b], offsets[b + 1]):
                row = indices[k]
                if row == padding_idx:
                    continue
                n = n + 1
                if mode == MODE_MAX:
                    for j in range(D):
                        if max_index[b, j] < 0 or weight[row, j] > out[b, j]:
                            out[b, j] = weight[row, j]
                            max_index[b, j] = row
                else:
                    f = per_sample_weights[k] if weighted else 1.0
                    for j in range(D):
                        out[b, j] += <floating> (weight[row, j] * f)
            bag_size[b] = n
            if mode == MODE_MEAN and n > 0:
                for j in range(D):
                    out[b, j] = <floating> (out[b, j] / <double> n)


def embedding_bag_backward(const floating[:, ::1] grad_out, const int64[::1] indices,
                           const int64[::1] offsets, int mode,
                           const floating[::1] per_sample_weights, Py_ssize_t padding_idx,
                           const int64[::1] bag_size, const int64[:, ::1] max_index,
                           bint scale_grad_by_freq, int64[::1] counts,
                           floating[:, ::1] grad_weight):
    """Scatter-add of embedding_bag_forward's gradient into grad_weight (zero on entry)."""
    cdef Py_ssize_t B = grad_out.shape[0], D = grad_out.shape[1]
    cdef Py_ssize_t b, k, j, t, row, lo, hi
    cdef bint weighted = per_sample_weights.shape[0] > 0
    cdef double f
    with nogil:
        if scale_grad_by_freq:
            _count(indices, counts)
        for t in prange(_n_blocks(D), schedule="static",
                        use_threads_if=(indices.shape[0] + B) * D >= PARALLEL_MIN):
            lo = t * COLUMN_BLOCK
            hi = lo + COLUMN_BLOCK if lo + COLUMN_BLOCK < D else D
            for b in range(B):
                if mode == MODE_MAX:
                    for j in range(lo, hi):
                        if max_index[b, j] >= 0:
                            grad_weight[max_index[b, j], j] += grad_out[b, j]
                    continue
                for k in range(offsets[b], offsets[b + 1]):
                    row = indices[k]
                    if row == padding_idx:
                        continue
                    f = per_sample_weights[k] if weighted else 1.0
                    if mode == MODE_MEAN:
                        f = f / bag_size[b]
                    if scale_grad_by_freq:
                        f = f / counts[row]
                    for j in range(lo, hi):
                        grad_weight[row, j] += <floating> (grad_out[b, j] * f)


def embedding_bag_sample_weights_backward(const floating[:, ::1] grad_out,
                                          const floating[:, ::1] weight,
                                          const int64[::1] indices, const int64[::1] offsets,
                                          Py_ssize_t padding_idx, floating[::1] grad_psw):
    """grad of per_sample_weights[k] = <grad_out[bag of k], weight[indices[k]]> (0 for
    padding entries)."""
    cdef Py_ssize_t B = grad_out.shape[0], D = grad_out.shape[1], b, k, j, row
    cdef double acc
    with nogil:
        for k in range(indices.shape[0]):
            grad_psw[k] = 0
        for b in prange(B, schedule="dynamic", use_threads_if=indices.shape[0] * D >= PARALLEL_MIN):
            for k in range(offsets[b], offsets[b + 1]):
                row = indices[k]
                if row == padding_idx:
                    continue
                acc = 0
                for j in range(D):
                    acc = acc + grad_out[b, j] * weight[row, j]
                grad_psw[k] = <floating> acc


def one_hot(const int64[::1] indices, int64[:, ::1] out):
    """out[k, indices[k]] = 1 (out starts at zero)."""
    cdef Py_ssize_t k
    with nogil:
        for k in range(indices.shape[0]):
            out[k, indices[k]] = 1
