"""Every command checks the number of --in/--input tensors against the layer's forward."""

import inspect
import json
import shlex
import textwrap

import pytest
import torch
from helpers import ins, invoke, square_source

from nncheck import registry


@pytest.fixture(autouse=True)
def _keep_torch_rng():
    # the PyTorch modules built here must not move the random state later test files see
    with torch.random.fork_rng():
        yield


# (layer, constructor args, what PyTorch's forward takes as tensors, a wrong count of shapes)
WRONG_COUNTS = [
    ("Conv2d", "3 8 3", "1 input", ["1,3,16,16", "1,3,16,16"]),
    ("Linear", "20 30", "1 input", ["128,20", "4,5"]),
    ("ReLU", "", "1 input", ["2,3", "2,3", "2,3"]),
    ("ConvTranspose2d", "3 4 3", "1 input", ["1,3,5,5", "2"]),  # output_size is no tensor
    ("MaxUnpool2d", "2", "2 inputs", ["1,1,2,2"]),  # output_size is a size, no tensor
    ("Bilinear", "3 4 5", "2 inputs", ["2,3"]),
    ("Bilinear", "3 4 5", "2 inputs", ["2,3", "2,4", "2,4"]),
    ("MultiheadAttention", "8 2", "3 to 4 inputs", ["4,2,8", "4,2,8"]),
    ("MultiheadAttention", "8 2", "3 to 4 inputs", ["4,2,8"] * 5),
    ("Transformer", "8 2 1 1 16", "2 to 8 inputs", ["4,2,8"]),
    ("TransformerEncoderLayer", "8 2 16", "1 to 3 inputs", ["4,2,8"] * 4),
    ("GRUCell", "3 4", "1 to 2 inputs", ["2,3", "2,4", "2,4"]),
    ("MSELoss", "", "2 inputs", ["3,5"]),
    ("CrossEntropyLoss", "", "2 inputs", ["3,5", "3", "3"]),
    ("TripletMarginLoss", "", "3 inputs", ["3,5", "3,5"]),
    ("MarginRankingLoss", "", "3 inputs", ["4", "4"]),
    ("CosineEmbeddingLoss", "", "3 inputs", ["3,5", "3,5", "3", "3"]),
    ("CTCLoss", "", "4 inputs", ["6,2,4", "2,3", "2"]),
    ("EmbeddingBag", "10 3", "1 to 3 inputs", ["2,4"] * 4),
]


@pytest.mark.parametrize("layer,args,takes,shapes", WRONG_COUNTS,
                         ids=[f"{c[0]}-{len(c[3])}" for c in WRONG_COUNTS])
def test_wrong_number_of_inputs_is_a_usage_error(layer, args, takes, shapes):
    code, out, err = invoke(["shape", layer, *shlex.split(args), *ins(shapes)])
    n = len(shapes)
    quoted = " ".join(f"--in {s}" for s in shapes)
    assert code == 2 and out == ""
    assert err == (f"Error: {layer}.forward takes {takes}, {n} "
                   f"{'was' if n == 1 else 'were'} given ({quoted})\n")


@pytest.mark.parametrize("command", ["shape", "forward", "gradcheck", "compare", "bench"])
def test_every_layer_command_checks_the_count(command):
    code, _, err = invoke([command, "Conv2d", "3", "8", "3", "--in", "1,3,16,16",
                           "--in", "1,3,16,16"])
    assert code == 2
    assert err == ("Error: Conv2d.forward takes 1 input, 2 were given "
                   "(--in 1,3,16,16 --in 1,3,16,16)\n")
    code, _, err = invoke([command, "Bilinear", "3", "4", "5", "--in", "2,3"])
    assert code == 2 and err.startswith("Error: Bilinear.forward takes 2 inputs, 1 was given")


def test_summary_checks_the_first_layer_of_the_chain():
    code, _, err = invoke(["summary", "Bilinear(3,4,5) ReLU()", "--in", "2,3"])
    assert code == 2 and err == "Error: Bilinear.forward takes 2 inputs, 1 was given (--in 2,3)\n"
    code, _, err = invoke(["summary", "Conv2d(1,4,3) ReLU()", "--in", "1,1,8,8",
                           "--in", "1,1,8,8"])
    assert code == 2 and "Conv2d.forward takes 1 input, 2 were given" in err
    code, out, _ = invoke(["summary", "Bilinear(3,4,5) ReLU()", "--in", "2,3", "--in", "2,4",
                           "--json"])
    assert code == 0 and json.loads(out)["layers"][-1]["output_shapes"] == [[2, 5]]


def test_forward_counts_the_input_files(tmp_path):
    import numpy as np

    a = tmp_path / "a.npy"
    np.save(a, np.zeros((2, 3)))
    code, _, err = invoke(["forward", "Linear", "3", "2", "--input", str(a), "--input", str(a)])
    assert code == 2
    assert err == f"Error: Linear.forward takes 1 input, 2 were given (--input {a} --input {a})\n"


def test_valid_counts_still_work_optional_tensors_included():
    torch.manual_seed(0)
    ref = torch.nn.GRU(3, 4)
    out, h = ref(torch.zeros(5, 2, 3), torch.zeros(1, 2, 4))
    code, text, _ = invoke(["shape", "GRU", "3", "4", "--in", "5,2,3", "--in", "1,2,4",
                            "--json"])
    assert code == 0 and json.loads(text)["output_shapes"] == [list(out.shape), list(h.shape)]
    # MultiheadAttention with its optional key_padding_mask: the fourth tensor
    mha = torch.nn.MultiheadAttention(8, 2)
    q = torch.zeros(4, 2, 8)
    ref_out, ref_w = mha(q, q, q, torch.zeros(2, 4))
    code, text, _ = invoke(["forward", "MultiheadAttention", "8", "2", *ins(["4,2,8"] * 3),
                            "--in", "2,4", "--json"])
    assert code == 0
    assert [o["shape"] for o in json.loads(text)["outputs"]] == [list(ref_out.shape),
                                                                 list(ref_w.shape)]
    # the shape rule takes the mask too, and checks it as PyTorch's forward does
    code, text, _ = invoke(["shape", "MultiheadAttention", "8", "2", *ins(["4,2,8"] * 3),
                            "--in", "2,4", "--json"])
    assert code == 0 and json.loads(text)["output_shapes"] == [list(ref_out.shape),
                                                               list(ref_w.shape)]
    with pytest.raises(AssertionError, match="key_padded_mask.shape"):  # PyTorch's word
        mha(q, q, q, torch.zeros(2, 5))
    code, _, err = invoke(["shape", "MultiheadAttention", "8", "2", *ins(["4,2,8"] * 3),
                           "--in", "2,5"])
    assert code == 2 and "key_padding_mask has shape [2, 5], expected [2, 4]" in err


def test_every_registered_example_has_a_count_its_forward_accepts():
    from nncheck.cli.arity import forward_arity
    from nncheck.cli.build import Target

    for info in registry.layers().values():
        name, least, most = forward_arity(Target(module=object.__new__(info.cls), info=info))
        assert least <= len(info.inputs) and (most is None or len(info.inputs) <= most), name
        # and so does PyTorch's (bind raises a TypeError where it would not)
        torch_cls = getattr(torch.nn, info.name, None)
        if torch_cls is not None and most is not None:
            # (the flat --in tensors grouped as forward's arguments: LSTM's h_0, c_0 are hx)
            inspect.signature(torch_cls.forward).bind(None, *info.forward_args([None] * most))


def test_user_module_and_function_are_checked(tmp_path):
    src = tmp_path / "mine.py"
    src.write_text(textwrap.dedent("""
        import nncheck
        from nncheck import nn
        from nncheck.autograd import Function

        class Pair(nn.Module):
            def forward(self, a, b, scale=None):
                return a * b

        class Many(nn.Module):
            def forward(self, *xs):
                return sum(xs)
    """) + square_source())
    code, _, err = invoke(["shape", f"{src}:Pair", "--in", "2,3"])
    assert code == 2
    assert err == "Error: Pair.forward takes 2 to 3 inputs, 1 was given (--in 2,3)\n"
    code, _, err = invoke(["gradcheck", f"{src}:Square", "--in", "2,3", "--in", "2,3"])
    assert code == 2
    assert err == "Error: Square.forward takes 1 input, 2 were given (--in 2,3 --in 2,3)\n"
    code, out, _ = invoke(["gradcheck", f"{src}:Square", "--in", "2,3", "--json"])
    assert code == 0 and json.loads(out)["passed"]
    code, out, _ = invoke(["shape", f"{src}:Many", *ins(["2,3"] * 4), "--json"])
    assert code == 0 and json.loads(out)["output_shapes"] == [[2, 3]]


# ---------------------------------------------------------------- LSTM's hx: the pair (h_0, c_0)
LSTM_CASES = [("LSTM", ["10", "20"], ["5,3,10", "1,3,20", "1,3,20"]),
              ("LSTMCell", ["10", "20"], ["3,10", "3,20", "3,20"])]


def _torch_lstm(layer, tmp_path):
    """PyTorch's layer (seeded), its weights as a .npz and random input files."""
    import numpy as np

    torch.manual_seed(0)
    ref = getattr(torch.nn, layer)(10, 20).double()
    weights = tmp_path / "w.npz"
    np.savez(weights, **{k: v.detach().numpy() for k, v in ref.state_dict().items()})
    return ref, weights


@pytest.mark.parametrize("layer,args,shapes", LSTM_CASES, ids=[c[0] for c in LSTM_CASES])
def test_lstm_takes_h0_and_c0_as_two_inputs(layer, args, shapes, tmp_path):
    import numpy as np

    ref, weights = _torch_lstm(layer, tmp_path)
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal([int(d) for d in s.split(",")]) for s in shapes]
    files = []
    for i, a in enumerate(arrays):
        files += ["--input", str(tmp_path / f"x{i}.npy")]
        np.save(files[-1], a)
    x, h0, c0 = (torch.from_numpy(a) for a in arrays)
    want = ref(x, (h0, c0))
    want = [want[0], *want[1]] if layer == "LSTM" else list(want)
    code, text, _ = invoke(["shape", layer, *args, *ins(shapes), "--json"])
    assert code == 0 and json.loads(text)["output_shapes"] == [list(w.shape) for w in want]
    code, text, _ = invoke(["forward", layer, *args, *files, "--weights", str(weights),
                            "--dtype", "float64", "--json", "--save", str(tmp_path / "o.npy")])
    assert code == 0
    np.testing.assert_allclose(np.load(tmp_path / "o.npy"), want[0].detach().numpy(),
                               rtol=1e-12, atol=1e-14)
    for stats, w in zip(json.loads(text)["outputs"], want):  # h_n and c_n are PyTorch's too
        assert stats["shape"] == list(w.shape)
        assert stats["mean"] == pytest.approx(w.mean().item(), rel=1e-12, abs=1e-14)
        assert stats["max"] == pytest.approx(w.max().item(), rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("layer,args,shapes", LSTM_CASES, ids=[c[0] for c in LSTM_CASES])
def test_lstm_states_reach_forward_in_every_command(layer, args, shapes):
    # compare: outputs and the gradients of h_0 and c_0 against PyTorch's
    code, text, _ = invoke(["compare", layer, *args, *ins(shapes), "--json"])
    result = json.loads(text)
    assert code == 0 and result["passed"]
    compared = {r["what"] for r in result["comparisons"]}
    assert {"output[0]", "output[1]", "grad input[1]", "grad input[2]"} <= compared
    code, text, _ = invoke(["gradcheck", layer, *args, *ins(shapes), "--json"])
    result = json.loads(text)
    assert code == 0 and result["passed"]
    assert {"input[1]", "input[2]", "weight_hh" if layer == "LSTMCell" else "weight_hh_l0"} \
        <= {c["wrt"] for c in result["checks"]}
    code, text, _ = invoke(["bench", layer, *args, *ins(shapes), "--repeat", "1", "--json"])
    assert code == 0 and json.loads(text)["input_shapes"] == [
        [int(d) for d in s.split(",")] for s in shapes]


@pytest.mark.parametrize("layer,args,shapes", LSTM_CASES, ids=[c[0] for c in LSTM_CASES])
def test_lstm_with_h0_alone_says_hx_needs_c0(layer, args, shapes):
    ref = getattr(torch.nn, layer)(10, 20)
    x, h0 = (torch.zeros([int(d) for d in s.split(",")]) for s in shapes[:2])
    with pytest.raises((RuntimeError, TypeError, ValueError, IndexError)):
        ref(x, h0)  # PyTorch refuses a bare tensor as hx
    for command in ("shape", "forward", "gradcheck"):
        code, out, err = invoke([command, layer, *args, *ins(shapes[:2])])
        assert code == 2 and out == ""
        assert err == (f"Error: {layer}.forward takes 1 or 3 inputs, 2 were given "
                       f"(--in {shapes[0]} --in {shapes[1]}); hx is the tuple (h_0, c_0): "
                       "give all 2 or none\n")
    code, _, err = invoke(["shape", layer, *args, *ins(shapes + shapes[1:2])])
    assert code == 2 and err.startswith(f"Error: {layer}.forward takes 1 or 3 inputs, 4 were")


# ------------------------------------------------------- transformers: the optional masks
# the registered example's inputs followed by forward's masks, in forward's order, in shapes
# PyTorch accepts (batch 2, nhead 2; src/tgt/memory lengths from the inputs)
TRANSFORMER_INPUTS = [
    ("TransformerEncoderLayer", "8 2 16 0.0", ["5,2,8", "4,5,5", "2,5"]),
    ("TransformerDecoderLayer", "8 2 16 0.0", ["5,2,8", "6,2,8", "5,5", "4,5,6", "2,5", "2,6"]),
    ("Transformer", "8 2 1 1 16 0.0",
     ["5,2,8", "4,2,8", "5,5", "4,4,4", "4,5", "2,5", "2,4", "2,5"]),
]


@pytest.mark.parametrize("layer,args,shapes", TRANSFORMER_INPUTS,
                         ids=[c[0] for c in TRANSFORMER_INPUTS])
def test_every_count_the_check_accepts_works_in_shape_and_forward(layer, args, shapes):
    from nncheck.cli.arity import forward_arity
    from nncheck.cli.build import build_target

    _, least, most = forward_arity(build_target(layer, shlex.split(args), meta=True))
    assert most == len(shapes)
    ref = getattr(torch.nn, layer)(*[float(a) if "." in a else int(a) for a in args.split()])
    for n in range(least, most + 1):
        sizes = [[int(d) for d in s.split(",")] for s in shapes[:n]]
        with torch.no_grad():
            want = list(ref(*[torch.randn(s) for s in sizes]).shape)
        code, text, err = invoke(["shape", layer, *shlex.split(args), *ins(shapes[:n]),
                                  "--json"])
        assert code == 0, err
        assert json.loads(text)["output_shapes"] == [want]
        code, text, err = invoke(["forward", layer, *shlex.split(args), *ins(shapes[:n]),
                                  "--json"])
        assert code == 0, err
        assert [o["shape"] for o in json.loads(text)["outputs"]] == [want]
