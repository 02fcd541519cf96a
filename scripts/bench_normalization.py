"""nncheck vs PyTorch, side by side: BatchNorm2d and LayerNorm training steps, Embedding lookup.

Each case runs forward + backward (gradients reset to None first, so neither side pays for
accumulation) alternately in nncheck and torch, and reports the best of N runs.
    python scripts/bench_normalization.py [--repeat N] [--threads T]
"""

import numpy as np
from benchlib import run


def case_batchnorm(lib, rng):
    x = rng.standard_normal((32, 64, 56, 56)).astype(np.float32)
    module = lib.nn.BatchNorm2d(64)
    return module, [x], module.parameters(), None


def case_layernorm(lib, rng):
    x = rng.standard_normal((256, 1024)).astype(np.float32)
    module = lib.nn.LayerNorm(1024)
    return module, [x], module.parameters(), None


def case_embedding(lib, rng):
    idx = rng.integers(0, 50000, (64, 128))
    module = lib.nn.Embedding(50000, 256)
    return module, [idx], module.parameters(), ()


CASES = [("BatchNorm2d(64) train fwd+bwd 32x64x56x56", case_batchnorm),
         ("LayerNorm(1024) fwd+bwd 256x1024", case_layernorm),
         ("Embedding(50000,256) fwd+bwd 64x128 idx", case_embedding)]


if __name__ == "__main__":
    run(__doc__, CASES, 44)
