"""PyTorch as the reference oracle: build the same layer in both, compare everything.

Every layer test goes through ``compare_module`` / ``compare_function``: same
weights (PyTorch's state_dict loaded into nncheck), same inputs, same
grad_output; outputs, input gradients and parameter gradients must agree to
float64 rounding.
"""

import numpy as np
import torch

import nncheck

RTOL, ATOL = 1e-9, 1e-11


def to_numpy(x):
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, nncheck.Tensor):
        return x.detach().numpy()
    return np.asarray(x)


def to_torch(arr, requires_grad=False):
    t = torch.from_numpy(np.array(to_numpy(arr), copy=True))
    if requires_grad and t.is_floating_point():
        t.requires_grad_(True)
    return t


def to_nncheck(arr, requires_grad=False):
    t = nncheck.from_numpy(np.array(to_numpy(arr), copy=True))
    if requires_grad and t.is_floating_point():
        t.requires_grad_(True)
    return t


def assert_close(actual, expected, rtol=RTOL, atol=ATOL, what="value"):
    a, e = to_numpy(actual), to_numpy(expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != reference {e.shape}"
    if a.dtype.kind in "iub" or e.dtype.kind in "iub":
        np.testing.assert_array_equal(a, e, err_msg=what)
    else:
        np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=what)


def flat_tensors(out):
    if isinstance(out, (torch.Tensor, nncheck.Tensor)):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in flat_tensors(o)]
    return []


def load_torch_weights(nc_module, torch_module):
    """Copy PyTorch's parameters and buffers into the nncheck module (keys must match)."""
    state = {k: v.detach().numpy().copy() for k, v in torch_module.state_dict().items()}
    nc_module.load_state_dict({k: nncheck.from_numpy(v) for k, v in state.items()})


def compare_module(nc_module, torch_module, *inputs, rtol=RTOL, atol=ATOL, grad=True,
                   grad_inputs=None, check_state=True, seed=0):
    """Run both modules on the same inputs; compare outputs and all gradients.

    ``inputs`` are numpy arrays (float arrays get requires_grad unless
    ``grad_inputs`` lists the indices to differentiate).  Returns the two outputs.
    """
    if check_state:
        assert list(nc_module.state_dict().keys()) == list(torch_module.state_dict().keys())
    load_torch_weights(nc_module, torch_module)
    want = set(range(len(inputs))) if grad_inputs is None else set(grad_inputs)
    t_in = [to_torch(x, grad and i in want) for i, x in enumerate(inputs)]
    n_in = [to_nncheck(x, grad and i in want) for i, x in enumerate(inputs)]
    t_out, n_out = torch_module(*t_in), nc_module(*n_in)
    t_flat, n_flat = flat_tensors(t_out), flat_tensors(n_out)
    assert len(t_flat) == len(n_flat), "number of outputs differs"
    for k, (a, e) in enumerate(zip(n_flat, t_flat)):
        assert_close(a, e, rtol, atol, f"output[{k}]")
    if not grad:
        return n_out, t_out
    rng = np.random.default_rng(seed)
    pairs = [(n, t) for n, t in zip(n_flat, t_flat) if t.requires_grad]
    if not pairs:
        return n_out, t_out
    gos = [rng.standard_normal(tuple(t.shape)) for _, t in pairs]
    torch.autograd.backward([t for _, t in pairs],
                            [torch.from_numpy(g).to(t.dtype) for g, (_, t) in zip(gos, pairs)])
    nncheck.autograd.backward([n for n, _ in pairs],
                              [nncheck.from_numpy(g.astype(to_numpy(n).dtype))
                               for g, (n, _) in zip(gos, pairs)])
    for i, (a, e) in enumerate(zip(n_in, t_in)):
        if e.requires_grad:
            assert (a.grad is None) == (e.grad is None), f"grad of input[{i}] presence differs"
            if e.grad is not None:
                assert_close(a.grad, e.grad, rtol, atol, f"grad of input[{i}]")
    t_params = dict(torch_module.named_parameters())
    for name, p in nc_module.named_parameters():
        e = t_params[name].grad
        assert (p.grad is None) == (e is None), f"grad of {name} presence differs"
        if e is not None:
            assert_close(p.grad, e, rtol, atol, f"grad of {name}")
    return n_out, t_out


def compare_function(nc_fn, torch_fn, *inputs, rtol=RTOL, atol=ATOL, grad=True, **kwargs):
    """compare_module for functional forms: wraps each function in a parameterless module."""

    class NC(nncheck.nn.Module):
        def forward(self, *xs):
            return nc_fn(*xs, **kwargs)

    class TO(torch.nn.Module):
        def forward(self, *xs):
            return torch_fn(*xs, **kwargs)

    return compare_module(NC(), TO(), *inputs, rtol=rtol, atol=atol, grad=grad)


def check_repr_and_keys(nc_module, torch_module):
    assert repr(nc_module) == repr(torch_module)
    assert list(nc_module.state_dict().keys()) == list(torch_module.state_dict().keys())
    for (n1, p1), (n2, p2) in zip(nc_module.named_parameters(), torch_module.named_parameters()):
        assert n1 == n2 and tuple(p1.shape) == tuple(p2.shape)


def check_shape_rule(nc_module, *inputs):
    """The analytic shape rule must equal the shapes of a real forward pass."""
    predicted = nc_module.infer_shape(*[tuple(np.shape(x)) for x in inputs])
    with nncheck.no_grad():
        out = nc_module(*[to_nncheck(x) for x in inputs])
    actual = [tuple(t.shape) for t in flat_tensors(out)]
    assert [tuple(s) for s in predicted] == actual


def check_lazy(name, args, x, convert=None, **kwargs):
    """A Lazy* layer (float64) against PyTorch's: the same repr and state_dict keys before
    the first call, then the same concrete class, repr and keys, and with PyTorch's
    weights loaded the same outputs and gradients.  ``convert`` (e.g. ``"double"``):
    built in float32 and turned float64 by that Module method before the first call."""
    if convert is None:
        nc = getattr(nncheck.nn, name)(*args, dtype=nncheck.float64, **kwargs)
        to = getattr(torch.nn, name)(*args, dtype=torch.float64, **kwargs)
    else:
        nc = getattr(getattr(nncheck.nn, name)(*args, **kwargs), convert)()
        to = getattr(getattr(torch.nn, name)(*args, **kwargs), convert)()
    assert repr(nc) == repr(to)  # no shapes yet: PyTorch refuses to tell them
    assert list(nc.state_dict()) == list(to.state_dict())
    assert nc.has_uninitialized_params() and to.has_uninitialized_params()
    nc(to_nncheck(x)), to(to_torch(x))
    assert type(nc).__name__ == type(to).__name__ == to.__class__.__name__
    check_repr_and_keys(nc, to)
    compare_module(nc, to, x)
