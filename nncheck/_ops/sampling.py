"""Random sampling from a tensor's values (bernoulli, multinomial, poisson) and the
in-place random fills PyTorch has beyond uniform_/normal_; all draw from nncheck's
generator (``manual_seed``), none is differentiable."""

from .. import _dtype as dt
from .._lazy import np
from ..random import generator as rng
from ..tensor import Tensor


def bernoulli(input, p=None, *, generator=None):
    """1 with probability ``input`` (or ``p``) elementwise, in input's dtype."""
    prob = input._data if p is None else np.broadcast_to(p._data if isinstance(p, Tensor)
                                                         else p, input.shape)
    if ((prob < 0) | (prob > 1)).any():
        raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.")
    return Tensor._wrap((rng().random(input.shape) < prob).astype(input._data.dtype))


def multinomial(input, num_samples, replacement=False):
    """``num_samples`` category indices per row of the (unnormalised) weights ``input``."""
    if input.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    weights = input._data.reshape(-1, input.shape[-1]).astype(np.float64)
    if (weights < 0).any() or not np.isfinite(weights).all():
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    if (weights.sum(1) <= 0).any():
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    if not replacement and num_samples > (weights > 0).sum(1).min():
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without "
                           "replacement")
    rows = [rng().choice(len(w), num_samples, replace=replacement, p=w / w.sum())
            for w in weights]
    out = np.asarray(rows, np.int64).reshape(*input.shape[:-1], num_samples)
    return Tensor._wrap(out)


def poisson(input):
    return Tensor._wrap(rng().poisson(input._data).astype(input._data.dtype))


def random_(self, from_=0, to=None):
    """Integers uniform in [from, to) (one argument: [0, to); none: the dtype's range of
    exactly representable integers)."""
    if to is None and from_ != 0:
        from_, to = 0, from_
    if to is None:  # PyTorch: [0, 2**mantissa bits] for floats, [0, max] for integers
        to = 2 ** (np.finfo(self._data.dtype).nmant + 1) + 1 if self.dtype.is_floating_point \
            else dt.iinfo(self.dtype).max
    if from_ >= to:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={from_} "
                           f">= to={to}")
    return self._fill_raw(lambda: rng().integers(from_, to, self.shape))


def log_normal_(self, mean=1.0, std=2.0):
    return self._fill_raw(lambda: rng().lognormal(mean, std, self.shape))


def cauchy_(self, median=0.0, sigma=1.0):
    return self._fill_raw(lambda: median + sigma * rng().standard_cauchy(self.shape))


def geometric_(self, p):
    return self._fill_raw(lambda: rng().geometric(p, self.shape))


def binomial(count, prob, generator=None):
    return Tensor._wrap(rng().binomial(count._data.astype(np.int64), prob._data)
                        .astype(count._data.dtype))
