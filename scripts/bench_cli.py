"""Whole-process latency of `nncheck shape ...` (and of `nncheck summary` of the PyTorch
ResNet-18 file in scripts/models/) next to PyTorch's one-line equivalent.

    python scripts/bench_cli.py [--repeat 10]

Run it from the checkout to time: the `-m` and `-c` rows import the nncheck found
from the current directory, the console script the installed one.  Bytecode is
compiled first, as an installed package has it (PYTHONDONTWRITEBYTECODE would
otherwise make every run compile nncheck's sources again).
"""

import argparse
import compileall
import shutil
import subprocess
import sys
import time
from pathlib import Path

SHAPE = ["shape", "Conv2d", "16", "33", "3", "stride=2", "--in", "20,16,50,100"]
RESNET_FILE = str(Path(__file__).resolve().parent / "models" / "resnet.py") + ":resnet18"
SUMMARY = ["summary", RESNET_FILE, "--in", "1,3,224,224"]  # a PyTorch file, on shapes alone
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
    # the nncheck that the rows below import (this script's own sys.path starts in scripts/)
    package = subprocess.run([sys.executable, "-c", "import nncheck; print(nncheck.__path__[0])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    compileall.compile_dir(package, quiet=1)
    exe = shutil.which("nncheck")
    rows = [
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("python -c 'import numpy'", [sys.executable, "-c", "import numpy"]),
        ("python -c 'import click'", [sys.executable, "-c", "import click"]),
        ("nncheck shape (console script)", [exe, *SHAPE] if exe else None),
        ("python -m nncheck shape", [sys.executable, "-m", "nncheck", *SHAPE]),
        ("python -c 'main()' shape", [sys.executable, "-c", "from nncheck.cli import main; main()",
                                      *SHAPE]),
        ("python -m nncheck summary resnet.py", [sys.executable, "-m", "nncheck", *SUMMARY]),
        ("torch one-liner", [sys.executable, "-c", TORCH]),
    ]
    print(f"nncheck from {package}")
    for label, cmd in rows:
        if cmd is None:
            print(f"{label:32s} (not installed)")
            continue
        print(f"{label:32s} {best_of(cmd, repeat):8.1f} ms")


if __name__ == "__main__":
    main()
