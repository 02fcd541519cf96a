"""Replay of a forward call as its sequence of Function forwards, for finite differences.

The numerical Jacobian calls the function under test thousands of times with one
input element nudged.  Most of each call is Python around the kernels: Module.__call__,
argument validation, Function.apply, Tensor wrapping.  ``record`` runs the function
once and keeps the outermost ``Function.apply`` calls: which class, which arguments,
and for each tensor argument where its array came from (an earlier op's result, or an
array held as it is: an input or parameter, whose storage the differences perturb in
place, or a constant).  ``Replay.values`` then calls only those ``forward``s.

A trace can be wrong: an array derived from an input outside any Function (held as a
stale constant), Python control flow on values, state a module updates between calls.
So a trace is kept only if, with every input and parameter moved along a random
direction, replay and real forward give the same outputs bit for bit; and the checker
recomputes with real forward calls every column that disagrees with the analytic
Jacobian, so a reported mismatch never rests on the replay.

Stacked replays: when every op that reads one input or parameter has a
``forward_stacked`` (its forward over K versions of some arguments, stacked on a new
leading axis), ``Replay.stacked_arrays`` evaluates the function at K perturbed points
in one pass, so the numerical Jacobian costs a few calls instead of two per column
group.  Those results may differ from the real forward's by rounding (a GEMM over
K * rows): the checker uses them only after a stacked replay of two moved copies has
matched plain replays at the same points to within a hundredth of what moves a central
difference by atol, and still redoes every disagreeing column with real forwards.
"""

import threading

from .._lazy import np
from .function import Function, FunctionCtx
from .grad_mode import no_grad


class _Untraceable(Exception):
    """The forward does something a replay could not reproduce faithfully."""


class _Step:
    __slots__ = ("cls", "forward", "raw", "args", "kwargs", "needs_input_grad", "name")


def record(run, Tensor):
    """Run ``run()`` (under no_grad) and return (its outputs, the Replay of it or None)."""
    original = Function.__dict__["apply"]
    steps, produced, keep = [], {}, []  # keep: recorded arrays stay alive (ids stay unique)
    state = threading.local()
    owner = threading.get_ident()
    failed = []

    def source(value):
        """How a replay finds an argument again: ("slot", i) or ("const", value)."""
        if isinstance(value, Tensor):
            data = value._data
            if data.__class__ is not np.ndarray:
                raise _Untraceable("device array")
            slot = produced.get(id(data))
            return ("slot", slot) if slot is not None else ("const", value)
        if isinstance(value, (list, tuple)) and any(isinstance(v, Tensor) for v in value):
            return ("seq", type(value), [source(v) for v in value])
        return ("const", value)

    def recording(cls, *args, **kwargs):
        if threading.get_ident() != owner or getattr(state, "depth", 0):
            return original.__func__(cls, *args, **kwargs)
        state.depth = 1
        try:
            out = original.__func__(cls, *args, **kwargs)
        finally:
            state.depth = 0
        try:
            if any(isinstance(v, Tensor) for v in kwargs.values()):
                raise _Untraceable("tensor keyword argument")
            step = _Step()
            step.cls, step.forward, step.raw, step.name = cls, cls.forward, cls.raw, cls.__name__
            step.args = [source(a) for a in args]
            step.kwargs = kwargs
            step.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad
                                          for a in args)
            outs = out if isinstance(out, tuple) else (out,)
            start = len(keep)
            for o in outs:
                keep.append(o._data if isinstance(o, Tensor) else None)
            for i, o in enumerate(outs):
                if isinstance(o, Tensor):
                    produced[id(o._data)] = start + i
            steps.append((step, len(outs), isinstance(out, tuple)))
        except _Untraceable as e:
            failed.append(e)
        return out

    Function.apply = classmethod(recording)
    try:
        with no_grad():
            outputs = run()
    finally:
        Function.apply = original
    if failed or not steps:
        return outputs, None
    slots = []
    for o in outputs:
        slot = produced.get(id(o._data))
        if slot is None:  # an output made outside every Function
            return outputs, None
        slots.append(slot)
    return outputs, Replay(steps, slots, Tensor, sum(a.size for a in keep if a is not None))


class Replay:
    """The recorded Function forwards; ``arrays()`` runs them and returns the outputs.

    Each step keeps its arguments ready (constants resolved once: inputs and parameters
    are perturbed in place, so their arrays stay the same objects) and the positions
    that take an earlier step's result, to keep the per-step cost near the kernel's."""

    def __init__(self, steps, output_slots, Tensor, elements):
        self.output_slots, self.Tensor = output_slots, Tensor
        self.elements = elements  # of every step's results: one replay's working memory
        self.plan = []
        for step, n_out, multiple in steps:
            fixed, taken = [], []
            for pos, src in enumerate(step.args):
                if src[0] == "slot":
                    taken.append((pos, src[1]))
                    fixed.append(None)
                else:
                    fixed.append(src if src[0] == "seq" else self._const(src[1], step.raw))
            sequences = [pos for pos, src in enumerate(step.args) if src[0] == "seq"]
            self.plan.append((step.forward, step.raw, step.name, step.needs_input_grad,
                              step.kwargs, fixed, taken, sequences, n_out, multiple, step.cls))

    def _const(self, value, raw):
        return value._data if raw and isinstance(value, self.Tensor) else value

    def _seq(self, src, results):
        return src[1](self.Tensor._wrap(results[s[1]]) if s[0] == "slot" else
                      self._seq(s, results) if s[0] == "seq" else s[1] for s in src[2])

    def arrays(self):
        Tensor, ndarray, wrap = self.Tensor, np.ndarray, self.Tensor._wrap
        results = []
        with no_grad():
            for (forward, raw, name, needs, kwargs, fixed, taken, sequences, n_out,
                 multiple, _) in self.plan:
                args = fixed.copy()
                for pos, slot in taken:
                    args[pos] = results[slot] if raw else wrap(results[slot])
                for pos in sequences:
                    args[pos] = self._seq(fixed[pos], results)
                ctx = FunctionCtx()
                ctx._name, ctx.needs_input_grad = name, needs
                out = forward(ctx, *args, **kwargs)
                outs = out if multiple else (out,)
                if len(outs) != n_out:
                    raise _Untraceable("number of results changed")
                for o in outs:
                    if o.__class__ is not ndarray:
                        o = o._data if isinstance(o, Tensor) else np.asarray(o) \
                            if np.isscalar(o) else o
                    results.append(o)
        return [results[s] for s in self.output_slots]

    def stackable(self, array):
        """Can ``stacked_arrays`` replace the held array ``array`` (an input's or parameter's
        storage)?  Every step that reads it, directly or through earlier results, must be a
        raw op with a ``forward_stacked``, and none may take it inside a sequence."""
        reads = set()  # result slots that depend on ``array``
        slot = 0
        for (_, raw, _, _, _, fixed, taken, sequences, n_out, _, cls) in self.plan:
            direct = any(a is array or getattr(a, "_data", None) is array for a in fixed)
            depends = direct or any(s in reads for _, s in taken)
            if any(_seq_reads(fixed[pos], array, reads) for pos in sequences):
                return False
            if depends:
                if not raw or not hasattr(cls, "forward_stacked"):
                    return False
                reads.update(range(slot, slot + n_out))
            slot += n_out
        return bool(reads)

    def stacked_arrays(self, array, copies):
        """The outputs for K versions of the held array ``array`` in one replay: ``copies``
        (K, *array.shape) stands in for it, steps that read it run their ``forward_stacked``
        (every result with a leading axis of K), the others run once.  Returns the outputs,
        each (K, *shape).  Only for a replay that is ``stackable(array)``."""
        k_copies = len(copies)
        results, stacked = [], []
        with no_grad():
            for (forward, _, name, needs, kwargs, fixed, taken, sequences, n_out, multiple,
                 cls) in self.plan:
                args, flags = fixed.copy(), [False] * len(fixed)
                for pos, value in enumerate(fixed):
                    if value is array:
                        args[pos], flags[pos] = copies, True
                for pos, slot in taken:
                    args[pos], flags[pos] = results[slot], stacked[slot]
                for pos in sequences:
                    args[pos] = self._seq(fixed[pos], results)
                ctx = FunctionCtx()
                ctx._name, ctx.needs_input_grad = name, needs
                if any(flags):
                    out = cls.forward_stacked(ctx, tuple(flags), *args, **kwargs)
                else:
                    out = forward(ctx, *args, **kwargs)
                outs = out if multiple else (out,)
                if len(outs) != n_out:
                    raise _Untraceable("number of results changed")
                results.extend(np.asarray(getattr(o, "_data", o)) for o in outs)
                stacked.extend([any(flags)] * n_out)
        return [results[s] if stacked[s] else np.broadcast_to(results[s], (k_copies,)
                                                               + results[s].shape)
                for s in self.output_slots]


def _seq_reads(src, array, reads):
    """Does a recorded sequence argument hold ``array`` or a result that depends on it?"""
    return any(_seq_reads(s, array, reads) if s[0] == "seq" else
               s[1] in reads if s[0] == "slot" else s[1] is array or
               getattr(s[1], "_data", None) is array for s in src[2])
