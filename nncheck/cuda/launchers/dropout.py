"""Launchers for ``kernels/dropout.cu`` with ``nncheck._kernels.dropout``'s signatures.

The CPU kernels take one uniform draw per row from nncheck's generator; so do these (the
row mask ``draws < keep_prob`` is decided on the host and copied to the device), so that a
seed gives the same mask on every device.  ``bernoulli_mask`` (Philox on the device) is
the kernel for a device-side generator; nncheck's generator is the host's.
"""

from ..._lazy import np
from . import launch


def dropout_forward(x, draws, keep_prob, a, c_keep, c_drop, mask, out):
    """out[r] = x[r] * a + c_keep where row r is kept, else c_drop (AlphaDropout's affine
    form; plain dropout has c_keep = c_drop = 0)."""
    rows, size = x.shape
    mask.copy_((np.asarray(draws) < keep_prob).astype(np.uint8))
    # alpha_dropout_apply: y = a * (kept ? x : alpha') + b, with a * alpha' + b = c_drop
    alpha_prime = (c_drop - c_keep) / a if a else 0.0
    launch("dropout", "alpha_dropout_apply", x.size, x, mask, out, x.size, size, float(a),
           float(c_keep if a else c_drop), float(alpha_prime))


def dropout_backward(grad_out, mask, a, grad_in):
    rows, size = grad_out.shape
    launch("dropout", "dropout_apply", grad_out.size, grad_out, mask, grad_in, grad_out.size,
           size, float(a))
