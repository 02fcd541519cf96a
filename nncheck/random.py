"""The one random generator behind factories, ``nn.init`` and dropout."""

import numpy as np

_generator = np.random.default_rng()
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
    return _generator


def get_rng_state():
    return _generator.bit_generator.state


def set_rng_state(state):
    _generator.bit_generator.state = state
