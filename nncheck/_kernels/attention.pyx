# cython: language_level=3
"""Scaled dot-product attention kernels: one fused task per (batch*head) slice.

Layout (all C-contiguous, shapes validated in nncheck.nn.functional.attention):
  q (B, L, E), k (Bk, S, E), v (Bk, S, Ev) with B = Bk * group: query slice b reads
  key/value slice b // group (grouped-query attention; group = 1 otherwise).
  bias (1 or B, L, S) is added to the scaled scores (-inf masks a position); an empty
  bias means none.  probs (B, L, S) keeps the softmax for the backward pass.

Forward, per slice:  P = softmax(scale * Q K^T + bias),  O = P V.
Backward, per key/value slice (so that the `group` query slices sharing it add their
dK, dV into it without a race):
  dP = dO V^T (+ the gradient reaching P directly),  dV += P^T dO,
  dS = P * (dP - rowsum(dP * P)),  dQ = scale * dS K,  dK += scale * dS^T Q.
dS is left in the caller's buffer: it is the gradient of an additive float mask.

Threads: prange over slices when `parallel` is set; each slice's GEMMs then run on its
own thread (blas.pyx's gemm splits a product over the team only outside a parallel region).
"""

from cython cimport floating
from cython.parallel cimport prange

from nncheck._kernels.blas cimport gemm

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    static int nnc_attention_max_threads(void) { return omp_get_max_threads(); }
    #else
    static int nnc_attention_max_threads(void) { return 1; }
    #endif
    """
    int nnc_attention_max_threads() noexcept nogil


def max_threads():
    """OpenMP's thread count (1 when built without OpenMP)."""
    return nnc_attention_max_threads()


cdef inline int _ld(int n) noexcept nogil:
    """A leading dimension BLAS accepts: an empty (k = 0) operand still needs ld >= 1."""
    return n if n > 0 else 1


cdef inline int _group(int B, int Bk) noexcept nogil:
    """Query slices per key/value slice (no division when the batch is empty)."""
    return B // Bk if Bk > 0 else 1


cdef extern from "vecmath.h":
    pass

cdef extern from *:
    """
    /* Rows of p (L, S) := softmax(p + bias), keeping j <= i only when causal.  A row with
       nothing left to attend to becomes zeros (safe, SDPA's rule) or NaN (plain softmax of
       -inf, as MultiheadAttention's need_weights path gives).  Sums in the element type,
       vectorised (with glibc's vector expf for float32), as PyTorch's softmax. */
    #define NNC_SOFTMAX_ROWS(T, SFX, EXP)                                                  \
    NNCHECK_TARGETS static void nnc_softmax_rows_##SFX(T *p, const T *bias, int L, int S,   \
                                                       int causal, int safe) {             \
        for (ptrdiff_t i = 0; i < L; i++) {                                                \
            T *row = p + i * S;                                                            \
            const ptrdiff_t n = causal && i + 1 < S ? i + 1 : S;                           \
            if (bias != NULL) {                                                            \
                const T *b = bias + i * S;                                                 \
                _Pragma("omp simd")                                                        \
                for (ptrdiff_t j = 0; j < n; j++)                                          \
                    row[j] += b[j];                                                        \
            }                                                                              \
            T m = -INFINITY, total = 0;                                                    \
            _Pragma("omp simd reduction(max:m)")                                           \
            for (ptrdiff_t j = 0; j < n; j++)                                              \
                m = row[j] > m ? row[j] : m;                                               \
            if (m == -INFINITY) {                                                          \
                for (ptrdiff_t j = 0; j < S; j++)                                          \
                    row[j] = safe ? 0 : NAN;                                               \
                continue;                                                                  \
            }                                                                              \
            _Pragma("omp simd reduction(+:total)")                                         \
            for (ptrdiff_t j = 0; j < n; j++) {                                            \
                const T e = EXP(row[j] - m);                                               \
                row[j] = e;                                                                \
                total += e;                                                                \
            }                                                                              \
            const T inv = 1 / total;                                                       \
            _Pragma("omp simd")                                                            \
            for (ptrdiff_t j = 0; j < n; j++)                                              \
                row[j] *= inv;                                                             \
            for (ptrdiff_t j = n; j < S; j++)                                              \
                row[j] = 0;                                                                \
        }                                                                                  \
    }                                                                                      \
    /* d (L, S) := p * (d - rowsum(d * p)), the softmax Jacobian applied to dP. */          \
    NNCHECK_TARGETS static void nnc_softmax_backward_rows_##SFX(const T *p, T *d, int L,    \
                                                                int S) {                   \
        for (ptrdiff_t i = 0; i < (ptrdiff_t) L * S; i += S) {                             \
            T acc = 0;                                                                     \
            _Pragma("omp simd reduction(+:acc)")                                           \
            for (ptrdiff_t j = i; j < i + S; j++)                                          \
                acc += d[j] * p[j];                                                        \
            _Pragma("omp simd")                                                            \
            for (ptrdiff_t j = i; j < i + S; j++)                                          \
                d[j] = p[j] * (d[j] - acc);                                                \
        }                                                                                  \
    }
    NNC_SOFTMAX_ROWS(float, f32, expf)
    NNC_SOFTMAX_ROWS(double, f64, exp)
    """
    void nnc_softmax_rows_f32(float* p, const float* bias, int L, int S, int causal,
                              int safe) noexcept nogil
    void nnc_softmax_rows_f64(double* p, const double* bias, int L, int S, int causal,
                              int safe) noexcept nogil
    void nnc_softmax_backward_rows_f32(const float* p, float* d, int L, int S) noexcept nogil
    void nnc_softmax_backward_rows_f64(const double* p, double* d, int L, int S) noexcept nogil


cdef inline void _softmax_rows(floating* p, const floating* bias, int L, int S, bint causal,
                               bint safe) noexcept nogil:
    if floating is float:
        nnc_softmax_rows_f32(p, bias, L, S, causal, safe)
    else:
        nnc_softmax_rows_f64(p, bias, L, S, causal, safe)


cdef inline void _softmax_backward_rows(const floating* p, floating* d, int L,
                                        int S) noexcept nogil:
    if floating is float:
        nnc_softmax_backward_rows_f32(p, d, L, S)
    else:
        nnc_softmax_backward_rows_f64(p, d, L, S)


cdef void _values_backward_one(const floating* p, const floating* v, const floating* g,
                               floating* grad_p, floating* grad_v, int L, int S, int Ev,
                               floating beta_p) noexcept nogil:
    """grad_p = g v^T + beta_p * grad_p;  grad_v += p^T g  (one slice of O = P V)."""
    gemm(False, True, L, S, Ev, <floating> 1, g, Ev, v, Ev, beta_p, grad_p, S)
    gemm(True, False, S, Ev, L, <floating> 1, p, S, g, Ev, <floating> 1, grad_v, Ev)


def attention_forward(const floating[:, :, ::1] q, const floating[:, :, ::1] k,
                      const floating[:, :, ::1] v, const floating[:, :, ::1] bias,
                      floating[:, :, ::1] probs, floating[:, :, ::1] out, double scale,
                      bint causal, bint safe, bint apply_values, bint parallel):
    """probs = softmax(scale * q k^T + bias); out = probs v when apply_values."""
    cdef int B = q.shape[0], L = q.shape[1], E = q.shape[2]
    cdef int S = k.shape[1], Ev = v.shape[2]
    cdef int group = _group(B, k.shape[0])
    cdef bint has_bias = bias.shape[0] > 0, shared = bias.shape[0] == 1
    cdef Py_ssize_t b, kb
    cdef const floating* bias_b
    with nogil:
        for b in prange(B, schedule="dynamic", use_threads_if=parallel):
            kb = b // group
            bias_b = NULL
            if has_bias:
                bias_b = &bias[0, 0, 0] if shared else &bias[b, 0, 0]
            if L > 0 and S > 0:
                gemm(False, True, L, S, E, <floating> scale, &q[b, 0, 0], _ld(E), &k[kb, 0, 0],
                     _ld(E), <floating> 0, &probs[b, 0, 0], S)
                _softmax_rows(&probs[b, 0, 0], bias_b, L, S, causal, safe)
            if apply_values and L > 0 and Ev > 0:
                gemm(False, False, L, Ev, S, <floating> 1, &probs[b, 0, 0], _ld(S), &v[kb, 0, 0],
                     Ev, <floating> 0, &out[b, 0, 0], Ev)


def attention_backward(const floating[:, :, ::1] q, const floating[:, :, ::1] k,
                       const floating[:, :, ::1] v, const floating[:, :, ::1] probs,
                       const floating[:, :, ::1] grad_out, floating[:, :, ::1] grad_scores,
                       floating[:, :, ::1] grad_q, floating[:, :, ::1] grad_k,
                       floating[:, :, ::1] grad_v, double scale, bint use_grad_out,
                       bint parallel):
    """Gradients of attention_forward.

    grad_scores holds the gradient reaching probs directly (zeros if none) and is
    overwritten with dS.  use_grad_out adds dO V^T to it and fills grad_v; without it
    (the weights-only op) v and grad_v are not touched.
    """
    cdef int B = q.shape[0], L = q.shape[1], E = q.shape[2]
    cdef int Bk = k.shape[0], S = k.shape[1], Ev = v.shape[2]
    cdef int group = _group(B, Bk)
    cdef Py_ssize_t b, kb, h, i
    with nogil:
        for kb in prange(Bk, schedule="dynamic", use_threads_if=parallel):
            for i in range(S * E):
                (&grad_k[kb, 0, 0])[i] = 0
            if use_grad_out:
                for i in range(S * Ev):
                    (&grad_v[kb, 0, 0])[i] = 0
            for h in range(group):
                b = kb * group + h
                if L == 0 or S == 0:
                    for i in range(L * E):
                        (&grad_q[b, 0, 0])[i] = 0
                    continue
                if use_grad_out and Ev > 0:
                    _values_backward_one(&probs[b, 0, 0], &v[kb, 0, 0], &grad_out[b, 0, 0],
                                         &grad_scores[b, 0, 0], &grad_v[kb, 0, 0], L, S, Ev, 1)
                _softmax_backward_rows(&probs[b, 0, 0], &grad_scores[b, 0, 0], L, S)
                gemm(False, False, L, E, S, <floating> scale, &grad_scores[b, 0, 0], S,
                     &k[kb, 0, 0], E, <floating> 0, &grad_q[b, 0, 0], E)
                gemm(True, False, S, E, L, <floating> scale, &grad_scores[b, 0, 0], S,
                     &q[b, 0, 0], E, <floating> 1, &grad_k[kb, 0, 0], E)


def values_forward(const floating[:, :, ::1] probs, const floating[:, :, ::1] v,
                   floating[:, :, ::1] out, bint parallel):
    """out = probs v per slice (the second half of attention, after dropout on probs)."""
    cdef int B = probs.shape[0], L = probs.shape[1], S = probs.shape[2], Ev = v.shape[2]
    cdef int group = _group(B, v.shape[0])
    cdef Py_ssize_t b
    with nogil:
        for b in prange(B, schedule="dynamic", use_threads_if=parallel):
            if L > 0 and Ev > 0:
                gemm(False, False, L, Ev, S, <floating> 1, &probs[b, 0, 0], _ld(S),
                     &v[b // group, 0, 0], Ev, <floating> 0, &out[b, 0, 0], Ev)


def values_backward(const floating[:, :, ::1] probs, const floating[:, :, ::1] v,
                    const floating[:, :, ::1] grad_out, floating[:, :, ::1] grad_probs,
                    floating[:, :, ::1] grad_v, bint parallel):
    """grad_probs = grad_out v^T; grad_v = sum over the group of probs^T grad_out."""
    cdef int B = probs.shape[0], L = probs.shape[1], S = probs.shape[2]
    cdef int Bk = v.shape[0], Ev = v.shape[2]
    cdef int group = _group(B, Bk)
    cdef Py_ssize_t b, kb, h, i
    with nogil:
        for kb in prange(Bk, schedule="dynamic", use_threads_if=parallel):
            for i in range(S * Ev):
                (&grad_v[kb, 0, 0])[i] = 0
            for h in range(group):
                b = kb * group + h
                if Ev == 0:
                    for i in range(L * S):
                        (&grad_probs[b, 0, 0])[i] = 0
                elif L > 0 and S > 0:
                    _values_backward_one(&probs[b, 0, 0], &v[kb, 0, 0], &grad_out[b, 0, 0],
                                         &grad_probs[b, 0, 0], &grad_v[kb, 0, 0], L, S, Ev, 0)
