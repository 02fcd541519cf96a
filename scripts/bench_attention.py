"""nncheck vs PyTorch, side by side: scaled_dot_product_attention and a TransformerEncoderLayer.

Each case runs forward + backward (gradients reset to None first, so neither side pays for
accumulation) alternately in nncheck and torch, and reports the best of N runs.
    python scripts/bench_attention.py [--repeat N] [--threads T]
"""

import numpy as np
from benchlib import run


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


if __name__ == "__main__":
    run(__doc__, CASES, 50)
