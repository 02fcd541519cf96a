"""PyTorch code checked by nncheck's checker: PyTorch runs forward and the VJPs.

``adapt(func, inputs)`` turns a PyTorch callable (a function, a Module, an
``autograd.Function``'s ``apply``) and its PyTorch tensors into an nncheck Module and
nncheck tensors *sharing memory* with them: when the checker perturbs an element of an
nncheck tensor, PyTorch sees it.  The whole PyTorch call is one nncheck ``Function``,
whose backward is ``torch.autograd.grad`` with the cotangents the checker asks for, so
everything else (colouring, kinks, worst element, bug signatures, blocks, workers) is
the checker's own.  Nothing here imports torch unless the objects given are PyTorch's.
"""

from .._lazy import np
from ..nn.modules.module import Module
from .function import Function
from .grad_mode import is_grad_enabled


def _torch_class(cls):
    return any(c.__module__.split(".")[0] == "torch" for c in cls.__mro__)


def is_torch_object(obj):
    """Is ``obj`` a PyTorch tensor, Module or Function.apply (torch is not imported)?"""
    if isinstance(obj, (tuple, list)):
        return any(is_torch_object(o) for o in obj)
    owner = getattr(obj, "__self__", None)  # Fn.apply is bound to its Function class
    return _torch_class(type(obj)) or (isinstance(owner, type) and _torch_class(owner))


def involves_torch(func, inputs):
    return is_torch_object(func) or is_torch_object(inputs)


def adapt(func, inputs):
    """(nncheck Module, nncheck inputs) standing for the PyTorch ``func`` and ``inputs``."""
    import torch

    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    params = []
    if isinstance(func, torch.nn.Module):
        params = [(name, p) for name, p in func.named_parameters() if p.requires_grad]
    for name, t in [(f"input[{i}]", t) for i, t in enumerate(inputs)] + params:
        if isinstance(t, torch.Tensor) and t.device.type != "cpu":
            raise ValueError(f"gradcheck: {name} is on {t.device}; PyTorch code is checked "
                             "on CPU tensors")
    return TorchCallable(func, params), tuple(_shared(t) for t in inputs)


def _shared(x):
    """An nncheck tensor on the same memory as the PyTorch tensor ``x``."""
    import torch

    from ..tensor import Tensor

    if isinstance(x, torch.Tensor):
        return Tensor._wrap(x.detach().numpy(), requires_grad=x.requires_grad)
    return x


class TorchCallable(Module):
    """A PyTorch callable as an nncheck Module; its parameters are PyTorch's, by name."""

    def __init__(self, func, params):
        from ..tensor import Tensor

        super().__init__()
        self._func, self._torch_params = func, [p for _, p in params]
        self._shared_params = [(name, Tensor._wrap(p.detach().numpy(), requires_grad=True))
                               for name, p in params]

    def named_parameters(self, *args, **kwargs):
        yield from self._shared_params

    def forward(self, *inputs):
        return _TorchCall.apply(*inputs, *[t for _, t in self._shared_params], call=self,
                                n_inputs=len(inputs), record=is_grad_enabled())


class _TorchCall(Function):
    """One call of the PyTorch callable; backward is ``torch.autograd.grad``."""

    raw = True  # forward and backward see numpy arrays: the memory PyTorch shares

    @staticmethod
    def forward(ctx, *arrays, call, n_inputs, record):
        import torch

        args, wrt, slots = [], [], []
        for i, a in enumerate(arrays[:n_inputs]):
            if isinstance(a, np.ndarray):
                a = torch.from_numpy(a)
                if ctx.needs_input_grad[i] and record:
                    a.requires_grad_(True)
                    wrt.append(a)
                    slots.append(i)
            args.append(a)
        if record:
            wrt += call._torch_params
            slots += range(n_inputs, len(arrays))
        with torch.set_grad_enabled(record):
            out = call._func(*args)
        outs = _flat_torch(out)
        ctx.torch_graph = (outs, wrt, slots, len(arrays))
        arrays_out = tuple(o.detach().numpy().copy() for o in outs)
        return arrays_out[0] if isinstance(out, torch.Tensor) else arrays_out

    @staticmethod
    def backward(ctx, *grads):
        import torch

        outs, wrt, slots, n_args = ctx.torch_graph
        pairs = [(o, torch.from_numpy(np.ascontiguousarray(g))) for o, g in zip(outs, grads)
                 if g is not None and o.requires_grad]
        result = [None] * n_args
        if not pairs or not wrt:
            return tuple(result)
        grads_wrt = torch.autograd.grad([o for o, _ in pairs], wrt, [g for _, g in pairs],
                                        retain_graph=True, allow_unused=True)
        for slot, g in zip(slots, grads_wrt):
            result[slot] = None if g is None else g.detach().numpy()
        return tuple(result)


def _flat_torch(out):
    """The tensors of a (nested) PyTorch output, in order."""
    import torch

    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for item in out for t in _flat_torch(item)]
    return []
