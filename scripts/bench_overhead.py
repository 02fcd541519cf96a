"""Per-op Python overhead, nncheck vs PyTorch: chains of small layers, forward + backward, float32.

Each "chain" case runs 20 layers on a tiny tensor (2x8x4x4; 1x8x8x8 for the 3x3 convolution),
so the kernels cost next to nothing and the time is the Python around them (Module.__call__,
the functional checks, Function.apply, Tensor wrapping, the backward engine); it prints
microseconds per layer (per BatchNorm+ReLU pair in that row; per cat+slice in the functional
one).
The "densenet" cases run the non-convolution layers of DenseNet-121 at the shapes of a
2x3x112x112 input (BatchNorm2d + ReLU, the concatenation of a dense block), where kernel
cost and overhead mix; they print milliseconds per step.  Same harness as bench_ops.py:
alternating blocks, best of N, single-threaded by default and timed in process CPU time
(time.process_time: other processes on a shared machine do not count).
    python scripts/bench_overhead.py [--repeat N] [--threads T] [--only relu,batchnorm]
"""

import argparse
import os
import time

import numpy as np
from benchlib import fwd_bwd_step, print_geomean

CHAIN = 20  # layers per chain case
TINY = (2, 8, 4, 4)


def chain(make, shape=TINY):
    """``CHAIN`` modules made by ``make(nn)`` in a Sequential, on an input of ``shape``."""
    def build(lib, rng):
        model = lib.nn.Sequential(*[make(lib.nn) for _ in range(CHAIN)])
        return model, [rng.standard_normal(shape).astype(np.float32)], list(model.parameters())
    return build


def functional_chain(op):
    """``CHAIN`` calls of ``op(lib, x)`` on a TINY input, no modules."""
    def build(lib, rng):
        def fn(x):
            for _ in range(CHAIN):
                x = op(lib, x)
            return x
        return fn, [rng.standard_normal(TINY).astype(np.float32)], []
    return build


def dense_block(layers, channels, growth, size):
    """A DenseNet block's non-convolution layers: each layer concatenates all features so
    far, applies BatchNorm2d + ReLU and adds ``growth`` channels (a slice of its output
    stands in for the convolution that would make them)."""
    def build(lib, rng):
        norms = [lib.nn.BatchNorm2d(channels + i * growth) for i in range(layers)]

        def fn(x):
            feats = [x]
            for norm in norms:
                y = lib.relu(norm(lib.cat(feats, 1)))
                feats.append(y[:, :growth])
            return lib.cat(feats, 1)
        params = [p for n in norms for p in n.parameters()]
        return fn, [rng.standard_normal((2, channels, size, size)).astype(np.float32)], params
    return build


def bn_relu(channels, size):
    def build(lib, rng):
        model = lib.nn.Sequential(lib.nn.BatchNorm2d(channels), lib.nn.ReLU())
        x = rng.standard_normal((2, channels, size, size)).astype(np.float32)
        return model, [x], list(model.parameters())
    return build


CHAINS = [
    ("chain ReLU", chain(lambda nn: nn.ReLU())),
    ("chain BatchNorm2d(8) train", chain(lambda nn: nn.BatchNorm2d(8))),
    ("chain BatchNorm2d(8)+ReLU(inplace) pairs",
     chain(lambda nn: nn.Sequential(nn.BatchNorm2d(8), nn.ReLU(inplace=True)))),
    ("chain Conv2d(8,8,1)", chain(lambda nn: nn.Conv2d(8, 8, 1))),
    ("chain Conv2d(8,8,3,p1) 1x8x8x8", chain(lambda nn: nn.Conv2d(8, 8, 3, padding=1),
                                             (1, 8, 8, 8))),
    ("chain add", functional_chain(lambda lib, x: x + x)),
    ("chain cat+slice", functional_chain(lambda lib, x: lib.cat([x, x], 1)[:, :8])),
]
DENSE = [
    ("densenet BN+ReLU 2x128x28x28", bn_relu(128, 28)),
    ("densenet BN+ReLU 2x512x14x14", bn_relu(512, 14)),
    ("densenet BN+ReLU 2x1024x7x7", bn_relu(1024, 7)),
    ("densenet BN+ReLU 2x1024x3x3", bn_relu(1024, 3)),
    ("densenet block 6 layers 64ch+32 28x28", dense_block(6, 64, 32, 28)),
    ("densenet block 12 layers 128ch+32 14x14", dense_block(12, 128, 32, 14)),
]
WIDTH = 42


def best_cpu_ms(steps, repeat, block):
    """benchlib.best_ms in process CPU time: per-step milliseconds, best of ``repeat``
    alternating blocks of ``block`` steps, after a warm-up."""
    best = [float("inf")] * len(steps)
    for step in steps:
        step()
    for _ in range(repeat):
        for k, step in enumerate(steps):
            start = time.process_time()
            for _ in range(block):
                step()
            best[k] = min(best[k], (time.process_time() - start) / block)
    return [b * 1e3 for b in best]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--block", type=int, default=20, help="steps timed together")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", default="", help="comma-separated title substrings")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    import nncheck

    torch.set_num_threads(args.threads)
    wanted = [w.lower() for w in args.only.split(",") if w]
    rows = []
    print(f"{'case':{WIDTH}s} {'nncheck':>9s} {'torch':>9s} {'ratio':>6s}")
    for title, build in CHAINS + DENSE:
        if wanted and not any(w in title.lower() for w in wanted):
            continue
        steps = []
        for lib in (nncheck, torch):
            fn, arrays, params = build(lib, np.random.default_rng(0))
            steps.append(fwd_bwd_step(lib, fn, arrays, params))
        ours, theirs = best_cpu_ms(steps, args.repeat, args.block)
        scale, unit = (1e3 / CHAIN, "us/layer") if title.startswith("chain") else (1, "ms/step")
        print(f"{title:{WIDTH}s} {ours * scale:9.2f} {theirs * scale:9.2f} "
              f"{ours / theirs:6.2f}  {unit}", flush=True)
        rows.append((title, ours, theirs))
    print_geomean(rows, WIDTH)


if __name__ == "__main__":
    main()
