"""nncheck vs PyTorch, side by side: cross entropy on logits, MSE and BCE-with-logits losses.

Each case runs forward + backward of the loss (input gradients reset to None first)
alternately in nncheck and torch, and reports the best of N runs.
    python scripts/bench_loss.py [--repeat N] [--threads T]
"""

import numpy as np
from benchlib import run


def case_cross_entropy(lib, rng):
    x = rng.standard_normal((1024, 1000)).astype(np.float32)
    return lib.nn.functional.cross_entropy, [x, rng.integers(0, 1000, 1024)], (), (0,)


def case_cross_entropy_2d(lib, rng):
    x = rng.standard_normal((8, 21, 64, 64)).astype(np.float32)
    return lib.nn.functional.cross_entropy, [x, rng.integers(0, 21, (8, 64, 64))], (), (0,)


def case_mse(lib, rng):
    x, y = (rng.standard_normal(1 << 20).astype(np.float32) for _ in range(2))
    return lib.nn.functional.mse_loss, [x, y], (), (0,)


def case_bce_logits(lib, rng):
    x = rng.standard_normal(1 << 20).astype(np.float32)
    target = rng.random(1 << 20, np.float32)
    return lib.nn.functional.binary_cross_entropy_with_logits, [x, target], (), (0,)


CASES = [("cross_entropy fwd+bwd 1024x1000 f32", case_cross_entropy),
         ("cross_entropy fwd+bwd 8x21x64x64 f32", case_cross_entropy_2d),
         ("mse_loss fwd+bwd 1M f32", case_mse),
         ("bce_with_logits fwd+bwd 1M f32", case_bce_logits)]


if __name__ == "__main__":
    run(__doc__, CASES, 40, repeat=20)
