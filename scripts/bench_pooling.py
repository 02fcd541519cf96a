"""Pooling and padding: nncheck vs PyTorch (CPU, 2 threads), forward and forward+backward.

Runs both libraries in one process, interleaved, and prints the best of N runs:

    python scripts/bench_pooling.py [--repeat N]
"""

import argparse
import time

import numpy as np
import torch

import nncheck
import nncheck.nn as nn

CASES = [
    # (name, layer factory (module namespace -> module), input shape, with backward)
    ("MaxPool2d(3, stride=2) fwd", lambda m: m.MaxPool2d(3, stride=2), (32, 64, 112, 112), False),
    ("MaxPool2d(2) fwd+bwd", lambda m: m.MaxPool2d(2), (8, 64, 56, 56), True),
    ("AvgPool2d(3, 2, 1) fwd+bwd", lambda m: m.AvgPool2d(3, 2, 1), (8, 64, 56, 56), True),
    ("ReflectionPad2d(3) fwd+bwd", lambda m: m.ReflectionPad2d(3), (8, 64, 56, 56), True),
]


def runner(module, x, backward, lib):
    """A zero-argument callable running one forward (and backward) pass."""
    if not backward:
        def run():
            with lib.no_grad():
                module(x)
        return run
    grad = None

    def run():
        nonlocal grad
        y = module(x)
        if grad is None:
            grad = lib.ones(*y.shape)
        y.backward(grad)
        x.grad = None
    return run


def time_once(fn, samples):
    start = time.perf_counter()
    fn()
    samples.append((time.perf_counter() - start) * 1e3)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="runs per case (best is kept)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    print(f"{'case':<30} {'shape':<18} {'nncheck ms':>11} {'torch ms':>9} {'ratio':>6}")
    for name, make, shape, backward in CASES:
        data = rng.standard_normal(shape).astype(np.float32)
        xn = nncheck.from_numpy(data.copy()).requires_grad_(backward)
        xt = torch.from_numpy(data.copy()).requires_grad_(backward)
        ours, theirs = runner(make(nn), xn, backward, nncheck), runner(make(torch.nn), xt,
                                                                          backward, torch)
        ours(), theirs()  # warm up (kernel import, allocator)
        t_ours, t_theirs = [], []
        for _ in range(args.repeat):
            time_once(ours, t_ours)
            time_once(theirs, t_theirs)
        a, b = min(t_ours), min(t_theirs)
        print(f"{name:<30} {'x'.join(map(str, shape)):<18} {a:>11.2f} {b:>9.2f} {a / b:>6.2f}")


if __name__ == "__main__":
    main()
