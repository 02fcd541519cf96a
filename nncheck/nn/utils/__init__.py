"""``nncheck.nn.utils``: gradient clipping, weight/spectral norm, parameter vectors, rnn packing."""

from . import rnn
