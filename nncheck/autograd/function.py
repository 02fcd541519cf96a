"""Graph nodes and ``Function``: how an operation records itself for backward.

Every differentiable operation is a ``Function`` subclass with static
``forward(ctx, ...)`` and ``backward(ctx, *grad_outputs)``.  User functions see
Tensors in both, exactly as in PyTorch.  nncheck's own operations set
``raw = True``: their forward and backward see and return numpy arrays, which
is what the Cython kernels consume, so no Tensor is built inside the hot path.
"""

import functools

from .grad_mode import _state as _grad_state


@functools.cache
def _runtime():
    """(Tensor, numpy), bound on first use: tensor.py imports this module, and the hot
    paths below should not pay for an import statement on every call."""
    from .._lazy import np
    from ..tensor import Tensor

    return Tensor, np


class SavedTensorModifiedError(RuntimeError):
    pass


class FunctionCtx:
    """The ``ctx`` object handed to ``forward``/``backward``.

    Its defaults are class attributes, so that the one made for every op call starts
    empty (an instance attribute is written only when an op sets it).
    """

    _saved = ()
    _saved_versions = ()
    needs_input_grad = ()
    non_differentiable = frozenset()  # ids of outputs; a set of its own once marked
    dirty = frozenset()
    materialize_grads = True
    _name = "Function"

    def save_for_backward(self, *items):
        self._saved = items

    def mark_non_differentiable(self, *outputs):
        self.non_differentiable = self.non_differentiable | {id(o) for o in outputs}

    def mark_dirty(self, *tensors):
        self.dirty = self.dirty | {id(t) for t in tensors}

    def set_materialize_grads(self, value):
        self.materialize_grads = bool(value)

    def _check_versions(self):
        # (version counter, its value when saved, the saved array or tensor): the counter
        # and not the tensor, which for a saved output would hold this node (a reference
        # cycle keeping every activation alive until the garbage collector runs)
        for counter, version, saved in self._saved_versions:
            if counter.value != version:
                Tensor = _runtime()[0]
                tensor = saved if isinstance(saved, Tensor) else Tensor._wrap(saved)
                raise SavedTensorModifiedError(
                    f"one of the variables needed for gradient computation has been modified "
                    f"by an inplace operation: {tensor._describe()} is at version "
                    f"{counter.value}; expected version {version} instead "
                    f"(saved by {self._name})"
                )

    @property
    def saved_tensors(self):
        self._check_versions()
        return self._saved


class Node:
    """A backward node: ``apply(grads) -> grads of its inputs``, with edges to the next nodes."""

    # no hooks: shared empty tuples (the engine iterates them), a list once one registers
    _hooks = ()
    _pre_hooks = ()
    _tensor_hooks = None  # {output index: [hook]}: Tensor.register_hook on a non-leaf
    _retained = None  # {output index: weakref to the tensor}: Tensor.retain_grad
    _freed = False  # backward ran without retain_graph
    n_outputs = 1

    def __init__(self, name, next_functions):
        self._name = name
        self.next_functions = next_functions  # tuple of (Node or None, input index)

    def name(self):
        return self._name

    def register_hook(self, hook):
        if isinstance(self._hooks, tuple):
            self._hooks = []
        self._hooks.append(hook)
        return _RemovableHandle(self._hooks, hook)

    def register_prehook(self, hook):
        if isinstance(self._pre_hooks, tuple):
            self._pre_hooks = []
        self._pre_hooks.append(hook)
        return _RemovableHandle(self._pre_hooks, hook)

    def __repr__(self):
        return f"<{self._name} object>"


class AccumulateGrad(Node):
    """The node behind a leaf tensor: adds incoming gradient into ``leaf.grad``."""

    def __init__(self, variable):
        super().__init__("AccumulateGrad", ())
        self.variable = variable

    def apply(self, grads):
        return ()


class BackwardNode(Node):
    """The node a ``Function.apply`` call leaves in the graph."""

    def __init__(self, fn_cls, ctx, next_functions, n_outputs, output_meta):
        self.next_functions = next_functions
        self.fn_cls = fn_cls
        self.ctx = ctx
        self.n_outputs = n_outputs
        self.output_meta = output_meta  # (shape, np dtype) per output, to materialise zeros

    @property
    def _name(self):  # built when asked (repr, name()), not for every op call
        return self.fn_cls.__name__.lstrip("_") + "Backward0"

    def apply(self, grads):
        Tensor = _runtime()[0]
        ctx, raw = self.ctx, self.fn_cls.raw
        if ctx.materialize_grads:
            for g in grads:
                if g is None:  # (`None in grads` would compare tensors with ==)
                    grads = [_zeros(meta, raw) if g is None else g
                             for g, meta in zip(grads, self.output_meta)]
                    break
        if ctx._saved_versions:
            ctx._check_versions()
        if raw:
            grads = [g._data if isinstance(g, Tensor) else g for g in grads]
            result = self.fn_cls.backward(ctx, *grads)
            if self.fn_cls.keeps_device:
                for meta in self.output_meta:
                    if len(meta) == 3:  # (shape, dtype, namespace of a device output)
                        result = _onto(result, meta[2], _runtime()[1])
                        break
        else:
            grads = [g if g is None or isinstance(g, Tensor) else Tensor._wrap(g) for g in grads]
            result = self.fn_cls.backward(ctx, *grads)
        return self._per_input(result)

    def apply_stacked(self, grads):
        """``apply`` for K cotangents stacked on a new leading axis, for ops whose
        ``backward_stacked`` takes them in one call (gradient checking asks for hundreds);
        the op's ``backward`` is its K = 1 case, so both run the same kernels."""
        self.ctx._check_versions()
        return self._per_input(self.fn_cls.backward_stacked(self.ctx, *grads))

    def _per_input(self, result):
        """One gradient (or None) per input edge, as ``backward`` may return fewer."""
        if not isinstance(result, tuple):
            result = (result,)
        n_in = len(self.next_functions)
        if len(result) == n_in:
            return result
        if len(result) < n_in:
            result = result + (None,) * (n_in - len(result))
        if len(result) > n_in and any(r is not None for r in result[n_in:]):
            raise RuntimeError(
                f"function {self.fn_cls.__name__}.backward returned an incorrect number of "
                f"gradients (expected {n_in}, got {len(result)})"
            )
        return tuple(result[:n_in])


_host_array = None  # numpy.ndarray, once an op has run on host arrays
_PLAIN_ARGS = frozenset((int, float, bool, str, tuple, type(None)))  # never device arrays


def _device_namespace(arrays, np):
    """The array namespace of the first device array among ``arrays``; None if all are host."""
    for a in arrays:
        if a.__class__ is not np.ndarray and hasattr(a, "__nncheck_backend__"):
            from ..backend import array_namespace

            return array_namespace(a)
    return None


def _onto(result, xp, np):
    """An op's results with host arrays moved to the device of ``xp``: generic ops compute
    device tensors on the host (numpy), and their results belong where their inputs are."""
    if isinstance(result, np.ndarray):
        return xp.ascontiguousarray(result)
    if isinstance(result, tuple):
        return tuple(_onto(r, xp, np) for r in result)
    return result


def _output_meta(w, Tensor, np):
    """(shape, dtype[, array namespace of its device]) of an output, to materialise zeros."""
    if not isinstance(w, Tensor):
        return (), None
    data = w._data
    if data.__class__ is np.ndarray:
        return data.shape, data.dtype
    from ..backend import array_namespace

    return data.shape, data.dtype, array_namespace(data)


def _zeros(meta, raw):
    Tensor, np = _runtime()
    shape, dt, *xp = meta
    arr = (xp[0] if xp else np).zeros(shape, dt)
    return arr if raw else Tensor._wrap(arr)


class _RemovableHandle:
    _next_id = 0

    def __init__(self, container, item):
        self._container = container
        self._item = item
        _RemovableHandle._next_id += 1
        self.id = _RemovableHandle._next_id

    def remove(self):
        if isinstance(self._container, dict):
            self._container.pop(self._item, None)
        elif self._item in self._container:
            self._container.remove(self._item)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


class FunctionMeta(type):
    pass


class Function(metaclass=FunctionMeta):
    """Base class of differentiable operations (``torch.autograd.Function``)."""

    raw = False
    keeps_device = True  # results live on the inputs' device (ToDevice: False)

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("a Function subclass must define forward (abstract)")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("a Function subclass must define backward (abstract)")

    @classmethod
    def apply(cls, *args, **kwargs):
        global _host_array
        Tensor, np = _runtime()
        raw = cls.raw
        # one pass over the arguments (this runs for every op of every model step)
        tensors, call_args, needs = [], [], []
        any_needs = other_storage = False  # other: a device array or a meta tensor
        for a in args:
            if isinstance(a, Tensor):
                tensors.append(a)
                call_args.append(a._data if raw else a)
                needs.append(a.requires_grad)
                any_needs = any_needs or a.requires_grad
                other_storage = other_storage or a._data.__class__ is not _host_array
            else:
                tensors.append(None)
                call_args.append(a)
                needs.append(False)
                # (a raw op may take a device array as a plain argument)
                other_storage = other_storage or (a.__class__ not in _PLAIN_ARGS
                                                  and hasattr(a, "__nncheck_backend__"))
        xp = None
        if other_storage:
            if any(t is not None and t.is_meta for t in tensors):
                from .._meta_ops import apply_on_meta  # shapes only, or "cannot compute"

                return apply_on_meta(cls, args, kwargs)
            _host_array = np.ndarray  # (not before: meta tensors never import numpy)
            xp = _device_namespace(call_args, np) if raw and cls.keeps_device else None
            if xp is not None:
                from ..backend import check_same_device

                check_same_device([t._data for t in tensors if t is not None and t.ndim])
        ctx = FunctionCtx()
        ctx.needs_input_grad = tuple(needs)
        # no_grad() inlined: the context object cost more than many small ops' kernels
        prev = getattr(_grad_state, "enabled", True)  # (thread-local: unset in a new thread)
        record = prev and any_needs
        _grad_state.enabled = False
        try:
            out = cls.forward(ctx, *call_args, **kwargs)
        finally:
            _grad_state.enabled = prev
        if xp is not None:
            out = _onto(out, xp, np)
        single = not isinstance(out, tuple)
        outs = (out,) if single else out
        wrapped = [Tensor._wrap(o) if o.__class__ is _host_array
                   else _wrap_output(o, tensors, ctx, Tensor, np) for o in outs]
        if not record:  # no node: nothing will read the saved versions (nor the name)
            return wrapped[0] if single else tuple(wrapped)

        ctx._name = cls.__name__
        if raw:
            if ctx._saved:  # (many ops save nothing: Add, Cat, Reshape, Index, ...)
                ctx._saved_versions = _versions_of(ctx._saved, tensors, wrapped, Tensor)
        else:
            ctx._saved_versions = tuple(
                (t._version, t._version.value, t) for t in ctx._saved if isinstance(t, Tensor)
            )
        edges = tuple([
            (t._grad_node(), t._output_nr) if (t is not None and t.requires_grad) else (None, 0)
            for t in tensors
        ])
        meta = tuple([(w._data.shape, w._data.dtype) if w.__class__ is Tensor
                      and w._data.__class__ is _host_array else _output_meta(w, Tensor, np)
                      for w in wrapped])
        node = BackwardNode(cls, ctx, edges, len(wrapped), meta)
        skip = ctx.non_differentiable
        for i, w in enumerate(wrapped):
            if not isinstance(w, Tensor) or (skip and id(outs[i]) in skip):
                continue
            if w._data.dtype.kind not in "fc":  # (a meta storage never gets here)
                continue
            w.requires_grad = True
            w.grad_fn = node
            w._output_nr = i
        return wrapped[0] if single else tuple(wrapped)


def _wrap_output(o, input_tensors, ctx, Tensor, np):
    if isinstance(o, np.ndarray) or hasattr(o, "__nncheck_backend__"):
        return Tensor._wrap(o)
    if isinstance(o, Tensor):
        # a user forward that returns one of its inputs gets a new tensor on the same storage
        if any(o is t for t in input_tensors if t is not None) and id(o) not in ctx.dirty:
            return Tensor._wrap(o._data, base=o)
        return Tensor._wrap(o._data, base=o._base, version=o._version)
    if np.isscalar(o):
        return Tensor._wrap(np.asarray(o))
    return o


def _versions_of(saved, input_tensors, outputs, Tensor):
    """Map saved arrays back to the input/output tensors they came from, with their versions."""
    pool = [t for t in input_tensors if t is not None]
    pool += [o for o in outputs if isinstance(o, Tensor)]
    found = []
    for item in saved:
        for t in pool:
            if t._data is item:
                found.append((t._version, t._version.value, item))
                break
    return tuple(found)
