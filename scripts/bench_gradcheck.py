"""nncheck's gradcheck vs torch.autograd.gradcheck (slow mode, float64), side by side.

Both check the inputs AND the parameters, every Jacobian entry.  Cases are run
interleaved, best of N, in one process:

    python scripts/bench_gradcheck.py [--repeat 3] [--workers N]

``--workers N`` adds a column: nncheck with its numerical Jacobian shared over N
forked processes (PyTorch's gradcheck has no such option; the ratio stays 1 process).
"""

import argparse
import math
import time

import numpy as np
import torch

import nncheck
from nncheck.autograd.checker import check_gradients

CASES = [
    ("Conv2d(3,4,3)", "Conv2d", (3, 4, 3), (2, 3, 8, 8), True),
    ("Linear(20,30)", "Linear", (20, 30), (4, 20), True),
    ("BatchNorm2d(4) train", "BatchNorm2d", (4,), (3, 4, 5, 5), True),
    ("MaxPool2d(2)", "MaxPool2d", (2,), (2, 3, 8, 8), True),
    ("LSTM(8,8)", "LSTM", (8, 8), (5, 2, 8), True),
]


def _torch_case(name, args, x):
    module = getattr(torch.nn, name)(*args).double().train()
    params = [p for p in module.parameters()]
    names = [n for n, _ in module.named_parameters()]

    def flat(out):
        if isinstance(out, torch.Tensor):
            return (out,)
        return tuple(t for o in out for t in flat(o))

    def fn(inp, *ps):
        state = dict(zip(names, ps))
        return flat(torch.func.functional_call(module, state, (inp,)))

    tx = torch.tensor(x, requires_grad=True)
    return lambda: torch.autograd.gradcheck(fn, (tx, *params), fast_mode=False)


def _nncheck_case(name, args, x, workers=1):
    module = getattr(nncheck.nn, name)(*args).double().train()
    nx = nncheck.tensor(x, dtype=nncheck.float64, requires_grad=True)

    def run():
        report = check_gradients(module, (nx,), workers=workers)
        assert report.passed, report.as_dict()
        return report

    return run


def _best(fn, repeat):
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    opts = parser.parse_args()
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    rows = []
    extra = f" {'workers=' + str(opts.workers) + ' ms':>14s}" if opts.workers > 1 else ""
    print(f"{'case':24s} {'nncheck ms':>11s} {'torch ms':>10s} {'ratio':>7s}{extra}  "
          "calls (fwd/bwd)")
    for label, name, args, shape, _ in CASES:
        # distinct values: no max-pool ties, no kinks
        x = rng.permutation(int(np.prod(shape))).reshape(shape) / np.prod(shape) + 0.1
        ours, theirs = _nncheck_case(name, args, x), _torch_case(name, args, x)
        ours(), theirs()  # warm-up
        t_ours = t_torch = math.inf
        for _ in range(opts.repeat):  # interleaved
            t_ours = min(t_ours, _best(ours, 1))
            t_torch = min(t_torch, _best(theirs, 1))
        report = ours()
        rows.append(t_ours / t_torch)
        shared = ""
        if opts.workers > 1:
            shared = f" {_best(_nncheck_case(name, args, x, opts.workers), opts.repeat):14.1f}"
        print(f"{label:24s} {t_ours:11.1f} {t_torch:10.1f} {t_ours / t_torch:7.3f}{shared}  "
              f"{report.forward_calls}/{report.backward_calls}")
    print(f"{'geometric mean ratio':24s} {'':11s} {'':10s} "
          f"{math.exp(np.mean(np.log(rows))):7.3f}")


if __name__ == "__main__":
    main()
