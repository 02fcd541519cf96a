"""nncheck vs PyTorch, side by side: scaled_dot_product_attention and a TransformerEncoderLayer.

Each case runs forward + backward (gradients reset to None first, so neither side pays for
accumulation) alternately in nncheck and torch, and reports the best of N runs.
    python scripts/bench_attention.py [--repeat N] [--threads T]
"""

import argparse
import time

import numpy as np
import torch

import nncheck


def case_sdpa(lib, rng):
    shape = (8, 8, 256, 64)  # batch, heads, sequence, head dim
    arrays = [rng.standard_normal(shape).astype(np.float32) for _ in range(3)]
    return lib.nn.functional.scaled_dot_product_attention, arrays, []


def case_sdpa_causal(lib, rng):
    fn, arrays, params = case_sdpa(lib, rng)
    return (lambda q, k, v: fn(q, k, v, is_causal=True)), arrays, params


def case_encoder_layer(lib, rng):
    layer = lib.nn.TransformerEncoderLayer(512, 8)  # training mode, dropout 0.1
    return layer, [rng.standard_normal((32, 64, 512)).astype(np.float32)], list(
        layer.parameters())


CASES = [("SDPA fwd+bwd 8x8x256x64", case_sdpa),
         ("SDPA causal fwd+bwd 8x8x256x64", case_sdpa_causal),
         ("TransformerEncoderLayer(512,8) fwd+bwd 32x64x512", case_encoder_layer)]


def make_step(lib, fn, arrays, params):
    """A closure running one forward + backward of ``fn`` in nncheck or torch."""
    wrap = torch.from_numpy if lib is torch else nncheck.from_numpy
    inputs = [wrap(a.copy()).requires_grad_(True) for a in arrays]
    grad = None

    def step():
        nonlocal grad
        for t in [*inputs, *params]:
            t.grad = None
        out = fn(*inputs)
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
    print(f"{'case':50s} {'nncheck ms':>11s} {'torch ms':>9s} {'ratio':>6s}")
    for title, build in CASES:
        steps = [make_step(lib, *build(lib, np.random.default_rng(0)))
                 for lib in (nncheck, torch)]
        best = [float("inf"), float("inf")]
        for step in steps:  # warm-up
            step()
        for _ in range(args.repeat):
            for k, step in enumerate(steps):
                start = time.perf_counter()
                step()
                best[k] = min(best[k], time.perf_counter() - start)
        ours, theirs = best[0] * 1e3, best[1] * 1e3
        print(f"{title:50s} {ours:11.2f} {theirs:9.2f} {ours / theirs:6.2f}")


if __name__ == "__main__":
    main()
