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

When a sample has few output positions (ResNet's and U-Net's last stages), a GEMM per
sample is too thin for BLAS: conv_cols_batched, conv_image_batched and
conv_weight_grad_batched give the three with a block of samples' columns side by side in
each GEMM (tasks: block of samples, group, block of its output or image channels; the
weight gradient's: group, block of image channels, every block of samples in turn).

At stride 1, conv_cols_shifted, conv_image_shifted and conv_weight_grad_shifted give
the three without im2col/col2im: with the image zero-padded, each kernel tap's columns are
the padded image shifted by the tap, a matrix BLAS reads (or adds to) in place, so one
GEMM per tap replaces the copy (which layers take them: ConvGeometry.shifted and
shifted_image).

Depthwise convolutions, and 2-d/1-d ones with a few input channels per group at
stride 1, have a GEMM too small to pay for im2col: direct_cols, direct_image and
direct_weight_grad give the same three primitives by direct loops
(conv_direct.h; which layers take them is decided in nncheck.nn.functional.conv).

All shapes are validated in nncheck.nn.functional.conv before any call here.
"""

from cython cimport floating
from cython.parallel cimport prange, threadid
from libc.string cimport memcpy, memset

from nncheck._kernels.blas cimport gemm

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    static int nnc_max_threads(void) { return omp_get_max_threads(); }
    #else
    static int nnc_max_threads(void) { return 1; }
    #endif
    /* out[i] = row[i*stride] for i < n: im2col's copy of one output row's taps.  Constant
       strides 1 and 2 with pointer-sized indices let gcc vectorise (Python's -fwrapv keeps
       it from proving int index arithmetic linear). */
    #define NNC_STRIDED_COPY(T) \\
        static inline void strided_copy_##T(T *restrict out, const T *restrict row, \\
                                            ptrdiff_t n, ptrdiff_t stride) { \\
            if (stride == 1) { \\
                memcpy(out, row, (size_t) n * sizeof(T)); \\
            } else if (stride == 2) { \\
                for (ptrdiff_t i = 0; i < n; i++) \\
                    out[i] = row[2 * i]; \\
            } else { \\
                for (ptrdiff_t i = 0; i < n; i++) \\
                    out[i] = row[i * stride]; \\
            } \\
        }
    #include <string.h>
    NNC_STRIDED_COPY(float)
    NNC_STRIDED_COPY(double)
    """
    int nnc_max_threads() noexcept nogil
    void strided_copy_float(float* out, const float* row, Py_ssize_t n,
                            Py_ssize_t stride) noexcept nogil
    void strided_copy_double(double* out, const double* row, Py_ssize_t n,
                             Py_ssize_t stride) noexcept nogil


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


cdef inline void next_row(const Geom* q, int* od, int* oh) noexcept nogil:
    """(od, oh) of the next output row, without a division per row (col2im of a 4x4 or
    7x7 image: 0.75-0.87x the time)."""
    oh[0] += 1
    if oh[0] == q.OH:
        oh[0] = 0
        od[0] += 1


cdef void im2col(const Geom* q, const floating* img, floating* col, int c0, int nc,
                 Py_ssize_t l0, Py_ssize_t l1, Py_ssize_t ld) noexcept nogil:
    """col[(c-c0)*K + k, l-l0] = padded img[c] under kernel tap k at output position l
    (col's rows ld apart)."""
    cdef Py_ssize_t r, r0 = l0 // q.OW, r1 = (l1 - 1) // q.OW
    cdef int c, kd, kh, kw, a, b, lo, hi, ow, off, id_, ih, od, oh
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
                    od, oh = <int> (r0 // q.OH), <int> (r0 % q.OH)
                    for r in range(r0, r1 + 1):
                        a = <int> max(l0 - r * q.OW, 0)
                        b = <int> min(l1 - r * q.OW, q.OW)
                        out = col - l0 + r * q.OW  # out[ow] is column r*OW + ow
                        id_ = od * q.SD - q.PD + kd * q.DD
                        ih = oh * q.SH - q.PH + kh * q.DH
                        next_row(q, &od, &oh)
                        if id_ < 0 or id_ >= q.D or ih < 0 or ih >= q.H:
                            for ow in range(a, b):
                                out[ow] = 0
                            continue
                        row = src + (<Py_ssize_t> id_ * q.H + ih) * q.W + off
                        for ow in range(a, min(b, lo)):
                            out[ow] = 0
                        if min(b, hi) > max(a, lo):
                            if floating is float:
                                strided_copy_float(out + max(a, lo), row + max(a, lo) * q.SW,
                                                   min(b, hi) - max(a, lo), q.SW)
                            else:
                                strided_copy_double(out + max(a, lo), row + max(a, lo) * q.SW,
                                                    min(b, hi) - max(a, lo), q.SW)
                        for ow in range(max(a, hi), b):
                            out[ow] = 0
                    col += ld


cdef void col2im(const Geom* q, const floating* col, floating* img, int c0, int nc,
                 Py_ssize_t l0, Py_ssize_t l1, Py_ssize_t ld) noexcept nogil:
    """The adjoint of im2col: img[c] += every column entry at the pixel it was read from."""
    cdef Py_ssize_t r, r0 = l0 // q.OW, r1 = (l1 - 1) // q.OW
    cdef int c, kd, kh, kw, a, b, lo, hi, ow, off, id_, ih, od, oh
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
                    od, oh = <int> (r0 // q.OH), <int> (r0 % q.OH)
                    for r in range(r0, r1 + 1):
                        id_ = od * q.SD - q.PD + kd * q.DD
                        ih = oh * q.SH - q.PH + kh * q.DH
                        next_row(q, &od, &oh)
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
                    col += ld


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
        im2col(q, img, buf, g * q.Cg, q.Cg, l0, l0 + n, n)
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
        im2col(q, img, buf, g * q.Cg, q.Cg, l0, l0 + n, n)
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
    fill_rows(img + c * q.plane, shifted(bias, c), nc, q.plane, q.plane)
    if q.direct:
        gemm(True, False, nc, q.L, q.Og, <floating> 1, wc, q.CgK, cols + g * q.Og * q.L, q.L,
             <floating> 1, img + c * q.plane, q.L)
        return
    while l0 < q.L:
        n = min(q.chunk, q.L - l0)
        gemm(True, False, nc * q.K, n, q.Og, <floating> 1, wc, q.CgK,
             cols + g * q.Og * q.L + l0, q.L, <floating> 0, buf, n)
        col2im(q, buf, img, c, nc, l0, l0 + n, n)
        l0 += n


# Samples side by side.  When a sample has few output positions (ResNet's last stage: 16), a
# GEMM per sample is a thin product (O x Cg*K x 16) that BLAS runs far below peak, packing
# (and streaming from memory) the whole weight for a few columns.  These tasks take a block
# of nb samples instead: their im2col side by side in one (Cg*K, nb*L) matrix, one GEMM,
# and the product's columns scattered back per sample.

cdef void copy_rows(floating* dst, Py_ssize_t ld_dst, const floating* src, Py_ssize_t ld_src,
                    Py_ssize_t rows, Py_ssize_t length, const floating* add) noexcept nogil:
    """dst[r, :length] = src[r, :length] (+ add[r] when add is not NULL)."""
    cdef Py_ssize_t r, i
    cdef floating v
    for r in range(rows):
        if add == NULL:
            memcpy(dst + r * ld_dst, src + r * ld_src, length * sizeof(floating))
        else:
            v = add[r]
            for i in range(length):
                dst[r * ld_dst + i] = src[r * ld_src + i] + v


cdef void gather_cols(const Geom* q, const floating* cols, Py_ssize_t step, Py_ssize_t nb,
                      int g, floating* out) noexcept nogil:
    """out (Og, nb*L) = group g's columns of nb samples (step apart) side by side."""
    cdef Py_ssize_t i
    for i in range(nb):
        copy_rows(out + i * q.L, nb * q.L, cols + i * step + g * q.Og * q.L, q.L, q.Og, q.L,
                  NULL)


cdef void batch_cols_task(const Geom* q, const floating* img, Py_ssize_t img_step,
                          const floating* w, const floating* bias, floating* cols,
                          Py_ssize_t cols_step, floating* buf, Py_ssize_t nb, int g, int o0,
                          int no) noexcept nogil:
    """nb samples, group g, its output channels [o0, o0+no): cols = W_g @ im2col(img)_g
    (+ bias), one GEMM for the block.  buf holds (Cg*K + no) * nb*L elements."""
    cdef Py_ssize_t i, n = nb * q.L
    cdef floating* prod = buf + q.CgK * n
    cdef int o = g * q.Og + o0
    for i in range(nb):
        im2col(q, img + i * img_step, buf + i * q.L, g * q.Cg, q.Cg, 0, q.L, n)
    gemm(False, False, no, n, q.CgK, <floating> 1, w + o * q.CgK, q.CgK, buf, n,
         <floating> 0, prod, n)
    for i in range(nb):
        copy_rows(cols + i * cols_step + o * q.L, q.L, prod + i * q.L, n, no, q.L,
                  shifted(bias, o))


cdef void batch_image_task(const Geom* q, const floating* cols, Py_ssize_t cols_step,
                           const floating* w, const floating* bias, floating* img,
                           Py_ssize_t img_step, floating* buf, Py_ssize_t nb, int g,
                           int c0) noexcept nogil:
    """nb samples, group g, its channels [c0, c0+cblock): img = col2im(W_g[:, those]^T @
    cols_g) (+ bias), one GEMM for the block.  buf holds (Og + cblock*K) * nb*L elements."""
    cdef int nc = min(q.cblock, q.Cg - c0), c = g * q.Cg + c0
    cdef Py_ssize_t i, n = nb * q.L
    cdef floating* prod = buf + q.Og * n
    gather_cols(q, cols, cols_step, nb, g, buf)
    gemm(True, False, nc * q.K, n, q.Og, <floating> 1, w + g * q.Og * q.CgK + c0 * q.K,
         q.CgK, buf, n, <floating> 0, prod, n)
    for i in range(nb):
        fill_rows(img + i * img_step + c * q.plane, shifted(bias, c), nc, q.plane, q.plane)
        col2im(q, prod + i * q.L, img + i * img_step, c, nc, 0, q.L, n)


cdef void batch_weight_task(const Geom* q, const floating* img, Py_ssize_t img_step,
                            const floating* cols, Py_ssize_t cols_step, floating* gw,
                            floating* buf, Py_ssize_t nb, int g, int c0) noexcept nogil:
    """nb samples, group g, its channels [c0, c0+cblock): gw_g[:, those] += cols_g @
    im2col(img)_g[those]^T, one GEMM for the block.  buf holds (Og + cblock*K) * nb*L."""
    cdef int nc = min(q.cblock, q.Cg - c0)
    cdef Py_ssize_t i, n = nb * q.L
    cdef floating* patches = buf + q.Og * n
    gather_cols(q, cols, cols_step, nb, g, buf)
    for i in range(nb):
        im2col(q, img + i * img_step, patches + i * q.L, g * q.Cg + c0, nc, 0, q.L, n)
    gemm(False, True, q.Og, nc * q.K, n, <floating> 1, buf, n, patches, n, <floating> 1,
         gw + g * q.Og * q.CgK + c0 * q.K, q.CgK)


cdef struct Shifted:
    # the image zero-padded to (Dp, Hp, Wp), with Dp = OD + DD*(KD-1) (and so on): at stride 1
    # output position (od, oh, ow) under tap (kd, kh, kw) reads padded position
    # (od*Hp + oh)*Wp + ow + tap offset, so columns live at padded positions too
    Py_ssize_t Dp, Hp, Wp, plane, Lp


cdef Shifted make_shifted(const Geom* q) noexcept nogil:
    cdef Shifted s
    s.Dp = q.OD + q.DD * (q.KD - 1)
    s.Hp = q.OH + q.DH * (q.KH - 1)
    s.Wp = q.OW + q.DW * (q.KW - 1)
    s.plane = s.Dp * s.Hp * s.Wp
    s.Lp = ((q.OD - 1) * s.Hp + q.OH - 1) * s.Wp + q.OW  # one past the last column's position
    return s


cdef void pad_channel(const Geom* q, const Shifted* s, const floating* src,
                      floating* dst) noexcept nogil:
    """dst (Dp, Hp, Wp) = src (D, H, W) at (PD, PH, PW), zeros around.  Pixels past the box
    (a transposed convolution's output padding) are read by no column: dropped."""
    cdef Py_ssize_t d, h
    cdef Py_ssize_t dn = min(q.D, s.Dp - q.PD), hn = min(q.H, s.Hp - q.PH)
    cdef Py_ssize_t wn = min(q.W, s.Wp - q.PW)
    memset(dst, 0, s.plane * sizeof(floating))
    if wn <= 0:
        return
    for d in range(dn):
        for h in range(hn):
            memcpy(dst + ((d + q.PD) * s.Hp + h + q.PH) * s.Wp + q.PW,
                   src + (d * q.H + h) * q.W, wn * sizeof(floating))


cdef void shifted_cols_task(const Geom* q, const Shifted* s, const floating* padded,
                            const floating* taps, const floating* bias, floating* cols,
                            floating* acc, int g, Py_ssize_t p0) noexcept nogil:
    """Group g, padded positions [p0, p0+chunk): cols = sum over taps of W_tap @ (the padded
    image shifted by the tap) (+ bias).  Each product reads the image in place, with a row
    stride of one padded plane: no im2col, and BLAS packs each pixel once per tap as it
    would pack im2col's copy of it."""
    cdef Py_ssize_t n = min(q.chunk, s.Lp - p0), r, a, b, i, off
    cdef int kd, kh, kw, o, tap = 0
    cdef const floating* img = padded + g * q.Cg * s.plane + p0
    cdef floating* dst
    cdef floating v
    for kd in range(q.KD):
        for kh in range(q.KH):
            for kw in range(q.KW):
                off = (kd * q.DD * s.Hp + kh * q.DH) * s.Wp + kw * q.DW
                gemm(False, False, q.Og, n, q.Cg, <floating> 1,
                     taps + (tap * q.O + g * q.Og) * q.Cg, q.Cg, img + off, s.plane,
                     <floating> (1 if tap else 0), acc, n)
                tap += 1
    # padded row r = od*Hp + oh holds columns (od, oh, 0:OW) in its first OW positions
    r = p0 // s.Wp
    while r * s.Wp < p0 + n:
        a, b = max(p0, r * s.Wp), min(p0 + n, r * s.Wp + q.OW)
        if r % s.Hp < q.OH and b > a:
            dst = cols + g * q.Og * q.L + ((r // s.Hp) * q.OH + r % s.Hp) * q.OW + a - r * s.Wp
            for o in range(q.Og):
                v = 0 if bias == NULL else bias[g * q.Og + o]
                for i in range(b - a):
                    dst[o * q.L + i] = acc[o * n + a - p0 + i] + v
        r += 1


cdef void to_padded_rows(const Geom* q, const Shifted* s, const floating* cols,
                         floating* rows) noexcept nogil:
    """rows (Lp) = one channel's columns at their padded positions, zeros between."""
    cdef Py_ssize_t od, oh
    memset(rows, 0, s.Lp * sizeof(floating))
    for od in range(q.OD):
        for oh in range(q.OH):
            memcpy(rows + (od * s.Hp + oh) * s.Wp, cols + (od * q.OH + oh) * q.OW,
                   q.OW * sizeof(floating))


cdef void shifted_weight_task(const Geom* q, const Shifted* s, const floating* padded,
                              const floating* grows, floating* gw, int g,
                              Py_ssize_t p0) noexcept nogil:
    """Group g, padded positions [p0, p0+chunk): gw_tap += cols_g @ (the padded image shifted
    by the tap)^T for every tap, cols at padded positions (zeros between rows)."""
    cdef Py_ssize_t n = min(q.chunk, s.Lp - p0), off
    cdef int kd, kh, kw, tap = 0
    for kd in range(q.KD):
        for kh in range(q.KH):
            for kw in range(q.KW):
                off = (kd * q.DD * s.Hp + kh * q.DH) * s.Wp + kw * q.DW
                gemm(False, True, q.Og, q.Cg, n, <floating> 1, grows + g * q.Og * s.Lp + p0,
                     s.Lp, padded + g * q.Cg * s.plane + p0 + off, s.plane, <floating> 1,
                     gw + (tap * q.O + g * q.Og) * q.Cg, q.Cg)
                tap += 1


cdef void shifted_image_task(const Geom* q, const Shifted* s, const floating* grows,
                             const floating* taps, const floating* bias, floating* img,
                             floating* pimg, int g, int c0) noexcept nogil:
    """Group g, its channels [c0, c0+cblock): the padded image pimg = sum over taps of
    W_tap[:, those]^T @ cols_g added at the tap's shift, cols at padded positions (zeros
    between rows); img = pimg cropped (+ bias).  No col2im: each product adds in place."""
    cdef int nc = min(q.cblock, q.Cg - c0), c = g * q.Cg + c0, kd, kh, kw, tap, j
    cdef Py_ssize_t p0 = 0, n, off, d, h, i
    cdef Py_ssize_t dn = min(q.D, s.Dp - q.PD), hn = min(q.H, s.Hp - q.PH)
    cdef Py_ssize_t wn = min(q.W, s.Wp - q.PW)
    cdef floating* dst
    cdef const floating* src
    memset(pimg, 0, nc * s.plane * sizeof(floating))
    while p0 < s.Lp:  # chunks of positions: the rows they touch stay in cache over the taps
        n, tap = min(q.chunk, s.Lp - p0), 0
        for kd in range(q.KD):
            for kh in range(q.KH):
                for kw in range(q.KW):
                    off = (kd * q.DD * s.Hp + kh * q.DH) * s.Wp + kw * q.DW
                    gemm(True, False, nc, n, q.Og, <floating> 1,
                         taps + (tap * q.O + g * q.Og) * q.Cg + c0, q.Cg,
                         grows + g * q.Og * s.Lp + p0, s.Lp, <floating> 1,
                         pimg + p0 + off, s.plane)
                    tap += 1
        p0 += n
    # pixels past the padded box (a transposed convolution's output padding) only get bias
    fill_rows(img + c * q.plane, shifted(bias, c), nc, q.plane, q.plane)
    if wn <= 0:
        return
    for j in range(nc):
        for d in range(dn):
            for h in range(hn):
                dst = img + (c + j) * q.plane + (d * q.H + h) * q.W
                src = pimg + j * s.plane + ((d + q.PD) * s.Hp + h + q.PH) * s.Wp + q.PW
                for i in range(wn):
                    dst[i] += src[i]


def shifted_plane(tuple geom):
    """Elements of one padded channel that conv_cols_shifted needs."""
    cdef Geom q = make_geom(geom, 1, 1)
    return make_shifted(&q).plane


def shifted_rows(tuple geom):
    """Padded positions one channel's columns span (Lp)."""
    cdef Geom q = make_geom(geom, 1, 1)
    return make_shifted(&q).Lp


cdef void pad_image(const Geom* q, const Shifted* s, const floating[:, ::1] img,
                    floating[:, ::1] padded, int nthreads) noexcept:
    """padded[n] = every channel of img[n] zero-padded (pad_channel)."""
    cdef Py_ssize_t t
    for t in prange(img.shape[0] * q.C, nogil=True, num_threads=nthreads, schedule="static"):
        pad_channel(q, s, &img[t // q.C, (t % q.C) * q.plane],
                    &padded[t // q.C, (t % q.C) * s.plane])


cdef void pad_rows(const Geom* q, const Shifted* s, const floating[:, ::1] cols,
                   floating[:, ::1] rows, int nthreads) noexcept:
    """rows[n] = every channel's columns of cols[n] at their padded positions
    (to_padded_rows)."""
    cdef Py_ssize_t t
    for t in prange(cols.shape[0] * q.O, nogil=True, num_threads=nthreads, schedule="static"):
        to_padded_rows(q, s, &cols[t // q.O, (t % q.O) * q.L],
                       &rows[t // q.O, (t % q.O) * s.Lp])


def conv_cols_shifted(tuple geom, const floating[:, ::1] img, const floating[:, :, ::1] taps,
                      const floating[::1] bias, floating[:, ::1] cols, floating[:, ::1] padded,
                      floating[:, ::1] buf, int nthreads, Py_ssize_t chunk):
    """conv_cols for stride 1 (every dim), without im2col: one GEMM per kernel tap on the
    zero-padded image read in place (shifted_cols_task).

    taps is the weight tap-major (K, O, Cg); padded is (N, C * shifted_plane(geom)) scratch;
    buf is (nthreads, Og * chunk).  Tasks are (sample, group, chunk of padded positions).
    """
    cdef Geom q = make_geom(geom, chunk, 1)
    cdef Shifted s = make_shifted(&q)
    cdef Py_ssize_t t, i, n_chunks, per_sample
    cdef const floating* b = bias_ptr(bias)
    if padded.shape[1] != q.C * s.plane or buf.shape[1] < q.Og * min(chunk, s.Lp):
        raise ValueError("conv_cols_shifted: scratch arrays of the wrong size")
    q.chunk = max(1, min(chunk, s.Lp))
    n_chunks = (s.Lp + q.chunk - 1) // q.chunk
    per_sample = q.G * n_chunks
    pad_image(&q, &s, img, padded, nthreads)
    for t in prange(img.shape[0] * per_sample, nogil=True, num_threads=nthreads,
                    schedule="dynamic"):
        i = t // per_sample
        shifted_cols_task(&q, &s, &padded[i, 0], &taps[0, 0, 0], b, &cols[i, 0],
                          &buf[threadid(), 0], <int> ((t // n_chunks) % q.G),
                          (t % n_chunks) * q.chunk)


def conv_image_shifted(tuple geom, const floating[:, ::1] cols,
                       const floating[:, :, ::1] taps, const floating[::1] bias,
                       floating[:, ::1] img, floating[:, ::1] rows, floating[:, ::1] buf,
                       int nthreads, Py_ssize_t chunk, int cblock):
    """conv_image for stride 1 without col2im (shifted_image_task).

    taps is the weight tap-major (K, O, Cg); bias has C entries or none; rows is
    (N, O * shifted_rows(geom)) and buf (nthreads, cblock * shifted_plane(geom)) scratch.
    Tasks are (sample, group, block of cblock channels), as in conv_image.
    """
    cdef Geom q = make_geom(geom, chunk, cblock)
    cdef Shifted s = make_shifted(&q)
    cdef Py_ssize_t t, i, per_sample = q.G * q.n_cblocks
    cdef const floating* b = bias_ptr(bias)
    if rows.shape[1] != q.O * s.Lp or buf.shape[1] < q.cblock * s.plane:
        raise ValueError("conv_image_shifted: scratch arrays of the wrong size")
    q.chunk = max(1, min(chunk, s.Lp))
    pad_rows(&q, &s, cols, rows, nthreads)
    for t in prange(cols.shape[0] * per_sample, nogil=True, num_threads=nthreads,
                    schedule="dynamic"):
        i = t // per_sample
        shifted_image_task(&q, &s, &rows[i, 0], &taps[0, 0, 0], b, &img[i, 0],
                           &buf[threadid(), 0], <int> ((t // q.n_cblocks) % q.G),
                           <int> (t % q.n_cblocks) * q.cblock)


def conv_weight_grad_shifted(tuple geom, const floating[:, ::1] img,
                             const floating[:, ::1] cols, floating[:, ::1] parts,
                             floating[:, ::1] padded, floating[:, ::1] rows, int nthreads,
                             Py_ssize_t chunk):
    """conv_weight_grad for stride 1 without im2col: parts[0] (K*O*Cg, tap-major) = sum over
    samples and taps of cols[n] @ (the padded image shifted by the tap)^T.

    parts is (nthreads, K*O*Cg), zero-filled, one partial sum per thread as in
    conv_weight_grad; padded is (N, C * shifted_plane(geom)) and rows (N, O * Lp) scratch,
    Lp = shifted_rows(geom).  Tasks are (sample, group, chunk of padded positions).
    """
    cdef Geom q = make_geom(geom, chunk, 1)
    cdef Shifted s = make_shifted(&q)
    cdef Py_ssize_t t, i, j, k, n_chunks, per_sample
    if (padded.shape[1] != q.C * s.plane or rows.shape[1] != q.O * s.Lp
            or parts.shape[1] != q.K * q.O * q.Cg):
        raise ValueError("conv_weight_grad_shifted: scratch arrays of the wrong size")
    q.chunk = max(1, min(chunk, s.Lp))
    n_chunks = (s.Lp + q.chunk - 1) // q.chunk
    per_sample = q.G * n_chunks
    pad_image(&q, &s, img, padded, nthreads)
    pad_rows(&q, &s, cols, rows, nthreads)
    for t in prange(img.shape[0] * per_sample, nogil=True, num_threads=nthreads,
                    schedule="dynamic"):
        i = t // per_sample
        shifted_weight_task(&q, &s, &padded[i, 0], &rows[i, 0], &parts[threadid(), 0],
                            <int> ((t // n_chunks) % q.G), (t % n_chunks) * q.chunk)
    if parts.shape[0] > 1:
        for j in prange(parts.shape[1], nogil=True, num_threads=nthreads, schedule="static"):
            for k in range(1, parts.shape[0]):
                parts[0, j] += parts[k, j]


cdef inline const floating* bias_ptr(const floating[::1] bias) noexcept nogil:
    return &bias[0] if bias.shape[0] > 0 else NULL


cdef inline const floating* shifted(const floating* p, Py_ssize_t k) noexcept nogil:
    """p + k, or NULL for no bias."""
    return p + k if p != NULL else NULL


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


def batch_scratch(tuple geom, Py_ssize_t nb, int rows, int use):
    """Scratch elements one thread needs for a block of nb samples: use 0 conv_cols_batched
    (rows = output channels per task), 1 conv_image_batched and 2 conv_weight_grad_batched
    (rows = cblock)."""
    cdef Geom q = make_geom(geom, 1, rows)
    return nb * q.L * (q.CgK + rows if use == 0 else q.Og + q.cblock * q.K)


cdef void check_batch(const Geom* q, Py_ssize_t n_samples, Py_ssize_t nb, int rows,
                      Py_ssize_t scratch, int use, str name) except *:
    if nb < 1 or rows < 1 or (use == 0 and rows > q.Og):
        raise ValueError(f"{name}: bad block sizes nb={nb}, rows={rows}")
    if scratch < min(nb, n_samples) * q.L * (q.CgK + rows if use == 0
                                             else q.Og + q.cblock * q.K):
        raise ValueError(f"{name}: scratch array of the wrong size")


def conv_cols_batched(tuple geom, const floating[:, ::1] img, const floating[:, ::1] weight,
                      const floating[::1] bias, floating[:, ::1] cols, floating[:, ::1] buf,
                      int nthreads, Py_ssize_t nb, int oblock):
    """conv_cols with nb samples side by side in each GEMM (batch_cols_task).

    Tasks are (block of nb samples, group, block of oblock output channels of the group);
    buf is (nthreads, batch_scratch(geom, nb, oblock, 0)).
    """
    cdef Geom q = make_geom(geom, 1, 1)
    cdef Py_ssize_t t, i, N = img.shape[0], n_oblocks, per_block
    cdef const floating* b = bias_ptr(bias)
    check_batch(&q, N, nb, oblock, buf.shape[1], 0, "conv_cols_batched")
    n_oblocks = (q.Og + oblock - 1) // oblock
    per_block = q.G * n_oblocks
    for t in prange((N + nb - 1) // nb * per_block, nogil=True, num_threads=nthreads,
                    schedule="dynamic"):
        i = t // per_block * nb
        batch_cols_task(&q, &img[i, 0], img.shape[1], &weight[0, 0], b, &cols[i, 0],
                        cols.shape[1], &buf[threadid(), 0], min(nb, N - i),
                        <int> (t // n_oblocks % q.G), <int> (t % n_oblocks * oblock),
                        <int> min(oblock, q.Og - t % n_oblocks * oblock))


def conv_image_batched(tuple geom, const floating[:, ::1] cols, const floating[:, ::1] weight,
                       const floating[::1] bias, floating[:, ::1] img, floating[:, ::1] buf,
                       int nthreads, Py_ssize_t nb, int cblock):
    """conv_image with nb samples side by side in each GEMM (batch_image_task).

    Tasks are (block of nb samples, group, block of cblock channels of the group); buf is
    (nthreads, batch_scratch(geom, nb, cblock, 1)).
    """
    cdef Geom q = make_geom(geom, 1, cblock)
    cdef Py_ssize_t t, i, N = img.shape[0], per_block = q.G * q.n_cblocks
    cdef const floating* b = bias_ptr(bias)
    check_batch(&q, N, nb, cblock, buf.shape[1], 1, "conv_image_batched")
    for t in prange((N + nb - 1) // nb * per_block, nogil=True, num_threads=nthreads,
                    schedule="dynamic"):
        i = t // per_block * nb
        batch_image_task(&q, &cols[i, 0], cols.shape[1], &weight[0, 0], b, &img[i, 0],
                         img.shape[1], &buf[threadid(), 0], min(nb, N - i),
                         <int> (t // q.n_cblocks % q.G), <int> (t % q.n_cblocks) * q.cblock)


def conv_weight_grad_batched(tuple geom, const floating[:, ::1] img,
                             const floating[:, ::1] cols, floating[:, ::1] grad_weight,
                             floating[:, ::1] buf, int nthreads, Py_ssize_t nb, int cblock):
    """conv_weight_grad with nb samples side by side in each GEMM (batch_weight_task).

    grad_weight is (1, O*Cg*K), zero-filled.  Tasks are (group, block of cblock channels of
    the group), each running every block of nb samples: they own disjoint columns of the
    gradient, so no thread keeps a partial sum of all of it (for ResNet's 512-channel
    layers, 9 MiB per thread to clear and add up).  buf is
    (nthreads, batch_scratch(geom, nb, cblock, 2)).
    """
    cdef Geom q = make_geom(geom, 1, cblock)
    cdef Py_ssize_t t, i, N = img.shape[0]
    check_batch(&q, N, nb, cblock, buf.shape[1], 2, "conv_weight_grad_batched")
    if grad_weight.shape[1] != q.O * q.CgK:
        raise ValueError("conv_weight_grad_batched: grad_weight of the wrong size")
    for t in prange(q.G * q.n_cblocks, nogil=True, num_threads=nthreads, schedule="dynamic"):
        i = 0
        while i < N:
            batch_weight_task(&q, &img[i, 0], img.shape[1], &cols[i, 0], cols.shape[1],
                              &grad_weight[0, 0], &buf[threadid(), 0], min(nb, N - i),
                              <int> (t // q.n_cblocks), <int> (t % q.n_cblocks) * q.cblock)
            i = i + nb


cdef extern from *:
    """
    #include "vecmath.h"
    /* sum of x[0..n) in double: eight independent lanes, so the adds do not wait on each
       other as one running sum's would */
    #define NNC_ROW_SUM(T) \\
        NNCHECK_TARGETS static double row_sum_##T(const T *x, ptrdiff_t n) { \\
            double total = 0; \\
            _Pragma("omp simd simdlen(8) reduction(+:total)") \\
            for (ptrdiff_t i = 0; i < n; i++) \\
                total += x[i]; \\
            return total; \\
        }
    NNC_ROW_SUM(float)
    NNC_ROW_SUM(double)
    """
    double row_sum_float(const float* x, Py_ssize_t n) noexcept nogil
    double row_sum_double(const double* x, Py_ssize_t n) noexcept nogil


def channel_sum(const floating[:, :, ::1] x, floating[::1] out, int nthreads):
    """out[c] = sum over n and l of x[n, c, l], accumulated in double (the bias gradient)."""
    cdef Py_ssize_t n, c
    cdef double acc
    with nogil:
        for c in prange(x.shape[1], num_threads=nthreads, schedule="static"):
            acc = 0
            for n in range(x.shape[0]):
                if floating is float:
                    acc = acc + row_sum_float(&x[n, c, 0], x.shape[2])
                else:
                    acc = acc + row_sum_double(&x[n, c, 0], x.shape[2])
            out[c] = <floating> acc


def unfold(tuple geom, const floating[:, ::1] img, floating[:, ::1] cols, int nthreads):
    """cols[n] (C*K, L) = im2col(img[n]) (nn.Unfold), parallel over samples x channels."""
    cdef Geom q = make_geom(geom, 1, 1)
    cdef Py_ssize_t i, N = img.shape[0]
    cdef int c
    with nogil:
        for i in prange(N * q.C, num_threads=nthreads, schedule="static"):
            c = <int> (i % q.C)
            im2col(&q, &img[i // q.C, 0], &cols[i // q.C, c * q.K * q.L], c, 1, 0, q.L, q.L)


def fold(tuple geom, const floating[:, ::1] cols, floating[:, ::1] img, int nthreads):
    """img[n] = col2im(cols[n]) (nn.Fold): overlapping blocks are summed."""
    cdef Geom q = make_geom(geom, 1, 1)
    cdef Py_ssize_t i, N = img.shape[0]
    cdef int c
    with nogil:
        for i in prange(N * q.C, num_threads=nthreads, schedule="static"):
            c = <int> (i % q.C)
            memset(&img[i // q.C, c * q.plane], 0, q.plane * sizeof(floating))
            col2im(&q, &cols[i // q.C, c * q.K * q.L], &img[i // q.C, 0], c, 1, 0, q.L, q.L)


# ----------------------------------------------------------------------------- direct
# Few input channels per group (depthwise layers of MobileNet, ConvNeXt and ShuffleNet have
# one): a GEMM per group would have a handful of rows and its im2col and packing would cost
# more than its multiply-adds, so these are the direct loops of conv_direct.h, on 2-d and
# 1-d geometries (D = KD = 1).  Forward and input-gradient tasks are (sample, group), weight
# gradient tasks groups over the batch.

cdef extern from *:
    """
    #define NNC_T float
    #define NNC_F(name) name##_float
    #include "conv_direct.h"
    #undef NNC_T
    #undef NNC_F
    #define NNC_T double
    #define NNC_F(name) name##_double
    #include "conv_direct.h"
    #undef NNC_T
    #undef NNC_F
    """
    ctypedef struct nnc_dw_geom:
        int H, W, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW
    Py_ssize_t nnc_direct_scratch(const nnc_dw_geom* g, int Cg, int Og, int use) noexcept nogil
    void grp_forward_float(const nnc_dw_geom* g, const float* img, const float* w,
                           const float* bias, float* out, int Cg, int Og,
                           float* buf) noexcept nogil
    void grp_forward_double(const nnc_dw_geom* g, const double* img, const double* w,
                            const double* bias, double* out, int Cg, int Og,
                            double* buf) noexcept nogil
    void grp_input_grad_float(const nnc_dw_geom* g, const float* cols, const float* w,
                              const float* bias, float* img, int Cg, int Og,
                              float* buf) noexcept nogil
    void grp_input_grad_double(const nnc_dw_geom* g, const double* cols, const double* w,
                               const double* bias, double* img, int Cg, int Og,
                               double* buf) noexcept nogil
    void grp_weight_grad_float(const nnc_dw_geom* g, const float* img, Py_ssize_t img_step,
                               const float* cols, Py_ssize_t cols_step, Py_ssize_t N,
                               float* gw, int Cg, int Og, float* buf) noexcept nogil
    void grp_weight_grad_double(const nnc_dw_geom* g, const double* img, Py_ssize_t img_step,
                                const double* cols, Py_ssize_t cols_step, Py_ssize_t N,
                                double* gw, int Cg, int Og, double* buf) noexcept nogil


cdef nnc_dw_geom dw_geom(const Geom* q) noexcept nogil:
    cdef nnc_dw_geom g
    g.H, g.W, g.OH, g.OW, g.KH, g.KW = q.H, q.W, q.OH, q.OW, q.KH, q.KW
    g.SH, g.SW, g.PH, g.PW, g.DH, g.DW = q.SH, q.SW, q.PH, q.PW, q.DH, q.DW
    return g


def direct_scratch(tuple geom, int use):
    """Scratch elements one thread needs: use 0 forward, 1 input grad, 2 weight grad."""
    cdef Geom q = make_geom(geom, 1, 1)
    cdef nnc_dw_geom g = dw_geom(&q)
    return nnc_direct_scratch(&g, q.Cg, q.Og, use)


def direct_cols(tuple geom, const floating[:, ::1] img, const floating[:, ::1] weight,
                const floating[::1] bias, floating[:, ::1] cols, floating[:, ::1] buf,
                int nthreads):
    """conv_cols by direct loops: cols[n] (O*L) = the convolution of img[n].
    buf is (nthreads, direct_scratch(geom, 0))."""
    cdef Geom q = make_geom(geom, 1, 1)
    cdef nnc_dw_geom g = dw_geom(&q)
    cdef Py_ssize_t t, i, j
    cdef const floating* b = bias_ptr(bias)
    for t in prange(img.shape[0] * q.G, nogil=True, num_threads=nthreads, schedule="static"):
        i, j = t // q.G, t % q.G
        if floating is float:
            grp_forward_float(&g, &img[i, j * q.Cg * q.plane], &weight[j * q.Og, 0],
                              shifted(b, j * q.Og), &cols[i, j * q.Og * q.L], q.Cg, q.Og,
                              &buf[threadid(), 0])
        else:
            grp_forward_double(&g, &img[i, j * q.Cg * q.plane], &weight[j * q.Og, 0],
                               shifted(b, j * q.Og), &cols[i, j * q.Og * q.L], q.Cg, q.Og,
                               &buf[threadid(), 0])


def direct_image(tuple geom, const floating[:, ::1] cols, const floating[:, ::1] weight,
                 const floating[::1] bias, floating[:, ::1] img, floating[:, ::1] buf,
                 int nthreads):
    """conv_image by direct loops: img[n] (C*plane) = the transpose of the convolution
    (+ bias, C entries or none).  buf is (nthreads, direct_scratch(geom, 1))."""
    cdef Geom q = make_geom(geom, 1, 1)
    cdef nnc_dw_geom g = dw_geom(&q)
    cdef Py_ssize_t t, i, j
    cdef const floating* b = bias_ptr(bias)
    for t in prange(img.shape[0] * q.G, nogil=True, num_threads=nthreads, schedule="static"):
        i, j = t // q.G, t % q.G
        if floating is float:
            grp_input_grad_float(&g, &cols[i, j * q.Og * q.L], &weight[j * q.Og, 0],
                                 shifted(b, j * q.Cg), &img[i, j * q.Cg * q.plane], q.Cg,
                                 q.Og, &buf[threadid(), 0])
        else:
            grp_input_grad_double(&g, &cols[i, j * q.Og * q.L], &weight[j * q.Og, 0],
                                  shifted(b, j * q.Cg), &img[i, j * q.Cg * q.plane], q.Cg,
                                  q.Og, &buf[threadid(), 0])


def direct_weight_grad(tuple geom, const floating[:, ::1] img, const floating[:, ::1] cols,
                       floating[:, ::1] grad_weight, floating[:, ::1] buf, int nthreads):
    """conv_weight_grad by direct loops: grad_weight (O, Cg*K) = sum over samples and
    positions of cols * the tap's image values.  Tasks are groups; buf is
    (nthreads, direct_scratch(geom, 2))."""
    cdef Geom q = make_geom(geom, 1, 1)
    cdef nnc_dw_geom g = dw_geom(&q)
    cdef Py_ssize_t j, N = img.shape[0]
    if N == 0:
        grad_weight[:, :] = 0
        return
    for j in prange(q.G, nogil=True, num_threads=nthreads, schedule="static"):
        if floating is float:
            grp_weight_grad_float(&g, &img[0, j * q.Cg * q.plane], img.shape[1],
                                  &cols[0, j * q.Og * q.L], cols.shape[1], N,
                                  &grad_weight[j * q.Og, 0], q.Cg, q.Og, &buf[threadid(), 0])
        else:
            grp_weight_grad_double(&g, &img[0, j * q.Cg * q.plane], img.shape[1],
                                   &cols[0, j * q.Og * q.L], cols.shape[1], N,
                                   &grad_weight[j * q.Og, 0], q.Cg, q.Og, &buf[threadid(), 0])


# ----------------------------------------------------------------------------- winograd
# 3x3 kernels at stride 1 (groups 1, dilation 1): Winograd F(2x2, 3x3), 16 products per
# 2x2 output tile and channel pair instead of 36 (conv_winograd.h has the transforms).
# Tasks are blocks of `per_block` units (segments of tile rows, across samples): a block's
# transformed tiles V (16 x Cin x tiles) and products M (16 x Cout x tiles) are one
# thread's scratch, sized by the caller to stay in cache, and its 16 GEMMs are
# single-threaded.  The input gradient is the forward convolution of the output gradient
# with the kernel flipped and transposed, padding 2 - p; the weight gradient sums the 16
# products dU[xi] += (A dY A^T)[xi] @ V[xi]^T over the tiles and transforms dU back.

cdef extern from *:
    """
    #define NNC_T float
    #define NNC_F(name) name##_float
    #include "conv_winograd.h"
    #undef NNC_T
    #undef NNC_F
    #define NNC_T double
    #define NNC_F(name) name##_double
    #include "conv_winograd.h"
    #undef NNC_T
    #undef NNC_F
    """
    ctypedef struct nnc_wg_geom:
        int C, H, W, O, OH, OW, PH, PW, TH, TW, seg, nseg
    void nnc_wg_unit(const nnc_wg_geom* g, Py_ssize_t u, Py_ssize_t* n, int* th, int* tw0,
                     int* nt) noexcept nogil
    Py_ssize_t nnc_wg_stride(Py_ssize_t elems) noexcept nogil
    Py_ssize_t nnc_wg_rowbuf(const nnc_wg_geom* g) noexcept nogil
    void wg_weight_transform_float(const float* w, float* U, Py_ssize_t mat, int O, int C,
                                   int flip, int r0, int r1) noexcept nogil
    void wg_weight_transform_double(const double* w, double* U, Py_ssize_t mat, int O, int C,
                                    int flip, int r0, int r1) noexcept nogil
    void wg_input_tiles_float(const nnc_wg_geom* g, const float* img, Py_ssize_t img_step,
                              Py_ssize_t u, float* V, Py_ssize_t ldv, Py_ssize_t mat,
                              Py_ssize_t t0, float* rowbuf) noexcept nogil
    void wg_input_tiles_double(const nnc_wg_geom* g, const double* img, Py_ssize_t img_step,
                               Py_ssize_t u, double* V, Py_ssize_t ldv, Py_ssize_t mat,
                               Py_ssize_t t0, double* rowbuf) noexcept nogil
    void wg_output_tiles_float(const nnc_wg_geom* g, const float* M, Py_ssize_t ldm,
                               Py_ssize_t mat, Py_ssize_t t0, const float* bias, float* out,
                               Py_ssize_t out_step, Py_ssize_t u, float* rowbuf) noexcept nogil
    void wg_output_tiles_double(const nnc_wg_geom* g, const double* M, Py_ssize_t ldm,
                                Py_ssize_t mat, Py_ssize_t t0, const double* bias,
                                double* out, Py_ssize_t out_step, Py_ssize_t u,
                                double* rowbuf) noexcept nogil
    void wg_grad_tiles_float(const nnc_wg_geom* g, const float* dy, Py_ssize_t dy_step,
                             Py_ssize_t u, float* Wt, Py_ssize_t ldw, Py_ssize_t mat,
                             Py_ssize_t t0, float* rowbuf) noexcept nogil
    void wg_grad_tiles_double(const nnc_wg_geom* g, const double* dy, Py_ssize_t dy_step,
                              Py_ssize_t u, double* Wt, Py_ssize_t ldw, Py_ssize_t mat,
                              Py_ssize_t t0, double* rowbuf) noexcept nogil
    void wg_weight_finish_float(const float* dU, Py_ssize_t mat, float* gw, int C, int o0,
                                int o1) noexcept nogil
    void wg_weight_finish_double(const double* dU, Py_ssize_t mat, double* gw, int C, int o0,
                                 int o1) noexcept nogil


cdef struct WgPlan:
    nnc_wg_geom g
    Py_ssize_t tb, units          # tiles per block (at most), units in the call
    Py_ssize_t vmat, mmat, umat   # matrix strides of V, of M (or Wt), of U (or dU)
    int per_block


cdef WgPlan wg_plan(tuple geom, bint adjoint, int seg, int per_block,
                    Py_ssize_t samples) except *:
    """The tiles of a 3x3 stride-1 geometry's convolution (image -> columns), or with
    adjoint of its input gradient's (columns -> image, padding 2 - p), in blocks of
    per_block units of seg tiles."""
    cdef Geom q = make_geom(geom, 1, 1)
    cdef WgPlan p
    if (q.D != 1 or q.OD != 1 or q.KD != 1 or q.KH != 3 or q.KW != 3 or q.SH != 1
            or q.SW != 1 or q.DH != 1 or q.DW != 1 or q.G != 1):
        raise ValueError("winograd: not a 2-d 3x3 stride-1 ungrouped geometry")
    if adjoint:
        p.g.C, p.g.H, p.g.W, p.g.O, p.g.OH, p.g.OW = q.O, q.OH, q.OW, q.C, q.H, q.W
        p.g.PH, p.g.PW = 2 - q.PH, 2 - q.PW
    else:
        p.g.C, p.g.H, p.g.W, p.g.O, p.g.OH, p.g.OW = q.C, q.H, q.W, q.O, q.OH, q.OW
        p.g.PH, p.g.PW = q.PH, q.PW
    p.g.TH, p.g.TW = (p.g.OH + 1) // 2, (p.g.OW + 1) // 2
    p.g.seg = max(1, min(seg, p.g.TW))
    p.g.nseg = (p.g.TW + p.g.seg - 1) // p.g.seg
    p.per_block = max(1, per_block)
    p.tb = <Py_ssize_t> p.per_block * p.g.seg
    p.units = samples * p.g.TH * p.g.nseg
    p.vmat = nnc_wg_stride(p.g.C * p.tb)
    p.mmat = nnc_wg_stride(p.g.O * p.tb)
    p.umat = nnc_wg_stride(<Py_ssize_t> p.g.O * p.g.C)
    return p


def winograd_scratch(tuple geom, bint adjoint, int seg, int per_block):
    """(scratch elements one thread needs, elements of the 16 transformed kernels)."""
    cdef WgPlan p = wg_plan(geom, adjoint, seg, per_block, 1)
    return 16 * (p.vmat + p.mmat) + nnc_wg_rowbuf(&p.g), 16 * p.umat


cdef Py_ssize_t wg_transform_block(const WgPlan* p, const floating* src, Py_ssize_t src_step,
                                   bint grad, Py_ssize_t u0, Py_ssize_t u1, floating* dst,
                                   floating* rowbuf) noexcept nogil:
    """Units [u0, u1) side by side in dst (rows tb apart): the input tiles of src (matrices
    vmat apart), or with grad its gradient tiles (mmat apart); returns the number of
    tiles."""
    cdef Py_ssize_t u, t = 0, n
    cdef int th, tw0, nt
    for u in range(u0, u1):
        if floating is float:
            if grad:
                wg_grad_tiles_float(&p.g, src, src_step, u, dst, p.tb, p.mmat, t, rowbuf)
            else:
                wg_input_tiles_float(&p.g, src, src_step, u, dst, p.tb, p.vmat, t, rowbuf)
        else:
            if grad:
                wg_grad_tiles_double(&p.g, src, src_step, u, dst, p.tb, p.mmat, t, rowbuf)
            else:
                wg_input_tiles_double(&p.g, src, src_step, u, dst, p.tb, p.vmat, t, rowbuf)
        nnc_wg_unit(&p.g, u, &n, &th, &tw0, &nt)
        t += nt
    return t


cdef void wg_conv_block(const WgPlan* p, const floating* src, Py_ssize_t src_step,
                        const floating* U, const floating* bias, floating* dst,
                        Py_ssize_t dst_step, floating* buf, Py_ssize_t b) noexcept nogil:
    """Block b: dst's tiles = A^T [U . (B^T d B)] A (+ bias)."""
    cdef floating* V = buf
    cdef floating* M = buf + 16 * p.vmat
    cdef Py_ssize_t u0 = b * p.per_block, u1 = min(p.units, u0 + p.per_block)
    cdef Py_ssize_t t, u, n, xi
    cdef int th, tw0, nt
    n = wg_transform_block(p, src, src_step, False, u0, u1, V, M + 16 * p.mmat)
    for xi in range(16):
        gemm(False, False, p.g.O, <int> n, p.g.C, <floating> 1, U + xi * p.umat, p.g.C,
             V + xi * p.vmat, <int> p.tb, <floating> 0, M + xi * p.mmat, <int> p.tb)
    t = 0
    for u in range(u0, u1):
        if floating is float:
            wg_output_tiles_float(&p.g, M, p.tb, p.mmat, t, bias, dst, dst_step, u,
                                  M + 16 * p.mmat)
        else:
            wg_output_tiles_double(&p.g, M, p.tb, p.mmat, t, bias, dst, dst_step, u,
                                   M + 16 * p.mmat)
        nnc_wg_unit(&p.g, u, &n, &th, &tw0, &nt)
        t += nt


cdef void wg_convolve(tuple geom, bint adjoint, const floating[:, ::1] src,
                      const floating[:, ::1] weight, const floating[::1] bias,
                      floating[:, ::1] dst, floating[::1] U, floating[:, ::1] buf,
                      int nthreads, int seg, int per_block) except *:
    """dst = the convolution of src (winograd_cols), or with adjoint its transpose
    (winograd_image): the kernel's transform U, then the blocks."""
    cdef WgPlan p = wg_plan(geom, adjoint, seg, per_block, src.shape[0])
    cdef const floating* bp = bias_ptr(bias)
    cdef Py_ssize_t b
    cdef int r, rows = p.g.O
    if (src.shape[1] != <Py_ssize_t> p.g.C * p.g.H * p.g.W or dst.shape[0] != src.shape[0]
            or dst.shape[1] != <Py_ssize_t> p.g.O * p.g.OH * p.g.OW
            or weight.shape[0] != (p.g.C if adjoint else p.g.O)
            or weight.shape[1] != 9 * (p.g.O if adjoint else p.g.C)
            or (bp != NULL and bias.shape[0] != p.g.O) or U.shape[0] < 16 * p.umat
            or buf.shape[0] < nthreads
            or buf.shape[1] < 16 * (p.vmat + p.mmat) + nnc_wg_rowbuf(&p.g)):
        raise ValueError("winograd: arrays of the wrong size")
    for r in prange(rows, nogil=True, num_threads=nthreads, schedule="static"):
        # U[xi] (O x C) of the kernel; the adjoint's from the kernel flipped, (C x O)
        if floating is float:
            wg_weight_transform_float(&weight[0, 0], &U[0], p.umat, weight.shape[0],
                                      p.g.O if adjoint else p.g.C, adjoint, r, r + 1)
        else:
            wg_weight_transform_double(&weight[0, 0], &U[0], p.umat, weight.shape[0],
                                       p.g.O if adjoint else p.g.C, adjoint, r, r + 1)
    for b in prange((p.units + p.per_block - 1) // p.per_block, nogil=True,
                    num_threads=nthreads, schedule="dynamic"):
        wg_conv_block(&p, &src[0, 0], src.shape[1], &U[0], bp, &dst[0, 0], dst.shape[1],
                      &buf[threadid(), 0], b)


def winograd_cols(tuple geom, const floating[:, ::1] img, const floating[:, ::1] weight,
                  const floating[::1] bias, floating[:, ::1] cols, floating[::1] U,
                  floating[:, ::1] buf, int nthreads, int seg, int per_block):
    """conv_cols by Winograd F(2x2, 3x3): cols[n] (O*L) = the convolution of img[n]
    (+ bias).  weight is (O, C*9); U and buf are scratch of winograd_scratch(geom, False,
    seg, per_block)'s sizes (buf one row per thread)."""
    wg_convolve(geom, False, img, weight, bias, cols, U, buf, nthreads, seg, per_block)


def winograd_image(tuple geom, const floating[:, ::1] cols, const floating[:, ::1] weight,
                   const floating[::1] bias, floating[:, ::1] img, floating[::1] U,
                   floating[:, ::1] buf, int nthreads, int seg, int per_block):
    """conv_image by Winograd F(2x2, 3x3): img[n] (C*plane) = the transpose of the
    convolution of cols[n] (+ bias, C entries or none): the convolution with the kernel
    flipped and transposed.  U and buf as winograd_scratch(geom, True, seg, per_block)."""
    wg_convolve(geom, True, cols, weight, bias, img, U, buf, nthreads, seg, per_block)


cdef void wg_weight_block(const WgPlan* p, const floating* img, Py_ssize_t img_step,
                          const floating* cols, Py_ssize_t cols_step, floating* dU,
                          floating* buf, Py_ssize_t b) noexcept nogil:
    """Block b: dU[xi] += (A dY A^T)[xi] @ (B^T d B)[xi]^T."""
    cdef floating* V = buf
    cdef floating* Wt = buf + 16 * p.vmat
    cdef floating* rowbuf = Wt + 16 * p.mmat
    cdef Py_ssize_t u0 = b * p.per_block, u1 = min(p.units, u0 + p.per_block), n, xi
    n = wg_transform_block(p, img, img_step, False, u0, u1, V, rowbuf)
    wg_transform_block(p, cols, cols_step, True, u0, u1, Wt, rowbuf)
    for xi in range(16):
        gemm(False, True, p.g.O, p.g.C, <int> n, <floating> 1, Wt + xi * p.mmat, <int> p.tb,
             V + xi * p.vmat, <int> p.tb, <floating> 1, dU + xi * p.umat, p.g.C)


def winograd_weight_grad(tuple geom, const floating[:, ::1] img, const floating[:, ::1] cols,
                         floating[:, ::1] grad_weight, floating[:, ::1] parts,
                         floating[:, ::1] buf, int nthreads, int seg, int per_block):
    """conv_weight_grad by Winograd F(2x2, 3x3): grad_weight (O, C*9) = sum over samples
    of the gradient of the convolution's weight.  parts is (nthreads, the transformed
    kernels' size), zero-filled: each thread sums its blocks' products there, then the rows
    are added into row 0 and transformed back.  buf as in winograd_cols."""
    cdef WgPlan p = wg_plan(geom, False, seg, per_block, img.shape[0])
    cdef Py_ssize_t b, j, k
    if (img.shape[1] != <Py_ssize_t> p.g.C * p.g.H * p.g.W or cols.shape[0] != img.shape[0]
            or cols.shape[1] != <Py_ssize_t> p.g.O * p.g.OH * p.g.OW
            or grad_weight.shape[0] != p.g.O or grad_weight.shape[1] != 9 * p.g.C
            or parts.shape[0] < nthreads or parts.shape[1] < 16 * p.umat
            or buf.shape[0] < nthreads
            or buf.shape[1] < 16 * (p.vmat + p.mmat) + nnc_wg_rowbuf(&p.g)):
        raise ValueError("winograd_weight_grad: arrays of the wrong size")
    for b in prange((p.units + p.per_block - 1) // p.per_block, nogil=True,
                    num_threads=nthreads, schedule="dynamic"):
        wg_weight_block(&p, &img[0, 0], img.shape[1], &cols[0, 0], cols.shape[1],
                        &parts[threadid(), 0], &buf[threadid(), 0], b)
    if parts.shape[0] > 1:
        for j in prange(parts.shape[1], nogil=True, num_threads=nthreads, schedule="static"):
            for k in range(1, parts.shape[0]):
                parts[0, j] += parts[k, j]
    for j in prange(p.g.O, nogil=True, num_threads=nthreads, schedule="static"):
        if floating is float:
            wg_weight_finish_float(&parts[0, 0], p.umat, &grad_weight[0, 0], p.g.C, j, j + 1)
        else:
            wg_weight_finish_double(&parts[0, 0], p.umat, &grad_weight[0, 0], p.g.C, j,
                                    j + 1)
