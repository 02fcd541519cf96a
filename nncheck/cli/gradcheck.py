"""``nncheck gradcheck``: build the layer in float64, check it, render the report."""

import shlex
import time

from .._lazy import np
from ..autograd.checker import check_gradients
from .build import Target, construct, grad_input_indices, sample_inputs
from .render import console, table


def _prepare(target, shapes, options):
    from ..tensor import Tensor

    arrays = sample_inputs(target, shapes, np.dtype(options["dtype"]), options["seed"])
    want = set(grad_input_indices(target, arrays))
    inputs = []
    device = options.get("device", "cpu")
    for i, a in enumerate(arrays):
        t = Tensor._wrap(a).to(device)
        if i in want and a.dtype.kind == "f":
            t.requires_grad_(True)
        inputs.append(t)
    module = target.module
    if module is not None:
        getattr(module, {"float16": "half", "float32": "float", "float64": "double"}[
            options["dtype"]])()
        module.to(device)
        info = target.info
        module.train(info.train if info is not None else True)
    return inputs


REDRAWS = 3  # attempts at drawing inputs away from kinks (ReLU at 0, max-pool ties)


def check_one(target, shapes, options, progress=False, plan=None):
    """Check one layer; returns (JSON-ready result, GradcheckReport).

    Inputs that land on a kink are redrawn (new seed) so a correct layer is not
    judged at a point where it has no derivative; the kinks are still reported.
    ``options["max_seconds"]`` (None: the full check) bounds all attempts together;
    ``plan(dict)`` hears each attempt's plan before its numerical work.
    """
    from ..random import manual_seed

    seed = options["seed"]
    max_seconds = options.get("max_seconds")
    start = time.perf_counter()
    for attempt in range(REDRAWS):
        manual_seed(seed)
        inputs = _prepare(target, shapes, {**options, "seed": seed})
        reference = _float64_twin(target, inputs) if options["dtype"] != "float64" else None
        bar = _progress_bar() if progress else None
        try:
            report = check_gradients(target.callable, inputs, eps=options["eps"],
                                     atol=options["atol"], rtol=options["rtol"],
                                     progress=bar.update if bar else None,
                                     fast=options.get("fast", False),
                                     semantic=options.get("semantic", False), seed=seed,
                                     reference=reference, workers=options.get("workers", 1),
                                     max_seconds=_left(max_seconds, start), plan=plan)
        finally:
            if bar:
                bar.close()
        if (report.interrupted or not any(c.n_kinks for c in report.checks)
                or attempt == REDRAWS - 1 or _left(max_seconds, start) == 0):
            break
        seed += 1000
    result = {"layer": target.describe(), **report.as_dict(), "seed": seed}
    return result, report


def _left(max_seconds, start):
    return None if max_seconds is None else max(0, max_seconds - (time.perf_counter() - start))


def _float64_twin(target, inputs):
    """The same layer and inputs in float64: the numerical reference for float32 kernels."""
    import copy

    from ..tensor import Tensor

    twin_inputs = []
    for t in inputs:
        twin = Tensor._wrap(t._data.astype(np.float64) if t._data.dtype.kind == "f"
                            else t._data.copy())
        if t.requires_grad:
            twin.requires_grad_(True)
        twin_inputs.append(twin)
    if target.module is None:
        return target.function, twin_inputs
    return copy.deepcopy(target.module).double(), twin_inputs


class _progress_bar:
    """A rich progress bar on stderr, shown only for checks that take a while."""

    def __init__(self):
        self._bar = None
        self._task = None

    def update(self, done, total):
        if self._bar is None and total >= 2000:
            from rich.progress import Progress

            self._bar = Progress(console=console(stderr=True), transient=True)
            self._bar.start()
            self._task = self._bar.add_task("numerical Jacobian", total=total)
        if self._bar is not None:
            self._bar.update(self._task, completed=done)

    def close(self):
        if self._bar is not None:
            self._bar.stop()


def render_report(result, report):
    con = console()
    con.print(result["layer"], markup=False, highlight=False)
    t = table(None, ["wrt", "shape", "max abs err", "max rel err", "worst index",
                     "analytic", "numeric", "failed", "result"])
    for c in report.checks:
        t.add_row(c.wrt, str(list(c.shape)), f"{c.max_abs_err:.3g}", f"{c.max_rel_err:.3g}",
                  str(c.worst_index), f"{c.analytic:.6g}", f"{c.numeric:.6g}",
                  f"{c.n_failed}/{c.n_entries}", "[green]ok[/]" if c.passed else "[red]FAIL[/]")
    con.print(t)
    for c in report.checks:
        if not c.passed:
            con.print(c.describe(), markup=False, highlight=False)
            print_heatmap(con, c)
    for name, outcome in report.semantic.items():
        mark = "[green]ok[/]" if outcome["passed"] else "[red]FAIL[/]"
        con.print(f"{name.replace('_', ' ')}: {mark} {outcome['detail']}", highlight=False)
    kinks = sum(c.n_kinks for c in report.checks)
    if kinks:
        con.print(f"{kinks} entries sit on a kink (one-sided differences disagree); "
                  "not counted as failures", highlight=False)
    con.print(f"{report.forward_calls} forward and {report.backward_calls} backward calls",
              highlight=False)
    if report.sampled:
        con.print(sampled_note(result), markup=False, highlight=False)
    if report.interrupted:
        con.print(interrupted_note(result), markup=False, highlight=False)
        return
    con.print("[green]passed[/]" if report.passed else "[red]FAILED[/]")


def _duration(seconds):
    if seconds is None:
        return "?"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h" if seconds < 172800 else f"{seconds / 86400:.0f} days"


def _about(estimate):
    bound = "up to " if estimate.get("full_seconds_bound") else ""
    return f"{bound}~{_duration(estimate.get('full_seconds'))}"


def plan_line(plan, max_seconds):
    """The plan in words, for stderr before the numerical work starts."""
    whole = (f"{plan['total_entries']:,} Jacobian entries ({plan['outputs']:,} outputs x "
             f"{plan['columns']:,} input and parameter elements)")
    if not plan["sampled"]:
        calls = ("at most " if plan.get("bound") else "") + f"{plan['forward_calls']:,}"
        return f"plan: {whole}, {calls} forward calls, ~{_duration(plan['seconds'])}"
    return (f"plan: the full check of {whole} would take {_about(plan)}, "
            f"over --max-seconds {max_seconds:g}: checking a random sample of "
            f"{plan['checked_entries']:,} entries ({plan['sampled_rows']:,} output rows x "
            f"{plan['sampled_columns']:,} columns from every input and parameter) and "
            f"{plan['projections']} random projections u^T J v per tensor, "
            f"~{plan['forward_calls']:,} forward calls, ~{_duration(plan['seconds'])}")


def sampled_note(result):
    sample = result["sample"]
    return (f"SAMPLED (to fit --max-seconds): {result['checked_entries']:,} of "
            f"{result['total_entries']:,} Jacobian entries checked one by one, plus "
            f"{sample['projections']} random projections u^T J v per tensor (each sees every "
            f"entry); the full check would take {_about(sample)}: "
            f"{result['full_command']}")


def interrupted_note(result):
    left = ", ".join(result["unchecked"]) or "none"
    return (f"INTERRUPTED: partial report, {result['checked_entries']:,} of "
            f"{result['total_entries']:,} Jacobian entries checked; not checked: {left}")


def check_all_layers(options, quiet=False):
    """gradcheck every registered layer on its example configuration."""
    from .. import registry
    from .parsing import UsageError, parse_layer_args

    results = []
    con = console()
    t = table("gradcheck --all", ["layer", "family", "checks", "max abs err", "result"])
    for info in sorted(registry.layers().values(), key=lambda i: (i.family, i.name)):
        if not info.gradcheck:
            continue
        try:
            args, kwargs = parse_layer_args(shlex.split(info.example))
            target = Target(module=construct(info.cls, args, kwargs), info=info)
            result, report = check_one(target, info.inputs, options)
            worst = max((c.max_abs_err for c in report.checks), default=0.0)
        except (UsageError, ValueError, RuntimeError, TypeError, IndexError) as exc:
            result = {"layer": info.name, "passed": False, "checks": [], "error": str(exc)}
            worst = float("nan")
        results.append(result)
        t.add_row(info.name, info.family, str(len(result["checks"])), f"{worst:.2g}",
                  "[green]ok[/]" if result["passed"] else "[red]FAIL[/]")
        if result.get("interrupted"):  # Ctrl-C: the layers so far are the partial report
            break
    if not quiet:
        con.print(t)
        failed = [r["layer"] for r in results if not r["passed"]]
        con.print(f"{len(results) - len(failed)}/{len(results)} layers passed"
                  + (f"; failed: {', '.join(failed)}" if failed else ""))
        if results and results[-1].get("interrupted"):
            con.print("INTERRUPTED: the layers after the last one were not checked")
    return results


def is_model(target):
    """A user's Module with submodules is checked layer by layer (registered layers that
    happen to hold submodules, like MultiheadAttention, stay single-layer checks)."""
    return (target.module is not None and target.info is None
            and any(True for _ in target.module.children()))


def check_model_target(target, shapes, options, progress=False):
    """Check a model layer by layer; returns (JSON-ready result, ModelReport)."""
    from ..autograd.model_check import check_model
    from ..random import manual_seed
    from ..tensor import Tensor
    from .parsing import UsageError

    seed = options["seed"]
    manual_seed(seed)
    arrays = sample_inputs(target, shapes, np.dtype("float64"), seed)
    inputs = [Tensor._wrap(a) for a in arrays]
    bar = _ModelProgress() if progress else None
    try:
        report = check_model(target.module, inputs, eps=options["eps"], atol=options["atol"],
                             rtol=options["rtol"], seed=seed,
                             progress=bar.update if bar else None)
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:  # the recording run
        raise UsageError(f"{target.label}: forward on shapes {[list(s) for s in shapes]} "
                         f"failed: {' '.join(str(exc).split())}") from None
    finally:
        if bar:
            bar.close()
    return {**report.as_dict(), "layer": target.label or type(target.module).__name__,
            "seed": seed}, report


class _ModelProgress:
    """One rich bar over the modules, on stderr, only when stderr is a terminal."""

    def __init__(self):
        import sys

        self._bar = None
        if sys.stderr.isatty():
            from rich.progress import Progress

            self._bar = Progress(console=console(stderr=True), transient=True)
            self._bar.start()
            self._task = self._bar.add_task("modules", total=None)

    def update(self, done, total, name):
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=total,
                             description=f"checking {name}" if name else "done")

    def close(self):
        if self._bar is not None:
            self._bar.stop()


def render_model_report(result, report):
    con = console()
    t = table(f"{result['layer']}: gradcheck layer by layer ({report.seconds:.1f} s)",
              ["module", "type", "params", "checked", "max abs err", "max rel err",
               "worst index", "result"])
    for row in report.modules + [report.end_to_end]:
        worst = row.worst
        where = f"{worst.wrt}{worst.worst_index}" if worst is not None else ""
        mark = ("[green]ok[/]" if row.mode != "error" else "") if row.passed else "[red]FAIL[/]"
        checked = (f"{row.n_entries} ({row.mode})" if row.checks else row.mode)
        t.add_row(row.name, row.type, str(row.n_params), checked, f"{row.max_abs_err:.3g}",
                  f"{row.max_rel_err:.3g}", where, mark)
    con.print(t)
    failure = report.first_failure
    if failure is None:
        con.print(f"[green]passed[/]: {len(report.modules)} modules and the end-to-end "
                  "check", highlight=False)
        return
    for c in failure.checks:
        if not c.passed:
            print_heatmap(con, c)
    reason = failure.describe()
    con.print(f"[red]FAILED[/]: first failing module {failure.name} ({failure.type}): ",
              end="", highlight=False)
    con.print(reason, markup=False, highlight=False)


def print_heatmap(con, check):
    from .heatmap import error_grid, render

    grid = error_grid(check)
    if grid is not None:
        con.print(render(grid))


def plot_first_failure(checks, path):
    """``--plot``: the heatmap of the first failing check as an image; returns a note."""
    from .heatmap import error_grid, save_plot

    failing = next((c for c in checks if not c.passed and error_grid(c) is not None), None)
    if failing is None:
        return f"--plot: no failing check with an error map; {path} not written"
    save_plot(error_grid(failing), path)
    return f"heatmap of {failing.wrt} written to {path}"


def check_torch_file(layer, tokens, shapes, options):
    """``gradcheck FILE.py:Name --torch``: the user's PyTorch code run by the real PyTorch
    (float64, random inputs that require grad), checked by nncheck's checker."""
    from ..autograd.checker import check_gradients
    from .parsing import UsageError, parse_layer_args
    from .user_code import is_user_target, resolve_user_target

    if not is_user_target(layer):
        raise UsageError(f"--torch checks a user's file, FILE.py:Name; got {layer!r}")
    try:
        import torch
    except ImportError:
        raise UsageError("--torch needs PyTorch installed (pip install torch)") from None
    args, kwargs = parse_layer_args(tokens)
    module, function, label = resolve_user_target(layer, args, kwargs, real_torch=True)
    func = module.double() if module is not None else function
    rng = np.random.default_rng(options["seed"])
    inputs = [torch.from_numpy(rng.standard_normal(s)).requires_grad_(True) for s in shapes]
    torch.manual_seed(options["seed"])
    try:
        report = check_gradients(func, inputs, eps=options["eps"], atol=options["atol"],
                                 rtol=options["rtol"], fast=options.get("fast", False),
                                 semantic=options.get("semantic", False), seed=options["seed"],
                                 workers=options.get("workers", 1))
    except RuntimeError as exc:  # PyTorch refused the inputs (shapes): one line
        raise UsageError(f"{layer}: {' '.join(str(exc).split())}") from None
    return {"layer": f"{label} (PyTorch)", **report.as_dict(), "seed": options["seed"]}, report
