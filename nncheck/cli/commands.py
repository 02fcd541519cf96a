"""The commands: list, shape, summary, forward, gradcheck, compare, bench."""

import time

import click

from . import cli
from .build import (
    build_target,
    check_memory,
    count_params,
    data_bytes,
    output_shapes,
    sample_inputs,
)
from .parsing import UsageError, parse_shape
from .render import console, print_json, table

DTYPES = ("float16", "float32", "float64")
DTYPE_BYTES = {"float16": 2, "float32": 4, "float64": 8}


def _shapes(values):
    if not values:
        raise UsageError("missing --in SHAPE (e.g. --in 20,16,50,100)")
    return [parse_shape(v) for v in values]


def _device_check(device):
    if device == "cuda":
        from .. import cuda

        if not cuda.is_available():
            raise UsageError("--device cuda: no CUDA device is available (needs an NVIDIA GPU "
                             "and `pip install nncheck[cuda]`)")
        raise UsageError("--device cuda: tensors on the GPU are not wired into the CLI yet; "
                         "use nncheck.cuda from Python")


in_option = click.option("--in", "in_shapes", multiple=True, metavar="SHAPE",
                         help="Input shape, e.g. 20,16,50,100 (once per input).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
device_option = click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu",
                             show_default=True)


# ---------------------------------------------------------------------- list
@cli.command("list")
@click.option("--family", help="Only layers of this family (conv, pooling, loss, ...).")
@json_option
def list_layers(family, as_json):
    """List every layer: family, constructor signature and an example command."""
    from .. import registry

    infos = sorted(registry.layers().values(), key=lambda i: (i.family, i.name))
    if family:
        infos = [i for i in infos if i.family == family]
        if not infos:
            families = sorted({i.family for i in registry.layers().values()})
            raise UsageError(f"unknown family {family!r}; expected one of {', '.join(families)}")
    if as_json:
        print_json({"layers": [{"name": i.name, "family": i.family, "signature": i.signature,
                                "example": i.example_command} for i in infos]})
        return 0
    t = table(f"{len(infos)} layers", ["layer", "family", "signature", "example"])
    for i in infos:
        t.add_row(i.name, i.family, i.signature, i.example_command)
    console().print(t)
    return 0


# ---------------------------------------------------------------------- shape
@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("layer")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@in_option
@click.option("--explain", is_flag=True, help="Show each output dimension's formula.")
@json_option
def shape(layer, args, in_shapes, explain, as_json):
    """Print the output shapes of LAYER built from ARGS, without running it.

    \b
    ARG is a Python literal (16, "(3,5)", "'reflect'", True) or name=literal.
    Example: nncheck shape Conv2d 16 33 3 stride=2 --in 20,16,50,100 --explain
    """
    shapes = _shapes(in_shapes)
    target = build_target(layer, args, meta=True)
    lines = [] if explain else None
    outs = output_shapes(target, shapes, lines)
    params = count_params(target.module)
    if as_json:
        print_json({"layer": target.describe(), "input_shapes": [list(s) for s in shapes],
                    "output_shapes": [list(s) for s in outs], "params": params})
        return 0
    # plain lines (no rich): `shape` is the command people run in loops, keep it light
    click.echo(target.describe())
    for i, s in enumerate(shapes):
        click.echo(f"input[{i}]  {list(s)}")
    for i, s in enumerate(outs):
        click.echo(f"output[{i}] {list(s)}")
    click.echo(f"params     {params:,}")
    if lines:
        click.echo("why:")
        for line in lines:
            click.echo("  " + line)
    return 0


# ---------------------------------------------------------------------- summary
@cli.command()
@click.argument("spec")
@in_option
@click.option("--depth", default=3, show_default=True, help="Nesting depth of the table.")
@json_option
def summary(spec, in_shapes, depth, as_json):
    """Per-layer table of a model: output shape, parameters, MACs, memory.

    \b
    SPEC is a chain of layers or FILE.py:Name (a Module of yours):
      nncheck summary "Conv2d(1,20,5) ReLU() MaxPool2d(2) Flatten() Linear(2880,10)" --in 1,1,28,28
    Runs on shapes alone (no kernel), so it is instant on large models.
    """
    from ..shapes import is_symbolic
    from .summary import build_model, summarize

    shapes = _shapes(in_shapes)
    if any(is_symbolic(*s) for s in shapes):
        raise UsageError("summary needs concrete input sizes (symbolic dims work with 'shape')")
    model = build_model(spec)
    rows, totals, failure = summarize(model, shapes, depth)
    if as_json:
        print_json({"model": repr(model), "input_shapes": [list(s) for s in shapes],
                    "layers": rows, "totals": totals,
                    "error": None if failure is None else str(failure)})
    else:
        from .summary import render

        render(rows, totals, failure)
    if failure is not None:
        raise UsageError(str(failure))
    return 0


# ---------------------------------------------------------------------- forward
@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("layer")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@in_option
@click.option("--input", "input_files", multiple=True, type=click.Path(),
              help="A .npy file replacing the random input (once per input).")
@click.option("--weights", type=click.Path(), help="A .npz state_dict to load first.")
@click.option("--dtype", type=click.Choice(DTYPES), default="float32", show_default=True)
@click.option("--seed", default=0, show_default=True, help="Seed of the sample inputs.")
@click.option("--save", type=click.Path(), help="Write the (first) output to this .npy.")
@click.option("--train/--eval", default=False, help="Module mode (default eval).")
@device_option
@json_option
def forward(layer, args, in_shapes, input_files, weights, dtype, seed, save, train, device,
            as_json):
    """Run LAYER on sample (or given) inputs and describe the output.

    Example: nncheck forward Conv2d 1 4 3 --in 2,1,8,8 --dtype float64
    """
    import numpy as np

    from .. import manual_seed
    from .._kernels import preload
    from ..autograd.checker import _flat_outputs
    from ..tensor import Tensor

    _device_check(device)
    target = build_target(layer, args)
    arrays = _load_inputs(target, in_shapes, input_files, dtype, seed)
    module = target.module
    if module is not None:
        if weights:
            _load_weights(module, weights)
        _cast_module(module, dtype)
        module.train(train)
    preload()  # the timing below is the layer's, not the first import of its kernels
    manual_seed(seed)
    inputs = [Tensor._wrap(a) for a in arrays]
    start = time.perf_counter()
    try:
        out = target.callable(*inputs)
    except (ValueError, RuntimeError, TypeError, IndexError) as exc:
        raise UsageError(f"{layer}: {exc}") from None
    elapsed = (time.perf_counter() - start) * 1e3
    outs = _flat_outputs(out)
    stats = [_stats(t.detach().numpy()) for t in outs]
    if save:
        if not outs:
            raise UsageError("--save: the layer returned no tensor")
        np.save(save, outs[0].detach().numpy())
    if as_json:
        print_json({"layer": target.describe(), "input_shapes": [list(a.shape) for a in arrays],
                    "outputs": stats, "time_ms": elapsed})
        return 0
    con = console()
    con.print(target.describe(), markup=False, highlight=False)
    t = table(None, ["output", "shape", "dtype", "min", "max", "mean", "std"])
    for i, s in enumerate(stats):
        t.add_row(f"[{i}]", str(s["shape"]), s["dtype"],
                  *(f"{s[k]:.6g}" if s[k] is not None else "-"
                    for k in ("min", "max", "mean", "std")))
    con.print(t)
    for i, o in enumerate(outs):
        preview = np.array2string(o.detach().numpy().reshape(-1)[:8], precision=4,
                                  separator=", ")
        con.print(f"output[{i}] first values: {preview}", markup=False, highlight=False)
    con.print(f"forward time: {elapsed:.3f} ms", highlight=False)
    if save:
        con.print(f"saved output[0] to {save}", markup=False, highlight=False)
    return 0


def _load_inputs(target, in_shapes, input_files, dtype, seed):
    import numpy as np

    if input_files:
        arrays = []
        for path in input_files:
            try:
                arr = np.load(path, allow_pickle=False)
            except FileNotFoundError:
                raise UsageError(f"--input {path}: file not found") from None
            except (ValueError, OSError) as exc:
                raise UsageError(f"--input {path}: not a .npy array ({exc})") from None
            arrays.append(arr.astype(dtype) if arr.dtype.kind == "f" else arr)
        if in_shapes and [tuple(a.shape) for a in arrays] != _shapes(in_shapes):
            raise UsageError("--in shapes disagree with the --input files' shapes")
        return arrays
    return sample_inputs(target, _shapes(in_shapes), np.dtype(dtype), seed)


def _load_weights(module, path):
    from ..serialization import load

    try:
        state = load(path)
    except FileNotFoundError:
        raise UsageError(f"--weights {path}: file not found") from None
    except (ValueError, OSError) as exc:
        raise UsageError(f"--weights {path}: not a .npz state_dict ({exc})") from None
    if not isinstance(state, dict):
        raise UsageError(f"--weights {path}: expected a state_dict (.npz of named arrays)")
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise UsageError(f"--weights {path}: {' '.join(str(exc).split())}") from None


def _cast_module(module, dtype):
    getattr(module, {"float16": "half", "float32": "float", "float64": "double"}[dtype])()


def _stats(arr):
    import numpy as np

    numeric = arr.size and arr.dtype.kind in "fiub"
    a = arr.astype(np.float64) if numeric else None
    return {
        "shape": list(arr.shape), "dtype": str(arr.dtype),
        "min": float(a.min()) if numeric else None, "max": float(a.max()) if numeric else None,
        "mean": float(a.mean()) if numeric else None, "std": float(a.std()) if numeric else None,
    }


# ---------------------------------------------------------------------- gradcheck
@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("layer", required=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@in_option
@click.option("--all", "check_all", is_flag=True, help="Check every registered layer.")
@click.option("--dtype", type=click.Choice(DTYPES), default="float64", show_default=True)
@click.option("--eps", default=1e-6, show_default=True)
@click.option("--atol", default=1e-5, show_default=True)
@click.option("--rtol", default=1e-3, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--fast", is_flag=True,
              help="Random projections u^T J v first; full check only where they disagree.")
@click.option("--semantic", is_flag=True,
              help="Also check linearity in grad_output, zero in -> zero out, determinism, "
                   "no input mutation.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Processes sharing the numerical Jacobian's columns.")
@click.option("--plot", metavar="FILE.png",
              help="Write the error heatmap of the first failing check as an image "
                   "(needs matplotlib: pip install 'nncheck[plot]').")
@click.option("--torch", "with_torch", is_flag=True,
              help="Run FILE.py:Name with the real PyTorch; nncheck's checker checks it.")
@device_option
@json_option
def gradcheck(layer, args, in_shapes, check_all, dtype, eps, atol, rtol, seed, fast, semantic,
              workers, plot, with_torch, device, as_json):
    """Compare LAYER's backward with finite differences, entry by entry.

    \b
    Checks every input given with --in and every parameter; exits 1 on a mismatch.
      nncheck gradcheck Conv2d 2 3 3 --in 1,2,5,5
      nncheck gradcheck my_layers.py:MyLayer 4 --in 2,4
      nncheck gradcheck --all
    """
    from .gradcheck import (
        check_all_layers,
        check_model_target,
        check_one,
        check_torch_file,
        is_model,
        render_model_report,
        render_report,
    )

    _device_check(device)
    if plot:
        from .heatmap import require_matplotlib

        require_matplotlib()
    options = {"dtype": dtype, "eps": eps, "atol": atol, "rtol": rtol, "seed": seed,
               "fast": fast, "semantic": semantic, "workers": workers}
    if check_all:
        if layer:
            raise UsageError("--all takes no LAYER")
        results = check_all_layers(options, quiet=as_json)
        passed = all(r["passed"] for r in results)
        if as_json:
            print_json({"passed": passed, "results": results})
        return 0 if passed else 1
    if not layer:
        raise UsageError("missing LAYER (or --all)")
    _check_tolerances(eps=eps, atol=atol, rtol=rtol)
    shapes = _shapes(in_shapes)
    if with_torch:
        result, report = check_torch_file(layer, args, shapes, options)
        (print_json if as_json else lambda r: render_report(r, report))(result)
        _plot(plot, report.checks)
        return 0 if result["passed"] else 1
    target = build_target(layer, args)
    if is_model(target):  # a user's model: each module on its real inputs, then end to end
        result, report = check_model_target(target, shapes, options, progress=not as_json)
        (print_json if as_json else lambda r: render_model_report(r, report))(result)
        failure = report.first_failure
        _plot(plot, failure.checks if failure is not None else [])
        return 0 if result["passed"] else 1
    check_memory("the inputs, outputs and Jacobian",
                 data_bytes(target, shapes, DTYPE_BYTES[dtype], jacobian=True))
    result, report = check_one(target, shapes, options, progress=not as_json)
    if as_json:
        print_json(result)
    else:
        render_report(result, report)
    _plot(plot, report.checks)
    return 0 if result["passed"] else 1


def _plot(path, checks):
    if path:
        from .gradcheck import plot_first_failure

        click.echo(plot_first_failure(checks, path), err=True)


def _check_tolerances(**values):
    """gradcheck's step must be positive, its tolerances non-negative, all finite."""
    import math

    for name, value in values.items():
        low_ok = value > 0 if name == "eps" else value >= 0
        if not (math.isfinite(value) and low_ok):
            expected = "a positive number" if name == "eps" else "a number >= 0"
            raise UsageError(f"--{name} {value}: expected {expected}")


# ---------------------------------------------------------------------- compare and bench
@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("layer")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@in_option
@click.option("--seed", default=0, show_default=True)
@click.option("--rtol", default=1e-7, show_default=True)
@click.option("--atol", default=1e-9, show_default=True)
@json_option
def compare(layer, args, in_shapes, seed, rtol, atol, as_json):
    """Run LAYER in nncheck and in PyTorch (same weights, same inputs); report differences."""
    from .compare import compare_with_torch, render

    _check_tolerances(atol=atol, rtol=rtol)
    target = build_target(layer, args)
    result = compare_with_torch(target, layer, args, _shapes(in_shapes), seed, rtol, atol)
    if as_json:
        print_json(result)
    else:
        render(result)
    return 0 if result["passed"] else 1


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("layer")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@in_option
@click.option("--dtype", type=click.Choice(DTYPES), default="float32", show_default=True)
@click.option("--repeat", default=10, show_default=True, help="Timed runs (best is kept).")
@device_option
@json_option
def bench(layer, args, in_shapes, dtype, repeat, device, as_json):
    """Time LAYER's forward and backward; GFLOP/s where the MAC count is known."""
    from .benchmark import render, run_bench

    _device_check(device)
    if repeat < 1:
        raise UsageError(f"--repeat must be at least 1, got {repeat}")
    target = build_target(layer, args)
    result = run_bench(target, _shapes(in_shapes), dtype, repeat)
    if as_json:
        print_json(result)
    else:
        render(result)
    return 0

