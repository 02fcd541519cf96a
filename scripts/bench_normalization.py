"""nncheck vs PyTorch, side by side: BatchNorm2d and LayerNorm training steps, Embedding lookup.

Each case runs forward + backward (gradients reset to None first, so neither side pays for
accumulation) alternately in nncheck and torch, and reports the best of N runs.
    python scripts/bench_normalization.py [--repeat N] [--threads T]
"""

import argparse

import numpy as np
import torch
from benchlib import best_ms, fwd_bwd_step, print_table

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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for title, build in CASES:
        steps = []
        for lib in (nncheck, torch):
            module, arrays, grad_inputs = build(lib, np.random.default_rng(0))
            steps.append(fwd_bwd_step(lib, module, arrays, module.parameters(), grad_inputs))
        rows.append((title, *best_ms(steps, args.repeat)))
    print_table(rows, 44)

if __name__ == "__main__":
    main()
