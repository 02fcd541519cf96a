"""Convolutions and sliding-block ops on the kernels in ``nncheck._kernels.conv``: im2col + GEMM,
or direct loops for depthwise and small-group convolutions (``ConvGeometry.small_groups``).

conv1d/2d/3d, conv_transpose1d/2d/3d, unfold and fold with PyTorch's signatures.
Everything about shapes is checked here (with the same arithmetic the modules'
``infer_shape`` explains), so a kernel only ever sees consistent sizes.

A convolution and its transpose share one geometry: an *image* side
(C channels, spatial size D*H*W) and a *column* side (O channels, L output
positions).  Convolution maps image -> columns; its transpose maps columns ->
image with the same weight, so three kernels (conv_cols, conv_image,
conv_weight_grad) give forward and backward of both.

Threads: a big call runs on OpenMP threads that each call single-threaded
GEMMs; meanwhile scipy's OpenBLAS is pinned to one thread (a process-wide
setting, restored afterwards) so its own threads never compete with them.
Where that setting cannot be found the kernels run on one OpenMP thread and
BLAS keeps its threads.
"""

import math
import numbers
from contextlib import nullcontext

from ..._kernels import lazy
from ..._lazy import family_names, np
from ...backend import kernels
from ...ops import Op
from ...shapes import ShapeError, is_symbolic, note, require, window_output
from ...tensor import MetaStorage, Tensor
from ._validation import kernel_array

_k = lazy("conv")
_blas = lazy("blas_threads")

SPATIAL_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
# Column buffer budget per thread: big enough for an efficient GEMM, small enough to stay
# in L2 between im2col and the GEMM that reads it.
_COL_BUDGET_BYTES = 1 << 19
_MIN_CHUNK = 384  # OpenBLAS's GEMMs slow down when a chunk is their short side
# Below this many multiply-adds (or elements moved) a call runs on one thread: waking the
# OpenMP team costs more than it saves, and far more on a busy machine.
_PARALLEL_MIN_WORK = 1 << 22
# Up to this many input channels per group, at stride 1, the direct loops' tiles beat
# im2col + GEMM (grouped convolutions with small groups; depthwise ones, one channel per
# group, take the direct loops at any stride).
_DIRECT_MAX_GROUP_CHANNELS = 16
# A stride-1 convolution skips im2col in its forward and weight gradient
# (ConvGeometry.shifted) when a group has at most this many output channels (im2col's copy
# is spread over few multiply-adds per element) and at least this many input channels
# (each tap's GEMM sums over them: fewer make short products).  Measured on DenseNet's
# Conv2d(128, 32, 3): 0.81-0.95x the time of im2col + GEMM (forward), 0.84-0.96x (weight
# gradient); at 128 output or 16 input channels the forward was slower.
_SHIFTED_MAX_GROUP_OUT = 32
_SHIFTED_MIN_GROUP_IN = 32
# ... and when a sample has at least this many output positions: below, one GEMM per tap is
# too short.  DenseNet's Conv2d(128, 32, 3) on 2 samples, time of the shifted path / im2col
# + GEMM with the samples side by side, fwd+bwd, float32 | float64: 3x3 1.0 | 1.36, 4x4
# 0.92 | 1.17, 5x5 0.78 | 1.05, 7x7 0.73 | 0.97, 14x14 0.79 | 0.88 (one per dtype would
# move only 4x4 and 5x5, sizes DenseNet does not have).
_SHIFTED_MIN_COLUMNS = 20
# Its input gradient too (ConvGeometry.shifted_image) when a group also has at least this
# many times as many input as output channels: 0.73-0.91x on DenseNet's (4x), 1.15-1.2x on
# some 1x and 2x layers (each tap's GEMM sums over the few output channels).
_SHIFTED_IMAGE_MIN_RATIO = 4
# im2col + GEMM puts several samples' columns side by side in one GEMM (_batch_plan) when at
# least this many fit in a column chunk: a sample with few output positions alone makes a
# GEMM too thin for BLAS to run near peak.
_BATCH_MIN_SAMPLES = 2
# A weight gradient takes it from one sample per block (whenever a sample's columns fit in a
# chunk): its tasks own disjoint parts of the gradient, where conv_weight_grad's threads
# each sum into a copy of all of it.  U-Net's Conv2d(512, 256, 3) on 2x512x16x16: 0.72-0.85x
# the time on one or two threads; 0.95-1.02x on ResNet's and bench_conv's 14x14 layers.
_BATCH_MIN_SAMPLES_WEIGHT_GRAD = 1
# 3x3 stride-1 ungrouped 2-d convolutions take Winograd F(2x2, 3x3) (ConvGeometry.winograd):
# 16 multiplications per 2x2 output tile and channel pair instead of 36.  Measured against
# the other paths, one thread, float32 and float64 alike (fwd, input grad, weight grad):
# 0.55-0.7x the time from 24 to 512 channels (ResNet-18's and U-Net's layers, 14x14 to
# 128x128 planes); but slower with at most 16 input channels (1.2-3x the direct loops that
# take those), with few output channels in the input gradient (1.3-1.9x at 1 and 3, 0.5x
# at 8; it sums over them) and with few tiles per call: each call transforms the whole
# kernel and each block's GEMMs pack it again, for few tiles.  Against plain im2col + GEMM
# 0.9x at 16 tiles of 512 channels, 2.6x at 4; against conv-batch's samples-side-by-side
# GEMMs (ResNet-18's 4x4 and 7x7 stages) 1.2-1.5x at 16 tiles (4x512x4x4), 0.95-1.25x at
# 32 (2x512x8x8), 0.8-1.05x at 64 (4x256x7x7), 0.55-0.7x at 196 (4x128x14x14).
_WINOGRAD_MIN_IMAGE_OUT = 8
_WINOGRAD_MIN_TILES_PER_CALL = 64
# A thread's block of transformed tiles (16 x (C + O) x tiles) stays within this budget
# (in L3), with tiles between the bounds: each block's 16 GEMMs pack the transformed
# kernel again, which costs ~40% at 32 tiles of 256 channels and ~10% at 128.
_WINOGRAD_BLOCK_BYTES = 1 << 22
_WINOGRAD_MIN_TILES = 64
_WINOGRAD_MAX_TILES = 512


class ConvShapeError(ShapeError, RuntimeError):
    """Bad sizes or arguments: a ShapeError for the CLI, a RuntimeError as in PyTorch."""


# ----------------------------------------------------------------------------- arguments
def ntuple(value, n, layer, arg):
    """``value`` as an n-tuple of ints: an int is repeated, a 1-sequence too (as PyTorch)."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in items):
        raise TypeError(f"{layer}: {arg} must be an int or a tuple of {n} ints, got {value!r}")
    if len(items) == 1:
        items = items * n
    if len(items) != n:
        raise ConvShapeError(
            layer, f"expected {arg} to be a single integer value or a list of {n} values to "
            f"match the convolution dimensions, but got {arg}={list(items)}"
        )
    return tuple(int(v) for v in items)


def check_positive(layer, arg, values):
    if any(v <= 0 for v in values):
        raise ConvShapeError(layer, f"non-positive {arg} is not supported, got {arg}="
                           f"{values if len(values) > 1 else values[0]} (must be >= 1)")


def check_non_negative(layer, arg, values):
    if any(v < 0 for v in values):
        raise ConvShapeError(layer, f"negative {arg} is not supported, got {arg}="
                           f"{values if len(values) > 1 else values[0]} (must be >= 0)")


def check_padding_string(layer, padding, stride):
    """PyTorch's rules for padding='same'|'valid'."""
    if padding not in ("same", "valid"):
        raise ValueError(f"{layer}: invalid padding string {padding!r}, should be one of "
                         "{'same', 'valid'}")
    if padding == "same" and any(s != 1 for s in stride):
        raise ValueError(f"{layer}: padding='same' is not supported for strided convolutions "
                         f"(stride={stride}); use stride=1 or an explicit padding")


def same_padding(kernel, dilation):
    """(front, back) zero padding per dim for padding='same': the extra one goes at the back."""
    return [((d * (k - 1)) // 2, d * (k - 1) - (d * (k - 1)) // 2)
            for k, d in zip(kernel, dilation)]


# ----------------------------------------------------------------------------- shape rules
def conv_output_sizes(layer, sizes, kernel, stride, padding, dilation, explain=None):
    """Output spatial sizes of a convolution and its front padding, explaining each dim.

    ``padding`` is a tuple of ints or 'same'/'valid' (already validated).
    """
    names = SPATIAL_NAMES[len(sizes)]
    if padding == "same":
        out, front = [], []
        for name, size, (lo, hi) in zip(names, sizes, same_padding(kernel, dilation)):
            note(explain, f"{name}_out = {name}_in = {size} (padding='same': dilation*"
                          f"(kernel_size-1) = {lo + hi} padded as {lo} before, {hi} after)")
            out.append(size)
            front.append(lo)
        return tuple(out), tuple(front)
    pads = (0,) * len(sizes) if padding == "valid" else padding
    out = tuple(
        _window(layer, name, size, k, s, p, d, explain)
        for name, size, k, s, p, d in zip(names, sizes, kernel, stride, pads, dilation)
    )
    return out, tuple(pads)


def _window(layer, name, size, k, s, p, d, explain):
    try:
        return window_output(layer, name, size, k, s, p, d, explain=explain)
    except ConvShapeError:
        raise
    except ShapeError as exc:
        raise ConvShapeError(layer, exc.reason, exc.hint) from None


def transposed_output_sizes(layer, sizes, kernel, stride, padding, output_padding, dilation,
                            explain=None):
    """Output spatial sizes of a transposed convolution, explaining each dim."""
    out = []
    for name, size, k, s, p, op, d in zip(SPATIAL_NAMES[len(sizes)], sizes, kernel, stride,
                                         padding, output_padding, dilation):
        n = (size - 1) * s + (d * (k - 1) + op + 1 - 2 * p)  # constants first: tidy symbols
        note(explain, f"{name}_out = ({name}_in-1)*stride - 2*padding + dilation*(kernel_size-1)"
                      f" + output_padding + 1 = ({size}-1)*{s} - 2*{p} + {d}*({k}-1) + {op} + 1"
                      f" = {n}")
        if is_symbolic(n):
            require(layer, n >= 1, f"{name}: the output size {n} must be at least 1 "
                                   f"(padding={p})")
        elif n < 1:
            raise ConvShapeError(
                layer, f"{name}: the output size would be {n} (padding={p} removes more than "
                       f"the {n + 2 * p} positions the transposed convolution produces)",
                f"use padding <= {max((n + 2 * p - 1) // 2, 0)} or a larger input",
            )
        out.append(n)
    return tuple(out)


def check_output_padding(layer, output_padding, stride, dilation):
    check_non_negative(layer, "output_padding", output_padding)
    for op, s, d in zip(output_padding, stride, dilation):
        if op >= max(s, d):
            raise ConvShapeError(
                layer, f"output padding must be smaller than either stride or dilation, but "
                f"got output_padding={output_padding}, stride={stride}, dilation={dilation}"
            )


def transposed_output_padding(layer, in_sizes, output_size, batched, kernel, stride, padding,
                              dilation):
    """The output_padding that makes a transposed convolution produce ``output_size``.

    ``output_size`` may include the batch and channel dims (as ``input.size()``).
    """
    nd = len(in_sizes)
    lead = 2 if batched else 1
    output_size = [int(s) for s in output_size]
    if len(output_size) == nd + lead:
        output_size = output_size[lead:]
    if len(output_size) != nd:
        raise ValueError(f"{layer}: for {nd + lead}D input, output_size must have {nd} or "
                         f"{nd + lead} elements (got {len(output_size)})")
    smallest = [(n - 1) * s - 2 * p + d * (k - 1) + 1
                for n, k, s, p, d in zip(in_sizes, kernel, stride, padding, dilation)]
    largest = [lo + s - 1 for lo, s in zip(smallest, stride)]
    for size, lo, hi in zip(output_size, smallest, largest):
        if not lo <= size <= hi:
            raise ValueError(f"{layer}: requested an output size of {output_size}, but valid "
                             f"sizes range from {smallest} to {largest} (for an input of "
                             f"{list(in_sizes)})")
    return tuple(size - lo for size, lo in zip(output_size, smallest))


# ----------------------------------------------------------------------------- threads
def _max_threads():
    return _k.max_threads()


def _threads_for(work):
    return _max_threads() if work >= _PARALLEL_MIN_WORK else 1


def _gemm_threads(n_samples, geom):
    """OpenMP threads for an im2col + GEMM call: one where BLAS keeps threads of its own."""
    threads = _threads_for(n_samples * geom.O * geom.L * geom.cgk)
    return 1 if threads > 1 and _blas.blas_thread_controls() is None else threads


def _chunk(geom, dtype):
    """Columns of an im2col block (its buffer's size within _COL_BUDGET_BYTES)."""
    return max(_MIN_CHUNK, _COL_BUDGET_BYTES // (dtype.itemsize * geom.cgk))


def _plan(n_samples, geom, dtype, xp=np, rows=None):
    """(threads, chunk, cblock, buffer) for one kernel call.

    Work is split into tasks (sample, group, block of ``chunk`` columns or of ``cblock``
    channels) that OpenMP threads share, each running single-threaded GEMMs; enough tasks
    keep every thread busy even for one sample.  The buffer is one column block per thread,
    allocated with ``xp`` on the arrays' device (a device's launchers ignore the threads);
    ``rows`` per column of the chunk (default an im2col block's Cg*K, 0: no buffer).
    """
    threads = _gemm_threads(n_samples, geom)
    chunk = _chunk(geom, dtype)
    n_chunks = max(1, geom.L // chunk)
    units = n_samples * geom.G
    cg = geom.C // geom.G
    cblock = cg
    if 1 < threads and units < 2 * threads:  # few samples: give every thread equal work
        n_chunks = threads * max(1, round(geom.L / (chunk * threads)))
        cblock = -(-cg // -(-2 * threads // units))
    chunk = -(-geom.L // n_chunks)
    if rows is None:
        rows = 0 if geom.direct else geom.cgk
    return threads, chunk, cblock, xp.empty((threads, max(1, rows * chunk)), dtype)


def _batch_plan(n_samples, geom, dtype, xp, k, use):
    """(threads, nb, rows, buffer) for a batched kernel call (``use`` 0 conv_cols_batched, 1
    conv_image_batched, 2 conv_weight_grad_batched), or None where a sample has enough
    columns for a GEMM of its own (a weight gradient: more than a chunk).

    nb samples side by side fill the column chunk _plan would use (so the buffer keeps its
    bound): the more, the faster BLAS runs (ResNet-18's 512-channel 4x4 layer on 8 samples:
    0.70x the time of blocks of one sample with blocks of 2, 0.59x with 4, 0.48x with 8).
    When the blocks are too few for the threads, the input gradient splits each GEMM's
    image channels between tasks (``rows`` per task, which costs nothing), the forward
    splits the samples into smaller blocks first and its output channels (``rows``) last,
    each of its tasks repeating the block's im2col.  The weight gradient's tasks are blocks
    of ``rows`` image channels over all the samples.
    """
    if geom.direct:  # its GEMMs read the image in place: side by side would be a copy
        return None
    nb = min(n_samples, _chunk(geom, dtype) // geom.L)
    if nb < (_BATCH_MIN_SAMPLES_WEIGHT_GRAD if use == 2 else _BATCH_MIN_SAMPLES):
        return None
    threads = _gemm_threads(n_samples, geom)
    rows = geom.O // geom.G if use == 0 else geom.C // geom.G
    tasks = threads if use == 0 else 2 * threads  # enough for the threads to share evenly
    if use == 0:
        nb = max(_BATCH_MIN_SAMPLES, min(nb, -(-n_samples * geom.G // tasks)))
    # a weight gradient's task runs every block (its channels' gradient is its own)
    units = geom.G if use == 2 else -(-n_samples // nb) * geom.G
    if threads > 1 and units < tasks:
        rows = -(-rows // -(-tasks // units))
    return threads, nb, rows, xp.empty((threads, k.batch_scratch(geom.args, nb, rows, use)),
                                       dtype)


def _openmp_region(threads):
    """BLAS stays on one thread while several OpenMP threads call it."""
    return _blas.blas_pinned_to_one_thread() if threads > 1 else nullcontext()


# ----------------------------------------------------------------------------- the op
class ConvGeometry:
    """Sizes of one convolution as the kernels see them (spatial dims padded to 3), and the
    kernel calls on (samples, flattened sample) arrays."""

    def __init__(self, channels, image, out_channels, cols, kernel, stride, front, dilation,
                 groups):
        pad3 = (1,) * (3 - len(image))
        zero3 = (0,) * (3 - len(image))
        self.nd, self.C, self.O, self.G = len(image), channels, out_channels, groups
        # the sizes it was made from, for related geometries (``_side_by_side``)
        self.spec = (tuple(image), tuple(cols), tuple(kernel), tuple(stride), tuple(front),
                     tuple(dilation))
        self.plane, self.L = math.prod(image), math.prod(cols)
        self.cgk = channels // groups * math.prod(kernel)
        self.image_size, self.cols_size = channels * self.plane, out_channels * self.L
        cg = channels // groups
        self.direct = (math.prod(kernel) == 1 and all(s == 1 for s in stride)
                       and not any(front) and tuple(image) == tuple(cols))
        # stride 1, few output and many input channels per group: one GEMM per kernel tap
        # on the padded image read in place (*_shifted kernels) instead of im2col + GEMM
        self.shifted = (all(s == 1 for s in stride) and not self.direct
                        and out_channels // groups <= _SHIFTED_MAX_GROUP_OUT
                        and cg >= _SHIFTED_MIN_GROUP_IN and self.L >= _SHIFTED_MIN_COLUMNS)
        self.shifted_image = self.shifted and cg >= _SHIFTED_IMAGE_MIN_RATIO * (
            out_channels // groups)
        # 1-d or 2-d, one input channel per group (depthwise) or a few at stride 1 with a
        # kernel wider than 1x1 (whose GEMM needs no im2col): direct loops (direct_*)
        self.small_groups = self.nd <= 2 and (cg == 1 or (
            cg <= _DIRECT_MAX_GROUP_CHANNELS and all(s == 1 for s in stride)
            and not self.direct))
        # 2-d 3x3 stride 1, groups 1, more channels than the direct loops take: Winograd
        # F(2x2, 3x3) (winograd_* kernels) for calls with enough tiles (_winograd)
        self.winograd = (self.nd == 2 and groups == 1 and tuple(kernel) == (3, 3)
                         and all(s == 1 for s in stride) and all(d == 1 for d in dilation)
                         and channels > _DIRECT_MAX_GROUP_CHANNELS)
        self.winograd_image = self.winograd and out_channels >= _WINOGRAD_MIN_IMAGE_OUT
        # (rows, columns) of 2x2 tiles of the columns (forward) and the image (input grad)
        self.tile_grids = tuple(tuple((n + 1) // 2 for n in sizes) for sizes in (cols, image))
        self.args = ((channels,) + pad3 + tuple(image) + (out_channels,) + pad3 + tuple(cols)
                     + pad3 + tuple(kernel) + pad3 + tuple(stride) + zero3 + tuple(front)
                     + pad3 + tuple(dilation) + (groups,))

    def to_cols(self, img, weight, bias):
        """(N, C*plane) -> (N, O*L): W @ im2col(img) (+ bias), the convolution."""
        k, xp = kernels("conv", img, weight, bias)
        out = xp.empty((img.shape[0], self.cols_size), img.dtype)
        if self._winograd(k, img.shape[0], False):
            self._winograd_call(k, xp, k.winograd_cols, False, img, weight, bias, out)
        elif self._direct(k):
            threads = self._threads(img)
            k.direct_cols(self.args, img, weight, bias, out,
                          self._direct_scratch(k, xp, 0, threads, img.dtype), threads)
        elif self.shifted and hasattr(k, "conv_cols_shifted"):
            self._shifted_cols(k, xp, img, weight, bias, out)
        else:
            self._gemm_kernel(k, xp, 0, img, weight, bias, out)
        return out

    def to_image(self, cols, weight, bias):
        """(N, O*L) -> (N, C*plane): col2im(W^T @ cols) (+ bias), the transpose."""
        k, xp = kernels("conv", cols, weight, bias)
        out = xp.empty((cols.shape[0], self.image_size), cols.dtype)
        if self._winograd(k, cols.shape[0], True):
            self._winograd_call(k, xp, k.winograd_image, True, cols, weight, bias, out)
        elif self._direct(k):
            threads = self._threads(cols)
            k.direct_image(self.args, cols, weight, bias, out,
                           self._direct_scratch(k, xp, 1, threads, cols.dtype), threads)
        elif self.shifted_image and hasattr(k, "conv_image_shifted"):
            self._shifted_image(k, xp, cols, weight, bias, out)
        else:
            self._gemm_kernel(k, xp, 1, cols, weight, bias, out)
        return out

    def weight_grad(self, img, cols):
        """(O, Cg*K): sum over samples of cols @ im2col(img)^T."""
        k, xp = kernels("conv", img, cols)
        if self._winograd(k, img.shape[0], False):
            return self._winograd_weight_grad(k, xp, img, cols)
        if self._direct(k):
            grad = xp.empty((self.O, self.cgk), img.dtype)
            threads = self._threads(img)
            k.direct_weight_grad(self.args, img, cols, grad,
                                 self._direct_scratch(k, xp, 2, threads, img.dtype), threads)
            return grad.reshape(-1)
        if self.shifted and hasattr(k, "conv_weight_grad_shifted"):
            return self._shifted_weight_grad(k, xp, img, cols)
        kernel, (threads, *blocks, buf) = self._gemm_plan(k, xp, 2, img)
        # a partial sum per thread, except where each task owns its part of the gradient
        owned = kernel is getattr(k, "conv_weight_grad_batched", None)
        parts = xp.zeros((1 if owned else threads, self.O * self.cgk), img.dtype)
        with _openmp_region(threads):
            kernel(self.args, img, cols, parts, buf, threads, *blocks)
        # a view of parts[0] would keep every thread's partial sum alive as the .grad
        return parts[0] if len(parts) == 1 else parts[0].copy()

    def unfold(self, img):
        """(N, C*plane) -> (N, C*K*L): im2col alone (nn.Unfold)."""
        k, xp = kernels("conv", img)
        out = xp.empty((img.shape[0], self.cols_size), img.dtype)
        k.unfold(self.args, img, out, _threads_for(out.size))
        return out

    def fold(self, cols):
        """(N, C*K*L) -> (N, C*plane): col2im alone (nn.Fold), overlaps summed."""
        k, xp = kernels("conv", cols)
        out = xp.empty((cols.shape[0], self.image_size), cols.dtype)
        k.fold(self.args, cols, out, _threads_for(cols.size))
        return out

    def _winograd(self, k, n, adjoint):
        """Whether Winograd F(2x2, 3x3) serves a call on n samples: the convolution and its
        weight gradient, or with adjoint its transpose (a device may lack the kernels)."""
        return ((self.winograd_image if adjoint else self.winograd)
                and n * math.prod(self.tile_grids[adjoint]) >= _WINOGRAD_MIN_TILES_PER_CALL
                and hasattr(k, "winograd_cols"))

    def _winograd_plan(self, k, xp, n, adjoint, dtype):
        """(threads, seg, per_block, buf, elements of the transformed kernels) of a
        winograd_* call on n samples: blocks of per_block segments of seg tiles (a tile row
        or part of one), each thread's scratch within _WINOGRAD_BLOCK_BYTES, and a block per
        thread where there are enough tiles.  Not more: the GEMMs of each block pack every
        transformed kernel again (512 channels, 16 tiles, one thread: 4 blocks take 1.7x
        the time of one, 2 blocks 1.15x)."""
        threads = _threads_for(n * self.O * self.L * self.cgk)
        if threads > 1 and _blas.blas_thread_controls() is None:
            threads = 1
        tiles = _WINOGRAD_BLOCK_BYTES // (16 * (self.C + self.O) * dtype.itemsize)
        tiles = min(max(tiles, _WINOGRAD_MIN_TILES), _WINOGRAD_MAX_TILES)
        rows, width = self.tile_grids[adjoint]
        seg = min(width, tiles)
        per_block = max(1, tiles // seg)
        if threads > 1:
            units = n * rows * -(-width // seg)
            per_block = min(per_block, max(1, -(-units // threads)))
        size, transformed = k.winograd_scratch(self.args, adjoint, seg, per_block)
        return threads, seg, per_block, xp.empty((threads, size), dtype), transformed

    def _winograd_call(self, k, xp, kernel, adjoint, src, weight, bias, out):
        """to_cols (winograd_cols) or to_image (winograd_image, adjoint)."""
        threads, seg, per_block, buf, transformed = self._winograd_plan(
            k, xp, src.shape[0], adjoint, src.dtype)
        with _openmp_region(threads):
            kernel(self.args, src, weight, bias, out, xp.empty(transformed, src.dtype), buf,
                   threads, seg, per_block)

    def _winograd_weight_grad(self, k, xp, img, cols):
        """weight_grad by winograd_weight_grad: one partial sum of the transformed kernels'
        gradient per thread."""
        threads, seg, per_block, buf, transformed = self._winograd_plan(
            k, xp, img.shape[0], False, img.dtype)
        parts = xp.zeros((threads, transformed), img.dtype)
        grad = xp.empty((self.O, self.cgk), img.dtype)
        with _openmp_region(threads):
            k.winograd_weight_grad(self.args, img, cols, grad, parts, buf, threads, seg,
                                   per_block)
        return grad.reshape(-1)

    def _direct(self, k):
        """Whether the direct loops serve this call (a device may lack them)."""
        return self.small_groups and hasattr(k, "direct_cols")

    def _direct_scratch(self, k, xp, use, threads, dtype):
        """Per-thread scratch of a direct kernel: ``use`` 0 forward, 1 input grad,
        2 weight grad (padded image planes, spread gradient planes, both)."""
        return xp.empty((threads, k.direct_scratch(self.args, use)), dtype)

    def _threads(self, arrays):
        return _threads_for(arrays.shape[0] * self.O * self.L * self.cgk)

    def _shifted_cols(self, k, xp, img, weight, bias, out):
        """to_cols at stride 1: conv_cols_shifted, the weight tap-major."""
        threads, chunk, _, _ = _plan(img.shape[0], self, img.dtype, xp, rows=0)
        taps = self._taps(xp, weight)
        padded = xp.empty((img.shape[0], self.C * k.shifted_plane(self.args)), img.dtype)
        buf = xp.empty((threads, self.O // self.G * chunk), img.dtype)
        with _openmp_region(threads):
            k.conv_cols_shifted(self.args, img, taps, bias, out, padded, buf, threads, chunk)

    def _shifted_image(self, k, xp, cols, weight, bias, out):
        """to_image at stride 1: conv_image_shifted, the weight tap-major."""
        n = cols.shape[0]
        threads, chunk, cblock, _ = _plan(n, self, cols.dtype, xp, rows=0)
        rows = xp.empty((n, self.O * k.shifted_rows(self.args)), cols.dtype)
        buf = xp.empty((threads, cblock * k.shifted_plane(self.args)), cols.dtype)
        with _openmp_region(threads):
            k.conv_image_shifted(self.args, cols, self._taps(xp, weight), bias, out, rows, buf,
                                 threads, chunk, cblock)

    def _taps(self, xp, weight):
        """The (O, Cg*K) weight tap-major, (K, O, Cg): each tap's matrix for one GEMM."""
        return xp.ascontiguousarray(
            weight.reshape(self.O, self.C // self.G, -1).transpose(2, 0, 1))

    def _shifted_weight_grad(self, k, xp, img, cols):
        """weight_grad at stride 1: conv_weight_grad_shifted, whose taps come first."""
        n = img.shape[0]
        threads, chunk, _, _ = _plan(n, self, img.dtype, xp, rows=0)
        parts = xp.zeros((threads, self.O * self.cgk), img.dtype)
        padded = xp.empty((n, self.C * k.shifted_plane(self.args)), img.dtype)
        rows = xp.empty((n, self.O * k.shifted_rows(self.args)), img.dtype)
        with _openmp_region(threads):
            k.conv_weight_grad_shifted(self.args, img, cols, parts, padded, rows, threads,
                                       chunk)
        taps = parts[0].reshape(-1, self.O, self.C // self.G)
        return xp.ascontiguousarray(taps.transpose(1, 2, 0)).reshape(-1)

    def _gemm_kernel(self, k, xp, use, *arrays):
        """Run the im2col + GEMM kernel for ``use`` (0 to_cols, 1 to_image) on ``arrays``."""
        kernel, (threads, *blocks, buf) = self._gemm_plan(k, xp, use, arrays[0])
        with _openmp_region(threads):
            kernel(self.args, *arrays, buf, threads, *blocks)

    def _gemm_plan(self, k, xp, use, first):
        """The im2col + GEMM kernel for ``use`` (0 conv_cols, 1 conv_image, 2
        conv_weight_grad) and its plan (threads, two block sizes, buffer): its *_batched
        version, blocks of samples side by side, where _batch_plan has a plan."""
        name = ("conv_cols", "conv_image", "conv_weight_grad")[use]
        n, dtype = first.shape[0], first.dtype
        batched = getattr(k, name + "_batched", None)
        plan = None if batched is None else _batch_plan(n, self, dtype, xp, k, use)
        if plan is not None:
            return batched, plan
        return getattr(k, name), _plan(n, self, dtype, xp)


class _Convolution(Op):
    """Convolution (image -> columns) or its transpose (columns -> image) with one weight."""

    @staticmethod
    def forward(ctx, x, weight, bias, geom, transposed, out_shape, layer):
        kx = kernel_array(x, layer)
        xp = kernels("conv", kx, weight, bias)[1]
        n = kx.shape[0] if kx.ndim == geom.nd + 2 else 1
        src = kx.reshape(n, geom.cols_size if transposed else geom.image_size)
        w = xp.ascontiguousarray(weight, kx.dtype).reshape(geom.O, geom.cgk)
        b = xp.zeros(0, kx.dtype) if bias is None else xp.ascontiguousarray(bias, kx.dtype)
        out = geom.to_image(src, w, b) if transposed else geom.to_cols(src, w, b)
        ctx.save_for_backward(x, weight)
        ctx.geom, ctx.transposed, ctx.layer, ctx.n = geom, transposed, layer, n
        ctx.has_bias = bias is not None
        return out.reshape(out_shape).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        return tuple(None if g is None else g[0]
                     for g in _Convolution.backward_stacked(ctx, grad[None]))

    @staticmethod
    def backward_stacked(ctx, grads):
        """Gradients for K cotangents (leading axis): the input's in one kernel call over
        K * n samples, the weight's and bias's one call per cotangent."""
        x, weight = ctx.saved_tensors
        geom, n, stack = ctx.geom, ctx.n, grads.shape[0]
        sizes = (geom.cols_size, geom.image_size) if ctx.transposed else \
            (geom.image_size, geom.cols_size)
        src = kernel_array(x, ctx.layer).reshape(n, sizes[0])
        k, xp = kernels("conv", src, grads, weight)
        g = xp.ascontiguousarray(grads, src.dtype).reshape(stack, n, sizes[1])
        w = xp.ascontiguousarray(weight, src.dtype).reshape(geom.O, geom.cgk)
        no_bias = xp.zeros(0, src.dtype)
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            rows = g.reshape(stack * n, sizes[1])
            gx = geom.to_cols(rows, w, no_bias) if ctx.transposed else \
                geom.to_image(rows, w, no_bias)
            gx = gx.reshape((stack,) + x.shape).astype(x.dtype, copy=False)
        if ctx.needs_input_grad[1] and stack > 1 and geom.G == 1:
            # the K cotangents side by side: one kernel call for every weight gradient
            wide = _side_by_side(geom, stack, ctx.transposed)
            side = xp.ascontiguousarray(g.transpose(1, 0, 2)).reshape(n, stack * sizes[1])
            with _one_blas_thread():
                gw = wide.weight_grad(side, src) if ctx.transposed else \
                    wide.weight_grad(src, side)
            if ctx.transposed:
                gw = gw.reshape(geom.O, stack, geom.cgk).transpose(1, 0, 2)
            gw = gw.reshape((stack,) + weight.shape).astype(weight.dtype, copy=False)
        elif ctx.needs_input_grad[1]:
            parts = [geom.weight_grad(gk, src) if ctx.transposed
                     else geom.weight_grad(src, gk) for gk in g]
            gw = parts[0][None] if stack == 1 else xp.stack(parts)  # a training step: no copy
            gw = gw.reshape((stack,) + weight.shape).astype(weight.dtype, copy=False)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            per_channel = (geom.C, geom.plane) if ctx.transposed else (geom.O, geom.L)
            gb = xp.empty((stack, per_channel[0]), src.dtype)
            for gk, out in zip(g, gb):
                k.channel_sum(gk.reshape((n,) + per_channel), out, _threads_for(gk.size))
            gb = gb.astype(weight.dtype, copy=False)
        return gx, gw, gb

    @staticmethod
    def forward_stacked(ctx, stacked, x, weight, bias, geom, transposed, out_shape, layer):
        """K versions of the input, or of the weight and bias of an ungrouped convolution
        (leading axis), for gradcheck's stacked replays: K times the samples, or the K
        weights side by side, in one call."""
        if any(stacked[1:]):
            if stacked[0] or geom.G != 1:
                raise NotImplementedError("stacked convolution: the input, or the weights "
                                          "of an ungrouped one")
            return _Convolution._side_by_side_forward(ctx, stacked, x, weight, bias, geom,
                                                      transposed, out_shape, layer)
        k = x.shape[0]
        batched = x.ndim == geom.nd + 3
        samples = x.reshape((k * x.shape[1],) + x.shape[2:]) if batched else x
        shape = (samples.shape[0],) + (out_shape[1:] if batched else out_shape)
        out = _Convolution.forward(ctx, samples, weight, bias, geom, transposed,
                                   shape, layer)
        return out.reshape((k,) + tuple(out_shape))

    @staticmethod
    def _side_by_side_forward(ctx, stacked, x, weight, bias, geom, transposed, out_shape,
                              layer):
        """K weights (and biases) side by side as one geometry's: their outputs are K
        blocks of the output (conv) or image (transpose) channels."""
        k = (weight if stacked[1] else bias).shape[0]
        w = weight if stacked[1] else np.broadcast_to(weight, (k,) + weight.shape)
        w = w.reshape(k, geom.O, geom.cgk)
        w = w.transpose(1, 0, 2).reshape(geom.O, -1) if transposed else w.reshape(-1, geom.cgk)
        b = None if bias is None else \
            (bias if stacked[2] else np.broadcast_to(bias, (k,) + bias.shape)).reshape(-1)
        batched = x.ndim == geom.nd + 2
        channel = 1 if batched else 0
        wide_shape = tuple(out_shape[:channel]) + (k * out_shape[channel],) + \
            tuple(out_shape[channel + 1:])
        with _one_blas_thread():
            out = _Convolution.forward(ctx, x, w, b, _side_by_side(geom, k, transposed),
                                       transposed, wide_shape, layer)
        out = out.reshape(tuple(out_shape[:channel]) + (k,) + tuple(out_shape[channel:]))
        return np.moveaxis(out, channel, 0)


def _side_by_side(geom, versions, transposed):
    """``geom`` (groups 1) with ``versions`` weights side by side: K times the output
    channels of a convolution, or the image channels of a transpose, so that one kernel call
    serves every version (gradcheck's stacked replays and rows)."""
    image, cols, kernel, stride, front, dilation = geom.spec
    channels, out_channels = ((geom.C * versions, geom.O) if transposed
                              else (geom.C, geom.O * versions))
    return ConvGeometry(channels, image, out_channels, cols, kernel, stride, front, dilation, 1)


def _one_blas_thread():
    """Around the side-by-side calls: their GEMMs are long and skinny (K weights wide),
    where OpenBLAS's own threads cost several times what they save on a busy machine."""
    return (_blas.blas_pinned_to_one_thread() if _blas.blas_thread_controls() is not None
            else nullcontext())


# ----------------------------------------------------------------------------- checked calls
# A model calls each convolution with the same sizes and arguments every step: the checks
# and the geometry they produce are kept per call signature (in a DenseNet-121 step, 120
# small convolutions, they were a third of each call's Python time).  Bounded: a program
# that sweeps sizes refills it from empty.
_CHECKED_CALLS = {}
_MAX_CHECKED_CALLS = 512


def _call_key(nd, transposed, input, weight, bias, args):
    """What the checks and the geometry of a call depend on, or None to check it afresh:
    tensors of another type or without sizes yet (meta, symbolic), or an argument that a
    dict would confuse with a valid one (True == 1 == 1.0 as keys, only the int is valid)."""
    if not (isinstance(input, Tensor) and isinstance(weight, Tensor)):
        return None
    x, w = input._data, weight._data
    if x.__class__ is MetaStorage or w.__class__ is MetaStorage or \
            not all(map(_exact_arg, args)):
        return None
    if bias is None:
        b = None
    elif isinstance(bias, Tensor) and bias._data.__class__ is not MetaStorage:
        b = (bias._data.shape, bias._data.dtype)
    else:
        return None
    return (nd, transposed, x.shape, x.dtype, w.shape, w.dtype, b) + args


def _exact_arg(value):
    kind = value.__class__
    return kind is int or kind is str or (kind is tuple and all(v.__class__ is int
                                                                for v in value))


def _remember(key, checked):
    if key is None:
        return
    if len(_CHECKED_CALLS) >= _MAX_CHECKED_CALLS:
        _CHECKED_CALLS.clear()
    _CHECKED_CALLS[key] = checked


# ----------------------------------------------------------------------------- validation
def _check_tensors(layer, nd, input, weight, bias):
    for arg, t in (("input", input), ("weight", weight)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{layer}: {arg} must be a Tensor, got {type(t).__name__}")
    if bias is not None and not isinstance(bias, Tensor):
        raise TypeError(f"{layer}: bias must be a Tensor or None, got {type(bias).__name__}")
    if weight.ndim != nd + 2:
        raise ConvShapeError(layer, f"expected weight to be {nd + 2}-D (out_channels, "
                           f"in_channels/groups, *kernel_size), got shape {list(weight.shape)}")
    if input.ndim not in (nd + 1, nd + 2):
        raise ConvShapeError(layer, f"expected {nd + 1}D (unbatched) or {nd + 2}D (batched) "
                           f"input, but got input of size: {list(input.shape)}")
    for arg, t in (("input", input), ("weight", weight), ("bias", bias)):
        if t is not None and not t.dtype.is_floating_point:
            raise TypeError(f"{layer}: {arg} must be a floating point tensor, got {t.dtype}")
    for arg, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.dtype != input.dtype:
            raise RuntimeError(f"{layer}: input ({input.dtype}) and {arg} ({t.dtype}) should "
                               "have the same dtype")
    # zero input channels (weight [O, 0, *k]) are allowed as in PyTorch: see _NoInputChannels
    if any(s == 0 for s in weight.shape[:1] + weight.shape[2:]):
        raise ConvShapeError(layer, f"weight has a zero-size dimension: {list(weight.shape)}")
    spatial = input.shape[-nd:]
    if any(s == 0 for s in spatial) or (input.shape[-nd - 1] == 0 and weight.shape[1] != 0):
        raise ConvShapeError(layer, f"expected non-empty channel and spatial dims, got input "
                           f"of size {list(input.shape)}")
    return tuple(spatial)


def _check_groups(layer, groups, weight, dim, word):
    if not isinstance(groups, numbers.Integral) or isinstance(groups, bool) or groups <= 0:
        raise ConvShapeError(layer, f"groups must be a positive integer, got {groups!r}")
    if weight.shape[dim] % groups:
        raise ConvShapeError(layer, f"given groups={groups}, expected weight to be divisible by "
                           f"{groups} at dimension {dim} ({word}), but got weight of size "
                           f"{list(weight.shape)}")


def _check_bias(layer, bias, channels, weight):
    if bias is not None and tuple(bias.shape) != (channels,):
        raise ConvShapeError(layer, f"given weight of size {list(weight.shape)}, expected bias "
                           f"to be 1-dimensional with {channels} elements, but got bias of "
                           f"size {list(bias.shape)}")


def _convnd(nd, input, weight, bias, stride, padding, dilation, groups):
    key = _call_key(nd, False, input, weight, bias, (stride, padding, dilation, groups))
    checked = _CHECKED_CALLS.get(key)
    if checked is None:
        checked = _check_conv(nd, input, weight, bias, stride, padding, dilation, groups)
        _remember(key, checked)
    geom, out_shape, layer = checked
    if geom.C == 0:
        return _NoInputChannels.apply(input, weight, bias, out_shape)
    return _Convolution.apply(input, weight, bias, geom, False, out_shape, layer)


def _check_conv(nd, input, weight, bias, stride, padding, dilation, groups):
    """Every check of a convolution call: its (geometry, output shape, layer name)."""
    layer = f"conv{nd}d"
    sizes = _check_tensors(layer, nd, input, weight, bias)
    stride = ntuple(stride, nd, layer, "stride")
    dilation = ntuple(dilation, nd, layer, "dilation")
    check_positive(layer, "stride", stride)
    check_positive(layer, "dilation", dilation)
    if isinstance(padding, str):
        check_padding_string(layer, padding, stride)
    else:
        padding = ntuple(padding, nd, layer, "padding")
        check_non_negative(layer, "padding", padding)
    _check_groups(layer, groups, weight, 0, "out_channels")
    channels = input.shape[-nd - 1]
    if channels != weight.shape[1] * groups:
        raise ConvShapeError(
            layer, f"given groups={groups}, weight of size {list(weight.shape)}, expected "
            f"input{list(input.shape)} to have {weight.shape[1] * groups} channels, but got "
            f"{channels} channels instead"
        )
    out_channels = weight.shape[0]
    _check_bias(layer, bias, out_channels, weight)
    kernel = tuple(weight.shape[2:])
    out_sizes, front = conv_output_sizes(layer, sizes, kernel, stride, padding, dilation)
    geom = ConvGeometry(channels, sizes, out_channels, out_sizes, kernel, stride, front,
                        dilation, groups)
    # no input channels: PyTorch's output has no channels either (_NoInputChannels)
    out_shape = tuple(input.shape[:-nd - 1]) + (out_channels if channels else 0,) + out_sizes
    return geom, out_shape, layer


class _NoInputChannels(Op):
    """A convolution of an input with 0 channels: PyTorch returns an empty output whose
    channel dimension is 0 too (not out_channels), and zero gradients."""

    @staticmethod
    def forward(ctx, x, weight, bias, out_shape):
        ctx.shapes = (x.shape, weight.shape, None if bias is None else bias.shape)
        return np.empty(out_shape, x.dtype)

    @staticmethod
    def backward(ctx, grad):
        return tuple(None if s is None else np.zeros(s, grad.dtype) for s in ctx.shapes)


def _conv_transposend(nd, input, weight, bias, stride, padding, output_padding, groups,
                      dilation):
    key = _call_key(nd, True, input, weight, bias,
                    (stride, padding, output_padding, groups, dilation))
    checked = _CHECKED_CALLS.get(key)
    if checked is None:
        checked = _check_conv_transpose(nd, input, weight, bias, stride, padding,
                                        output_padding, groups, dilation)
        _remember(key, checked)
    geom, out_shape, layer = checked
    return _Convolution.apply(input, weight, bias, geom, True, out_shape, layer)


def _check_conv_transpose(nd, input, weight, bias, stride, padding, output_padding, groups,
                          dilation):
    """Every check of a transposed convolution call: its (geometry, output shape, layer)."""
    layer = f"conv_transpose{nd}d"
    sizes = _check_tensors(layer, nd, input, weight, bias)
    if isinstance(padding, str):
        raise TypeError(f"{layer}: padding must be an int or a tuple of {nd} ints, got "
                        f"{padding!r} (padding strings are for convolutions only)")
    stride = ntuple(stride, nd, layer, "stride")
    padding = ntuple(padding, nd, layer, "padding")
    output_padding = ntuple(output_padding, nd, layer, "output_padding")
    dilation = ntuple(dilation, nd, layer, "dilation")
    check_positive(layer, "stride", stride)
    check_positive(layer, "dilation", dilation)
    check_non_negative(layer, "padding", padding)
    check_output_padding(layer, output_padding, stride, dilation)
    _check_groups(layer, groups, weight, 0, "in_channels")
    in_channels = input.shape[-nd - 1]
    if in_channels != weight.shape[0]:
        raise ConvShapeError(
            layer, f"given transposed=1, weight of size {list(weight.shape)}, expected "
            f"input{list(input.shape)} to have {weight.shape[0]} channels, but got "
            f"{in_channels} channels instead"
        )
    out_channels = weight.shape[1] * groups
    _check_bias(layer, bias, out_channels, weight)
    kernel = tuple(weight.shape[2:])
    out_sizes = transposed_output_sizes(layer, sizes, kernel, stride, padding, output_padding,
                                        dilation)
    geom = ConvGeometry(out_channels, out_sizes, in_channels, sizes, kernel, stride, padding,
                        dilation, groups)
    return geom, tuple(input.shape[:-nd - 1]) + (out_channels,) + out_sizes, layer


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _convnd(1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _convnd(2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _convnd(3, input, weight, bias, stride, padding, dilation, groups)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    return _conv_transposend(1, input, weight, bias, stride, padding, output_padding, groups,
                             dilation)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    return _conv_transposend(2, input, weight, bias, stride, padding, output_padding, groups,
                             dilation)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    return _conv_transposend(3, input, weight, bias, stride, padding, output_padding, groups,
                             dilation)


# ----------------------------------------------------------------------------- unfold / fold
class _Blocks(Op):
    """unfold (image -> columns) or fold (columns -> image); each is the other's backward."""

    @staticmethod
    def forward(ctx, x, geom, unfolding, batched, out_shape, layer):
        kx = kernel_array(x, layer)
        n = kx.shape[0] if batched else 1
        ctx.geom, ctx.unfolding, ctx.layer, ctx.n, ctx.shape = geom, unfolding, layer, n, x.shape
        if unfolding:
            out = geom.unfold(kx.reshape(n, geom.image_size))
        else:
            out = geom.fold(kx.reshape(n, geom.cols_size))
        return out.reshape(out_shape).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        geom, g = ctx.geom, kernel_array(grad, ctx.layer)
        if ctx.unfolding:
            out = geom.fold(g.reshape(ctx.n, geom.cols_size))
        else:
            out = geom.unfold(g.reshape(ctx.n, geom.image_size))
        return out.reshape(ctx.shape).astype(grad.dtype, copy=False)


def block_args(layer, kernel_size, dilation, padding, stride):
    kernel = ntuple(kernel_size, 2, layer, "kernel_size")
    dilation = ntuple(dilation, 2, layer, "dilation")
    padding = ntuple(padding, 2, layer, "padding")
    stride = ntuple(stride, 2, layer, "stride")
    check_positive(layer, "kernel_size", kernel)
    check_positive(layer, "dilation", dilation)
    check_positive(layer, "stride", stride)
    check_non_negative(layer, "padding", padding)
    return kernel, dilation, padding, stride


def block_counts(layer, sizes, kernel, dilation, padding, stride, explain=None):
    """Number of sliding blocks along each spatial dim (Unfold's L = their product)."""
    return tuple(_window(layer, name, size, k, s, p, d, explain)
                 for name, size, k, s, p, d in zip(("H", "W"), sizes, kernel, stride, padding,
                                                   dilation))


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    layer = "unfold"
    if not isinstance(input, Tensor):
        raise TypeError(f"{layer}: input must be a Tensor, got {type(input).__name__}")
    kernel, dilation, padding, stride = block_args(layer, kernel_size, dilation, padding,
                                                    stride)
    if input.ndim not in (3, 4) or any(s == 0 for s in input.shape[-3:]):
        raise ConvShapeError(layer, f"expected a 3-D (C, H, W) or 4-D (N, C, H, W) input with "
                           f"non-zero C, H, W, but got input of size {list(input.shape)}")
    channels, sizes = input.shape[-3], tuple(input.shape[-2:])
    blocks = block_counts(layer, sizes, kernel, dilation, padding, stride)
    geom = ConvGeometry(channels, sizes, channels * math.prod(kernel), blocks, kernel, stride,
                        padding, dilation, 1)
    out_shape = tuple(input.shape[:-3]) + (geom.cgk, geom.L)
    return _Blocks.apply(input, geom, True, input.ndim == 4, out_shape, layer)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    layer = "fold"
    if not isinstance(input, Tensor):
        raise TypeError(f"{layer}: input must be a Tensor, got {type(input).__name__}")
    kernel, dilation, padding, stride = block_args(layer, kernel_size, dilation, padding,
                                                    stride)
    sizes = ntuple(output_size, 2, layer, "output_size")
    check_positive(layer, "output_size", sizes)
    if input.ndim not in (2, 3) or any(s == 0 for s in input.shape[-2:]):
        raise ConvShapeError(layer, f"expected a 2-D (C*prod(kernel_size), L) or 3-D "
                           f"(N, C*prod(kernel_size), L) input with non-zero dims, but got "
                           f"input of size {list(input.shape)}")
    rows, n_blocks = input.shape[-2], input.shape[-1]
    if rows % math.prod(kernel):
        raise ConvShapeError(layer, f"expected size of input's dimension {input.ndim - 2} to be "
                           f"divisible by the product of kernel_size, but got "
                           f"input.size({input.ndim - 2})={rows} and kernel_size={kernel}")
    blocks = block_counts(layer, sizes, kernel, dilation, padding, stride)
    if math.prod(blocks) != n_blocks:
        raise ConvShapeError(
            layer, f"given output_size={sizes}, kernel_size={kernel}, dilation={dilation}, "
            f"padding={padding}, stride={stride}, expected size of input's dimension "
            f"{input.ndim - 1} to match the calculated number of sliding blocks "
            f"{blocks[0]} * {blocks[1]} = {math.prod(blocks)}, but got "
            f"input.size({input.ndim - 1})={n_blocks}"
        )
    channels = rows // math.prod(kernel)
    geom = ConvGeometry(channels, sizes, rows, blocks, kernel, stride, padding, dilation, 1)
    out_shape = tuple(input.shape[:-2]) + (channels,) + sizes
    return _Blocks.apply(input, geom, False, input.ndim == 3, out_shape, layer)


__all__ = family_names(__name__)
