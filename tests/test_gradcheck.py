"""gradcheck: right backwards pass, planted wrong ones are caught and localised."""

import numpy as np
import pytest
import torch
from helpers import PlantedScale

import nncheck
import nncheck.nn as nn
from nncheck.autograd import Function
from nncheck.autograd.checker import GradcheckError, check_gradients


def _x(*shape, seed=0):
    rng = np.random.default_rng(seed)
    return nncheck.tensor(rng.uniform(0.5, 1.5, shape), dtype=nncheck.float64, requires_grad=True)


def test_right_backward_passes():
    assert nncheck.gradcheck(PlantedScale.apply, (_x(3, 3), _x(3, 3, seed=1)))


@pytest.mark.parametrize("bug,wrt", [("scale", "input[0]"), ("one_element", "input[0]"),
                                     ("missing", "input[1]"), ("transposed", "input[0]")])
def test_planted_bugs_are_caught_and_named(bug, wrt):
    PlantedScale.bug = bug
    x, w = _x(3, 3), _x(3, 3, seed=1)
    report = check_gradients(PlantedScale.apply, (x, w))
    assert not report.passed
    failed = [c for c in report.checks if not c.passed]
    assert [c.wrt for c in failed] == [wrt]
    if bug == "transposed":
        assert failed[0].signature.startswith("transposed")
    if bug == "one_element":
        # the planted +0.5 lands in column [1, 2] of every row of the Jacobian
        assert failed[0].worst_index == [1, 2] and failed[0].n_failed == 9
    with pytest.raises(GradcheckError, match=wrt.replace("[", r"\[").replace("]", r"\]")):
        nncheck.gradcheck(PlantedScale.apply, (x, w))
    assert nncheck.gradcheck(PlantedScale.apply, (x, w), raise_exception=False) is False


def test_module_parameters_are_checked_by_name():
    class BadBias(nn.Linear):
        def forward(self, x):
            return BadBiasFn.apply(x, self.weight, self.bias)

    class BadBiasFn(Function):
        @staticmethod
        def forward(ctx, x, w, b):
            ctx.save_for_backward(x, w)
            return x.matmul(w.t()) + b

        @staticmethod
        def backward(ctx, g):
            x, w = ctx.saved_tensors
            return g.matmul(w), g.t().matmul(x), g.sum(0) * 3

    m = BadBias(3, 2).double()
    report = check_gradients(m, (_x(4, 3),))
    assert {c.wrt: c.passed for c in report.checks} == {"input[0]": True, "weight": True,
                                                         "bias": False}


def test_agrees_with_torch_gradcheck_on_a_layer():
    x = _x(2, 3, 4)
    assert nncheck.gradcheck(nn.Softmax(dim=1).double(), (x,))
    tx = torch.tensor(x.detach().numpy(), requires_grad=True)
    assert torch.autograd.gradcheck(torch.nn.Softmax(dim=1).double(), (tx,))


def test_report_fields():
    report = check_gradients(nn.Linear(2, 2).double(), (_x(3, 2),))
    d = report.as_dict()
    assert d["passed"] and [c["wrt"] for c in d["checks"]] == ["input[0]", "weight", "bias"]
    assert set(d["checks"][0]) >= {"wrt", "max_abs_err", "max_rel_err", "worst_index", "passed"}


def test_nothing_to_check_is_an_error():
    with pytest.raises(ValueError, match="nothing to check"):
        nncheck.gradcheck(lambda t: t * 2, (nncheck.ones(2, dtype=nncheck.float64),))


def test_signatures_name_the_bug():
    PlantedScale.bug = "scale"
    report = check_gradients(PlantedScale.apply, (_x(3, 3), _x(3, 3, seed=1)))
    assert "constant factor" in report.checks[0].signature and "2" in report.checks[0].signature
    PlantedScale.bug = "missing"
    report = check_gradients(PlantedScale.apply, (_x(3, 3), _x(3, 3, seed=1)))
    assert "zero gradient" in report.checks[1].signature


class SignAtOne(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        grad = 2 * g * x
        grad[0, 1] = -grad[0, 1]
        return grad


def test_sign_flip_at_one_element_is_localised():
    report = check_gradients(SignAtOne.apply, (_x(2, 3),))
    c = report.checks[0]
    assert not c.passed and c.worst_index == [0, 1] and c.n_failed == 1
    assert c.worst_output_index == [0, 1] and c.analytic == pytest.approx(-c.numeric, rel=1e-6)


class BorderBug(Function):
    @staticmethod
    def forward(ctx, x):
        return x * 3

    @staticmethod
    def backward(ctx, g):
        grad = g * 3
        grad[..., 0, :] = 0
        return grad


def test_border_only_bug_signature():
    report = check_gradients(BorderBug.apply, (_x(1, 6, 6),))
    assert "border" in report.checks[0].signature


def test_relu_at_kink_is_reported_separately_not_failed():
    x = nncheck.tensor([[0.0, 1.0], [-1.0, 0.0]], dtype=nncheck.float64, requires_grad=True)
    report = check_gradients(nn.ReLU(), (x,), eps=1e-6)
    assert report.passed and report.checks[0].n_kinks == 2


def test_fast_mode_passes_right_and_catches_wrong_backward():
    x, w = _x(4, 4), _x(4, 4, seed=1)
    report = check_gradients(PlantedScale.apply, (x, w), fast=True)
    assert report.passed and report.backward_calls == 1
    PlantedScale.bug = "one_element"
    report = check_gradients(PlantedScale.apply, (x, w), fast=True)
    assert not report.passed and report.checks[0].worst_index == [1, 2]


class Nondeterministic(Function):
    calls = 0

    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        Nondeterministic.calls += 1
        return g * 2 + 1e-3 * Nondeterministic.calls


def test_semantic_checks():
    report = check_gradients(nn.Linear(3, 2).double(), (_x(2, 3),), semantic=True)
    assert report.passed and set(report.semantic) == {
        "linear_in_grad_output", "zero_grad_output_gives_zero", "deterministic_backward",
        "inputs_not_mutated", "batch_consistency"}
    from nncheck.autograd.checker import semantic_checks

    sem = semantic_checks(Nondeterministic.apply, (_x(2, 2),))
    assert not sem["deterministic_backward"]["passed"]
    assert not sem["zero_grad_output_gives_zero"]["passed"]


def test_colouring_needs_far_fewer_forward_calls_than_elements():
    m = nn.Linear(20, 30).double()
    report = check_gradients(m, (_x(4, 20),))
    n_elements = 4 * 20 + 20 * 30 + 30
    assert report.passed and report.forward_calls < n_elements / 3


class NeighbourSum(Function):
    """y[i] = x[i] + x[i+1] (cyclic); the backward claims dy[i]/dx[i] = 2 and nothing else,
    which every output agrees with when all elements are perturbed at once."""

    @staticmethod
    def forward(ctx, x):
        return x + nncheck.cat([x[1:], x[:1]])

    @staticmethod
    def backward(ctx, g):
        return 2 * g


def test_a_backward_that_hides_a_dependency_from_the_colouring_is_caught():
    report = check_gradients(NeighbourSum.apply, (_x(6),))
    assert not report.passed
    # every off-diagonal x[i+1] -> y[i] entry is missing, every diagonal one is off by 1
    assert report.checks[0].n_failed == 12


class EightTaps(Function):
    """y[i] = x[i] + ... + x[i+7] (cyclic, 32 elements) + 0.005 x[16] in y[0] alone; the
    backward folds that 0.005 into dy[0]/dx[0].  Columns 0 and 16 share a colour group, so
    the group's difference for row 0 equals the wrong analytic value: only the directional
    check, with a bound far below rtol * (sum of the row), sees it."""

    @staticmethod
    def forward(ctx, x):
        y = sum(nncheck.cat([x[j:], x[:j]]) for j in range(8))
        return y + nncheck.cat([x[16:17] * 0.005, nncheck.zeros(31, dtype=x.dtype)])

    @staticmethod
    def backward(ctx, g):
        gx = sum(nncheck.cat([g[32 - j:], g[:32 - j]]) for j in range(8))
        return gx + nncheck.cat([g[:1] * 0.005, nncheck.zeros(31, dtype=g.dtype)])


def test_a_small_misattributed_term_in_a_wide_row_is_caught():
    report = check_gradients(EightTaps.apply, (_x(32),))
    assert not report.passed
    assert report.checks[0].n_failed == 2  # (0, 0) is 0.005 too big, (0, 16) is missing


def test_batch_consistency_is_reported():
    from nncheck.autograd.checker import semantic_checks

    sem = semantic_checks(nn.Linear(3, 2).double(), (_x(4, 3),))
    assert sem["batch_consistency"]["passed"]

    def leaky(x):  # each sample sees the batch mean: samples leak into each other
        return x - x.mean(0, keepdim=True)

    sem = semantic_checks(leaky, (_x(4, 3),))
    assert not sem["batch_consistency"]["passed"] and sem["batch_consistency"]["informative"]


def test_float32_kernels_against_float64_reference():
    m32 = nn.Linear(5, 4)
    m64 = nn.Linear(5, 4).double()
    m64.load_state_dict({k: v.double() for k, v in m32.state_dict().items()})
    x64 = _x(3, 5)
    x32 = nncheck.tensor(x64.detach().numpy().astype(np.float32), requires_grad=True)
    report = check_gradients(m32, (x32,), reference=(m64, (x64,)))
    assert report.passed and report.atol > 1e-5


@pytest.mark.parametrize("layer,args,shape", [
    ("Conv2d", (3, 4, 3), (2, 3, 6, 6)),
    ("Conv1d", (4, 6, 3, 2, 1, 1, 2), (2, 4, 9)),
    ("Conv3d", (2, 3, 2, 1, 1), (2, 2, 3, 4, 3)),
    ("ConvTranspose2d", (4, 2, 3, 2, 1, 1, 2), (2, 4, 3, 3)),
    ("ConvTranspose1d", (3, 2, 3, 2, 1, 1), (2, 3, 4)),
    ("Linear", (5, 3), (2, 4, 5)),
    ("BatchNorm2d", (3,), (2, 3, 4, 4)),
    ("GroupNorm", (2, 4), (3, 4, 5)),
    ("InstanceNorm1d", (4, 0.1, 0.1, True), (2, 4, 6)),
    ("MaxPool2d", (2,), (2, 3, 4, 6)),
    ("AdaptiveMaxPool1d", (3,), (2, 7)),
    ("LayerNorm", ((3, 4),), (2, 5, 3, 4)),
    ("RMSNorm", (4,), (3, 4)),
])
def test_stacked_backward_is_the_per_cotangent_backward(layer, args, shape):
    """gradcheck feeds layers K cotangents at once: entry k of the result must be the
    backward of cotangent k alone (nothing mixes across the stack)."""
    module = getattr(nn, layer)(*args).double()
    y = module(_x(*shape))
    cotangents = np.random.default_rng(1).standard_normal((3,) + tuple(y.shape))
    stacked = y.grad_fn.apply_stacked([cotangents])
    for k in range(3):
        single = y.grad_fn.apply([cotangents[k]])
        assert len(stacked) == len(single)
        for a, b in zip(stacked, single):
            assert (a is None) == (b is None)
            if a is not None:
                np.testing.assert_allclose(a[k], b, rtol=1e-12, atol=1e-12)


def test_workers_share_the_numerical_jacobian_and_agree_with_one_process():
    module = nn.LSTM(3, 4).double()
    x = _x(4, 2, 3)
    alone = check_gradients(module, (x,))
    shared = check_gradients(module, (x,), workers=2)
    assert alone.passed and shared.passed
    assert [c.wrt for c in shared.checks] == [c.wrt for c in alone.checks]
    for a, b in zip(alone.checks, shared.checks):
        assert a.n_entries == b.n_entries and b.max_abs_err < 1e-8


def test_workers_catch_a_planted_bug_where_one_process_does():
    PlantedScale.bug = "one_element"
    report = check_gradients(PlantedScale.apply, (_x(3, 3), _x(3, 3, seed=1)), workers=3)
    failed = [c for c in report.checks if not c.passed]
    assert [c.wrt for c in failed] == ["input[0]"]
    assert failed[0].worst_index == [1, 2] and failed[0].n_failed == 9


def test_workers_after_the_parent_ran_openmp_kernels():
    """A forked child cannot use the parent's OpenMP pool: the workers must not hang on a
    layer whose kernels ran threaded in the parent first."""
    module = nn.BatchNorm2d(8).double()
    module(nncheck.randn(8, 8, 32, 32, dtype=nncheck.float64))  # large enough for threads
    report = check_gradients(module, (_x(3, 8, 2, 2),), workers=2)
    assert report.passed


def test_big_jacobians_are_checked_in_column_blocks_with_the_same_verdict():
    module = nn.Conv2d(2, 3, 3).double()
    x = _x(2, 2, 6, 6)
    whole = check_gradients(module, (x,))
    # 96 outputs: a 40 KB budget leaves 13 columns per block
    blocked = check_gradients(module, (x,), max_jacobian_bytes=40_000)
    assert whole.passed and blocked.passed
    assert blocked.backward_calls > whole.backward_calls  # the VJPs are redone per block
    for a, b in zip(whole.checks, blocked.checks):
        assert (a.wrt, a.shape, a.n_entries) == (b.wrt, b.shape, b.n_entries)
        assert b.max_abs_err < 1e-8


def test_a_planted_bug_is_localised_in_the_whole_tensor_when_blocked():
    PlantedScale.bug = "one_element"
    report = check_gradients(PlantedScale.apply, (_x(3, 3), _x(3, 3, seed=1)),
                             max_jacobian_bytes=9 * 32 * 2)  # 2 columns per block
    failed = [c for c in report.checks if not c.passed]
    assert [c.wrt for c in failed] == ["input[0]"]
    assert failed[0].worst_index == [1, 2] and failed[0].n_failed == 9
    assert failed[0].n_entries == 81


def test_numerical_jacobian_replays_the_function_forwards(monkeypatch):
    from nncheck.autograd import checker

    m = nn.MultiheadAttention(4, 2).double()
    q = _x(3, 2, 4)
    calls = [0]
    real_forward = nn.MultiheadAttention.forward

    def counted(self, *args, **kwargs):
        calls[0] += 1
        return real_forward(self, *args, **kwargs)

    monkeypatch.setattr(nn.MultiheadAttention, "forward", counted)
    replayed = check_gradients(m, (q, q, q))
    assert replayed.passed and calls[0] < 10 < replayed.forward_calls  # the rest replayed
    monkeypatch.setattr(checker._Problem, "_replay", lambda self: None)
    real = check_gradients(m, (q, q, q))
    for a, b in zip(replayed.checks, real.checks):
        assert a.wrt == b.wrt and a.max_abs_err == pytest.approx(b.max_abs_err, rel=1e-9,
                                                                 abs=1e-15)


def test_a_replay_that_would_hide_a_wrong_gradient_is_not_used():
    from nncheck.autograd import checker

    def f(x):  # c is made outside any Function: a replay would hold it fixed
        c = nncheck.tensor(x._data * 2)
        return x * c  # the true derivative is 4x; backward (c a constant) says 2x

    problem = checker._Problem(f, (_x(2, 3),))
    assert problem._replay() is None  # the check with every element moved sees it
    report = check_gradients(f, (_x(2, 3),))
    assert not report.passed and report.checks[0].n_failed == 6


def test_stacked_graph_walk_gives_the_engines_analytic_jacobian():
    """_graph_vjp (K rows through a multi-op graph at once) against one engine pass per row:
    shared inputs (q, q, q), non-leaf views as inputs, broadcasting and matmul."""
    from nncheck.autograd import checker

    q, k, v = _x(3, 2, 4), _x(2, 2, 4, 2), _x(2, 2, 4, 3)
    cases = [(nn.MultiheadAttention(4, 2).double(), (q, q, q)),
             (lambda a, b, c: nn.functional.scaled_dot_product_attention(a, b, c,
                                                                         is_causal=True),
              (_x(2, 4, 3, 2), k[:, :1], v[:, :1])),
             (lambda a: (a.expand(2, 3, 4) * a).tanh() @ a.t(), (_x(3, 4),)),
             (lambda a: (a[[0, 2, 0]].mean(dim=1, keepdim=True)  # shape ops' stacked rows
                         * a.permute(1, 0).reshape(4, 3)[:3, :1].mean(), a.mean(1)),
              (_x(3, 4),))]
    for func, inputs in cases:
        problem = checker._Problem(func, inputs)
        assert problem._graph_vjp() is not None
        stacked = problem.analytic()
        problem._graph_vjp = lambda: None
        for a, b in zip(stacked, problem.analytic()):
            np.testing.assert_array_equal(a, b)


def _stacked_cases():
    rng = np.random.default_rng(3)
    target = nncheck.tensor(rng.integers(0, 4, (3, 2)))
    weight = nncheck.tensor(rng.uniform(0.5, 2, 4), dtype=nncheck.float64)
    q = _x(3, 2, 4)
    return [
        ("Linear", nn.Linear(5, 3).double(), (_x(2, 4, 5),)),
        ("MHA self", nn.MultiheadAttention(4, 2).double(), (q, q, q)),
        ("MHA q,k,v", nn.MultiheadAttention(4, 1).double(), (_x(3, 2, 4), _x(5, 2, 4),
                                                             _x(5, 2, 4, seed=1))),
        ("LayerNorm", nn.LayerNorm((2, 3)).double(), (_x(4, 2, 3),)),
        ("CE mean", nn.CrossEntropyLoss(weight=weight, ignore_index=1,
                                        label_smoothing=0.1), (_x(3, 4, 2), target)),
        ("CE sum", nn.CrossEntropyLoss(reduction="sum"), (_x(3, 4, 2), target)),
        ("CE none", nn.CrossEntropyLoss(reduction="none"), (_x(3, 4, 2), target)),
        ("CE 1-D", nn.CrossEntropyLoss(), (_x(4), nncheck.tensor(np.array(2)))),
        ("LSTM 2 layers, both ways, proj", nn.LSTM(3, 4, num_layers=2, bidirectional=True,
                                                   proj_size=2).double(), (_x(4, 2, 3),)),
        ("GRU batch_first, h0", nn.GRU(3, 4, batch_first=True).double(),
         (_x(2, 4, 3), _x(1, 2, 4, seed=1))),
        ("RNN relu unbatched", nn.RNN(3, 4, nonlinearity="relu").double(), (_x(5, 3),)),
        ("LSTMCell", nn.LSTMCell(3, 4).double(), (_x(2, 3), (_x(2, 4), _x(2, 4, seed=1)))),
        ("BatchNorm2d train", nn.BatchNorm2d(3).double(), (_x(4, 3, 2, 2),)),
        ("BatchNorm1d eval", nn.BatchNorm1d(3).double().eval(), (_x(4, 3),)),
        ("GroupNorm", nn.GroupNorm(2, 4).double(), (_x(3, 4, 5),)),
        ("InstanceNorm1d affine", nn.InstanceNorm1d(4, affine=True).double(), (_x(2, 4, 6),)),
        ("Conv2d groups", nn.Conv2d(2, 4, 3, padding=1, groups=2).double(), (_x(2, 2, 4, 4),)),
        ("Conv2d", nn.Conv2d(3, 2, 3, stride=2, padding=1).double(), (_x(2, 3, 5, 5),)),
        ("Conv1d unbatched", nn.Conv1d(2, 3, 2, stride=2).double(), (_x(2, 7),)),
        ("ConvTranspose3d", nn.ConvTranspose3d(2, 3, 2).double(), (_x(1, 2, 2, 3, 2),)),
        ("ConvTranspose2d unbatched", nn.ConvTranspose2d(2, 3, 3, stride=2, dilation=2,
                                                         output_padding=1).double(),
         (_x(2, 3, 4),)),
    ]


@pytest.mark.parametrize("case", range(len(_stacked_cases())),
                         ids=[c[0] for c in _stacked_cases()])
def test_stacked_replays_give_each_versions_forward(case):
    """A stacked replay (K versions of one input or parameter at once, through the ops'
    forward_stacked) equals K plain replays, for every target of the layer."""
    from nncheck.autograd import checker

    _, func, inputs = _stacked_cases()[case]
    problem = checker._Problem(func, inputs)
    replayer = problem._replay()
    rng = np.random.default_rng(4)
    for name, t in problem.targets:
        data = t._data
        assert replayer.stackable(data), name
        if name in ("weight", "bias") and getattr(func, "groups", 1) > 1:
            assert problem._may_stack(t)  # but the input alone is stacked:
            assert problem._stacked_rows(t, [([0], 1e-6)], 1e-13) is None
            continue
        copies = data + rng.uniform(-0.1, 0.1, (3,) + data.shape)
        stacked = replayer.stacked_arrays(data, copies)
        saved = data.copy()
        for k in range(3):
            data[...] = copies[k]
            for a, b in zip(stacked, replayer.arrays()):
                np.testing.assert_allclose(a[k], b, rtol=1e-12, atol=1e-14, err_msg=name)
        data[...] = saved
        # and the checker's validation agrees
        assert problem._may_stack(t) and problem._stacked_rows(t, [([0], 1e-6)], 1e-13) \
            is not None, name
    assert check_gradients(func, inputs).passed


def test_a_wrong_forward_stacked_is_not_used(monkeypatch):
    """A stacked replay that disagrees with plain replays (here: K weights, but only the
    first one used) is refused; the check goes on with plain replays and stays right."""
    from nncheck.autograd import checker
    from nncheck.nn.functional.linear import _Linear

    real = _Linear.forward_stacked

    def first_weight_only(ctx, stacked, x, weight, bias):
        if stacked[1]:
            weight = np.broadcast_to(weight[:1], weight.shape)
        return real(ctx, stacked, x, weight, bias)

    monkeypatch.setattr(_Linear, "forward_stacked", staticmethod(first_weight_only))
    m, x = nn.Linear(4, 3).double(), _x(2, 4)
    problem = checker._Problem(m, (x,))
    one = [([0], 1e-6)]
    assert problem._may_stack(x) and problem._stacked_rows(x, one, 1e-13) is not None
    assert problem._may_stack(m.weight) and problem._stacked_rows(m.weight, one, 1e-13) is None
    assert problem.stackable == {id(x): True, id(m.weight): False}
    report = check_gradients(m, (x,))
    assert report.passed and [c.n_entries for c in report.checks] == [48, 72, 18]


def test_a_wrong_backward_is_caught_through_stacked_replays(monkeypatch):
    from nncheck.autograd.replay import Replay
    from nncheck.nn.functional.linear import _Linear

    stacked_calls = [0]
    real_stacked = Replay.stacked_arrays

    def counted(self, array, copies):
        stacked_calls[0] += 1
        return real_stacked(self, array, copies)

    real_backward = _Linear.backward_stacked

    def doubled_weight(ctx, grads):
        gx, gw, gb = real_backward(ctx, grads)
        return gx, None if gw is None else 2 * gw, gb

    monkeypatch.setattr(Replay, "stacked_arrays", counted)
    monkeypatch.setattr(_Linear, "backward_stacked", staticmethod(doubled_weight))
    report = check_gradients(nn.Linear(4, 3).double(), (_x(2, 4),))
    failed = [c for c in report.checks if not c.passed]
    assert [c.wrt for c in failed] == ["weight"] and stacked_calls[0] > 0
    assert failed[0].signature == "off by a constant factor (analytic = 2 x numerical)"


@pytest.mark.parametrize("kwargs", [{}, {"padding_idx": 1, "scale_grad_by_freq": True}])
def test_embedding_stacked_backward_is_the_per_cotangent_backward(kwargs):
    module = nn.Embedding(5, 3, **kwargs).double()
    y = module(nncheck.tensor(np.array([[0, 1, 1], [4, 0, 1]])))
    cotangents = np.random.default_rng(1).standard_normal((3,) + tuple(y.shape))
    (stacked,) = [g for g in y.grad_fn.apply_stacked([cotangents]) if g is not None]
    for k in range(3):
        (single,) = [g for g in y.grad_fn.apply([cotangents[k]]) if g is not None]
        np.testing.assert_array_equal(stacked[k], single)
    torch_module = torch.nn.Embedding(5, 3, **kwargs).double()
    torch_module.weight.data = torch.tensor(module.weight.detach().numpy())
    torch_y = torch_module(torch.tensor([[0, 1, 1], [4, 0, 1]]))
    torch_y.backward(torch.tensor(cotangents[2]))
    np.testing.assert_allclose(stacked[2], torch_module.weight.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("module", [nn.LSTM(3, 4, num_layers=2, bidirectional=True),
                                    nn.GRU(3, 2)], ids=["LSTM", "GRU"])
def test_stacked_rows_of_a_multi_output_node_give_the_engines_jacobian(module):
    """A layer whose node has several outputs (output, h_n, c_n) takes K rows of one output
    in one backward_stacked call, zeros for the others: bit for bit the engine's rows."""
    from nncheck.autograd import checker

    problem = checker._Problem(module.double(), (_x(4, 2, 3),))
    assert problem._node_vjp()[1] > 1
    stacked = problem.analytic()
    problem._node_vjp = problem._graph_vjp = lambda: None
    for a, b in zip(stacked, problem.analytic()):
        np.testing.assert_array_equal(a, b)


def test_colouring_is_plain_first_fit():
    """The colouring's shortcuts (repeated footprints, a row every column reaches) give the
    groups of plain greedy first fit, largest footprints first."""
    from nncheck.autograd.checker import _colour

    rng = np.random.default_rng(5)
    for density in (0.05, 0.2, 0.6):
        distinct = rng.random((40, 12)) < density
        footprints = distinct[:, rng.integers(0, 12, 60)]  # many repeated columns
        groups, used = [], []
        for col in np.argsort(-footprints.sum(axis=0), kind="stable"):
            g = next((g for g, rows in enumerate(used) if not (rows & footprints[:, col]).any()),
                     len(groups))
            if g == len(groups):
                groups.append([])
                used.append(np.zeros(40, bool))
            groups[g].append(col)
            used[g] |= footprints[:, col]
        assert [list(g) for g in _colour(footprints)] == [sorted(g) for g in groups]
    dense = np.ones((3, 4), bool)
    assert [list(g) for g in _colour(dense)] == [[0], [1], [2], [3]]


def test_stacked_replays_in_small_chunks_give_the_same_report(monkeypatch):
    from nncheck.autograd import checker

    m, x = nn.LSTM(3, 4).double(), _x(3, 2, 3)
    whole = check_gradients(m, (x,))
    monkeypatch.setattr(checker, "STACKED_ELEMENTS", 200)  # a few copies per replay
    chunked = check_gradients(m, (x,))
    assert whole.passed and chunked.passed
    for a, b in zip(whole.checks, chunked.checks):
        assert a.max_abs_err == pytest.approx(b.max_abs_err, rel=1e-6, abs=1e-12)
