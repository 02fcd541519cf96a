"""nncheck vs PyTorch, side by side: cross entropy on logits, MSE and BCE-with-logits losses.

Each case runs forward + backward of the loss (input gradients reset to None first)
alternately in nncheck and torch, and reports the best of N runs.
    python scripts/bench_loss.py [--repeat N] [--threads T]
"""

import argparse
import os
import time

import numpy as np


def case_cross_entropy(lib, rng):
    x = rng.standard_normal((1024, 1000)).astype(np.float32)
    return lib.nn.functional.cross_entropy, [x, rng.integers(0, 1000, 1024)]


def case_cross_entropy_2d(lib, rng):
    x = rng.standard_normal((8, 21, 64, 64)).astype(np.float32)
    return lib.nn.functional.cross_entropy, [x, rng.integers(0, 21, (8, 64, 64))]


def case_mse(lib, rng):
    x, y = (rng.standard_normal(1 << 20).astype(np.float32) for _ in range(2))
    return lib.nn.functional.mse_loss, [x, y]


def case_bce_logits(lib, rng):
    x = rng.standard_normal(1 << 20).astype(np.float32)
    return lib.nn.functional.binary_cross_entropy_with_logits, [x, rng.random(1 << 20, np.float32)]


CASES = [("cross_entropy fwd+bwd 1024x1000 f32", case_cross_entropy),
         ("cross_entropy fwd+bwd 8x21x64x64 f32", case_cross_entropy_2d),
         ("mse_loss fwd+bwd 1M f32", case_mse),
         ("bce_with_logits fwd+bwd 1M f32", case_bce_logits)]


def make_step(lib, fn, arrays):
    """A closure running one forward + backward of ``fn`` (the first input differentiable)."""
    inputs = [lib.from_numpy(a.copy()) for a in arrays]
    inputs[0].requires_grad_(True)

    def step():
        inputs[0].grad = None
        fn(*inputs).backward()

    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))  # nncheck's OpenMP threads
    import torch

    import nncheck

    torch.set_num_threads(args.threads)
    print(f"{'case':40s} {'nncheck ms':>11s} {'torch ms':>9s} {'ratio':>6s}")
    for title, build in CASES:
        steps = [make_step(lib, *build(lib, np.random.default_rng(0))) for lib in (nncheck, torch)]
        best = [float("inf"), float("inf")]
        for step in steps:  # warm-up
            step()
        for _ in range(args.repeat):
            for k, step in enumerate(steps):
                start = time.perf_counter()
                step()
                best[k] = min(best[k], time.perf_counter() - start)
        ours, theirs = best[0] * 1e3, best[1] * 1e3
        print(f"{title:40s} {ours:11.2f} {theirs:9.2f} {ours / theirs:6.2f}")


if __name__ == "__main__":
    main()
