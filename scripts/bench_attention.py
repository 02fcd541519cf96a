"""nncheck vs PyTorch, side by side: scaled_dot_product_attention and a TransformerEncoderLayer.

Each case runs forward + backward (gradients reset to None first, so neither side pays for
accumulation) alternately in nncheck and torch, and reports the best of N runs.
    python scripts/bench_attention.py [--repeat N] [--threads T]
"""

import argparse

import numpy as np
import torch
from benchlib import best_ms, fwd_bwd_step, print_table

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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for title, build in CASES:
        steps = [fwd_bwd_step(lib, *build(lib, np.random.default_rng(0)))
                 for lib in (nncheck, torch)]
        rows.append((title, *best_ms(steps, args.repeat)))
    print_table(rows, 50)

if __name__ == "__main__":
    main()
