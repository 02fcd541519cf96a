"""Lazy modules: parameters whose shapes come from the first input (``LazyLinear`` etc.).

A Lazy* layer is its concrete layer built for a placeholder input size, with its
parameters and buffers then swapped for uninitialised ones; a forward pre-hook
materialises them from the first input, resets them, and turns the module into the
concrete class (``cls_to_become``), as PyTorch does.  The Lazy* classes live with their
families (linear, conv, normalization).
"""

from itertools import chain

from ..._lazy import family_names
from ..parameter import UninitializedBuffer, UninitializedParameter, _Uninitialized


class LazyModuleMixin:
    """Mixin of the Lazy* layers; subclasses define ``initialize_parameters(input)``."""

    cls_to_become = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._initialize_hook = self.register_forward_pre_hook(_infer_parameters)

    def has_uninitialized_params(self):
        return any(isinstance(t, _Uninitialized)
                   for t in chain(self._parameters.values(), self._buffers.values()))

    def _make_lazy(self, size_attribute, dtype, parameters=(), buffers=()):
        """Swap the named parameters and buffers (those not None) for uninitialised ones;
        ``size_attribute`` (in_features, in_channels, num_features) reads 0 until then."""
        setattr(self, size_attribute, 0)
        for name in parameters:
            if self._parameters.get(name) is not None:
                self._parameters[name] = UninitializedParameter(dtype=dtype)
        for name in buffers:
            if self._buffers.get(name) is not None:
                self._buffers[name] = UninitializedBuffer(dtype=dtype)

    def _materialize(self, shapes):
        """Give each uninitialised entry its shape ({name: shape}), then reset them all."""
        for name, shape in shapes.items():
            entry = self._parameters.get(name, self._buffers.get(name))
            if isinstance(entry, _Uninitialized):
                entry.materialize(shape)
        self.reset_parameters()


def _infer_parameters(module, args):
    module.initialize_parameters(*args)
    if module.has_uninitialized_params():
        raise RuntimeError(f"{type(module).__name__}: module {module._get_name()} has not "
                           "been fully initialized")
    module._initialize_hook.remove()
    del module._initialize_hook
    if module.cls_to_become is not None:
        module.__class__ = module.cls_to_become


__all__ = family_names(__name__)
