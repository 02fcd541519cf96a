"""Sparse layers (seed section Sparse layers): Embedding and EmbeddingBag."""

from ... import factories
from ..._lazy import family_names
from ...registry import register
from ...shapes import ShapeError, note
from .. import init
from ..functional import sparse as _fn
from ..parameter import Parameter
from .module import Module


def _random_indices(shapes, rng, np_dtype):
    """Example inputs for the CLI: int64 indices into the registered 10-row tables."""
    return [rng.integers(0, 10, size=shape).astype("int64") for shape in shapes]


class _EmbeddingBase(Module):
    """The (num_embeddings, embedding_dim) table shared by Embedding and EmbeddingBag."""

    def _init_table(self, num_embeddings, embedding_dim, padding_idx, max_norm, norm_type,
                    scale_grad_by_freq, _weight, requires_grad, dtype):
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = _fn._padding_index(padding_idx, num_embeddings, type(self).__name__)
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        if _weight is None:
            self.weight = Parameter(factories.empty(num_embeddings, embedding_dim, dtype=dtype),
                                    requires_grad=requires_grad)
            self.reset_parameters()
        else:
            if list(_weight.shape) != [num_embeddings, embedding_dim]:
                raise ValueError(f"{type(self).__name__}: Shape of weight {list(_weight.shape)} "
                                 f"does not match num_embeddings and embedding_dim "
                                 f"[{num_embeddings}, {embedding_dim}]")
            self.weight = Parameter(_weight, requires_grad=requires_grad)

    def reset_parameters(self):
        init.normal_(self.weight)
        self._fill_padding_idx_with_zero()

    def _fill_padding_idx_with_zero(self):
        if self.padding_idx is not None and not self.weight.is_meta:  # meta: no data to zero
            self.weight._data[self.padding_idx] = 0
            self.weight._version.value += 1

    def _options_repr(self):
        """max_norm, norm_type and scale_grad_by_freq when not at their defaults (torch's)."""
        s = ""
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq is not False:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        return s


@register("sparse", "10 3", inputs=[(2, 4)], make_inputs=_random_indices, grad_inputs=())
class Embedding(_EmbeddingBase):
    """A lookup table; ``sparse=True`` is accepted but the gradient is returned dense."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None,
                 norm_type=2.0, scale_grad_by_freq=False, sparse=False, _weight=None,
                 _freeze=False, device=None, dtype=None):
        super().__init__()
        self._init_table(num_embeddings, embedding_dim, padding_idx, max_norm, norm_type,
                         scale_grad_by_freq, _weight, not _freeze, dtype)
        self.sparse = sparse

    def forward(self, input):
        return _fn._embedding(input, self.weight, self.padding_idx, self.max_norm,
                              self.norm_type, self.scale_grad_by_freq, "Embedding")

    def infer_shape(self, *shapes, explain=None):
        shape = tuple(shapes[0])
        note(explain, f"each index -> a row of {self.embedding_dim} values: output "
                      f"{list(shape)} + [embedding_dim={self.embedding_dim}]")
        return (shape + (self.embedding_dim,),)

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        s += self._options_repr()
        if self.sparse is not False:
            s += ", sparse=True"
        return s

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None, max_norm=None,
                        norm_type=2.0, scale_grad_by_freq=False, sparse=False):
        if embeddings.dim() != 2:
            raise ValueError("Embeddings parameter is expected to be 2-dimensional, got shape "
                             f"{list(embeddings.shape)}")
        rows, cols = embeddings.shape
        return cls(num_embeddings=rows, embedding_dim=cols, _weight=embeddings, _freeze=freeze,
                   padding_idx=padding_idx, max_norm=max_norm, norm_type=norm_type,
                   scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)


@register("sparse", "10 3 mode='sum'", inputs=[(2, 4)], make_inputs=_random_indices,
          grad_inputs=())
class EmbeddingBag(_EmbeddingBase):
    """Sums, means or maxima of bags of embeddings without materialising them."""

    def __init__(self, num_embeddings, embedding_dim, max_norm=None, norm_type=2.0,
                 scale_grad_by_freq=False, mode="mean", sparse=False, _weight=None,
                 include_last_offset=False, padding_idx=None, device=None, dtype=None):
        super().__init__()
        self._init_table(num_embeddings, embedding_dim, padding_idx, max_norm, norm_type,
                         scale_grad_by_freq, _weight, True, dtype)
        self.mode = mode
        self.sparse = sparse
        self.include_last_offset = include_last_offset

    def forward(self, input, offsets=None, per_sample_weights=None):
        return _fn._embedding_bag(input, self.weight, offsets, self.max_norm, self.norm_type,
                                  self.scale_grad_by_freq, self.mode, per_sample_weights,
                                  self.include_last_offset, self.padding_idx, "EmbeddingBag")

    def infer_shape(self, *shapes, explain=None):
        shape = tuple(shapes[0])
        if len(shape) == 2:
            bags = shape[0]
            note(explain, f"2-D input: {shape[0]} bags of {shape[1]} indices -> "
                          f"[{bags}, embedding_dim={self.embedding_dim}]")
        elif len(shape) == 1 and len(shapes) > 1:
            offsets = tuple(shapes[1])
            bags = offsets[0] - (1 if self.include_last_offset else 0)
            note(explain, f"1-D input with {offsets[0]} offsets -> {bags} bags "
                          f"({self.mode} of each) -> [{bags}, {self.embedding_dim}]")
        else:
            raise ShapeError("EmbeddingBag", f"input has to be 2-D (bags, indices) or 1-D with "
                                             f"an offsets tensor, got shape {list(shape)}",
                             "pass offsets with a 1-D input")
        return ((max(bags, 0), self.embedding_dim),)

    def extra_repr(self):
        s = (f"{self.num_embeddings}, {self.embedding_dim}{self._options_repr()}, "
             f"mode={self.mode!r}")
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, max_norm=None, norm_type=2.0,
                        scale_grad_by_freq=False, mode="mean", sparse=False,
                        include_last_offset=False, padding_idx=None):
        if embeddings.dim() != 2:
            raise ValueError("Embeddings parameter is expected to be 2-dimensional, got shape "
                             f"{list(embeddings.shape)}")
        rows, cols = embeddings.shape
        bag = cls(num_embeddings=rows, embedding_dim=cols, _weight=embeddings, max_norm=max_norm,
                  norm_type=norm_type, scale_grad_by_freq=scale_grad_by_freq, mode=mode,
                  sparse=sparse, include_last_offset=include_last_offset,
                  padding_idx=padding_idx)
        bag.weight.requires_grad = not freeze
        return bag


__all__ = family_names(__name__)
