"""nncheck's gradcheck vs torch.autograd.gradcheck (slow mode, float64), side by side.

Both check the inputs AND the parameters, every Jacobian entry.  Cases are run
interleaved, best of N, in one process:

    python scripts/bench_gradcheck.py [--repeat 3] [--workers N]

``--workers N`` adds a column: nncheck with its numerical Jacobian shared over N
forked processes (PyTorch's gradcheck has no such option; the ratio stays 1 process).
"""

import argparse
import math
import os
import time

import numpy as np
import torch

import nncheck
from nncheck.autograd.checker import check_gradients

# (label, layer, constructor args, inputs): an input is a float shape, or ("int", shape,
# high) for indices/targets (not differentiated); every layer at two sizes
CASES = [
    ("Conv2d(3,4,3) 2x3x8x8", "Conv2d", (3, 4, 3), [(2, 3, 8, 8)]),
    ("Conv2d(2,3,3) 1x2x12x12", "Conv2d", (2, 3, 3), [(1, 2, 12, 12)]),
    ("Linear(20,30) 4x20", "Linear", (20, 30), [(4, 20)]),
    ("Linear(8,5) 3x2x8", "Linear", (8, 5), [(3, 2, 8)]),
    ("BatchNorm2d(4) train 3x4x5x5", "BatchNorm2d", (4,), [(3, 4, 5, 5)]),
    ("BatchNorm2d(2) train 4x2x3x3", "BatchNorm2d", (2,), [(4, 2, 3, 3)]),
    ("MaxPool2d(2) 2x3x8x8", "MaxPool2d", (2,), [(2, 3, 8, 8)]),
    ("MaxPool2d(3,2) 1x2x11x11", "MaxPool2d", (3, 2), [(1, 2, 11, 11)]),
    ("LSTM(8,8) 5x2x8", "LSTM", (8, 8), [(5, 2, 8)]),
    ("LSTM(4,6) 3x3x4", "LSTM", (4, 6), [(3, 3, 4)]),
    ("GRU(8,8) 5x2x8", "GRU", (8, 8), [(5, 2, 8)]),
    ("GRU(4,6) 3x3x4", "GRU", (4, 6), [(3, 3, 4)]),
    ("MultiheadAttention(8,2) L4", "MultiheadAttention", (8, 2), [(4, 2, 8)] * 3),
    ("MultiheadAttention(4,1) L6", "MultiheadAttention", (4, 1), [(6, 1, 4)] * 3),
    ("LayerNorm(16) 4x16", "LayerNorm", (16,), [(4, 16)]),
    ("LayerNorm((3,4)) 2x5x3x4", "LayerNorm", ((3, 4),), [(2, 5, 3, 4)]),
    ("Conv3d(2,3,3) 1x2x5x5x5", "Conv3d", (2, 3, 3), [(1, 2, 5, 5, 5)]),
    ("Conv3d(1,2,2) 2x1x4x4x4", "Conv3d", (1, 2, 2), [(2, 1, 4, 4, 4)]),
    ("ConvTranspose2d(3,4,3) 2x3x5x5", "ConvTranspose2d", (3, 4, 3), [(2, 3, 5, 5)]),
    ("ConvTranspose2d(2,2,2,2) 1x2x6x6", "ConvTranspose2d", (2, 2, 2, 2), [(1, 2, 6, 6)]),
    ("Embedding(20,8) 4x5", "Embedding", (20, 8), [("int", (4, 5), 20)]),
    ("Embedding(50,4) 16", "Embedding", (50, 4), [("int", (16,), 50)]),
    ("CrossEntropyLoss 8x10", "CrossEntropyLoss", (), [(8, 10), ("int", (8,), 10)]),
    ("CrossEntropyLoss 4x5x3x3", "CrossEntropyLoss", (), [(4, 5, 3, 3), ("int", (4, 3, 3), 5)]),
]


def _draw(spec, rng):
    """A sample input: distinct float values (no max-pool ties, no kinks), or indices."""
    if spec[0] == "int":
        return rng.integers(0, spec[2], spec[1])
    n = int(np.prod(spec))
    return rng.permutation(n).reshape(spec) / n + 0.1


def _torch_case(name, args, arrays):
    module = getattr(torch.nn, name)(*args).double().train()
    params = [p for p in module.parameters()]
    names = [n for n, _ in module.named_parameters()]

    def flat(out):
        if isinstance(out, torch.Tensor):
            return (out,)
        return tuple(t for o in out for t in flat(o))

    def fn(*tensors):
        inputs, ps = tensors[:len(arrays)], tensors[len(arrays):]
        return flat(torch.func.functional_call(module, dict(zip(names, ps)), inputs))

    inputs = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    return lambda: torch.autograd.gradcheck(fn, (*inputs, *params), fast_mode=False)


def _nncheck_case(name, args, arrays, workers=1):
    module = getattr(nncheck.nn, name)(*args).double().train()
    inputs = [nncheck.tensor(a, dtype=nncheck.float64, requires_grad=True)
              if a.dtype.kind == "f" else nncheck.tensor(a) for a in arrays]

    def run():
        report = check_gradients(module, inputs, workers=workers)
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
    parser.add_argument("--threads", type=int, default=2, help="PyTorch's threads")
    opts = parser.parse_args()
    torch.set_num_threads(opts.threads)
    rng = np.random.default_rng(0)
    rows = []
    extra = f" {'workers=' + str(opts.workers) + ' ms':>14s}" if opts.workers > 1 else ""
    print(f"{'case':34s} {'nncheck ms':>11s} {'torch ms':>10s} {'ratio':>7s}{extra}  "
          "calls (fwd/bwd)")
    for label, name, args, specs in CASES:
        x = [_draw(spec, rng) for spec in specs]
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
        print(f"{label:34s} {t_ours:11.1f} {t_torch:10.1f} {t_ours / t_torch:7.3f}{shared}  "
              f"{report.forward_calls}/{report.backward_calls}")
    print(f"{'geometric mean ratio':34s} {'':11s} {'':10s} "
          f"{math.exp(np.mean(np.log(rows))):7.3f}")
    if hasattr(os, "getloadavg"):  # a busy machine skews the ratios: say how busy
        print(f"load average (1, 5, 15 min): {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
