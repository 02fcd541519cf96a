"""Loss functions against PyTorch: outputs and input/target gradients over every option."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from reference import (
    assert_close,
    check_repr_and_keys,
    check_shape_rule,
    compare_function,
    compare_module,
    to_nncheck,
    to_torch,
)

import nncheck
import nncheck.nn as nn
import nncheck.nn.functional as F

REDUCTIONS = ("none", "mean", "sum")
rng = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _quiet():
    """Size-mismatch and KLDiv 'mean' warnings are part of torch's behaviour, not noise here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# ---------------------------------------------------------------- input makers

def normal(*shape):
    return rng.standard_normal(shape)


def signs(*shape):
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0)


def probs(*shape):
    return rng.uniform(0.05, 0.95, shape)


def softmax(a, axis):
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def classes(C, *shape):
    return rng.integers(0, C, shape)


def multilabel(N, C):
    """Distinct class indices then -1 per row; row 0 has ignored entries after its -1."""
    t = np.full((N, C), -1)
    for row in t:
        k = rng.integers(1, C + 1)
        row[:k] = rng.permutation(C)[:k]
    t[0, 1:] = [-1] + [1] * (C - 2)
    return t


def both(arr):
    """The same weight tensor for each library (None stays None)."""
    return (None, None) if arr is None else (to_nncheck(arr), to_torch(arr))


# ---------------------------------------------------------------- the grid
# (class name, constructor kwargs as numpy-or-scalar, inputs, differentiable inputs)

def _cases():
    C = 4
    w = rng.uniform(0.5, 2.0, C)
    cases = []
    for kw, y in [({}, normal(3, 4)), ({}, normal(4))]:
        cases += [("L1Loss", kw, [normal(3, 4), y], (0, 1)),
                  ("MSELoss", kw, [normal(3, 4), y], (0, 1))]
    for beta in (1.0, 0.5, 0.0):
        cases.append(("SmoothL1Loss", {"beta": beta}, [normal(3, 4), normal(3, 4)], (0, 1)))
    for delta in (1.0, 0.3):
        cases.append(("HuberLoss", {"delta": delta}, [normal(3, 4), normal(3, 4)], (0, 1)))
    for weight in (None, w, rng.uniform(0.5, 2, (3, C))):
        cases.append(("BCELoss", {"weight": weight}, [probs(3, C), rng.random((3, C))], (0, 1)))
    for weight in (None, w):
        for pos in (None, rng.uniform(0.5, 3, C)):
            cases.append(("BCEWithLogitsLoss", {"weight": weight, "pos_weight": pos},
                          [3 * normal(3, C), rng.random((3, C))], (0, 1)))
    for log_target in (False, True):
        target = softmax(normal(3, C), 1)
        if not log_target:
            target[0, 0] = 0  # torch's target gradient is NaN there; so is ours
        cases.append(("KLDivLoss", {"log_target": log_target, "reduction": "batchmean"},
                      [np.log(softmax(normal(3, C), 1)),
                       np.log(target) if log_target else target], (0, 1)))
        cases.append(("KLDivLoss", {"log_target": log_target},
                      [normal(3, C), normal(3, C) if log_target else rng.random((3, C))], (0, 1)))
    counts = rng.poisson(2.0, (3, C)).astype(float)
    for log_input in (True, False):
        for full in (False, True):
            x = normal(3, C) if log_input else rng.uniform(0.1, 3, (3, C))
            cases.append(("PoissonNLLLoss", {"log_input": log_input, "full": full, "eps": 1e-3},
                          [x, counts], (0, 1)))
    for full in (False, True):
        for var_shape in ((3, C), (3,), (3, 1), (1, C)):
            var = rng.uniform(0.1, 1, var_shape)
            cases.append(("GaussianNLLLoss", {"full": full, "eps": 0.3},
                          [normal(3, C), normal(3, C), var], (0, 1, 2)))
    cases.append(("SoftMarginLoss", {}, [normal(3, C), signs(3, C)], (0,)))
    odd = signs(3, C)
    odd[0, :2] = [0.0, 2.0]  # neither +1 nor -1: both branches apply, as in torch
    for margin in (1.0, 0.5):
        cases.append(("HingeEmbeddingLoss", {"margin": margin}, [normal(3, C), odd], (0,)))
    for margin in (0.0, 0.5):
        cases.append(("MarginRankingLoss", {"margin": margin}, [normal(5), normal(5), signs(5)],
                      (0, 1, 2)))
        y = signs(5)
        y[0] = 0
        cases.append(("CosineEmbeddingLoss", {"margin": margin}, [normal(5, C), normal(5, C), y],
                      (0, 1)))
    cases.append(("CosineEmbeddingLoss", {"margin": -0.5}, [normal(C), normal(C), np.array(-1.0)],
                  (0, 1)))
    for p in (1, 2):
        for weight in (None, w):
            cases.append(("MultiMarginLoss", {"p": p, "margin": 0.7, "weight": weight},
                          [normal(5, C), classes(C, 5)], (0,)))
    cases.append(("MultiMarginLoss", {}, [normal(C), classes(C, 1)], (0,)))
    cases.append(("MultiMarginLoss", {}, [normal(C), np.array(2)], (0,)))
    cases.append(("MultiLabelMarginLoss", {}, [normal(5, C), multilabel(5, C)], (0,)))
    cases.append(("MultiLabelMarginLoss", {}, [normal(C), multilabel(1, C)[0]], (0,)))
    for weight in (None, w):
        cases.append(("MultiLabelSoftMarginLoss", {"weight": weight},
                      [normal(3, C), (rng.random((3, C)) > 0.5) * 1.0], (0, 1)))
    for p in (2.0, 1.0, 3.0, 1.5, 0.5, float("inf")):
        for swap in (False, True):
            cases.append(("TripletMarginLoss", {"p": p, "swap": swap, "margin": 1.5},
                          [normal(5, C), normal(5, C), normal(5, C)], (0, 1, 2)))
    cases.append(("TripletMarginLoss", {}, [normal(C), normal(C), normal(C)], (0, 1, 2)))
    cases.append(("TripletMarginLoss", {}, [normal(2, 3, C), normal(1, 1, C), normal(2, 3, C)],
                  (0, 1, 2)))
    for swap in (False, True):
        cases.append(("TripletMarginWithDistanceLoss", {"swap": swap, "margin": 2.0},
                      [normal(5, C), normal(5, C), normal(5, C)], (0, 1, 2)))
        cases.append(("TripletMarginWithDistanceLoss",
                      {"swap": swap, "distance_function": "squared"},
                      [normal(5, C), normal(5, C), normal(5, C)], (0, 1, 2)))
    for weight in (None, w):
        for smoothing in (0.0, 0.2):
            t = classes(C, 6)
            for ignore in (-100, int(t[0])):
                kw = {"weight": weight, "ignore_index": ignore, "label_smoothing": smoothing}
                cases.append(("CrossEntropyLoss", kw, [normal(6, C), t], (0,)))
                cases.append(("NLLLoss", {"weight": weight, "ignore_index": ignore},
                              [normal(6, C), t], (0,)))
            kw = {"weight": weight, "label_smoothing": smoothing}
            cases.append(("CrossEntropyLoss", kw, [normal(2, C, 3, 2), classes(C, 2, 3, 2)], (0,)))
            cases.append(("CrossEntropyLoss", kw, [normal(C), np.array(1)], (0,)))
            cases.append(("CrossEntropyLoss", kw, [normal(3, C), softmax(normal(3, C), 1)],
                          (0, 1)))
            cases.append(("CrossEntropyLoss", kw, [normal(2, C, 3), softmax(normal(2, C, 3), 1)],
                          (0, 1)))
        cases.append(("NLLLoss", {"weight": weight}, [normal(2, C, 3, 2), classes(C, 2, 3, 2)],
                      (0,)))
        cases.append(("NLLLoss", {"weight": weight}, [normal(C), np.array(3)], (0,)))
    all_ignored = np.full(3, -100)
    cases.append(("CrossEntropyLoss", {}, [normal(3, C), all_ignored], (0,)))  # mean: NaN
    cases.append(("CrossEntropyLoss", {}, [normal(0, C), classes(C, 0)], (0,)))
    return cases


CASES = _cases()


def _build(name, kw):
    """The nncheck and torch modules for a case (weights as tensors, named distances)."""
    nk, tk = dict(kw), dict(kw)
    for key in ("weight", "pos_weight"):
        if key in kw:
            nk[key], tk[key] = both(kw[key])
    if kw.get("distance_function") == "squared":
        nk["distance_function"] = tk["distance_function"] = lambda a, b: ((a - b) ** 2).sum(-1)
    return getattr(nn, name)(**nk), getattr(torch.nn, name)(**tk)


def _ids(cases):
    return [f"{c[0]}-{i}" for i, c in enumerate(cases)]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_against_torch(case, reduction):
    name, kw, inputs, grad_inputs = case
    kw = dict(kw)
    if kw.get("reduction") == "batchmean":
        if reduction != "mean":
            pytest.skip("batchmean replaces the mean reduction")
    else:
        kw["reduction"] = reduction
    nc, to = _build(name, kw)
    compare_module(nc, to, *inputs, grad_inputs=grad_inputs)
    check_shape_rule(nc, *inputs)


@pytest.mark.parametrize("case", CASES[::3], ids=_ids(CASES[::3]))
def test_float32(case):
    name, kw, inputs, grad_inputs = case
    kw = {k: (v.astype(np.float32) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
    nc, to = _build(name, kw)
    inputs = [a.astype(np.float32) if a.dtype.kind == "f" else a for a in inputs]
    compare_module(nc, to, *inputs, grad_inputs=grad_inputs, rtol=1e-4, atol=1e-5)


def test_functional_extras():
    """Functional-only options: per-element weights of l1/mse/huber, mlsm weight gradients."""
    x, y, w = normal(3, 4), normal(3, 4), rng.uniform(0.5, 2, (3, 4))
    for fn in ("l1_loss", "mse_loss", "huber_loss"):
        for red in REDUCTIONS:
            _compare_fn(fn, [x, y, w], (0, 1, 2), reduction=red)
    for red in REDUCTIONS:
        _compare_fn("multilabel_soft_margin_loss", [x, (y > 0) * 1.0, w[0]], (0, 1, 2),
                    reduction=red)
        _compare_fn("gaussian_nll_loss", [x, y, 0.7], (0, 1), reduction=red)


def _compare_fn(name, inputs, grad_inputs, **kw):
    """F.<name>(*inputs, **kw) with the third input passed as weight/var."""
    third = {"gaussian_nll_loss": "var"}.get(name, "weight")

    def call(lib, *xs):
        return getattr(lib, name)(xs[0], xs[1], **{third: xs[2]}, **kw)

    class NC(nn.Module):
        def forward(self, *xs):
            return call(F, *xs, *inputs[len(xs):])

    class TO(torch.nn.Module):
        def forward(self, *xs):
            return call(TF, *xs, *inputs[len(xs):])

    arrays = [a for a in inputs if isinstance(a, np.ndarray)]
    compare_module(NC(), TO(), *arrays, grad_inputs=grad_inputs)


def test_legacy_reduction_flags():
    x, y = normal(3, 4), normal(3, 4)
    for size_average, reduce, expected in [(None, None, "mean"), (False, None, "sum"),
                                           (None, False, "none"), (True, True, "mean")]:
        if size_average is None and reduce is None:
            continue
        with pytest.warns(UserWarning, match=f"please use reduction='{expected}'"):
            module = nn.MSELoss(size_average=size_average, reduce=reduce)
        assert module.reduction == expected
        with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
            out = F.l1_loss(to_nncheck(x), to_nncheck(y), size_average=size_average,
                            reduce=reduce)
        ref = TF.l1_loss(to_torch(x), to_torch(y), size_average=size_average, reduce=reduce)
        assert_close(out, ref)
    with pytest.warns(UserWarning, match="'mean' divides the total loss"):
        F.kl_div(to_nncheck(x), to_nncheck(y))


def test_repr_and_keys():
    w = rng.uniform(size=4)
    for name in nn.modules.loss.__all__:
        if name in ("NLLLoss2d", "LinearCrossEntropyLoss", "LinearCrossEntropyOptions"):
            continue  # the deprecated alias; the two that need arguments (tested below)
        nc, to = _build(name, {})
        check_repr_and_keys(nc, to)
    nc, to = _build("CrossEntropyLoss", {"weight": w})
    check_repr_and_keys(nc, to)
    nc, to = _build("BCEWithLogitsLoss", {"weight": w, "pos_weight": w})
    check_repr_and_keys(nc, to)
    with pytest.warns(FutureWarning, match="NLLLoss2d"):
        assert repr(nn.NLLLoss2d()) == "NLLLoss2d()"


def test_seed_examples():
    """Seed section Loss functions: L1Loss and MSELoss on (3, 5), then backward."""
    for cls in (nn.L1Loss, nn.MSELoss):
        loss = cls()
        input = nncheck.randn(3, 5, requires_grad=True)
        target = nncheck.randn(3, 5)
        output = loss(input, target)
        output.backward()
        ref_in = to_torch(input.detach(), requires_grad=True)
        ref = getattr(torch.nn, cls.__name__)()(ref_in, to_torch(target))
        ref.backward()
        assert_close(output, ref, rtol=1e-6)
        assert_close(input.grad, ref_in.grad, rtol=1e-6)


# ---------------------------------------------------------------- CTC

def _ctc_case(concat, tensors, impossible=False):
    T, N, C, S = 10, 3, 5, 4
    logits = normal(T, N, C)
    targets = rng.integers(1, C, (N, S))
    il, tl = np.array([10, 8, 6]), np.array([4, 2, 0])
    if impossible:
        il[0] = 3  # 4 labels cannot align with 3 frames: infinite loss
    if concat:
        targets = np.concatenate([targets[i, :tl[i]] for i in range(N)])
    lengths = (il, tl) if tensors else (tuple(il.tolist()), tuple(tl.tolist()))
    return logits, targets, lengths


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("layout", ["padded-tensor", "concat-tuple", "impossible"])
def test_ctc(reduction, zero_infinity, layout):
    logits, targets, (il, tl) = _ctc_case(layout.startswith("concat"), "tensor" in layout,
                                          layout == "impossible")

    def make(lib, as_tensor):
        lengths = [as_tensor(v) if isinstance(v, np.ndarray) else v for v in (il, tl)]

        class Wrapped(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.ctc = lib.nn.CTCLoss(blank=0, reduction=reduction,
                                          zero_infinity=zero_infinity)

            def forward(self, x, log_probs_direct):
                # through log_softmax (the true gradient) and on log_probs directly (torch's)
                return (self.ctc(x.log_softmax(2), as_tensor(targets), *lengths),
                        self.ctc(log_probs_direct, as_tensor(targets), *lengths))

        return Wrapped()

    log_probs = np.log(softmax(logits, 2))
    compare_module(make(nncheck, to_nncheck), make(torch, to_torch), logits, log_probs)


def test_ctc_unbatched_and_blank():
    T, C = 7, 5
    logits = normal(T, C)
    t = rng.integers(0, C - 1, 3)
    for blank in (0, C - 1):
        kw = {"blank": blank, "reduction": "sum"}
        tgt = t + 1 if blank == 0 else t
        compare_module(nn.CTCLoss(**kw), torch.nn.CTCLoss(**kw), np.log(softmax(logits, 1)), tgt,
                       np.array(T), np.array(3))


def test_ctc_gradcheck_through_log_softmax():
    x = to_nncheck(normal(5, 2, 4), requires_grad=True)
    targets, il, tl = _t([[1, 2], [3, 3]]), _t([5, 4]), _t([2, 2])
    assert nncheck.gradcheck(lambda a: F.ctc_loss(a.log_softmax(2), targets, il, tl), (x,))


# ---------------------------------------------------------------- gradcheck and dtypes

GRADCHECK = [
    ("L1Loss", {}, [normal(2, 3), normal(2, 3)], (0, 1)),
    ("MSELoss", {"reduction": "sum"}, [normal(2, 3), normal(2, 3)], (0, 1)),
    ("HuberLoss", {"delta": 0.5}, [normal(2, 3), normal(2, 3)], (0, 1)),
    ("BCELoss", {}, [probs(2, 3), rng.random((2, 3))], (0, 1)),
    ("BCEWithLogitsLoss", {"pos_weight": np.array([1.0, 2.0, 3.0])},
     [normal(2, 3), rng.random((2, 3))], (0, 1)),
    ("KLDivLoss", {"reduction": "batchmean", "log_target": True}, [normal(2, 3), normal(2, 3)],
     (0, 1)),
    ("PoissonNLLLoss", {"log_input": False, "full": True}, [probs(2, 3) + 1, np.full((2, 3), 3.0)],
     (0, 1)),
    ("GaussianNLLLoss", {}, [normal(2, 3), normal(2, 3), rng.uniform(0.5, 1, 2)], (0, 1, 2)),
    ("SoftMarginLoss", {}, [normal(2, 3), signs(2, 3)], (0,)),
    ("CrossEntropyLoss", {"weight": np.array([1.0, 2.0, 0.5]), "label_smoothing": 0.1},
     [normal(2, 3, 2), classes(3, 2, 2)], (0,)),
    ("CrossEntropyLoss", {"label_smoothing": 0.1}, [normal(2, 3), softmax(normal(2, 3), 1)],
     (0, 1)),
    ("MultiMarginLoss", {"p": 2}, [normal(2, 4), classes(4, 2)], (0,)),
    ("MultiLabelMarginLoss", {}, [normal(2, 4), multilabel(2, 4)], (0,)),
    ("CosineEmbeddingLoss", {}, [normal(3, 4), normal(3, 4), signs(3)], (0, 1)),
    ("MarginRankingLoss", {"margin": 0.2}, [normal(4), normal(4), signs(4)], (0, 1, 2)),
    ("TripletMarginLoss", {"p": 3.0, "swap": True}, [normal(2, 3), normal(2, 3), normal(2, 3)],
     (0, 1, 2)),
]


@pytest.mark.parametrize("case", GRADCHECK, ids=[c[0] for c in GRADCHECK])
def test_gradcheck(case):
    name, kw, inputs, grad_inputs = case
    module, _ = _build(name, kw)
    tensors = [to_nncheck(a, requires_grad=i in grad_inputs) for i, a in enumerate(inputs)]
    assert nncheck.gradcheck(module, tensors)


def test_float16_computes_in_float32():
    x, t = normal(4, 5), classes(5, 4)
    out = F.cross_entropy(nncheck.from_numpy(x.astype(np.float16)), nncheck.from_numpy(t))
    assert out.dtype == nncheck.float16
    ref = TF.cross_entropy(torch.from_numpy(x.astype(np.float16).astype(np.float64)),
                           torch.from_numpy(t))
    assert abs(out.item() - ref.item()) < 1e-2


# ---------------------------------------------------------------- bad input

def _t(a):
    return nncheck.from_numpy(np.asarray(a))


BAD = [
    (lambda: F.cross_entropy(_t(normal(3, 4)), _t([0, 7, 1])), IndexError,
     "Target 7 is out of bounds"),
    (lambda: F.nll_loss(_t(normal(3, 4)), _t([0, -1, 1])), IndexError, "Target -1 is out of"),
    (lambda: F.cross_entropy(_t(normal(3, 4)), _t([0, 1])), ValueError,
     r"Expected input batch_size \(3\) to match target batch_size \(2\)"),
    (lambda: F.cross_entropy(_t(normal(2, 4, 3)), _t(classes(4, 2, 2))), RuntimeError,
     r"Expected target size \[2, 3\], got \[2, 2\]"),
    (lambda: F.cross_entropy(_t(normal(3, 4)), _t([0, 1, 1]), weight=_t(np.ones(3))),
     RuntimeError, "weight tensor should be defined either for all 4 classes"),
    (lambda: F.cross_entropy(_t(normal(3, 4)), _t([0, 1, 1]), label_smoothing=1.5),
     RuntimeError, "label_smoothing must be between 0.0 and 1.0"),
    (lambda: F.cross_entropy(_t(normal(3, 4)), _t(probs(3, 4)), ignore_index=1), RuntimeError,
     "ignore_index is not supported for floating point target"),
    (lambda: F.cross_entropy(_t(normal(3, 4)), _t(classes(4, 3, 4))), RuntimeError,
     "Expected floating point type for target with class probabilities"),
    (lambda: F.nll_loss(_t(normal(3, 4)), _t([0.0, 1.0, 2.0])), RuntimeError,
     "expected target dtype to be Long or Byte"),
    (lambda: F.cross_entropy(_t(np.float64(1.0)), _t(0)), ValueError, "class dimension"),
    (lambda: F.binary_cross_entropy(_t(normal(3, 4)), _t(probs(3, 4))), RuntimeError,
     "all elements of input should be between 0 and 1"),
    (lambda: F.binary_cross_entropy(_t(probs(3, 4)), _t(probs(3, 4) * 3)), RuntimeError,
     "all elements of target should be between 0 and 1"),
    (lambda: F.binary_cross_entropy(_t(probs(3, 4)), _t(probs(4))), ValueError,
     "different to the input size"),
    (lambda: F.binary_cross_entropy_with_logits(_t(normal(3, 4)), _t(probs(4))), ValueError,
     "must be the same as input size"),
    (lambda: F.mse_loss(_t(normal(3, 4)), _t(normal(3, 4)), reduction="avg"), ValueError,
     "avg is not a valid value for reduction"),
    (lambda: F.l1_loss(_t(normal(3, 4)), _t(normal(3, 5))), RuntimeError,
     r"size of input \(4\) must match the size of target \(5\)"),
    (lambda: F.mse_loss(_t(normal(3, 4)), _t(normal(3, 4)), weight=_t(normal(4))), ValueError,
     "Weights and input must have the same size"),
    (lambda: F.smooth_l1_loss(_t(normal(3)), _t(normal(3)), beta=-1.0), RuntimeError,
     "does not support negative values for beta"),
    (lambda: F.huber_loss(_t(normal(3)), _t(normal(3)), delta=0.0), RuntimeError,
     "does not support non-positive values for delta"),
    (lambda: F.gaussian_nll_loss(_t(normal(3, 4)), _t(normal(3, 4)), _t(-probs(3, 4))),
     ValueError, "var has negative entry"),
    (lambda: F.gaussian_nll_loss(_t(normal(3, 4)), _t(normal(3, 4)), _t(probs(4))), ValueError,
     "var is of incorrect size"),
    (lambda: F.multi_margin_loss(_t(normal(3, 4)), _t([0, 1, 2]), p=3), ValueError,
     "only p == 1 and p == 2 supported"),
    (lambda: F.multi_margin_loss(_t(normal(3, 4)), _t([0, 4, 2])), RuntimeError,
     "target out of range"),
    (lambda: F.multi_margin_loss(_t(normal(3, 4)), _t([0, 1])), RuntimeError,
     "Expected target size \\[3\\]"),
    (lambda: nn.MultiMarginLoss(weight=_t(np.ones((2, 2)))), ValueError,
     "expected weight to be None or 1D tensor, got 2D"),
    (lambda: F.multilabel_margin_loss(_t(normal(2, 3)), _t([[0, 3, -1], [1, -1, 7]])),
     RuntimeError, "'target' is out of range: got 3"),
    (lambda: F.multilabel_margin_loss(_t(normal(2, 3)), _t([[0, 1, -1]])), RuntimeError,
     "inconsistent target size"),
    (lambda: F.cosine_embedding_loss(_t(normal(3, 4)), _t(normal(3, 4)), _t(signs(3, 1))),
     RuntimeError, "0D or 1D target tensor expected"),
    (lambda: F.cosine_embedding_loss(_t(normal(3, 4)), _t(normal(3, 4)), _t(1.0)),
     RuntimeError, "0D target tensor expects 1D input tensors"),
    (lambda: F.triplet_margin_loss(_t(normal(3, 4)), _t(normal(3, 4)), _t(normal(3, 4)),
                                   margin=0), ValueError, "margin must be greater than 0"),
    (lambda: nn.TripletMarginWithDistanceLoss(margin=-1), ValueError,
     "expected margin to be greater than 0"),
    (lambda: F.triplet_margin_loss(_t(normal(3, 4)), _t(normal(4)), _t(normal(3, 4))),
     RuntimeError, "anchor 2D, positive 1D, and negative 2D"),
    (lambda: F.margin_ranking_loss(_t(normal(3)), _t(normal(3)), _t(signs(1, 3))),
     RuntimeError, "All input tensors should have same dimension"),
    (lambda: F.mse_loss(_t(classes(3, 4)), _t(normal(4))), TypeError,
     "input must be a floating point tensor"),
    (lambda: nn.HuberLoss(delta="1"), TypeError, "delta must be a float or int"),
]


@pytest.mark.parametrize("fn", ["nll_loss", "cross_entropy"])
@pytest.mark.parametrize("shape,target,weight", [((3, 4), [0, 1, 2], "float32"),
                                                 ((0, 0), [], "float16")])
def test_class_weight_of_another_dtype_raises_like_torch(fn, shape, target, weight):
    x = np.zeros(shape)
    calls = [(lib, getattr(lib.nn.functional, fn), lib.tensor(target, dtype=lib.int64))
             for lib in (torch, nncheck)]
    for lib, f, t in calls:
        with pytest.raises(RuntimeError, match=f"expected scalar type Double but found "
                                               f"{'Float' if weight == 'float32' else 'Half'}"):
            f(lib.tensor(x), t, weight=lib.ones(shape[1], dtype=getattr(lib, weight)))


@pytest.mark.parametrize("call,error,match", BAD)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def _ctc_call(**over):
    args = {"log_probs": _t(np.log(softmax(normal(6, 2, 4), 2))), "targets": _t([[1, 2], [3, 1]]),
            "input_lengths": _t([6, 5]), "target_lengths": _t([2, 1]), "blank": 0}
    args.update(over)
    return lambda: F.ctc_loss(**args)


@pytest.mark.parametrize("call,match", [
    (_ctc_call(blank=4), "blank must be in label range"),
    (_ctc_call(input_lengths=_t([7, 5])), "input_lengths to have value at most 6"),
    (_ctc_call(input_lengths=_t([6])), "input_lengths must be of size batch_size"),
    (_ctc_call(target_lengths=(2, -1)), "target_lengths to have value at least 0"),
    (_ctc_call(target_lengths=_t([3, 1])), "size at least 3 at dimension 1"),
    (_ctc_call(targets=_t([[1, 4], [3, 1]])), "targets must be class indices in"),
    (_ctc_call(targets=_t([1, 2])), "sum\\(target_lengths\\) = 3 entries"),
    (_ctc_call(log_probs=_t(normal(6))), "log_probs must be"),
])
def test_ctc_bad_input(call, match):
    with pytest.raises(RuntimeError, match=match):
        call()


def test_non_differentiable_arguments_raise_like_torch():
    x = to_nncheck(normal(3, 4), requires_grad=True)
    y = to_nncheck(signs(3, 4), requires_grad=True)
    out = F.soft_margin_loss(x, y)
    with pytest.raises(RuntimeError, match="not differentiable with respect to argument 'target'"):
        out.backward()
    w = to_nncheck(np.ones(4), requires_grad=True)
    out = F.cross_entropy(x, _t([0, 1, 2]), weight=w)
    with pytest.raises(RuntimeError, match="argument 'weight'"):
        out.backward()
    # hinge: the target simply gets no gradient, as in torch
    F.hinge_embedding_loss(x, y).backward()
    assert y.grad is None


@pytest.mark.parametrize("layer,shapes,match", [
    ("CrossEntropyLoss", [(3, 5), (4,)], "takes targets of shape \\[3\\]"),
    ("NLLLoss", [(3, 5), (3, 5)], "takes targets of shape \\[3\\]"),
    ("BCELoss", [(3, 5), (5,)], "must have the input's shape"),
    ("MSELoss", [(3, 5), (3, 4)], "cannot be broadcast"),
    ("GaussianNLLLoss", [(3, 5), (3, 5), (5,)], "var \\[5\\] is of incorrect size"),
    ("CTCLoss", [(6, 2, 4), (2, 3), (3,), (2,)], "input_lengths \\[3\\] must have one entry"),
    ("TripletMarginLoss", [(3, 5), (5,), (3, 5)], "same number of dimensions"),
])
def test_shape_rule_errors(layer, shapes, match):
    module = getattr(nn, layer)()
    with pytest.raises(nncheck.shapes.ShapeError, match=match):
        module.infer_shape(*shapes)


# ---------------------------------------------------------------- kernel paths

LARGE = [  # above the kernels' threading threshold (32768 elements)
    ("CrossEntropyLoss", {"label_smoothing": 0.1}, [normal(64, 600), classes(600, 64)], (0,)),
    ("CrossEntropyLoss", {"ignore_index": 2, "weight": rng.uniform(0.5, 2, 5)},
     [normal(4, 5, 40, 50), classes(5, 4, 40, 50)], (0,)),
    ("BCEWithLogitsLoss", {}, [3 * normal(200, 250), rng.random((200, 250))], (0, 1)),
    ("MultiLabelSoftMarginLoss", {}, [normal(50, 1000), (rng.random((50, 1000)) > 0.5) * 1.0],
     (0, 1)),
    ("MSELoss", {}, [normal(300, 200), normal(300, 200)], (0, 1)),
]


@pytest.mark.parametrize("reduction", ["none", "mean"])
@pytest.mark.parametrize("case", LARGE, ids=[c[0] for c in LARGE])
def test_large_inputs(case, reduction):
    name, kw, inputs, grad_inputs = case
    nc, to = _build(name, {**kw, "reduction": reduction})
    compare_module(nc, to, *inputs, grad_inputs=grad_inputs)


@pytest.mark.parametrize("case", [CASES[0], LARGE[0], LARGE[1], LARGE[2]],
                         ids=["L1Loss", "ce-rows", "ce-tiles", "bce-logits"])
def test_forward_without_grad(case):
    """Under no_grad the kernels skip the gradients and use scratch memory instead."""
    name, kw, inputs, _ = case
    nc, to = _build(name, kw)
    with nncheck.no_grad():
        out = nc(*[to_nncheck(a, requires_grad=True) for a in inputs])
    assert not out.requires_grad
    assert_close(out, to(*[to_torch(a) for a in inputs]))


def test_float32_logits_against_exact_math():
    """BCE-with-logits and soft margin in float32 over [-100, 100]: stable, within 1e-6."""
    x = np.linspace(-100, 100, 4001).astype(np.float32)
    for y in (0.0, 1.0):
        t = np.full_like(x, y)
        xt = to_nncheck(x, requires_grad=True)
        out = F.binary_cross_entropy_with_logits(xt, to_nncheck(t), reduction="sum")
        out.backward()
        x64 = x.astype(np.float64)
        exact = np.logaddexp(0, -x64 if y else x64)  # log(1 + exp(x)) - y x
        assert abs(out.item() - exact.sum()) <= 1e-6 * exact.sum()
        np.testing.assert_allclose(xt.grad.numpy(), 1 / (1 + np.exp(-x64)) - y, atol=1e-7)
        soft = F.soft_margin_loss(to_nncheck(x), to_nncheck(2 * t - 1), reduction="none")
        np.testing.assert_allclose(soft.numpy(), np.logaddexp(0, -(2 * y - 1) * x64),
                                   rtol=1e-6, atol=1e-30)


def test_float32_cross_entropy_large_and_masked_logits():
    x = (50 * normal(6, 30)).astype(np.float32)
    x[:, :5] = -np.inf  # masked classes: probability exactly 0
    t = classes(25, 6) + 5
    for shape in ((6, 30), (2, 30, 3)):
        xs = x.reshape(shape[0], 3, 30).transpose(0, 2, 1).copy() if len(shape) == 3 else x
        ts = t.reshape(2, 3) if len(shape) == 3 else t
        nx, tx = to_nncheck(xs, requires_grad=True), to_torch(xs.astype(np.float64), True)
        out, ref = F.cross_entropy(nx, to_nncheck(ts)), TF.cross_entropy(tx, to_torch(ts))
        out.backward()
        ref.backward()
        assert_close(out, ref.to(torch.float32), rtol=1e-5, atol=1e-6)
        assert_close(nx.grad, tx.grad.to(torch.float32), rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------- LinearCrossEntropyLoss
LCE_CASES = [
    # (constructor keywords, input shape, target: "index" or "prob", target shape)
    ({}, (6, 5), "index", (6,)),
    ({"bias": True, "reduction": "sum", "label_smoothing": 0.2}, (6, 5), "index", (6,)),
    ({"reduction": "none", "ignore_index": 1, "weight": "w"}, (6, 5), "index", (6,)),
    ({"out_features": (3, 2), "bias": True}, (4, 5), "index", (4, 3, 2)),
    ({"out_features": (2,), "reduction": "none"}, (4, 5), "prob", (4, 4, 2)),
    ({"weight": "w", "label_smoothing": 0.1}, (5,), "prob", (4,)),
    ({}, (5,), "index", ()),
    ({"options": "chunked"}, (6, 5), "index", (6,)),
    ({"options": "chunked", "bias": True, "weight": "w", "ignore_index": 2, "reduction": "none"},
     (7, 5), "index", (7,)),
    ({"options": "chunked", "weight": "w", "ignore_index": 0, "reduction": "sum"}, (7, 5),
     "index", (7,)),
    ({"options": "chunked", "bias": True}, (5,), "index", ()),
]


@pytest.mark.parametrize("kw,shape,kind,tshape", LCE_CASES,
                         ids=[str(i) for i in range(len(LCE_CASES))])
def test_linear_cross_entropy_matches_torch(kw, shape, kind, tshape):
    nk, tk = dict(kw), dict(kw)
    if kw.get("weight") == "w":
        nk["weight"], tk["weight"] = both(rng.uniform(0.5, 2.0, 4))
    if kw.get("options") == "chunked":
        nk["options"] = nn.LinearCrossEntropyOptions(batch_chunk_size=2)
        tk["options"] = torch.nn.LinearCrossEntropyOptions(batch_chunk_size=2)
    nc = nn.LinearCrossEntropyLoss(5, 4, **nk).double()
    to = torch.nn.LinearCrossEntropyLoss(5, 4, **tk).double()
    check_repr_and_keys(nc, to)
    x = normal(*shape)
    if kind == "index":
        t = rng.integers(0, 4, tshape)
    else:
        if len(tshape) == 1:  # unbatched: one distribution over the C classes
            t = rng.dirichlet(np.ones(4))
        else:  # (N, C, d1, ...): the distributions along dim 1
            t = np.moveaxis(rng.dirichlet(np.ones(4), tshape[:1] + tshape[2:]), -1, 1)
    compare_module(nc, to, x, t, grad_inputs=(0,))
    assert nncheck.gradcheck(nc, [to_nncheck(x, requires_grad=True), to_nncheck(t)])
    if "options" in kw:  # the chunked path (2 rows at a time) against the reference path
        nc.options = None
        compare_module(nc, to, x, t, grad_inputs=(0,))
    assert [tuple(s) for s in nc.infer_shape(shape, tshape)] == [
        tuple(to(to_torch(x), to_torch(t)).shape)]


def test_linear_cross_entropy_functional_and_options_like_torch():
    x, w, b, t = normal(6, 5), normal(4, 3, 5), normal(4, 3), rng.integers(0, 4, (6, 3))
    compare_function(lambda *a: F.linear_cross_entropy(*a[:3], linear_bias=a[3]),
                     lambda *a: TF.linear_cross_entropy(*a[:3], linear_bias=a[3]),
                     x, w, t.astype(np.int64), b, grad=False)
    for lib in (torch.nn, nn):
        for bad in ({"acc_policy": "fast"}, {"chunking_method": "aspect_ratio:0"},
                    {"batch_chunk_size": 0}):
            with pytest.raises(ValueError):
                lib.LinearCrossEntropyOptions(**bad)


@pytest.mark.parametrize("call,error,match", [
    (lambda lib: lib.nn.LinearCrossEntropyLoss(3, 2, weight=lib.ones(3)), RuntimeError,
     "expected weight shape to be \\(2,\\), got \\(3,\\)"),
    (lambda lib: lib.nn.LinearCrossEntropyLoss(3, 2, label_smoothing=1.5), RuntimeError,
     "expected label_smoothing to be in range"),
    (lambda lib: lib.nn.LinearCrossEntropyLoss(3, 2)(lib.zeros(4, 5), lib.zeros(4, 2)),
     RuntimeError, "expected equal input and linear_weight last dimensions"),
    (lambda lib: lib.nn.LinearCrossEntropyLoss(3, 2, out_features=(2,))(
        lib.zeros(3), lib.zeros(2, dtype=lib.int64)), RuntimeError, "requires batched input"),
    (lambda lib: lib.nn.LinearCrossEntropyLoss(3, 2, ignore_index=0)(
        lib.zeros(4, 3), lib.zeros(4, 2)), RuntimeError, "ignore_index cannot be specified"),
    (lambda lib: lib.nn.functional.linear_cross_entropy(lib.zeros(2, 2, 3), lib.zeros(2, 3),
                                                        lib.zeros(2, dtype=lib.int64)),
     RuntimeError, "expected input with dimensionality 1 or 2"),
])
def test_linear_cross_entropy_bad_input_like_torch(call, error, match):
    for lib in (torch, nncheck):
        with pytest.raises(error, match=match):
            call(lib)


_FAMILY_ALL = """
import importlib, sys
pkg = importlib.import_module({package!r})
assert {package!r} + ".{family}" not in sys.modules  # a fresh interpreter
family = getattr(pkg, {family!r})
assert family is sys.modules[{package!r} + ".{family}"]
assert family.__all__ == list(pkg._families[{family!r}]) and family.__all__
for name in family.__all__:
    assert getattr(family, name) is getattr(pkg, name), name
"""


@pytest.mark.parametrize("package", ["nncheck.nn.modules", "nncheck.nn.functional"])
def test_loss_family_all_in_a_fresh_interpreter(package):
    """``nn.modules.loss.__all__`` (and F.loss's) without importing the family first: the
    lazy package resolves a family's name to the family module, as a plain package would."""
    code = _FAMILY_ALL.format(package=package, family="loss")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    # and PyTorch lists the same losses there (ours adds none of its own)
    if package == "nncheck.nn.modules":
        proc = subprocess.run([sys.executable, "-c", "import nncheck.nn as nn; "
                               "print(' '.join(nn.modules.loss.__all__))"],
                              capture_output=True, text=True)
        ours = set(proc.stdout.split())
        assert ours - {"LinearCrossEntropyOptions"} <= set(torch.nn.modules.loss.__all__)


def test_every_family_module_is_reachable_from_its_package():
    code = ("import importlib, sys, types\n"
            "for package in ('nncheck.nn', 'nncheck.nn.modules', 'nncheck.nn.functional'):\n"
            "    pkg = importlib.import_module(package)\n"
            "    for family, names in pkg._families.items():\n"
            "        value = getattr(pkg, family)\n"
            "        if family in names:  # F.linear: the function, as after import *\n"
            "            assert not isinstance(value, types.ModuleType), (package, family)\n"
            "            continue\n"
            "        assert value is sys.modules[f'{package}.{family}'], (package, family)\n"
            "        assert set(names) <= set(getattr(value, '__all__', names)), family\n"
            "        assert all(hasattr(value, name) for name in names), (package, family)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
