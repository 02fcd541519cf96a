# cython: language_level=3
"""Vision kernels: separable resampling (interpolate), grid_sample and affine_grid.

Resampling is separable.  Every interpolate mode (nearest, nearest-exact, linear,
cubic, area, antialiased) is a per-axis table -- for each output position, the
source indices and weights of its taps -- built here with PyTorch's index
arithmetic.  The forward applies one 1-D pass per resized axis (W, then H, then D,
as PyTorch's separable kernels do); the backward applies the transposed passes in
reverse order.

Shapes, table sizes and index ranges are validated in nncheck.nn.functional.vision
before any call here; every index a table holds lies inside the input.
"""

from cython cimport floating
from cython.parallel cimport parallel, prange
from libc.math cimport ceil, fabs, floor, floorf, fma, fmaf, fmod, nearbyint, sin, M_PI
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

from nncheck._kernels.blas cimport gemm
from nncheck._kernels.parallel cimport PARALLEL_MIN

cdef double CUBIC_A = -0.75  # PyTorch's bicubic constant (interpolate and grid_sample)
cdef double AA_CUBIC_A = -0.5  # its antialiased bicubic filter (as PIL's)
cdef double LANCZOS_A = 3.0  # lobes of the lanczos filter

# codes shared with nncheck.nn.functional.vision (_AA_FILTER, _GRID_MODES, _GRID_PADDING):
# filters linear 0 / cubic 1 / lanczos 2; grid modes bilinear 0 / nearest 1 / bicubic 2
# (bicubic has its own kernels); padding zeros 0 / border 1 / reflection 2
cdef enum:
    AA_LINEAR = 0
    AA_CUBIC = 1
    GRID_NEAREST = 1
    PAD_BORDER = 1
    PAD_REFLECTION = 2


# --------------------------------------------------------------------------- index tables
cdef inline void _area_scale(Py_ssize_t n_in, Py_ssize_t n_out, bint align_corners,
                             double scale, floating* out) noexcept nogil:
    """area_pixel_compute_scale: input step per output step (scale <= 0: none given)."""
    if align_corners:
        out[0] = <floating> (n_in - 1) / <floating> (n_out - 1) if n_out > 1 else 0
    elif scale > 0:
        out[0] = <floating> (1.0 / scale)
    else:
        out[0] = <floating> n_in / <floating> n_out


cdef inline floating _source_index(floating scale, Py_ssize_t dst, bint align_corners,
                                   bint cubic) noexcept nogil:
    """area_pixel_compute_source_index (half-pixel centres unless align_corners)."""
    cdef floating half = 0.5, src
    if align_corners:
        return scale * <floating> dst
    src = scale * (<floating> dst + half) - half
    if not cubic and src < 0:
        return 0
    return src


cdef inline Py_ssize_t _guard(floating real, Py_ssize_t n_in, floating* lam) noexcept nogil:
    """guard_index_and_lambda: floor index clamped to the input, lambda clamped to [0, 1]."""
    cdef Py_ssize_t i = <Py_ssize_t> floorf(<float> real)
    if i > n_in - 1:
        i = n_in - 1
    cdef floating l = real - <floating> i
    lam[0] = 0 if l < 0 else (1 if l > 1 else l)
    return i


cdef inline floating _cubic1(floating x, floating a) noexcept nogil:
    return ((a + 2) * x - (a + 3)) * x * x + 1


cdef inline floating _cubic2(floating x, floating a) noexcept nogil:
    return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a


cdef inline void _cubic_coefficients(floating t, floating* c) noexcept nogil:
    """Weights of the taps at -1, 0, 1, 2 for a point at fraction t of a cell."""
    cdef floating a = CUBIC_A, one = 1
    c[0] = _cubic2(t + one, a)
    c[1] = _cubic1(t, a)
    c[2] = _cubic1(one - t, a)
    c[3] = _cubic2(one - t + one, a)


cdef inline void _cubic_coefficients_grad(floating t, floating* c) noexcept nogil:
    """d/dt of _cubic_coefficients."""
    cdef floating a = CUBIC_A, x
    x = t + 1
    c[0] = (3 * a * x - 10 * a) * x + 8 * a
    c[1] = (3 * (a + 2) * t - 2 * (a + 3)) * t
    x = 1 - t
    c[2] = -(3 * (a + 2) * x - 2 * (a + 3)) * x
    x = 2 - t
    c[3] = -((3 * a * x - 10 * a) * x + 8 * a)


def nearest_table(Py_ssize_t n_in, double scale, bint exact, bint legacy, bint wide,
                  int64_t[:, ::1] idx):
    """Source index of each output position for 'nearest' and 'nearest-exact'.

    PyTorch picks one of two index rules by input rank.  ``legacy`` (its 4-D kernel):
    float32 scale, and output == input or == 2 * input copy without arithmetic.  The
    generic rule (3-D and 5-D) works in the input's precision (``wide``: float64) and,
    for nearest-exact, fuses the multiply-add as PyTorch's FMA-built kernels do, which
    decides the exact ties.
    """
    cdef Py_ssize_t n_out = idx.shape[0], i, src
    cdef float sf
    cdef double sd
    _area_scale[float](n_in, n_out, False, scale, &sf)
    _area_scale[double](n_in, n_out, False, scale, &sd)
    for i in range(n_out):
        if legacy and not exact and n_out == n_in:
            src = i
        elif legacy and not exact and n_out == 2 * n_in:
            src = i >> 1
        elif legacy and exact:
            src = <Py_ssize_t> floorf(<float> ((i + 0.5) * <double> sf))
        elif legacy:
            src = <Py_ssize_t> floorf(<float> i * sf)
        elif exact and wide:
            src = <Py_ssize_t> floorf(<float> (max(fma(sd, i + 0.5, -0.5), 0.0) + 0.5))
        elif exact:
            src = <Py_ssize_t> floorf(<float> (max(fmaf(sf, i + 0.5, -0.5), <float> 0) + 0.5))
        elif wide:
            src = <Py_ssize_t> floorf(<float> (sd * <double> i))
        else:
            src = <Py_ssize_t> floorf(sf * <float> i)
        idx[i, 0] = min(src, n_in - 1)


def linear_table(Py_ssize_t n_in, double scale, bint align_corners, int64_t[:, ::1] idx,
                 floating[:, ::1] w):
    """Two taps per output position (linear, bilinear, trilinear)."""
    cdef Py_ssize_t n_out = idx.shape[0], i, i0
    cdef floating ratio, lam
    _area_scale(n_in, n_out, align_corners, scale, &ratio)
    for i in range(n_out):
        if n_out == n_in:
            idx[i, 0] = idx[i, 1] = i
            w[i, 0], w[i, 1] = 1, 0
            continue
        i0 = _guard(_source_index(ratio, i, align_corners, False), n_in, &lam)
        idx[i, 0] = i0
        idx[i, 1] = i0 + 1 if i0 < n_in - 1 else i0
        w[i, 0] = 1 - lam
        w[i, 1] = lam


def cubic_table(Py_ssize_t n_in, double scale, bint align_corners, int64_t[:, ::1] idx,
                floating[:, ::1] w):
    """Four taps per output position (bicubic), indices clamped to the input."""
    cdef Py_ssize_t n_out = idx.shape[0], i, i0, j
    cdef floating ratio, lam
    _area_scale(n_in, n_out, align_corners, scale, &ratio)
    for i in range(n_out):
        i0 = _guard(_source_index(ratio, i, align_corners, True), n_in, &lam)
        _cubic_coefficients(lam, &w[i, 0])
        for j in range(4):
            idx[i, j] = min(max(i0 - 1 + j, 0), n_in - 1)


cdef inline void _area_window(Py_ssize_t i, Py_ssize_t n_in, Py_ssize_t n_out,
                              Py_ssize_t* start, Py_ssize_t* end) noexcept nogil:
    """Adaptive pooling's window [start, end) of output i."""
    start[0] = (i * n_in) // n_out
    end[0] = ((i + 1) * n_in + n_out - 1) // n_out


def area_taps(Py_ssize_t n_in, Py_ssize_t n_out):
    """Columns an area table needs: the longest window."""
    cdef Py_ssize_t i, start, end, longest = 1
    for i in range(n_out):
        _area_window(i, n_in, n_out, &start, &end)
        longest = max(longest, end - start)
    return longest


def area_table(Py_ssize_t n_in, int64_t[:, ::1] idx, floating[:, ::1] w):
    """'area' = adaptive average pooling: the window of each output, weight 1/len each.

    Shorter windows than the table's width get extra taps of weight 0.
    """
    cdef Py_ssize_t n_out = idx.shape[0], taps = idx.shape[1], i, j, start, end
    for i in range(n_out):
        _area_window(i, n_in, n_out, &start, &end)
        for j in range(taps):
            idx[i, j] = start + j if j < end - start else start
            w[i, j] = <floating> 1 / <floating> (end - start) if j < end - start else 0


cdef inline floating _aa_filter(floating x, int kind) noexcept nogil:
    """The antialiasing filters: triangle, Keys cubic (a = -0.5), lanczos-3."""
    cdef floating a
    x = fabs(x)
    if kind == AA_LINEAR:
        return 1 - x if x < 1 else 0
    if kind == AA_CUBIC:
        a = AA_CUBIC_A
        if x < 1:
            return _cubic1(x, a)
        return _cubic2(x, a) if x < 2 else 0
    if x == 0:
        return 1
    if x >= LANCZOS_A:
        return 0
    return <floating> (LANCZOS_A * sin(M_PI * x) * sin(M_PI * x / LANCZOS_A)
                       / (M_PI * M_PI * x * x))


def aa_taps(Py_ssize_t n_in, Py_ssize_t n_out, double scale, bint align_corners,
            int support_size, floating like):
    """Columns an antialiased table needs: 2 * ceil(support) + 1 (support grows when shrinking).

    ``like`` is any value of the table's dtype: the support is computed in that precision,
    exactly as aa_table computes it.
    """
    cdef floating ratio, support
    _area_scale(n_in, n_out, align_corners, scale, &ratio)
    support = (support_size * 0.5) * ratio if ratio >= 1 else support_size * 0.5
    return <Py_ssize_t> ceil(support) * 2 + 1


def aa_table(Py_ssize_t n_in, double scale, bint align_corners, int kind, int support_size,
             int64_t[:, ::1] idx, floating[:, ::1] w):
    """Antialiased resampling (PIL's): a normalised filter stretched by the downscale factor."""
    cdef Py_ssize_t n_out = idx.shape[0], taps = idx.shape[1], i, j, xmin, xsize
    cdef floating ratio, support, center, invscale, total, one = 1
    _area_scale(n_in, n_out, align_corners, scale, &ratio)
    support = (support_size * 0.5) * ratio if ratio >= 1 else support_size * 0.5
    invscale = one / ratio if ratio >= 1 else 1
    for i in range(n_out):
        center = <floating> (ratio * (i + 0.5))
        xmin = max(<Py_ssize_t> ((center - support) + 0.5), 0)
        xsize = min(<Py_ssize_t> ((center + support) + 0.5), n_in) - xmin
        xsize = min(max(xsize, 0), taps)
        total = 0
        for j in range(xsize):
            w[i, j] = _aa_filter(<floating> ((<floating> (j + xmin - center) + 0.5) * invscale),
                                 kind)
            total = total + w[i, j]
        for j in range(taps):
            if j >= xsize:
                w[i, j] = 0
            elif total != 0:
                w[i, j] = w[i, j] / total
            idx[i, j] = xmin + j if j < xsize else min(xmin, n_in - 1)


# --------------------------------------------------------------------------- resampling passes
cdef void _pass(const floating* src, floating* dst, Py_ssize_t outer, Py_ssize_t n_src,
                Py_ssize_t n_dst, Py_ssize_t inner, const Py_ssize_t* rows, const int64_t* cols,
                const floating* w) noexcept nogil:
    """dst[a, r, j] = sum over the entries e of row r of w[e] * src[a, cols[e], j].

    Each destination element is summed in a register (inner == 1) or a row at a time,
    so neither direction scatters into memory it has just written.
    """
    cdef Py_ssize_t a, r, e, j
    cdef const floating* s
    cdef floating* d
    cdef floating acc, wk
    if inner == 1:
        for a in range(outer):
            s = src + a * n_src
            d = dst + a * n_dst
            for r in range(n_dst):
                e = rows[r]
                if rows[r + 1] - e == 2:  # the linear case, unrolled
                    d[r] = w[e] * s[cols[e]] + w[e + 1] * s[cols[e + 1]]
                    continue
                acc = 0
                for e in range(rows[r], rows[r + 1]):
                    acc = acc + w[e] * s[cols[e]]
                d[r] = acc
        return
    for a in range(outer):
        for r in range(n_dst):
            d = dst + (a * n_dst + r) * inner
            if rows[r + 1] - rows[r] == 1 and w[rows[r]] == 1:  # a nearest copy
                memcpy(d, src + (a * n_src + cols[rows[r]]) * inner, inner * sizeof(floating))
                continue
            memset(d, 0, inner * sizeof(floating))
            for e in range(rows[r], rows[r + 1]):
                wk = w[e]
                s = src + (a * n_src + cols[e]) * inner
                for j in range(inner):
                    d[j] = d[j] + wk * s[j]


cdef int _rows(const int64_t[:, ::1] idx, const floating[:, ::1] w, Py_ssize_t n_in,
               bint transposed, Py_ssize_t** rows, int64_t** cols,
               floating** weights) noexcept:
    """One axis table as sparse rows (CSR): per destination position, (source, weight) pairs.

    Forward rows are the output positions (the table itself); transposed rows are the
    input positions, each listing the outputs that read it, in output order.  Returns 1
    when out of memory (the caller frees whatever was allocated).
    """
    cdef Py_ssize_t n_out = idx.shape[0], taps = idx.shape[1], n_rows, o, k, i, pos
    n_rows = n_in if transposed else n_out
    rows[0] = <Py_ssize_t*> malloc((n_rows + 1) * sizeof(Py_ssize_t))
    cols[0] = <int64_t*> malloc(max(n_out * taps, 1) * sizeof(int64_t))
    weights[0] = <floating*> malloc(max(n_out * taps, 1) * sizeof(floating))
    if rows[0] == NULL or cols[0] == NULL or weights[0] == NULL:
        return 1
    if not transposed:
        for o in range(n_out + 1):
            rows[0][o] = o * taps
        memcpy(cols[0], &idx[0, 0], n_out * taps * sizeof(int64_t))
        memcpy(weights[0], &w[0, 0], n_out * taps * sizeof(floating))
        return 0
    memset(rows[0], 0, (n_in + 1) * sizeof(Py_ssize_t))
    for o in range(n_out):
        for k in range(taps):
            rows[0][idx[o, k] + 1] += 1
    for i in range(n_in):
        rows[0][i + 1] += rows[0][i]
    for o in range(n_out):  # rows[i] advances from the start of row i to its end
        for k in range(taps):
            i = idx[o, k]
            pos = rows[0][i]
            cols[0][pos] = o
            weights[0][pos] = w[o, k]
            rows[0][i] = pos + 1
    for i in range(n_in, 0, -1):
        rows[0][i] = rows[0][i - 1]
    rows[0][0] = 0
    return 0


cdef void _resample_plane(const floating* src, floating* dst, const Py_ssize_t* n_from,
                          const Py_ssize_t* n_to, Py_ssize_t** rows, int64_t** cols,
                          floating** w, floating* buf0, floating* buf1,
                          bint transposed) noexcept nogil:
    """Resample one (D, H, W) plane axis by axis; axes without rows are left as they are.

    Forward: axes W, H, D map n_from -> n_to.  Transposed: axes D, H, W map n_to -> n_from.
    """
    cdef Py_ssize_t cur[3]
    cdef Py_ssize_t step, a, outer, inner, n_src, remaining = 0
    cdef const floating* inp = src
    cdef floating* out
    cdef floating* spare = buf0
    for a in range(3):
        cur[a] = n_to[a] if transposed else n_from[a]
        if rows[a] != NULL:
            remaining += 1
    if remaining == 0:
        memcpy(dst, src, cur[0] * cur[1] * cur[2] * sizeof(floating))
        return
    for step in range(3):
        a = step if transposed else 2 - step
        if rows[a] == NULL:
            continue
        remaining -= 1
        if remaining == 0:
            out = dst
        else:
            out = spare
            spare = buf1 if spare == buf0 else buf0
        outer = 1
        inner = 1
        if a >= 1:
            outer = cur[0] * (cur[1] if a == 2 else 1)
        if a <= 1:
            inner = cur[2] * (cur[1] if a == 0 else 1)
        n_src = cur[a]
        cur[a] = n_from[a] if transposed else n_to[a]
        _pass(inp, out, outer, n_src, cur[a], inner, rows[a], cols[a], w[a])
        inp = out


cdef int _resample(const floating[:, :, :, ::1] src, floating[:, :, :, ::1] dst,
                   const int64_t[:, ::1] idx_d, const floating[:, ::1] w_d,
                   const int64_t[:, ::1] idx_h, const floating[:, ::1] w_h,
                   const int64_t[:, ::1] idx_w, const floating[:, ::1] w_w,
                   bint transposed) noexcept:
    """Run _resample_plane over the P planes in parallel; returns 1 when out of memory."""
    cdef Py_ssize_t n_from[3]
    cdef Py_ssize_t n_to[3]
    cdef Py_ssize_t* rows[3]
    cdef int64_t* cols[3]
    cdef floating* w[3]
    cdef Py_ssize_t P = src.shape[0], p, a, buf_size = 1
    cdef floating* buf
    cdef int failed = 0
    cdef int* failed_flag = &failed  # written through a pointer: shared by the threads
    for a in range(3):
        n_from[a] = (dst if transposed else src).shape[a + 1]
        n_to[a] = (src if transposed else dst).shape[a + 1]
        buf_size *= max(n_from[a], n_to[a])
        rows[a] = NULL
        cols[a] = NULL
        w[a] = NULL
    if P == 0 or n_from[0] * n_from[1] * n_from[2] * n_to[0] * n_to[1] * n_to[2] == 0:
        return 0
    if idx_d.shape[1]:
        failed |= _rows(idx_d, w_d, n_from[0], transposed, &rows[0], &cols[0], &w[0])
    if idx_h.shape[1]:
        failed |= _rows(idx_h, w_h, n_from[1], transposed, &rows[1], &cols[1], &w[1])
    if idx_w.shape[1]:
        failed |= _rows(idx_w, w_w, n_from[2], transposed, &rows[2], &cols[2], &w[2])
    if not failed:
        # each pass over a plane touches at most buf_size elements
        with nogil, parallel(use_threads_if=P * buf_size >= PARALLEL_MIN):
            buf = <floating*> malloc(2 * buf_size * sizeof(floating))
            if buf == NULL:
                failed_flag[0] = 1
            else:
                for p in prange(P, schedule="static"):
                    _resample_plane(&src[p, 0, 0, 0], &dst[p, 0, 0, 0], n_from, n_to, rows,
                                    cols, w, buf, buf + buf_size, transposed)
                free(buf)
    for a in range(3):
        free(rows[a])
        free(cols[a])
        free(w[a])
    return failed


def resample_forward(const floating[:, :, :, ::1] src, floating[:, :, :, ::1] dst,
                     const int64_t[:, ::1] idx_d, const floating[:, ::1] w_d,
                     const int64_t[:, ::1] idx_h, const floating[:, ::1] w_h,
                     const int64_t[:, ::1] idx_w, const floating[:, ::1] w_w):
    """dst[P, Do, Ho, Wo] from src[P, D, H, W] through one table per axis (0 columns: same size)."""
    if _resample(src, dst, idx_d, w_d, idx_h, w_h, idx_w, w_w, False):
        raise MemoryError("interpolate: out of memory for the resampling buffers")


def resample_backward(const floating[:, :, :, ::1] grad_out, floating[:, :, :, ::1] grad_in,
                      const int64_t[:, ::1] idx_d, const floating[:, ::1] w_d,
                      const int64_t[:, ::1] idx_h, const floating[:, ::1] w_h,
                      const int64_t[:, ::1] idx_w, const floating[:, ::1] w_w):
    """grad_in[P, D, H, W] (overwritten) from grad_out[P, Do, Ho, Wo]: the adjoint passes."""
    if _resample(grad_out, grad_in, idx_d, w_d, idx_h, w_h, idx_w, w_w, True):
        raise MemoryError("interpolate: out of memory for the resampling buffers")


# --------------------------------------------------------------------------- grid_sample
cdef inline floating _unnormalize(floating coord, Py_ssize_t size, bint align_corners,
                                  floating* grad) noexcept nogil:
    """Grid coordinate in [-1, 1] -> pixel coordinate; grad = d(pixel)/d(coord)."""
    if align_corners:
        grad[0] = <floating> (size - 1) / 2
        return (coord + 1) / 2 * (size - 1)
    grad[0] = <floating> size / 2
    return ((coord + 1) * size - 1) / 2


cdef inline floating _clip(floating x, Py_ssize_t size, floating* grad) noexcept nogil:
    """Clamp to [0, size - 1]; the borders count as outside for the gradient (as PyTorch)."""
    cdef floating hi = size - 1
    if x <= 0:
        grad[0] = 0
        return 0
    if x >= hi:
        grad[0] = 0
        return hi
    grad[0] = 1
    return x


cdef inline floating _reflect(floating x, Py_ssize_t twice_low, Py_ssize_t twice_high,
                              floating* grad) noexcept nogil:
    """Reflect x into [twice_low / 2, twice_high / 2]; grad = +-1."""
    cdef floating lo, span, extra, sign = 1
    if twice_low == twice_high:
        grad[0] = 0
        return 0
    lo = <floating> twice_low / 2
    span = <floating> (twice_high - twice_low) / 2
    x = x - lo
    if x < 0:
        sign = -1
        x = -x
    extra = <floating> fmod(x, span)
    if fmod(floor(x / span), 2) == 0:
        grad[0] = sign
        return extra + lo
    grad[0] = -sign
    return span - extra + lo


cdef inline floating _pad(floating x, Py_ssize_t size, int padding, bint align_corners,
                          floating* grad) noexcept nogil:
    """Map a pixel coordinate into the image by the padding mode (zeros: unchanged)."""
    cdef floating g_clip = 1, g_reflect = 1
    if padding == PAD_BORDER:
        x = _clip(x, size, &g_clip)
    elif padding == PAD_REFLECTION:
        if align_corners:
            x = _reflect(x, 0, 2 * (size - 1), &g_reflect)
        else:
            x = _reflect(x, -1, 2 * size - 1, &g_reflect)
        x = _clip(x, size, &g_clip)
    grad[0] = g_clip * g_reflect
    return x


cdef inline floating _grid_coord(floating coord, Py_ssize_t size, int padding,
                                 bint align_corners, floating* grad) noexcept nogil:
    cdef floating g_un, g_pad
    coord = _unnormalize(coord, size, align_corners, &g_un)
    coord = _pad(coord, size, padding, align_corners, &g_pad)
    grad[0] = g_un * g_pad
    return coord


cdef inline Py_ssize_t _inside(floating pos, Py_ssize_t size) noexcept nogil:
    """Integer-valued pos as an index, or -1 outside [0, size) (NaN and inf included)."""
    if pos >= 0 and pos < size:
        return <Py_ssize_t> pos
    return -1


cdef inline int _corners(const floating* g, int k, Py_ssize_t D, Py_ssize_t H, Py_ssize_t W,
                         int mode, int padding, bint align_corners, Py_ssize_t* off,
                         floating* wt, floating* dw, floating* mult) noexcept nogil:
    """The taps of one grid point for bilinear/trilinear or nearest sampling.

    Writes up to 8 plane offsets (-1 outside), their weights, and for each tap the
    derivative of its weight along x, y, z (dw[3 * t + axis], before the ``mult``
    chain factors of the coordinate transform).  Returns the tap count.
    """
    cdef Py_ssize_t size[3]
    cdef floating pos[3]
    cdef floating f[3][2]
    cdef Py_ssize_t at[3][2]
    cdef Py_ssize_t stride = 1, i
    cdef int axis, t, cx, cy, cz, nz
    cdef floating base
    size[0], size[1], size[2] = W, H, D
    for axis in range(k):
        pos[axis] = _grid_coord(g[axis], size[axis], padding, align_corners, &mult[axis])
    if k == 2:
        mult[2] = 0
    if mode == GRID_NEAREST:
        off[0] = 0
        for axis in range(k):
            i = _inside(<floating> nearbyint(pos[axis]), size[axis])
            if i < 0:
                off[0] = -1
                break
            off[0] += i * stride
            stride *= size[axis]
        wt[0] = 1
        dw[0] = dw[1] = dw[2] = 0
        return 1
    for axis in range(k):
        base = <floating> floor(pos[axis])
        f[axis][1] = pos[axis] - base
        f[axis][0] = 1 - f[axis][1]
        at[axis][0] = _inside(base, size[axis])
        at[axis][1] = _inside(base + 1, size[axis])
    if k == 2:
        f[2][0], f[2][1] = 1, 0
        at[2][0] = at[2][1] = 0
    nz = 2 if k == 3 else 1
    t = 0
    for cz in range(nz):
        for cy in range(2):
            for cx in range(2):
                if at[0][cx] < 0 or at[1][cy] < 0 or at[2][cz] < 0:
                    off[t] = -1
                else:
                    off[t] = at[0][cx] + W * (at[1][cy] + H * at[2][cz])
                wt[t] = f[0][cx] * f[1][cy] * f[2][cz]
                dw[3 * t] = (1 if cx else -1) * f[1][cy] * f[2][cz]
                dw[3 * t + 1] = (1 if cy else -1) * f[0][cx] * f[2][cz]
                dw[3 * t + 2] = (1 if cz else -1) * f[0][cx] * f[1][cy] if k == 3 else 0
                t += 1
    return t


cdef void _grid_point(const floating* inp, const floating* g, floating* out, Py_ssize_t C,
                      Py_ssize_t P, int k, Py_ssize_t D, Py_ssize_t H, Py_ssize_t W, int mode,
                      int padding, bint align_corners) noexcept nogil:
    """out[c * P] for every channel c of one sample, at the grid point g."""
    cdef Py_ssize_t off[8]
    cdef floating wt[8]
    cdef floating dw[24]
    cdef floating mult[3]
    cdef Py_ssize_t plane = D * H * W, c
    cdef int taps = _corners(g, k, D, H, W, mode, padding, align_corners, off, wt, dw, mult), i
    cdef floating acc
    for c in range(C):
        acc = 0
        for i in range(taps):
            if off[i] >= 0:
                acc = acc + inp[c * plane + off[i]] * wt[i]
        out[c * P] = acc


cdef void _grid_sample_backward_one(const floating* inp, const floating* grid,
                                    const floating* grad_out, floating* grad_in,
                                    floating* grad_grid, Py_ssize_t C, Py_ssize_t P, int k,
                                    Py_ssize_t D, Py_ssize_t H, Py_ssize_t W, int mode,
                                    int padding, bint align_corners) noexcept nogil:
    """Gradients for one sample (grad_in is this sample's, overwritten)."""
    cdef Py_ssize_t off[8]
    cdef floating wt[8]
    cdef floating dw[24]
    cdef floating mult[3]
    cdef floating gsum[3]
    cdef Py_ssize_t plane = D * H * W, p, c
    cdef int taps, i, axis
    cdef floating go, val
    memset(grad_in, 0, C * plane * sizeof(floating))
    for p in range(P):
        taps = _corners(grid + p * k, k, D, H, W, mode, padding, align_corners, off, wt, dw,
                        mult)
        gsum[0] = gsum[1] = gsum[2] = 0
        for c in range(C):
            go = grad_out[c * P + p]
            for i in range(taps):
                if off[i] < 0:
                    continue
                grad_in[c * plane + off[i]] += wt[i] * go
                val = inp[c * plane + off[i]] * go
                for axis in range(3):
                    gsum[axis] = gsum[axis] + dw[3 * i + axis] * val
        for axis in range(k):
            grad_grid[p * k + axis] = gsum[axis] * mult[axis]


def grid_sample_forward(const floating[:, :, :, :, ::1] inp, const floating[:, :, ::1] grid,
                        floating[:, :, ::1] out, int mode, int padding, bint align_corners):
    """out[N, C, P] = inp[N, C, D, H, W] sampled at grid[N, P, k] (k = 2: D == 1)."""
    cdef Py_ssize_t N = inp.shape[0], C = inp.shape[1], D = inp.shape[2], H = inp.shape[3]
    cdef Py_ssize_t W = inp.shape[4], P = grid.shape[1], t, n, p
    cdef int k = grid.shape[2]
    if C == 0:
        return
    with nogil:
        for t in prange(N * P, schedule="static", use_threads_if=N * P * C >= PARALLEL_MIN):
            n = t // P
            p = t % P
            _grid_point(&inp[n, 0, 0, 0, 0], &grid[n, p, 0], &out[n, 0, p], C, P, k, D, H, W,
                        mode, padding, align_corners)


def grid_sample_backward(const floating[:, :, :, :, ::1] inp, const floating[:, :, ::1] grid,
                         const floating[:, :, ::1] grad_out, floating[:, :, :, :, ::1] grad_in,
                         floating[:, :, ::1] grad_grid, int mode, int padding,
                         bint align_corners):
    """Gradients of grid_sample_forward; grad_in is overwritten (scatter, one thread per sample)."""
    cdef Py_ssize_t N = inp.shape[0], C = inp.shape[1], D = inp.shape[2], H = inp.shape[3]
    cdef Py_ssize_t W = inp.shape[4], P = grid.shape[1], n
    cdef int k = grid.shape[2]
    if C == 0 or P == 0:
        grad_in[...] = 0
        grad_grid[...] = 0
        return
    with nogil:
        for n in prange(N, schedule="static",
                        use_threads_if=N * C * (P + D * H * W) >= PARALLEL_MIN):
            _grid_sample_backward_one(&inp[n, 0, 0, 0, 0], &grid[n, 0, 0], &grad_out[n, 0, 0],
                                      &grad_in[n, 0, 0, 0, 0], &grad_grid[n, 0, 0], C, P, k,
                                      D, H, W, mode, padding, align_corners)


cdef inline void _cubic_taps(floating coord, Py_ssize_t size, int padding, bint align_corners,
                             Py_ssize_t* at, floating* c, floating* dc,
                             floating* mult) noexcept nogil:
    """Bicubic along one axis: 4 tap indices (-1 outside), weights, d(weights)/d(coord).

    The padding modes map each tap's position (not the sample point), so the grid
    gradient sees only the unnormalisation factor, as in PyTorch.
    """
    cdef floating x = _unnormalize(coord, size, align_corners, mult), base, pos, g
    cdef int i
    base = <floating> floor(x)
    _cubic_coefficients(x - base, c)
    _cubic_coefficients_grad(x - base, dc)
    for i in range(4):
        pos = _pad(base - 1 + i, size, padding, align_corners, &g)
        at[i] = _inside(pos, size)


cdef void _bicubic_point(const floating* inp, const floating* g, floating* out,
                         floating* grad_in, floating* grad_g, const floating* grad_out,
                         Py_ssize_t C, Py_ssize_t P, Py_ssize_t H, Py_ssize_t W, int padding,
                         bint align_corners) noexcept nogil:
    """One grid point of one sample: out[c * P] when out is given, else the gradients
    (grad_in += scatter, grad_g[0:2] = d loss / d grid point)."""
    cdef Py_ssize_t ax[4]
    cdef Py_ssize_t ay[4]
    cdef floating cx[4]
    cdef floating cy[4]
    cdef floating dcx[4]
    cdef floating dcy[4]
    cdef floating mx, my, acc, row, go, val, gx = 0, gy = 0
    cdef Py_ssize_t c, o
    cdef int i, j
    _cubic_taps(g[0], W, padding, align_corners, ax, cx, dcx, &mx)
    _cubic_taps(g[1], H, padding, align_corners, ay, cy, dcy, &my)
    for c in range(C):
        if out != NULL:
            acc = 0
            for j in range(4):
                row = 0
                for i in range(4):
                    if ax[i] >= 0 and ay[j] >= 0:
                        row = row + cx[i] * inp[c * H * W + ay[j] * W + ax[i]]
                acc = acc + cy[j] * row
            out[c * P] = acc
            continue
        go = grad_out[c * P]
        for j in range(4):
            for i in range(4):
                if ax[i] < 0 or ay[j] < 0:
                    continue
                o = c * H * W + ay[j] * W + ax[i]
                grad_in[o] += go * cx[i] * cy[j]
                val = inp[o] * go
                gx = gx + val * dcx[i] * cy[j]
                gy = gy + val * dcy[j] * cx[i]
    if out == NULL:
        grad_g[0] = gx * mx
        grad_g[1] = gy * my


def grid_sample_bicubic_forward(const floating[:, :, :, ::1] inp,
                                const floating[:, :, ::1] grid, floating[:, :, ::1] out,
                                int padding, bint align_corners):
    """out[N, C, P] = bicubic sample of inp[N, C, H, W] at grid[N, P, 2]."""
    cdef Py_ssize_t N = inp.shape[0], C = inp.shape[1], H = inp.shape[2], W = inp.shape[3]
    cdef Py_ssize_t P = grid.shape[1], t, n, p
    if C == 0:
        return
    with nogil:
        for t in prange(N * P, schedule="static", use_threads_if=N * P * C >= PARALLEL_MIN):
            n = t // P
            p = t % P
            _bicubic_point(&inp[n, 0, 0, 0], &grid[n, p, 0], &out[n, 0, p], NULL, NULL, NULL,
                           C, P, H, W, padding, align_corners)


def grid_sample_bicubic_backward(const floating[:, :, :, ::1] inp,
                                 const floating[:, :, ::1] grid,
                                 const floating[:, :, ::1] grad_out,
                                 floating[:, :, :, ::1] grad_in, floating[:, :, ::1] grad_grid,
                                 int padding, bint align_corners):
    """Gradients of grid_sample_bicubic_forward; grad_in is overwritten."""
    cdef Py_ssize_t N = inp.shape[0], C = inp.shape[1], H = inp.shape[2], W = inp.shape[3]
    cdef Py_ssize_t P = grid.shape[1], n, p
    grad_in[...] = 0
    if C == 0 or P == 0:
        grad_grid[...] = 0
        return
    with nogil:
        for n in prange(N, schedule="static", use_threads_if=N * P * C >= PARALLEL_MIN):
            for p in range(P):
                _bicubic_point(&inp[n, 0, 0, 0], &grid[n, p, 0], NULL, &grad_in[n, 0, 0, 0],
                               &grad_grid[n, p, 0], &grad_out[n, 0, p], C, P, H, W, padding,
                               align_corners)


# --------------------------------------------------------------------------- affine_grid
def affine_grid_forward(const floating[:, :, ::1] theta, const floating[:, ::1] base,
                        floating[:, :, ::1] out):
    """out[n] (P x k) = base (P x k+1) @ theta[n]^T, theta[N, k, k+1]."""
    cdef int N = theta.shape[0], k = theta.shape[1], P = base.shape[0], n
    with nogil:
        for n in range(N):
            gemm(False, True, P, k, k + 1, <floating> 1, &base[0, 0], k + 1, &theta[n, 0, 0],
                 k + 1, <floating> 0, &out[n, 0, 0], k)


def affine_grid_backward(const floating[:, :, ::1] grad, const floating[:, ::1] base,
                         floating[:, :, ::1] grad_theta):
    """grad_theta[n] (k x k+1) = grad[n]^T (k x P) @ base (P x k+1)."""
    cdef int N = grad.shape[0], k = grad.shape[2], P = base.shape[0], n
    with nogil:
        for n in range(N):
            gemm(True, False, k, k + 1, P, <floating> 1, &grad[n, 0, 0], k, &base[0, 0], k + 1,
                 <floating> 0, &grad_theta[n, 0, 0], k + 1)
