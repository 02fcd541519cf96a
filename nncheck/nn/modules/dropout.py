"""Dropout layers (seed section Dropout): identity in eval mode, seeded masks in training."""

from ..._lazy import family_names
from ...registry import register
from ...shapes import expect_rank, note
from .. import functional as F
from .module import Module


class _DropoutNd(Module):
    """gradcheck in training mode is deterministic: the checker restores the generator's
    state before every forward, so each one draws the same mask."""

    _fn = None
    _ranks = None  # accepted input ranks, None: any
    _unit = "each element"

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input):
        return type(self)._fn(input, self.p, self.training, self.inplace)

    def infer_shape(self, *shapes, explain=None):
        shape = tuple(shapes[0])
        if self._ranks is not None:
            expect_rank(type(self).__name__, shape, self._ranks)
        note(explain, f"{self._unit} kept with probability 1-p = {1 - self.p:g} in training "
                      f"(identity in eval); output shape = input shape {list(shape)}")
        return (shape,)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


@register("dropout", "0.2", inputs=[(4, 5)])
class Dropout(_DropoutNd):
    _fn = staticmethod(F.dropout)


@register("dropout", "0.2", inputs=[(2, 3, 4)])
class Dropout1d(_DropoutNd):
    _fn = staticmethod(F.dropout1d)
    _ranks = (2, 3)
    _unit = "each channel"


@register("dropout", "0.2", inputs=[(2, 3, 2, 2)])
class Dropout2d(_DropoutNd):
    _fn = staticmethod(F.dropout2d)
    _unit = "each channel"


@register("dropout", "0.2", inputs=[(2, 3, 2, 2, 2)])
class Dropout3d(_DropoutNd):
    _fn = staticmethod(F.dropout3d)
    _unit = "each channel"


@register("dropout", "0.2", inputs=[(4, 5)])
class AlphaDropout(_DropoutNd):
    def forward(self, input):
        return F.alpha_dropout(input, self.p, self.training)


@register("dropout", "0.2", inputs=[(2, 3, 2, 2)])
class FeatureAlphaDropout(_DropoutNd):
    _unit = "each channel"

    def forward(self, input):
        return F.feature_alpha_dropout(input, self.p, self.training)


__all__ = family_names(__name__)
