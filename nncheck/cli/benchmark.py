"""``nncheck bench``: forward and backward times of one layer, GFLOP/s where known."""

import time

from .._lazy import np
from .build import grad_input_indices, output_shapes, sample_inputs
from .render import console, table
from .summary import count_macs


def _best_ms(fn, repeat):
    fn()  # warm-up (kernel import, allocator)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def run_bench(target, shapes, dtype, repeat, device="cpu"):
    from ..autograd import backward
    from ..autograd.checker import _flat_outputs
    from ..tensor import Tensor

    arrays = sample_inputs(target, shapes, np.dtype(dtype), 0)
    want = set(grad_input_indices(target, arrays))
    module = target.module
    if module is not None:
        getattr(module, {"float16": "half", "float32": "float", "float64": "double"}[dtype])()
        module.to(device)

    def make_inputs(requires_grad):
        ts = [Tensor._wrap(a).to(device) for a in arrays]
        if requires_grad:
            for i in want:
                if arrays[i].dtype.kind == "f":
                    ts[i].requires_grad_(True)
        return ts

    def fwd():
        return target.callable(*make_inputs(False))

    def fwd_bwd():
        outs = [o for o in _flat_outputs(target.callable(*make_inputs(True))) if o.requires_grad]
        if outs:
            backward(outs, [Tensor._wrap(np.ones(o.shape, o._data.dtype)).to(o.device)
                            for o in outs])

    from ..autograd.grad_mode import no_grad

    with no_grad():
        fwd_ms = _best_ms(fwd, repeat)
    total_ms = _best_ms(fwd_bwd, repeat)
    macs = count_macs(module, shapes, output_shapes(target, shapes)) if module is not None else 0
    result = {"layer": target.describe(), "dtype": dtype, "device": device,
              "input_shapes": [list(s) for s in shapes],
              "forward_ms": fwd_ms, "forward_backward_ms": total_ms, "macs": macs}
    if macs:
        # backward costs two forward-sized products (input and weight gradients)
        result["forward_gflops"] = 2 * macs / fwd_ms / 1e6
        result["forward_backward_gflops"] = 6 * macs / total_ms / 1e6
    return result


def render(result):
    con = console()
    con.print(f"{result['layer']} ({result['dtype']})", markup=False, highlight=False)
    t = table(None, ["pass", "best ms", "GFLOP/s"])
    t.add_row("forward", f"{result['forward_ms']:.3f}",
              f"{result['forward_gflops']:.1f}" if "forward_gflops" in result else "-")
    t.add_row("forward+backward", f"{result['forward_backward_ms']:.3f}",
              f"{result['forward_backward_gflops']:.1f}"
              if "forward_backward_gflops" in result else "-")
    con.print(t)
