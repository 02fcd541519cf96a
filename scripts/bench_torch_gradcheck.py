"""PyTorch Functions checked by nncheck's checker vs torch.autograd.gradcheck, side by side.

The same torch.autograd.Functions (right, and with planted backward bugs: a doubled
gradient, a transposed one, one wrong element, a 1% error), float64, every Jacobian
entry, both run by PyTorch; what differs is the checker.  Prints wall time (best of N)
and what each checker says about the bug:

    python scripts/bench_torch_gradcheck.py [--repeat 3]
"""

import argparse
import importlib
import time

import torch

from nncheck.autograd.checker import check_gradients


class MatMul(torch.autograd.Function):
    bug = None

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return x @ w

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        gx, gw = g @ w.t(), x.t() @ g
        if MatMul.bug == "doubled":
            gx = gx * 2
        elif MatMul.bug == "transposed":
            gw = gw.t()
        elif MatMul.bug == "one element":
            gx = gx.clone()
            gx[1, 2] += 0.3
        elif MatMul.bug == "1% error":
            gw = gw * 1.01
        return gx, gw


class Conv(torch.autograd.Function):
    """conv2d with padding 1; the bugs act on the input gradient."""

    bug = None

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return torch.nn.functional.conv2d(x, w, padding=1)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        gx = torch.nn.grad.conv2d_input(x.shape, w, g, padding=1)
        gw = torch.nn.grad.conv2d_weight(x, w.shape, g, padding=1)
        if Conv.bug == "doubled":
            gx = gx * 2
        elif Conv.bug == "transposed":
            gx = gx.transpose(-1, -2)
        elif Conv.bug == "one element":
            gx = gx.clone()
            gx[0, 0, 2, 3] += 0.3
        elif Conv.bug == "1% error":
            gw = gw * 1.01
        return gx, gw


def _cases():
    gen = torch.Generator().manual_seed(0)

    def t(*shape):
        return torch.randn(*shape, dtype=torch.float64, generator=gen, requires_grad=True)

    yield "MatMul 8x6 @ 6x6", MatMul, (t(8, 6), t(6, 6))
    yield "MatMul 32x16 @ 16x16", MatMul, (t(32, 16), t(16, 16))
    yield "Conv 1x2x6x6 * 3x2x3x3", Conv, (t(1, 2, 6, 6), t(3, 2, 3, 3))
    yield "Conv 2x3x10x10 * 4x3x3x3", Conv, (t(2, 3, 10, 10), t(4, 3, 3, 3))


# the module, shadowed in torch.autograd by the function of the same name
GradcheckError = importlib.import_module("torch.autograd.gradcheck").GradcheckError


def _best(fn, repeat):
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def _torch_says(fn, inputs):
    try:
        torch.autograd.gradcheck(fn, inputs)
        return "passed"
    except GradcheckError as exc:
        return str(exc).splitlines()[0]


def _nncheck_says(report):
    if report.passed:
        return "passed"
    c = next(c for c in report.checks if not c.passed)
    return f"{c.wrt}{c.worst_index}: {c.signature or f'{c.n_failed} entries'}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{'case':26s} {'bug':12s} {'nncheck s':>9s} {'torch s':>8s} {'ratio':>6s}  "
          "nncheck says | torch says")
    for title, fn_cls, inputs in _cases():
        for bug in (None, "doubled", "transposed", "one element", "1% error"):
            fn_cls.bug = bug
            ours, report = _best(lambda f=fn_cls.apply, x=inputs: check_gradients(f, x),
                                 args.repeat)
            theirs, _ = _best(lambda f=fn_cls.apply, x=inputs: torch.autograd.gradcheck(
                f, x, raise_exception=False), args.repeat)
            print(f"{title:26s} {bug or 'none':12s} {ours:9.3f} {theirs:8.3f} "
                  f"{ours / theirs:6.2f}  {_nncheck_says(report)} | "
                  f"{_torch_says(fn_cls.apply, inputs)}")
        fn_cls.bug = None


if __name__ == "__main__":
    main()
