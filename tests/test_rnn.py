"""Recurrent layers and nn.utils.rnn against PyTorch: outputs and every gradient.

Sequence layers are wrapped so that states (h0, c0) and packing are part of the
compared module: compare_module then checks the input, h0/c0 and all weight
gradients through the whole graph, PackedSequence included.
"""

import itertools
import warnings

import numpy as np
import pytest
import torch
import torch.nn.utils.rnn as trnn
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
import nncheck.nn.utils.rnn as nrnn
from nncheck.registry import layers
from nncheck.shapes import ShapeError

RNG = np.random.default_rng(1234)
SEQ = ("RNN", "LSTM", "GRU")
CELLS = ("RNNCell", "LSTMCell", "GRUCell")


def randn(*shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


def build(name, *args, dtype=torch.float64, **kwargs):
    """The same layer in both libraries (nncheck gets torch's weights in compare_module)."""
    t = getattr(torch.nn, name)(*args, **kwargs).to(dtype)
    n = getattr(nn, name)(*args, **kwargs)
    return (n.double() if dtype == torch.float64 else n), t


def wrap(lib, layer, lengths=None, batch_first=False, enforce_sorted=True):
    """A module taking (x, *states): states become hx, and with lengths the input is
    packed before the layer and padded after it (the packed data is an output too)."""
    utils = trnn if lib is torch else nrnn

    class Wrapped((torch.nn if lib is torch else nn).Module):
        def __init__(self):
            super().__init__()
            self.layer = layer

        def forward(self, x, *states):
            hx = None if not states else (tuple(states) if len(states) == 2 else states[0])
            if lengths is None:
                return self.layer(x, hx)
            packed = utils.pack_padded_sequence(x, lengths, batch_first=batch_first,
                                                enforce_sorted=enforce_sorted)
            out, h_n = self.layer(packed, hx)
            assert isinstance(out, utils.PackedSequence)
            return utils.pad_packed_sequence(out, batch_first=batch_first)[0], out.data, h_n

    return Wrapped()


def compare(name, args, kwargs, x, states=(), rtol=1e-9, atol=1e-11, dtype=torch.float64,
            **pack):
    n, t = build(name, *args, dtype=dtype, **kwargs)
    return compare_module(wrap(nncheck, n, **pack), wrap(torch, t, **pack), x, *states,
                          rtol=rtol, atol=atol)


def state_shapes(name, layers, directions, batch, hidden, proj=0, batched=True):
    lead = (layers * directions, batch) if batched else (layers * directions,)
    shapes = [lead + ((proj or hidden),)]
    if name == "LSTM":
        shapes.append(lead + (hidden,))
    return shapes


MODES = [("RNN", {}), ("RNN", {"nonlinearity": "relu"}), ("LSTM", {}), ("GRU", {})]


# ----------------------------------------------------------------------- sequence layers
@pytest.mark.parametrize("name,extra", MODES)
@pytest.mark.parametrize("num_layers,bidirectional,batch_first,bias",
                         list(itertools.product((1, 2), (False, True), (False, True),
                                                (True, False))))
def test_sequence_vs_torch(name, extra, num_layers, bidirectional, batch_first, bias):
    kwargs = dict(extra, num_layers=num_layers, bidirectional=bidirectional,
                  batch_first=batch_first, bias=bias)
    steps, batch = 4, 3
    x = randn(batch, steps, 3) if batch_first else randn(steps, batch, 3)
    with_states = (num_layers + bidirectional + batch_first + bias) % 2 == 0
    states = [randn(*s) for s in state_shapes(name, num_layers, 1 + bidirectional, batch, 5)]
    compare(name, (3, 5), kwargs, x, states if with_states else ())


@pytest.mark.parametrize("num_layers,bidirectional,batch_first",
                         list(itertools.product((1, 2), (False, True), (False, True))))
def test_lstm_proj_size_vs_torch(num_layers, bidirectional, batch_first):
    kwargs = dict(num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first,
                  proj_size=2)
    x = randn(3, 4, 3) if batch_first else randn(4, 3, 3)
    states = [randn(*s) for s in state_shapes("LSTM", num_layers, 1 + bidirectional, 3, 5, 2)]
    compare("LSTM", (3, 5), kwargs, x, states)
    compare("LSTM", (3, 5), kwargs, x[0])  # unbatched, zero states


@pytest.mark.parametrize("name,extra", MODES)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_unbatched_vs_torch(name, extra, bidirectional):
    kwargs = dict(extra, num_layers=2, bidirectional=bidirectional)
    x = randn(5, 3)
    states = [randn(*s) for s in state_shapes(name, 2, 1 + bidirectional, 1, 4,
                                              batched=False)]
    compare(name, (3, 4), kwargs, x, states)
    compare(name, (3, 4), dict(kwargs, batch_first=True), x)


@pytest.mark.parametrize("name,extra", MODES + [("LSTM", {"proj_size": 2})])
@pytest.mark.parametrize("num_layers,bidirectional,enforce_sorted,batch_first",
                         [(1, False, True, False), (2, True, False, False),
                          (2, False, False, True), (1, True, True, True)])
def test_packed_vs_torch(name, extra, num_layers, bidirectional, enforce_sorted, batch_first):
    lengths = [6, 5, 5, 2, 1] if enforce_sorted else [2, 6, 1, 5, 5]
    kwargs = dict(extra, num_layers=num_layers, bidirectional=bidirectional,
                  batch_first=batch_first)
    x = randn(5, 6, 3) if batch_first else randn(6, 5, 3)
    states = [randn(*s) for s in state_shapes(name, num_layers, 1 + bidirectional, 5, 4,
                                              extra.get("proj_size", 0))]
    pack = dict(lengths=lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    compare(name, (3, 4), kwargs, x, states, **pack)
    compare(name, (3, 4), kwargs, x, **pack)


# A batch the OpenMP threads split into blocks of sequences (when there are several), whose
# ends fall at different steps in each block, with a hidden size that leaves a ragged block
# in the transposed copy.
@pytest.mark.parametrize("name,extra", [("LSTM", {}), ("GRU", {}), ("RNN", {}),
                                        ("LSTM", {"proj_size": 20})])
def test_packed_with_products_shared_by_threads(name, extra):
    lengths = [5] * 30 + [4] * 7 + [2] * 3
    kwargs = dict(extra, bidirectional=True)
    compare(name, (24, 100), kwargs, randn(5, 40, 24), lengths=lengths)


@pytest.mark.parametrize("name", SEQ)
def test_dropout_one_matches_torch_in_training(name):
    # p = 1 zeroes every inter-layer activation: deterministic, so comparable with torch
    compare(name, (3, 4), dict(num_layers=3, dropout=1.0, bidirectional=True), randn(4, 2, 3))


def test_dropout_is_random_in_training_and_off_in_eval():
    nncheck.manual_seed(0)
    m = nn.LSTM(3, 8, num_layers=2, dropout=0.5).double()
    x = to_nncheck(randn(6, 4, 3))
    with nncheck.no_grad():
        a, b = m(x)[0].numpy(), m(x)[0].numpy()
        m.eval()
        c, d = m(x)[0].numpy(), m(x)[0].numpy()
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(c, d)


def test_dropout_gradcheck():
    nncheck.manual_seed(3)
    m = nn.GRU(2, 3, num_layers=2, dropout=0.4).double()
    assert nncheck.gradcheck(m, [to_nncheck(randn(3, 2, 2), requires_grad=True)])


def test_gradients_only_where_asked():
    n, t = build("LSTM", 3, 4, num_layers=2, bidirectional=True, proj_size=2)
    n.load_state_dict({k: nncheck.from_numpy(v.detach().numpy().copy())
                       for k, v in t.state_dict().items()})
    for module in (n, t):
        for name, p in module.named_parameters():
            p.requires_grad_("l1" in name and "weight" in name)
    x, h0, c0 = randn(5, 2, 3), randn(4, 2, 2), randn(4, 2, 4)
    outs = []
    for module, conv in ((n, to_nncheck), (t, to_torch)):
        h = conv(h0, requires_grad=True)
        out, _ = module(conv(x), (h, conv(c0)))
        out.sum().backward()
        outs.append((h.grad, dict(module.named_parameters())))
    assert_close(outs[0][0], outs[1][0])
    for name, p in outs[0][1].items():
        e = outs[1][1][name].grad
        assert (p.grad is None) == (e is None), name
        if e is not None:
            assert_close(p.grad, e)


# ----------------------------------------------------------------------- cells
@pytest.mark.parametrize("name,extra", [("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu"}),
                                        ("LSTMCell", {}), ("GRUCell", {})])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batched", [True, False])
def test_cells_vs_torch(name, extra, bias, batched):
    lead = (3,) if batched else ()
    x = randn(*lead, 4)
    states = [randn(*lead, 5) for _ in range(2 if name == "LSTMCell" else 1)]
    compare(name, (4, 5), dict(extra, bias=bias), x, states)
    compare(name, (4, 5), dict(extra, bias=bias), x)


def test_cell_steps_match_the_sequence_layer():
    seq, cell = nn.LSTM(3, 4).double(), nn.LSTMCell(3, 4).double()
    cell.load_state_dict({k[:-3]: v for k, v in seq.state_dict().items()})
    x = to_nncheck(randn(5, 2, 3))
    out, (h, c) = seq(x)
    hc = None
    for t in range(5):
        hc = cell(x[t], hc)
        assert_close(hc[0], out[t])
    assert_close(hc[0], h[0])
    assert_close(hc[1], c[0])


# ----------------------------------------------------------------------- float32 / float16
@pytest.mark.parametrize("name", SEQ + CELLS)
def test_float32_vs_torch(name):
    if name in CELLS:
        compare(name, (6, 7), {}, randn(4, 6, dtype=np.float32), dtype=torch.float32,
                rtol=1e-4, atol=1e-5)
        return
    kwargs = dict(num_layers=2, bidirectional=True)
    compare(name, (6, 7), kwargs, randn(9, 4, 6, dtype=np.float32), dtype=torch.float32,
            rtol=1e-4, atol=1e-5)
    compare(name, (6, 7), kwargs, randn(9, 4, 6, dtype=np.float32), dtype=torch.float32,
            rtol=1e-4, atol=1e-5, lengths=[9, 7, 7, 3])


def test_float16_runs_in_float32():
    m = nn.GRU(3, 4)
    x = randn(5, 2, 3, dtype=np.float32)
    ref, _ = m(to_nncheck(x))
    out, h = m.half()(to_nncheck(x.astype(np.float16)))
    assert out.dtype == nncheck.float16 and h.dtype == nncheck.float16
    np.testing.assert_allclose(out.detach().numpy().astype(np.float32), ref.detach().numpy(),
                               atol=1e-2)


# ----------------------------------------------------------------------- gradcheck
@pytest.mark.parametrize("name,kwargs", [
    ("RNN", dict(num_layers=2, bidirectional=True, nonlinearity="relu")),
    ("LSTM", dict(num_layers=2, bidirectional=True, proj_size=1, batch_first=True)),
    ("GRU", dict(bidirectional=True, bias=False)),
])
def test_gradcheck_sequence(name, kwargs):
    m = getattr(nn, name)(2, 2, **kwargs).double()
    x = to_nncheck(randn(2, 3, 2), requires_grad=True)
    assert nncheck.gradcheck(m, [x])


def test_gradcheck_packed_with_states():
    m = nn.LSTM(2, 2, bidirectional=True).double()
    h0, c0 = (to_nncheck(randn(2, 3, 2), requires_grad=True) for _ in range(2))

    def fn(x, h, c):
        packed = nrnn.pack_padded_sequence(x, [1, 3, 2], enforce_sorted=False)
        out, (h_n, c_n) = m(packed, (h, c))
        return out.data, h_n, c_n

    assert nncheck.gradcheck(fn, [to_nncheck(randn(3, 3, 2), requires_grad=True), h0, c0])


@pytest.mark.parametrize("name", CELLS)
def test_gradcheck_cells(name):
    m = getattr(nn, name)(2, 3).double()
    x = to_nncheck(randn(2, 2), requires_grad=True)
    h = to_nncheck(randn(2, 3), requires_grad=True)
    hx = (h, to_nncheck(randn(2, 3), requires_grad=True)) if name == "LSTMCell" else h
    assert nncheck.gradcheck(lambda x: m(x, hx), [x])


# ----------------------------------------------------------------------- modules: repr, keys
@pytest.mark.parametrize("name,args,kwargs", [
    ("RNN", (10, 20), {}),
    ("RNN", (3, 4, 2, "relu", False), {}),
    ("LSTM", (10, 20), dict(num_layers=2)),
    ("LSTM", (3, 5), dict(proj_size=2, num_layers=2, batch_first=True, dropout=0.5,
                          bidirectional=True)),
    ("GRU", (3, 4), dict(bias=False, bidirectional=True, num_layers=3)),
    ("RNNCell", (3, 4), dict(nonlinearity="relu", bias=False)),
    ("LSTMCell", (3, 4), {}),
    ("GRUCell", (3, 4), dict(bias=False)),
])
def test_repr_keys_and_init(name, args, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        n, t = build(name, *args, dtype=torch.float32, **kwargs)
    check_repr_and_keys(n, t)
    bound = 1 / np.sqrt(n.hidden_size)
    for _, p in n.named_parameters():
        assert p.dtype == nncheck.float32 and np.abs(p.detach().numpy()).max() <= bound
    if name in SEQ:
        assert [[tuple(p.shape) for p in ws] for ws in n.all_weights] == \
            [[tuple(p.shape) for p in ws] for ws in t.all_weights]


def test_torch_state_dict_loads_and_matches():
    t = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True).double()
    n = nn.LSTM(3, 4, num_layers=2, bidirectional=True).double()
    n.load_state_dict({k: nncheck.from_numpy(v.numpy().copy())
                       for k, v in t.state_dict().items()})
    x = randn(5, 2, 3)
    assert_close(n(to_nncheck(x))[0], t(to_torch(x))[0])


# ----------------------------------------------------------------------- shapes
@pytest.mark.parametrize("name,kwargs,shape", [
    ("RNN", {}, (5, 2, 3)),
    ("GRU", dict(batch_first=True, num_layers=2, bidirectional=True), (2, 5, 3)),
    ("LSTM", dict(proj_size=2, num_layers=3), (5, 2, 3)),
    ("LSTM", dict(bidirectional=True), (5, 3)),
    ("RNNCell", {}, (2, 3)),
    ("LSTMCell", {}, (3,)),
    ("GRUCell", {}, (4, 3)),
])
def test_shape_rule_matches_forward(name, kwargs, shape):
    check_shape_rule(getattr(nn, name)(3, 4, **kwargs), randn(*shape, dtype=np.float32))


def test_shape_rule_with_states_and_explain():
    m = nn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2)
    explain = []
    assert m.infer_shape((7, 5, 3), (4, 5, 2), (4, 5, 4), explain=explain) == (
        (7, 5, 4), (4, 5, 2), (4, 5, 4))
    assert any("2 * 2 = 4" in line for line in explain)
    check_shape_rule(nn.GRU(3, 4, num_layers=2), randn(5, 2, 3, dtype=np.float32),
                     randn(2, 2, 4, dtype=np.float32))
    with pytest.raises(ShapeError, match="input_size=3"):
        m.infer_shape((7, 5, 6))
    with pytest.raises(ShapeError, match="c_0 has shape"):
        m.infer_shape((7, 5, 3), (4, 5, 2), (4, 5, 2))
    with pytest.raises(ShapeError, match="2-D"):
        m.infer_shape((7,))
    with pytest.raises(ShapeError, match="hx\\[0\\]"):
        nn.GRUCell(3, 4).infer_shape((2, 3), (3, 4))


def test_registry_examples_run_and_pass_gradcheck():
    found = {name: info for name, info in layers().items() if info.family == "rnn"}
    assert set(found) == set(SEQ + CELLS)
    for info in found.values():
        args = [int(a) for a in info.example.split()]
        m = info.cls(*args).double()
        inputs = [to_nncheck(randn(*s), requires_grad=True) for s in info.inputs]
        check_shape_rule(m, *[x.detach().numpy() for x in inputs])
        assert nncheck.gradcheck(m, inputs)


# ----------------------------------------------------------------------- bad input
def test_constructor_errors():
    with pytest.raises(ValueError, match="proj_size has to be smaller than hidden_size"):
        nn.LSTM(3, 4, proj_size=4)
    with pytest.raises(ValueError, match="proj_size should be a positive integer"):
        nn.LSTM(3, 4, proj_size=-1)
    for p in (-0.1, 1.5, True):
        with pytest.raises(ValueError, match="dropout should be a number in range \\[0, 1\\]"):
            nn.GRU(3, 4, dropout=p)
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        nn.RNN(3, 4, dropout=0.5)
    with pytest.raises(ValueError, match="Unknown nonlinearity 'gelu'"):
        nn.RNN(3, 4, nonlinearity="gelu")
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNNCell(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="hidden_size must be greater than zero"):
        nn.LSTM(3, 0)
    with pytest.raises(TypeError, match="input_size should be of type int"):
        nn.GRU(3.0, 4)
    with pytest.raises(TypeError, match="batch_first should be of type bool"):
        nn.GRU(3, 4, batch_first=1)


def test_forward_errors():
    m = nn.LSTM(3, 4, num_layers=2)
    x = to_nncheck(randn(5, 2, 3, dtype=np.float32))
    zeros = nncheck.zeros
    with pytest.raises(RuntimeError, match="input.size\\(-1\\) must be equal to input_size. "
                                           "Expected 3, got 6"):
        m(to_nncheck(randn(5, 2, 6, dtype=np.float32)))
    with pytest.raises(ValueError, match="Expected input to be 2D or 3D, got 4D"):
        m(to_nncheck(randn(5, 2, 3, 1, dtype=np.float32)))
    with pytest.raises(RuntimeError, match="sequence length to be larger than 0"):
        m(zeros(0, 2, 3))
    with pytest.raises(RuntimeError, match="Expected hidden\\[0\\] size \\(2, 2, 4\\), "
                                           "got \\[2, 3, 4\\]"):
        m(x, (zeros(2, 3, 4), zeros(2, 2, 4)))
    with pytest.raises(RuntimeError, match="Expected hidden\\[1\\] size \\(2, 2, 4\\)"):
        m(x, (zeros(2, 2, 4), zeros(1, 2, 4)))
    with pytest.raises(RuntimeError, match="should also be 3-D but got 2-D"):
        m(x, (zeros(2, 4), zeros(2, 4)))
    with pytest.raises(TypeError, match="tuple \\(h_0, c_0\\)"):
        m(x, zeros(2, 2, 4))
    with pytest.raises(ValueError, match="does not match weight dtype"):
        m(x.double())
    with pytest.raises(RuntimeError, match="Expected hidden size \\(1, 2, 4\\), got \\[1, 1, 4\\]"):
        nn.GRU(3, 4)(x, zeros(1, 1, 4))
    with pytest.raises(ValueError, match="batch_sizes must be a non-empty, non-increasing"):
        nn.GRU(3, 4)(nrnn.PackedSequence(zeros(5, 3), nncheck.tensor([2, 3])))
    bad = nrnn.PackedSequence(zeros(5, 3), nncheck.tensor([3, 2]), nncheck.tensor([0, 1]))
    with pytest.raises(ValueError, match="sorted_indices must be a permutation of range\\(3\\)"):
        nn.GRU(3, 4)(bad, zeros(1, 3, 4))
    m.weight_hh_l1 = nn.Parameter(zeros(16, 5))
    with pytest.raises(RuntimeError, match="weight_hh_l1 must be a floating point tensor of "
                                           "shape \\[16, 4\\], got \\[16, 5\\]"):
        m(x)


def test_cell_errors():
    m = nn.LSTMCell(3, 4)
    zeros = nncheck.zeros
    with pytest.raises(RuntimeError, match="input has inconsistent input_size: got 5 expected 3"):
        m(zeros(2, 5))
    with pytest.raises(RuntimeError, match="Input batch size 2 doesn't match hidden0 batch size 3"):
        m(zeros(2, 3), (zeros(3, 4), zeros(3, 4)))
    with pytest.raises(RuntimeError, match="hidden1 has inconsistent hidden_size: got 5, "
                                           "expected 4"):
        m(zeros(2, 3), (zeros(2, 4), zeros(2, 5)))
    with pytest.raises(ValueError, match="Expected input to be 1D or 2D, got 3D"):
        nn.GRUCell(3, 4)(zeros(1, 2, 3))


# ----------------------------------------------------------------------- nn.utils.rnn
def _packed_equal(a, b):
    assert_close(a.data, b.data)
    np.testing.assert_array_equal(a.batch_sizes.numpy(), b.batch_sizes.numpy())
    for mine, theirs in ((a.sorted_indices, b.sorted_indices),
                         (a.unsorted_indices, b.unsorted_indices)):
        assert (mine is None) == (theirs is None)
        if mine is not None:
            np.testing.assert_array_equal(mine.numpy(), theirs.numpy())


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("lengths,enforce_sorted", [([4, 4, 2, 1], True),
                                                    ([2, 4, 1, 4], False),
                                                    (torch.tensor([3, 1, 4, 4]), False)])
def test_pack_and_pad_vs_torch(batch_first, lengths, enforce_sorted):
    x = randn(4, 4, 2, 3)
    mine_lengths = lengths.numpy() if isinstance(lengths, torch.Tensor) else lengths
    a = nrnn.pack_padded_sequence(to_nncheck(x), mine_lengths, batch_first, enforce_sorted)
    b = trnn.pack_padded_sequence(to_torch(x), lengths, batch_first, enforce_sorted)
    _packed_equal(a, b)
    for total in (None, 6):
        pa, la = nrnn.pad_packed_sequence(a, batch_first, -1.5, total)
        pb, lb = trnn.pad_packed_sequence(b, batch_first, -1.5, total)
        assert_close(pa, pb)
        np.testing.assert_array_equal(la.numpy(), lb.numpy())

    def roundtrip(lib_utils, lens):
        def fn(x):
            packed = lib_utils.pack_padded_sequence(x, lens, batch_first, enforce_sorted)
            return lib_utils.pad_packed_sequence(packed, batch_first, 0.5, 7)[0], packed.data
        return fn

    compare_function(roundtrip(nrnn, mine_lengths), roundtrip(trnn, lengths), x)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_pad_sequence_vs_torch(batch_first, padding_side):
    seqs = [randn(3, 2), randn(5, 2), randn(1, 2)]

    def make(lib_utils):
        return lambda *xs: lib_utils.pad_sequence(list(xs), batch_first, 2.0, padding_side)

    compare_function(make(nrnn), make(trnn), *seqs)


def test_pack_unpack_unpad_sequence_vs_torch():
    seqs = [randn(2, 3), randn(4, 3), randn(3, 3)]
    a = nrnn.pack_sequence([to_nncheck(s) for s in seqs], enforce_sorted=False)
    b = trnn.pack_sequence([to_torch(s) for s in seqs], enforce_sorted=False)
    _packed_equal(a, b)
    for mine, theirs in zip(nrnn.unpack_sequence(a), trnn.unpack_sequence(b)):
        assert_close(mine, theirs)
    padded = randn(4, 3, 2)
    lengths = [4, 1, 3]
    mine = nrnn.unpad_sequence(to_nncheck(padded), nncheck.tensor(lengths))
    theirs = trnn.unpad_sequence(to_torch(padded), torch.tensor(lengths))
    for m_seq, t_seq in zip(mine, theirs):
        assert_close(m_seq, t_seq)
    with pytest.raises(RuntimeError, match="must be sorted in decreasing order"):
        nrnn.pack_sequence([to_nncheck(s) for s in seqs])


def test_packed_sequence_api():
    p = nrnn.pack_sequence([nncheck.ones(3, 2), nncheck.ones(1, 2)])
    data, batch_sizes, sorted_indices, unsorted_indices = p
    assert sorted_indices is None and unsorted_indices is None
    assert repr(p).startswith("PackedSequence(data=tensor(")
    d = p.double()
    assert d.data.dtype == nncheck.float64 and d.batch_sizes.dtype == nncheck.int64
    assert p.to(nncheck.float32) is p and not p.is_cuda
    q = nrnn.PackedSequence((data, batch_sizes))
    assert q.batch_sizes is batch_sizes
    np.testing.assert_array_equal(
        nrnn.invert_permutation(nncheck.tensor([2, 0, 1])).numpy(),
        trnn.invert_permutation(torch.tensor([2, 0, 1])).numpy())


def test_utils_errors():
    x = nncheck.zeros(5, 3, 2)
    with pytest.raises(RuntimeError, match="Expected `len\\(lengths\\)` to be equal to "
                                           "batch_size, but got 2 \\(batch_size=3\\)"):
        nrnn.pack_padded_sequence(x, [5, 3])
    with pytest.raises(RuntimeError, match="Length of all samples has to be greater than 0"):
        nrnn.pack_padded_sequence(x, [5, 3, 0])
    with pytest.raises(ValueError, match="exceeds the padded sequence length 5"):
        nrnn.pack_padded_sequence(x, [6, 3, 2])
    with pytest.raises(ValueError, match="Expected total_length to be at least"):
        nrnn.pad_packed_sequence(nrnn.pack_padded_sequence(x, [5, 3, 2]), total_length=4)
    with pytest.raises(RuntimeError, match="received an empty list of sequences"):
        nrnn.pad_sequence([])
    with pytest.raises(RuntimeError, match="same trailing dims"):
        nrnn.pad_sequence([nncheck.zeros(2, 1), nncheck.zeros(3, 2)])
    with pytest.raises(RuntimeError, match="padding_side to be one of left or right"):
        nrnn.pad_sequence([nncheck.zeros(2, 1)], padding_side="middle")
