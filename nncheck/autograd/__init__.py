"""Automatic differentiation: ``backward``, ``grad``, ``Function`` and ``gradcheck``."""

from .engine import run_backward
from .function import Function, FunctionCtx
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate gradients of ``tensors`` into the leaves (``torch.autograd.backward``)."""
    if inputs is not None:
        from ..tensor import Tensor

        inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        grads = run_backward(tensors, grad_tensors, retain_graph, create_graph, inputs,
                             accumulate=False)
        for t, g in zip(inputs, grads):
            if g is not None:
                t.grad = g.detach() if t.grad is None else t.grad + g.detach()
        return
    run_backward(tensors, grad_tensors, retain_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=None, materialize_grads=False):
    """Return the gradients of ``outputs`` w.r.t. ``inputs`` without touching ``.grad``."""
    from ..tensor import Tensor

    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    grads = run_backward(outputs, grad_outputs, retain_graph, create_graph, inputs,
                         accumulate=False)
    out = []
    for i, (t, g) in enumerate(zip(inputs, grads)):
        if g is None:
            if materialize_grads:
                from ..factories import zeros_like

                g = zeros_like(t)
            elif not allow_unused:
                raise RuntimeError(
                    f"One of the differentiated Tensors (input {i}) appears to not have been "
                    "used in the graph. Set allow_unused=True if this is the desired behavior."
                )
        elif not create_graph:
            g = g.detach()
        out.append(g)
    return tuple(out)


def __getattr__(name):
    # gradcheck pulls in numpy-heavy code; load it on first use
    if name in ("gradcheck", "gradgradcheck", "GradcheckError"):
        from . import checker as module

        return getattr(module, name)
    if name == "check_model":
        from .model_check import check_model

        return check_model
    raise AttributeError(name)


__all__ = ["Function", "FunctionCtx", "backward", "grad", "no_grad", "enable_grad",
           "set_grad_enabled", "is_grad_enabled", "gradcheck", "gradgradcheck", "check_model"]
