"""``nncheck summary``: a per-layer table computed from shapes alone."""

import math

from ..shapes import ShapeError, infer
from .build import construct
from .parsing import UsageError, parse_call, split_chain
from .render import console, table
from .user_code import is_user_target, resolve_user_target

FLOAT_BYTES = 4
_VIEW_LAYERS = {"Flatten", "Unflatten", "Identity"}


def build_model(spec):
    """A Sequential from a chain like 'Conv2d(1,20,5) ReLU()', or a user's FILE.py:Name."""
    from .. import registry
    from ..nn import Sequential

    if is_user_target(spec):
        return _user_model(spec)
    layers = []
    for item in split_chain(spec):
        name, args, kwargs = parse_call(item)
        try:
            info = registry.get(name)
        except KeyError as exc:
            raise UsageError(exc.args[0]) from None
        layers.append(construct(info.cls, args, kwargs, meta=True))  # shapes only
    if not layers:
        raise UsageError("empty model spec")
    return Sequential(*layers)


def _user_model(spec):
    """A user's model built on meta tensors (no data, no numpy) where it can be."""
    module, _, label = resolve_user_target(spec, [], {}, meta=True)
    if module is None:
        raise UsageError(f"{label} is not a Module (summary needs a model)")
    return module


def count_macs(module, in_shapes, out_shapes):
    """Multiply-accumulates of one forward pass (0 where a layer has no products)."""
    name = type(module).__name__
    out = math.prod(out_shapes[0]) if out_shapes else 0
    if name == "Linear":
        return out * module.in_features
    if name == "Bilinear":
        return out * module.in1_features * module.in2_features
    if name.startswith("ConvTranspose"):
        per_input = module.out_channels // module.groups * math.prod(module.kernel_size)
        return math.prod(in_shapes[0]) * per_input
    if name.startswith("Conv"):
        return out * module.in_channels // module.groups * math.prod(module.kernel_size)
    if name in ("RNN", "LSTM", "GRU"):
        gates = {"RNN": 1, "LSTM": 4, "GRU": 3}[name]
        steps = math.prod(out_shapes[0][:-1]) if out_shapes else 0
        dirs = 2 if module.bidirectional else 1
        h = module.hidden_size
        return sum(dirs * steps * gates * h * ((module.input_size if layer == 0 else h * dirs) + h)
                   for layer in range(module.num_layers))
    return 0


def _window(module, spatial):
    """(kernel, stride, padding, dilation) per spatial dim for conv/pool layers, else None."""
    kernel = getattr(module, "kernel_size", None)
    if kernel is None or spatial < 1:
        return None

    def per_dim(value, default):
        value = default if value is None else value
        return tuple(value) if isinstance(value, (tuple, list)) else (value,) * spatial

    padding = getattr(module, "padding", 0)
    if isinstance(padding, str):  # 'same' keeps the size: half the effective kernel
        padding = 0 if padding == "valid" else None
    k = per_dim(kernel, 1)
    d = per_dim(getattr(module, "dilation", 1), 1)
    p = per_dim(padding, 0) if padding is not None else tuple(
        (di * (ki - 1)) // 2 for ki, di in zip(k, d))
    s = per_dim(getattr(module, "stride", None), None)
    s = tuple(ki if si is None else si for si, ki in zip(s, k))
    if not all(len(v) == spatial for v in (k, s, p, d)):
        return None
    return k, s, p, d


def receptive_fields(rows, model_layers, n_spatial):
    """Receptive field, jump and start of each conv/pool layer's outputs, per spatial dim.

    rf_out = rf_in + (k_eff - 1) * jump_in; jump_out = jump_in * stride;
    start_out = start_in + ((k_eff - 1) / 2 - padding) * jump_in (centre of the first window).
    """
    rf, jump, start = [1] * n_spatial, [1] * n_spatial, [0.5] * n_spatial
    for row, module in zip(rows, model_layers):
        window = _window(module, n_spatial)
        if window is not None and not type(module).__name__.startswith("ConvTranspose"):
            for i, (k, s, p, d) in enumerate(zip(*window)):
                eff = d * (k - 1) + 1
                rf[i] = rf[i] + (eff - 1) * jump[i]
                start[i] = start[i] + ((eff - 1) / 2 - p) * jump[i]
                jump[i] = jump[i] * s
        row["receptive_field"], row["jump"], row["start"] = list(rf), list(jump), list(start)


def _leaves(model, depth):
    """(qualified name, module) rows down to ``depth``, containers expanded in order."""
    rows = []

    def walk(module, prefix, level):
        children = list(module.named_children())
        if not children or level >= depth:
            rows.append((prefix or type(module).__name__, module))
            return
        for name, child in children:
            walk(child, f"{prefix}.{name}" if prefix else name, level + 1)

    walk(model, "", 0)
    return rows


def summarize(model, shapes, depth):
    """Rows, totals, and the ShapeError at the first failing layer (None if all fit)."""
    from ..nn import Sequential

    rows, failure = [], None
    seen_params = set()
    total_params = total_macs = total_act = total_saved = 0
    layers = _leaves(model, depth)
    if isinstance(model, Sequential):
        current = shapes
        for name, module in layers:
            explain = []
            try:
                outs = infer(module, current, explain)
            except ShapeError as exc:
                failure = exc
                rows.append(_row(name, module, current, None, explain, seen_params))
                break
            rows.append(_row(name, module, current, outs, explain, seen_params))
            current = outs
    else:
        outs_by_module = _hooked_pass(model, shapes)
        for name, module in layers:
            ins, outs = outs_by_module.get(id(module), (None, None))
            rows.append(_row(name, module, ins or [], outs, [], seen_params))
    if shapes and len(shapes[0]) >= 3:
        receptive_fields(rows, [m for _, m in layers], len(shapes[0]) - 2)
    for r in rows:
        total_params += r["params"]
        total_macs += r["macs"]
        total_act += r["activation_bytes"]
        total_saved += r["saved_bytes"]
    totals = {"params": total_params, "macs": total_macs, "activation_bytes": total_act,
              "saved_bytes": total_saved}
    return rows, totals, failure


def _row(name, module, in_shapes, out_shapes, explain, seen_params):
    params = 0
    for p in module.parameters():
        if id(p) not in seen_params:  # shared parameters are counted once
            seen_params.add(id(p))
            params += p.numel()
    outs = out_shapes or []
    act = sum(math.prod(s) for s in outs) * FLOAT_BYTES
    saved = 0 if type(module).__name__ in _VIEW_LAYERS else \
        sum(math.prod(s) for s in in_shapes) * FLOAT_BYTES
    return {"name": name, "layer": type(module).__name__,
            "input_shapes": [list(s) for s in in_shapes],
            "output_shapes": [list(s) for s in outs] if out_shapes is not None else None,
            "params": params, "macs": count_macs(module, in_shapes, outs) if outs else 0,
            "activation_bytes": act, "saved_bytes": saved, "explain": explain}


def _hooked_pass(model, shapes):
    """A user's Module without shape rules: one forward, shapes caught by hooks.

    A model built on meta tensors runs on shapes alone (layers answer from their shape
    rules, the code between them from nncheck._meta_ops); where that meets an op without
    a shape rule, its parameters become zeros and the forward runs on zeros.
    """
    from ..tensor import MetaStorage

    if any(isinstance(p._data, MetaStorage) for p in model.parameters()):
        try:
            return _traced_pass(model, shapes)
        except Exception:  # an op without a shape rule, or the user's code wanted values
            import numpy as np

            model._apply(lambda a: np.zeros(a.shape, a.dtype.np)
                         if isinstance(a, MetaStorage) else a)
    return _forward_pass(model, shapes, zeros=True)


def _traced_pass(model, shapes):
    """The forward on ShapeTracer inputs, each layer with a shape rule answering from it."""
    from .._meta_ops import tracer

    def from_rule(module):
        def forward(*inputs, **kwargs):
            if kwargs or not all(hasattr(t, "shape") for t in inputs):
                raise TypeError("not a plain call on tensors")
            outs = module.infer_shape(*[tuple(t.shape) for t in inputs])
            if len(outs) != 1:
                raise TypeError("several outputs: their nesting is the layer's forward's")
            return tracer(outs[0], inputs[0].dtype)
        return forward

    # nncheck's own leaf layers only: a user's subclass may have a forward of its own
    ruled = [m for m in model.modules() if getattr(m, "infer_shape", None) is not None
             and type(m).forward.__module__.startswith("nncheck.")
             and not any(True for _ in m.children())]
    for m in ruled:
        m.forward = from_rule(m)
    try:
        return _forward_pass(model, shapes, zeros=False)
    finally:
        for m in ruled:
            del m.forward


def _forward_pass(model, shapes, zeros):
    from .. import float32
    from .._meta_ops import tracer
    from ..autograd.checker import _flat_outputs
    from ..autograd.grad_mode import no_grad
    from ..tensor import Tensor

    seen, handles = {}, []
    for m in model.modules():
        def hook(mod, inputs, output):
            seen[id(mod)] = ([tuple(t.shape) for t in _flat_outputs(list(inputs))],
                             [tuple(t.shape) for t in _flat_outputs(output)])
        handles.append(m.register_forward_hook(hook))
    was_training = model.training
    model.eval()  # a summary changes no state (BatchNorm running statistics)
    if zeros:
        import numpy as np

        inputs = [Tensor._wrap(np.zeros(s, np.float32)) for s in shapes]
    else:
        inputs = [tracer(s, float32) for s in shapes]
    try:
        with no_grad():
            model(*inputs)
    except Exception as exc:  # the user's forward failed: one line, with the layer's words
        if not zeros:
            raise  # the shape-only pass gives way to a real one
        raise UsageError(f"{type(model).__name__}: forward on shapes "
                         f"{[list(s) for s in shapes]} failed: {exc}") from None
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return seen


def _dims(values):
    return "x".join(str(v) for v in values) if values else ""


def _bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def render(rows, totals, failure):
    spatial = any("receptive_field" in r for r in rows)
    t = table(None, ["layer", "type", "output shape", "params", "MACs", "activations",
                     "saved for backward"] + (["receptive field", "jump"] if spatial else []))
    for r in rows:
        shape = ("[red]shape error[/]" if r["output_shapes"] is None
                 else ", ".join(str(s) for s in r["output_shapes"]))
        extra = [_dims(r.get("receptive_field")), _dims(r.get("jump"))] if spatial else []
        t.add_row(r["name"], r["layer"], shape, f"{r['params']:,}",
                  f"{r['macs']:,}" if r["macs"] else "-", _bytes(r["activation_bytes"]),
                  _bytes(r["saved_bytes"]), *extra)
    t.add_section()
    t.add_row("total", "", "", f"{totals['params']:,}", f"{totals['macs']:,}",
              _bytes(totals["activation_bytes"]), _bytes(totals["saved_bytes"]),
              *([""] * (2 if spatial else 0)))
    con = console()
    con.print(t)
    if failure is not None:
        con.print(f"[red]shape error at layer {rows[-1]['name']} ({rows[-1]['layer']}):[/]")
        con.print("  " + str(failure), markup=False, highlight=False)


# ---------------------------------------------------------------------- symbolic sizes
def analyze_symbolic(model, shapes, hints=None):
    """``nncheck.symbolic.analyze`` for the CLI: a model whose inputs have named sizes."""
    from ..symbolic import analyze

    return analyze(model, *shapes, hints=hints)


def symbolic_json(result):
    """The analysis' keys for --json: per-layer formulas, constraints, guards, smallest."""
    return result.as_dict()


def symbolic_lines(result, explain):
    """Plain lines: what the input sizes must satisfy, the smallest input, and (--explain)
    which layer imposed which condition."""
    lines = []
    if result.failure is None:
        lines.append("accepts   " + ("; ".join(result.constraints) or "any size"))
        if result.guards:
            lines.append("guards    " + "; ".join(result.guards) + "  (branches the code took)")
        lines.append("smallest  " + ", ".join(f"{k}={v}" for k, v in result.smallest.items()))
    if explain:
        lines.append("why:")
        if len(result.rows) == 1:  # one layer (`shape`): its formulas first
            lines += ["  " + note for note in result.rows[0].notes]
        seen = set()
        for c in result.conditions:
            key = (c.layer, c.python)
            if key not in seen:
                seen.add(key)
                lines.append(f"  {c.layer}: {c.python}  ({c.kind}: {c.reason})")
    return lines


def render_symbolic(result, explain):
    """The per-layer table of formulas, then the conditions on the input sizes."""
    t = table(None, ["layer", "type", "output shape", "params"])
    for row in result.rows:
        t.add_row(row.name, row.layer, ", ".join(
            "[" + ", ".join(str(s) for s in shape) + "]" for shape in row.output_shapes),
            f"{row.params:,}")
    con = console()
    con.print(t)
    for line in symbolic_lines(result, explain):
        con.print(line, markup=False, highlight=False)
