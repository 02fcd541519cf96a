"""Vision layers (seed section Vision layers): pixel/channel shuffles and upsampling."""

from ..._lazy import family_names
from ...registry import register
from ...shapes import ShapeError, note, require
from .. import functional as F
from ..functional.vision import resample_plan
from .module import Module


def _check_shuffle(layer, shape, arg, factor):
    """The shape-rule checks PixelShuffle and PixelUnshuffle share."""
    if isinstance(factor, bool) or not isinstance(factor, int) or factor <= 0:
        raise ShapeError(layer, f"{arg} must be a positive int, got {factor!r}")
    if len(shape) < 3:
        raise ShapeError(layer, f"expected an input of at least 3 dimensions (*, C, H, W), got "
                                f"{len(shape)}-D shape {list(shape)}")


@register("vision", "2", inputs=[(1, 8, 3, 3)])
class PixelShuffle(Module):
    def __init__(self, upscale_factor):
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, input):
        return F.pixel_shuffle(input, self.upscale_factor)

    def infer_shape(self, *shapes, explain=None):
        shape = tuple(shapes[0])
        _check_shuffle("PixelShuffle", shape, "upscale_factor", self.upscale_factor)
        r = self.upscale_factor
        c, h, w = shape[-3:]
        require("PixelShuffle", c % (r * r) == 0, f"channels C={c} are not divisible by "
                                                  f"upscale_factor^2 = {r * r}",
                f"feed a multiple of {r * r} channels")
        note(explain, f"C_out = C_in / r^2 = {c} / {r * r} = {c // (r * r)}")
        note(explain, f"H_out = H_in * r = {h} * {r} = {h * r}; W_out = W_in * r = {w} * {r} = "
                      f"{w * r}")
        return (shape[:-3] + (c // (r * r), h * r, w * r),)

    def extra_repr(self):
        return f"upscale_factor={self.upscale_factor}"


@register("vision", "2", inputs=[(1, 2, 4, 6)])
class PixelUnshuffle(Module):
    def __init__(self, downscale_factor):
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, input):
        return F.pixel_unshuffle(input, self.downscale_factor)

    def infer_shape(self, *shapes, explain=None):
        shape = tuple(shapes[0])
        _check_shuffle("PixelUnshuffle", shape, "downscale_factor",
                      self.downscale_factor)
        r = self.downscale_factor
        c, h, w = shape[-3:]
        for name, size in (("H", h), ("W", w)):
            require("PixelUnshuffle", size % r == 0, f"{name}={size} is not divisible by "
                                                     f"downscale_factor={r}",
                    f"crop or pad {name} to a multiple of {r}")
        note(explain, f"C_out = C_in * r^2 = {c} * {r * r} = {c * (r * r)}")
        note(explain, f"H_out = H_in / r = {h} / {r} = {h // r}; W_out = W_in / r = {w} / {r} = "
                      f"{w // r}")
        return (shape[:-3] + (c * (r * r), h // r, w // r),)

    def extra_repr(self):
        return f"downscale_factor={self.downscale_factor}"


@register("vision", "2", inputs=[(1, 4, 2, 2)])
class ChannelShuffle(Module):
    def __init__(self, groups):
        super().__init__()
        self.groups = groups

    def forward(self, input):
        return F.channel_shuffle(input, self.groups)

    def infer_shape(self, *shapes, explain=None):
        shape = tuple(shapes[0])
        if isinstance(self.groups, bool) or not isinstance(self.groups, int) or self.groups <= 0:
            raise ShapeError("ChannelShuffle", f"groups must be a positive int, got "
                                               f"{self.groups!r}")
        if len(shape) <= 2:
            raise ShapeError("ChannelShuffle", f"expected an input with > 2 dimensions (N, C, *),"
                                               f" got shape {list(shape)}")
        require("ChannelShuffle", shape[1] % self.groups == 0,
                f"channels C={shape[1]} are not divisible by groups={self.groups}")
        note(explain, f"channels regrouped ({self.groups}, {shape[1] // self.groups}) -> "
                      f"({shape[1] // self.groups}, {self.groups}); shape unchanged")
        return (shape,)

    def extra_repr(self):
        return f"groups={self.groups}"


@register("vision", "scale_factor=2 mode='bilinear'", inputs=[(1, 2, 3, 3)])
class Upsample(Module):
    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        if isinstance(scale_factor, tuple):
            self.scale_factor = tuple(float(factor) for factor in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input):
        return F.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                             recompute_scale_factor=self.recompute_scale_factor)

    def infer_shape(self, *shapes, explain=None):
        shape = tuple(shapes[0])
        try:
            out, _, _ = resample_plan(shape, self.size, self.scale_factor, self.mode,
                                      self.align_corners, self.recompute_scale_factor,
                                      explain=explain)
        except (ValueError, TypeError, RuntimeError) as err:
            raise ShapeError(self.name, str(err).removeprefix("interpolate: ")) from None
        note(explain, f"N={shape[0]}, C={shape[1]} unchanged (mode={self.mode!r})")
        return (shape[:2] + out,)

    def extra_repr(self):
        if self.scale_factor is not None:
            info = "scale_factor=" + repr(self.scale_factor)
        else:
            info = "size=" + repr(self.size)
        return info + ", mode=" + repr(self.mode)


@register("vision", "scale_factor=2", inputs=[(1, 2, 3, 3)])
class UpsamplingNearest2d(Upsample):
    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


@register("vision", "scale_factor=2", inputs=[(1, 2, 3, 3)])
class UpsamplingBilinear2d(Upsample):
    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


__all__ = family_names(__name__)
