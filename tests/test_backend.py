"""The dispatch seam: host arrays reach the Cython kernels; mixed devices raise."""

import numpy as np
import pytest

from nncheck import backend


def test_host_arrays_get_the_cython_module_and_numpy():
    k, xp = backend.kernels("activation", np.zeros(3), None)
    assert xp is np
    x = np.array([-1.0, 2.0])
    y = np.empty_like(x)
    k.relu_forward(x, y, 0.0, 0.0)
    assert y.tolist() == [0.0, 2.0]


class _FakeDeviceArray:
    """A stand-in device array: names a backend package and a device, holds nothing."""

    __nncheck_backend__ = "nncheck.no_such_backend"
    device_name = "cuda:0"


def test_mixed_devices_raise_pytorchs_error():
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device, "
                                           "but found at least two devices, cuda:0 and cpu!"):
        backend.kernels("activation", _FakeDeviceArray(), np.zeros(2))


def test_array_namespace_of_host_arrays_is_numpy():
    assert backend.array_namespace(np.zeros(1), None) is np
