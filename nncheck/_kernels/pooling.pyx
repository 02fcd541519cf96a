# cython: language_level=3
"""Pooling kernels: window max, window average, index scatter/gather, LP-pool pointwise steps.

Every array arrives viewed as (planes, D, H, W): 1-d pooling has D = H = 1,
2-d pooling D = 1, and an index is the flat position inside one plane
(d*H*W + h*W + w), which is PyTorch's layout for all three ranks.

The windows come as tables built in nncheck.nn.functional.pooling, one pair
(lo, hi) per axis and output position, so one max kernel serves MaxPool,
AdaptiveMaxPool and FractionalMaxPool (whose tables differ per plane: a table
has 1 row, or one row per plane), and one average kernel serves AvgPool,
AdaptiveAvgPool and the inner average of LPPool.  lo/hi are clipped to the
input; the step along an axis is the dilation.  Python checks every table
before a call, and the scatter kernels skip indices outside a plane.

The kernels work an output row at a time: for each input row of the window
and each tap j along W, one pass over the output row updates every window
holding that tap.  Inside a "regular run" of outputs (full windows whose
starts step by a constant) that pass is a plain strided loop the compiler
vectorizes; the ragged edges take a checked loop.  Each window still sees its
elements in row-major order, so first-max, NaN and summation order are
PyTorch's.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport INFINITY, fabs, pow
from libc.stdint cimport int32_t, int64_t

from nncheck._kernels.parallel cimport PARALLEL_MIN

ctypedef fused index_t:
    int32_t
    int64_t


cdef Py_ssize_t _taps(const int64_t* lo, const int64_t* hi, Py_ssize_t n,
                     int64_t step) noexcept nogil:
    """The most taps any window of one axis has."""
    cdef Py_ssize_t i, most = 0
    for i in range(n):
        if hi[i] > lo[i]:
            most = max(most, (hi[i] - lo[i] + step - 1) // step)
    return most


cdef (Py_ssize_t, Py_ssize_t, int64_t) _regular_run(const int64_t* lo, const int64_t* hi,
                                                    Py_ssize_t n, int64_t span) noexcept nogil:
    """Longest [a, b) of windows at least ``span`` long whose starts step by a constant S."""
    cdef Py_ssize_t ow = 0, a, e, best_a = 0, best_b = 0
    cdef int64_t stride, best_stride = 0
    while ow < n:
        if hi[ow] - lo[ow] < span:
            ow += 1
            continue
        a, e = ow, ow + 1
        stride = lo[e] - lo[a] if e < n else 0
        while e < n and hi[e] - lo[e] >= span and lo[e] - lo[e - 1] == stride:
            e += 1
        if e - a > best_b - best_a:
            best_a, best_b, best_stride = a, e, stride
        ow = e
    return best_a, best_b, best_stride


cdef inline bint _wins(floating v, floating best) noexcept nogil:
    """PyTorch's update rule: a larger value, or any NaN."""
    return (v > best) | (v != v)


cdef void _max_row(const floating* xrow, floating* orow, index_t* irow, int64_t base,
                   const int64_t* lo, const int64_t* hi, Py_ssize_t n, int64_t step,
                   Py_ssize_t taps, Py_ssize_t a, Py_ssize_t b, int64_t stride) noexcept nogil:
    """Fold one input row into the running max (and argmax when irow is set) of an output row."""
    cdef Py_ssize_t j, ow, e
    cdef int64_t c, pos
    cdef floating v
    cdef bint take
    for j in range(taps):
        for e in range(n - (b - a)):  # the ragged edges: [0, a) and [b, n)
            ow = e if e < a else e + (b - a)
            pos = lo[ow] + j * step
            if pos < hi[ow] and _wins(xrow[pos], orow[ow]):
                orow[ow] = xrow[pos]
                if irow != NULL:
                    irow[ow] = <index_t> (base + pos)
        c = lo[a] - a * stride + j * step if b > a else 0
        if irow == NULL:
            for ow in range(a, b):
                v = xrow[ow * stride + c]
                orow[ow] = v if _wins(v, orow[ow]) else orow[ow]
        else:
            for ow in range(a, b):
                v = xrow[ow * stride + c]
                take = _wins(v, orow[ow])
                orow[ow] = v if take else orow[ow]
                irow[ow] = <index_t> (base + ow * stride + c) if take else irow[ow]


cdef void _max_plane(const floating* xp, floating* op, index_t* irow, int64_t* ip,
                     const int64_t* d_lo, const int64_t* d_hi, Py_ssize_t OD,
                     const int64_t* h_lo, const int64_t* h_hi, Py_ssize_t OH,
                     const int64_t* w_lo, const int64_t* w_hi, Py_ssize_t OW,
                     Py_ssize_t W, Py_ssize_t HW, int64_t d_step, int64_t h_step,
                     int64_t w_step, bint scratch) noexcept nogil:
    """One plane of max_pool_forward.  irow is a row of int32 argmax scratch (``scratch``),
    widened into ip after each row, or ip's own row; NULL when no indices are wanted."""
    cdef Py_ssize_t od, oh, ow, i, row, taps = _taps(w_lo, w_hi, OW, w_step)
    cdef Py_ssize_t a, b
    cdef int64_t stride
    cdef floating* orow
    cdef index_t* rowidx
    a, b, stride = _regular_run(w_lo, w_hi, OW, (taps - 1) * w_step + 1)
    for od in range(OD):
        for oh in range(OH):
            orow = op + (od * OH + oh) * OW
            rowidx = NULL
            if irow != NULL:
                rowidx = irow if scratch else <index_t*> (ip + (od * OH + oh) * OW)
            for ow in range(OW):
                orow[ow] = -INFINITY
                if rowidx != NULL:  # PyTorch's index for a window with nothing above -inf
                    rowidx[ow] = <index_t> (d_lo[od] * HW + h_lo[oh] * W + w_lo[ow])
            i = d_lo[od]
            while i < d_hi[od]:
                row = h_lo[oh]
                while row < h_hi[oh]:
                    _max_row(xp + i * HW + row * W, orow, rowidx, i * HW + row * W,
                             w_lo, w_hi, OW, w_step, taps, a, b, stride)
                    row = row + h_step
                i = i + d_step
            if scratch and rowidx != NULL:
                for ow in range(OW):
                    ip[(od * OH + oh) * OW + ow] = rowidx[ow]


def max_pool_forward(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] out,
                     int64_t[:, :, :, ::1] indices, int32_t[:, ::1] scratch,
                     const int64_t[:, ::1] d_lo, const int64_t[:, ::1] d_hi,
                     const int64_t[:, ::1] h_lo, const int64_t[:, ::1] h_hi,
                     const int64_t[:, ::1] w_lo, const int64_t[:, ::1] w_hi,
                     int64_t d_step, int64_t h_step, int64_t w_step):
    """out = max over each window, indices = its flat position (skipped when indices is empty).

    As PyTorch: the first maximum wins, a NaN wins over any number (the last
    NaN's index is kept), and an empty window gives -inf at its start index.
    ``scratch`` (planes, OW) int32 lets the argmax loop vectorize; pass an
    empty one when a plane has 2**31 elements or more.
    """
    cdef Py_ssize_t P = out.shape[0], OD = out.shape[1], OH = out.shape[2], OW = out.shape[3]
    cdef Py_ssize_t plane = x.shape[1] * x.shape[2] * x.shape[3], p, rd, rh, rw
    if P == 0 or OD * OH * OW == 0:
        return
    cdef bint with_indices = indices.shape[0] > 0, narrow = scratch.shape[0] > 0
    with nogil:
        for p in prange(P, schedule="static",
                        use_threads_if=P * (plane + OD * OH * OW) >= PARALLEL_MIN):
            rd = p if d_lo.shape[0] > 1 else 0
            rh = p if h_lo.shape[0] > 1 else 0
            rw = p if w_lo.shape[0] > 1 else 0
            if with_indices and narrow:
                _max_plane(&x[p, 0, 0, 0], &out[p, 0, 0, 0], &scratch[p, 0],
                           &indices[p, 0, 0, 0], &d_lo[rd, 0], &d_hi[rd, 0], OD,
                           &h_lo[rh, 0], &h_hi[rh, 0], OH, &w_lo[rw, 0], &w_hi[rw, 0], OW,
                           x.shape[3], x.shape[2] * x.shape[3], d_step, h_step, w_step, True)
            else:
                _max_plane(&x[p, 0, 0, 0], &out[p, 0, 0, 0],
                           <int64_t*> (&indices[p, 0, 0, 0] if with_indices else NULL),
                           &indices[p, 0, 0, 0] if with_indices else NULL,
                           &d_lo[rd, 0], &d_hi[rd, 0], OD,
                           &h_lo[rh, 0], &h_hi[rh, 0], OH, &w_lo[rw, 0], &w_hi[rw, 0], OW,
                           x.shape[3], x.shape[2] * x.shape[3], d_step, h_step, w_step, False)


cdef void _sum_row(const floating* xrow, floating* acc, const int64_t* lo, const int64_t* hi,
                   Py_ssize_t n, Py_ssize_t taps, Py_ssize_t a, Py_ssize_t b,
                   int64_t stride) noexcept nogil:
    """acc[ow] += the window of one input row (windows along W step by 1)."""
    cdef Py_ssize_t j, ow, e
    cdef int64_t c
    for j in range(taps):
        for e in range(n - (b - a)):  # the ragged edges: [0, a) and [b, n)
            ow = e if e < a else e + (b - a)
            if lo[ow] + j < hi[ow]:
                acc[ow] += xrow[lo[ow] + j]
        c = lo[a] - a * stride + j if b > a else 0
        if stride == 1:  # constant strides let the compiler vectorize the gather
            for ow in range(a, b):
                acc[ow] += xrow[ow + c]
        elif stride == 2:
            for ow in range(a, b):
                acc[ow] += xrow[2 * ow + c]
        else:
            for ow in range(a, b):
                acc[ow] += xrow[ow * stride + c]


cdef void _spread_row(floating* grow, const floating* share, const int64_t* lo,
                      const int64_t* hi, Py_ssize_t n, Py_ssize_t taps, Py_ssize_t a,
                      Py_ssize_t b, int64_t stride) noexcept nogil:
    """grow[window of ow] += share[ow] for one input row: the transpose of _sum_row."""
    cdef Py_ssize_t j, ow, e
    cdef int64_t c
    for j in range(taps):
        for e in range(n - (b - a)):
            ow = e if e < a else e + (b - a)
            if lo[ow] + j < hi[ow]:
                grow[lo[ow] + j] += share[ow]
        c = lo[a] - a * stride + j if b > a else 0
        if stride == 1:  # constant strides let the compiler vectorize the scatter
            for ow in range(a, b):
                grow[ow + c] += share[ow]
        elif stride == 2:
            for ow in range(a, b):
                grow[2 * ow + c] += share[ow]
        else:
            for ow in range(a, b):
                grow[ow * stride + c] += share[ow]


cdef inline double _divisor(int64_t override, int64_t d_div, int64_t h_div,
                            int64_t w_div) noexcept nogil:
    return override if override else d_div * h_div * w_div


def avg_pool_forward(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] out,
                     const int64_t[::1] d_lo, const int64_t[::1] d_hi, const int64_t[::1] d_div,
                     const int64_t[::1] h_lo, const int64_t[::1] h_hi, const int64_t[::1] h_div,
                     const int64_t[::1] w_lo, const int64_t[::1] w_hi, const int64_t[::1] w_div,
                     int64_t divisor_override):
    """out = window sum / divisor; an empty window gives 0.

    The divisor is ``divisor_override`` when non-zero, else d_div * h_div * w_div:
    the window length with padding (count_include_pad) or without, per axis.
    Sums run in the input's precision in row-major order, as PyTorch's.
    """
    cdef Py_ssize_t P = out.shape[0], OD = out.shape[1], OH = out.shape[2], OW = out.shape[3]
    cdef Py_ssize_t W = x.shape[3], HW = x.shape[2] * x.shape[3]
    cdef Py_ssize_t p, od, oh, ow, i, row, a, b, taps
    cdef int64_t stride
    cdef floating* orow
    if P == 0 or OD * OH * OW == 0:
        return
    taps = _taps(&w_lo[0], &w_hi[0], OW, 1)
    a, b, stride = _regular_run(&w_lo[0], &w_hi[0], OW, taps)
    with nogil:
        for p in prange(P, schedule="static",
                        use_threads_if=P * (x.shape[1] * HW + OD * OH * OW) >= PARALLEL_MIN):
            for od in range(OD):
                for oh in range(OH):
                    orow = &out[p, od, oh, 0]
                    for ow in range(OW):
                        orow[ow] = 0
                    for i in range(d_lo[od], d_hi[od]):
                        for row in range(h_lo[oh], h_hi[oh]):
                            _sum_row(&x[p, 0, 0, 0] + i * HW + row * W, orow, &w_lo[0],
                                     &w_hi[0], OW, taps, a, b, stride)
                    for ow in range(OW):
                        if w_lo[ow] < w_hi[ow] and d_lo[od] < d_hi[od] and h_lo[oh] < h_hi[oh]:
                            orow[ow] = orow[ow] / <floating> _divisor(
                                divisor_override, d_div[od], h_div[oh], w_div[ow])


def avg_pool_backward(const floating[:, :, :, ::1] grad_out, floating[:, :, :, ::1] grad_in,
                      floating[:, ::1] share,
                      const int64_t[::1] d_lo, const int64_t[::1] d_hi,
                      const int64_t[::1] d_div, const int64_t[::1] h_lo,
                      const int64_t[::1] h_hi, const int64_t[::1] h_div,
                      const int64_t[::1] w_lo, const int64_t[::1] w_hi,
                      const int64_t[::1] w_div, int64_t divisor_override):
    """grad_in[window] += grad_out / divisor, windows and divisors as in avg_pool_forward.

    ``share`` is (planes, OW) scratch for one row of grad_out / divisor.
    """
    cdef Py_ssize_t P = grad_out.shape[0], OD = grad_out.shape[1]
    cdef Py_ssize_t OH = grad_out.shape[2], OW = grad_out.shape[3]
    cdef Py_ssize_t W = grad_in.shape[3], HW = grad_in.shape[2] * grad_in.shape[3]
    cdef Py_ssize_t plane = grad_in.shape[1] * HW
    cdef Py_ssize_t p, od, oh, ow, i, row, a = 0, b = 0, taps = 0, k
    cdef int64_t stride = 0
    cdef floating* gin
    if P == 0:
        return
    if OW > 0:
        taps = _taps(&w_lo[0], &w_hi[0], OW, 1)
        a, b, stride = _regular_run(&w_lo[0], &w_hi[0], OW, taps)
    with nogil:
        for p in prange(P, schedule="static",
                        use_threads_if=P * (plane + OD * OH * OW) >= PARALLEL_MIN):
            gin = &grad_in[p, 0, 0, 0]
            for k in range(plane):
                gin[k] = 0
            for od in range(OD):
                for oh in range(OH):
                    if d_lo[od] >= d_hi[od] or h_lo[oh] >= h_hi[oh]:
                        continue
                    for ow in range(OW):
                        share[p, ow] = (grad_out[p, od, oh, ow] / <floating> _divisor(
                            divisor_override, d_div[od], h_div[oh], w_div[ow])
                            if w_lo[ow] < w_hi[ow] else 0)
                    for i in range(d_lo[od], d_hi[od]):
                        for row in range(h_lo[oh], h_hi[oh]):
                            _spread_row(gin + i * HW + row * W, &share[p, 0], &w_lo[0],
                                        &w_hi[0], OW, taps, a, b, stride)


# ---------------------------------------------------------------- flat per-plane indices

def index_scatter(const floating[:, ::1] src, const int64_t[:, ::1] indices,
                  floating[:, ::1] out, bint accumulate):
    """out[p] = 0, then out[p, indices[p, i]] (+)= src[p, i]; indices outside a plane skip.

    accumulate: max-pool backward (a position can win several windows);
    otherwise MaxUnpool forward, where the last write wins as in PyTorch.
    """
    cdef Py_ssize_t P = src.shape[0], N = src.shape[1], M = out.shape[1], p, i
    cdef int64_t j
    with nogil:
        for p in prange(P, schedule="static", use_threads_if=P * (M + N) >= PARALLEL_MIN):
            for i in range(M):
                out[p, i] = 0
            for i in range(N):
                j = indices[p, i]
                if j < 0 or j >= M:
                    continue
                if accumulate:
                    out[p, j] += src[p, i]
                else:
                    out[p, j] = src[p, i]


def index_gather(const floating[:, ::1] src, const int64_t[:, ::1] indices,
                 floating[:, ::1] out):
    """out[p, i] = src[p, indices[p, i]] (MaxUnpool backward); indices outside a plane give 0."""
    cdef Py_ssize_t P = out.shape[0], N = out.shape[1], M = src.shape[1], p, i
    cdef int64_t j
    with nogil:
        for p in prange(P, schedule="static", use_threads_if=P * N >= PARALLEL_MIN):
            for i in range(N):
                j = indices[p, i]
                out[p, i] = src[p, j] if 0 <= j < M else 0


# ---------------------------------------------------------------- fractional max pooling

def fractional_intervals(const floating[::1] samples, int64_t input_size, int64_t pool_size,
                         int64_t[:, ::1] starts):
    """PyTorch's generate_intervals, one row per plane, in the input's precision.

    start[i] = int((i + u) * alpha) - int(u * alpha), alpha = (in - k) / (out - 1);
    the last window always ends at the input's end.
    """
    cdef Py_ssize_t P = starts.shape[0], O = starts.shape[1], p, i
    cdef floating alpha = 0, u
    if O > 1:
        alpha = <floating> (input_size - pool_size) / <floating> (O - 1)
    with nogil:
        for p in prange(P, schedule="static", use_threads_if=P * O >= PARALLEL_MIN):
            u = samples[p]
            for i in range(O - 1):
                starts[p, i] = <int> ((i + u) * alpha) - <int> (u * alpha)
            if O > 0:
                starts[p, O - 1] = input_size - pool_size


# ---------------------------------------------------------------- LP pooling pointwise steps
# lp_pool = (sign(s) * relu(|s|) * K) ** (1/p) with s = avg_pool(x ** p), as PyTorch composes it.

def lp_power(const floating[::1] x, double norm, floating[::1] out):
    cdef Py_ssize_t i
    with nogil:
        for i in prange(x.shape[0], schedule="static", use_threads_if=x.shape[0] >= PARALLEL_MIN):
            # p = 1, 2 (the usual norms) without pow: the same values, many times faster
            out[i] = x[i] if norm == 1 else (x[i] * x[i] if norm == 2 else <floating> pow(x[i], norm))


def lp_power_backward(const floating[::1] x, const floating[::1] grad, double norm,
                      floating[::1] grad_in):
    """d/dx x**p = p x**(p-1); zero for p == 0, as PyTorch's pow backward."""
    cdef Py_ssize_t i
    with nogil:
        for i in prange(x.shape[0], schedule="static", use_threads_if=x.shape[0] >= PARALLEL_MIN):
            if norm == 0:
                grad_in[i] = 0
            elif norm == 2:
                grad_in[i] = <floating> (grad[i] * (2 * <double> x[i]))
            else:
                grad_in[i] = <floating> (grad[i] * (norm * pow(x[i], norm - 1)))


cdef inline double _sign(double v) noexcept nogil:
    return 1 if v > 0 else (-1 if v < 0 else 0)  # 0 for NaN, as torch.sign


def lp_root(const floating[::1] s, double kernel_volume, double norm, floating[::1] out):
    cdef Py_ssize_t i
    with nogil:
        for i in prange(s.shape[0], schedule="static", use_threads_if=s.shape[0] >= PARALLEL_MIN):
            out[i] = <floating> pow(_sign(s[i]) * fabs(s[i]) * kernel_volume, 1.0 / norm)


def lp_root_backward(const floating[::1] s, const floating[::1] grad, double kernel_volume,
                     double norm, floating[::1] grad_s):
    """The chain rule through pow, mul, sign * relu(abs(s)) step by step, as PyTorch's autograd
    runs it: zero where s == 0, NaN handling included."""
    cdef Py_ssize_t i
    cdef double c, b, g
    with nogil:
        for i in prange(s.shape[0], schedule="static", use_threads_if=s.shape[0] >= PARALLEL_MIN):
            c, b = _sign(s[i]), fabs(s[i])
            g = grad[i] * ((1.0 / norm) * pow(c * b * kernel_volume, 1.0 / norm - 1))
            g = g * kernel_volume * c
            grad_s[i] = <floating> (0 if b <= 0 else g * c)


# ---------------------------------------------------------------- global average (output 1x1)
# AdaptiveAvgPool to size 1 (the head of most CNNs) and mean over the spatial axes: one
# reduction per plane, vectorised (the window kernels above would walk one window per row).

cdef extern from *:
    """
    #define NNCHECK_PLANE_MEAN(T) \\
        static T plane_mean_##T(const T *x, ptrdiff_t n) { \\
            double acc = 0; \\
            _Pragma("omp simd reduction(+:acc)") \\
            for (ptrdiff_t i = 0; i < n; i++) \\
                acc += x[i]; \\
            return (T) (acc / n); \\
        }
    NNCHECK_PLANE_MEAN(float)
    NNCHECK_PLANE_MEAN(double)
    """
    float plane_mean_float(const float* x, Py_ssize_t n) noexcept nogil
    double plane_mean_double(const double* x, Py_ssize_t n) noexcept nogil


def global_avg_forward(const floating[:, ::1] x, floating[::1] out):
    """out[p] = the mean of plane p of x (planes, elements), summed in double."""
    cdef Py_ssize_t p, P = x.shape[0], S = x.shape[1]
    if S == 0:
        return
    with nogil:
        for p in prange(P, schedule="static", use_threads_if=P * S >= PARALLEL_MIN):
            if floating is float:
                out[p] = plane_mean_float(&x[p, 0], S)
            else:
                out[p] = plane_mean_double(&x[p, 0], S)


def global_avg_backward(const floating[::1] grad_out, floating[:, ::1] grad_in):
    """grad_in[p, :] = grad_out[p] / elements per plane."""
    cdef Py_ssize_t p, i, P = grad_in.shape[0], S = grad_in.shape[1]
    cdef floating v
    with nogil:
        for p in prange(P, schedule="static", use_threads_if=P * S >= PARALLEL_MIN):
            v = <floating> (grad_out[p] / <double> S)
            for i in range(S):
                grad_in[p, i] = v


# ---------------------------------------------------------------- adaptive average
# AdaptiveAvgPool to a size above 1 (DenseNet's and ResNet's 7x7 heads): windows of
# consecutive rows and columns, so a window's sum splits into one pass adding its input
# rows into a row of column sums (vectorised along W, whatever the window width), then
# short sums of that row.  The windowed kernel above would instead walk each window's
# columns with a stride of the window width.

def adaptive_avg_forward(const floating[:, :, :, ::1] x, floating[:, :, :, ::1] out,
                         floating[:, ::1] colsum,
                         const int64_t[::1] d_lo, const int64_t[::1] d_hi,
                         const int64_t[::1] h_lo, const int64_t[::1] h_hi,
                         const int64_t[::1] w_lo, const int64_t[::1] w_hi):
    """out = the mean of each (non-empty) window; ``colsum`` is (planes, W) scratch.

    Sums run in the input's precision, as PyTorch's (column sums first: the same terms
    in another order, so float64 agrees to rounding).
    """
    cdef Py_ssize_t P = out.shape[0], OD = out.shape[1], OH = out.shape[2], OW = out.shape[3]
    cdef Py_ssize_t W = x.shape[3], p, od, oh, ow, i, row, w
    cdef floating* cs
    cdef const floating* xrow
    cdef floating s
    if P == 0 or OD * OH * OW == 0:
        return
    with nogil:
        for p in prange(P, schedule="static",
                        use_threads_if=P * x.shape[1] * x.shape[2] * W >= PARALLEL_MIN):
            cs = &colsum[p, 0]
            for od in range(OD):
                for oh in range(OH):
                    for w in range(W):
                        cs[w] = 0
                    for i in range(d_lo[od], d_hi[od]):
                        for row in range(h_lo[oh], h_hi[oh]):
                            xrow = &x[p, i, row, 0]
                            for w in range(W):
                                cs[w] += xrow[w]
                    for ow in range(OW):
                        s = 0
                        for w in range(w_lo[ow], w_hi[ow]):
                            s = s + cs[w]
                        out[p, od, oh, ow] = s / <floating> (
                            (d_hi[od] - d_lo[od]) * (h_hi[oh] - h_lo[oh]) * (w_hi[ow] - w_lo[ow]))


def adaptive_avg_backward(const floating[:, :, :, ::1] grad_out, floating[:, :, :, ::1] grad_in,
                          floating[:, ::1] colshare,
                          const int64_t[::1] d_lo, const int64_t[::1] d_hi,
                          const int64_t[::1] h_lo, const int64_t[::1] h_hi,
                          const int64_t[::1] w_lo, const int64_t[::1] w_hi):
    """grad_in = each window's grad_out / its size, summed where windows overlap: per output
    row, the shares of its windows spread over one row of W (``colshare``, (planes, W)
    scratch), then added to each input row of the window."""
    cdef Py_ssize_t P = grad_out.shape[0], OD = grad_out.shape[1]
    cdef Py_ssize_t OH = grad_out.shape[2], OW = grad_out.shape[3]
    cdef Py_ssize_t W = grad_in.shape[3], plane = grad_in.shape[1] * grad_in.shape[2] * W
    cdef Py_ssize_t p, od, oh, ow, i, row, w, k
    cdef floating* share
    cdef floating* gin
    cdef floating* grow
    cdef floating v
    if P == 0:
        return
    with nogil:
        for p in prange(P, schedule="static", use_threads_if=P * plane >= PARALLEL_MIN):
            share = &colshare[p, 0]
            gin = &grad_in[p, 0, 0, 0]
            for k in range(plane):
                gin[k] = 0
            for od in range(OD):
                for oh in range(OH):
                    for w in range(W):
                        share[w] = 0
                    for ow in range(OW):
                        v = grad_out[p, od, oh, ow] / <floating> (
                            (d_hi[od] - d_lo[od]) * (h_hi[oh] - h_lo[oh]) * (w_hi[ow] - w_lo[ow]))
                        for w in range(w_lo[ow], w_hi[ow]):
                            share[w] += v
                    for i in range(d_lo[od], d_hi[od]):
                        for row in range(h_lo[oh], h_hi[oh]):
                            grow = &grad_in[p, i, row, 0]
                            for w in range(W):
                                grow[w] += share[w]
