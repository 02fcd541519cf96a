"""Launchers for ``kernels/conv.cu`` (im2col / col2im + linear.cu's GEMM) with
``nncheck._kernels.conv``'s signatures.

``geom`` is nn/functional/conv.py's ConvGeometry.args: (C, D, H, W, O, oD, oH, oW, kD, kH,
kW, sD, sH, sW, pD, pH, pW, dD, dH, dW, G), image side C x (D, H, W), column side
O x (oD, oH, oW).  The CPU's thread plan (``buf``, ``nthreads``, ``chunk``, ``cblock``) is
ignored: a launch covers every sample.
"""

import math

from .. import _driver
from . import launch, launch_blocks, xp
from .linear import gemm


def _unpack(geom):
    C, O, G = geom[0], geom[4], geom[20]
    window = _driver.window3(geom[1:4], geom[5:8], geom[8:11], geom[11:14], geom[14:17],
                             geom[17:20])
    vol, L, K = math.prod(geom[1:4]), math.prod(geom[5:8]), math.prod(geom[8:11])
    return C, O, G, window, vol, L, K


def _im2col(img, C, window, n, K, L):
    col = xp.empty((n, C * K * L), img.dtype)
    launch("conv", "im2col", col.size, img, col, col.size, C, window)
    return col


def conv_cols(geom, img, weight, bias, cols, buf=None, nthreads=1, chunk=0, cblock=0):
    """cols[n] (O*L) = W @ im2col(img[n]) (+ bias): one im2col, one batched GEMM per group."""
    C, O, G, window, vol, L, K = _unpack(geom)
    n, cg, og = img.shape[0], C // G, O // G
    col = _im2col(img, C, window, n, K, L)
    for g in range(G):
        gemm(False, False, weight.offset(g * og * cg * K, (og, cg * K)),
             col.offset(g * cg * K * L, (cg * K, L)), cols.offset(g * og * L, (og, L)),
             og, L, cg * K, bias=bias.offset(g * og, (og,)) if bias.size else None,
             bias_mode=2 if bias.size else 0, batch=n, sB=C * K * L, sC=O * L)


def conv_image(geom, cols, weight, bias, img, buf=None, nthreads=1, chunk=0, cblock=0):
    """img[n] (C*vol) = col2im(W^T @ cols[n]) (+ bias)."""
    C, O, G, window, vol, L, K = _unpack(geom)
    n, cg, og = cols.shape[0], C // G, O // G
    col = xp.empty((n, C * K * L), cols.dtype)
    for g in range(G):
        gemm(True, False, weight.offset(g * og * cg * K, (og, cg * K)),
             cols.offset(g * og * L, (og, L)), col.offset(g * cg * K * L, (cg * K, L)),
             cg * K, L, og, batch=n, sB=O * L, sC=C * K * L)
    launch("conv", "col2im", img.size, col, img, img.size, C, window)
    if bias.size:
        launch("conv", "add_channel_bias", img.size, img, bias, img.size, C, vol)


def conv_weight_grad(geom, img, cols, parts, buf=None, nthreads=1, chunk=0, cblock=0):
    """parts[0] (O*Cg*K) = sum_n cols[n] @ im2col(img[n])^T (parts zero-filled)."""
    C, O, G, window, vol, L, K = _unpack(geom)
    n, cg, og = img.shape[0], C // G, O // G
    col = _im2col(img, C, window, n, K, L)
    out = parts[0]
    for g in range(G):
        for i in range(n):  # accumulate over samples: beta = 1 after the first
            gemm(False, True, cols.offset(i * O * L + g * og * L, (og, L)),
                 col.offset(i * C * K * L + g * cg * K * L, (cg * K, L)),
                 out.offset(g * og * cg * K, (og, cg * K)), og, cg * K, L,
                 beta=0.0 if i == 0 else 1.0)


def channel_sum(x, out, nthreads=1):
    """out[c] = sum of x[:, c, :] (x is (N, C, inner))."""
    n, c, inner = x.shape
    launch_blocks("linear", "sum_channels", c, x, out, n, c, inner, 0)


def unfold(geom, img, cols, nthreads=1):
    C, O, G, window, vol, L, K = _unpack(geom)
    launch("conv", "im2col", cols.size, img, cols, cols.size, C, window)


def fold(geom, cols, img, nthreads=1):
    C, O, G, window, vol, L, K = _unpack(geom)
    launch("conv", "col2im", img.size, cols, img, img.size, C, window)
