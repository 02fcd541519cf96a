"""Linear layers: Identity, Linear, Bilinear, LazyLinear-free; plus Flatten/Unflatten."""

import math
import numbers

from ... import factories
from ..._lazy import family_names
from ...registry import register
from ...shapes import ShapeError, expect_rank, note, require
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .lazy import LazyModuleMixin
from .module import Module


@register("linear", inputs=[(2, 3)])
class Identity(Module):
    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input

    def infer_shape(self, *shapes, explain=None):
        note(explain, "identity: output shape = input shape")
        return (tuple(shapes[0]),)


@register("linear", "4 3", inputs=[(2, 4)])
class Linear(Module):
    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        _check_features("Linear", in_features=in_features, out_features=out_features)
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(factories.empty(out_features, in_features, dtype=dtype))
        if bias:
            self.bias = Parameter(factories.empty(out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.linear_default_(self.weight, self.bias)

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def infer_shape(self, *shapes, explain=None):
        shape = tuple(shapes[0])
        if not shape:
            raise ShapeError("Linear", "input must have at least 1 dimension, got a scalar")
        require("Linear", shape[-1] == self.in_features,
                f"the input's last dimension is {shape[-1]} but in_features={self.in_features}",
                f"use Linear({shape[-1]}, {self.out_features}) or feed [..., {self.in_features}]")
        note(explain, f"last dim: in_features {self.in_features} -> out_features "
                      f"{self.out_features}; leading dims {list(shape[:-1])} unchanged")
        return (shape[:-1] + (self.out_features,),)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


@register("linear", "3 2 2", inputs=[(2, 3), (2, 2)])
class Bilinear(Module):
    def __init__(self, in1_features, in2_features, out_features, bias=True, device=None,
                 dtype=None):
        super().__init__()
        _check_features("Bilinear", in1_features=in1_features, in2_features=in2_features,
                        out_features=out_features)
        self.in1_features, self.in2_features = in1_features, in2_features
        self.out_features = out_features
        self.weight = Parameter(factories.empty(out_features, in1_features, in2_features,
                                                dtype=dtype))
        if bias:
            self.bias = Parameter(factories.empty(out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1 / math.sqrt(self.weight.size(1)) if self.in1_features else 0
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        return F.bilinear(input1, input2, self.weight, self.bias)

    def infer_shape(self, *shapes, explain=None):
        if len(shapes) != 2:
            raise ShapeError("Bilinear", f"takes 2 inputs, got {len(shapes)}")
        s1, s2 = map(tuple, shapes)
        for i, (s, features) in enumerate(((s1, self.in1_features), (s2, self.in2_features))):
            if not s:
                raise ShapeError("Bilinear", f"input{i + 1} must have at least 1 dimension")
            require("Bilinear", s[-1] == features, f"input{i + 1}'s last dimension is {s[-1]} "
                                                   f"but in{i + 1}_features={features}")
        require("Bilinear", len(s1) == len(s2) and all(a == b for a, b in zip(s1[:-1], s2[:-1])),
                f"input1 and input2 batch dims differ: {list(s1[:-1])} vs {list(s2[:-1])}")
        note(explain, f"y = x1^T A x2 + b: last dim -> out_features {self.out_features}")
        return (s1[:-1] + (self.out_features,),)

    def extra_repr(self):
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


@register("linear", inputs=[(2, 3, 4, 5)])
class Flatten(Module):
    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input):
        return input.flatten(self.start_dim, self.end_dim)

    def infer_shape(self, *shapes, explain=None):
        shape = tuple(shapes[0])
        if not shape:
            return ((1,),)
        n = len(shape)
        for arg, d in (("start_dim", self.start_dim), ("end_dim", self.end_dim)):
            if not -n <= d < n:
                raise ShapeError("Flatten", f"{arg}={d} is out of range for a {n}-D input")
        s, e = self.start_dim % n, self.end_dim % n
        if s > e:
            raise ShapeError("Flatten", f"start_dim ({s}) comes after end_dim ({e})")
        merged = math.prod(shape[s:e + 1])
        note(explain, f"dims {s}..{e} merged: {' * '.join(map(str, shape[s:e + 1]))} = {merged}")
        return (shape[:s] + (merged,) + shape[e + 1:],)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


@register("linear", "1 (2,6)", inputs=[(2, 12)])
class Unflatten(Module):
    def __init__(self, dim, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, unflattened_size

    def forward(self, input):
        return input.unflatten(self.dim, self.unflattened_size)

    def infer_shape(self, *shapes, explain=None):
        shape = tuple(shapes[0])
        expect_rank("Unflatten", shape, range(1, 64))
        d = self.dim % len(shape)
        sizes = tuple(self.unflattened_size)
        known = int(math.prod(s for s in sizes if s != -1))
        if -1 in sizes:
            sizes = tuple(shape[d] // known if s == -1 else s for s in sizes)
        if int(math.prod(sizes)) != shape[d]:
            raise ShapeError("Unflatten", f"unflattened_size {tuple(self.unflattened_size)} "
                                          f"does not multiply to dim {d}'s size {shape[d]}")
        note(explain, f"dim {d}: {shape[d]} -> {list(sizes)}")
        return (shape[:d] + sizes + shape[d + 1:],)

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


def _check_features(layer, **sizes):
    for name, value in sizes.items():
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{layer}: {name} must be a non-negative int, got {value!r}")


class LazyLinear(LazyModuleMixin, Linear):
    """Linear whose ``in_features`` is the last dimension of its first input."""

    cls_to_become = Linear

    def __init__(self, out_features, bias=True, device=None, dtype=None):
        super().__init__(1, out_features, bias, device, dtype)
        self._make_lazy("in_features", dtype, parameters=("weight", "bias"))

    def initialize_parameters(self, input):
        if self.has_uninitialized_params():
            self.in_features = input.shape[-1]
            self._materialize({"weight": (self.out_features, self.in_features),
                               "bias": (self.out_features,)})


__all__ = family_names(__name__)
