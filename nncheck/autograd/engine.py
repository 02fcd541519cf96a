"""The backward engine: topological traversal of the recorded graph."""

from .._lazy import np
from ..backend import array_namespace
from .function import AccumulateGrad, _runtime
from .grad_mode import enable_grad, no_grad, set_grad_enabled


def _as_list(x):
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _make_grads(tensors, grad_tensors):
    Tensor = _runtime()[0]
    grads = _as_list(grad_tensors) or [None] * len(tensors)
    if len(grads) != len(tensors):
        raise RuntimeError(
            f"grad_tensors has {len(grads)} items but there are {len(tensors)} tensors"
        )
    out = []
    for t, g in zip(tensors, grads):
        if not t.requires_grad:
            raise RuntimeError(
                "element 0 of tensors does not require grad and does not have a grad_fn"
            )
        if g is None:
            if t.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            g = Tensor._wrap(array_namespace(t._data).ones(t.shape, t._data.dtype))
        elif not isinstance(g, Tensor):
            g = Tensor._wrap(np.asarray(g, dtype=t._data.dtype))
        if g._data.shape != t._data.shape:
            raise RuntimeError(
                f"Mismatch in shape: grad_output has a shape of {tuple(g.shape)} and output "
                f"has a shape of {tuple(t.shape)}"
            )
        out.append(g)
    return out


def _topological_order(roots):
    """Nodes reachable from ``roots`` in an order where each node precedes its inputs."""
    order, seen = [], set()  # nodes hash by identity
    for root in roots:
        if root is None or root in seen:
            continue
        stack = [(root, iter(root.next_functions))]
        seen.add(root)
        while stack:
            node, it = stack[-1]
            for nxt, _ in it:
                if nxt is not None and nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, iter(nxt.next_functions)))
                    break
            else:
                stack.pop()
                order.append(node)
    order.reverse()
    return order


def run_backward(tensors, grad_tensors, retain_graph, create_graph, inputs=None, accumulate=True):
    """Propagate gradients from ``tensors`` into the leaves, or return those of ``inputs``."""
    Tensor = _runtime()[0]
    tensors = _as_list(tensors)
    grads = _make_grads(tensors, grad_tensors)
    if retain_graph is None:
        retain_graph = create_graph
    captured = {}
    capture = capture_keys = None
    if inputs is not None:
        capture_keys = [(t._grad_node(), t._output_nr) for t in inputs]
        capture = set(capture_keys)

    buffers = {}  # node -> list of accumulated grads per output
    roots = []
    for t, g in zip(tensors, grads):
        node = t._grad_node()
        roots.append(node)
        _add_to_buffer(buffers, node, t._output_nr, g)

    # gradient arrays a leaf may keep without a copy: see _Adoption
    adoptable = _Adoption(retain_graph or create_graph, [g._data for g in grads])
    with set_grad_enabled(create_graph):
        for node in _topological_order(roots):
            buf = buffers.pop(node, None)
            if buf is None:
                continue
            for hook in node._pre_hooks:
                res = hook(tuple(buf))
                if res is not None:
                    buf = list(res)
            tensor_hooks = node._tensor_hooks
            if tensor_hooks:
                for idx, hooks in tensor_hooks.items():
                    for hook in hooks:
                        if buf[idx] is not None:
                            res = hook(buf[idx])
                            if res is not None:
                                buf[idx] = res
            retained = node._retained
            if retained:
                for idx, tref in retained.items():
                    t = tref()
                    if t is not None and buf[idx] is not None:
                        g = buf[idx].detach()
                        t.grad = g if t.grad is None else t.grad + g
            if capture is not None:
                for idx, g in enumerate(buf):
                    if (node, idx) in capture:
                        captured[(node, idx)] = g
            if isinstance(node, AccumulateGrad):
                if accumulate and buf[0] is not None:
                    _accumulate_leaf(node.variable, buf[0], create_graph, adoptable)
                continue
            if node._freed:
                raise RuntimeError(
                    "Trying to backward through the graph a second time (or directly access "
                    "saved tensors after they have already been freed). Specify "
                    "retain_graph=True if you need to backward through the graph a second time."
                )
            if not node.fn_cls.raw and create_graph:
                with enable_grad():
                    in_grads = node.apply(buf)
            else:
                in_grads = node.apply(buf)
            for hook in node._hooks:
                res = hook(tuple(in_grads), tuple(buf))
                if res is not None:
                    in_grads = tuple(res)
            if not retain_graph:
                node._freed = True
                node.ctx._saved = None
                node.ctx._saved_versions = ()  # it holds the saved tensors too: free them now
            for (nxt, slot), g in zip(node.next_functions, in_grads):
                if nxt is None or g is None:
                    continue
                if not isinstance(g, Tensor):
                    g = Tensor._wrap(g)
                elif not node.fn_cls.raw:
                    adoptable.refuse(g._data)  # a user's backward may return arrays it keeps
                _add_to_buffer(buffers, nxt, slot, g)
    if capture is not None:
        return [captured.get(key) for key in capture_keys]
    return None


def _add_to_buffer(buffers, node, slot, grad):
    buf = buffers.get(node)
    if buf is None:
        buf = buffers[node] = [None] * node.n_outputs
    held = buf[slot]
    if held is None:
        buf[slot] = grad
    elif _plain_host_pair(held, grad):
        # a tensor used by several ops (DenseNet's features feed every later layer): the
        # sum of two graph-free host arrays of one dtype, without an Add op's dispatch
        buf[slot] = _runtime()[0]._wrap(held._data + grad._data)
    else:
        buf[slot] = held + grad


def _plain_host_pair(a, b):
    """True when ``a + b`` would record nothing and promote nothing: host arrays of one
    dtype, neither tensor in a graph (create_graph=False)."""
    x, y = a._data, b._data
    return (x.__class__ is np.ndarray and y.__class__ is np.ndarray and x.dtype == y.dtype
            and not a.requires_grad and not b.requires_grad)


class _Adoption:
    """Decides when a leaf's first gradient can be kept as is instead of copied.

    A copy is needed when anything else might still hold the storage: the caller's
    own ``gradient`` arrays, a retained graph (an op may return an array it saved),
    a user ``Function`` (its backward may return tensors it keeps), or another leaf
    that already took the same storage (an op may send one array down two edges).
    Storage is identified by the array at the root of a chain of views.
    """

    def __init__(self, retained, root_arrays):
        self.retained = retained
        self.taken = {id(_storage(a)) for a in root_arrays}

    def refuse(self, arr):
        self.taken.add(id(_storage(arr)))

    def take(self, arr):
        root = _storage(arr)
        if self.retained or not isinstance(root, np.ndarray) or id(root) in self.taken:
            return False
        self.taken.add(id(root))
        return True


def _storage(arr):
    while isinstance(arr, np.ndarray) and arr.base is not None:
        arr = arr.base
    return arr


def _accumulate_leaf(leaf, grad, create_graph, adoption):
    for hook in leaf._hooks.values():
        res = hook(grad)
        if res is not None:
            grad = res
    if not create_graph and (grad.grad_fn is not None or grad.requires_grad):
        grad = grad.detach()
    if grad._data.dtype != leaf._data.dtype:
        grad = grad.to(leaf.dtype)
    if leaf.grad is None:
        if create_graph or adoption.take(grad._data):
            leaf.grad = grad
        else:
            with no_grad():
                leaf.grad = grad.clone()
    else:
        leaf.grad = leaf.grad + grad if create_graph else _inplace_sum(leaf.grad, grad)
    for hook in leaf._post_accumulate_hooks.values():
        hook(leaf)


def _inplace_sum(acc, grad):
    acc._data = acc._data + grad._data
    return acc
