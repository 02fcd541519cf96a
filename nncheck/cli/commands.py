"""The commands: list, shape, summary, forward, gradcheck, compare, bench."""

import sys
import time

import click

from . import cli
from .arity import check_input_count
from .build import (
    Target,
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
    """--device cuda needs cuda-python and a GPU (or NNCHECK_CUDA_EMULATE=1): say which."""
    if device == "cuda":
        from .. import cuda

        reason = cuda.unavailable_reason()
        if reason is not None:
            raise UsageError(f"--device cuda: CUDA is not available: {reason}")


in_option = click.option("--in", "in_shapes", multiple=True, metavar="SHAPE",
                         help="Input shape, e.g. 20,16,50,100 (once per input).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
hint_option = click.option("--hint", "hints", multiple=True, metavar="NAME=SIZE",
                           help="Example size of a named dimension: the branch the model's "
                                "code takes for it is the one analysed (e.g. --hint H=224).")
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
@hint_option
@json_option
def shape(layer, args, in_shapes, explain, hints, as_json):
    """Print the output shapes of LAYER built from ARGS, without running it.

    \b
    ARG is a Python literal (16, "(3,5)", "'reflect'", True) or name=literal.
    Example: nncheck shape Conv2d 16 33 3 stride=2 --in 20,16,50,100 --explain
    """
    shapes = _shapes(in_shapes)
    target = build_target(layer, args, meta=True)
    check_input_count(target, in_shapes)
    if _symbolic(shapes):
        return _shape_symbolic(target, shapes, _hints(hints), explain, as_json)
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


def _symbolic(shapes):
    from ..shapes import is_symbolic

    return any(is_symbolic(*s) for s in shapes)


def _hints(values):
    """--hint H=224 -> {"H": 224}."""
    hints = {}
    for text in values:
        name, _, size = text.partition("=")
        if not name.strip().isidentifier() or not size.strip().isdigit():
            raise UsageError(f"--hint {text!r}: expected NAME=SIZE, e.g. H=224")
        hints[name.strip()] = int(size)
    return hints


def _shape_symbolic(target, shapes, hints, explain, as_json):
    """`shape` with named sizes: output formulas and the conditions on the names."""
    from .summary import analyze_symbolic, symbolic_json, symbolic_lines

    if target.module is None:
        raise UsageError(f"{target.label}: symbolic sizes need a Module")
    result = analyze_symbolic(target.module, shapes, hints)
    params = count_params(target.module)
    if as_json:
        print_json({"layer": target.describe(), "input_shapes": [list(s) for s in shapes],
                    "output_shapes": [list(s) for s in result.output_shapes],
                    "params": params, **{k: v for k, v in symbolic_json(result).items()
                                         if k in ("constraints", "guards", "smallest",
                                                  "conditions")}})
    elif result.failure is None:
        click.echo(target.describe())
        for i, s in enumerate(shapes):
            click.echo(f"input[{i}]  {list(s)}")
        for i, s in enumerate(result.output_shapes):
            click.echo(f"output[{i}] {list(s)}")
        click.echo(f"params    {params:,}")
        for line in symbolic_lines(result, explain):
            click.echo(line)
    if result.failure is not None:
        raise UsageError(result.failure)
    return 0


# ---------------------------------------------------------------------- summary
@cli.command()
@click.argument("spec")
@in_option
@click.option("--depth", default=3, show_default=True, help="Nesting depth of the table.")
@click.option("--explain", is_flag=True, help="With named sizes: which layer imposed which "
                                              "condition.")
@hint_option
@json_option
def summary(spec, in_shapes, depth, explain, hints, as_json):
    """Per-layer table of a model: output shape, parameters, MACs, memory.

    \b
    SPEC is a chain of layers or FILE.py:Name (a Module of yours):
      nncheck summary "Conv2d(1,20,5) ReLU() MaxPool2d(2) Flatten() Linear(2880,10)" --in 1,1,28,28
    Runs on shapes alone (no kernel), so it is instant on large models.
    Named sizes (--in N,3,H,W) give each layer's output as formulas, the conditions the
    model puts on the names and the smallest input meeting them.
    """
    from .summary import build_model, summarize

    shapes = _shapes(in_shapes)
    if _symbolic(shapes):
        from .. import device

        try:
            with device("meta"):  # sizes only: the weights need no values
                model = build_model(spec)
        except UsageError:  # its __init__ computes with tensors: build it for real
            model = build_model(spec)
        check_input_count(Target(module=_first_layer(model)), in_shapes)
        return _summary_symbolic(model, shapes, _hints(hints), explain, as_json)
    model = build_model(spec)
    check_input_count(Target(module=_first_layer(model)), in_shapes)
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


def _first_layer(model):
    """The module whose forward receives a chain's inputs: a Sequential's first layer."""
    from ..nn import Sequential

    while isinstance(model, Sequential) and len(model):
        model = model[0]
    return model


def _summary_symbolic(model, shapes, hints, explain, as_json):
    from .summary import analyze_symbolic, render_symbolic, symbolic_json

    result = analyze_symbolic(model, shapes, hints)
    if as_json:
        print_json({"model": repr(model), "input_shapes": [list(s) for s in shapes],
                    **symbolic_json(result), "error": result.failure})
    else:
        render_symbolic(result, explain)
    if result.failure is not None:
        raise UsageError(result.failure)
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
    if input_files:
        check_input_count(target, input_files, "--input")
    else:
        check_input_count(target, in_shapes)
    arrays = _load_inputs(target, in_shapes, input_files, dtype, seed)
    module = target.module
    if module is not None:
        if weights:
            _load_weights(module, weights)
        _cast_module(module, dtype)
        module.train(train)
        module.to(device)
    preload()  # the timing below is the layer's, not the first import of its kernels
    manual_seed(seed)
    inputs = [Tensor._wrap(a).to(device) for a in arrays]
    start = time.perf_counter()
    try:
        out = target.callable(*inputs)
    except (ValueError, RuntimeError, TypeError, IndexError) as exc:
        raise UsageError(f"{layer}: {exc}") from None
    elapsed = (time.perf_counter() - start) * 1e3
    outs = _flat_outputs(out)
    stats = [_stats(t.detach().cpu().numpy()) for t in outs]
    if save:
        if not outs:
            raise UsageError("--save: the layer returned no tensor")
        np.save(save, outs[0].detach().cpu().numpy())
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
        preview = np.array2string(o.detach().cpu().numpy().reshape(-1)[:8], precision=4,
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
@click.option("--max-seconds", default=60.0, show_default=True, metavar="S",
              help="When the full check would take longer, check a random sample of the "
                   "Jacobian plus random projections (and say so).")
@click.option("--full", is_flag=True, help="Check every Jacobian entry, however long it takes.")
@click.option("--plot", metavar="FILE.png",
              help="Write the error heatmap of the first failing check as an image "
                   "(needs matplotlib: pip install 'nncheck[plot]').")
@click.option("--torch", "with_torch", is_flag=True,
              help="Run FILE.py:Name with the real PyTorch; nncheck's checker checks it.")
@device_option
@json_option
def gradcheck(layer, args, in_shapes, check_all, dtype, eps, atol, rtol, seed, fast, semantic,
              workers, max_seconds, full, plot, with_torch, device, as_json):
    """Compare LAYER's backward with finite differences, entry by entry.

    \b
    Checks every input given with --in and every parameter; exits 1 on a mismatch,
    130 on Ctrl-C (with a partial report). The plan goes to stderr first.
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
        plan_line,
        render_model_report,
        render_report,
    )

    _device_check(device)
    if not max_seconds > 0:
        raise UsageError(f"--max-seconds must be positive, got {max_seconds:g}")
    if plot:
        from .heatmap import require_matplotlib

        require_matplotlib()
    options = {"dtype": dtype, "eps": eps, "atol": atol, "rtol": rtol, "seed": seed,
               "fast": fast, "semantic": semantic, "workers": workers,
               "max_seconds": None if full else max_seconds, "device": device}
    if check_all:
        if layer:
            raise UsageError("--all takes no LAYER")
        results = check_all_layers(options, quiet=as_json)
        passed = all(r["passed"] for r in results)
        interrupted = bool(results) and results[-1].get("interrupted", False)
        if as_json:
            print_json({"passed": passed, "results": results,
                        **({"interrupted": True} if interrupted else {})})
        return 130 if interrupted else 0 if passed else 1
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
    check_input_count(target, in_shapes)
    if is_model(target):  # a user's model: each module on its real inputs, then end to end
        check_memory("the inputs and outputs", data_bytes(target, shapes, DTYPE_BYTES[dtype]))
        result, report = check_model_target(target, shapes, options, progress=not as_json)
        (print_json if as_json else lambda r: render_model_report(r, report))(result)
        failure = report.first_failure
        _plot(plot, failure.checks if failure is not None else [])
        return 0 if result["passed"] else 1
    check_memory("the inputs, outputs and Jacobian",
                 data_bytes(target, shapes, DTYPE_BYTES[dtype], jacobian=True))
    err = console(stderr=True)

    def plan(p):
        err.print(plan_line(p, max_seconds), markup=False, highlight=False)

    result, report = check_one(target, shapes, options,
                               progress=not as_json and sys.stderr.isatty(), plan=plan)
    if report.sampled:
        result["full_command"] = _full_command()
    if as_json:
        print_json(result)
    else:
        render_report(result, report)
    _plot(plot, report.checks)
    if report.interrupted:
        return 130
    return 0 if result["passed"] else 1


def _check_tolerances(**values):
    """gradcheck's step must be positive, its tolerances non-negative, all finite."""
    import math

    for name, value in values.items():
        low_ok = value > 0 if name == "eps" else value >= 0
        if not (math.isfinite(value) and low_ok):
            expected = "a positive number" if name == "eps" else "a number >= 0"
            raise UsageError(f"--{name} {value}: expected {expected}")


def _full_command():
    """This command line, for the full check: --full instead of --max-seconds."""
    import shlex

    ctx = click.get_current_context()
    words = ["nncheck", ctx.info_name, ctx.params["layer"], *ctx.params["args"]]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if (not isinstance(param, click.Option) or param.name in ("max_seconds", "as_json")
                or value == param.default or value in ((), None, False)):
            continue
        for v in value if param.multiple else [value]:
            words += [param.opts[0]] if param.is_flag else [param.opts[0], str(v)]
    return shlex.join(words + ["--full"])


def _plot(path, checks):
    if path:
        from .gradcheck import plot_first_failure

        click.echo(plot_first_failure(checks, path), err=True)


# ---------------------------------------------------------------------- compare and bench
@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("layer")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@in_option
@click.option("--seed", default=0, show_default=True)
@click.option("--rtol", default=1e-7, show_default=True)
@click.option("--atol", default=1e-9, show_default=True)
@device_option
@json_option
def compare(layer, args, in_shapes, seed, rtol, atol, device, as_json):
    """Run LAYER in nncheck and in PyTorch (same weights, same inputs); report differences."""
    from .compare import compare_with_torch, render

    _device_check(device)
    _check_tolerances(atol=atol, rtol=rtol)
    target = build_target(layer, args)
    check_input_count(target, in_shapes)
    result = compare_with_torch(target, layer, args, _shapes(in_shapes), seed, rtol, atol,
                                device)
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
    check_input_count(target, in_shapes)
    result = run_bench(target, _shapes(in_shapes), dtype, repeat, device)
    if as_json:
        print_json(result)
    else:
        render(result)
    return 0

