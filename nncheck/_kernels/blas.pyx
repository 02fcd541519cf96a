# cython: language_level=3
"""Row-major GEMM for every kernel, with one thread pool: OpenMP's.

Three pools used to meet in one process: our OpenMP teams (prange), the threads of scipy's
OpenBLAS (which our kernels call) and those of numpy's.  OpenBLAS waits for its helper
threads by spinning on sched_yield and wakes them through condition variables; on a
machine with few cores those threads and our OpenMP threads took the cores from each other
(a ViT training step with 2 threads spent ~1 s of CPU time for ~0.1 s of arithmetic).  So
loading this module sets scipy's OpenBLAS to one thread, and ``gemm`` splits a large
product itself into row or column blocks that the OpenMP team computes in parallel, each
a single-threaded BLAS call.  A GEMM inside a parallel region (a prange over convolution
or attention slices) runs on its own thread as before.

Where the BLAS is not an OpenBLAS whose thread count we can set, it keeps its own threads
and ``gemm`` never splits (two pools would fight again).

Which BLAS: scipy-openblas32's private OpenBLAS when installed, else scipy's
(``blas_threads`` explains why); ``blas_name()`` says which one this process calls.
"""

import ctypes

from cython cimport floating
from cython.parallel cimport prange
from scipy.linalg.cython_blas cimport dgemm, sgemm

from nncheck._kernels.blas_threads import blas_thread_controls, private_blas

# Fortran ?gemm (column-major, LP64), the signature scipy's cython_blas and OpenBLAS share
ctypedef void (*sgemm_fn)(char*, char*, int*, int*, int*, float*, float*, int*, float*, int*,
                          float*, float*, int*) noexcept nogil
ctypedef void (*dgemm_fn)(char*, char*, int*, int*, int*, double*, double*, int*, double*,
                          int*, double*, double*, int*) noexcept nogil

cdef sgemm_fn blas_sgemm = sgemm
cdef dgemm_fn blas_dgemm = dgemm
cdef str bound_blas = "scipy"

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    /* threads free to share a GEMM: none beyond the caller's inside any parallel region,
       a team of one included (omp_in_parallel() is false there, and a nested team beside
       the pool's spinning threads oversubscribes the cores: ShuffleNet 80 -> 630 ms) */
    static int nnc_gemm_team(void) { return omp_get_level() ? 1 : omp_get_max_threads(); }
    #else
    static int nnc_gemm_team(void) { return 1; }
    #endif
    """
    int nnc_gemm_team() noexcept nogil

# multiply-adds per thread below which a GEMM is not split (OpenBLAS's own threshold,
# SMP_THRESHOLD_MIN * GEMM_MULTITHREAD_THRESHOLD: smaller products lose more to waking
# threads than they gain)
cdef enum:
    MIN_WORK_PER_THREAD = 65536 * 4
    BLOCK_ALIGN = 16  # split points on multiples of the BLAS kernels' register blocks


cdef bint may_split = False


def _bind_private_blas():
    """Point the GEMMs at scipy-openblas32's OpenBLAS when it is there."""
    global blas_sgemm, blas_dgemm, bound_blas
    lib = private_blas()
    if lib is None:
        return
    blas_sgemm = <sgemm_fn> <size_t> ctypes.cast(lib.scipy_sgemm_, ctypes.c_void_p).value
    blas_dgemm = <dgemm_fn> <size_t> ctypes.cast(lib.scipy_dgemm_, ctypes.c_void_p).value
    bound_blas = "scipy-openblas32"


def _one_blas_thread():
    """Set the kernels' OpenBLAS to one thread; True when it could be (so gemm may split)."""
    controls = blas_thread_controls()
    if controls is None:
        return False
    controls[1](1)
    return True


def blas_name():
    """The BLAS the kernels call: "scipy-openblas32" or "scipy" (scipy's cython_blas)."""
    return bound_blas


_bind_private_blas()
may_split = _one_blas_thread()


cdef inline void blas_call(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
                           const floating* a, int lda, const floating* b, int ldb,
                           floating beta, floating* c, int ldc) noexcept nogil:
    """One BLAS call. Row-major C = A B is column-major C^T = B^T A^T, so B goes first."""
    cdef char ta = b'T' if trans_b else b'N'
    cdef char tb = b'T' if trans_a else b'N'
    if m == 0 or n == 0:
        return
    if floating is float:
        blas_sgemm(&ta, &tb, &n, &m, &k, &alpha, <float*> b, &ldb, <float*> a, &lda,
                   &beta, c, &ldc)
    else:
        blas_dgemm(&ta, &tb, &n, &m, &k, &alpha, <double*> b, &ldb, <double*> a, &lda,
                   &beta, c, &ldc)


cdef inline int split_point(int part, int parts, int size) noexcept nogil:
    """Start of block ``part`` of ``parts`` over ``size`` rows or columns (aligned)."""
    cdef long start = <long> size * part // parts
    if part == parts:
        return size
    return <int> (start - start % BLOCK_ALIGN)


cdef void split_gemm(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
                     const floating* a, int lda, const floating* b, int ldb,
                     floating beta, floating* c, int ldc) noexcept nogil:
    """gemm on the OpenMP team when it pays: blocks of C's rows (each thread reads all of
    B) when C has more rows than columns, else blocks of its columns (all of A)."""
    cdef int parts = nnc_gemm_team() if may_split else 1
    cdef double work = <double> m * n * k
    cdef int p, lo, hi
    cdef bint by_rows = m >= n
    if parts > 1 and work / parts < MIN_WORK_PER_THREAD:
        parts = <int> (work / MIN_WORK_PER_THREAD)
    if parts > (m if by_rows else n) // BLOCK_ALIGN:
        parts = (m if by_rows else n) // BLOCK_ALIGN
    if parts <= 1:
        blas_call(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        return
    for p in prange(parts, num_threads=parts, schedule="static"):
        lo = split_point(p, parts, m if by_rows else n)
        hi = split_point(p + 1, parts, m if by_rows else n)
        if by_rows:  # rows lo:hi of op(A) and C
            blas_call(trans_a, trans_b, hi - lo, n, k, alpha,
                      a + (lo if trans_a else <long> lo * lda), lda, b, ldb, beta,
                      c + <long> lo * ldc, ldc)
        else:  # columns lo:hi of op(B) and C
            blas_call(trans_a, trans_b, m, hi - lo, k, alpha, a, lda,
                      b + (<long> lo * ldb if trans_b else lo), ldb, beta, c + lo, ldc)


cdef void gemm_f32(bint trans_a, bint trans_b, int m, int n, int k, float alpha,
                   const float* a, int lda, const float* b, int ldb,
                   float beta, float* c, int ldc) noexcept nogil:
    split_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)


cdef void gemm_f64(bint trans_a, bint trans_b, int m, int n, int k, double alpha,
                   const double* a, int lda, const double* b, int ldb,
                   double beta, double* c, int ldc) noexcept nogil:
    split_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
