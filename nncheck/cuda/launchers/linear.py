"""Launchers for ``kernels/linear.cu`` (our tiled GEMM) with ``nncheck._kernels.linear``'s
signatures.  All matrices are row-major DeviceArrays; ``gemm`` is shared with conv and rnn."""

from . import launch, launch_blocks

_TILE = 128  # GEMM_BM = GEMM_BN in linear.cu


def gemm(trans_a, trans_b, A, B, C, M, N, K, *, bias=None, bias_mode=0, beta=0.0, batch=1,
         lda=None, ldb=None, ldc=None, sA=0, sB=0, sC=0, alpha=1.0):
    """C[M,N] = alpha op(A) @ op(B) (+ beta C) (+ bias), batched over ``batch`` (strides sX)."""
    if M <= 0 or N <= 0:
        return
    lda = lda if lda is not None else (M if trans_a else K)
    ldb = ldb if ldb is not None else (K if trans_b else N)
    ldc = ldc if ldc is not None else N
    name = f"gemm_{'t' if trans_a else 'n'}{'t' if trans_b else 'n'}"
    grid = (-(-N // _TILE), -(-M // _TILE), batch)
    launch_blocks("linear", name, grid, A, B, C, bias, M, N, K, lda, ldb, ldc, sA, sB, sC,
                  float(alpha), float(beta), bias_mode, dtype=C.dtype)


def linear_forward(x, weight, bias, out):
    """out (M, N) = x (M, K) @ weight (N, K)^T + bias (N entries or none)."""
    M, K = x.shape
    gemm(False, True, x, weight, out, M, weight.shape[0], K,
         bias=bias if bias.size else None, bias_mode=1 if bias.size else 0)


def linear_backward_input(grad_out, weight, grad_in):
    """grad_in (M, K) = grad_out (M, N) @ weight (N, K)."""
    M, N = grad_out.shape
    gemm(False, False, grad_out, weight, grad_in, M, weight.shape[1], N)


def linear_backward_weight(grad_out, x, grad_weight):
    """grad_weight (N, K) = grad_out (M, N)^T @ x (M, K)."""
    M, N = grad_out.shape
    gemm(True, False, grad_out, x, grad_weight, N, x.shape[1], M)


def bias_backward(grad_out, grad_bias):
    M, N = grad_out.shape
    launch("linear", "sum_rows", N, grad_out, grad_bias, M, N, 0)


def bilinear_forward(x1, x2, weight, bias, tmp, out):
    """out[n, o] = x1[n] W[o] x2[n] + bias[o]; ``tmp`` (N*O*J entries) holds x1 @ W[o]."""
    n, i = x1.shape
    o, _, j = weight.shape
    tmp = tmp.reshape(o, n, j)
    gemm(False, False, x1, weight, tmp, n, j, i, batch=o, sB=i * j, sC=n * j)
    launch("linear", "bilinear_combine", n * o, tmp, x2, bias if bias.size else None, out,
           n, o, j)


def bilinear_backward(x1, x2, weight, grad_out, tmp, grad_x1, grad_x2, grad_weight):
    from . import xp

    n, i = x1.shape
    o, _, j = weight.shape
    tmp = tmp.reshape(o, n, j)
    gemm(False, False, x1, weight, tmp, n, j, i, batch=o, sB=i * j, sC=n * j)
    launch("linear", "bilinear_grad_x2", n * j, tmp, grad_out, grad_x2, n, o, j)
    scaled = xp.empty((o, n, j), x1.dtype)
    launch("linear", "bilinear_scale", o * n * j, grad_out, x2, scaled, n, o, j)
    gemm(True, False, x1, scaled, grad_weight, i, j, n, batch=o, sB=n * j, sC=i * j)
    per_o = xp.empty((o, n, i), x1.dtype)
    gemm(False, True, scaled, weight, per_o, n, i, j, batch=o, sA=n * j, sB=i * j, sC=n * i)
    launch("linear", "sum_rows", n * i, per_o, grad_x1, o, n * i, 0)
