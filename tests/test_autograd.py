"""The autograd engine and Function API, checked against PyTorch's behaviour."""

import gc
import weakref

import numpy as np
import pytest
import torch

import nncheck
from nncheck.autograd import Function


def test_accumulation_and_shared_subgraphs():
    x = nncheck.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x
    z = (y + y * 2).sum()
    z.backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * np.array([1.0, 2.0, 3.0]))
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * np.array([1.0, 2.0, 3.0]) + 2)


def test_backward_twice_needs_retain_graph():
    x = nncheck.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * np.exp([1.0, 2.0]))
    z = (x.exp() * 2).sum()
    z.backward()
    with pytest.raises(RuntimeError, match="second time"):
        z.backward()


def test_backward_with_gradient_and_non_scalar_error():
    x = nncheck.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        y.backward()
    y.backward(nncheck.tensor([1.0, 10.0]))
    assert x.grad.tolist() == [3.0, 30.0]


def test_autograd_grad_and_backward_functions():
    x = nncheck.tensor([1.0, 2.0], requires_grad=True)
    w = nncheck.tensor([3.0, 4.0], requires_grad=True)
    y = (x * w).sum()
    gx, gw = nncheck.autograd.grad(y, [x, w], retain_graph=True)
    assert gx.tolist() == [3.0, 4.0] and gw.tolist() == [1.0, 2.0]
    assert x.grad is None
    nncheck.autograd.backward([y], [nncheck.tensor(2.0)])
    assert x.grad.tolist() == [6.0, 8.0]
    unused = nncheck.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="not have been used"):
        nncheck.autograd.grad((x * 2).sum(), [unused])
    assert nncheck.autograd.grad((x * 2).sum(), [unused], allow_unused=True) == (None,)


def test_no_grad_and_enable_grad():
    x = nncheck.tensor([1.0], requires_grad=True)
    with nncheck.no_grad():
        y = x * 2
        with nncheck.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None and z.requires_grad

    @nncheck.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad
    with nncheck.set_grad_enabled(False):
        assert not nncheck.is_grad_enabled()
    assert nncheck.is_grad_enabled()


def test_tensor_hooks_and_retain_grad():
    x = nncheck.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    handle = x.register_hook(lambda g: seen.append(g.tolist()) or g * 10)
    y = x * 2
    y.retain_grad()
    y.register_hook(lambda g: g + 1)
    y.sum().backward()
    assert seen == [[4.0, 4.0]]
    assert x.grad.tolist() == [40.0, 40.0]
    assert y.grad.tolist() == [2.0, 2.0]
    handle.remove()
    x.grad = None
    (x * 2).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_node_hooks_are_per_node_as_torch():
    # nodes keep no hook containers until one registers (shared empty defaults): a hook on
    # one node must not reach another node of the same op, and removal must work
    def run(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        a, b = x * 2, x * 3
        calls = []
        a.grad_fn.register_prehook(lambda g: calls.append("pre") or (g[0] * 10,))
        handle = a.grad_fn.register_hook(lambda gi, go: calls.append("post"))
        (a + b).sum().backward()
        first = x.grad.tolist()
        handle.remove()
        x.grad = None
        c = x * 2
        c.sum().backward()
        return calls, first, x.grad.tolist(), a.grad_fn.name(), c.grad_fn.name()

    ours, theirs = run(nncheck), run(torch)
    assert ours[:3] == theirs[:3] == (["pre", "post"], [23.0, 23.0], [2.0, 2.0])
    assert ours[3] == ours[4] == "MulBackward0"


def test_inplace_change_of_saved_tensor_raises():
    x = nncheck.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    z = y.exp()
    z.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


def test_inplace_change_names_the_saved_tensor_and_versions():
    x = nncheck.tensor([1.0, 2.0, 3.0], requires_grad=True)
    z = (x * 1).exp()  # exp saves its output
    z.mul_(2)
    with pytest.raises(RuntimeError, match=r"shape \[3\] .* is at version 1; expected version "
                                           r"0 instead \(saved by"):
        z.sum().backward()


def test_an_op_saving_its_output_frees_it_without_the_garbage_collector():
    # the saved output's version is checked through its counter, not the output tensor,
    # which would hold the node that saved it: a cycle only gc could free
    x = nncheck.randn(1000, requires_grad=True)
    gc.disable()
    try:
        for op in (nncheck.relu, nncheck.exp, nncheck.sigmoid, lambda t: t * 2):
            y = op(x)
            array, node = weakref.ref(y._data), weakref.ref(y.grad_fn)
            del y
            assert array() is None and node() is None, op
    finally:
        gc.enable()


def test_inplace_on_non_leaf_rebases_the_graph():
    for lib in (nncheck, torch):
        x = lib.tensor([1.0, -2.0, 3.0], requires_grad=True)
        y = x * 2
        y.mul_(3).add_(1)
        y.sum().backward()
        assert x.grad.tolist() == [6.0, 6.0, 6.0]


def test_setitem_with_autograd_matches_torch():
    results = []
    for lib in (nncheck, torch):
        x = lib.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        v = lib.tensor([5.0, 6.0], requires_grad=True)
        y = x * 1
        y[0] = v * 2
        (y * lib.tensor([[1.0, 2.0], [3.0, 4.0]])).sum().backward()
        results.append((x.grad.tolist(), v.grad.tolist()))
    assert results[0] == results[1]


class Square(Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.save_for_backward(x)
        ctx.scale = scale
        return x * x * scale

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 2 * x * ctx.scale, None


def test_custom_function_like_torch():
    x = nncheck.tensor([1.0, 2.0], requires_grad=True)
    y = Square.apply(x, 3.0)
    assert y.grad_fn.name() == "SquareBackward0"
    y.sum().backward()
    assert x.grad.tolist() == [6.0, 12.0]
    xd = nncheck.tensor([0.3, -1.2], dtype=nncheck.float64, requires_grad=True)
    assert nncheck.gradcheck(lambda t: Square.apply(t, 2.0), (xd,))


def _numpy_cube(lib):
    """x**3 written the PyTorch way with numpy: .numpy() on the input in forward and on the
    saved tensor in backward (grad mode is off in both)."""

    class NumpyCube(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return lib.from_numpy(x.numpy() ** 3)

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return lib.from_numpy(3 * x.numpy() ** 2 * grad.numpy())

    return NumpyCube


def test_custom_function_may_call_numpy_like_torch():
    x = np.array([0.5, -1.5, 2.0])
    grads = []
    for lib in (torch, nncheck):
        t = lib.tensor(x, requires_grad=True)
        _numpy_cube(lib).apply(t).sum().backward()
        grads.append(t.grad.numpy())
        with pytest.raises(RuntimeError, match="requires grad"):
            t.numpy()  # outside a Function, grad mode on: refused in both
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-12)


class MultiOut(Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2, x * 3

    @staticmethod
    def backward(ctx, ga, gb):
        return ga * 2 + gb * 3


def test_custom_function_with_two_outputs_and_needs_input_grad():
    x = nncheck.tensor([1.0], requires_grad=True)
    a, b = MultiOut.apply(x)
    (a + b).sum().backward()
    assert x.grad.tolist() == [5.0]
    a, _ = MultiOut.apply(x)
    x.grad = None
    a.sum().backward()
    assert x.grad.tolist() == [2.0]


def test_detach_and_data_do_not_track():
    x = nncheck.tensor([1.0], requires_grad=True)
    assert not x.detach().requires_grad
    assert not x.data.requires_grad
    y = x * 2
    assert not y.is_leaf and x.is_leaf


def test_leaf_gradients_never_alias_each_other_or_the_callers_arrays():
    a = nncheck.ones(3, requires_grad=True)
    b = nncheck.ones(3, requires_grad=True)
    (a + b).sum().backward()
    a.grad.mul_(5)
    assert b.grad.tolist() == [1.0, 1.0, 1.0]
    g = nncheck.ones(3)
    x = nncheck.ones(3, requires_grad=True)
    (x * 1).backward(g)
    x.grad.zero_()
    assert g.tolist() == [1.0, 1.0, 1.0]
    v = nncheck.ones(2, 2, requires_grad=True)
    v.reshape(4).backward(g4 := nncheck.ones(4))
    v.grad.zero_()
    assert g4.tolist() == [1.0] * 4  # a view of the caller's gradient is copied too
    y = nncheck.ones(3, requires_grad=True)
    out = (y * 2).sum()
    out.backward(retain_graph=True)
    y.grad.zero_()
    out.backward()
    assert y.grad.tolist() == [2.0, 2.0, 2.0]


class ReturnsSaved(Function):
    @staticmethod
    def forward(ctx, x, keep):
        ctx.keep = keep
        return x * 1

    @staticmethod
    def backward(ctx, g):
        return ctx.keep, None  # a user backward handing back a tensor it holds


def test_user_backward_arrays_are_copied_into_grad():
    keep = nncheck.ones(2)
    x = nncheck.ones(2, requires_grad=True)
    ReturnsSaved.apply(x, keep).sum().backward()
    x.grad.zero_()
    assert keep.tolist() == [1.0, 1.0]


def test_leaf_hooks_are_per_tensor_as_torch():
    # tensors keep no hook dicts until one registers (a shared read-only default): a hook on
    # one leaf must not reach another, and .grad accumulates over two backward calls
    def run(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        w = lib.tensor([3.0, 4.0], requires_grad=True)
        calls = []
        handle = x.register_hook(lambda g: calls.append(("pre", g.tolist())) or g * 2)
        x.register_post_accumulate_grad_hook(lambda t: calls.append(("post", t.grad.tolist())))
        (x * w).sum().backward()
        (x * w * 3).sum().backward()
        handle.remove()
        (x + w).sum().backward()
        return calls, x.grad.tolist(), w.grad.tolist()

    assert run(nncheck) == run(torch)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_backward_into_mixed_dtypes_and_inputs_without_grad_as_torch(dim):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4)).astype(np.float32),
              rng.standard_normal((2, 3, 4))]
    weight = rng.standard_normal({0: (4, 3, 4), 1: (2, 6, 4), -1: (2, 3, 8)}[dim])

    def run(lib):
        a, b, c = (lib.from_numpy(x.copy()) for x in arrays)
        a.requires_grad_(True)
        b.requires_grad_(True)  # c: no gradient wanted
        mid = b * 2  # a non-leaf input: its node gets a float64 slice of the gradient
        out = lib.cat([a, mid], dim)
        y = (out * lib.from_numpy(weight)).sum() + lib.cat([c, a], dim).sum()
        y.backward()
        return out.dtype, a.grad.dtype, b.grad.dtype, a.grad.numpy(), b.grad.numpy()

    ours, theirs = run(nncheck), run(torch)
    assert str(ours[0]).split(".")[-1] == str(theirs[0]).split(".")[-1] == "float64"
    assert [str(d).split(".")[-1] for d in ours[1:3]] == ["float64", "float32"]
    assert [str(d).split(".")[-1] for d in theirs[1:3]] == ["float64", "float32"]
    np.testing.assert_allclose(ours[3], theirs[3], rtol=1e-6)
    np.testing.assert_allclose(ours[4], theirs[4], rtol=1e-6)
