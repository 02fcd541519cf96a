"""Gradient checks within a time budget: the plan, a sampled Jacobian, random projections.

``check_gradients(..., max_seconds=S)`` times the first forward and backward calls,
estimates the full check, and when it would not fit in S seconds checks instead

- a random sample of Jacobian entries: columns drawn from every input and parameter,
  each compared entry by entry (central differences, as the full check) on a sample
  of output rows: half where the sampled columns move the outputs, half anywhere;
- random projections u^T J v per input and parameter (u over the outputs, v over the
  tensor's elements, both standard normal), against the central difference of u^T f
  along v, with a tolerance set by that difference's own error (the same difference
  at twice the step, and rounding). A wrong entry J_rc changes u^T J v by
  u_r (A - N)_rc v_c: the projection sees every entry, with random weights. A
  projection that disagrees is bisected over the tensor's elements (the analytic
  side splits for free, the numerical side costs one pair of forward calls per
  halving) down to one element c, whose column is then differenced and compared
  through u: |u^T (A - N) e_c| > sum_r |u_r| (atol + rtol |N_rc|) is impossible
  unless an entry of column c is out of tolerance, so a failure found this way is
  a real one, named by its element.
"""

import time

from .._lazy import np
from .grad_mode import no_grad

PROJECTION_ROUNDS = 3
CHUNK = 32  # sampled columns per step between deadline checks
ROW_PROBE = 64
SAMPLE_ENTRIES = 1 << 24  # the sampled analytic entries are held whole: 128 MiB at most


class Timings:
    """Seconds per forward call and per output row's VJP, from the first calls."""

    def __init__(self, problem, numeric_problem):
        # the best of a few calls: one call can be slowed by a busy machine
        self.forward = min(_seconds(numeric_problem.values) for _ in range(3))
        self.row = self._row_seconds(problem)

    @staticmethod
    def _row_seconds(problem):
        nothing = [np.zeros(0, int)] * len(problem.targets)
        n_out = int(problem.offsets[-1])
        if not n_out:
            return 0.0
        one = min(_seconds(lambda: problem.analytic(rows=np.arange(1), columns=nothing))
                  for _ in range(2))
        k = min(n_out, ROW_PROBE)
        if k > 1 and one * k < 0.5:  # several rows: stacked VJPs cost less per row
            start = time.perf_counter()
            problem.analytic(rows=np.arange(k), columns=nothing)
            return (time.perf_counter() - start) / k
        return one


def _seconds(call):
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def forward_calls_after_colouring(groups):
    """Forward calls of ``_numeric`` for these column groups: a pair per group, and a pair
    along one random direction when some group shares calls (redone columns not counted)."""
    return 2 * len(groups) + (2 if any(len(g) > 1 for g in groups) else 0)


class Budget:
    """What a check may spend (``max_seconds``, None: no limit), the plan it announces,
    and the counts its report gives.  Without a limit or a listener it times nothing."""

    def __init__(self, problem, numeric_problem, max_seconds, listener, start, seed):
        self.problem, self.numeric_problem, self.seed = problem, numeric_problem, seed
        self.max_seconds, self.listener, self.start = max_seconds, listener, start
        self.n_out = int(problem.offsets[-1])
        self.total = sum(t.numel() for _, t in problem.targets)
        self.counts = {"total_entries": self.n_out * self.total}
        self.timed = max_seconds is not None or listener is not None
        self.timings = Timings(problem, numeric_problem) if self.timed else None
        self.full_seconds, self.full_bound = None, False

    def estimate(self, rows=0, forward_calls=0, bound=False):
        """Seconds for ``rows`` VJPs and ``forward_calls`` forward calls, from the first
        calls (None when untimed); kept, from the start, as the full check's estimate
        (``bound``: an upper bound, the forward calls counted before colouring)."""
        if not self.timed:
            return None
        seconds = rows * self.timings.row + forward_calls * self.timings.forward
        self.full_seconds, self.full_bound = time.perf_counter() - self.start + seconds, bound
        return seconds

    def fits(self, seconds):
        """Would ``seconds`` more work end within the budget?"""
        return (seconds is None or self.max_seconds is None
                or time.perf_counter() - self.start + seconds <= self.max_seconds)

    def announce(self, **plan):
        """Tell the listener the plan: entries, forward calls, seconds."""
        self.counts.update(plan)
        if self.listener is not None:
            seconds = max(0.0, self.full_seconds - (time.perf_counter() - self.start)) \
                if self.full_seconds is not None else None
            self.listener({"total_entries": self.n_out * self.total, "outputs": self.n_out,
                           "columns": self.total, "sampled": False, "seconds": seconds,
                           "full_seconds": self.full_seconds,
                           "full_seconds_bound": self.full_bound, **plan})

    def sample(self, checks, analytic, eps, atol, rtol, kinks, progress):
        """The sampled check (see the module doc), one TensorCheck per target into
        ``checks``; ``analytic``: the whole analytic Jacobian, when it was affordable."""
        sample = SampledCheck(self.problem, self.numeric_problem, self.timings,
                              self.max_seconds, self.start, self.seed,
                              analytic)
        self.announce(**sample.plan())
        steps = sum(len(c) for c in sample.columns) + sample.rounds * len(sample.columns)
        done = [0]

        def advance(n):
            done[0] += n
            if progress is not None:
                progress(done[0], steps)

        outcomes = sample.projection_checks(eps, atol, rtol, advance)
        for check, rounds in zip(sample.entry_checks(eps, atol, rtol, kinks, advance),
                                 outcomes):
            checks.append(with_projections(check, rounds))
        self.counts.update(sampled=True, rows=len(sample.rows), projections=sample.rounds,
                           full_seconds=self.full_seconds, full_seconds_bound=self.full_bound)


class _PickedElements:
    """Chosen elements of an array, indexed as one flat array: the ``_data`` that the
    finite differences of ``_numeric`` write through."""

    def __init__(self, array, indices):
        self.array, self.indices, self.shape = array, indices, (len(indices),)

    def reshape(self, *shape):
        return self

    def _where(self, key):
        key = key[0] if isinstance(key, tuple) else key
        return np.unravel_index(self.indices[key], self.array.shape)

    def __getitem__(self, key):
        return self.array[self._where(key)]

    def __setitem__(self, key, value):
        self.array[self._where(key)] = value


class _Picked:
    """Chosen elements of a tensor, as the flat tensor ``_numeric`` and ``_compare`` see."""

    def __init__(self, tensor, indices):
        self._data = _PickedElements(tensor._data, indices)
        self.shape = self._data.shape


class _Rows:
    """The problem seen through a sample of its output rows."""

    def __init__(self, problem, rows):
        self.problem, self.rows = problem, rows

    def values(self, replay=False):
        return self.problem.values(replay)[self.rows]

    def perturbed(self, tensor, columns, step, replay=False):
        return self.problem.perturbed(tensor, columns, step, replay)[self.rows]

    def perturbed_many(self, tensor, moves, replay=False, tolerance=0.0):
        return self.problem.perturbed_many(tensor, moves, replay, tolerance)[:, self.rows]

    def locate(self, row):
        return self.problem.locate(self.rows[row])


def _shares(sizes, n):
    """``n`` sampled columns shared out equally over tensors of ``sizes`` elements, at
    least one each, never more than a tensor has; what a small tensor leaves goes on."""
    share = [0] * len(sizes)
    left, open_ = max(n, len(sizes)), [i for i, s in enumerate(sizes) if s]
    while open_ and left > 0:
        each = max(1, left // len(open_))
        for i in list(open_):
            take = min(each, sizes[i] - share[i], left)
            share[i] += take
            left -= take
            if share[i] == sizes[i]:
                open_.remove(i)
        if each == 1 and left and not any(sizes[i] > share[i] for i in open_):
            break
    return share


class SampledCheck:
    """The sampled check of one problem: plan, entries, projections."""

    def __init__(self, problem, numeric_problem, timings, max_seconds, start, seed,
                 analytic=None):
        self.problem, self.numeric_problem = problem, numeric_problem
        self.timings, self.start, self.seed = timings, start, seed
        self.analytic = analytic  # the whole analytic Jacobian, when it was affordable
        self.deadline = start + max_seconds
        rng = np.random.default_rng(seed)
        self.rng = rng
        sizes = [t.numel() for _, t in problem.targets]
        n_out = int(problem.offsets[-1])
        t_f, t_row = max(timings.forward, 1e-6), max(timings.row, 1e-6)
        left = max(0.0, max_seconds - (time.perf_counter() - start))
        per_round = t_row + 4 * len(sizes) * t_f  # one VJP, two differences per tensor
        # the projections carry the one-element guarantee: at least one round, however tight
        self.rounds = max(1, min(PROJECTION_ROUNDS, int(left / 2 / per_round)))
        left = max(0.0, left - self.rounds * per_round) * 0.8  # 0.8: comparisons, kinks
        if analytic is not None:
            self.rows = np.arange(n_out)
            n_cols = min(int(left / (2 * t_f)), SAMPLE_ENTRIES // max(1, n_out))
        else:
            n_rows = min(n_out, max(1, int(left / 2 / t_row)))
            n_cols = int(left / 2 / (2 * t_f))
            shrink = min(1.0, (SAMPLE_ENTRIES / max(1, n_rows * n_cols)) ** 0.5)
            self.rows, self.n_rows = None, max(1, int(n_rows * shrink))
            n_cols = int(n_cols * shrink)
        self.columns = [np.sort(rng.choice(s, k, replace=False)) if k else np.zeros(0, int)
                        for s, k in zip(sizes, _shares(sizes, n_cols))]

    def plan(self):
        n_rows = len(self.rows) if self.rows is not None else self.n_rows
        n_cols = sum(len(c) for c in self.columns)
        return {"sampled": True, "sampled_rows": n_rows, "sampled_columns": n_cols,
                "checked_entries": n_rows * n_cols,
                "forward_calls": 2 * n_cols + self.rounds * 4 * len(self.columns),
                "projections": self.rounds,
                "seconds": max(0.0, self.deadline - time.perf_counter())}

    def _choose_rows(self, eps):
        """Half the rows where the sampled columns move the outputs (a difference along all
        of them at once), half anywhere, so that the sample holds nonzero entries."""
        moved = np.zeros(int(self.problem.offsets[-1]), bool)
        with no_grad():
            for (_, t), cols in zip(self.numeric_problem.targets, self.columns):
                if len(cols):
                    moved |= (self.numeric_problem.perturbed(t, cols, eps)
                              != self.numeric_problem.perturbed(t, cols, -eps))
        reached = np.nonzero(moved)[0]
        half = min(len(reached), self.n_rows // 2 + self.n_rows % 2)
        picked = self.rng.choice(reached, half, replace=False) if half else np.zeros(0, int)
        rest = np.setdiff1d(np.arange(len(moved)), picked)
        extra = self.rng.choice(rest, min(len(rest), self.n_rows - half), replace=False)
        self.rows = np.sort(np.concatenate([picked, extra]).astype(int))

    def entry_checks(self, eps, atol, rtol, kinks, progress):
        """Per target, one TensorCheck of its sampled entries (indexed in the whole tensor),
        a chunk of columns at a time, round-robin over targets, until the deadline."""
        from .checker import _compare, _numeric

        if self.rows is None:
            self._choose_rows(eps)
        if self.analytic is None:
            analytic = self.problem.analytic(rows=self.rows, columns=self.columns)
        else:
            analytic = [a[:, c] for a, c in zip(self.analytic, self.columns)]
        rows = _Rows(self.numeric_problem, self.rows)
        results = []
        order = [(ti, lo) for lo in range(0, max(map(len, self.columns)), CHUNK)
                 for ti in range(len(self.columns)) if lo < len(self.columns[ti])]
        parts = {ti: [] for ti in range(len(self.columns))}
        for ti, lo in order:  # round-robin: every tensor gets columns before the deadline
            if time.perf_counter() > self.deadline and parts[ti]:
                continue
            cols = self.columns[ti][lo:lo + CHUNK]
            ref_t = self.numeric_problem.targets[ti][1]
            picked = _Picked(ref_t, cols)
            a = analytic[ti][:, lo:lo + CHUNK]
            with no_grad():
                numeric = _numeric(rows, picked, a, eps, atol, rtol, progress, self.seed)
            check = _compare(rows, self.problem.targets[ti][0], picked, a, numeric, eps, atol,
                             rtol, kinks)
            parts[ti].append((cols, check))
        for ti, (name, t) in enumerate(self.problem.targets):
            results.append(_merged_sample(name, tuple(t.shape), parts[ti]))
        return results

    def projection_checks(self, eps, atol, rtol, progress):
        """Per target, the outcomes of ``rounds`` random projections (see the module doc)."""
        problem, numeric_problem = self.problem, self.numeric_problem
        rng = np.random.default_rng(self.seed + 1)
        lhs_eps = analytic_epsilon(problem)
        outcomes = [[] for _ in problem.targets]
        with no_grad():
            base = np.abs(numeric_problem.values())
        for _ in range(self.rounds):
            u = rng.standard_normal(int(problem.offsets[-1]))
            grads = vjp(problem, u)
            for ti, (_, t) in enumerate(numeric_problem.targets):
                v = rng.standard_normal(t.numel())
                with no_grad():
                    outcomes[ti].append(_projection(numeric_problem, t, u, grads[ti], v, base,
                                                    eps, atol, rtol, lhs_eps))
                if progress is not None:
                    progress(1)
        return outcomes


def vjp(problem, u):
    """u^T J for every target, flat float64 (zeros where a target is not reached)."""
    from ..tensor import Tensor
    from . import grad as autograd_grad

    pieces = np.split(u, problem.offsets[1:-1])
    outs = [(o, p) for o, p in zip(problem.outputs, pieces) if o.requires_grad]
    grads = autograd_grad([o for o, _ in outs], [t for _, t in problem.targets],
                          [Tensor._wrap(p.reshape(o.shape).astype(o._data.dtype))
                           for o, p in outs], retain_graph=True, allow_unused=True)
    problem.backward_calls += 1
    return [np.zeros(t.numel()) if g is None else g._data.reshape(-1).astype(np.float64)
            for (_, t), g in zip(problem.targets, grads)]


def _along(problem, t, u, cols, v, step):
    """Central difference of u^T f along ``v`` on the elements ``cols`` of ``t``."""
    plus = problem.perturbed(t, cols, step * v)
    minus = problem.perturbed(t, cols, -step * v)
    return float(u @ ((plus - minus) / (2 * step)))


def projection_gap(problem, t, u, g, v, base, eps, atol, lhs_eps):
    """(u^T J v analytic, its central difference along v, the tolerance the difference's own
    error sets).  ``g``: u^T J analytic (flat); ``base``: |f| at the point; ``lhs_eps``: the
    analytic side's machine epsilon."""
    everything = np.arange(t.numel())
    lhs = float(g @ v)
    rhs = _along(problem, t, u, everything, v, eps)
    twice = _along(problem, t, u, everything, v, 2 * eps)
    # the difference's error: truncation and rounding (seen in the same difference at twice
    # the step), rounding of f itself over eps, and the analytic side's rounding
    noise = (abs(rhs - twice) + 8 * np.finfo(np.float64).eps * float(np.abs(u) @ base) / eps
             + 8 * lhs_eps * float(np.abs(g) @ np.abs(v)))
    return lhs, rhs, atol + 10 * noise


def analytic_epsilon(problem):
    return max(np.finfo(t._data.dtype).eps for _, t in problem.targets)


def _projection(problem, t, u, g, v, base, eps, atol, rtol, lhs_eps):
    """One projection u^T J v of target ``t``: passed, or the element it was bisected to."""
    lhs, rhs, tolerance = projection_gap(problem, t, u, g, v, base, eps, atol, lhs_eps)
    outcome = {"analytic": lhs, "numeric": rhs, "tolerance": tolerance, "passed": True,
               "element": None}
    if abs(lhs - rhs) <= tolerance:
        return outcome
    candidates, gap = np.arange(t.numel()), lhs - rhs
    while len(candidates) > 1:  # follow the larger disagreement down to one element
        half = candidates[:len(candidates) // 2]
        gap_half = float(g[half] @ v[half]) - _along(problem, t, u, half, v[half], eps)
        if abs(gap_half) >= abs(gap - gap_half):
            candidates, gap = half, gap_half
        else:
            candidates, gap = candidates[len(half):], gap - gap_half
    c = int(candidates[0])
    from .checker import _numeric_column

    column = _numeric_column(problem, t, c, eps)
    analytic, numeric = float(g[c]), float(u @ column)
    allowed = float(np.abs(u) @ (atol + rtol * np.abs(column)))
    outcome.update(passed=abs(analytic - numeric) <= allowed, element=c,
                   element_analytic=analytic, element_numeric=numeric)
    return outcome


def _merged_sample(name, shape, parts):
    """One target's check from its sampled chunks ``[(element indices, check)]``: counts
    add up; the worst element is the worst chunk's, indexed in the whole tensor."""
    from .checker import TensorCheck, _combined

    if not parts:
        return TensorCheck(name, shape)
    check, cols, worst = _combined(name, shape, parts)
    check.worst_index = [int(i) for i in np.unravel_index(cols[worst.worst_index[0]], shape)] \
        if worst.worst_index else []
    return check


def with_projections(check, outcomes):
    """Fold the projections' verdict into a target's sampled check.  An element whose
    column fails through u is a failure: at least one entry of that column is out of
    tolerance, counted once in ``n_failed`` per element found."""
    failed = [o for o in outcomes if not o["passed"]]
    if not failed:
        return check
    o = failed[0]
    analytic, numeric = o["element_analytic"], o["element_numeric"]
    if check.passed:  # else the entry sample's own worst entry is the better report
        check.worst_index = [int(i) for i in np.unravel_index(o["element"], check.shape)]
        check.analytic, check.numeric = analytic, numeric
        check.worst_output, check.worst_output_index = "u^T f (all outputs, random weights)", []
        check.signature = ("found by a random projection: u^T J at this element disagrees "
                           "with the central difference of u^T f")
    err = abs(analytic - numeric)
    check.max_abs_err = max(check.max_abs_err, err)
    check.max_rel_err = max(check.max_rel_err, err / abs(numeric) if numeric else 0.0)
    check.n_failed += len({o["element"] for o in failed})
    check.passed = False
    return check
