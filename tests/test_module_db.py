"""PyTorch's own module tests run on nncheck: every sample of
``torch.testing._internal.common_modules.module_db`` (constructor arguments, forward inputs,
error inputs), built by PyTorch's generators, in float64, training and eval where the
ModuleInfo says they differ.

Per sample: the torch module is built from the sample's constructor arguments, the nncheck
one from the same arguments mapped over (tensors, dtypes, nested containers, functional
callables, modules, options), PyTorch's state_dict is loaded into nncheck's, both run the
same inputs, then backward the same grad_output; outputs, buffers after the call, input
gradients and parameter gradients must agree.  Every error input must raise in nncheck the
error type PyTorch's test expects, with a message its regex finds.
"""

import copy
import dataclasses
import re
import unittest

import numpy as np
import pytest
import torch

pytest.importorskip("expecttest")  # module_db imports it (the test extra installs it)

from torch.testing._internal.common_modules import (  # noqa: E402
    DecorateInfo,
    ModuleErrorEnum,
    module_db,
)

import nncheck  # noqa: E402
import nncheck.nn as nn  # noqa: E402
import nncheck.nn.functional as F  # noqa: E402
from nncheck.nn.utils.rnn import PackedSequence  # noqa: E402

RTOL, ATOL = 1e-7, 1e-9  # float64; PyTorch's own test_forward uses rtol=atol=1e-7

# ModuleInfos whose module nncheck lacks (kept explicit so the gap shows): none left.
MISSING = set()

# Samples PyTorch itself marks as expected failures for test_forward / test_grad /
# test_errors on CPU in float64 (module_db's DecorateInfo(unittest.expectedFailure, ...)):
# none in PyTorch 2.13.  test_expected_failures_are_the_listed_ones keeps this in step.
EXPECTED_FAILURES = set()

_TESTS = ("test_forward", "test_grad", "test_errors")
_HAVE = [mi for mi in module_db if mi.name not in MISSING]


def _name(mi):
    return mi.module_cls.__name__


@pytest.fixture(autouse=True, scope="module")
def _torch_on_one_thread():
    """The samples are tiny: PyTorch's intra-op threads only wait on each other (10x slower
    on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ------------------------------------------------------------------ torch -> nncheck values
def _encoder_layer(layer):
    """A torch TransformerEncoderLayer instance (TransformerEncoder's argument) rebuilt
    with the same hyperparameters; its weights arrive with the state_dict."""
    attn = layer.self_attn
    return nn.TransformerEncoderLayer(
        attn.embed_dim, attn.num_heads, layer.linear1.out_features, layer.dropout.p,
        _to_nncheck(layer.activation), layer.norm1.eps, attn.batch_first, layer.norm_first,
        bias=layer.linear1.bias is not None)


_MODULES = {torch.nn.TransformerEncoderLayer: _encoder_layer}
_DTYPES = {getattr(torch, d.name): d for d in (nncheck.float16, nncheck.float32,
                                                nncheck.float64, nncheck.int64, nncheck.bool)}


def _to_nncheck(x):
    if isinstance(x, torch.nn.utils.rnn.PackedSequence):
        return PackedSequence(*(_to_nncheck(t) for t in x))
    if isinstance(x, torch.Tensor):
        t = nncheck.from_numpy(x.detach().numpy().copy())
        return t.requires_grad_(True) if x.requires_grad else t
    if isinstance(x, torch.dtype):
        return _DTYPES[x]
    if isinstance(x, torch.nn.LinearCrossEntropyOptions):
        return nn.LinearCrossEntropyOptions(**{f.name: _to_nncheck(getattr(x, f.name))
                                               for f in dataclasses.fields(x)})
    if isinstance(x, torch.nn.Module):
        return _MODULES[type(x)](x)
    if isinstance(x, (tuple, list)):
        return type(x)(_to_nncheck(e) for e in x)
    if isinstance(x, dict):
        return {k: _to_nncheck(v) for k, v in x.items()}
    if callable(x) and getattr(torch.nn.functional, getattr(x, "__name__", ""), None) is x:
        return getattr(F, x.__name__)  # an activation passed as torch's function
    return x


def _tensors(x):
    """The tensors in an output or input structure, in order (PackedSequence fields too)."""
    if isinstance(x, (torch.Tensor, nncheck.Tensor)):
        return [x]
    if isinstance(x, (tuple, list)):
        return [t for e in x for t in _tensors(e)]
    if isinstance(x, dict):
        return [t for k in x for t in _tensors(x[k])]
    return []


def _close(ours, theirs, what):
    a, e = ours.detach().numpy(), theirs.detach().numpy()
    assert a.shape == e.shape, f"{what}: shape {a.shape} != PyTorch's {e.shape}"
    if e.dtype.kind in "iub":
        np.testing.assert_array_equal(a, e, err_msg=what)
    else:
        np.testing.assert_allclose(a, e, rtol=RTOL, atol=ATOL, err_msg=what)


# ------------------------------------------------------------------ one sample
def _build(mi, sample, training):
    ctor, fwd = sample.constructor_input, sample.forward_input
    torch.manual_seed(0)
    theirs = mi.module_cls(*ctor.args, **ctor.kwargs).to(torch.float64).train(training)
    ours = getattr(nn, _name(mi))(*_to_nncheck(ctor.args), **_to_nncheck(ctor.kwargs))
    ours = ours.to(nncheck.float64).train(training)
    if mi.is_lazy:  # materialise both on a copy of the inputs, then share PyTorch's weights
        with torch.no_grad():
            theirs(*copy.deepcopy(fwd.args), **copy.deepcopy(fwd.kwargs))
        with nncheck.no_grad():
            ours(*_to_nncheck(fwd.args), **_to_nncheck(fwd.kwargs))
    state = theirs.state_dict()
    assert list(ours.state_dict()) == list(state), "state_dict keys differ"
    ours.load_state_dict({k: nncheck.from_numpy(v.detach().numpy().copy())
                          for k, v in state.items()})
    return ours, theirs


def _run_sample(mi, sample, training):
    ours, theirs = _build(mi, sample, training)
    fwd = sample.forward_input
    t_args, t_kwargs = fwd.args, fwd.kwargs
    n_args, n_kwargs = _to_nncheck(t_args), _to_nncheck(t_kwargs)
    t_out, n_out = _tensors(theirs(*t_args, **t_kwargs)), _tensors(ours(*n_args, **n_kwargs))
    assert len(n_out) == len(t_out), f"{len(n_out)} output tensors, PyTorch {len(t_out)}"
    for i, (a, e) in enumerate(zip(n_out, t_out)):
        _close(a, e, f"output[{i}]")
    n_buffers = dict(ours.named_buffers())
    for name, b in theirs.named_buffers():
        _close(n_buffers[name], b, f"buffer {name} after the call")

    pairs = [(a, e) for a, e in zip(n_out, t_out) if e.requires_grad]
    if not pairs:
        return
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(tuple(e.shape)) for _, e in pairs]
    torch.autograd.backward([e for _, e in pairs], [torch.from_numpy(g) for g in grads])
    nncheck.autograd.backward([a for a, _ in pairs], [nncheck.from_numpy(g) for g in grads])
    t_in, n_in = _tensors((t_args, t_kwargs)), _tensors((n_args, n_kwargs))
    for i, (a, e) in enumerate(zip(n_in, t_in)):
        if e.requires_grad and e.is_leaf:
            assert (a.grad is None) == (e.grad is None), f"input[{i}].grad presence differs"
            if e.grad is not None:
                _close(a.grad, e.grad, f"input[{i}].grad")
    t_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        e = t_params[name].grad
        assert (p.grad is None) == (e is None), f"{name}.grad presence differs"
        if e is not None:
            _close(p.grad, e, f"{name}.grad")


def _modes(mi):
    return (True, False) if mi.train_and_eval_differ else (True,)


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")
@pytest.mark.parametrize("mi", _HAVE, ids=[mi.name for mi in _HAVE])
def test_samples_match_torch(mi):
    failures, count = [], 0
    for training in _modes(mi):
        samples = mi.module_inputs_func(mi, device="cpu", dtype=torch.float64,
                                        requires_grad=True, training=training)
        for index, sample in enumerate(samples):
            count += 1
            try:
                _run_sample(mi, sample, training)
            except Exception as error:  # collect them all: one readable report per module
                first = (str(error).strip().splitlines() or [""])[0]
                failures.append(f"training={training} sample {index} {sample.desc!r}: "
                                f"{type(error).__name__}: {first[:200]}")
    assert count, "no samples"
    assert not failures, f"{len(failures)} of {count} samples differ:\n" + "\n".join(failures)


_WITH_ERRORS = [mi for mi in _HAVE if mi.module_error_inputs_func is not None]


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::FutureWarning")  # torch's regexes
@pytest.mark.parametrize("mi", _WITH_ERRORS, ids=[mi.name for mi in _WITH_ERRORS])
def test_error_inputs_raise_like_torch(mi):
    failures = []
    inputs = mi.module_error_inputs_func(mi, device="cpu", dtype=torch.float64,
                                         requires_grad=True, training=True)
    for index, case in enumerate(inputs):
        ctor, fwd = case.module_error_input.constructor_input, case.module_error_input.forward_input
        try:
            m = getattr(nn, _name(mi))(*_to_nncheck(ctor.args), **_to_nncheck(ctor.kwargs))
            if case.error_on == ModuleErrorEnum.FORWARD_ERROR:
                m(*_to_nncheck(fwd.args), **_to_nncheck(fwd.kwargs))
        except case.error_type as error:
            if not re.search(case.error_regex, str(error)):
                failures.append(f"error input {index}: message {str(error)!r} does not match "
                                f"{case.error_regex!r}")
        except Exception as error:
            failures.append(f"error input {index}: {type(error).__name__} ({error}), PyTorch "
                            f"raises {case.error_type.__name__}")
        else:
            failures.append(f"error input {index}: no error, PyTorch raises "
                            f"{case.error_type.__name__} {case.error_regex!r}")
    assert inputs and not failures, "\n".join(failures)


def test_every_module_is_provided_or_listed_missing():
    missing = {mi.name for mi in module_db if not hasattr(nn, _name(mi))}
    assert missing == MISSING


def test_expected_failures_are_the_listed_ones():
    marked = set()
    for mi in module_db:
        for decorator in mi.decorators:
            if not isinstance(decorator, DecorateInfo):
                continue
            for test in _TESTS:
                for training in _modes(mi):
                    if (unittest.expectedFailure in decorator.decorators
                            and decorator.is_active("TestModule", test, "cpu", torch.float64,
                                                    {"training": training})):
                        marked.add((mi.name, test, training))
    assert marked == EXPECTED_FAILURES
