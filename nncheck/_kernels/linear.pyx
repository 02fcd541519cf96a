# cython: language_level=3
"""Linear and Bilinear kernels: GEMM through BLAS, bias reductions in nogil loops.

Shapes are validated in nncheck.nn.functional.linear before any call here.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.stdlib cimport calloc, free

from nncheck._kernels.blas cimport gemm
from nncheck._kernels.parallel cimport PARALLEL_MIN


def linear_forward(const floating[:, ::1] x, const floating[:, ::1] weight,
                   const floating[::1] bias, floating[:, ::1] out):
    """out[M, N] = x[M, K] @ weight[N, K]^T (+ bias[N] when bias has N entries)."""
    cdef int M = x.shape[0], K = x.shape[1], N = weight.shape[0]
    cdef Py_ssize_t i, j
    cdef bint has_bias = bias.shape[0] == N
    with nogil:
        if has_bias:
            for i in prange(M, schedule="static", use_threads_if=M * N >= PARALLEL_MIN):
                for j in range(N):
                    out[i, j] = bias[j]
        if K == 0:
            if not has_bias:
                for i in range(M):
                    for j in range(N):
                        out[i, j] = 0
        else:
            gemm(False, True, M, N, K, <floating> 1, &x[0, 0], K, &weight[0, 0], K,
                 <floating> (1 if has_bias else 0), &out[0, 0], N)


def linear_backward_input(const floating[:, ::1] grad_out, const floating[:, ::1] weight,
                          floating[:, ::1] grad_in):
    """grad_in[M, K] = grad_out[M, N] @ weight[N, K]."""
    cdef int M = grad_out.shape[0], N = grad_out.shape[1], K = weight.shape[1]
    with nogil:
        gemm(False, False, M, K, N, <floating> 1, &grad_out[0, 0], N, &weight[0, 0], K,
             <floating> 0, &grad_in[0, 0], K)


def linear_backward_weight(const floating[:, ::1] grad_out, const floating[:, ::1] x,
                           floating[:, ::1] grad_weight):
    """grad_weight[N, K] = grad_out[M, N]^T @ x[M, K]."""
    cdef int M = grad_out.shape[0], N = grad_out.shape[1], K = x.shape[1]
    with nogil:
        gemm(True, False, N, K, M, <floating> 1, &grad_out[0, 0], N, &x[0, 0], K,
             <floating> 0, &grad_weight[0, 0], K)


def bias_backward(const floating[:, ::1] grad_out, floating[::1] grad_bias):
    """grad_bias[N] = column sums of grad_out[M, N], accumulated in double row by row (the
    inner loop runs along a row, contiguous and vectorised; each column still sums its rows
    in order)."""
    cdef Py_ssize_t i, j, M = grad_out.shape[0], N = grad_out.shape[1]
    cdef double* acc = <double*> calloc(N if N > 0 else 1, sizeof(double))
    if acc == NULL:
        raise MemoryError("bias_backward: no memory for the column sums")
    with nogil:
        for i in range(M):
            for j in range(N):
                acc[j] += grad_out[i, j]
        for j in range(N):
            grad_bias[j] = <floating> acc[j]
    free(acc)


def bilinear_forward(const floating[:, ::1] x1, const floating[:, ::1] x2,
                     const floating[:, :, ::1] weight, const floating[::1] bias,
                     floating[:, ::1] tmp, floating[:, ::1] out):
    """out[n, o] = sum_ij x1[n, i] W[o, i, j] x2[n, j] + b[o].

    tmp[n, o*J + j] = sum_i x1[n, i] W[o, i, j] is one GEMM per output feature.
    """
    cdef int N = x1.shape[0], I = x1.shape[1], J = x2.shape[1], O = weight.shape[0]
    cdef Py_ssize_t n, o, j
    cdef double acc
    with nogil:
        for o in range(O):
            if I > 0 and J > 0:
                gemm(False, False, N, J, I, <floating> 1, &x1[0, 0], I, &weight[o, 0, 0], J,
                     <floating> 0, &tmp[0, o * J], O * J)
        for n in prange(N, schedule="static", use_threads_if=N * O * J >= PARALLEL_MIN):
            for o in range(O):
                acc = bias[o] if bias.shape[0] == O else 0
                for j in range(J):
                    acc = acc + tmp[n, o * J + j] * x2[n, j]
                out[n, o] = <floating> acc


def bilinear_backward(const floating[:, ::1] x1, const floating[:, ::1] x2,
                      const floating[:, :, ::1] weight, const floating[:, ::1] grad_out,
                      floating[:, ::1] scaled, floating[:, ::1] grad_x1,
                      floating[:, ::1] grad_x2, floating[:, :, ::1] grad_weight):
    """Gradients of bilinear_forward.

    scaled[n, o*J + j] = g[n, o] x2[n, j], so that
    grad_W[o] = x1^T @ scaled[:, o], grad_x1 = sum_o scaled[:, o] @ W[o]^T,
    grad_x2[n, j] = sum_o g[n, o] (x1 @ W[o])[n, j].
    """
    cdef int N = x1.shape[0], I = x1.shape[1], J = x2.shape[1], O = weight.shape[0]
    cdef Py_ssize_t n, o, i, j
    with nogil:
        for n in prange(N, schedule="static", use_threads_if=N * O * J >= PARALLEL_MIN):
            for o in range(O):
                for j in range(J):
                    scaled[n, o * J + j] = grad_out[n, o] * x2[n, j]
            for i in range(I):
                grad_x1[n, i] = 0
            for j in range(J):
                grad_x2[n, j] = 0
        if I > 0 and J > 0:
            for o in range(O):
                gemm(True, False, I, J, N, <floating> 1, &x1[0, 0], I, &scaled[0, o * J],
                     O * J, <floating> 0, &grad_weight[o, 0, 0], J)
                gemm(False, True, N, I, J, <floating> 1, &scaled[0, o * J], O * J,
                     &weight[o, 0, 0], J, <floating> 1, &grad_x1[0, 0], I)
            # reuse `scaled` for x1 @ W[o], then weight rows by g[n, o]
            for o in range(O):
                gemm(False, False, N, J, I, <floating> 1, &x1[0, 0], I, &weight[o, 0, 0], J,
                     <floating> 0, &scaled[0, o * J], O * J)
        for n in prange(N, schedule="static", use_threads_if=N * O * J >= PARALLEL_MIN):
            for o in range(O):
                for j in range(J):
                    grad_x2[n, j] += grad_out[n, o] * scaled[n, o * J + j]
