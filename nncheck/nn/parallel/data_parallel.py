"""DataParallel: the batch split over worker threads, the gradients summed into one module.

nncheck computes on the CPU, so a "device" of ``device_ids`` is a worker thread; the
kernels release the GIL, so the chunks of a batch run at the same time.  Each worker
runs a replica whose parameters are the original ``Parameter`` objects: every replica's
graph ends in the same leaves, and the single backward on the gathered output (in the
caller's thread, one engine run) accumulates all chunks' gradients into the original
module.  Replica 0 also shares the buffers, so in-place buffer updates on it are kept,
as PyTorch keeps those of ``device_ids[0]``; the other replicas work on copies.
"""

import numbers
import os
import threading
import warnings
from collections import OrderedDict

from ... import _dtype as dt
from ...autograd.grad_mode import is_grad_enabled, set_grad_enabled
from ...shapes import infer, note
from ...tensor import Tensor, cat
from ..modules.module import Module


def _device_index(device, what):
    """A device id as an int: ints as they are, ``'cpu:1'``/``device('cuda', 1)`` by index."""
    if isinstance(device, numbers.Integral) and not isinstance(device, bool):
        if device < 0:
            raise ValueError(f"DataParallel: {what} must be non-negative device ids, got {device}")
        return int(device)
    if isinstance(device, str):  # split here: _dtype.device('cpu:1') trips on a shadowed int()
        kind, _, index = device.partition(":")
        device = dt.device(kind, int(index) if index else None)
    if isinstance(device, dt.device):
        return device.index or 0
    raise TypeError(f"DataParallel: {what} must hold ints or devices, got "
                    f"{type(device).__name__} {device!r}")


def _worker_count():
    """The number of CPUs this process may run on: the default number of workers."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _is_namedtuple(obj):
    return isinstance(obj, tuple) and hasattr(obj, "_asdict") and hasattr(obj, "_fields")


def _chunk(tensor, n, dim):
    if tensor.ndim == 0:
        raise ValueError(f"DataParallel: cannot scatter a 0-dim tensor along dim {dim}; give "
                         "inputs with a batch dimension")
    d = tensor._dim(dim)
    if tensor.shape[d] == 0:  # as torch.chunk: every device gets an empty chunk
        return [tensor.narrow(d, 0, 0) for _ in range(n)]
    return list(tensor.chunk(n, d))


def scatter(inputs, target_gpus, dim=0):
    """Per device: tensors chunked along ``dim``, tuples/lists/dicts rebuilt around the
    chunks, any other object passed by reference (``torch.nn.parallel.scatter``)."""

    def scatter_map(obj):
        if isinstance(obj, Tensor):
            return _chunk(obj, len(target_gpus), dim)
        if _is_namedtuple(obj):
            return [type(obj)(*args) for args in zip(*map(scatter_map, obj))]
        if isinstance(obj, tuple) and obj:
            return list(zip(*map(scatter_map, obj)))
        if isinstance(obj, list) and obj:
            return [list(i) for i in zip(*map(scatter_map, obj))]
        if isinstance(obj, dict) and obj:
            return [type(obj)(i) for i in zip(*map(scatter_map, obj.items()))]
        return [obj for _ in target_gpus]

    return scatter_map(inputs)


def scatter_kwargs(inputs, kwargs, target_gpus, dim=0):
    """Scatter positional and keyword arguments to the same number of devices.

    A batch smaller than the device count gives fewer chunks; the other side is cut
    to match (or, when empty, padded with ``()``/``{}``).
    """
    scattered_inputs = scatter(inputs, target_gpus, dim) if inputs else []
    scattered_kwargs = scatter(kwargs, target_gpus, dim) if kwargs else []
    if scattered_inputs and scattered_kwargs:
        n = min(len(scattered_inputs), len(scattered_kwargs))
        del scattered_inputs[n:], scattered_kwargs[n:]
    n = max(len(scattered_inputs), len(scattered_kwargs))
    scattered_inputs.extend(() for _ in range(n - len(scattered_inputs)))
    scattered_kwargs.extend({} for _ in range(n - len(scattered_kwargs)))
    return tuple(scattered_inputs), tuple(scattered_kwargs)


def _copy_buffer(buf, detach):
    if buf is None:
        return None
    if buf.requires_grad and not detach:
        return buf.clone()
    return Tensor._wrap(buf._data.copy())


def replicate(network, devices, detach=False):
    """One shallow copy of ``network`` per device.

    The replicas hold the original ``Parameter`` objects (gradients reach the original
    module directly); replica 0 shares the buffers, the others get copies, so that
    concurrent in-place buffer updates never touch the same memory.
    """
    modules = list(network.modules())
    for m in modules:  # the replicas share these leaves: make their graph nodes in one thread
        for t in (*m._parameters.values(), *m._buffers.values()):
            if t is not None and t.requires_grad:
                t._grad_node()
    replicas = []
    for j in range(len(devices)):
        copies = {}
        for m in modules:
            state = m.__dict__.copy()
            state["_parameters"] = OrderedDict(m._parameters)
            state["_buffers"] = OrderedDict(
                (k, b if j == 0 else _copy_buffer(b, detach)) for k, b in m._buffers.items())
            state["_modules"] = OrderedDict(m._modules)
            replica = type(m).__new__(type(m))
            object.__setattr__(replica, "__dict__", state)
            copies[id(m)] = replica
        for replica in copies.values():
            for name, child in replica._modules.items():
                replica._modules[name] = None if child is None else copies[id(child)]
        replicas.append(copies[id(network)])
    return replicas


def parallel_apply(modules, inputs, kwargs_tup=None, devices=None):
    """Run ``modules[i](*inputs[i], **kwargs_tup[i])`` concurrently, one thread per module.

    Module 0 runs in the calling thread.  Grad mode is thread-local, so each worker
    takes the caller's.  An exception in a replica is re-raised here, with a note saying
    which replica raised it.
    """
    n = len(modules)
    if len(inputs) != n:
        raise ValueError(f"parallel_apply: {n} modules but {len(inputs)} inputs")
    kwargs_tup = [{}] * n if kwargs_tup is None else list(kwargs_tup)
    devices = list(range(n)) if devices is None else list(devices)
    if len(kwargs_tup) != n or len(devices) != n:
        raise ValueError(f"parallel_apply: {n} modules but {len(kwargs_tup)} kwargs and "
                         f"{len(devices)} devices")
    grad_enabled = is_grad_enabled()
    results, errors = [None] * n, [None] * n

    def work(i):
        args = inputs[i] if isinstance(inputs[i], (list, tuple)) else (inputs[i],)
        try:
            with set_grad_enabled(grad_enabled):
                results[i] = modules[i](*args, **kwargs_tup[i])
        except Exception as exc:  # re-raised in the caller's thread below
            errors[i] = exc

    threads = [threading.Thread(target=work, args=(i,), name=f"nncheck-replica-{i}")
               for i in range(1, n)]
    for thread in threads:
        thread.start()
    work(0)
    for thread in threads:
        thread.join()
    for i, exc in enumerate(errors):
        if exc is not None:
            exc.add_note(f"(raised in DataParallel replica {i} on device {devices[i]})")
            raise exc
    return results


def _gather_tensors(tensors, dim):
    if all(t.ndim == 0 for t in tensors):
        warnings.warn("Was asked to gather along dimension 0, but all input tensors were "
                      "scalars; will instead unsqueeze and return a vector.", stacklevel=3)
        tensors = [t.reshape(1) for t in tensors]
    return cat(tensors, dim)


def gather(outputs, target_device, dim=0):
    """Combine per-device outputs: tensors concatenated along ``dim``, containers rebuilt
    (``torch.nn.parallel.gather``; every device is the CPU, so ``target_device`` only names
    where the result is reported to be)."""

    def gather_map(outs):
        out = outs[0]
        if isinstance(out, Tensor):
            return _gather_tensors(outs, dim)
        if out is None:
            return None
        if isinstance(out, dict):
            if not all(len(out) == len(d) for d in outs):
                raise ValueError("All dicts must have the same number of keys")
            return type(out)((k, gather_map([d[k] for d in outs])) for k in out)
        if _is_namedtuple(out):
            return type(out)._make(map(gather_map, zip(*outs)))
        return type(out)(map(gather_map, zip(*outs)))

    return gather_map(outputs)


class DataParallel(Module):
    """Data parallelism over CPU worker threads (``torch.nn.DataParallel``).

    ``device_ids`` lists the workers (default: one per CPU this process may use); the
    batch is chunked along ``dim`` over them, other arguments are passed to every
    replica (containers rebuilt around the chunks, other objects shared), and the
    outputs are concatenated along ``dim``.  With fewer than two workers the module runs
    directly.
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0):
        super().__init__()
        if not isinstance(dim, numbers.Integral) or isinstance(dim, bool):
            raise TypeError(f"DataParallel: dim must be an int, got {type(dim).__name__}")
        if device_ids is None:
            device_ids = range(_worker_count())
        self.module = module
        self.device_ids = [_device_index(d, "device_ids") for d in device_ids]
        self.dim = int(dim)
        if output_device is None:
            self.output_device = self.device_ids[0] if self.device_ids else None
        else:
            self.output_device = _device_index(output_device, "output_device")

    def forward(self, *inputs, **kwargs):
        if len(self.device_ids) < 2:
            return self.module(*inputs, **kwargs)
        inputs, kwargs = scatter_kwargs(inputs, kwargs, self.device_ids, self.dim)
        if not inputs:  # no arguments at all: run once, on the first worker
            inputs, kwargs = ((),), ({},)
        used = self.device_ids[:len(inputs)]
        replicas = replicate(self.module, used, not is_grad_enabled())
        outputs = parallel_apply(replicas, inputs, kwargs, used)
        return gather(outputs, self.output_device, dim=self.dim)

    def infer_shape(self, *input_shapes, explain=None):
        """The module's shapes (chunks are concatenated back), except that a scalar output
        becomes a vector of one value per chunk."""
        shapes = infer(self.module, input_shapes, explain)
        n = len(self.device_ids)
        if n < 2 or not input_shapes or not input_shapes[0]:
            return tuple(shapes)
        size = input_shapes[0][self.dim]
        step = -(-size // n)
        chunks = n if size == 0 else -(-size // step)
        note(explain, f"DataParallel: dim {self.dim} (size {size}) split into {chunks} chunk(s) "
                      f"of at most {step} over {n} workers, outputs concatenated along dim "
                      f"{self.dim}")
        return tuple(tuple(s) if s else (chunks,) for s in shapes)


def data_parallel(module, inputs, device_ids=None, output_device=None, dim=0, module_kwargs=None):
    """Functional form of ``DataParallel``: ``module(*inputs)`` with the batch split."""
    if not isinstance(inputs, tuple):
        inputs = (inputs,) if inputs is not None else ()
    return DataParallel(module, device_ids, output_device, dim)(*inputs, **(module_kwargs or {}))


__all__ = ["DataParallel", "data_parallel", "gather", "parallel_apply", "replicate", "scatter",
           "scatter_kwargs"]
