"""Distance functions (seed section Distance functions): PairwiseDistance, CosineSimilarity."""

from ..._lazy import family_names
from ...registry import register
from ...shapes import ShapeError, broadcast_shapes, note
from .. import functional as F
from .module import Module


def _broadcast(layer, s1, s2):
    try:
        return tuple(broadcast_shapes(s1, s2))
    except ValueError:
        raise ShapeError(layer, f"x1 {list(s1)} and x2 {list(s2)} cannot be broadcast together",
                         "sizes must match or be 1 in every trailing dimension") from None


@register("distance", inputs=[(4, 5), (4, 5)])
class PairwiseDistance(Module):
    def __init__(self, p=2.0, eps=1e-6, keepdim=False):
        super().__init__()
        self.norm = p
        self.eps = eps
        self.keepdim = keepdim

    def forward(self, x1, x2):
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)

    def infer_shape(self, *shapes, explain=None):
        shape = _broadcast("PairwiseDistance", *shapes[:2])
        if not shape:
            note(explain, "scalar inputs: output is a scalar")
            return ((),)
        out = shape[:-1] + ((1,) if self.keepdim else ())
        note(explain, f"p={self.norm} norm of x1 - x2 + eps over the last dim ({shape[-1]}): "
                      f"{list(shape)} -> {list(out)}")
        return (out,)


@register("distance", inputs=[(4, 5), (4, 5)])
class CosineSimilarity(Module):
    def __init__(self, dim=1, eps=1e-8):
        super().__init__()
        self.dim = dim
        self.eps = eps

    def forward(self, x1, x2):
        return F.cosine_similarity(x1, x2, self.dim, self.eps)

    def infer_shape(self, *shapes, explain=None):
        shape = _broadcast("CosineSimilarity", *shapes[:2])
        n = max(len(shape), 1)
        if not -n <= self.dim < n:
            raise ShapeError("CosineSimilarity", f"dim={self.dim} is out of range for "
                                                 f"{len(shape)}-D inputs",
                             f"use a dim in [{-n}, {n - 1}]")
        d = self.dim % n
        out = shape[:d] + shape[d + 1:]
        note(explain, f"cosine of the angle along dim {d} (size {shape[d]}): {list(shape)} -> "
                      f"{list(out)}")
        return (out,)


__all__ = family_names(__name__)
