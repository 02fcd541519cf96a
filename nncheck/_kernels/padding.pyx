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

ctypedef fused word:
    uint8_t
    uint16_t
    uint32_t
    uint64_t


def pad_forward(const word[:, :, :, ::1] x, word[:, :, :, ::1] out,
                const int64_t[::1] map_d, const int64_t[::1] map_h,
                const int64_t[::1] map_w, word fill):
    """out[p, d, h, w] = x[p, map_d[d], map_h[h], map_w[w]], or ``fill`` where a map is -1."""
    cdef Py_ssize_t p, d, h, w, sd, sh, sw
    cdef Py_ssize_t P = out.shape[0], D = out.shape[1], H = out.shape[2], W = out.shape[3]
    with nogil:
        for p in prange(P, schedule="static"):
            for d in range(D):
                sd = map_d[d]
                for h in range(H):
                    sh = map_h[h]
                    if sd < 0 or sh < 0:
                        for w in range(W):
                            out[p, d, h, w] = fill
                        continue
                    for w in range(W):
                        sw = map_w[w]
                        out[p, d, h, w] = x[p, sd, sh, sw] if sw >= 0 else fill


def pad_backward(const floating[:, :, :, ::1] grad_out, floating[:, :, :, ::1] grad_in,
                 const int64_t[::1] map_d, const int64_t[::1] map_h,
                 const int64_t[::1] map_w):
    """grad_in[p, map_d[d], map_h[h], map_w[w]] += grad_out[p, d, h, w] (grad_in starts at 0).

    Planes are independent, so the scatter-add needs no atomics.
    """
    cdef Py_ssize_t p, d, h, w, sd, sh, sw
    cdef Py_ssize_t P = grad_out.shape[0], D = grad_out.shape[1]
    cdef Py_ssize_t H = grad_out.shape[2], W = grad_out.shape[3]
    cdef Py_ssize_t ID = grad_in.shape[1], IH = grad_in.shape[2], IW = grad_in.shape[3]
    with nogil:
        for p in prange(P, schedule="static"):
            for d in range(ID):
                for h in range(IH):
                    for w in range(IW):
                        grad_in[p, d, h, w] = 0
            for d in range(D):
                sd = map_d[d]
                if sd < 0:
                    continue
                for h in range(H):
                    sh = map_h[h]
                    if sh < 0:
                        continue
                    for w in range(W):
                        sw = map_w[w]
                        if sw >= 0:
                            grad_in[p, sd, sh, sw] += grad_out[p, d, h, w]
