# cython: language_level=3
"""Dropout kernels, shared by all six dropout kinds.

The uniform draws come from nncheck's numpy generator (so nncheck.manual_seed reproduces a
mask); an element or a whole channel is kept when its draw is below keep_prob. Every kind is
out = x * m + c with (m, c) = (a, c_keep) when kept and (0, c_drop) when dropped:
plain dropout has a = 1/(1-p), c = 0; alpha dropout shifts dropped units to SELU's negative
saturation and rescales so that mean 0 / variance 1 are kept. The input is viewed as
(rows, S) where a row is one channel for the feature kinds and S = 1 otherwise.
"""

from cython cimport floating
from cython.parallel cimport prange

from nncheck._kernels.parallel cimport PARALLEL_MIN


cdef inline void _scale_row(const floating* x, floating* out, Py_ssize_t S, floating m,
                            floating c) noexcept nogil:
    cdef Py_ssize_t s
    for s in range(S):
        out[s] = x[s] * m + c


def dropout_forward(const floating[:, ::1] x, const double[::1] draws, double keep_prob,
                    double a, double c_keep, double c_drop, unsigned char[::1] mask,
                    floating[:, ::1] out):
    """One draw per row: mask[r] = draws[r] < keep_prob, then out = x * m + c row by row."""
    cdef Py_ssize_t R = x.shape[0], S = x.shape[1], r
    cdef floating fa = <floating> a, fk = <floating> c_keep, fd = <floating> c_drop
    with nogil:
        for r in range(R):
            mask[r] = draws[r] < keep_prob
        for r in prange(R, schedule="static", use_threads_if=R * S >= PARALLEL_MIN):
            _scale_row(&x[r, 0], &out[r, 0], S, fa if mask[r] else 0, fk if mask[r] else fd)


def dropout_backward(const floating[:, ::1] grad_out, const unsigned char[::1] mask, double a,
                     floating[:, ::1] grad_in):
    """grad_in = grad_out * (a if the row was kept else 0)."""
    cdef Py_ssize_t R = grad_out.shape[0], S = grad_out.shape[1], r
    cdef floating fa = <floating> a
    with nogil:
        for r in prange(R, schedule="static", use_threads_if=R * S >= PARALLEL_MIN):
            _scale_row(&grad_out[r, 0], &grad_in[r, 0], S, fa if mask[r] else 0, 0)
