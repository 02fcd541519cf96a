"""Launchers for ``kernels/padding.cu`` with ``nncheck._kernels.padding``'s signatures.

The CPU kernels move raw words (the layer views any dtype as unsigned integers of its
size); the CUDA kernels are instantiated for float and double, so 4- and 8-byte words are
viewed back as those (a bitwise copy either way).
"""

from ..._lazy import np
from . import launch, xp

_FLOAT_OF_WORD = {4: np.float32, 8: np.float64}


def _as_float(a):
    if a.dtype.itemsize not in _FLOAT_OF_WORD:
        raise NotImplementedError(f"nncheck.cuda: padding of {a.dtype.itemsize}-byte elements "
                                  "has no CUDA kernel (float32/float64 only)")
    return a.view(_FLOAT_OF_WORD[a.dtype.itemsize])


def _maps(map_d, map_h, map_w):
    return [xp.ascontiguousarray(m, np.int64) for m in (map_d, map_h, map_w)]


def pad_forward(x, out, map_d, map_h, map_w, fill):
    x, out = _as_float(x), _as_float(out)
    value = float(np.asarray(fill).reshape(1).view(out.dtype)[0])
    launch("padding", "pad_map_forward", out.size, x, out, out.shape[0], *out.shape[1:],
           *x.shape[1:], *_maps(map_d, map_h, map_w), value)


def pad_backward(grad_out, grad_in, map_d, map_h, map_w):
    grad_in.zero_()
    launch("padding", "pad_map_backward", grad_out.size, grad_out, grad_in, grad_out.shape[0],
           *grad_out.shape[1:], *grad_in.shape[1:], *_maps(map_d, map_h, map_w))
