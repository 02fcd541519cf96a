"""Module backward hooks: identity nodes around a module's inputs and outputs.

The output node sees grad_output (and runs backward pre-hooks); the input node
sees grad_input, calls ``hook(module, grad_input, grad_output)`` and lets the
hook replace grad_input — the same scheme as PyTorch's BackwardHook.
"""

from ...autograd.function import Function
from ...tensor import Tensor


class _Identity(Function):
    @staticmethod
    def forward(ctx, on_backward, *tensors):
        ctx.on_backward = on_backward
        return tuple(Tensor._wrap(t._data, base=t._base, version=t._version) for t in tensors)

    @staticmethod
    def backward(ctx, *grads):
        return (None, *ctx.on_backward(grads))


def call_with_backward_hooks(module, args, kwargs):
    state = {"grad_output": None}
    input_pos = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]

    def on_input_grads(grad_input):
        grad_input = tuple(grad_input)
        for hook in list(module._backward_hooks.values()):
            res = hook(module, grad_input, state["grad_output"])
            if res is not None:
                grad_input = tuple(res) if isinstance(res, (tuple, list)) else (res,)
        return grad_input

    def on_output_grads(grad_output):
        grad_output = tuple(grad_output)
        for hook in list(module._backward_pre_hooks.values()):
            res = hook(module, grad_output)
            if res is not None:
                grad_output = tuple(res) if isinstance(res, (tuple, list)) else (res,)
        state["grad_output"] = grad_output
        if not input_pos:
            # nothing upstream needs a gradient: the hook still fires, with no grad_input
            for hook in list(module._backward_hooks.values()):
                hook(module, (None,), grad_output)
        return grad_output

    if input_pos:
        wrapped = _Identity.apply(on_input_grads, *(args[i] for i in input_pos))
        wrapped = wrapped if isinstance(wrapped, tuple) else (wrapped,)
        args = list(args)
        for i, w in zip(input_pos, wrapped):
            args[i] = w
        args = tuple(args)
    result = module.forward(*args, **kwargs)
    outputs = result if isinstance(result, tuple) else (result,)
    out_pos = [i for i, o in enumerate(outputs) if isinstance(o, Tensor) and o.requires_grad]
    if not out_pos:
        return result
    wrapped = _Identity.apply(on_output_grads, *(outputs[i] for i in out_pos))
    wrapped = wrapped if isinstance(wrapped, tuple) else (wrapped,)
    outputs = list(outputs)
    for i, w in zip(out_pos, wrapped):
        outputs[i] = w
    return tuple(outputs) if isinstance(result, tuple) else outputs[0]
