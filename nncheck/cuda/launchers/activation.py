"""Launchers for ``kernels/activation.cu`` with ``nncheck._kernels.activation``'s signatures."""

from . import THREADS, launch, launch_blocks

# Every elementwise op is a <name>_forward / <name>_backward pair in both files.
ELEMENTWISE = (
    "relu", "leaky_relu", "elu", "celu", "selu", "sigmoid", "tanh", "hardtanh", "hardsigmoid",
    "hardswish", "silu", "mish", "softplus", "softsign", "logsigmoid", "hardshrink",
    "softshrink", "tanhshrink", "threshold", "gelu", "gelu_tanh",
)


def _elementwise(name):
    def forward(x, out, a=0.0, b=0.0):
        launch("activation", f"{name}_forward", x.size, x, out, x.size, float(a), float(b))

    def backward(x, grad_out, grad_in, a=0.0, b=0.0):
        launch("activation", f"{name}_backward", x.size, x, grad_out, grad_in, x.size,
               float(a), float(b))

    forward.__name__, backward.__name__ = f"{name}_forward", f"{name}_backward"
    return forward, backward


for _name in ELEMENTWISE:
    globals()[f"{_name}_forward"], globals()[f"{_name}_backward"] = _elementwise(_name)


def _warp_rows(name, rows, *args):
    """One warp per (outer, inner) row: rows * 32 threads."""
    launch("activation", name, rows * 32, *args)


def softmax_forward(x, out, log_space):
    outer, n, inner = x.shape
    _warp_rows("softmax_forward", outer * inner, x, out, outer, n, inner, int(log_space))


def softmax_backward(y, grad_out, grad_in, log_space):
    outer, n, inner = y.shape
    _warp_rows("softmax_backward", outer * inner, y, grad_out, grad_in, outer, n, inner,
               int(log_space))


def prelu_forward(x, weight, out):
    n, c, inner = x.shape
    launch("activation", "prelu_forward", x.size, x, weight, out, x.size, c, inner, weight.size)


def prelu_backward(x, weight, grad_out, grad_in, grad_weight):
    """grad_weight must be zero-filled: the weight kernel adds into it (as on the CPU)."""
    n, c, inner = x.shape
    launch("activation", "prelu_backward_input", x.size, x, weight, grad_out, grad_in, x.size,
           c, inner, weight.size)
    launch_blocks("activation", "prelu_backward_weight", weight.size, x, grad_out, grad_weight,
                  n, c, inner, weight.size, threads=THREADS)


def glu_forward(x, out):
    outer, n, inner = x.shape
    launch("activation", "glu_forward", out.size, x, out, outer, n // 2, inner)


def glu_backward(x, grad_out, grad_in):
    outer, n, inner = x.shape
    launch("activation", "glu_backward", grad_out.size, x, grad_out, grad_in, outer, n // 2,
           inner)
