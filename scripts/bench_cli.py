"""Whole-process latency of `nncheck shape ...` next to PyTorch's one-line equivalent.

    python scripts/bench_cli.py [--repeat 10]
"""

import argparse
import shutil
import subprocess
import sys
import time

SHAPE = ["shape", "Conv2d", "16", "33", "3", "stride=2", "--in", "20,16,50,100"]
TORCH = ("import torch; print(torch.nn.Conv2d(16, 33, 3, stride=2)"
         "(torch.zeros(20, 16, 50, 100)).shape)")


def best_of(cmd, repeat):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=10)
    repeat = parser.parse_args().repeat
    exe = shutil.which("nncheck")
    rows = [
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("python -c 'import numpy'", [sys.executable, "-c", "import numpy"]),
        ("nncheck shape (console script)", [exe, *SHAPE] if exe else None),
        ("python -m nncheck shape", [sys.executable, "-m", "nncheck", *SHAPE]),
        ("torch one-liner", [sys.executable, "-c", TORCH]),
    ]
    for label, cmd in rows:
        if cmd is None:
            print(f"{label:32s} (not installed)")
            continue
        print(f"{label:32s} {best_of(cmd, repeat):8.1f} ms")


if __name__ == "__main__":
    main()
