"""Every command checks the number of --in/--input tensors against the layer's forward."""

import inspect
import json
import shlex
import textwrap

import pytest
import torch

from nncheck import registry
from nncheck.cli import main


@pytest.fixture(autouse=True)
def _keep_torch_rng():
    # the PyTorch modules built here must not move the random state later test files see
    with torch.random.fork_rng():
        yield


def _invoke(argv):
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0
    return code, out.getvalue(), err.getvalue()


def _ins(shapes):
    return [w for s in shapes for w in ("--in", s)]


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
    ("LSTM", "3 4", "1 to 2 inputs", ["5,2,3", "1,2,4", "1,2,4"]),
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
    code, out, err = _invoke(["shape", layer, *shlex.split(args), *_ins(shapes)])
    n = len(shapes)
    quoted = " ".join(f"--in {s}" for s in shapes)
    assert code == 2 and out == ""
    assert err == (f"Error: {layer}.forward takes {takes}, {n} "
                   f"{'was' if n == 1 else 'were'} given ({quoted})\n")


@pytest.mark.parametrize("command", ["shape", "forward", "gradcheck", "compare", "bench"])
def test_every_layer_command_checks_the_count(command):
    code, _, err = _invoke([command, "Conv2d", "3", "8", "3", "--in", "1,3,16,16",
                            "--in", "1,3,16,16"])
    assert code == 2
    assert err == ("Error: Conv2d.forward takes 1 input, 2 were given "
                   "(--in 1,3,16,16 --in 1,3,16,16)\n")
    code, _, err = _invoke([command, "Bilinear", "3", "4", "5", "--in", "2,3"])
    assert code == 2 and err.startswith("Error: Bilinear.forward takes 2 inputs, 1 was given")


def test_summary_checks_the_first_layer_of_the_chain():
    code, _, err = _invoke(["summary", "Bilinear(3,4,5) ReLU()", "--in", "2,3"])
    assert code == 2 and err == "Error: Bilinear.forward takes 2 inputs, 1 was given (--in 2,3)\n"
    code, _, err = _invoke(["summary", "Conv2d(1,4,3) ReLU()", "--in", "1,1,8,8",
                            "--in", "1,1,8,8"])
    assert code == 2 and "Conv2d.forward takes 1 input, 2 were given" in err
    code, out, _ = _invoke(["summary", "Bilinear(3,4,5) ReLU()", "--in", "2,3", "--in", "2,4",
                            "--json"])
    assert code == 0 and json.loads(out)["layers"][-1]["output_shapes"] == [[2, 5]]


def test_forward_counts_the_input_files(tmp_path):
    import numpy as np

    a = tmp_path / "a.npy"
    np.save(a, np.zeros((2, 3)))
    code, _, err = _invoke(["forward", "Linear", "3", "2", "--input", str(a), "--input", str(a)])
    assert code == 2
    assert err == f"Error: Linear.forward takes 1 input, 2 were given (--input {a} --input {a})\n"


def test_valid_counts_still_work_optional_tensors_included():
    torch.manual_seed(0)
    ref = torch.nn.GRU(3, 4)
    out, h = ref(torch.zeros(5, 2, 3), torch.zeros(1, 2, 4))
    code, text, _ = _invoke(["shape", "GRU", "3", "4", "--in", "5,2,3", "--in", "1,2,4",
                             "--json"])
    assert code == 0 and json.loads(text)["output_shapes"] == [list(out.shape), list(h.shape)]
    # MultiheadAttention with its optional key_padding_mask: the fourth tensor
    mha = torch.nn.MultiheadAttention(8, 2)
    q = torch.zeros(4, 2, 8)
    ref_out, ref_w = mha(q, q, q, torch.zeros(2, 4))
    code, text, _ = _invoke(["forward", "MultiheadAttention", "8", "2", *_ins(["4,2,8"] * 3),
                             "--in", "2,4", "--json"])
    assert code == 0
    assert [o["shape"] for o in json.loads(text)["outputs"]] == [list(ref_out.shape),
                                                                 list(ref_w.shape)]
    # the shape rule takes the mask too, and checks it as PyTorch's forward does
    code, text, _ = _invoke(["shape", "MultiheadAttention", "8", "2", *_ins(["4,2,8"] * 3),
                             "--in", "2,4", "--json"])
    assert code == 0 and json.loads(text)["output_shapes"] == [list(ref_out.shape),
                                                               list(ref_w.shape)]
    with pytest.raises(AssertionError, match="key_padded_mask.shape"):  # PyTorch's word
        mha(q, q, q, torch.zeros(2, 5))
    code, _, err = _invoke(["shape", "MultiheadAttention", "8", "2", *_ins(["4,2,8"] * 3),
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
            inspect.signature(torch_cls.forward).bind(None, *[None] * most)


def test_user_module_and_function_are_checked(tmp_path):
    src = tmp_path / "mine.py"
    src.write_text(textwrap.dedent("""
        import nncheck
        from nncheck import nn
        from nncheck.autograd import Function

        class Pair(nn.Module):
            def forward(self, a, b, scale=None):
                return a * b

        class Square(Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * x

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return 2 * x * g

        class Many(nn.Module):
            def forward(self, *xs):
                return sum(xs)
    """))
    code, _, err = _invoke(["shape", f"{src}:Pair", "--in", "2,3"])
    assert code == 2
    assert err == "Error: Pair.forward takes 2 to 3 inputs, 1 was given (--in 2,3)\n"
    code, _, err = _invoke(["gradcheck", f"{src}:Square", "--in", "2,3", "--in", "2,3"])
    assert code == 2
    assert err == "Error: Square.forward takes 1 input, 2 were given (--in 2,3 --in 2,3)\n"
    code, out, _ = _invoke(["gradcheck", f"{src}:Square", "--in", "2,3", "--json"])
    assert code == 0 and json.loads(out)["passed"]
    code, out, _ = _invoke(["shape", f"{src}:Many", *_ins(["2,3"] * 4), "--json"])
    assert code == 0 and json.loads(out)["output_shapes"] == [[2, 3]]
