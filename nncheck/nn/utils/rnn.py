"""Packed sequences: variable-length batches for the recurrent layers (torch.nn.utils.rnn).

A ``PackedSequence`` stores only the real time steps: ``data`` holds, step after
step, the rows of the sequences still running at that step (longest first), and
``batch_sizes[t]`` says how many there are.  Packing and padding are row
gathers/scatters (``_GatherRows``/``_ScatterRows``), so gradients flow through
them to the padded tensor and back.
"""

from collections import namedtuple

from ... import _dtype as dt
from ..._lazy import np
from ...ops import Op
from ...tensor import Tensor

__all__ = [
    "PackedSequence",
    "invert_permutation",
    "pack_padded_sequence",
    "pad_packed_sequence",
    "pad_sequence",
    "unpad_sequence",
    "pack_sequence",
    "unpack_sequence",
]

PackedSequence_ = namedtuple(
    "PackedSequence_", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"]
)


class PackedSequence(PackedSequence_):
    """Holds the data and batch_sizes of a packed sequence (build it with pack_* functions).

    ``sorted_indices`` is the permutation that sorted the batch by decreasing
    length (None when the input was already sorted), ``unsorted_indices`` its
    inverse.  Like torch, ``batch_sizes`` stays an int64 CPU tensor whatever
    ``.to()`` is asked.
    """

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is None:
            if not (isinstance(data, (list, tuple)) and len(data) == 2):
                raise TypeError(
                    "PackedSequence: expected data and batch_sizes, or one (data, batch_sizes) "
                    "pair"
                )
            data, batch_sizes = data
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs):
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        return type(self)(data, self.batch_sizes, self.sorted_indices, self.unsorted_indices)

    def cuda(self, *args, **kwargs):
        return self.to("cuda")

    def cpu(self, *args, **kwargs):
        return self.to("cpu")

    def pin_memory(self):
        return self

    def double(self):
        return self.to(dtype=dt.float64)

    def float(self):
        return self.to(dtype=dt.float32)

    def half(self):
        return self.to(dtype=dt.float16)

    def long(self):
        return self.to(dtype=dt.int64)

    def int(self):
        return self.to(dtype=dt.int32)

    def short(self):
        return self.to(dtype=dt.int16)

    def char(self):
        return self.to(dtype=dt.int8)

    def byte(self):
        return self.to(dtype=dt.uint8)

    @property
    def is_cuda(self):
        return self.data.is_cuda

    def is_pinned(self):
        return False


def _int_array(x):
    return np.asarray(x._data if isinstance(x, Tensor) else x, dtype=np.int64).reshape(-1)


def _int_tensor(arr):
    return Tensor._wrap(np.ascontiguousarray(arr, np.int64))


def invert_permutation(permutation):
    """The inverse permutation (None stays None)."""
    if permutation is None:
        return None
    perm = _int_array(permutation)
    out = np.empty_like(perm)
    out[perm] = np.arange(perm.size)
    return _int_tensor(out)


class _GatherRows(Op):
    """out = x viewed as (rows, *rest) taken at ``index``; the inverse of _ScatterRows."""

    @staticmethod
    def forward(ctx, x, index, lead):
        ctx.shape, ctx.index, ctx.rows = x.shape, index, int(np.prod(x.shape[:lead]))
        return np.ascontiguousarray(x.reshape((ctx.rows,) + x.shape[lead:])[index])

    @staticmethod
    def backward(ctx, g):
        out = np.zeros((ctx.rows,) + g.shape[1:], g.dtype)
        out[ctx.index] = g
        return out.reshape(ctx.shape)


class _ScatterRows(Op):
    """Rows of ``data`` written at ``index`` of a new (rows, *rest) array filled with
    ``fill``, then viewed as ``lead_shape + rest``."""

    @staticmethod
    def forward(ctx, data, index, lead_shape, fill):
        ctx.index, ctx.rows = index, int(np.prod(lead_shape))
        out = np.full((ctx.rows,) + data.shape[1:], fill, data.dtype)
        out[index] = data
        return out.reshape(tuple(lead_shape) + data.shape[1:])

    @staticmethod
    def backward(ctx, g):
        return np.ascontiguousarray(g.reshape((ctx.rows,) + g.shape[2:])[ctx.index])


def _packed_rows(batch_sizes, order, n_steps, batch, batch_first):
    """Flat (step, batch) index in a padded tensor of every packed row, in packed order.

    ``order[i]`` is the padded batch position of the i-th longest sequence.
    """
    steps = np.repeat(np.arange(len(batch_sizes)), batch_sizes)
    ranks = np.concatenate([np.arange(b) for b in batch_sizes])
    cols = order[ranks]
    return cols * n_steps + steps if batch_first else steps * batch + cols


def _checked_batch_sizes(sequence, where):
    """``sequence.batch_sizes`` as an int64 array, after checking that it and the
    permutations describe ``sequence.data`` (a PackedSequence can be built by hand)."""
    sizes = np.asarray(sequence.batch_sizes._data if isinstance(sequence.batch_sizes, Tensor)
                       else sequence.batch_sizes)
    if (sizes.ndim != 1 or sizes.size == 0 or sizes.dtype.kind not in "iu" or sizes.min() <= 0
            or np.any(np.diff(sizes) > 0) or int(sizes.sum()) != sequence.data.shape[0]):
        raise ValueError(
            f"{where}: PackedSequence batch_sizes must be a non-empty, non-increasing list of "
            f"positive ints summing to data.size(0)={sequence.data.shape[0]}, got "
            f"{sizes.tolist()} (build it with pack_padded_sequence)"
        )
    for name in ("sorted_indices", "unsorted_indices"):
        perm = getattr(sequence, name)
        if perm is not None and not np.array_equal(np.sort(_int_array(perm)),
                                                   np.arange(sizes[0])):
            raise ValueError(f"{where}: PackedSequence {name} must be a permutation of "
                             f"range({sizes[0]}), got {_int_array(perm).tolist()}")
    return sizes.astype(np.int64)


def _batch_sizes(lengths):
    return np.bincount(lengths - 1, minlength=int(lengths.max()))[::-1].cumsum()[::-1].copy()


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Packs a padded (T, B, *) tensor ((B, T, *) with batch_first) of sequences of ``lengths``.

    With ``enforce_sorted=False`` the batch is sorted by decreasing length first and
    the permutation is kept in the result (``sorted_indices``).
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"pack_padded_sequence: input must be a Tensor, got "
                        f"{type(input).__name__}")
    if input.ndim < 2:
        raise ValueError(f"pack_padded_sequence: input must have at least 2 dimensions "
                         f"(T, B, *), got shape {list(input.shape)}")
    lengths = _int_array(lengths)
    n_steps, batch = (input.shape[1], input.shape[0]) if batch_first else input.shape[:2]
    if lengths.size != batch:
        raise RuntimeError(f"pack_padded_sequence: Expected `len(lengths)` to be equal to "
                           f"batch_size, but got {lengths.size} (batch_size={batch})")
    if batch == 0:
        raise ValueError("pack_padded_sequence: cannot pack an empty batch (batch_size=0)")
    if enforce_sorted and np.any(np.diff(lengths) > 0):
        raise RuntimeError(
            "pack_padded_sequence: `lengths` array must be sorted in decreasing order when "
            "`enforce_sorted` is True. You can pass `enforce_sorted=False` to "
            "pack_padded_sequence and/or pack_sequence to sidestep this requirement if you do "
            "not need ONNX exportability."
        )
    if lengths.min() <= 0:
        raise RuntimeError("pack_padded_sequence: Length of all samples has to be greater than "
                           f"0, but found an element in 'lengths' that is <= 0: "
                           f"{lengths.tolist()}")
    if lengths.max() > n_steps:
        raise ValueError(f"pack_padded_sequence: a length ({lengths.max()}) exceeds the padded "
                         f"sequence length {n_steps} of input of shape {list(input.shape)}")
    if enforce_sorted:
        order, sorted_indices = np.arange(batch), None
    else:
        order = np.argsort(-lengths, kind="stable")
        lengths, sorted_indices = lengths[order], _int_tensor(order)
    batch_sizes = _batch_sizes(lengths)
    index = _packed_rows(batch_sizes, order, n_steps, batch, batch_first)
    data = _GatherRows.apply(input, index, 2)
    return PackedSequence(data, _int_tensor(batch_sizes), sorted_indices, None)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Inverse of pack_padded_sequence: (padded tensor, lengths in the original batch order)."""
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"pad_packed_sequence: expected a PackedSequence, got "
                        f"{type(sequence).__name__}")
    batch_sizes = _checked_batch_sizes(sequence, "pad_packed_sequence")
    n_steps = batch_sizes.size
    if total_length is not None:
        if total_length < n_steps:
            raise ValueError(
                "pad_packed_sequence: Expected total_length to be at least the length of the "
                f"longest sequence in input, but got total_length={total_length} and max "
                f"sequence length being {n_steps}"
            )
        n_steps = int(total_length)
    batch = int(batch_sizes[0])
    unsorted = sequence.unsorted_indices
    order = (np.arange(batch) if unsorted is None
             else _int_array(invert_permutation(unsorted)))
    index = _packed_rows(batch_sizes, order, n_steps, batch, batch_first)
    lead = (batch, n_steps) if batch_first else (n_steps, batch)
    padded = _ScatterRows.apply(sequence.data, index, lead, padding_value)
    lengths = (batch_sizes[None, :] > np.arange(batch)[:, None]).sum(axis=1)
    if unsorted is not None:
        lengths = lengths[_int_array(unsorted)]
    return padded, _int_tensor(lengths)


class _PadSequence(Op):
    @staticmethod
    def forward(ctx, batch_first, padding_value, left, *seqs):
        ctx.batch_first = batch_first
        longest = max(s.shape[0] for s in seqs)
        out = np.full((len(seqs), longest) + seqs[0].shape[1:], padding_value, seqs[0].dtype)
        ctx.spans = []
        for i, s in enumerate(seqs):
            span = slice(longest - s.shape[0], longest) if left else slice(0, s.shape[0])
            out[i, span] = s
            ctx.spans.append((span, s.dtype))
        return out if batch_first else np.ascontiguousarray(out.swapaxes(0, 1))

    @staticmethod
    def backward(ctx, g):
        g = g if ctx.batch_first else g.swapaxes(0, 1)
        return (None, None, None, *[np.ascontiguousarray(g[i, span], dtype)
                                    for i, (span, dtype) in enumerate(ctx.spans)])


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stacks (L_i, *) tensors into (max L, B, *) ((B, max L, *) with batch_first), padded."""
    if not isinstance(sequences, Tensor) and not hasattr(sequences, "__iter__"):
        raise RuntimeError(f"pad_sequence: Expected iterable for input sequences, but got "
                           f"arg of type: {type(sequences)}")
    sequences = tuple(sequences)
    if not sequences:
        raise RuntimeError("pad_sequence: received an empty list of sequences")
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"pad_sequence: Expected padding_side to be one of left or right, "
                           f"but got {padding_side}.")
    for i, s in enumerate(sequences):
        if not isinstance(s, Tensor):
            raise TypeError(f"pad_sequence: sequences[{i}] must be a Tensor, got "
                            f"{type(s).__name__}")
        if s.ndim == 0 or s.shape[1:] != sequences[0].shape[1:]:
            raise RuntimeError(
                f"pad_sequence: every sequence must be (L, *trailing) with the same trailing "
                f"dims; sequences[0] has shape {list(sequences[0].shape)} but sequences[{i}] "
                f"has shape {list(s.shape)}"
            )
    return _PadSequence.apply(batch_first, padding_value, padding_side == "left", *sequences)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """Splits a padded batch back into a list of (L_i, *) tensors (inverse of pad_sequence).

    Unlike torch, ``padded_sequences`` is not transposed in place.
    """
    lengths = _int_array(lengths)
    batch = padded_sequences.shape[0 if batch_first else 1]
    if lengths.size != batch:
        raise ValueError(f"unpad_sequence: got {lengths.size} lengths for a batch of {batch}")
    if batch_first:
        return [padded_sequences[i, :int(n)] for i, n in enumerate(lengths)]
    return [padded_sequences[:int(n), i] for i, n in enumerate(lengths)]


def pack_sequence(sequences, enforce_sorted=True):
    """Packs a list of (L_i, *) tensors (pad_sequence, then pack_padded_sequence)."""
    lengths = [v.size(0) for v in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences):
    """Inverse of pack_sequence: the list of (L_i, *) tensors, in the original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
