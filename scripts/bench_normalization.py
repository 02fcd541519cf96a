"""nncheck vs PyTorch, side by side: BatchNorm2d and LayerNorm training steps, Embedding lookup.

Each case runs forward + backward (gradients reset to None first, so neither side pays for
accumulation) alternately in nncheck and torch, and reports the best of N runs.
    python scripts/bench_normalization.py [--repeat N] [--threads T]
"""

import argparse
import time

import numpy as np
import torch

import nncheck


def case_batchnorm(lib, rng):
    x = rng.standard_normal((32, 64, 56, 56)).astype(np.float32)
    return lib.nn.BatchNorm2d(64), [x], None


def case_layernorm(lib, rng):
    x = rng.standard_normal((256, 1024)).astype(np.float32)
    return lib.nn.LayerNorm(1024), [x], None


def case_embedding(lib, rng):
    idx = rng.integers(0, 50000, (64, 128))
    return lib.nn.Embedding(50000, 256), [idx], ()


CASES = [("BatchNorm2d(64) train fwd+bwd 32x64x56x56", case_batchnorm),
         ("LayerNorm(1024) fwd+bwd 256x1024", case_layernorm),
         ("Embedding(50000,256) fwd+bwd 64x128 idx", case_embedding)]


def make_step(lib, module, arrays, grad_inputs):
    """A closure running one forward + backward of ``module`` in nncheck or torch."""
    wrap = torch.from_numpy if lib is torch else nncheck.from_numpy
    diff = range(len(arrays)) if grad_inputs is None else grad_inputs
    inputs = [wrap(a.copy()).requires_grad_(i in diff) for i, a in enumerate(arrays)]
    grad = None

    def step():
        nonlocal grad
        for t in [*inputs, *module.parameters()]:
            t.grad = None
        out = module(*inputs)
        if grad is None:
            grad = wrap(np.random.default_rng(1).standard_normal(tuple(out.shape))
                        .astype(np.float32))
        out.backward(grad)

    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{'case':44s} {'nncheck ms':>11s} {'torch ms':>9s} {'ratio':>6s}")
    for title, build in CASES:
        steps = []
        for lib in (nncheck, torch):
            module, arrays, grad_inputs = build(lib, np.random.default_rng(0))
            steps.append(make_step(lib, module, arrays, grad_inputs))
        best = [float("inf"), float("inf")]
        for step in steps:  # warm-up
            step()
        for _ in range(args.repeat):
            for k, step in enumerate(steps):
                start = time.perf_counter()
                step()
                best[k] = min(best[k], time.perf_counter() - start)
        ours, theirs = best[0] * 1e3, best[1] * 1e3
        print(f"{title:44s} {ours:11.2f} {theirs:9.2f} {ours / theirs:6.2f}")


if __name__ == "__main__":
    main()
