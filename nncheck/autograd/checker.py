"""Numerical gradient checking: every Jacobian entry, with a report that says where.

``gradcheck`` has PyTorch's signature and verdict; ``check_gradients`` returns the
structured ``GradcheckReport`` the CLI prints (per input or parameter: worst
element, analytic vs numeric there, abs/rel error, how many entries fail, kinks,
and the bug signature when one is recognised).

How it stays rigorous and fast: the analytic Jacobian comes from one
vector-Jacobian product per output element.  Its sparsity says which outputs
each input element can reach (its footprint); input elements with disjoint
footprints are perturbed together, so one pair of forward calls yields many
numerical Jacobian columns (graph colouring, as in sparse finite differences).
An output that moves outside the footprints of a group, or a central difference
along one random direction that the coloured Jacobian does not reproduce, means
the analytic sparsity is wrong; the groups concerned, and every column that
disagrees, are redone one element at a time, so the reported numbers are those
of plain central differences.

The forward calls themselves are replays of the recorded Function forwards
(``replay.py``), and where the ops allow, stacked replays: the perturbed copies of
one tensor K at a time along a new leading axis (``_Problem.perturbed_many``).
"""

import math
import time
from dataclasses import dataclass, field

from .. import random as _random
from .._lazy import np
from ..backend import array_namespace
from .grad_mode import no_grad
from .sampling import (
    Budget,
    analytic_epsilon,
    forward_calls_after_colouring,
    projection_gap,
    vjp,
)


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
    n_kinks: int = 0
    n_entries: int = 0
    signature: str = ""
    passed: bool = True
    # where the error lives, for heatmaps: per element of the tensor, max |analytic -
    # numeric| over the outputs and whether any entry failed; the whole (outputs x elements)
    # error and failure matrices too when the check failed and they are small
    column_error: object = field(default=None, repr=False, compare=False)
    column_failed: object = field(default=None, repr=False, compare=False)
    jacobian_error: object = field(default=None, repr=False, compare=False)
    jacobian_failed: object = field(default=None, repr=False, compare=False)

    def as_dict(self):
        return {
            "wrt": self.wrt, "max_abs_err": self.max_abs_err, "max_rel_err": self.max_rel_err,
            "worst_index": self.worst_index, "passed": self.passed,
            "analytic": self.analytic, "numeric": self.numeric,
            "worst_output": self.worst_output, "worst_output_index": self.worst_output_index,
            "n_failed": self.n_failed, "n_kinks": self.n_kinks, "n_entries": self.n_entries,
            "signature": self.signature,
        }

    def describe(self):
        where = f"{self.wrt}{self.worst_index}"
        text = (f"Jacobian mismatch for {where} (output {self.worst_output}"
                f"{self.worst_output_index or ''}): analytic {self.analytic:.6g} vs numerical "
                f"{self.numeric:.6g} (abs err {self.max_abs_err:.3g}, rel err "
                f"{self.max_rel_err:.3g}); {self.n_failed} of {self.n_entries} entries out of "
                "tolerance")
        return text + (f"; looks like: {self.signature}" if self.signature else "")


@dataclass
class GradcheckReport:
    checks: list
    passed: bool
    eps: float
    atol: float
    rtol: float
    forward_calls: int = 0
    backward_calls: int = 0
    semantic: dict = field(default_factory=dict)
    total_entries: int = 0  # of the whole Jacobian
    checked_entries: int = 0  # compared entry by entry (fewer when sampled or interrupted)
    sampled: bool = False  # a random sample plus random projections, to fit max_seconds
    sample: dict = field(default_factory=dict)  # rows, projections, full_seconds
    interrupted: bool = False  # Ctrl-C: ``checks`` holds the tensors finished
    unchecked: list = field(default_factory=list)  # the tensors an interruption left

    def as_dict(self):
        out = {"passed": self.passed, "checks": [c.as_dict() for c in self.checks],
               "forward_calls": self.forward_calls, "backward_calls": self.backward_calls,
               "sampled": self.sampled, "checked_entries": self.checked_entries,
               "total_entries": self.total_entries}
        if self.sampled:
            out["sample"] = self.sample
        if self.interrupted:
            out.update(interrupted=True, unchecked=self.unchecked)
        if self.semantic:
            out["semantic"] = self.semantic
        return out


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _flat_outputs(out):
    """Tensors in a (nested) output, in order; non-tensors are skipped."""
    from ..tensor import Tensor

    flat, pending = [], [out]
    while pending:
        item = pending.pop()
        if isinstance(item, Tensor):
            flat.append(item)
        elif isinstance(item, (tuple, list)):
            pending.extend(reversed(item))
    return flat


def _targets(func, inputs):
    """(name, tensor) pairs to differentiate: inputs that require grad, then module parameters."""
    from ..nn.modules.module import Module

    targets = [(f"input[{i}]", t) for i, t in enumerate(inputs)
               if getattr(t, "requires_grad", False)]
    if isinstance(func, Module):
        targets += [(name, p) for name, p in func.named_parameters() if p.requires_grad]
    return targets


class _Problem:
    """The function under test, its differentiable outputs and the tensors to check."""

    def __init__(self, func, inputs):
        self.func, self.inputs = func, _as_tuple(inputs)
        self.targets = _targets(func, self.inputs)
        if not self.targets:
            raise ValueError("gradcheck: no input or parameter requires grad; nothing to check")
        for name, t in self.targets:
            if not t.dtype.is_floating_point:
                raise ValueError(f"gradcheck: {name} is not floating point")
        self.rng_state = _random.get_rng_state()
        self.random = True  # until the first call shows it draws nothing
        self.forward_calls = self.backward_calls = 0
        self.replayer = None  # not recorded yet; False: no faithful replay
        self.stackable = {}  # per target (id): may its differences use stacked replays?
        self.base = None  # the outputs at the point, by a plain replay (``_faithful``)
        self.outputs = [o for o in self.run() if o.dtype.is_floating_point]
        self.random = _random.get_rng_state() != self.rng_state
        self.sizes = [o.numel() for o in self.outputs]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(int)

    def run(self):
        """One forward call, with the random state of the first (dropout stays fixed)."""
        if self.random:
            _random.set_rng_state(self.rng_state)
        self.forward_calls += 1
        return _flat_outputs(self.func(*self.inputs))

    def values(self, replay=False, stacked=None):
        """All differentiable outputs of a fresh forward, concatenated, in float64.
        ``replay``: by the recorded Function forwards alone, when a faithful record exists
        (``replay.py``; the bulk of the numerical Jacobian, not the values reported).
        ``stacked=(data, copies)``: (K, outputs), each copy standing in for the target
        storage ``data``, by one stacked replay (``_stacked_rows``)."""
        if stacked is not None:
            return self._stacked_values(*stacked)
        replayer = self._replay() if replay else None
        arrays = None
        if replayer is not None:
            self.forward_calls += 1
            try:
                arrays = replayer.arrays()
            except Exception:  # noqa: BLE001  (the ops took another path: forward for real)
                self.replayer = False
        if arrays is None:
            with no_grad():
                arrays = [o._data for o in self.run()]
        # np.asarray: a device tensor's values come back to the host for the comparison
        outs = [np.asarray(a).reshape(-1) for a in arrays if a.dtype.kind == "f"]
        if len(outs) == 1:  # a copy: the array may share storage with an input
            return outs[0].astype(np.float64)
        if not outs:
            return np.zeros(0)
        return np.concatenate(outs).astype(np.float64, copy=False)

    def _replay(self):
        """The forward as a replay of its Function forwards, recorded on first use and kept
        only if it reproduces the real forward exactly with every target moved; else None."""
        if self.replayer is not None:
            return self.replayer or None
        from ..tensor import Tensor
        from .replay import record

        self.replayer = False
        if self.random:
            return None
        self.forward_calls += 1
        replayer = record(lambda: _flat_outputs(self.func(*self.inputs)), Tensor)[1]
        if replayer is None:
            return None
        rng = np.random.default_rng(1)
        saved = [t._data.copy() for _, t in self.targets]
        try:
            for _, t in self.targets:  # a move of every element, large enough to show
                t._data += rng.uniform(-1e-3, 1e-3, t._data.shape) * (1 + np.abs(t._data))
            real = self.values()
            self.replayer = replayer
            replayed = self.values(replay=True)
            same = real.shape == replayed.shape and np.array_equal(real, replayed,
                                                                   equal_nan=True)
        except Exception:  # noqa: BLE001  (a replay that cannot run is simply not used)
            same = False
        finally:
            for (_, t), data in zip(self.targets, saved):
                t._data[...] = data
        self.replayer = replayer if same else False
        return self.replayer or None

    def locate(self, row):
        k = int(np.searchsorted(self.offsets, row, side="right") - 1)
        return k, [int(v) for v in np.unravel_index(row - self.offsets[k],
                                                    self.outputs[k].shape)]

    def analytic(self, rows=None, block=None, columns=None):
        """Analytic Jacobian per target: (len(rows), target numel), from one-hot VJPs, all
        rows unless ``rows`` is given (``nncheck.distributed`` gives each rank a share).
        ``block=(target, lo, hi)`` keeps only that target's columns [lo, hi), one array;
        ``columns`` (per target, element indices) keeps only those columns (a sample)."""
        rows = np.arange(self.offsets[-1]) if rows is None else np.asarray(rows, int)
        keep = block or (None, 0, None)
        if columns is not None:
            jac = [np.zeros((len(rows), len(c))) for c in columns]
        else:
            jac = [np.zeros((len(rows), (keep[2] or t.numel()) - keep[1]))
                   if block is None or ti == block[0] else None
                   for ti, (_, t) in enumerate(self.targets)]
        vjp, stack = self._node_vjp() or self._graph_vjp() or (self._engine_vjp, 1)
        which = np.searchsorted(self.offsets, rows, side="right") - 1
        for k, out in enumerate(self.outputs):
            mine = np.nonzero(which == k)[0]
            if not out.requires_grad:
                continue
            # K one-hot cotangents at a time, K bounded so the stacked gradients stay small
            per_row = out.numel() + sum(t.numel() for _, t in self.targets)
            chunk = max(1, min(stack, (1 << 21) // per_row))
            for start in range(0, len(mine), chunk):
                part = mine[start:start + chunk]
                onehots = np.zeros((len(part),) + tuple(out.shape), out._data.dtype)
                onehots.reshape(len(part), -1)[np.arange(len(part)),
                                               rows[part] - self.offsets[k]] = 1
                onehots = array_namespace(out._data).asarray(onehots)  # on out's device
                for ti, g in vjp(out, onehots):
                    if jac[ti] is not None:
                        g = g.reshape(len(part), -1)
                        jac[ti][part] += (g[:, columns[ti]] if columns is not None
                                          else g[:, keep[1]:keep[2]])
                self.backward_calls += 1
        return jac if block is None else jac[block[0]]

    def _engine_vjp(self, out, onehots):
        from ..tensor import Tensor
        from . import grad as autograd_grad

        grads = autograd_grad(out, [t for _, t in self.targets], Tensor._wrap(onehots[0]),
                              retain_graph=True, allow_unused=True)
        return [(ti, np.asarray(g._data)) for ti, g in enumerate(grads) if g is not None]

    def _node_vjp(self):
        """When every output comes from one node whose inputs are the targets themselves
        (a layer: one op on its input and parameters) and no hook is attached, a VJP is
        that node's backward alone: the same code the engine would run, without the engine's
        per-call bookkeeping, and for ops with ``backward_stacked`` many rows in one call.
        Returns (vjp, rows per call), or None."""
        from .function import AccumulateGrad, BackwardNode

        nodes = {id(o.grad_fn): o.grad_fn for o in self.outputs if o.requires_grad}
        node = next(iter(nodes.values())) if len(nodes) == 1 else None
        if (not isinstance(node, BackwardNode) or node._hooks or node._pre_hooks
                or getattr(node, "_tensor_hooks", None) or getattr(node, "_retained", None)):
            return None
        target_of = {id(t): ti for ti, (_, t) in enumerate(self.targets)}
        slots = []  # per input of the node: the target its gradient belongs to, or None
        for nxt, _ in node.next_functions:
            if nxt is None:
                slots.append(None)
            elif isinstance(nxt, AccumulateGrad) and id(nxt.variable) in target_of:
                slots.append(target_of[id(nxt.variable)])
            else:
                return None
        stacked = hasattr(node.fn_cls, "backward_stacked")

        def vjp(out, onehots):
            with no_grad():
                if stacked:  # zeros for the other outputs, as ``apply`` materialises them
                    buf = [onehots if i == out._output_nr else None if not
                           node.ctx.materialize_grads else (meta[2] if len(meta) == 3 else np)
                           .zeros((len(onehots),) + tuple(meta[0]), meta[1])
                           for i, meta in enumerate(node.output_meta)]
                    grads = node.apply_stacked(buf)
                else:
                    buf = [None] * node.n_outputs
                    buf[out._output_nr] = onehots[0]
                    grads = node.apply(buf)
            return [(ti, np.asarray(getattr(g, "_data", g))) for ti, g in zip(slots, grads)
                    if ti is not None and g is not None]

        return vjp, (256 if stacked else 1)

    def _graph_vjp(self):
        """When every node between the outputs and the targets is a raw op's BackwardNode
        and nothing has a hook, K rows go through the graph together: ops with
        ``backward_stacked`` take all K in one call, the others one row at a time, without
        the engine's per-pass bookkeeping (Tensor wrapping, Tensor additions, a
        topological sort per row).  A chunk this walk cannot take (a gradient of another
        shape than its edge's, an output that is a leaf) goes through the engine row by
        row.  Returns (vjp, rows per call), or None."""
        from .engine import _topological_order
        from .function import AccumulateGrad, BackwardNode

        if any(o._data.__class__ is not np.ndarray for o in self.outputs):
            return None
        order = _topological_order([o.grad_fn for o in self.outputs if o.requires_grad])
        for node in order:
            hooked = (node._hooks or node._pre_hooks or getattr(node, "_tensor_hooks", None)
                      or getattr(node, "_retained", None))
            if isinstance(node, AccumulateGrad):
                hooked = hooked or node.variable._hooks
            elif not isinstance(node, BackwardNode) or not node.fn_cls.raw:
                return None
            if hooked:
                return None
        # where each target's gradient is read, as the engine does: its node's output slot
        # (AccumulateGrad for a leaf); a tensor passed twice (q, q, q) is several targets
        target_at = {}
        for ti, (_, t) in enumerate(self.targets):
            target_at.setdefault((t._grad_node(), t._output_nr), []).append(ti)

        def edge_shape(nxt, slot):
            if isinstance(nxt, AccumulateGrad):
                return tuple(nxt.variable.shape)
            return tuple(nxt.output_meta[slot][0])

        def walk(out, onehots):
            k_rows = len(onehots)
            buffers = {out.grad_fn: [None] * out.grad_fn.n_outputs}
            buffers[out.grad_fn][out._output_nr] = onehots
            found = []
            for node in order:
                buf = buffers.pop(node, None)
                if buf is None:
                    continue
                for slot, g in enumerate(buf):
                    if g is not None:
                        found += [(ti, g) for ti in target_at.get((node, slot), ())]
                if isinstance(node, AccumulateGrad):
                    continue
                if hasattr(node.fn_cls, "backward_stacked"):
                    if node.n_outputs > 1 and node.ctx.materialize_grads:  # as ``apply``
                        buf = [np.zeros((k_rows,) + tuple(meta[0]), meta[1]) if b is None
                               else b for b, meta in zip(buf, node.output_meta)]
                    in_grads = node.apply_stacked(buf)
                else:  # one row at a time, stacked again
                    per_row = [node.apply([None if b is None else b[r] for b in buf])
                               for r in range(k_rows)]
                    in_grads = []
                    for grads in zip(*per_row):
                        arrays = [getattr(g, "_data", g) for g in grads]
                        some = next((a for a in arrays if a is not None), None)
                        in_grads.append(None if some is None else np.stack(
                            [np.zeros_like(some) if a is None else a for a in arrays]))
                for (nxt, slot), g in zip(node.next_functions, in_grads):
                    if nxt is None or g is None:
                        continue
                    g = np.asarray(getattr(g, "_data", g))
                    if g.shape != (k_rows,) + edge_shape(nxt, slot):
                        raise _NotStackable
                    slots = buffers.setdefault(nxt, [None] * getattr(nxt, "n_outputs", 1))
                    slots[slot] = g if slots[slot] is None else slots[slot] + g
            return found

        def vjp(out, onehots):
            try:
                if out.grad_fn is None:  # an input returned as it is
                    raise _NotStackable
                with no_grad():
                    return walk(out, onehots)
            except _NotStackable:
                rows = [dict(self._engine_vjp(out, onehots[r:r + 1]))
                        for r in range(len(onehots))]
                some = {ti: g for row in rows for ti, g in row.items()}
                return [(ti, np.stack([row.get(ti, np.zeros_like(g)) for row in rows]))
                        for ti, g in some.items()]

        # K rows of every intermediate gradient live at once: bound their total size
        carried = sum(math.prod(meta[0]) for node in order if isinstance(node, BackwardNode)
                      for meta in node.output_meta)
        return vjp, max(1, min(256, (1 << 21) // max(1, carried)))

    def perturbed(self, tensor, columns, step, replay=False):
        """Output values with ``step`` added to the given elements of ``tensor``."""
        data = tensor._data
        if data.__class__ is np.ndarray and data.flags.c_contiguous:
            storage, index = data.reshape(-1), columns  # a view: the flat index is cheaper
        else:  # index the storage itself: reshape(-1) of a non-contiguous array is a copy
            storage, index = data, np.unravel_index(columns, data.shape)
        saved = storage[index].copy()
        storage[index] = saved + step
        try:
            return self.values(replay)
        finally:
            storage[index] = saved

    def perturbed_many(self, tensor, moves, replay=False, tolerance=0.0):
        """``perturbed`` for each move ``(columns, step)``, one row of outputs per move.  With
        ``replay``, K moves per stacked replay where the function allows (``_stacked_rows``);
        ``tolerance``: how far a stacked replay may stray from plain replays."""
        rows = None
        if replay and moves and self._may_stack(tensor):
            rows = self._stacked_rows(tensor, moves, tolerance)
        if rows is None:
            rows = np.array([self.perturbed(tensor, cols, step, replay) for cols, step in moves])
        return rows

    def _may_stack(self, tensor):
        """Can ``tensor`` (a target) be stacked: a replay that reaches it only through ops
        with ``forward_stacked``?  (``stackable``: None until validated, then True/False.)"""
        key = id(tensor)
        if key not in self.stackable:
            data = getattr(tensor, "_data", None)
            self.stackable[key] = None if (
                any(t is tensor for _, t in self.targets) and data.__class__ is np.ndarray
                and data.flags.c_contiguous and self._replay() is not None
                and self.replayer.stackable(data)) else False
        return self.stackable[key] is not False

    def _stacked_rows(self, tensor, moves, tolerance):
        """The outputs for ``moves``, K per stacked replay; None if the stacked replay is not
        faithful.  The first one of a target also evaluates the point itself and a move of
        every element along a random direction: both must match plain (validated) replays
        within ``tolerance``, else the target is never stacked."""
        key, data = id(tensor), tensor._data
        # K copies of the tensor and of every intermediate result live at once: bound them
        chunk = max(1, STACKED_ELEMENTS // max(1, data.size + self.replayer.elements))
        rows = []
        for start in range(0, len(moves), chunk):
            part = moves[start:start + chunk]
            check = self.stackable[key] is None
            copies = np.repeat(data[None], len(part) + 2 * check, axis=0)
            # every move's elements at once: copy k, its columns, its steps
            which = np.repeat(np.arange(len(part)), [len(cols) for cols, _ in part])
            cols = np.concatenate([cols for cols, _ in part])
            if any(isinstance(step, np.ndarray) for _, step in part):
                steps = np.concatenate([step if isinstance(step, np.ndarray) else
                                        np.full(len(c), step) for c, step in part])
            else:
                steps = np.repeat([step for _, step in part], [len(c) for c, _ in part])
            flat = copies.reshape(len(copies), -1)
            flat[which, cols] = flat[which, cols] + steps  # as ``perturbed``: the same values
            if check:  # copies[-2] is the point itself
                rng = np.random.default_rng(2)
                copies[-1] += rng.uniform(-1e-3, 1e-3, data.shape) * (1 + np.abs(data))
            try:
                values = self.values(stacked=(data, copies))
                if check:
                    faithful = self._faithful(data, copies[-1], values[-2:], tolerance)
                    self.stackable[key] = faithful
                    values = values[:-2]
            except Exception:  # noqa: BLE001  (a stacked replay that cannot run is not used)
                self.stackable[key] = False
            if not self.stackable[key]:
                return None
            rows.append(values)
        return np.concatenate(rows)

    def _stacked_values(self, data, copies):
        """(K, outputs) in float64: the outputs with ``data`` replaced by each of ``copies``."""
        outs = [a.reshape(len(copies), -1) for a in self.replayer.stacked_arrays(data, copies)
                if a.dtype.kind == "f"]
        self.forward_calls += len(copies)  # evaluations of the function
        if not outs:
            return np.zeros((len(copies), 0))
        return np.concatenate(outs, axis=1).astype(np.float64)

    def _faithful(self, data, moved, stacked, tolerance):
        """Do ``stacked`` (outputs at the point and with ``data`` = ``moved``) match plain
        replays there within ``tolerance``?"""
        if self.base is None:
            self.base = self.values(replay=True)
        saved = data.copy()
        try:
            data[...] = moved
            plain = np.array([self.base, self.values(replay=True)])
        finally:
            data[...] = saved
        return (self.replayer is not False and stacked.shape == plain.shape
                and bool(np.all(np.abs(stacked - plain) <= tolerance)))


class _NotStackable(Exception):
    """A gradient the stacked graph walk cannot carry (see ``_graph_vjp``)."""


def _colour(footprints):
    """Greedy colouring: columns whose footprints (boolean rows) don't intersect share a group.

    Footprints are compared as Python integers used as bitsets (one bit per output row),
    which keeps the greedy loop cheap for thousands of columns.
    """
    if footprints.shape[1] and footprints.all(axis=1).any():  # a row every column reaches
        return [np.array([col]) for col in range(footprints.shape[1])]
    bits = [int.from_bytes(row.tobytes(), "big") for row in np.packbits(footprints.T, axis=1)]
    groups, used = [], []
    # a footprint met before conflicts with every group up to where it went (masks only
    # grow): its repeats start the search after that group, with the same first fit (an
    # empty footprint conflicts with nothing: it always goes to the first group)
    placed = {}
    for col in np.argsort(-footprints.sum(axis=0), kind="stable").tolist():
        rows = bits[col]
        for g in range(placed.get(rows, -1) + 1, len(used)):
            if not used[g] & rows:
                groups[g].append(col)
                used[g] |= rows
                break
        else:
            g = len(groups)
            groups.append([col])
            used.append(rows)
        if rows:
            placed[rows] = g
    return [np.array(sorted(g)) for g in groups]


def _numeric_column(problem, tensor, col, eps):
    plus = problem.perturbed(tensor, np.array([col]), eps)
    minus = problem.perturbed(tensor, np.array([col]), -eps)
    return (plus - minus) / (2 * eps)


def _numeric(problem, tensor, analytic, eps, atol, rtol, progress, seed=0, groups=None):
    """Numerical Jacobian (rows: outputs, columns: elements of ``tensor``), coloured.

    Each group of columns with disjoint analytic footprints is perturbed together
    (one pair of forward calls), and each output row is credited to the one column
    whose footprint holds it.  That is only right if the analytic sparsity is: an
    output that moves outside the group's footprints, or one central difference
    along a random direction over all columns that disagrees with ``numeric @ v``
    (an element reaching a row credited to another), sends the groups concerned
    back to one element at a time.  ``groups``: the colouring, when already made.
    The pairs are evaluated GROUP_CHUNK groups at a time (``perturbed_many``: stacked
    replays where the function allows).
    """
    footprints = analytic != 0
    groups = _colour(footprints) if groups is None else groups
    n_out, n_cols = analytic.shape
    numeric = np.zeros_like(analytic)
    # a stacked replay may differ from a real forward by rounding that moves a central
    # difference by at most a hundredth of atol
    tolerance = 1e-2 * atol * eps
    # owner[g, r]: the column of group g whose footprint holds output r, -1 if none (the
    # footprints of a group are disjoint)
    group_of = np.zeros(n_cols, int)
    for g, cols in enumerate(groups):
        group_of[cols] = g
    out_rows, out_cols = np.nonzero(footprints)
    owner = np.full((len(groups), n_out), -1, np.int32)
    owner[group_of[out_cols], out_rows] = out_cols
    alone = np.array([len(cols) == 1 for cols in groups], bool)
    first = np.array([cols[0] for cols in groups], int)
    redo = np.zeros(len(groups), bool)
    for lo in range(0, len(groups), GROUP_CHUNK):
        chunk = groups[lo:lo + GROUP_CHUNK]
        hi = lo + len(chunk)
        values = problem.perturbed_many(tensor, [(cols, s * eps) for cols in chunk
                                                 for s in (1, -1)], True, tolerance)
        d = (values[0::2] - values[1::2]) / (2 * eps)
        single = alone[lo:hi]
        if single.any():  # a column alone: its whole difference, nothing to credit
            numeric[:, first[lo:hi][single]] = d[single].T
        # an output outside every footprint of a group moved: the group is redone
        own = owner[lo:hi]
        redo[lo:hi] = ~single & ((np.abs(d) > atol) & (own < 0)).any(axis=1)
        g_at, r_at = np.nonzero((own >= 0) & ~(single | redo[lo:hi])[:, None])
        numeric[r_at, own[g_at, r_at]] = d[g_at, r_at]
        if progress is not None:
            progress(sum(len(cols) for cols in chunk))
    shared = ~alone & ~redo
    if shared.any():
        v = np.random.default_rng(seed).uniform(0.5, 1.5, n_cols)
        everything = np.arange(n_cols)
        plus, minus = problem.perturbed_many(tensor, [(everything, eps * v),
                                                      (everything, -eps * v)], True, tolerance)
        along = (plus - minus) / (2 * eps)
        # with the right sparsity both sides are the same central differences, equal up to
        # rounding: a tight bound, so that a small misattributed term cannot hide in rtol
        # (a false alarm only costs the element-by-element fallback)
        off = np.abs(along - numeric @ v) > 1e-2 * atol + 1e-6 * (np.abs(numeric) @ v)
        redo |= shared & ((owner >= 0) & off[None, :]).any(axis=1)
    for g in np.nonzero(redo)[0]:
        for col in groups[g]:
            numeric[:, col] = _numeric_column(problem, tensor, col, eps)
    # anything that disagrees is recomputed alone, so reported values are plain differences
    bad_cols = np.nonzero(np.any(np.abs(analytic - numeric) > atol + rtol * np.abs(numeric),
                                 axis=0))[0]
    for col in bad_cols:
        numeric[:, col] = _numeric_column(problem, tensor, col, eps)
    return numeric


GROUP_CHUNK = 128  # column groups whose forward pairs are evaluated together
# elements of the perturbed copies and of the recorded results per stacked replay (an op's
# own temporaries come on top: a few times this)
STACKED_ELEMENTS = 1 << 21


def _share(n, rank, size):
    """Share ``rank`` of ``size``: a contiguous block of ``n`` equal-cost items."""
    return range(n * rank // size, n * (rank + 1) // size)


class _FlatElements:
    """Elements [lo, hi) of an array in C order, indexed as one flat array whatever the
    array's strides: the ``_data`` the finite differences write through."""

    def __init__(self, array, lo, hi):
        self.array, self.lo, self.shape = array, lo, (hi - lo,)

    def reshape(self, *shape):
        return self

    def _where(self, key):
        key = key[0] if isinstance(key, tuple) else key
        return np.unravel_index(np.asarray(key) + self.lo, self.array.shape)

    def __getitem__(self, key):
        return self.array[self._where(key)]

    def __setitem__(self, key, value):
        self.array[self._where(key)] = value


class _Columns:
    """Elements [lo, hi) of a tensor, as the flat tensor ``_numeric`` perturbs."""

    def __init__(self, tensor, lo, hi):
        self._data = _FlatElements(tensor._data, lo, hi)
        self.shape = self._data.shape


def _numeric_block(problem, analytic, columns, eps, atol, rtol, progress=None, seed=0):
    """The numerical Jacobian's ``columns`` (a range over every target's elements, in
    order), transposed: one row per column.  A worker process's or an MPI rank's share."""
    sizes = [t.numel() for _, t in problem.targets]
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    block = np.zeros((len(columns), int(problem.offsets[-1])))
    with no_grad():
        for ti, (_, t) in enumerate(problem.targets):
            lo, hi = max(columns.start, starts[ti]), min(columns.stop, starts[ti + 1])
            if lo < hi:
                a, b = lo - starts[ti], hi - starts[ti]
                numeric = _numeric(problem, _Columns(t, a, b), analytic[ti][:, a:b], eps, atol,
                                   rtol, progress, seed)
                block[lo - columns.start:hi - columns.start] = numeric.T
    return block


_FORKED = {}  # what forked workers read: set just before the pool forks


def _numeric_in_workers(problem, analytic, eps, atol, rtol, progress, seed, workers):
    """Every target's numerical Jacobian, its columns shared out in contiguous blocks over
    ``workers`` forked copies of this process (same function, inputs, random state)."""
    import multiprocessing

    total = sum(t.numel() for _, t in problem.targets)
    tasks = [_share(total, i, 4 * workers) for i in range(4 * workers)]  # 4 per worker:
    _FORKED.update(problem=problem, analytic=analytic, args=(eps, atol, rtol))  # progress
    blocks = {}
    try:
        with multiprocessing.get_context("fork").Pool(workers, _serial_kernels) as pool:
            for columns, block, calls in pool.imap_unordered(_worker_block, tasks):
                blocks[columns.start] = block
                problem.forward_calls += calls
                if progress is not None:
                    progress(len(columns))
    finally:
        _FORKED.clear()
    numeric = np.concatenate([blocks[c.start] for c in tasks]).T
    starts = np.concatenate([[0], np.cumsum([t.numel() for _, t in problem.targets])])
    return [numeric[:, a:b] for a, b in zip(starts[:-1], starts[1:])]


def _serial_kernels():
    """A forked child must not use the parent's OpenMP thread pool, which it did not
    inherit (libgomp is not fork-safe): its kernels run on one thread."""
    import ctypes
    import os

    try:
        ctypes.CDLL("libgomp.so.1", mode=os.RTLD_NOLOAD).omp_set_num_threads(1)
    except OSError:  # libgomp not loaded: no OpenMP pool to stay away from
        pass


def _worker_block(columns):
    problem = _FORKED["problem"]
    before = problem.forward_calls
    block = _numeric_block(problem, _FORKED["analytic"], columns, *_FORKED["args"])
    return columns, block, problem.forward_calls - before


def _start_methods():
    import multiprocessing

    return multiprocessing.get_all_start_methods()


def _kinks(problem, tensor, analytic, numeric, bad, eps, atol, rtol):
    """Mark failing entries at non-differentiable points: one-sided differences disagree."""
    kink = np.zeros_like(bad)
    base = None
    for col in np.nonzero(bad.any(axis=0))[0]:
        if base is None:
            base = problem.values()
        plus = (problem.perturbed(tensor, np.array([col]), eps) - base) / eps
        minus = (base - problem.perturbed(tensor, np.array([col]), -eps)) / eps
        one_sided_differ = np.abs(plus - minus) > atol + rtol * np.abs(plus)
        # the analytic value lies on one side: a valid subgradient choice at the kink
        matches_side = (np.abs(analytic[:, col] - plus) <= atol + rtol * np.abs(plus)) | \
                       (np.abs(analytic[:, col] - minus) <= atol + rtol * np.abs(minus))
        kink[:, col] = bad[:, col] & one_sided_differ & matches_side
    return kink


def _signature(analytic, numeric, bad, shape):
    """Name a common bug pattern from the failing entries, or ''."""
    a, n = analytic[bad], numeric[bad]
    if not a.size:
        return ""
    if np.all(analytic == 0) and np.any(numeric != 0):
        return "zero gradient where the numerical one is not (backward missing or not connected)"
    cols = np.nonzero(bad.any(axis=0))[0]
    if len(shape) >= 2 and shape[-2] > 4 and shape[-1] > 4 and cols.size < analytic.shape[1]:
        rows_cols = np.array(np.unravel_index(cols, shape))[-2:]
        h, w = shape[-2:]
        on_border = (rows_cols[0] == 0) | (rows_cols[0] == h - 1) | (rows_cols[1] == 0) | \
            (rows_cols[1] == w - 1)
        if np.all(on_border):
            return "only at borders (padding/edge handling)"
    both = (np.abs(a) > 1e-12) & (np.abs(n) > 1e-12)
    if both.sum() >= 2:
        ratio = a[both] / n[both]
        if np.allclose(ratio, ratio[0], rtol=1e-3):
            if np.isclose(ratio[0], -1, rtol=1e-3):
                return "sign flip (analytic = -numerical)"
            return f"off by a constant factor (analytic = {ratio[0]:.4g} x numerical)"
    if len(shape) == 2 and shape[0] == shape[1] > 1:
        idx = np.arange(analytic.shape[1]).reshape(shape).T.reshape(-1)
        if np.allclose(analytic, numeric[:, idx], atol=1e-6):
            return "transposed (analytic matches the numerical gradient of the transpose)"
    if bad.sum() == 1:
        return "a single wrong element" + (" with its sign flipped"
                                           if np.isclose(a[0], -n[0], rtol=1e-3) else "")
    return ""


def _compare(problem, name, tensor, analytic, numeric, eps, atol, rtol, kinks):
    check = TensorCheck(name, tuple(tensor.shape), n_entries=analytic.size)
    if not analytic.size:
        return check
    err = np.abs(analytic - numeric)
    magnitude = np.abs(numeric)
    over = err - (atol + rtol * magnitude)  # > 0: out of tolerance
    bad = over > 0
    if kinks and bad.any():
        kink = _kinks(problem, tensor, analytic, numeric, bad, eps, atol, rtol)
        check.n_kinks = int(kink.sum())
        bad &= ~kink
    check.n_failed = int(bad.sum())
    # relative error only where the numerical value is above the absolute tolerance
    rel = np.divide(err, magnitude, out=np.zeros_like(err), where=magnitude > atol)
    column_error = err.max(axis=0)
    check.max_abs_err, check.max_rel_err = float(column_error.max()), float(rel.max())
    score = np.where(bad, over + 1e300, over) if check.n_failed else over
    row, col = np.unravel_index(int(np.argmax(score)), score.shape)
    k, out_index = problem.locate(row)
    check.worst_index = [int(v) for v in np.unravel_index(col, tensor.shape)]
    check.worst_output, check.worst_output_index = f"output[{k}]", out_index
    check.analytic, check.numeric = float(analytic[row, col]), float(numeric[row, col])
    check.passed = check.n_failed == 0
    check.column_error, check.column_failed = column_error, bad.any(axis=0)
    if not check.passed:
        check.signature = _signature(analytic, numeric, bad, tuple(tensor.shape))
        if err.size <= KEPT_JACOBIAN_ENTRIES:
            check.jacobian_error, check.jacobian_failed = err, bad
    return check


KEPT_JACOBIAN_ENTRIES = 1 << 16  # failing Jacobians up to this size are kept for heatmaps


def _combined(name, shape, parts):
    """One target's check from the checks of parts of its columns, ``[(key, check)]``:
    counts add up and the worst part speaks for the whole.  Returns (check, the worst
    part's key, the worst part's check); the caller places the worst element, since only
    it knows which columns a part holds (sampled checks use this too)."""
    key, worst = max(parts, key=lambda part: (not part[1].passed, part[1].max_abs_err))
    check = TensorCheck(name, shape, worst_output=worst.worst_output,
                        worst_output_index=worst.worst_output_index, analytic=worst.analytic,
                        numeric=worst.numeric, signature=worst.signature)
    for _, part in parts:
        check.n_entries += part.n_entries
        check.n_failed += part.n_failed
        check.n_kinks += part.n_kinks
        check.max_abs_err = max(check.max_abs_err, part.max_abs_err)
        check.max_rel_err = max(check.max_rel_err, part.max_rel_err)
    check.passed = all(part.passed for _, part in parts)
    return check, key, worst


def _merged(name, shape, parts):
    """One target's check from the checks of its column blocks, ``[(first column, check)]``:
    counts add up, the worst element is the worst block's, indexed in the whole tensor."""
    check, first, worst = _combined(name, shape, parts)
    check.worst_index = [int(v) for v in np.unravel_index(first + worst.worst_index[0], shape)]
    if all(part.column_error is not None for _, part in parts):
        check.column_error = np.concatenate([part.column_error for _, part in parts])
        check.column_failed = np.concatenate([part.column_failed for _, part in parts])
    return check


def _blocked_checks(problem, numeric_problem, width, eps, atol, rtol, kinks, advance, seed,
                    checks=None):
    """Per target, ``width`` columns at a time: the analytic block (every row's VJP, keeping
    those columns), its numerical twin and their comparison, so no Jacobian is ever held
    whole.  Signatures see one block as a flat vector (no border or transpose patterns).
    Appends to ``checks`` (so an interrupted run keeps the targets finished)."""
    checks = [] if checks is None else checks
    for ti, (name, t) in enumerate(problem.targets):
        ref_t = numeric_problem.targets[ti][1]
        parts = []
        for lo in range(0, t.numel(), width):
            hi = min(lo + width, t.numel())
            analytic = problem.analytic(block=(ti, lo, hi))
            columns = _Columns(ref_t, lo, hi)
            with no_grad():
                numeric = _numeric(numeric_problem, columns, analytic, eps, atol, rtol,
                                   advance, seed)
            parts.append((lo, _compare(numeric_problem, name, columns, analytic, numeric, eps,
                                       atol, rtol, kinks)))
        checks.append(_merged(name, tuple(t.shape), parts) if parts
                      else TensorCheck(name, tuple(t.shape)))
    return checks


JACOBIAN_BYTES = 1 << 28  # beyond this, Jacobians are checked in column blocks


def check_gradients(func, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, progress=None, kinks=True,
                    fast=False, semantic=False, seed=0, reference=None, workers=1,
                    max_jacobian_bytes=JACOBIAN_BYTES, max_seconds=None, plan=None):
    """Compare the analytic Jacobian (backward) with central differences, entry by entry.

    ``progress(done, total)`` is called as numerical columns complete.  ``kinks``
    separates failures at non-differentiable points (reported as ``n_kinks``).
    ``fast`` compares random projections u^T J v first and checks in full only the
    pairs that disagree.  ``semantic`` adds the checks of ``semantic_checks``.
    ``reference=(func64, inputs64)`` takes the numerical side from a float64 twin,
    to check float32 kernels: tolerances then grow to float32's precision.
    ``workers`` > 1 shares the numerical Jacobian's columns out over that many forked
    processes (where the platform can fork).  Jacobians whose analytic and numerical
    copies would pass ``max_jacobian_bytes`` are checked a block of columns at a time
    (every VJP is then repeated per block, on one process).
    ``max_seconds``: when the first calls say that the full check would take longer,
    check a random sample of entries and random projections instead (``report.sampled``,
    see ``sampling.py``); None (the default, as PyTorch's) checks every entry.
    ``plan(dict)`` hears, before the numerical work starts, the entries and forward calls
    planned and the seconds they should take.  Ctrl-C (KeyboardInterrupt) ends the check
    early with a report of the tensors finished so far (``report.interrupted``).
    A PyTorch callable with PyTorch tensors is checked too: PyTorch runs its forward and
    VJPs (``torch_adapter``).
    """
    from .torch_adapter import adapt, involves_torch

    start = time.perf_counter()

    if involves_torch(func, inputs):
        func, inputs = adapt(func, inputs)
    problem = _Problem(func, inputs)
    numeric_problem = problem
    if reference is not None:
        numeric_problem = _Problem(*reference)
        if [n for n, _ in numeric_problem.targets] != [n for n, _ in problem.targets]:
            raise ValueError("gradcheck: the float64 reference has different inputs/parameters")
        low = min(np.finfo(t._data.dtype).eps for _, t in problem.targets)
        atol, rtol = max(atol, np.sqrt(low)), max(rtol, 10 * np.sqrt(low))
    budget = Budget(problem, numeric_problem, max_seconds, plan, start, seed)
    checks = []
    try:
        _check_into(checks, problem, numeric_problem, budget, eps, atol, rtol, progress, kinks,
                    fast, seed, workers, max_jacobian_bytes)
    except KeyboardInterrupt:  # Ctrl-C: report the tensors finished
        budget.counts["interrupted"] = True
    return _report(func, inputs, problem, numeric_problem, checks, eps, atol, rtol, semantic,
                   seed, budget.counts)


def _check_into(checks, problem, numeric_problem, budget, eps, atol, rtol, progress, kinks,
                fast, seed, workers, max_jacobian_bytes):
    """The body of ``check_gradients``: appends each target's check to ``checks`` as it
    completes, so that an interruption keeps what was finished."""
    done = [0]
    total = sum(t.numel() for _, t in problem.targets)
    n_out = int(problem.offsets[-1])

    def advance(n):
        done[0] += n
        if progress is not None:
            progress(done[0], total)

    # analytic, numeric and two comparison temporaries of (outputs x columns) float64
    width = max(1, max_jacobian_bytes // (32 * max(1, n_out)))
    if not fast and total > width:
        # every VJP once per block of columns, a pair of forward calls per column at most
        if budget.fits(budget.estimate(rows=-(-total // width) * n_out,
                                       forward_calls=2 * total, bound=True)):
            budget.announce(checked_entries=n_out * total, forward_calls=2 * total, bound=True)
            _blocked_checks(problem, numeric_problem, width, eps, atol, rtol, kinks, advance,
                            seed, checks)
        else:
            budget.sample(checks, None, eps, atol, rtol, kinks, progress)
        return
    full = [True] * len(problem.targets)
    if fast:
        full = _fast_screen(problem, eps, atol, seed)
    if any(full) and budget.timed:
        budget.estimate(rows=n_out, forward_calls=2 * total, bound=True)  # before colouring
        if not budget.fits(2 * n_out * budget.timings.row):  # the VJPs alone take half of it
            budget.sample(checks, None, eps, atol, rtol, kinks, progress)
            return
    analytic = problem.analytic() if any(full) else None
    groups = [None] * len(problem.targets)
    if budget.timed and analytic is not None:  # the plan: forward calls after colouring
        groups = [_colour(a != 0) if f else [] for a, f in zip(analytic, full)]
        calls = sum(forward_calls_after_colouring(g) for g in groups)
        if not budget.fits(budget.estimate(forward_calls=calls / max(1, workers))):
            budget.sample(checks, analytic, eps, atol, rtol, kinks, progress)
            return
        budget.announce(checked_entries=n_out * total, forward_calls=calls)
    numerics = None
    if workers > 1 and all(full) and "fork" in _start_methods():
        numerics = _numeric_in_workers(numeric_problem, analytic, eps, atol, rtol, advance,
                                       seed, workers)
    for ti, (name, t) in enumerate(problem.targets):
        if not full[ti]:
            checks.append(TensorCheck(name, tuple(t.shape), n_entries=t.numel()
                                      * int(problem.offsets[-1])))
            advance(t.numel())
            continue
        ref_t = numeric_problem.targets[ti][1]
        if numerics is not None:
            numeric = numerics[ti]
        else:
            with no_grad():
                numeric = _numeric(numeric_problem, ref_t, analytic[ti], eps, atol, rtol,
                                   advance, seed, groups[ti])
        checks.append(_compare(numeric_problem, name, ref_t, analytic[ti], numeric, eps, atol,
                               rtol, kinks))


def _report(func, inputs, problem, numeric_problem, checks, eps, atol, rtol, semantic, seed,
            counts=None):
    _random.set_rng_state(problem.rng_state)
    report = GradcheckReport(checks, all(c.passed for c in checks), eps, atol, rtol,
                             problem.forward_calls + (numeric_problem.forward_calls
                                                      if numeric_problem is not problem else 0),
                             problem.backward_calls)
    counts = counts or {}
    report.total_entries = counts.get("total_entries", 0)
    report.checked_entries = sum(c.n_entries for c in checks)
    report.sampled = counts.get("sampled", False)
    report.interrupted = counts.get("interrupted", False)
    report.unchecked = [name for name, _ in problem.targets[len(checks):]]
    report.sample = {k: counts[k] for k in ("rows", "projections", "full_seconds",
                                            "full_seconds_bound")
                     if k in counts and report.sampled}
    if semantic and not report.interrupted:
        report.semantic = semantic_checks(func, inputs, seed=seed)
        report.passed = report.passed and all(v["passed"] for v in report.semantic.values()
                                              if not v.get("informative"))
    return report


def _fast_screen(problem, eps, atol, seed):
    """Per target: does u^T J_analytic v match the central difference of u^T f along v, for
    random u, v, within that difference's own error?  (A bound from the entries' atol/rtol
    would grow with the Jacobian's size and hide one wrong element of a large weight.)"""
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(int(problem.offsets[-1]))
    grads = vjp(problem, u)
    lhs_eps = analytic_epsilon(problem)
    needs_full = []
    with no_grad():
        base = np.abs(problem.values())
        for (_, t), g in zip(problem.targets, grads):
            v = rng.standard_normal(t.numel())
            lhs, rhs, tolerance = projection_gap(problem, t, u, g, v, base, eps, atol, lhs_eps)
            needs_full.append(abs(lhs - rhs) > tolerance)
    return needs_full


def semantic_checks(func, inputs, seed=0, nondet_tol=0.0):
    """Properties every correct backward has; each reported as {passed, detail}.

    - linear in grad_output: VJP(a*g1 + b*g2) = a*VJP(g1) + b*VJP(g2)
    - zero grad_output gives zero gradients
    - the forward does not mutate its inputs
    - repeated backward is deterministic (within ``nondet_tol``)
    """
    from ..tensor import Tensor
    from . import grad as autograd_grad

    problem = _Problem(func, inputs)
    outs = [o for o in problem.outputs if o.requires_grad]
    wrt = [t for _, t in problem.targets]
    rng = np.random.default_rng(seed)

    def vjp(gs):
        grads = autograd_grad(outs, wrt, [Tensor._wrap(g) for g in gs], retain_graph=True,
                              allow_unused=True)
        return [np.zeros(t.shape) if g is None else g._data.astype(np.float64)
                for g, t in zip(grads, wrt)]

    def like(o):
        return rng.standard_normal(o.shape).astype(o._data.dtype)

    results = {}
    g1, g2 = [like(o) for o in outs], [like(o) for o in outs]
    v1, v2 = vjp(g1), vjp(g2)
    combo = vjp([2 * a - 3 * b for a, b in zip(g1, g2)])
    worst = max((float(np.abs(c - (2 * a - 3 * b)).max()) for c, a, b in zip(combo, v1, v2)
                 if c.size), default=0.0)
    results["linear_in_grad_output"] = {"passed": worst <= 1e-8 * max(1.0, _scale(v1)),
                                        "detail": f"max deviation {worst:.3g}"}
    zero = vjp([np.zeros(o.shape, o._data.dtype) for o in outs])
    worst = max((float(np.abs(z).max()) for z in zero if z.size), default=0.0)
    results["zero_grad_output_gives_zero"] = {"passed": worst == 0.0,
                                              "detail": f"max |grad| {worst:.3g}"}
    again = vjp(g1)
    worst = max((float(np.abs(a - b).max()) for a, b in zip(again, v1) if a.size), default=0.0)
    results["deterministic_backward"] = {"passed": worst <= nondet_tol,
                                         "detail": f"max difference {worst:.3g}"}
    before = [t._data.copy() for t in problem.inputs if isinstance(t, Tensor)]
    with no_grad():
        problem.run()
    after = [t._data for t in problem.inputs if isinstance(t, Tensor)]
    mutated = [i for i, (a, b) in enumerate(zip(before, after)) if not np.array_equal(a, b)]
    results["inputs_not_mutated"] = {"passed": not mutated,
                                     "detail": f"mutated inputs {mutated}" if mutated else ""}
    results["batch_consistency"] = _batch_consistency(problem)
    _random.set_rng_state(problem.rng_state)
    return results


def _batch_consistency(problem):
    """Is each sample's output the same when run alone? (Informative: BatchNorm in training
    mixes samples on purpose; elsewhere a mismatch means samples leak into each other.)"""
    from ..tensor import Tensor

    first = problem.inputs[0] if problem.inputs else None
    if not isinstance(first, Tensor) or first.ndim < 2 or first.shape[0] < 2:
        return {"passed": True, "informative": True, "detail": "no batch dimension"}
    n = first.shape[0]
    with no_grad():
        full = problem.run()
        if not full or any(o.ndim == 0 or o.shape[0] != n for o in full):
            return {"passed": True, "informative": True,
                    "detail": "outputs are not batched along dim 0"}
        worst = 0.0
        for i in range(n):
            parts = [Tensor._wrap(t._data[i:i + 1]) if isinstance(t, Tensor) and t.ndim
                     and t.shape[0] == n else t for t in problem.inputs]
            _random.set_rng_state(problem.rng_state)
            single = _flat_outputs(problem.func(*parts))
            for a, b in zip(full, single):
                worst = max(worst, float(np.abs(a._data[i:i + 1].astype(np.float64)
                                                - b._data.astype(np.float64)).max()))
    return {"passed": worst <= 1e-10, "informative": True,
            "detail": f"max difference between batched and per-sample outputs {worst:.3g}"}


def _scale(arrays):
    return max((float(np.abs(a).max()) for a in arrays if a.size), default=1.0)


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
              nondet_tol=0.0, check_undefined_grad=True, check_grad_dtypes=False,
              check_batched_grad=False, check_batched_forward_grad=False,
              check_forward_ad=False, check_backward_ad=True, fast_mode=False, masked=None,
              max_seconds=None):
    """``torch.autograd.gradcheck``: True when backward matches finite differences.

    A Module as ``func`` has its parameters checked too.  On failure the exception
    (or, with ``raise_exception=False``, the return value False) comes with the
    input or parameter name and the element index of the worst mismatch.
    ``max_seconds`` (nncheck's): a sampled check when the full one would take longer
    (see ``check_gradients``); None, the default, checks every entry as PyTorch does.
    """
    report = check_gradients(func, inputs, eps=eps, atol=atol, rtol=rtol, fast=fast_mode,
                             max_seconds=max_seconds)
    if report.passed:
        return True
    if raise_exception:
        failures = "\n".join(c.describe() for c in report.checks if not c.passed)
        raise GradcheckError(f"Gradient check failed:\n{failures}")
    return False


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3,
                  raise_exception=True, **kwargs):
    """Second-order check: gradcheck of the function ``inputs -> grad(func(inputs), inputs)``.

    Needs a backward that is itself differentiable (built from differentiable
    tensor operations, as user ``Function``s with tensor math are).
    """
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
