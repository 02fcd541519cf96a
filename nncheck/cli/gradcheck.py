"""``nncheck gradcheck``: build the layer in float64, check it, render the report."""

import shlex

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


def check_one(target, shapes, options, progress=False):
    """Check one layer; returns (JSON-ready result, GradcheckReport).

    Inputs that land on a kink are redrawn (new seed) so a correct layer is not
    judged at a point where it has no derivative; the kinks are still reported.
    """
    from ..random import manual_seed

    seed = options["seed"]
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
                                     reference=reference, workers=options.get("workers", 1))
        finally:
            if bar:
                bar.close()
        if not any(c.n_kinks for c in report.checks) or attempt == REDRAWS - 1:
            break
        seed += 1000
    result = {"layer": target.describe(), **report.as_dict(), "seed": seed}
    return result, report


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
    for name, outcome in report.semantic.items():
        mark = "[green]ok[/]" if outcome["passed"] else "[red]FAIL[/]"
        con.print(f"{name.replace('_', ' ')}: {mark} {outcome['detail']}", highlight=False)
    kinks = sum(c.n_kinks for c in report.checks)
    if kinks:
        con.print(f"{kinks} entries sit on a kink (one-sided differences disagree); "
                  "not counted as failures", highlight=False)
    con.print(f"{report.forward_calls} forward and {report.backward_calls} backward calls",
              highlight=False)
    con.print("[green]passed[/]" if report.passed else "[red]FAILED[/]")


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
    if not quiet:
        con.print(t)
        failed = [r["layer"] for r in results if not r["passed"]]
        con.print(f"{len(results) - len(failed)}/{len(results)} layers passed"
                  + (f"; failed: {', '.join(failed)}" if failed else ""))
    return results
