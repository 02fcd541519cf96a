"""Launchers for ``kernels/distance.cu`` with ``nncheck._kernels.distance``'s signatures
(pairwise_distance, normalize, cosine_similarity, pdist).  ``double`` parameters go as
``np.float64``."""

from ..._lazy import np
from . import launch


def pairwise_forward(x1, x2, eps, p, diff, out):
    R, D = x1.shape
    launch("distance", "pairwise_forward", R, x1, x2, R, D, np.float64(eps), np.float64(p),
           diff, out)


def pairwise_backward(diff, dist, grad_out, p, grad_x1, grad_x2, need_x2):
    R, D = diff.shape
    launch("distance", "pairwise_backward", R, diff, dist, grad_out, R, D, np.float64(p),
           grad_x1, grad_x2, int(need_x2))


def normalize_forward(x, p, eps, norm, out):
    O, N, I = x.shape
    launch("distance", "normalize_forward", O * I, x, O, N, I, np.float64(p), np.float64(eps),
           norm, out)


def normalize_backward(x, norm, grad_out, p, eps, grad_in):
    O, N, I = x.shape
    launch("distance", "normalize_backward", O * I, x, norm, grad_out, O, N, I, np.float64(p),
           np.float64(eps), grad_in)


def cosine_forward(x1, x2, eps, n1, n2, out):
    """n1, n2: float64 norms kept for the backward."""
    O, N, I = x1.shape
    launch("distance", "cosine_forward", O * I, x1, x2, O, N, I, np.float64(eps), n1, n2, out)


def cosine_backward(x1, x2, n1, n2, out, grad_out, eps, grad_x1, grad_x2):
    O, N, I = x1.shape
    launch("distance", "cosine_backward", O * I, x1, x2, n1, n2, out, grad_out, O, N, I,
           np.float64(eps), grad_x1, grad_x2)


def pdist_forward(x, p, scratch, out):
    N, M = x.shape
    launch("distance", "pdist_forward", N, x, N, M, np.float64(p), scratch, out)


def pdist_backward(x, dist, grad_out, p, grad_in):
    N, M = x.shape
    launch("distance", "pdist_backward", N, x, dist, grad_out, N, M, np.float64(p), grad_in)
