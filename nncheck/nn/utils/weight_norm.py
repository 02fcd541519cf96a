"""Weight normalisation (Salimans & Kingma, https://arxiv.org/abs/1602.07868).

``w = g * v / ||v||``: the parameter ``name`` is replaced by ``name_g`` (magnitude)
and ``name_v`` (direction); a forward pre-hook recomputes ``name`` from them before
every forward, so autograd reaches g and v through the nncheck tensor ops.
"""

from ...autograd.grad_mode import no_grad
from ..parameter import Parameter
from ._hooks import remove_reparametrization


def norm_except_dim(v, pow=2, dim=0):
    """The ``pow``-norm of v over every dimension but ``dim`` (keepdim); dim=-1: all of v."""
    if dim == -1:
        return v.norm(pow)
    d = dim % max(v.ndim, 1)
    axes = tuple(i for i in range(v.ndim) if i != d)
    if not axes:
        return v.abs()
    return (v.abs() ** pow).sum(dim=axes, keepdim=True) ** (1.0 / pow)


class WeightNorm:
    """The forward pre-hook behind weight_norm."""

    def __init__(self, name, dim):
        self.name = name
        self.dim = -1 if dim is None else dim

    def compute_weight(self, module):
        g = getattr(module, self.name + "_g")
        v = getattr(module, self.name + "_v")
        return v * (g / norm_except_dim(v, 2, self.dim))

    @staticmethod
    def apply(module, name, dim):
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, WeightNorm) and hook.name == name:
                raise RuntimeError(f"Cannot register two weight_norm hooks on the same "
                                   f"parameter {name}")
        fn = WeightNorm(name, dim)
        weight = getattr(module, name)
        del module._parameters[name]
        with no_grad():
            module.register_parameter(name + "_g",
                                      Parameter(norm_except_dim(weight, 2, fn.dim).data))
        module.register_parameter(name + "_v", Parameter(weight.data))
        setattr(module, name, fn.compute_weight(module))
        module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module):
        weight = self.compute_weight(module)
        delattr(module, self.name)
        del module._parameters[self.name + "_g"]
        del module._parameters[self.name + "_v"]
        setattr(module, self.name, Parameter(weight.data))

    def __call__(self, module, inputs):
        setattr(module, self.name, self.compute_weight(module))


def weight_norm(module, name="weight", dim=0):
    """Reparameterise ``module.<name>`` as g * v / ||v|| (norm over all dims but ``dim``;
    dim=None: over the whole tensor)."""
    WeightNorm.apply(module, name, dim)
    return module


def remove_weight_norm(module, name="weight"):
    """Fold g and v back into a plain ``name`` parameter and drop the hook."""
    return remove_reparametrization(module, WeightNorm, name, "weight_norm")


__all__ = ["WeightNorm", "weight_norm", "remove_weight_norm"]
