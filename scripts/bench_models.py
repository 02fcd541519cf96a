"""Whole models, nncheck vs PyTorch: one float32 training step (forward + backward), same weights.

The models are the PyTorch-style definitions in scripts/models/, loaded once with PyTorch and
once with nncheck standing in for torch (``nncheck.as_torch``); PyTorch's initial weights
are copied into the nncheck model.  Train mode; parameter gradients reset to None before
each step; the backward gets the same random gradient of the output in both libraries.
Steps alternate between the libraries, best of N.  ``--memory`` adds the peak resident
memory a training step adds (the high-water mark over two steps, reset before them, minus
the resident size before them; Linux), each model and library in a process of its own.

``--alone`` adds a cross-check: each library timed in a process of its own (nncheck's
without torch, as a user runs it), one after the other rather than interleaved.

    python scripts/bench_models.py [--repeat N] [--threads T] [--only resnet,vit] [--memory]
                                   [--alone]
"""

import argparse
import gc
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from benchlib import best_ms, fwd_bwd_step, print_geomean, print_header, print_row

MODELS = Path(__file__).resolve().parent / "models"

# key: (title, file, factory, constructor kwargs, input shape, token vocabulary or None)
CASES = {
    "resnet18": ("ResNet-18 4x3x112x112", "resnet.py", "resnet18", {}, (4, 3, 112, 112), None),
    "mobilenetv2": ("MobileNetV2 1.0 4x3x112x112", "mobilenetv2.py", "mobilenet_v2", {},
                    (4, 3, 112, 112), None),
    "densenet121": ("DenseNet-121 2x3x112x112", "densenet.py", "densenet121", {},
                    (2, 3, 112, 112), None),
    "shufflenetv2": ("ShuffleNetV2 1.0x 4x3x112x112", "shufflenetv2.py", "shufflenet_v2_x1_0",
                     {}, (4, 3, 112, 112), None),
    "unet": ("U-Net base 32 2x3x128x128", "unet.py", "UNet", {"base": 32}, (2, 3, 128, 128),
             None),
    "vit": ("ViT p8 d192 L4 8x3x64x64", "vit.py", "ViT",
            {"image_size": 64, "patch": 8, "dim": 192, "depth": 4, "heads": 3, "mlp": 768},
            (8, 3, 64, 64), None),
    "convnext": ("ConvNeXt 96/192/384 2/2/4 2x3x112x112", "convnext.py", "ConvNeXt",
                 {"dims": (96, 192, 384), "depths": (2, 2, 4)}, (2, 3, 112, 112), None),
    "bilstm": ("BiLSTM classifier 32x50 tokens", "lstm_classifier.py", "LSTMClassifier",
               {"vocab_size": 20000, "embed_dim": 128, "hidden": 256}, (32, 50), 20000),
}
WIDTH = 40


def build_pair(key):
    """(nncheck model, torch model, input array): PyTorch's initial weights in both."""
    import nncheck

    theirs, ours = build_model(key, real_torch=True), build_model(key, real_torch=False)
    ours.load_state_dict({k: nncheck.from_numpy(v.detach().numpy().copy())
                          for k, v in theirs.state_dict().items()})
    return ours, theirs, model_input(key)


def build_model(key, real_torch):
    """The model of case ``key`` in PyTorch or (real_torch False) in nncheck, train mode,
    its library's initial weights (seed 0); nncheck's build never imports torch."""
    from nncheck.cli.user_code import load_user_object

    _, file, factory, kwargs, _, _ = CASES[key]
    if real_torch:
        import torch

        torch.manual_seed(0)
    else:
        import nncheck

        nncheck.manual_seed(0)
    model = load_user_object(str(MODELS / file), factory, real_torch=real_torch)[0](**kwargs)
    model.train()
    return model


def model_input(key):
    _, _, _, _, shape, vocab = CASES[key]
    rng = np.random.default_rng(0)
    if vocab is None:
        return rng.standard_normal(shape).astype(np.float32)
    x = rng.integers(1, vocab, shape)  # token ids, each row padded (id 0) after a random length
    for row, length in zip(x, rng.integers(shape[1] // 2, shape[1] + 1, shape[0])):
        row[length:] = 0
    return x


def model_step(lib, model, x):
    """One training step's closure; a model returning a tuple is differentiated at [0]."""
    def first(inp):
        out = model(inp)
        return out[0] if isinstance(out, tuple) else out
    return fwd_bwd_step(lib, first, [x], model.parameters(), grad_inputs=())


def alone_ms(key, lib_name, repeat):
    """Run in a child process: the best step time (ms) of one library in a process of its
    own, so that neither runtime's threads nor settings meet the other's (nncheck's process
    never imports torch, as a user's)."""
    return _in_child(f"measure_alone({key!r}, {lib_name!r}, {repeat})")


def measure_alone(key, lib_name, repeat):
    if lib_name == "torch":
        import torch as lib

        lib.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    else:
        import nncheck as lib
    model = build_model(key, real_torch=lib_name == "torch")
    return best_ms([model_step(lib, model, model_input(key))], repeat, block=1)[0]


def peak_memory_mib(key, lib_name):
    """Run in a child process: the max RSS two training steps add, in MiB."""
    return _in_child(f"measure_memory({key!r}, {lib_name!r})")


def _in_child(call):
    """The number ``bench_models.<call>`` returns, run in a fresh Python process."""
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            f"import bench_models; print(bench_models.{call})")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return float(out.stdout.strip().splitlines()[-1])


def measure_memory(key, lib_name):
    import torch

    import nncheck

    ours, theirs, x = build_pair(key)
    lib, model = (nncheck, ours) if lib_name == "nncheck" else (torch, theirs)
    del ours, theirs
    gc.collect()
    step = model_step(lib, model, x)
    # building both models peaked higher than a step may: restart the high-water mark
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _status_kib("VmRSS")
    step()
    step()
    return (_status_kib("VmHWM") - before) / 1024


def _status_kib(field):
    """A memory figure of this process from /proc/self/status (Linux), in KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default="", help="comma-separated model keys: " +
                        ",".join(CASES))
    parser.add_argument("--memory", action="store_true",
                        help="also the peak memory of a step, in separate processes")
    parser.add_argument("--alone", action="store_true",
                        help="also each library timed in a process of its own")
    args = parser.parse_args()
    keys = [k for k in args.only.split(",") if k] or list(CASES)
    unknown = [k for k in keys if k not in CASES]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {list(CASES)}")
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    import nncheck

    torch.set_num_threads(args.threads)
    rows = []
    print_header(WIDTH)
    for key in keys:
        ours, theirs, x = build_pair(key)
        steps = [model_step(nncheck, ours, x), model_step(torch, theirs, x)]
        rows.append((CASES[key][0], *best_ms(steps, args.repeat, block=1)))
        print_row(*rows[-1], WIDTH)
    print_geomean(rows, WIDTH)
    if args.alone:
        print("\neach library alone in its own process (not interleaved)")
        print_header(WIDTH)
        alone = []
        for key in keys:
            alone.append((CASES[key][0], *(alone_ms(key, lib, args.repeat)
                                          for lib in ("nncheck", "torch"))))
            print_row(*alone[-1], WIDTH)
        print_geomean(alone, WIDTH)
    if args.memory:
        print(f"\n{'peak memory of a step':{WIDTH}s} {'nncheck MiB':>11s} {'torch MiB':>9s}"
              f" {'ratio':>6s}")
        for key in keys:
            ours, theirs = (peak_memory_mib(key, lib) for lib in ("nncheck", "torch"))
            print(f"{CASES[key][0]:{WIDTH}s} {ours:11.0f} {theirs:9.0f} "
                  f"{ours / max(theirs, 1):6.2f}", flush=True)


if __name__ == "__main__":
    main()
