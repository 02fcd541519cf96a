# cython: language_level=3
"""Padding kernels: one gather (forward) and one scatter-add (backward) for every mode.

nncheck.nn.functional.padding turns constant/reflect/replicate/circular padding
(negative pads crop) into one index map per padded axis: ``map[o]`` is the
input position that output position ``o`` copies, or -1 for the fill value.
The arrays arrive viewed as (planes, D, H, W); unpadded axes have size 1 and
map [0].  Forward copies raw words (the element's bytes as an unsigned int), so
every dtype of itemsize 1/2/4/8 pads with the same code; backward sums floats.
All maps were checked against the input sizes in Python before any call here.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t

from nncheck._kernels.parallel cimport PARALLEL_MIN

ctypedef fused word:
    uint8_t
    uint16_t
    uint32_t
    uint64_t


cdef (Py_ssize_t, Py_ssize_t) _longest_run(const int64_t[::1] m) noexcept nogil:
    """[start, stop) of the longest stretch where m[w + 1] == m[w] + 1 (the copied middle)."""
    cdef Py_ssize_t w, start = 0, best_start = 0, best_stop = 0, n = m.shape[0]
    for w in range(n + 1):
        if w == n or m[w] < 0 or (w > start and m[w] != m[w - 1] + 1):
            if w - start > best_stop - best_start:
                best_start, best_stop = start, w
            start = w + 1 if (w < n and m[w] < 0) else w
    return best_start, best_stop


def pad_forward(const word[:, :, :, ::1] x, word[:, :, :, ::1] out,
                const int64_t[::1] map_d, const int64_t[::1] map_h,
                const int64_t[::1] map_w, word fill):
    """out[p, d, h, w] = x[p, map_d[d], map_h[h], map_w[w]], or ``fill`` where a map is -1."""
    cdef Py_ssize_t p, d, h, w, sd, sh, sw, shift
    cdef Py_ssize_t P = out.shape[0], D = out.shape[1], H = out.shape[2], W = out.shape[3]
    cdef Py_ssize_t run_start, run_stop
    cdef const word* src
    cdef word* dst
    with nogil:
        run_start, run_stop = _longest_run(map_w)
        shift = map_w[run_start] - run_start if run_stop > run_start else 0
        for p in prange(P, schedule="static", use_threads_if=P * D * H * W >= PARALLEL_MIN):
            for d in range(D):
                sd = map_d[d]
                for h in range(H):
                    sh = map_h[h]
                    dst = &out[p, d, h, 0] if W > 0 else NULL
                    if sd < 0 or sh < 0:
                        for w in range(W):
                            dst[w] = fill
                        continue
                    src = &x[p, sd, sh, 0] if x.shape[3] > 0 else NULL
                    for w in range(run_start):
                        sw = map_w[w]
                        dst[w] = src[sw] if sw >= 0 else fill
                    for w in range(run_start, run_stop):  # the middle: a straight copy
                        dst[w] = src[w + shift]
                    for w in range(run_stop, W):
                        sw = map_w[w]
                        dst[w] = src[sw] if sw >= 0 else fill


def pad_backward(const floating[:, :, :, ::1] grad_out, floating[:, :, :, ::1] grad_in,
                 const int64_t[::1] map_d, const int64_t[::1] map_h,
                 const int64_t[::1] map_w):
    """grad_in[p, map_d[d], map_h[h], map_w[w]] += grad_out[p, d, h, w] (grad_in starts at 0).

    Planes are independent, so the scatter-add needs no atomics; the copied
    middle of each row is a straight (vectorized) add.
    """
    cdef Py_ssize_t p, d, h, w, sd, sh, sw, shift, k
    cdef Py_ssize_t P = grad_out.shape[0], D = grad_out.shape[1]
    cdef Py_ssize_t H = grad_out.shape[2], W = grad_out.shape[3]
    cdef Py_ssize_t plane = grad_in.shape[1] * grad_in.shape[2] * grad_in.shape[3]
    cdef Py_ssize_t run_start, run_stop
    cdef const floating* src
    cdef floating* dst
    if P == 0 or plane == 0:
        return
    with nogil:
        run_start, run_stop = _longest_run(map_w)
        shift = map_w[run_start] - run_start if run_stop > run_start else 0
        for p in prange(P, schedule="static",
                        use_threads_if=P * (plane + D * H * W) >= PARALLEL_MIN):
            dst = &grad_in[p, 0, 0, 0]
            for k in range(plane):
                dst[k] = 0
            for d in range(D):
                sd = map_d[d]
                if sd < 0:
                    continue
                for h in range(H):
                    sh = map_h[h]
                    if sh < 0:
                        continue
                    src = &grad_out[p, d, h, 0]
                    dst = &grad_in[p, sd, sh, 0]
                    for w in range(run_start):
                        sw = map_w[w]
                        if sw >= 0:
                            dst[sw] += src[w]
                    for w in range(run_start, run_stop):
                        dst[w + shift] += src[w]
                    for w in range(run_stop, W):
                        sw = map_w[w]
                        if sw >= 0:
                            dst[sw] += src[w]
