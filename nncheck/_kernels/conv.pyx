# cython: language_level=3
"""Convolution kernels for 1, 2 and 3 spatial dims: im2col/col2im + BLAS GEMM.

One geometry serves every layer.  The *image* side is (C, D, H, W) and the
*column* side is (O, OD, OH, OW); a 1-d signal is (1, 1, L), a 2-d image
(1, H, W).  Three primitives cover forward and backward of the six layers:

  conv_cols         cols = W_g @ im2col(img)          conv forward, conv_transpose grad-input
  conv_image        img  = col2im(W_g^T @ cols)       conv grad-input, conv_transpose forward
  conv_weight_grad  gW  += cols_g @ im2col(img)_g^T   weight gradient of both

Each call is cut into tasks that threads share (prange, dynamic schedule):
(sample, group, block of ``chunk`` columns) for conv_cols/conv_weight_grad and
(sample, group, block of ``cblock`` channels) for conv_image, whose col2im
writes only its own channels.  A task calls a single-threaded GEMM (the caller
pins BLAS to one thread while ``nthreads > 1``), so OpenMP and BLAS threads
never compete, and even one sample keeps every thread busy.  The column buffer
holds one chunk: it stays in cache between im2col and the GEMM reading it, and
it is the only scratch memory (one per thread; the weight gradient adds one
partial sum per thread).  A 1x1 kernel with stride 1 and no padding needs no
buffer: the image *is* the column matrix.

All shapes are validated in nncheck.nn.functional.conv before any call here.
"""

from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.stdlib cimport calloc, free
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
    int G, Cg, Og, cblock, n_cblocks
    Py_ssize_t plane, L, K, CgK, chunk, n_chunks
    bint direct             # 1x1 kernel, stride 1, no padding: im2col is the identity


cdef Geom make_geom(tuple g, Py_ssize_t chunk, int cblock) except *:
    cdef Geom q
    (q.C, q.D, q.H, q.W, q.O, q.OD, q.OH, q.OW, q.KD, q.KH, q.KW, q.SD, q.SH, q.SW,
     q.PD, q.PH, q.PW, q.DD, q.DH, q.DW, q.G) = g
    q.Cg, q.Og = q.C // q.G, q.O // q.G
    q.plane = <Py_ssize_t> q.D * q.H * q.W
    q.L = <Py_ssize_t> q.OD * q.OH * q.OW
    q.K = <Py_ssize_t> q.KD * q.KH * q.KW
    q.CgK = q.Cg * q.K
    q.chunk = max(1, min(chunk, q.L))
    q.n_chunks = (q.L + q.chunk - 1) // q.chunk
    q.cblock = max(1, min(cblock, q.Cg))
    q.n_cblocks = (q.Cg + q.cblock - 1) // q.cblock
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


cdef void fill_rows(floating* x, const floating* values, Py_ssize_t rows, Py_ssize_t length,
                    Py_ssize_t ld) noexcept nogil:
    """x[r, :length] = values[r] (or 0 when values is NULL), rows ld apart."""
    cdef Py_ssize_t r, i
    cdef floating v
    for r in range(rows):
        v = 0 if values == NULL else values[r]
        for i in range(length):
            x[r * ld + i] = v


cdef void cols_task(const Geom* q, const floating* img, const floating* w, const floating* bias,
                    floating* cols, floating* buf, int g, Py_ssize_t l0) noexcept nogil:
    """Group g, columns [l0, l0+chunk): cols = W_g @ im2col(img)_g (+ bias)."""
    cdef Py_ssize_t n = min(q.chunk, q.L - l0), ld = n
    cdef floating* out = cols + g * q.Og * q.L + l0
    cdef const floating* src = buf
    cdef floating beta = 0
    if bias != NULL:
        fill_rows(out, bias + g * q.Og, q.Og, n, q.L)
        beta = 1
    if q.direct:
        src, ld = img + g * q.Cg * q.plane + l0, q.L
    else:
        im2col(q, img, buf, g * q.Cg, q.Cg, l0, l0 + n)
    gemm(False, False, q.Og, n, q.CgK, <floating> 1, w + g * q.Og * q.CgK, q.CgK, src, ld,
         beta, out, q.L)


cdef void weight_task(const Geom* q, const floating* img, const floating* cols, floating* gw,
                      floating* buf, int g, Py_ssize_t l0) noexcept nogil:
    """Group g, columns [l0, l0+chunk): gw_g += cols_g @ im2col(img)_g^T."""
    cdef Py_ssize_t n = min(q.chunk, q.L - l0), ld = n
    cdef const floating* src = buf
    if q.direct:
        src, ld = img + g * q.Cg * q.plane + l0, q.L
    else:
        im2col(q, img, buf, g * q.Cg, q.Cg, l0, l0 + n)
    gemm(False, True, q.Og, q.CgK, n, <floating> 1, cols + g * q.Og * q.L + l0, q.L, src, ld,
         <floating> 1, gw + g * q.Og * q.CgK, q.CgK)


cdef void image_task(const Geom* q, const floating* cols, const floating* w,
                     const floating* bias, floating* img, floating* buf, int g,
                     int c0) noexcept nogil:
    """Group g, its channels [c0, c0+cblock): img = col2im(W_g[:, those]^T @ cols_g) (+ bias).

    Blocks of channels write disjoint parts of img, so they can run in parallel.
    """
    cdef int nc = min(q.cblock, q.Cg - c0), c = g * q.Cg + c0
    cdef Py_ssize_t l0 = 0, n
    cdef const floating* wc = w + g * q.Og * q.CgK + c0 * q.K
    fill_rows(img + c * q.plane, NULL if bias == NULL else bias + c, nc, q.plane, q.plane)
    if q.direct:
        gemm(True, False, nc, q.L, q.Og, <floating> 1, wc, q.CgK, cols + g * q.Og * q.L, q.L,
             <floating> 1, img + c * q.plane, q.L)
        return
    while l0 < q.L:
        n = min(q.chunk, q.L - l0)
        gemm(True, False, nc * q.K, n, q.Og, <floating> 1, wc, q.CgK,
             cols + g * q.Og * q.L + l0, q.L, <floating> 0, buf, n)
        col2im(q, buf, img, c, nc, l0, l0 + n)
        l0 += n


cdef inline const floating* bias_ptr(const floating[::1] bias) noexcept nogil:
    return &bias[0] if bias.shape[0] > 0 else NULL


def conv_cols(tuple geom, const floating[:, ::1] img, const floating[:, ::1] weight,
              const floating[::1] bias, floating[:, ::1] cols, floating[:, ::1] buf,
              int nthreads, Py_ssize_t chunk, int cblock):
    """cols[n] (O*L) = W @ im2col(img[n]) (+ bias) for every sample.

    weight is (O, Cg*K); bias has O entries or none; buf is (nthreads, Cg*K*chunk).
    Tasks are (sample, group, column chunk).
    """
    cdef Geom q = make_geom(geom, chunk, cblock)
    cdef Py_ssize_t t, i, per_sample = q.G * q.n_chunks
    cdef const floating* b = bias_ptr(bias)
    for t in prange(img.shape[0] * per_sample, nogil=True, num_threads=nthreads,
                    schedule="dynamic"):
        i = t // per_sample
        cols_task(&q, &img[i, 0], &weight[0, 0], b, &cols[i, 0], &buf[threadid(), 0],
                  <int> ((t // q.n_chunks) % q.G), (t % q.n_chunks) * q.chunk)


def conv_image(tuple geom, const floating[:, ::1] cols, const floating[:, ::1] weight,
               const floating[::1] bias, floating[:, ::1] img, floating[:, ::1] buf,
               int nthreads, Py_ssize_t chunk, int cblock):
    """img[n] (C*plane) = col2im(W^T @ cols[n]) (+ bias, C entries or none).

    Tasks are (sample, group, block of cblock channels).
    """
    cdef Geom q = make_geom(geom, chunk, cblock)
    cdef Py_ssize_t t, i, per_sample = q.G * q.n_cblocks
    cdef const floating* b = bias_ptr(bias)
    for t in prange(img.shape[0] * per_sample, nogil=True, num_threads=nthreads,
                    schedule="dynamic"):
        i = t // per_sample
        image_task(&q, &cols[i, 0], &weight[0, 0], b, &img[i, 0], &buf[threadid(), 0],
                   <int> ((t // q.n_cblocks) % q.G), <int> (t % q.n_cblocks) * q.cblock)


def conv_weight_grad(tuple geom, const floating[:, ::1] img, const floating[:, ::1] cols,
                     floating[:, ::1] parts, floating[:, ::1] buf, int nthreads,
                     Py_ssize_t chunk, int cblock):
    """parts[0] (O*Cg*K) = sum_n cols[n] @ im2col(img[n])^T.

    parts is (nthreads, O*Cg*K), zero-filled: each thread sums its tasks (sample, group,
    column chunk) into its own row, then the rows are added into row 0.
    """
    cdef Geom q = make_geom(geom, chunk, cblock)
    cdef Py_ssize_t t, i, j, k, per_sample = q.G * q.n_chunks
    for t in prange(img.shape[0] * per_sample, nogil=True, num_threads=nthreads,
                    schedule="dynamic"):
        i = t // per_sample
        weight_task(&q, &img[i, 0], &cols[i, 0], &parts[threadid(), 0], &buf[threadid(), 0],
                    <int> ((t // q.n_chunks) % q.G), (t % q.n_chunks) * q.chunk)
    if parts.shape[0] > 1:
        for j in prange(parts.shape[1], nogil=True, num_threads=nthreads, schedule="static"):
            for k in range(1, parts.shape[0]):
                parts[0, j] += parts[k, j]


def channel_sum(const floating[:, :, ::1] x, floating[::1] out, int nthreads):
    """out[c] = sum over n and l of x[n, c, l], accumulated in double (the bias gradient)."""
    cdef Py_ssize_t n, c, l
    cdef double acc
    with nogil:
        for c in prange(x.shape[1], num_threads=nthreads, schedule="static"):
            acc = 0
            for n in range(x.shape[0]):
                for l in range(x.shape[2]):
                    acc = acc + x[n, c, l]
            out[c] = <floating> acc


def unfold(tuple geom, const floating[:, ::1] img, floating[:, ::1] cols, int nthreads):
    """cols[n] (C*K, L) = im2col(img[n]) (nn.Unfold), parallel over samples x channels."""
    cdef Geom q = make_geom(geom, 1, 1)
    cdef Py_ssize_t i, N = img.shape[0]
    cdef int c
    with nogil:
        for i in prange(N * q.C, num_threads=nthreads, schedule="static"):
            c = <int> (i % q.C)
            im2col(&q, &img[i // q.C, 0], &cols[i // q.C, c * q.K * q.L], c, 1, 0, q.L)


def fold(tuple geom, const floating[:, ::1] cols, floating[:, ::1] img, int nthreads):
    """img[n] = col2im(cols[n]) (nn.Fold): overlapping blocks are summed."""
    cdef Geom q = make_geom(geom, 1, 1)
    cdef Py_ssize_t i, N = img.shape[0]
    cdef int c
    with nogil:
        for i in prange(N * q.C, num_threads=nthreads, schedule="static"):
            c = <int> (i % q.C)
            memset(&img[i // q.C, c * q.plane], 0, q.plane * sizeof(floating))
            col2im(&q, &cols[i // q.C, c * q.K * q.L], &img[i // q.C, 0], c, 1, 0, q.L)


# ----------------------------------------------------------------------------- depthwise
# One input channel per group (MobileNet's, ConvNeXt's and ShuffleNet's depthwise layers,
# Og = channel multiplier outputs each): a GEMM per channel would have one row, so these
# are direct loops over kernel taps and output rows, the innermost loop running along a row
# (contiguous for stride 1, where gcc vectorises it).  2-d and 1-d geometries (D = KD = 1).
# Tasks are whole planes, so no two threads write the same element.

cdef extern from "vecmath.h":
    pass

cdef extern from *:
    """
    /* One plane of a depthwise convolution, all in C so that the short rows cost no calls:
       out (OH x OW) = bias + sum over taps of w (KH x KW) * img (H x W).  Columns [lo, hi)
       have every tap of a row inside the image and take the loop vectorised along the row;
       the edge columns check each tap.  ``flip`` reads the taps reversed (the transpose of
       a stride-1 convolution is a convolution with the flipped kernel). */
    #define NNCHECK_DW_PLANE(T) \\
        static inline __attribute__((always_inline)) void dw_plane_impl_##T( \\
                const T *img, const T *w, T *out, T bias, int H, int W, int OH, int OW, \\
                int KH, const int KW, int SH, int SW, int PH, int PW, int DH, int DW, int lo, \\
                int hi, int flip) { \\
            T taps[64]; \\
            for (ptrdiff_t i = 0; i < (ptrdiff_t) OH * OW; i++) \\
                out[i] = bias; \\
            for (int kh = 0; kh < KH; kh++) { \\
                for (int k = 0; k < KW; k++) \\
                    taps[k] = flip ? w[(KH - 1 - kh) * KW + KW - 1 - k] : w[kh * KW + k]; \\
                for (int oh = 0; oh < OH; oh++) { \\
                    const int ih = oh * SH - PH + kh * DH; \\
                    if (ih < 0 || ih >= H) \\
                        continue; \\
                    const T *irow = img + (ptrdiff_t) ih * W; \\
                    T *orow = out + (ptrdiff_t) oh * OW; \\
                    for (int o = 0; o < OW; o = (o + 1 == lo) ? hi : o + 1) { \\
                        if (o == lo) /* lo == 0: no left edge */ \\
                            o = hi; \\
                        if (o >= OW) \\
                            break; \\
                        T acc = 0; \\
                        for (int k = 0; k < KW; k++) { \\
                            const int iw = o * SW - PW + k * DW; \\
                            if (iw >= 0 && iw < W) \\
                                acc += taps[k] * irow[iw]; \\
                        } \\
                        orow[o] += acc; \\
                    } \\
                    if (SW == 1) { \\
                        const T *src = irow - PW; \\
                        _Pragma("omp simd") \\
                        for (int o = lo; o < hi; o++) { \\
                            T acc = 0; \\
                            for (int k = 0; k < KW; k++) \\
                                acc += taps[k] * src[o + k * DW]; \\
                            orow[o] += acc; \\
                        } \\
                    } else { \\
                        _Pragma("omp simd") \\
                        for (int o = lo; o < hi; o++) { \\
                            T acc = 0; \\
                            for (int k = 0; k < KW; k++) \\
                                acc += taps[k] * irow[o * SW - PW + k * DW]; \\
                            orow[o] += acc; \\
                        } \\
                    } \\
                } \\
            } \\
        } \\
        /* the common widths as constants: the tap loop unrolls inside the vector loop */ \\
        NNCHECK_TARGETS static void dw_plane_##T( \\
                const T *img, const T *w, T *out, T bias, int H, int W, int OH, int OW, \\
                int KH, int KW, int SH, int SW, int PH, int PW, int DH, int DW, int lo, \\
                int hi, int flip) { \\
            switch (KW) { \\
            case 3: dw_plane_impl_##T(img, w, out, bias, H, W, OH, OW, KH, 3, SH, SW, PH, \\
                                      PW, DH, DW, lo, hi, flip); break; \\
            case 5: dw_plane_impl_##T(img, w, out, bias, H, W, OH, OW, KH, 5, SH, SW, PH, \\
                                      PW, DH, DW, lo, hi, flip); break; \\
            case 7: dw_plane_impl_##T(img, w, out, bias, H, W, OH, OW, KH, 7, SH, SW, PH, \\
                                      PW, DH, DW, lo, hi, flip); break; \\
            default: dw_plane_impl_##T(img, w, out, bias, H, W, OH, OW, KH, KW, SH, SW, PH, \\
                                       PW, DH, DW, lo, hi, flip); \\
            } \\
        } \\
        /* weight gradient of one (image plane, column plane) pair, added into acc (KH*KW): \\
           per tap, a row's products summed in T (vectorised), the rows in double */ \\
        NNCHECK_TARGETS static void dw_wgrad_##T( \\
                const T *img, const T *cols, double *acc, int H, int W, int OH, int OW, \\
                int KH, int KW, int SH, int SW, int PH, int PW, int DH, int DW) { \\
            for (int kh = 0; kh < KH; kh++) \\
                for (int kw = 0; kw < KW; kw++) { \\
                    const int off = kw * DW - PW; \\
                    int lo = off >= 0 ? 0 : (-off + SW - 1) / SW; \\
                    int hi = W - 1 - off < 0 ? 0 : (W - 1 - off) / SW + 1; \\
                    hi = hi < OW ? hi : OW; \\
                    double total = 0; \\
                    for (int oh = 0; oh < OH; oh++) { \\
                        const int ih = oh * SH - PH + kh * DH; \\
                        if (ih < 0 || ih >= H || hi <= lo) \\
                            continue; \\
                        const T *irow = img + (ptrdiff_t) ih * W + off; \\
                        const T *grow = cols + (ptrdiff_t) oh * OW; \\
                        T row = 0; \\
                        if (SW == 1) { \\
                            _Pragma("omp simd reduction(+:row)") \\
                            for (int o = lo; o < hi; o++) \\
                                row += grow[o] * irow[o]; \\
                        } else { \\
                            _Pragma("omp simd reduction(+:row)") \\
                            for (int o = lo; o < hi; o++) \\
                                row += grow[o] * irow[o * SW]; \\
                        } \\
                        total += row; \\
                    } \\
                    acc[kh * KW + kw] += total; \\
                } \\
        }
    NNCHECK_DW_PLANE(float)
    NNCHECK_DW_PLANE(double)
    """
    void dw_plane_float(const float* img, const float* w, float* out, float bias, int H, int W,
                        int OH, int OW, int KH, int KW, int SH, int SW, int PH, int PW, int DH,
                        int DW, int lo, int hi, int flip) noexcept nogil
    void dw_plane_double(const double* img, const double* w, double* out, double bias, int H,
                         int W, int OH, int OW, int KH, int KW, int SH, int SW, int PH, int PW,
                         int DH, int DW, int lo, int hi, int flip) noexcept nogil
    void dw_wgrad_float(const float* img, const float* cols, double* acc, int H, int W, int OH,
                        int OW, int KH, int KW, int SH, int SW, int PH, int PW, int DH,
                        int DW) noexcept nogil
    void dw_wgrad_double(const double* img, const double* cols, double* acc, int H, int W,
                         int OH, int OW, int KH, int KW, int SH, int SW, int PH, int PW, int DH,
                         int DW) noexcept nogil


cdef inline void dw_plane(const floating* img, const floating* w, floating* out, floating bias,
                          int H, int W, int OH, int OW, int KH, int KW, int SH, int SW, int PH,
                          int PW, int DH, int DW, bint flip) noexcept nogil:
    """dw_plane_<T> with [lo, hi): the output columns whose taps are all inside the row."""
    cdef int lo, hi, unused
    valid_span(-PW, SW, W, OW, &lo, &unused)
    valid_span((KW - 1) * DW - PW, SW, W, OW, &unused, &hi)
    lo = min(lo, OW)
    hi = max(lo, hi)
    if floating is float:
        dw_plane_float(img, w, out, bias, H, W, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW, lo, hi,
                       flip)
    else:
        dw_plane_double(img, w, out, bias, H, W, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW, lo,
                        hi, flip)


cdef inline bint gathers(const Geom* q) noexcept nogil:
    """Whether the transpose is a stride-1 convolution with the flipped taps (at most 64
    along W) and padding D*(K-1) - P >= 0."""
    return (q.SH == 1 and q.SW == 1 and q.KW <= 64 and q.DH * (q.KH - 1) >= q.PH
            and q.DW * (q.KW - 1) >= q.PW)


cdef void depthwise_plane_transposed(const Geom* q, const floating* cols, const floating* w,
                                     floating* img) noexcept nogil:
    """img (H*W) += the taps w scattered from one column plane (OH*OW): the transpose, for
    strides above 1 (see gathers)."""
    cdef int kh, kw, oh, ow, lo_h, hi_h, lo_w, hi_w, off
    cdef floating wv
    cdef const floating* grow
    cdef floating* irow
    for kh in range(q.KH):
        valid_span(kh * q.DH - q.PH, q.SH, q.H, q.OH, &lo_h, &hi_h)
        for kw in range(q.KW):
            off = kw * q.DW - q.PW
            valid_span(off, q.SW, q.W, q.OW, &lo_w, &hi_w)
            wv = w[kh * q.KW + kw]
            for oh in range(lo_h, hi_h):
                grow = cols + <Py_ssize_t> oh * q.OW
                irow = img + <Py_ssize_t> (oh * q.SH + kh * q.DH - q.PH) * q.W
                for ow in range(lo_w, hi_w):
                    irow[ow * q.SW + off] += wv * grow[ow]


def depthwise_cols(tuple geom, const floating[:, ::1] img, const floating[:, ::1] weight,
                   const floating[::1] bias, floating[:, ::1] cols, int nthreads):
    """conv_cols for Cg == 1: cols[n] (O*L) = the depthwise convolution of img[n]."""
    cdef Geom q = make_geom(geom, 1, 1)
    cdef Py_ssize_t t, i, o
    cdef const floating* b = bias_ptr(bias)
    for t in prange(img.shape[0] * q.O, nogil=True, num_threads=nthreads, schedule="static"):
        i, o = t // q.O, t % q.O
        dw_plane(&img[i, (o // q.Og) * q.plane], &weight[o, 0], &cols[i, o * q.L],
                 b[o] if b != NULL else 0, q.H, q.W, q.OH, q.OW, q.KH, q.KW, q.SH, q.SW,
                 q.PH, q.PW, q.DH, q.DW, False)


def depthwise_image(tuple geom, const floating[:, ::1] cols, const floating[:, ::1] weight,
                    const floating[::1] bias, floating[:, ::1] img, int nthreads):
    """conv_image for Cg == 1: img[n] (C*plane) = the transpose of the depthwise convolution
    (+ bias, C entries or none); a task is one image plane and its Og column planes."""
    cdef Geom q = make_geom(geom, 1, 1)
    cdef Py_ssize_t t, i, c, j, o
    cdef const floating* b = bias_ptr(bias)
    cdef bint gather = gathers(&q) and q.Og == 1
    for t in prange(img.shape[0] * q.C, nogil=True, num_threads=nthreads, schedule="static"):
        i, c = t // q.C, t % q.C
        if gather:  # a convolution of the column plane with the flipped taps
            dw_plane(&cols[i, c * q.L], &weight[c, 0], &img[i, c * q.plane],
                     b[c] if b != NULL else 0, q.OH, q.OW, q.H, q.W, q.KH, q.KW, 1, 1,
                     q.DH * (q.KH - 1) - q.PH, q.DW * (q.KW - 1) - q.PW, q.DH, q.DW, True)
            continue
        for j in range(q.plane):
            img[i, c * q.plane + j] = b[c] if b != NULL else 0
        for o in range(c * q.Og, (c + 1) * q.Og):
            depthwise_plane_transposed(&q, &cols[i, o * q.L], &weight[o, 0],
                                       &img[i, c * q.plane])


def depthwise_weight_grad(tuple geom, const floating[:, ::1] img, const floating[:, ::1] cols,
                          floating[:, ::1] grad_weight, int nthreads):
    """conv_weight_grad for Cg == 1: grad_weight (O, K) = sum over samples and positions of
    cols * the tap's image values (dw_wgrad: a row's products summed in the tensor's type,
    vectorised, the rows and samples in double).  Tasks are output channels."""
    cdef Geom q = make_geom(geom, 1, 1)
    cdef Py_ssize_t o, i, k
    cdef double* acc = <double*> calloc(q.O * q.K, sizeof(double))
    if acc == NULL:
        raise MemoryError("depthwise weight gradient: no memory for the sums")
    for o in prange(q.O, nogil=True, num_threads=nthreads, schedule="static"):
        for i in range(img.shape[0]):
            if floating is float:
                dw_wgrad_float(&img[i, (o // q.Og) * q.plane], &cols[i, o * q.L], acc + o * q.K,
                               q.H, q.W, q.OH, q.OW, q.KH, q.KW, q.SH, q.SW, q.PH, q.PW, q.DH,
                               q.DW)
            else:
                dw_wgrad_double(&img[i, (o // q.Og) * q.plane], &cols[i, o * q.L],
                                acc + o * q.K, q.H, q.W, q.OH, q.OW, q.KH, q.KW, q.SH, q.SW,
                                q.PH, q.PW, q.DH, q.DW)
        for k in range(q.K):
            grad_weight[o, k] = <floating> acc[o * q.K + k]
    free(acc)
