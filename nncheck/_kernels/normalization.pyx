# cython: language_level=3
# distutils: extra_compile_args = -fno-math-errno -fno-trapping-math -fassociative-math -fno-signed-zeros
"""Normalization kernels: one fused forward/backward pair for the per-channel norms, one for
LayerNorm (per-element affine), and LocalResponseNorm.

BatchNorm, InstanceNorm and GroupNorm all normalise groups of elements and then apply a
per-channel affine. The input is viewed as (N, C, S) (S = product of the spatial sizes) and
channels are taken Cg at a time: a statistics group is channels [g*Cg, (g+1)*Cg) of one sample
(InstanceNorm: Cg = 1, GroupNorm: Cg = C/G) or, with ``reduce_batch``, of every sample
(BatchNorm: Cg = 1). Groups are numbered n*G + g, or g with ``reduce_batch``.

Statistics are merged from per-row moments (mean and sum of squared deviations of each
(n, c) row, two passes while the row is in cache) with Chan's formula, in double. The output
is then one pass out = a[c]*x + b[c]. Backward is one reduction pass (sum dy and
sum dy*(x-mean) per row) and one elementwise pass dx = k1[c]*dy + k2*(x-mean) + k3 (per
group k2, k3). Partial sums run in the input precision over short blocks (vectorised) and
are joined in double.
The compile flags above let gcc vectorise those reductions (reassociation only; no
finite-math assumptions). Shapes are validated in nncheck.nn.functional.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport pow, sqrt

from nncheck._kernels.parallel cimport PARALLEL_MIN


cdef enum:
    BLOCK = 64  # elements summed in the input precision (vectorised) before a double total
    ROW_BLOCK = 16  # rows per partial sum of layer_norm's weight gradient


cdef inline double _sum(const floating* x, Py_ssize_t n) noexcept nogil:
    """sum(x[0:n]): blocks of BLOCK in the input precision, joined in double.

    The last, shorter block is summed the same way (a loop of its own, still vectorised):
    a row shorter than BLOCK (BatchNorm on 7x7 maps) is all tail, and adding it element by
    element into a double was a chain of dependent adds several times slower.
    """
    cdef Py_ssize_t i = 0, j
    cdef double total = 0
    cdef floating part
    while i + BLOCK <= n:
        part = 0
        for j in range(i, i + BLOCK):
            part = part + x[j]
        total = total + part
        i = i + BLOCK
    part = 0
    for j in range(i, n):
        part = part + x[j]
    return total + part


cdef inline double _sum_sq_dev(const floating* x, Py_ssize_t n, floating mu) noexcept nogil:
    """sum((x - mu)^2), blocked as _sum."""
    cdef Py_ssize_t i = 0, j
    cdef double total = 0
    cdef floating part
    while i + BLOCK <= n:
        part = 0
        for j in range(i, i + BLOCK):
            part = part + (x[j] - mu) * (x[j] - mu)
        total = total + part
        i = i + BLOCK
    part = 0
    for j in range(i, n):
        part = part + (x[j] - mu) * (x[j] - mu)
    return total + part


cdef inline double _m2(const floating* x, Py_ssize_t n, double mean) noexcept nogil:
    """sum((x - mean)^2) over x[0:n] (the row is still in cache from _sum).

    The deviations are taken from the mean rounded to the input precision, mu_r; the exact
    identity sum((x-mean)^2) = sum((x-mu_r)^2) - n (mean-mu_r)^2 removes that rounding.
    """
    cdef floating mu_r = <floating> mean
    return _sum_sq_dev(x, n, mu_r) - n * (mean - mu_r) * (mean - mu_r)


cdef inline void _dot_sums(const floating* dy, const floating* x, double mean, Py_ssize_t n,
                           double* sum_dy, double* sum_dy_xc) noexcept nogil:
    """sum(dy) and sum(dy * (x - mean)) over n elements, blocked as _sum (deviations from the
    rounded mean, corrected exactly as in _m2)."""
    cdef Py_ssize_t i = 0, j
    cdef double a = 0, b = 0
    cdef floating pa, pb, mu = <floating> mean
    while i + BLOCK <= n:
        pa = 0
        pb = 0
        for j in range(i, i + BLOCK):
            pa = pa + dy[j]
            pb = pb + dy[j] * (x[j] - mu)
        a = a + pa
        b = b + pb
        i = i + BLOCK
    pa = 0
    pb = 0
    for j in range(i, n):
        pa = pa + dy[j]
        pb = pb + dy[j] * (x[j] - mu)
    a = a + pa
    b = b + pb
    sum_dy[0] = a
    sum_dy_xc[0] = b + (mu - mean) * a


cdef inline void _axpb(const floating* x, floating* out, Py_ssize_t n, floating a,
                       floating b) noexcept nogil:
    """out = a*x + b (as torch's CPU batch norm, in the input's precision)."""
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = a * x[i] + b


cdef inline void _backward_row(const floating* dy, const floating* x, floating* out,
                               Py_ssize_t n, floating k1, floating k2, floating mean,
                               floating k3) noexcept nogil:
    """out = k1*dy + k2*(x - mean) + k3 (centring first keeps precision for large means)."""
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = k1 * dy[i] + k2 * (x[i] - mean) + k3


cdef inline Py_ssize_t _group(Py_ssize_t n, Py_ssize_t c, Py_ssize_t Cg, Py_ssize_t G,
                              bint reduce_batch) noexcept nogil:
    return c // Cg if reduce_batch else n * G + c // Cg


def channel_norm_forward(const floating[:, :, ::1] x, Py_ssize_t Cg, bint reduce_batch,
                         double eps, const floating[::1] weight, const floating[::1] bias,
                         bint compute_stats, double[::1] mean, double[::1] var,
                         double[::1] invstd, double[:, ::1] row_mean, double[:, ::1] row_m2,
                         floating[:, :, ::1] out):
    """out = (x - mean[grp]) * invstd[grp] * weight[c] + bias[c].

    With ``compute_stats`` the group mean and biased variance are computed into mean/var
    (row_mean/row_m2 are (N, C) scratch); otherwise mean/var are given (running statistics).
    invstd = 1/sqrt(var + eps) is always written.
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], S = x.shape[2]
    cdef Py_ssize_t G = C // Cg, n_groups = mean.shape[0]
    cdef Py_ssize_t r, n, c, g, grp, n_lo, n_hi
    cdef double cnt, mu, m2, delta, total, scale, shift
    with nogil:
        if compute_stats:
            for r in prange(N * C, schedule="dynamic", chunksize=8,
                            use_threads_if=N * C * S >= PARALLEL_MIN):
                n = r // C
                c = r % C
                mu = _sum(&x[n, c, 0], S) / S if S > 0 else 0.0
                row_mean[n, c] = mu
                row_m2[n, c] = _m2(&x[n, c, 0], S, mu)
            for grp in prange(n_groups, schedule="static", use_threads_if=N * C >= PARALLEL_MIN):
                g = grp if reduce_batch else grp % G
                n_lo = 0 if reduce_batch else grp // G
                n_hi = N if reduce_batch else n_lo + 1
                cnt = 0
                mu = 0
                m2 = 0
                for n in range(n_lo, n_hi):
                    for c in range(g * Cg, (g + 1) * Cg):
                        # Chan et al.: merge (cnt, mu, m2) with the row (S, row_mean, row_m2)
                        total = cnt + S
                        if total > 0:
                            delta = row_mean[n, c] - mu
                            mu = mu + delta * S / total
                            m2 = m2 + row_m2[n, c] + delta * delta * cnt * S / total
                        cnt = total
                mean[grp] = mu
                var[grp] = m2 / cnt if cnt > 0 else 0
        for grp in range(n_groups):
            invstd[grp] = 1.0 / sqrt(var[grp] + eps)
        for r in prange(N * C, schedule="dynamic", chunksize=8,
                        use_threads_if=N * C * S >= PARALLEL_MIN):
            n = r // C
            c = r % C
            grp = _group(n, c, Cg, G, reduce_batch)
            scale = invstd[grp] * weight[c]
            shift = bias[c] - mean[grp] * scale
            _axpb(&x[n, c, 0], &out[n, c, 0], S, <floating> scale, <floating> shift)


def channel_norm_backward(const floating[:, :, ::1] x, const floating[:, :, ::1] grad_out,
                          Py_ssize_t Cg, bint reduce_batch, bint batch_stats,
                          const floating[::1] weight, const double[::1] mean,
                          const double[::1] invstd, double[:, ::1] sum_dy,
                          double[:, ::1] sum_dy_xc, double[::1] k2, double[::1] k3,
                          bint need_input, floating[:, :, ::1] grad_in,
                          bint need_affine, floating[::1] grad_weight,
                          floating[::1] grad_bias):
    """Gradients of channel_norm_forward, fused.

    sum_dy/sum_dy_xc are (N, C) scratch, k2/k3 one entry per group. With ``batch_stats`` the
    statistics depended on x (training), which adds the two mean terms to grad_in.
    """
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], S = x.shape[2]
    cdef Py_ssize_t G = C // Cg, n_groups = mean.shape[0]
    cdef Py_ssize_t r, n, c, g, grp, n_lo, n_hi
    cdef double a, b, cnt, rs, acc_w, acc_b
    with nogil:
        for r in prange(N * C, schedule="dynamic", chunksize=8,
                        use_threads_if=N * C * S >= PARALLEL_MIN):
            n = r // C
            c = r % C
            _dot_sums(&grad_out[n, c, 0], &x[n, c, 0], mean[_group(n, c, Cg, G, reduce_batch)],
                      S, &sum_dy[n, c], &sum_dy_xc[n, c])
        if need_affine:
            for c in prange(C, schedule="static", use_threads_if=N * C >= PARALLEL_MIN):
                acc_w = 0
                acc_b = 0
                for n in range(N):
                    acc_w = acc_w + sum_dy_xc[n, c] * invstd[_group(n, c, Cg, G, reduce_batch)]
                    acc_b = acc_b + sum_dy[n, c]
                grad_weight[c] = <floating> acc_w
                grad_bias[c] = <floating> acc_b
        if need_input:
            for grp in range(n_groups):
                k2[grp] = 0
                k3[grp] = 0
                if not batch_stats:
                    continue
                g = grp if reduce_batch else grp % G
                n_lo = 0 if reduce_batch else grp // G
                n_hi = N if reduce_batch else n_lo + 1
                a = 0
                b = 0
                for n in range(n_lo, n_hi):
                    for c in range(g * Cg, (g + 1) * Cg):
                        a = a + weight[c] * sum_dy[n, c]
                        b = b + weight[c] * sum_dy_xc[n, c]
                cnt = (n_hi - n_lo) * Cg * S
                rs = invstd[grp]
                # dx = rs*w*dy - (x - mean) * rs^3 * b/cnt - rs*a/cnt
                k2[grp] = -rs * rs * rs * b / cnt
                k3[grp] = -rs * a / cnt
            for r in prange(N * C, schedule="dynamic", chunksize=8,
                            use_threads_if=N * C * S >= PARALLEL_MIN):
                n = r // C
                c = r % C
                grp = _group(n, c, Cg, G, reduce_batch)
                _backward_row(&grad_out[n, c, 0], &x[n, c, 0], &grad_in[n, c, 0], S,
                              <floating> (invstd[grp] * weight[c]), <floating> k2[grp],
                              <floating> mean[grp], <floating> k3[grp])


def layer_norm_forward(const floating[:, ::1] x, const floating[::1] weight,
                       const floating[::1] bias, double eps, bint centered, double[::1] mean,
                       double[::1] invstd, floating[:, ::1] out):
    """Each row of x[M, D] normalised, then out = xhat * weight[j] + bias[j].

    centered: xhat = (x - mean) / std (LayerNorm); otherwise the mean is taken as 0 and
    xhat = x / rms (RMSNorm)."""
    cdef Py_ssize_t M = x.shape[0], D = x.shape[1], m
    cdef double mu, m2
    with nogil:
        for m in prange(M, schedule="dynamic", chunksize=8, use_threads_if=M * D >= PARALLEL_MIN):
            # (values are assigned, not written through pointers: prange keeps them private)
            mu = _sum(&x[m, 0], D) / D if D > 0 and centered else 0.0
            m2 = _m2(&x[m, 0], D, mu)
            mean[m] = mu
            invstd[m] = 1.0 / sqrt((m2 / D if D > 0 else 0.0) + eps)
            _layer_norm_row(&x[m, 0], &weight[0], &bias[0], &out[m, 0], D, <floating> mu,
                            <floating> invstd[m])


cdef inline void _layer_norm_row(const floating* x, const floating* w, const floating* b,
                                 floating* out, Py_ssize_t D, floating mu,
                                 floating rs) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(D):
        out[j] = (x[j] - mu) * rs * w[j] + b[j]


cdef inline void _layer_norm_row_backward(const floating* x, const floating* dy,
                                          const floating* w, floating* dx, Py_ssize_t D,
                                          double mean, double rs, bint centered) noexcept nogil:
    """dx = rs * (w*dy - mean(w*dy) - xhat * mean(w*dy*xhat)) for one row; without the
    mean(w*dy) term when not centered (the mean is then 0 and no function of x)."""
    cdef Py_ssize_t i = 0, j
    cdef double a = 0, b = 0
    cdef floating pa, pb, mu = <floating> mean, c1, c2, c3
    while i + BLOCK <= D:
        pa = 0
        pb = 0
        for j in range(i, i + BLOCK):
            pa = pa + w[j] * dy[j]
            pb = pb + w[j] * dy[j] * (x[j] - mu)
        a = a + pa
        b = b + pb
        i = i + BLOCK
    for j in range(i, D):
        a = a + w[j] * dy[j]
        b = b + w[j] * dy[j] * (x[j] - mu)
    b = b + (mu - mean) * a
    c1 = <floating> rs
    c2 = <floating> (-rs * rs * rs * b / D)
    c3 = <floating> (-rs * a / D) if centered else 0
    for j in range(D):
        dx[j] = c1 * w[j] * dy[j] + c2 * (x[j] - mu) + c3


def layer_norm_backward(const floating[:, ::1] x, const floating[:, ::1] grad_out,
                        const floating[::1] weight, bint centered, const double[::1] mean,
                        const double[::1] invstd, bint need_input, floating[:, ::1] grad_in,
                        bint need_affine, floating[:, ::1] part_w, floating[:, ::1] part_b,
                        double[::1] acc_w, double[::1] acc_b, floating[::1] grad_weight,
                        floating[::1] grad_bias):
    """Gradients of layer_norm_forward in one pass over the rows.

    Block t of ROW_BLOCK rows sums its weight/bias gradient rows into part_w[t]/part_b[t]
    (input precision, few terms); the blocks are then summed in double (acc_w/acc_b
    scratch). Fixed blocks keep the result independent of the thread count.
    """
    cdef Py_ssize_t M = x.shape[0], D = x.shape[1], T = (M + ROW_BLOCK - 1) // ROW_BLOCK
    cdef Py_ssize_t t, m, j
    with nogil:
        for t in prange(T, schedule="dynamic", use_threads_if=M * D >= PARALLEL_MIN):
            if need_affine:
                for j in range(D):
                    part_w[t, j] = 0
                    part_b[t, j] = 0
            for m in range(t * ROW_BLOCK, min((t + 1) * ROW_BLOCK, M)):
                if need_input:
                    _layer_norm_row_backward(&x[m, 0], &grad_out[m, 0], &weight[0],
                                             &grad_in[m, 0], D, mean[m], invstd[m], centered)
                if need_affine:
                    _accumulate_affine(&x[m, 0], &grad_out[m, 0], &part_w[t, 0],
                                       &part_b[t, 0], D, <floating> mean[m],
                                       <floating> invstd[m])
        if need_affine:
            for j in range(D):
                acc_w[j] = 0
                acc_b[j] = 0
            for t in range(T):
                for j in range(D):
                    acc_w[j] += part_w[t, j]
                    acc_b[j] += part_b[t, j]
            for j in range(D):
                grad_weight[j] = <floating> acc_w[j]
                grad_bias[j] = <floating> acc_b[j]


cdef inline void _accumulate_affine(const floating* x, const floating* dy, floating* part_w,
                                    floating* part_b, Py_ssize_t D, floating mu,
                                    floating rs) noexcept nogil:
    """part_w += dy * xhat, part_b += dy for one row."""
    cdef Py_ssize_t j
    for j in range(D):
        part_w[j] += dy[j] * ((x[j] - mu) * rs)
        part_b[j] += dy[j]


# ---------------------------------------------------------------- local response norm
# x is (N, C, S); channel c's window is c - size//2 .. c + (size-1)//2 (zero padded) and the
# average always divides by size, as torch's avg_pool over a zero-padded input does.

def lrn_forward(const floating[:, :, ::1] x, Py_ssize_t size, double alpha, double beta,
                double k, floating[:, :, ::1] denom, floating[:, :, ::1] out):
    """denom = k + alpha * mean_window(x^2); out = x * denom^-beta."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], S = x.shape[2]
    cdef Py_ssize_t r, n, c, cc, s, lo, hi
    cdef double acc, d
    with nogil:
        for r in prange(N * C, schedule="dynamic", chunksize=8,
                        use_threads_if=N * C * S * size >= PARALLEL_MIN):
            n = r // C
            c = r % C
            lo = c - size // 2
            hi = c + (size - 1) // 2
            if lo < 0:
                lo = 0
            if hi > C - 1:
                hi = C - 1
            for s in range(S):
                acc = 0
                for cc in range(lo, hi + 1):
                    acc = acc + x[n, cc, s] * x[n, cc, s]
                d = k + alpha * acc / size
                denom[n, c, s] = <floating> d
                out[n, c, s] = <floating> (x[n, c, s] * pow(d, -beta))


def lrn_backward(const floating[:, :, ::1] x, const floating[:, :, ::1] denom,
                 const floating[:, :, ::1] grad_out, Py_ssize_t size, double alpha,
                 double beta, floating[:, :, ::1] scratch, floating[:, :, ::1] grad_in):
    """dx[c] = dy[c] d[c]^-beta - 2 alpha beta/size x[c] sum_{c' whose window has c}
    dy[c'] x[c'] d[c']^(-beta-1); scratch holds dy x d^(-beta-1)."""
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], S = x.shape[2]
    cdef Py_ssize_t r, n, c, cc, s, lo, hi
    cdef double acc, coef = 2.0 * alpha * beta / size
    with nogil:
        for r in prange(N * C, schedule="dynamic", chunksize=8,
                        use_threads_if=N * C * S >= PARALLEL_MIN):
            n = r // C
            c = r % C
            for s in range(S):
                scratch[n, c, s] = <floating> (grad_out[n, c, s] * x[n, c, s]
                                               * pow(denom[n, c, s], -beta - 1))
        for r in prange(N * C, schedule="dynamic", chunksize=8,
                        use_threads_if=N * C * S * size >= PARALLEL_MIN):
            n = r // C
            c = r % C
            # c lies in the window of c' for c' in c - (size-1)//2 .. c + size//2
            lo = c - (size - 1) // 2
            hi = c + size // 2
            if lo < 0:
                lo = 0
            if hi > C - 1:
                hi = C - 1
            for s in range(S):
                acc = 0
                for cc in range(lo, hi + 1):
                    acc = acc + scratch[n, cc, s]
                grad_in[n, c, s] = <floating> (grad_out[n, c, s] * pow(denom[n, c, s], -beta)
                                               - coef * x[n, c, s] * acc)
