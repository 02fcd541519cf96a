"""Gradient check of a whole model, layer by layer, on the activations it really sees.

``check_model(model, inputs)`` runs the model once in float64 with forward pre-hooks
that record what every checked module receives (every module but the root and the
plain containers Sequential/ModuleList/ModuleDict), then checks each of them on those
inputs, its parameters included, with the single-layer checker.  A module whose
Jacobian is small is checked entry by entry (``check_gradients``); a bigger one is
*sampled*: a few random projections u^T J v over all its inputs and parameters at once,
plus, per input or parameter, some columns e_s compared through the same u
((J^T u)_s by one backward against u . (central difference along e_s)), which names
the element.  Last, the whole model is checked end to end by random projections only.
Memory stays at a few copies of the outputs per module: no model Jacobian is ever built.
"""

import contextlib
import copy
import ctypes
import os
import time
from dataclasses import dataclass, field

from .. import random as _random
from .._lazy import np
from ..nn.modules.module import Module
from .checker import TensorCheck, _Problem, check_gradients
from .grad_mode import no_grad

FULL_ENTRIES = 1 << 21  # modules with Jacobians up to this many entries are checked in full,
FULL_COLUMNS = 4096  # and up to this many input and parameter elements (colouring time)
SAMPLED_COLUMNS = 48  # columns drawn per sampled module, shared out over its inputs/params
DIRECTIONS = 4  # random projections u^T J v per sampled module and end to end
KINK_REDRAWS = 3  # fresh directions tried per direction that crosses a kink (ReLU, max-pool)
PROJECTION = "u^T J v"  # the name of the check over random directions


@dataclass
class ModuleCheck:
    """One row of the model report: a module (or the end-to-end check) and its checks."""

    name: str
    type: str
    n_params: int = 0
    mode: str = "full"  # full | sampled | projection | not called | nothing to check | error
    calls: int = 0
    checks: list = field(default_factory=list)
    passed: bool = True
    error: str = ""
    seconds: float = 0.0

    @property
    def n_entries(self):
        return sum(c.n_entries for c in self.checks)

    @property
    def max_abs_err(self):
        return max((c.max_abs_err for c in self.checks), default=0.0)

    @property
    def max_rel_err(self):
        return max((c.max_rel_err for c in self.checks), default=0.0)

    @property
    def worst(self):
        """The check to show: the worst failing one, else the element with the largest error
        (a projection sums many entries, so its error is larger without saying where)."""
        return max(self.checks, key=lambda c: (not c.passed, c.wrt != PROJECTION,
                                               c.max_abs_err), default=None)

    def describe(self):
        """Why the row failed, in one line ('' when it passed)."""
        if self.error or self.passed:
            return self.error
        c = next(c for c in self.checks if not c.passed)
        if self.mode == "full":
            return c.describe()
        return (f"{c.wrt}{c.worst_index}: projected analytic {c.analytic:.6g} vs numerical "
                f"{c.numeric:.6g} (abs err {abs(c.analytic - c.numeric):.3g}); {c.n_failed} of "
                f"{c.n_entries} random projections out of tolerance")

    def as_dict(self):
        out = {"name": self.name, "type": self.type, "passed": self.passed, "mode": self.mode,
               "params": self.n_params, "calls": self.calls, "n_entries": self.n_entries,
               "max_abs_err": self.max_abs_err, "max_rel_err": self.max_rel_err,
               "seconds": round(self.seconds, 4), "checks": [c.as_dict() for c in self.checks]}
        if self.error:
            out["error"] = self.error
        return out


@dataclass
class ModelReport:
    layer: str
    modules: list
    end_to_end: ModuleCheck
    seconds: float = 0.0

    @property
    def passed(self):
        return self.end_to_end.passed and all(m.passed for m in self.modules)

    @property
    def first_failure(self):
        """The first failing module in forward order (the end-to-end row if none fails)."""
        return next((m for m in self.modules if not m.passed),
                    None if self.end_to_end.passed else self.end_to_end)

    def as_dict(self):
        return {"layer": self.layer, "passed": self.passed,
                "modules": [m.as_dict() for m in self.modules],
                "end_to_end": self.end_to_end.as_dict(), "seconds": round(self.seconds, 3)}


def checked_modules(model):
    """(qualified name, module) for every module checked on its own: all but the root and
    the plain containers, whose forward only routes to their children."""
    from ..nn.modules.container import ModuleDict, ModuleList, Sequential

    return [(name, m) for name, m in model.named_modules()
            if name and not isinstance(m, (Sequential, ModuleList, ModuleDict))]


def check_model(model, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0, progress=None,
                full_entries=FULL_ENTRIES, columns=SAMPLED_COLUMNS, directions=DIRECTIONS):
    """Check ``model``'s gradients module by module, then end to end; a ``ModelReport``.

    The model and inputs are copied to float64 first (the caller's stay untouched).
    ``progress(done, total, name)`` is called before each module's check.
    """
    from .torch_adapter import involves_torch

    if involves_torch(model, inputs):
        raise TypeError("check_model takes an nncheck model and tensors; load a PyTorch model "
                        "file with nncheck.as_torch() (what `nncheck gradcheck FILE.py:Name` "
                        "does) to check it layer by layer")
    start = time.perf_counter()
    model = copy.deepcopy(model).double()
    inputs = [_float64_copy(x, grad=True) for x in _as_tuple(inputs)]
    named = checked_modules(model)
    rng_state = _random.get_rng_state()
    seen = _record_calls(model, inputs, named)
    with _one_kernel_thread():
        rows, end = _check_all(model, inputs, named, seen, rng_state, eps, atol, rtol, seed,
                               progress, full_entries, columns, directions)
    return ModelReport(type(model).__name__, rows, end, time.perf_counter() - start)


def _check_all(model, inputs, named, seen, rng_state, eps, atol, rtol, seed, progress,
               full_entries, columns, directions):
    rows, total = [], len(named) + 1
    order = sorted(named, key=lambda nm: seen[id(nm[1])]["order"] if id(nm[1]) in seen
                   else len(named))
    for done, (name, module) in enumerate(order):
        if progress is not None:
            progress(done, total, name)
        row = ModuleCheck(name, type(module).__name__, _n_params(module))
        call = seen.get(id(module))
        t0 = time.perf_counter()
        if call is None:
            row.mode = "not called"
        else:
            row.calls = call["calls"]
            _check_module(row, module, call, eps, atol, rtol, seed, full_entries, columns,
                          directions)
        row.seconds = time.perf_counter() - t0
        rows.append(row)
    if progress is not None:
        progress(total - 1, total, "end to end")
    _random.set_rng_state(rng_state)
    end = ModuleCheck("(end to end)", type(model).__name__, _n_params(model), "projection",
                      calls=1)
    t0 = time.perf_counter()
    _guard(end, lambda: _projection_only(end, model, inputs, eps, atol, rtol, seed,
                                         directions))
    end.seconds = time.perf_counter() - t0
    if progress is not None:
        progress(total, total, "")
    _random.set_rng_state(rng_state)
    return rows, end


@contextlib.contextmanager
def _one_kernel_thread():
    """Run the kernels and the BLAS on one thread meanwhile: the checks are thousands of
    small forward calls, where waking thread teams costs more than it saves, and far more
    on a busy machine (a Conv-BN-ReLU 16x32x32 model on 2 shared cores: 88 s with the
    default threads, 1.7 s on one)."""
    from .._kernels.blas_threads import blas_thread_controls, numpy_blas_thread_controls

    controls = [c for c in (blas_thread_controls(), numpy_blas_thread_controls()) if c]
    try:
        gomp = ctypes.CDLL("libgomp.so.1", mode=os.RTLD_NOLOAD)
        controls.append((gomp.omp_get_max_threads, gomp.omp_set_num_threads))
    except OSError:  # no OpenMP runtime loaded: nothing to set
        pass
    before = [get() for get, _ in controls]
    for _, set_ in controls:
        set_(1)
    try:
        yield
    finally:
        for (_, set_), n in zip(controls, before):
            set_(n)


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _n_params(module):
    return sum(p.numel() for p in module.parameters())


def _float64_copy(x, grad):
    """A fresh leaf holding a copy of ``x`` (float64 if floating); other values as they are.
    ``grad``: floating copies require grad (for the model's inputs); otherwise they do where
    ``x`` did (an activation computed from parameters, not a constant)."""
    from ..tensor import Tensor

    if isinstance(x, Tensor):
        floating = x._data.dtype.kind == "f"
        data = x._data.astype(np.float64) if floating else x._data.copy()
        return Tensor._wrap(data, requires_grad=floating and (grad or x.requires_grad))
    if isinstance(x, (tuple, list)):
        return type(x)(_float64_copy(v, False) for v in x)
    return x


def _record_calls(model, inputs, named):
    """Run the model once; per checked module, copies of the arguments of its first call,
    its output size and how often it was called."""
    from .checker import _flat_outputs

    seen = {}

    def pre_hook(module, args, kwargs):
        call = seen.get(id(module))
        if call is not None:
            call["calls"] += 1
            return
        seen[id(module)] = {"order": len(seen), "calls": 1, "outputs": 0,
                            "args": [_float64_copy(a, False) for a in args],
                            "kwargs": {k: _float64_copy(v, False) for k, v in kwargs.items()}}

    def post_hook(module, args, output):
        call = seen[id(module)]
        if call["calls"] == 1:
            call["outputs"] = sum(o.numel() for o in _flat_outputs(output))

    handles = []
    for _, module in named:
        handles.append(module.register_forward_pre_hook(pre_hook, with_kwargs=True))
        handles.append(module.register_forward_hook(post_hook))
    try:
        model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return seen


def _guard(row, check):
    """Run one row's check; a module that raises is a failed row with the reason."""
    try:
        check()
    except Exception as exc:  # the user's module raised while being checked: report it
        row.mode, row.passed = "error", False
        row.error = f"{type(exc).__name__}: {exc}"


def _check_module(row, module, call, eps, atol, rtol, seed, full_entries, columns, directions):
    in_place = getattr(module, "inplace", False) is True
    func = _Call(module, call["kwargs"], in_place) if call["kwargs"] or in_place else module
    inputs = call["args"]
    sizes = [a.numel() for a in inputs if getattr(a, "requires_grad", False)]
    sizes += [p.numel() for p in module.parameters() if p.requires_grad]
    if not sizes:
        row.mode = "nothing to check"
        return
    if call["outputs"] * sum(sizes) <= full_entries and sum(sizes) <= FULL_COLUMNS:
        row.mode = "full"

        def full():
            report = check_gradients(func, inputs, eps=eps, atol=atol, rtol=rtol, seed=seed)
            row.checks, row.passed = report.checks, report.passed
        _guard(row, full)
    else:
        row.mode = "sampled"
        _guard(row, lambda: _sampled(row, func, inputs, eps, atol, rtol, seed, columns,
                                     directions))
    if func is not module:
        for c in row.checks:
            c.wrt = c.wrt.removeprefix("module.")


class _Call(Module):
    """A module as the checker calls it: with the keyword arguments it was called with,
    on copies of its inputs when it works in place (the checker differentiates positional
    inputs and the module's parameters, and needs them unchanged by each call)."""

    def __init__(self, module, kwargs, copy_inputs):
        super().__init__()
        self.module, self._kwargs, self._copy = module, kwargs, copy_inputs

    def forward(self, *args):
        if self._copy:
            args = [a.clone() if hasattr(a, "clone") else a for a in args]
        return self.module(*args, **self._kwargs)


class _Projections:
    """Random projections of one function's Jacobian, J: targets -> outputs.

    ``analytic(u)``: J^T u per target, from one backward.  ``numeric(u, steps)``:
    u . (f(x + eps*v) - f(x - eps*v)) / (2 eps) for the per-target directions ``steps``,
    and whether one-sided differences disagree there (a kink crossed)."""

    def __init__(self, func, inputs, eps, atol, rtol):
        self.problem = _Problem(func, inputs)
        self.eps, self.atol, self.rtol = eps, atol, rtol
        self.targets = self.problem.targets
        with no_grad():
            self.base = self.problem.values()

    def analytic(self, u):
        from ..tensor import Tensor
        from . import grad as autograd_grad

        p, outs, cot, start = self.problem, [], [], 0
        for o in p.outputs:
            if o.requires_grad:
                outs.append(o)
                cot.append(Tensor._wrap(u[start:start + o.numel()].reshape(o.shape)
                                        .astype(o._data.dtype)))
            start += o.numel()
        if not outs:
            return [np.zeros(t.numel()) for _, t in self.targets]
        grads = autograd_grad(outs, [t for _, t in self.targets], cot, retain_graph=True,
                              allow_unused=True)
        p.backward_calls += 1
        return [np.zeros(t.numel()) if g is None else g._data.reshape(-1).astype(np.float64)
                for (_, t), g in zip(self.targets, grads)]

    def _shifted(self, steps, scale):
        saved = []
        try:
            for (_, t), step in zip(self.targets, steps):
                if step is not None:
                    saved.append((t, t._data.copy()))
                    t._data += (scale * step).reshape(t._data.shape).astype(t._data.dtype)
            with no_grad():
                return self.problem.values()
        finally:
            for t, data in saved:
                t._data[...] = data

    def numeric(self, u, steps):
        """(u . central difference, |u| . |central difference|, kink crossed?)"""
        plus, minus = self._shifted(steps, self.eps), self._shifted(steps, -self.eps)
        central = (plus - minus) / (2 * self.eps)
        right, left = (plus - self.base) / self.eps, (self.base - minus) / self.eps
        scale = float(np.abs(u) @ np.abs(central))
        # on a smooth function the two sides differ by eps * curvature (~1e-6 relative);
        # a bound well under rtol, so that no kink crossed passes for a wrong backward
        kink = abs(float(u @ right) - float(u @ left)) > 0.1 * self.atol + 1e-4 * scale
        return float(u @ central), scale, kink


def _projection_check(proj, rng, directions):
    """u^T J v over every target at once for ``directions`` random (u, v): one TensorCheck.
    A direction whose one-sided differences disagree crossed a kink (ReLU, max-pool tie):
    it is counted in ``n_kinks``, not scored, and another is drawn, a few times at most (at
    a point that is itself a kink, such as tied zeros under max-pool, every one crosses)."""
    n_out = len(proj.base)
    check = TensorCheck(PROJECTION, (directions,))
    for _ in range(directions * (1 + KINK_REDRAWS)):
        if check.n_entries == directions:
            break
        u = rng.standard_normal(n_out)
        vs = [rng.standard_normal(t.numel()) for _, t in proj.targets]
        # a unit step in total: a model has ~1e5 ReLUs, and a longer step crosses some kink
        norm = np.sqrt(sum(float(v @ v) for v in vs))
        vs = [v / norm for v in vs]
        numeric, scale, kink = proj.numeric(u, vs)
        if kink:
            check.n_kinks += 1
            continue
        analytic = sum(float(g @ v) for g, v in zip(proj.analytic(u), vs))
        _score(check, [check.n_entries], analytic, numeric, scale, proj.atol, proj.rtol)
        check.n_entries += 1
    return check


def _score(check, index, analytic, numeric, scale, atol, rtol):
    """Fold one compared pair into ``check``; the worst pair (failing first) is kept."""
    err = abs(analytic - numeric)
    bad = err > atol + rtol * scale
    worst_so_far = (check.n_failed > 0, abs(check.analytic - check.numeric))
    check.n_failed += int(bad)
    check.max_abs_err = max(check.max_abs_err, err)
    if abs(numeric) > atol:
        check.max_rel_err = max(check.max_rel_err, err / abs(numeric))
    if not check.worst_index or (bad, err) > worst_so_far:
        check.worst_index, check.analytic, check.numeric = list(index), analytic, numeric
    check.passed = check.n_failed == 0


def _column_checks(proj, rng, columns, directions):
    """Per target, sampled elements e_s compared through ``directions`` random u:
    (J^T u)_s against u . (central difference along e_s); each a TensorCheck by element."""
    n_out = len(proj.base)
    us = [rng.standard_normal(n_out) for _ in range(directions)]
    grads = [proj.analytic(u) for u in us]
    per_target = max(2, columns // len(proj.targets))
    checks = []
    for ti, (name, t) in enumerate(proj.targets):
        check = TensorCheck(name, tuple(t.shape))
        picked = rng.choice(t.numel(), min(per_target, t.numel()), replace=False)
        for col in np.sort(picked):
            index = [int(v) for v in np.unravel_index(col, t.shape)]
            with no_grad():
                plus = proj.problem.perturbed(t, np.array([col]), proj.eps)
                minus = proj.problem.perturbed(t, np.array([col]), -proj.eps)
            central = (plus - minus) / (2 * proj.eps)
            right, left = (plus - proj.base) / proj.eps, (proj.base - minus) / proj.eps
            for u, g in zip(us, grads):
                scale = float(np.abs(u) @ np.abs(central))
                if abs(float(u @ right) - float(u @ left)) > proj.atol + proj.rtol * scale \
                        and abs(g[ti][col] - float(u @ central)) > proj.atol + proj.rtol * scale:
                    check.n_kinks += 1  # one-sided differences disagree: not a failure
                    continue
                check.n_entries += 1
                _score(check, index, float(g[ti][col]), float(u @ central), scale, proj.atol,
                       proj.rtol)
        checks.append(check)
    return checks


def _sampled(row, func, inputs, eps, atol, rtol, seed, columns, directions):
    rng = np.random.default_rng(seed)
    proj = _Projections(func, inputs, eps, atol, rtol)
    overall = _projection_check(proj, rng, directions)
    row.checks = _column_checks(proj, rng, columns, directions) + [overall]
    row.passed = all(c.passed for c in row.checks)
    _random.set_rng_state(proj.problem.rng_state)


def _projection_only(row, model, inputs, eps, atol, rtol, seed, directions):
    proj = _Projections(model, inputs, eps, atol, rtol)
    row.checks = [_projection_check(proj, np.random.default_rng(seed), directions)]
    row.passed = row.checks[0].passed
