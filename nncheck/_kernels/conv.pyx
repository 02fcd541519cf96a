# cython: language_level=3
"""Convolution kernels for 1, 2 and 3 spatial dims: im2col/col2im + BLAS GEMM.

One geometry serves every layer.  The *image* side is (C, D, H, W) and the
*column* side is (O, OD, OH, OW); a 1-d signal is (1, 1, L), a 2-d image
(1, H, W).  Three per-sample primitives cover the six convolution layers:

  cols_from_image  cols = W_g @ im2col(img)          conv forward, conv_transpose grad-input
  image_from_cols  img  = col2im(W_g^T @ cols)       conv grad-input, conv_transpose forward
  weight_grad      gW  += cols_g @ im2col(img)_g^T   weight gradient of both

im2col/col2im work on a range of output positions so the column buffer holds
at most ``chunk`` columns (it stays in cache and is the only scratch memory:
one buffer per thread).  A 1x1 kernel with stride 1 and no padding needs no
column buffer at all: the image *is* the column matrix.

Threads: with ``nthreads > 1`` samples run in parallel (prange), each thread
calling a single-threaded GEMM (the caller pins BLAS to one thread); with
``nthreads == 1`` samples run one after another and BLAS may use its threads.
All shapes are validated in nncheck.nn.functional.conv before any call here.
"""

from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.string cimport memset

from nncheck._kernels.blas cimport gemm

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    static int nnc_max_threads(void) { return omp_get_max_threads(); }
    #else
    static int nnc_max_threads(void) { return 1; }
    #endif
    """
    int nnc_max_threads() noexcept nogil


cdef struct Geom:
    int C, D, H, W          # image side
    int O, OD, OH, OW       # column side
    int KD, KH, KW, SD, SH, SW, PD, PH, PW, DD, DH, DW
    int G, Cg, Og
    Py_ssize_t plane, L, K, CgK, chunk
    bint direct             # 1x1 kernel, stride 1, no padding: im2col is the identity


cdef Geom make_geom(tuple g, Py_ssize_t chunk) except *:
    cdef Geom q
    (q.C, q.D, q.H, q.W, q.O, q.OD, q.OH, q.OW, q.KD, q.KH, q.KW, q.SD, q.SH, q.SW,
     q.PD, q.PH, q.PW, q.DD, q.DH, q.DW, q.G) = g
    q.Cg, q.Og = q.C // q.G, q.O // q.G
    q.plane = <Py_ssize_t> q.D * q.H * q.W
    q.L = <Py_ssize_t> q.OD * q.OH * q.OW
    q.K = <Py_ssize_t> q.KD * q.KH * q.KW
    q.CgK = q.Cg * q.K
    q.chunk = max(1, min(chunk, q.L))
    q.direct = (q.K == 1 and q.SD == 1 and q.SH == 1 and q.SW == 1 and q.PD == 0
                and q.PH == 0 and q.PW == 0 and q.OD == q.D and q.OH == q.H and q.OW == q.W)
    return q


def max_threads():
    """OpenMP's thread count (1 when built without OpenMP)."""
    return nnc_max_threads()


cdef inline void valid_span(int off, int stride, int size, int n_out, int* lo,
                            int* hi) noexcept nogil:
    """[lo, hi): output positions o with 0 <= o*stride + off < size."""
    lo[0] = 0 if off >= 0 else (-off + stride - 1) // stride
    hi[0] = 0 if size - 1 - off < 0 else min(n_out, (size - 1 - off) // stride + 1)
    if hi[0] < lo[0]:
        hi[0] = lo[0]


cdef void im2col(const Geom* q, const floating* img, floating* col, int c0, int nc,
                 Py_ssize_t l0, Py_ssize_t l1) noexcept nogil:
    """col[(c-c0)*K + k, l-l0] = padded img[c] under kernel tap k at output position l."""
    cdef Py_ssize_t n = l1 - l0, r, r0 = l0 // q.OW, r1 = (l1 - 1) // q.OW
    cdef int c, kd, kh, kw, a, b, lo, hi, ow, off, id_, ih
    cdef const floating* src
    cdef const floating* row
    cdef floating* out
    for c in range(c0, c0 + nc):
        src = img + c * q.plane
        for kd in range(q.KD):
            for kh in range(q.KH):
                for kw in range(q.KW):
                    off = kw * q.DW - q.PW
                    valid_span(off, q.SW, q.W, q.OW, &lo, &hi)
                    for r in range(r0, r1 + 1):
                        a = <int> max(l0 - r * q.OW, 0)
                        b = <int> min(l1 - r * q.OW, q.OW)
                        out = col - l0 + r * q.OW  # out[ow] is column r*OW + ow
                        id_ = (r // q.OH) * q.SD - q.PD + kd * q.DD
                        ih = (r % q.OH) * q.SH - q.PH + kh * q.DH
                        if id_ < 0 or id_ >= q.D or ih < 0 or ih >= q.H:
                            for ow in range(a, b):
                                out[ow] = 0
                            continue
                        row = src + (<Py_ssize_t> id_ * q.H + ih) * q.W + off
                        for ow in range(a, min(b, lo)):
                            out[ow] = 0
                        if q.SW == 1:
                            for ow in range(max(a, lo), min(b, hi)):
                                out[ow] = row[ow]
                        else:
                            for ow in range(max(a, lo), min(b, hi)):
                                out[ow] = row[ow * q.SW]
                        for ow in range(max(a, hi), b):
                            out[ow] = 0
                    col += n


cdef void col2im(const Geom* q, const floating* col, floating* img, int c0, int nc,
                 Py_ssize_t l0, Py_ssize_t l1) noexcept nogil:
    """The adjoint of im2col: img[c] += every column entry at the pixel it was read from."""
    cdef Py_ssize_t n = l1 - l0, r, r0 = l0 // q.OW, r1 = (l1 - 1) // q.OW
    cdef int c, kd, kh, kw, a, b, lo, hi, ow, off, id_, ih
    cdef floating* dst
    cdef floating* row
    cdef const floating* inp
    for c in range(c0, c0 + nc):
        dst = img + c * q.plane
        for kd in range(q.KD):
            for kh in range(q.KH):
                for kw in range(q.KW):
                    off = kw * q.DW - q.PW
                    valid_span(off, q.SW, q.W, q.OW, &lo, &hi)
                    for r in range(r0, r1 + 1):
                        id_ = (r // q.OH) * q.SD - q.PD + kd * q.DD
                        ih = (r % q.OH) * q.SH - q.PH + kh * q.DH
                        if id_ < 0 or id_ >= q.D or ih < 0 or ih >= q.H:
                            continue
                        a = <int> max(l0 - r * q.OW, lo)
                        b = <int> min(l1 - r * q.OW, hi)
                        inp = col - l0 + r * q.OW
                        row = dst + (<Py_ssize_t> id_ * q.H + ih) * q.W + off
                        if q.SW == 1:
                            for ow in range(a, b):
                                row[ow] += inp[ow]
                        else:
                            for ow in range(a, b):
                                row[ow * q.SW] += inp[ow]
                    col += n


cdef void fill_rows(floating* x, const floating* values, Py_ssize_t rows,
                    Py_ssize_t length) noexcept nogil:
    """x[r, :] = values[r] (or 0 when values is NULL)."""
    cdef Py_ssize_t r, i
    if values == NULL:
        memset(x, 0, rows * length * sizeof(floating))
        return
    for r in range(rows):
        for i in range(length):
            x[r * length + i] = values[r]


cdef void cols_from_image(const Geom* q, const floating* img, const floating* w,
                          const floating* bias, floating* cols, floating* buf) noexcept nogil:
    """cols[O, L] = W_g @ im2col(img)_g per group (+ bias[o] on row o)."""
    cdef int g
    cdef Py_ssize_t l0, n
    cdef const floating* wg
    cdef floating beta = 0 if bias == NULL else 1
    if bias != NULL:
        fill_rows(cols, bias, q.O, q.L)
    for g in range(q.G):
        wg = w + g * q.Og * q.CgK
        if q.direct:
            gemm(False, False, q.Og, q.L, q.CgK, <floating> 1, wg, q.CgK,
                 img + g * q.Cg * q.plane, q.L, beta, cols + g * q.Og * q.L, q.L)
            continue
        for l0 in range(0, q.L, q.chunk):
            n = min(q.chunk, q.L - l0)
            im2col(q, img, buf, g * q.Cg, q.Cg, l0, l0 + n)
            gemm(False, False, q.Og, n, q.CgK, <floating> 1, wg, q.CgK, buf, n, beta,
                 cols + g * q.Og * q.L + l0, q.L)


cdef void image_from_cols(const Geom* q, const floating* cols, const floating* w,
                          const floating* bias, floating* img, floating* buf) noexcept nogil:
    """img[C, plane] = col2im(W_g^T @ cols_g) per group (+ bias[c] on channel c)."""
    cdef int g
    cdef Py_ssize_t l0, n
    cdef const floating* wg
    fill_rows(img, bias, q.C, q.plane)
    for g in range(q.G):
        wg = w + g * q.Og * q.CgK
        if q.direct:
            gemm(True, False, q.CgK, q.L, q.Og, <floating> 1, wg, q.CgK,
                 cols + g * q.Og * q.L, q.L, <floating> 1, img + g * q.Cg * q.plane, q.L)
            continue
        for l0 in range(0, q.L, q.chunk):
            n = min(q.chunk, q.L - l0)
            gemm(True, False, q.CgK, n, q.Og, <floating> 1, wg, q.CgK,
                 cols + g * q.Og * q.L + l0, q.L, <floating> 0, buf, n)
            col2im(q, buf, img, g * q.Cg, q.Cg, l0, l0 + n)


cdef void weight_grad(const Geom* q, const floating* img, const floating* cols,
                      floating* gw, floating* buf) noexcept nogil:
    """gw[O, CgK] += cols_g @ im2col(img)_g^T per group."""
    cdef int g
    cdef Py_ssize_t l0, n
    cdef floating* gwg
    for g in range(q.G):
        gwg = gw + g * q.Og * q.CgK
        if q.direct:
            gemm(False, True, q.Og, q.CgK, q.L, <floating> 1, cols + g * q.Og * q.L, q.L,
                 img + g * q.Cg * q.plane, q.L, <floating> 1, gwg, q.CgK)
            continue
        for l0 in range(0, q.L, q.chunk):
            n = min(q.chunk, q.L - l0)
            im2col(q, img, buf, g * q.Cg, q.Cg, l0, l0 + n)
            gemm(False, True, q.Og, q.CgK, n, <floating> 1, cols + g * q.Og * q.L + l0, q.L,
                 buf, n, <floating> 1, gwg, q.CgK)


cdef inline const floating* bias_ptr(const floating[::1] bias) noexcept nogil:
    return &bias[0] if bias.shape[0] > 0 else NULL


def conv_cols(tuple geom, const floating[:, ::1] img, const floating[:, ::1] weight,
              const floating[::1] bias, floating[:, ::1] cols, floating[:, ::1] buf,
              int nthreads, Py_ssize_t chunk):
    """cols[n] (O*L) = W @ im2col(img[n]) (+ bias) for every sample.

    weight is (O, Cg*K); bias has O entries or none; buf is (nthreads, Cg*K*chunk).
    """
    cdef Geom q = make_geom(geom, chunk)
    cdef Py_ssize_t i
    cdef const floating* b = bias_ptr(bias)
    with nogil:
        if nthreads > 1:
            for i in prange(img.shape[0], num_threads=nthreads, schedule="static"):
                cols_from_image(&q, &img[i, 0], &weight[0, 0], b, &cols[i, 0],
                                &buf[threadid(), 0])
        else:
            for i in range(img.shape[0]):
                cols_from_image(&q, &img[i, 0], &weight[0, 0], b, &cols[i, 0], &buf[0, 0])


def conv_image(tuple geom, const floating[:, ::1] cols, const floating[:, ::1] weight,
               const floating[::1] bias, floating[:, ::1] img, floating[:, ::1] buf,
               int nthreads, Py_ssize_t chunk):
    """img[n] (C*plane) = col2im(W^T @ cols[n]) (+ bias, C entries or none)."""
    cdef Geom q = make_geom(geom, chunk)
    cdef Py_ssize_t i
    cdef const floating* b = bias_ptr(bias)
    with nogil:
        if nthreads > 1:
            for i in prange(img.shape[0], num_threads=nthreads, schedule="static"):
                image_from_cols(&q, &cols[i, 0], &weight[0, 0], b, &img[i, 0],
                                &buf[threadid(), 0])
        else:
            for i in range(img.shape[0]):
                image_from_cols(&q, &cols[i, 0], &weight[0, 0], b, &img[i, 0], &buf[0, 0])


def conv_weight_grad(tuple geom, const floating[:, ::1] img, const floating[:, ::1] cols,
                     floating[:, ::1] parts, floating[:, ::1] buf, int nthreads,
                     Py_ssize_t chunk):
    """parts[0] (O*Cg*K) = sum_n cols[n] @ im2col(img[n])^T.

    parts is (nthreads, O*Cg*K), zero-filled: each thread sums its samples into its
    own row, then the rows are added into row 0.
    """
    cdef Geom q = make_geom(geom, chunk)
    cdef Py_ssize_t i, j, t
    with nogil:
        if nthreads > 1:
            for i in prange(img.shape[0], num_threads=nthreads, schedule="static"):
                t = threadid()
                weight_grad(&q, &img[i, 0], &cols[i, 0], &parts[t, 0], &buf[t, 0])
            for j in prange(parts.shape[1], num_threads=nthreads, schedule="static"):
                for t in range(1, parts.shape[0]):
                    parts[0, j] += parts[t, j]
        else:
            for i in range(img.shape[0]):
                weight_grad(&q, &img[i, 0], &cols[i, 0], &parts[0, 0], &buf[0, 0])


def channel_sum(const floating[:, :, ::1] x, floating[::1] out):
    """out[c] = sum over n and l of x[n, c, l], accumulated in double (the bias gradient)."""
    cdef Py_ssize_t n, c, l
    cdef double acc
    with nogil:
        for c in prange(x.shape[1], schedule="static"):
            acc = 0
            for n in range(x.shape[0]):
                for l in range(x.shape[2]):
                    acc = acc + x[n, c, l]
            out[c] = <floating> acc


def unfold(tuple geom, const floating[:, ::1] img, floating[:, ::1] cols):
    """cols[n] (C*K, L) = im2col(img[n]) (nn.Unfold), parallel over samples x channels."""
    cdef Geom q = make_geom(geom, 0)
    cdef Py_ssize_t i, N = img.shape[0]
    cdef int c
    with nogil:
        for i in prange(N * q.C, schedule="static"):
            c = <int> (i % q.C)
            im2col(&q, &img[i // q.C, 0], &cols[i // q.C, c * q.K * q.L], c, 1, 0, q.L)


def fold(tuple geom, const floating[:, ::1] cols, floating[:, ::1] img):
    """img[n] = col2im(cols[n]) (nn.Fold): overlapping blocks are summed."""
    cdef Geom q = make_geom(geom, 0)
    cdef Py_ssize_t i, N = img.shape[0]
    cdef int c
    with nogil:
        for i in prange(N * q.C, schedule="static"):
            c = <int> (i % q.C)
            memset(&img[i // q.C, c * q.plane], 0, q.plane * sizeof(floating))
            col2im(&q, &cols[i // q.C, c * q.K * q.L], &img[i // q.C, 0], c, 1, 0, q.L)
