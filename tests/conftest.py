"""Fixtures shared by the test files (helpers.py holds shared functions and classes)."""

import pytest
from helpers import PlantedScale


@pytest.fixture(autouse=True)
def _no_planted_bug():
    """A test that plants a bug in PlantedScale leaves none behind."""
    yield
    PlantedScale.bug = None


@pytest.fixture(scope="module")
def emulated():
    """The CUDA device emulated on the host (NNCHECK_CUDA_EMULATE=1) for a test module."""
    from nncheck import cuda

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NNCHECK_CUDA_EMULATE", "1")
        cuda.reset()
        yield
    cuda.reset()
