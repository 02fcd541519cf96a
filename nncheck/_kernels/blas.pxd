# Row-major GEMM on OpenBLAS (scipy-openblas32 or scipy's), callable from nogil code
# (as sklearn's _cython_blas).
# The work is in blas.pyx: a module calling gemm imports it at load, which runs OpenBLAS on
# one thread and lets OpenMP share the GEMMs (see blas.pyx).
from cython cimport floating


cdef void gemm_f32(bint trans_a, bint trans_b, int m, int n, int k, float alpha,
                   const float* a, int lda, const float* b, int ldb,
                   float beta, float* c, int ldc) noexcept nogil
cdef void gemm_f64(bint trans_a, bint trans_b, int m, int n, int k, double alpha,
                   const double* a, int lda, const double* b, int ldb,
                   double beta, double* c, int ldc) noexcept nogil


cdef inline void gemm(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
                      const floating* a, int lda, const floating* b, int ldb,
                      floating beta, floating* c, int ldc) noexcept nogil:
    """C[m, n] = alpha * op(A)[m, k] @ op(B)[k, n] + beta * C, all row-major.

    Called inside a parallel region it runs on the calling thread; outside, a large
    product is shared by the OpenMP team.
    """
    if floating is float:
        gemm_f32(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    else:
        gemm_f64(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
