"""Vision layers, nncheck vs PyTorch side by side: forward + backward, best of N, interleaved.

    python scripts/bench_vision.py [--repeat 7]

Both libraries get the same float32 data and the same number of threads (2).
"""

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as TF

import nncheck
import nncheck.nn.functional as F


def _interp(**kw):
    return (lambda x: F.interpolate(x, **kw)), (lambda x: TF.interpolate(x, **kw))


def _grid(**kw):
    return (lambda x, g: F.grid_sample(x, g, **kw)), (lambda x, g: TF.grid_sample(x, g, **kw))


def cases(rng):
    image = rng.standard_normal((8, 64, 56, 56), dtype=np.float32)
    small = rng.standard_normal((4, 32, 64, 64), dtype=np.float32)
    grid = rng.uniform(-1.1, 1.1, (4, 64, 64, 2)).astype(np.float32)
    volume = rng.standard_normal((2, 16, 16, 24, 24), dtype=np.float32)
    return [
        ("Upsample bilinear x2  8x64x56x56", _interp(scale_factor=2, mode="bilinear"),
         [image]),
        ("Upsample nearest x2   8x64x56x56", _interp(scale_factor=2, mode="nearest"), [image]),
        ("Upsample bicubic x2   4x32x64x64", _interp(scale_factor=2, mode="bicubic"), [small]),
        ("Upsample trilinear x2 2x16x16x24x24", _interp(scale_factor=2, mode="trilinear"),
         [volume]),
        ("interpolate area /4   8x64x56x56", _interp(size=(14, 14), mode="area"), [image]),
        ("grid_sample bilinear  4x32x64x64", _grid(align_corners=False), [small, grid]),
        ("grid_sample bicubic   4x32x64x64", _grid(mode="bicubic", align_corners=False),
         [small, grid]),
    ]


def _time_nncheck(fn, arrays):
    xs = [nncheck.from_numpy(a).requires_grad_() for a in arrays]
    start = time.perf_counter()
    out = fn(*xs)
    out.backward(nncheck.ones_like(out))
    return time.perf_counter() - start


def _time_torch(fn, arrays):
    xs = [torch.from_numpy(a).requires_grad_() for a in arrays]
    start = time.perf_counter()
    out = fn(*xs)
    out.backward(torch.ones_like(out))
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(2)
    print(f"{'case (forward + backward, float32)':40s} {'nncheck ms':>11s} {'torch ms':>9s} "
          f"{'ratio':>6s}")
    for name, (nc_fn, to_fn), arrays in cases(np.random.default_rng(0)):
        nc_best = to_best = float("inf")
        for _ in range(args.repeat):  # interleaved, so machine load hits both alike
            nc_best = min(nc_best, _time_nncheck(nc_fn, arrays))
            to_best = min(to_best, _time_torch(to_fn, arrays))
        print(f"{name:40s} {nc_best * 1e3:11.2f} {to_best * 1e3:9.2f} "
              f"{nc_best / to_best:6.2f}")


if __name__ == "__main__":
    main()
