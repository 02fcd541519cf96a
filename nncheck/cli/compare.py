"""``nncheck compare``: the same layer in nncheck and PyTorch, same weights and inputs."""

from .._lazy import np
from .build import grad_input_indices, sample_inputs
from .parsing import UsageError, parse_layer_args
from .render import console, table


def _torch():
    try:
        import torch
    except ImportError:
        raise UsageError("compare needs PyTorch, which is not installed "
                         "(pip install torch)") from None
    return torch


def compare_with_torch(target, layer, tokens, shapes, seed, rtol, atol, device="cpu"):
    from ..autograd import backward
    from ..autograd.checker import _flat_outputs
    from ..tensor import Tensor

    torch = _torch()
    module = target.module
    torch.manual_seed(seed)
    ref = _torch_twin(torch, target, layer, tokens)
    ref.double()
    module.double()
    try:
        module.load_state_dict({k: Tensor._wrap(v.detach().numpy().copy())
                                for k, v in ref.state_dict().items()})
    except RuntimeError as exc:  # a user's file whose state_dict keys differ from torch's
        raise UsageError(f"{target.describe()}: PyTorch's weights do not load: "
                         f"{' '.join(str(exc).split())}") from None
    training = target.info.train if target.info is not None else False
    module.train(training)
    module.to(device)  # PyTorch's reference stays on the CPU
    ref.train(training)
    arrays = sample_inputs(target, shapes, np.dtype(np.float64), seed)
    want = set(grad_input_indices(target, arrays))
    ours = [Tensor._wrap(a.copy()).to(device) for a in arrays]
    theirs = [torch.from_numpy(a.copy()) for a in arrays]
    for i in want:
        if arrays[i].dtype.kind == "f":
            ours[i].requires_grad_(True)
            theirs[i].requires_grad_(True)
    rows = []
    try:
        out_ours, out_theirs = _flat_outputs(module(*ours)), _flat_torch(ref(*theirs), torch)
    except (ValueError, RuntimeError, TypeError, IndexError) as exc:
        raise UsageError(f"{layer} on inputs of shapes "
                         f"{[list(s) for s in shapes]}: {' '.join(str(exc).split())}") from None
    for i, (a, b) in enumerate(zip(out_ours, out_theirs)):
        rows.append(_diff(f"output[{i}]", a.detach().cpu().numpy(), b.detach().numpy(), rtol,
                          atol))
    pairs = [(a, b) for a, b in zip(out_ours, out_theirs) if b.requires_grad and a.requires_grad]
    if pairs:
        rng = np.random.default_rng(seed + 1)
        gos = [rng.standard_normal(tuple(b.shape)) for _, b in pairs]
        torch.autograd.backward([b for _, b in pairs], [torch.from_numpy(g) for g in gos])
        backward([a for a, _ in pairs], [Tensor._wrap(g).to(device) for g in gos])
        for i, (a, b) in enumerate(zip(ours, theirs)):
            if b.grad is not None and a.grad is not None:
                rows.append(_diff(f"grad input[{i}]", a.grad.cpu().numpy(), b.grad.numpy(), rtol,
                                  atol))
        ref_params = dict(ref.named_parameters())
        for pname, p in module.named_parameters():
            g = ref_params[pname].grad
            if g is not None and p.grad is not None:
                rows.append(_diff(f"grad {pname}", p.grad.cpu().numpy(), g.numpy(), rtol, atol))
    if len(out_ours) != len(out_theirs):
        rows.append({"what": "outputs", "max_abs_diff": None, "max_rel_diff": None,
                     "passed": False, "note": f"{len(out_ours)} vs {len(out_theirs)} outputs"})
    return {"layer": repr(module), "torch": torch.__version__, "rtol": rtol, "atol": atol,
            "passed": all(r["passed"] for r in rows), "comparisons": rows}


def _torch_twin(torch, target, layer, tokens):
    """The same layer built by PyTorch: torch.nn's class, or the user's file run on torch."""
    from .user_code import is_user_target, resolve_user_target

    args, kwargs = parse_layer_args(tokens)
    if is_user_target(layer):
        if target.module is None:
            raise UsageError(f"{layer}: compare needs a Module (a class or a function "
                             "returning one)")
        ref, _, _ = resolve_user_target(layer, args, kwargs, real_torch=True)
        return ref
    if target.module is None or target.info is None:
        raise UsageError("compare works on registered layers (see 'nncheck list') and "
                         "FILE.py:Name models")
    name = type(target.module).__name__
    torch_cls = getattr(torch.nn, name, None)
    if torch_cls is None:
        raise UsageError(f"torch.nn has no {name}")
    return torch_cls(*args, **kwargs)


def _flat_torch(out, torch):
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flat_torch(o, torch)]
    return []


def _diff(what, a, b, rtol, atol):
    if a.shape != b.shape:
        return {"what": what, "max_abs_diff": None, "max_rel_diff": None, "passed": False,
                "note": f"shape {list(a.shape)} vs torch {list(b.shape)}"}
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    diff = np.abs(a64 - b64)
    # relative differences only where the reference is not itself at rounding level
    significant = np.abs(b64) > atol
    rel = np.where(significant, diff / np.where(significant, np.abs(b64), 1), 0)
    ok = bool(np.all(diff <= atol + rtol * np.abs(b64))) if a.size else True
    return {"what": what, "max_abs_diff": float(diff.max()) if a.size else 0.0,
            "max_rel_diff": float(rel.max()) if a.size else 0.0, "passed": ok, "note": ""}


def render(result):
    con = console()
    con.print(f"{result['layer']}  vs  torch {result['torch']} (float64)", markup=False,
              highlight=False)
    t = table(None, ["tensor", "max abs diff", "max rel diff", "result"])
    for r in result["comparisons"]:
        t.add_row(r["what"], _fmt(r["max_abs_diff"]), _fmt(r["max_rel_diff"]),
                  ("[green]same[/]" if r["passed"] else "[red]DIFFERENT[/]")
                  + (f" {r['note']}" if r["note"] else ""))
    con.print(t)


def _fmt(v):
    return "-" if v is None else f"{v:.3g}"
