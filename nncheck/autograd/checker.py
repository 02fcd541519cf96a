"""Numerical gradient checking: every Jacobian entry, with a report that says where.

``gradcheck`` has PyTorch's signature and verdict; ``check_gradients`` returns the
structured ``GradcheckReport`` the CLI prints (per input or parameter: worst
element, analytic vs numeric there, abs/rel error, how many entries fail).
"""

from dataclasses import dataclass, field

import numpy as np

from .. import random as _random
from .grad_mode import no_grad


class GradcheckError(RuntimeError):
    """Raised by ``gradcheck(..., raise_exception=True)`` on a mismatch."""


@dataclass
class TensorCheck:
    """The comparison of analytic and numerical gradients for one input or parameter."""

    wrt: str
    shape: tuple
    max_abs_err: float = 0.0
    max_rel_err: float = 0.0
    worst_index: list = field(default_factory=list)
    worst_output: str = ""
    worst_output_index: list = field(default_factory=list)
    analytic: float = 0.0
    numeric: float = 0.0
    n_failed: int = 0
    n_entries: int = 0
    passed: bool = True

    def as_dict(self):
        return {
            "wrt": self.wrt, "max_abs_err": self.max_abs_err, "max_rel_err": self.max_rel_err,
            "worst_index": self.worst_index, "passed": self.passed,
            "analytic": self.analytic, "numeric": self.numeric,
            "worst_output": self.worst_output, "worst_output_index": self.worst_output_index,
            "n_failed": self.n_failed, "n_entries": self.n_entries,
        }

    def describe(self):
        where = f"{self.wrt}{self.worst_index}"
        return (f"Jacobian mismatch for {where} (output {self.worst_output}"
                f"{self.worst_output_index}): analytic {self.analytic:.6g} vs numerical "
                f"{self.numeric:.6g} (abs err {self.max_abs_err:.3g}, rel err "
                f"{self.max_rel_err:.3g}); {self.n_failed} of {self.n_entries} entries out of "
                "tolerance")


@dataclass
class GradcheckReport:
    checks: list
    passed: bool
    eps: float
    atol: float
    rtol: float

    def as_dict(self):
        return {"passed": self.passed, "checks": [c.as_dict() for c in self.checks]}


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _flat_outputs(out):
    """Tensors in a (nested) output, in order; non-tensors are skipped."""
    from ..tensor import Tensor

    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flat_outputs(o)]
    return []


def _targets(func, inputs):
    """(name, tensor) pairs to differentiate: inputs that require grad, then module parameters."""
    from ..nn.modules.module import Module

    targets = [(f"input[{i}]", t) for i, t in enumerate(inputs)
               if getattr(t, "requires_grad", False)]
    if isinstance(func, Module):
        targets += [(name, p) for name, p in func.named_parameters() if p.requires_grad]
    return targets


def check_gradients(func, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, progress=None):
    """Compare the analytic Jacobian (backward) with central differences, entry by entry."""
    from ..tensor import Tensor
    from . import grad as autograd_grad

    inputs = _as_tuple(inputs)
    targets = _targets(func, inputs)
    if not targets:
        raise ValueError("gradcheck: no input or parameter requires grad; nothing to check")
    for name, t in targets:
        if not t.dtype.is_floating_point:
            raise ValueError(f"gradcheck: {name} is not floating point")
    rng_state = _random.get_rng_state()

    def run():
        _random.set_rng_state(rng_state)
        return _flat_outputs(func(*inputs))

    outputs = [o for o in run() if o.dtype.is_floating_point]
    # analytic Jacobian rows: one vector-Jacobian product per output element
    analytic = [[np.zeros((o.numel(), t.numel())) for _, t in targets] for o in outputs]
    wrt = [t for _, t in targets]
    for oi, out in enumerate(outputs):
        if not out.requires_grad:
            continue
        for j in range(out.numel()):
            onehot = np.zeros(out.numel(), out._data.dtype)
            onehot[j] = 1
            grads = autograd_grad(out, wrt, Tensor._wrap(onehot.reshape(out.shape)),
                                  retain_graph=True, allow_unused=True)
            for ti, g in enumerate(grads):
                if g is not None:
                    analytic[oi][ti][j] = g._data.reshape(-1)
    # numerical Jacobian columns: central differences, one pair of forwards per element
    numeric = [[np.zeros((o.numel(), t.numel())) for _, t in targets] for o in outputs]
    total = sum(t.numel() for t in wrt)
    done = 0
    with no_grad():
        for ti, t in enumerate(wrt):
            flat = t._data.reshape(-1)
            for i in range(flat.size):
                orig = flat[i]
                flat[i] = orig + eps
                plus = [o._data.astype(np.float64).reshape(-1) for o in run()]
                flat[i] = orig - eps
                minus = [o._data.astype(np.float64).reshape(-1) for o in run()]
                flat[i] = orig
                for oi in range(len(outputs)):
                    numeric[oi][ti][:, i] = (plus[oi] - minus[oi]) / (2 * eps)
                done += 1
                if progress is not None:
                    progress(done, total)
    _random.set_rng_state(rng_state)
    checks = []
    for ti, (name, t) in enumerate(targets):
        check = TensorCheck(name, tuple(t.shape), n_entries=0)
        worst_score = -np.inf
        for oi, out in enumerate(outputs):
            a, n = analytic[oi][ti], numeric[oi][ti]
            err = np.abs(a - n)
            allowed = atol + rtol * np.abs(n)
            bad = err > allowed
            check.n_entries += a.size
            check.n_failed += int(bad.sum())
            if not a.size:
                continue
            rel = err / np.maximum(np.abs(n), 1e-12)
            check.max_abs_err = max(check.max_abs_err, float(err.max()))
            check.max_rel_err = max(check.max_rel_err, float(np.where(err > 0, rel, 0).max()))
            score = err - allowed
            flat_idx = int(np.argmax(score))
            if score.reshape(-1)[flat_idx] > worst_score:
                worst_score = score.reshape(-1)[flat_idx]
                j, i = np.unravel_index(flat_idx, a.shape)
                check.worst_index = [int(v) for v in np.unravel_index(i, t.shape)]
                check.worst_output = f"output[{oi}]"
                check.worst_output_index = [int(v) for v in np.unravel_index(j, out.shape)]
                check.analytic, check.numeric = float(a[j, i]), float(n[j, i])
        check.passed = check.n_failed == 0
        checks.append(check)
    return GradcheckReport(checks, all(c.passed for c in checks), eps, atol, rtol)


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
              nondet_tol=0.0, check_undefined_grad=True, check_grad_dtypes=False,
              check_batched_grad=False, check_batched_forward_grad=False,
              check_forward_ad=False, check_backward_ad=True, fast_mode=False, masked=None):
    """``torch.autograd.gradcheck``: True when backward matches finite differences.

    A Module as ``func`` has its parameters checked too.  On failure the exception
    (or, with ``raise_exception=False``, the return value False) comes with the
    input or parameter name and the element index of the worst mismatch.
    """
    report = check_gradients(func, inputs, eps=eps, atol=atol, rtol=rtol)
    if report.passed:
        return True
    if raise_exception:
        failures = "\n".join(c.describe() for c in report.checks if not c.passed)
        raise GradcheckError(f"Gradient check failed:\n{failures}")
    return False


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3,
                  raise_exception=True, **kwargs):
    """Second-order check: gradcheck of the function ``inputs -> grad(func(inputs), inputs)``."""
    from ..factories import randn
    from . import grad as autograd_grad

    inputs = _as_tuple(inputs)
    outs = _flat_outputs(func(*inputs))
    if grad_outputs is None:
        grad_outputs = [randn(*o.shape, dtype=o.dtype, requires_grad=True) for o in outs]
    grad_outputs = list(_as_tuple(grad_outputs))

    def first_order(*args):
        xs, gos = args[:len(inputs)], args[len(inputs):]
        res = _flat_outputs(func(*xs))
        wrt = [x for x in xs if getattr(x, "requires_grad", False)]
        return autograd_grad(res, wrt, list(gos), create_graph=True, allow_unused=True,
                             materialize_grads=True)

    return gradcheck(first_order, (*inputs, *grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
