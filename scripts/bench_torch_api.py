"""nncheck vs PyTorch, side by side: the torch API ops model code calls (nncheck/_ops).

Each case runs forward + backward (input gradients reset to None first) alternately in
nncheck and torch, and reports the best of N runs.
    python scripts/bench_torch_api.py [--repeat N] [--threads T]
"""

import numpy as np
from benchlib import run


def f32(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def case_einsum(lib, rng):
    q, k = f32(rng, 8, 8, 128, 64), f32(rng, 8, 8, 128, 64)
    return (lambda a, b: lib.einsum("bhqd,bhkd->bhqk", a, b)), [q, k], (), (0, 1)


def case_topk(lib, rng):
    return (lambda x: x.topk(5, -1).values), [f32(rng, 1024, 1000)], (), (0,)


def case_sort(lib, rng):
    return (lambda x: x.sort(-1).values), [f32(rng, 1024, 1000)], (), (0,)


def case_cumsum(lib, rng):
    return (lambda x: x.cumsum(1)), [f32(rng, 1024, 1000)], (), (0,)


def case_logsumexp(lib, rng):
    return (lambda x: lib.logsumexp(x, -1)), [f32(rng, 1024, 1000)], (), (0,)


def case_index_select(lib, rng):
    return ((lambda w, i: w.index_select(0, i)), [f32(rng, 10000, 256),
                                                  rng.integers(0, 10000, 4096)], (), (0,))


def case_scatter_add(lib, rng):
    return ((lambda x, i, s: x.scatter_add(0, i, s)),
            [f32(rng, 1000, 64), rng.integers(0, 1000, (4096, 64)), f32(rng, 4096, 64)], (),
            (0, 2))


def case_gather(lib, rng):
    return ((lambda x, i: x.gather(1, i)), [f32(rng, 1024, 1000),
                                            rng.integers(0, 1000, (1024, 16))], (), (0,))


def case_cdist(lib, rng):
    return (lambda a, b: lib.cdist(a, b)), [f32(rng, 512, 64), f32(rng, 512, 64)], (), (0, 1)


def case_roll(lib, rng):
    return ((lambda x: lib.roll(x, (-3, -3), (1, 2))), [f32(rng, 8, 56, 56, 96)], (), (0,))


CASES = [("einsum bhqd,bhkd->bhqk 8x8x128x64", case_einsum),
         ("topk k=5 1024x1000", case_topk),
         ("sort 1024x1000", case_sort),
         ("cumsum 1024x1000", case_cumsum),
         ("logsumexp 1024x1000", case_logsumexp),
         ("index_select 4096 of 10000x256", case_index_select),
         ("scatter_add 4096x64 into 1000x64", case_scatter_add),
         ("gather 1024x16 of 1024x1000", case_gather),
         ("cdist 512x64 vs 512x64", case_cdist),
         ("roll 8x56x56x96 dims (1,2)", case_roll)]


if __name__ == "__main__":
    run(__doc__, CASES, 36, repeat=5)
