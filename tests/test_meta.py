"""Meta tensors and lazy imports: what keeps `nncheck shape` fast.

A layer built under ``nncheck.device("meta")`` has the real layer's repr, state_dict
and shape rules but no data; ``nncheck shape`` builds one that way and imports
neither numpy, rich, a compiled kernel nor another layer family.
"""

import copy
import importlib
import json
import pkgutil
import shlex
import subprocess
import sys

import numpy as np
import pytest
from reference import check_repr_and_keys

import nncheck
import nncheck.nn as nn
import nncheck.nn.functional as F
from nncheck import registry, shapes
from nncheck.cli.parsing import parse_layer_args

LAYERS = sorted(registry.layers().values(), key=lambda info: info.name)


def _build(info, meta):
    args, kwargs = parse_layer_args(shlex.split(info.example))  # as the CLI reads it
    with nncheck.device("meta" if meta else "cpu"):
        return info.cls(*args, **kwargs)


@pytest.mark.filterwarnings("ignore::FutureWarning")  # NLLLoss2d's deprecation
@pytest.mark.parametrize("info", LAYERS, ids=lambda info: info.name)
def test_every_layer_builds_on_meta_like_the_real_one(info):
    real, meta = _build(info, meta=False), _build(info, meta=True)
    check_repr_and_keys(meta, real)
    real_state, meta_state = real.state_dict(), meta.state_dict()
    assert {k: (tuple(v.shape), v.dtype) for k, v in meta_state.items()} == \
        {k: (tuple(v.shape), v.dtype) for k, v in real_state.items()}
    assert all(v.is_meta and v.device == nncheck.device("meta") for v in meta_state.values())
    assert sum(p.numel() for p in meta.parameters()) == sum(p.numel() for p in real.parameters())
    inputs = [tuple(s) for s in info.inputs]
    assert shapes.infer(meta, inputs) == shapes.infer(real, inputs)


def test_meta_tensors_refuse_to_compute():
    with nncheck.device("meta"):
        layer = nn.Linear(3, 2)
    x = nncheck.zeros(4, 3, device="meta")
    one = nncheck.zeros(1, device="meta")
    for compute in (lambda: layer(nncheck.zeros(4, 3)), lambda: F.relu(x), lambda: x + 1,
                    lambda: x.sum(), lambda: x[0], lambda: x == 0, x.numpy, one.item, x.tolist,
                    lambda: np.asarray(x), lambda: x.to("cpu")):
        with pytest.raises(RuntimeError, match="a meta tensor: it has a shape and a dtype but "):
            compute()


def test_meta_factories_and_device_scope():
    x = nncheck.ones(2, 3, dtype=nncheck.float64, device="meta")
    assert x.is_meta and x.shape == (2, 3) and x.dtype is nncheck.float64
    assert repr(x) == "tensor(..., device='meta', size=(2, 3), dtype=nncheck.float64)"
    assert nncheck.zeros_like(x).is_meta and not nncheck.zeros_like(x, device="cpu").is_meta
    assert nncheck.tensor(0, dtype=nncheck.int64, device="meta").shape == ()
    assert nncheck.tensor([[1, 2, 3]], device="meta").dtype is nncheck.int64
    with nncheck.device("meta"):
        with nncheck.device("cpu"):
            assert not nncheck.randn(2).is_meta
        assert nncheck.randn(2).is_meta and nncheck.get_default_device() == "meta"
    assert not nncheck.empty(2).is_meta and nncheck.get_default_device() == "cpu"
    assert nncheck.zeros(2).to("meta").is_meta and x.to(nncheck.float32).dtype is nncheck.float32


def test_init_is_a_no_op_on_meta_and_draws_nothing():
    nncheck.manual_seed(0)
    expected = nncheck.rand(3)
    nncheck.manual_seed(0)
    with nncheck.device("meta"):
        layer = nn.Conv2d(2, 4, 3)
    nn.init.orthogonal_(layer.weight)
    nn.init.trunc_normal_(layer.bias)
    layer.bias.data.fill_(1)
    assert nncheck.rand(3).equal(expected)
    assert "device='meta'" in repr(layer.weight)


def test_meta_module_deepcopies_and_prints():
    with nncheck.device("meta"):
        encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 2)
    clone = copy.deepcopy(encoder)
    assert repr(clone) == repr(encoder)
    assert all(p.is_meta for p in clone.parameters())


def test_dtypes_know_their_kind_without_numpy():
    for d in nncheck._dtype.ALL_DTYPES:
        kind = d.np.kind
        assert (d.is_floating_point, d.is_complex, d.is_signed, d.itemsize) == \
            (kind == "f", kind == "c", kind in "fic", d.np.itemsize), d


@pytest.mark.parametrize("package", [nn.modules, F], ids=lambda p: p.__name__)
def test_lazy_name_index_matches_the_families(package):
    files = {i.name for i in pkgutil.iter_modules(package.__path__) if not i.name.startswith("_")}
    assert set(package._FAMILIES) == files
    for family, names in package._FAMILIES.items():
        module = importlib.import_module(f"{package.__name__}.{family}")
        assert module.__all__ == list(names)
        missing = [name for name in names if not hasattr(module, name)]
        assert not missing, f"_FAMILIES[{family!r}] in {package.__file__} lists {missing}"
        assert all(getattr(package, name) is getattr(module, name) for name in names)


def test_lazy_packages_keep_their_names():
    assert F.linear.__module__ == "nncheck.nn.functional.linear"  # not the submodule `linear`
    assert F.dropout.__module__ == "nncheck.nn.functional.dropout"
    assert {"Conv2d", "Module", "Parameter", "functional", "init", "utils"} <= set(dir(nn))
    namespace = {}
    exec("from nncheck.nn import *", namespace)
    assert namespace["Conv2d"] is nn.Conv2d and namespace["DataParallel"] is nn.DataParallel
    with pytest.raises(AttributeError, match="has no attribute 'Conv4d'"):
        nn.Conv4d  # noqa: B018


def _run_and_list_modules(argv):
    code = ("import json, sys\nfrom nncheck.cli import main\n"
            f"sys.argv = ['nncheck', *{argv!r}]\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
            "print(json.dumps(sorted(sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    *output, modules = proc.stdout.splitlines()
    return output, json.loads(modules)


def test_shape_command_imports_only_what_it_needs():
    output, modules = _run_and_list_modules(["shape", "Conv2d", "16", "33", "3", "stride=2",
                                             "--in", "20,16,50,100"])
    assert "output[0] [20, 33, 24, 49]" in output
    assert "numpy" not in modules and "rich" not in modules
    assert not [m for m in modules if m.startswith("nncheck._kernels.")]
    families = {m.rsplit(".", 1)[1] for m in modules
                if m.startswith(("nncheck.nn.modules.", "nncheck.nn.functional."))}
    assert families == {"conv", "module", "lazy", "_validation"}  # lazy: Lazy* mixin


def test_summary_of_a_chain_imports_no_numpy():
    _, modules = _run_and_list_modules(["summary", "Conv2d(1,20,5) ReLU() MaxPool2d(2) "
                                        "Flatten() Linear(2880,10)", "--in", "1,1,28,28",
                                        "--json"])
    assert "numpy" not in modules
    assert not [m for m in modules if m.startswith("nncheck._kernels.")]
