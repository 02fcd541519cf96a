"""The one random generator behind factories, ``nn.init`` and dropout."""

from ._lazy import np

_generator = None  # made on first use: an unseeded process never pays for numpy's import
_initial_seed = None


def manual_seed(seed):
    """Seed the global generator (as ``torch.manual_seed``); returns the generator."""
    global _generator, _initial_seed
    seed = int(seed)
    _initial_seed = seed
    _generator = np.random.default_rng(seed & 0xFFFF_FFFF_FFFF_FFFF)
    return _generator


seed = manual_seed


def initial_seed():
    return _initial_seed


def generator():
    global _generator
    if _generator is None:
        _generator = np.random.default_rng()
    return _generator


def get_rng_state():
    return generator().bit_generator.state


def set_rng_state(state):
    generator().bit_generator.state = state
