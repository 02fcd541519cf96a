"""Recurrent layers, nncheck vs PyTorch side by side: forward + backward, float32.

Runs both in one process, interleaved, and keeps the best of N runs of each:
    python scripts/bench_rnn.py [--repeat N] [--quick]
On a shared machine wall time swings with the load; for a load-insensitive
comparison measure single-threaded CPU time instead:
    OMP_NUM_THREADS=1 python scripts/bench_rnn.py --cpu-time
"""

import argparse
import time

import numpy as np
import torch

import nncheck

# (name, layer class, constructor kwargs, input shape); input_size = hidden_size = last dim
CASES = [
    ("LSTM(256, 256) T=50 B=32", "LSTM", {}, (50, 32, 256)),
    ("GRU(256, 256) T=50 B=32", "GRU", {}, (50, 32, 256)),
    ("RNN(256, 256) T=50 B=32", "RNN", {}, (50, 32, 256)),
    ("LSTM(128, 128) 2 layers bidir T=50 B=16", "LSTM",
     {"num_layers": 2, "bidirectional": True}, (50, 16, 128)),
    ("LSTMCell(256, 256) B=32", "LSTMCell", {}, (32, 256)),
]


def _make(lib, cls, kwargs, shape, x):
    layer = getattr(lib.nn, cls)(shape[-1], shape[-1], **kwargs)
    inp = (torch.from_numpy(x.copy()) if lib is torch else nncheck.from_numpy(x.copy()))
    return layer, inp.requires_grad_(True)


def _step(layer, inp):
    out = layer(inp)
    first = out[0] if isinstance(out, tuple) else out
    first.sum().backward()


def _time(layer, inp, clock):
    start = clock()
    _step(layer, inp)
    return (clock() - start) * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="only the first two cases")
    parser.add_argument("--cpu-time", action="store_true",
                        help="process CPU time, torch on 1 thread (set OMP_NUM_THREADS=1 too)")
    args = parser.parse_args()
    torch.set_num_threads(1 if args.cpu_time else 2)
    clock = time.process_time if args.cpu_time else time.perf_counter
    rng = np.random.default_rng(0)
    cases = CASES[:2] if args.quick else CASES
    print(f"{'case':44s} {'nncheck ms':>11s} {'torch ms':>9s} {'ratio':>6s}")
    for name, cls, kwargs, shape in cases:
        x = rng.standard_normal(shape).astype(np.float32)
        nc = _make(nncheck, cls, kwargs, shape, x)
        to = _make(torch, cls, kwargs, shape, x)
        _step(*nc)
        _step(*to)
        best_nc = best_to = float("inf")
        for _ in range(args.repeat):
            best_nc = min(best_nc, _time(*nc, clock))
            best_to = min(best_to, _time(*to, clock))
        print(f"{name:44s} {best_nc:11.2f} {best_to:9.2f} {best_nc / best_to:6.2f}")


if __name__ == "__main__":
    main()
