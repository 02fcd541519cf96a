"""Conv2d forward + backward (input, weight and bias grads): nncheck vs PyTorch, side by side.

Runs both libraries in one process, interleaved (nncheck, torch, nncheck, ...), and keeps the
best of ``--repeat`` runs of each, so a busy machine hurts both alike.  Prints a table of times
and the ratio nncheck/torch per case and dtype, with the geometric mean of the ratios.

    python scripts/bench_conv.py [--repeat 7] [--threads 2] [--cases A,B,C,D]
                                 [--dtypes float32,float64]
"""

import argparse
import math
import time

import numpy as np
import torch

import nncheck
import nncheck.nn as nn

# name: (N, C_in, H, W, C_out, kernel_size, stride, padding)
CASES = {
    "A": (8, 64, 56, 56, 64, 3, 1, 1),
    "B": (32, 3, 224, 224, 64, 7, 2, 3),
    "C": (8, 256, 14, 14, 256, 3, 1, 1),
    "D": (1, 16, 50, 100, 33, (3, 5), (2, 1), (4, 2)),
}


def describe(case):
    n, c, h, w, o, k, s, p = CASES[case]
    return f"{case}: N{n} C{c} {h}x{w} -> {o}, k{k} s{s} p{p}"


def build(case, dtype, rng):
    n, c, h, w, o, k, s, p = CASES[case]
    t_conv = torch.nn.Conv2d(c, o, k, stride=s, padding=p).to(getattr(torch, dtype))
    n_conv = nn.Conv2d(c, o, k, stride=s, padding=p).to(getattr(nncheck, dtype))
    n_conv.load_state_dict({k: nncheck.from_numpy(v.detach().numpy().copy())
                            for k, v in t_conv.state_dict().items()})
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    with torch.no_grad():
        g = rng.standard_normal(tuple(t_conv(torch.from_numpy(x)).shape)).astype(dtype)
    return (n_conv, nncheck.from_numpy(x), nncheck.from_numpy(g),
            t_conv, torch.from_numpy(x), torch.from_numpy(g))


def step(conv, x, g):
    """One training step's conv work; the same code drives both libraries."""
    conv.zero_grad()
    x = x.detach().requires_grad_(True)
    conv(x).backward(g)


def timed(fn, *args):
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def run(case, dtype, repeat, rng):
    n_conv, nx, ng, t_conv, tx, tg = build(case, dtype, rng)
    step(n_conv, nx, ng)  # warm-up: kernel import, BLAS thread start
    step(t_conv, tx, tg)
    best_n = best_t = math.inf
    for _ in range(repeat):
        best_n = min(best_n, timed(step, n_conv, nx, ng))
        best_t = min(best_t, timed(step, t_conv, tx, tg))
    return best_n * 1e3, best_t * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--dtypes", default="float32,float64")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    print(f"Conv2d forward+backward, best of {args.repeat}; torch threads={args.threads}")
    for case in args.cases.split(","):
        print("  " + describe(case))
    print(f"{'case':<6}{'dtype':<9}{'nncheck ms':>12}{'torch ms':>12}{'ratio':>8}")
    for dtype in args.dtypes.split(","):
        ratios = []
        for case in args.cases.split(","):
            t_n, t_t = run(case, dtype, args.repeat, rng)
            ratios.append(t_n / t_t)
            print(f"{case:<6}{dtype:<9}{t_n:>12.2f}{t_t:>12.2f}{t_n / t_t:>8.2f}")
        geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        print(f"{'geomean':<15}{'':>24}{geo:>8.2f}")


if __name__ == "__main__":
    main()
