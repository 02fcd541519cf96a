"""Shared harness of the side-by-side benchmarks: one step per library, timed interleaved."""

import argparse
import math
import os
import time

import numpy as np


def fwd_bwd_step(lib, fn, arrays, params=(), grad_inputs=None):
    """A closure running one forward + backward of ``fn`` on copies of ``arrays`` in ``lib``.

    Gradients are reset to None first, so neither side pays for accumulation; the
    inputs listed in ``grad_inputs`` (all by default) are differentiated, and the
    backward gets the same random grad_output in both libraries.
    """
    want = range(len(arrays)) if grad_inputs is None else grad_inputs
    inputs = [lib.from_numpy(a.copy()) for a in arrays]
    for i in want:
        inputs[i].requires_grad_(True)
    params = list(params)
    grad = None

    def step():
        nonlocal grad
        for t in [*inputs, *params]:
            t.grad = None
        out = fn(*inputs)
        if grad is None:
            shape = tuple(out.shape)
            grad = lib.from_numpy(np.asarray(np.random.default_rng(1).standard_normal(shape),
                                             dtype=np.float32))
        out.backward(grad)

    return step


def best_ms(steps, repeat, block=20):
    """Per-step time of each step in milliseconds: the mean over ``block`` consecutive calls,
    best of ``repeat`` blocks, after a warm-up; the steps' blocks alternate.

    Blocks rather than single alternating calls: each library's OpenMP threads keep
    spinning for a while after a parallel region, and a step that starts right after the
    other library's would pay for them (both runtimes are in this one process).
    """
    best = [float("inf")] * len(steps)
    for step in steps:
        step()
    for _ in range(repeat):
        for k, step in enumerate(steps):
            start = time.perf_counter()
            for _ in range(block):
                step()
            best[k] = min(best[k], (time.perf_counter() - start) / block)
    return [b * 1e3 for b in best]


def print_row(title, ours, theirs, width):
    print(f"{title:{width}s} {ours:11.2f} {theirs:9.2f} {ours / theirs:6.2f}", flush=True)


def print_header(width):
    print(f"{'case':{width}s} {'nncheck ms':>11s} {'torch ms':>9s} {'ratio':>6s}")


def print_geomean(rows, width):
    """The geometric mean of the rows' ratios (when there are several rows)."""
    if len(rows) > 1:
        mean = math.exp(sum(math.log(ours / theirs) for _, ours, theirs in rows) / len(rows))
        print(f"{'geometric mean':{width}s} {'':11s} {'':9s} {mean:6.2f}")


def print_table(rows, width):
    """rows: (title, nncheck step, torch step) triples, timed with ``best_ms``."""
    print_header(width)
    for row in rows:
        print_row(*row, width)
    print_geomean(rows, width)


def run(doc, cases, width, repeat=10, block=20):
    """The command line of a side-by-side benchmark script: ``cases`` are (title, build)
    pairs, ``build(lib, rng)`` giving ``fwd_bwd_step``'s (fn, arrays, params, grad_inputs).
    Rows print as they are timed; ``--only a,b`` keeps the cases whose title contains one
    of the substrings (case-insensitive)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=repeat)
    parser.add_argument("--block", type=int, default=block, help="steps timed together")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default="", help="comma-separated title substrings")
    args = parser.parse_args()
    wanted = [w.lower() for w in args.only.split(",") if w]
    cases = [(t, b) for t, b in cases if not wanted or any(w in t.lower() for w in wanted)]
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))  # nncheck's OpenMP threads
    import torch

    import nncheck

    torch.set_num_threads(args.threads)
    rows = []
    print_header(width)
    for title, build in cases:
        steps = [fwd_bwd_step(lib, *build(lib, np.random.default_rng(0)))
                 for lib in (nncheck, torch)]
        rows.append((title, *best_ms(steps, args.repeat, args.block)))
        print_row(*rows[-1], width)
    print_geomean(rows, width)
