"""DistributedDataParallel: one process per rank, gradients averaged over MPI during backward.

Construction broadcasts rank 0's parameters and buffers.  Every parameter gets a
post-accumulate-grad hook: once the engine has written its gradient, the gradient is
copied into its bucket, and a bucket whose parameters are all ready is all-reduced
(non-blocking) at once, buckets always in the same order on every rank.  When the last
bucket has been started the reducer waits for all of them and writes the averages back
into ``.grad``.  Buckets hold the parameters in reverse registration order, roughly the
order in which backward produces their gradients, so communication overlaps the rest of
the backward pass.
"""

import contextlib
import functools
import weakref
import zlib

from ... import distributed as dist
from ..._lazy import np
from ...autograd.engine import _topological_order
from ...autograd.function import AccumulateGrad
from ...autograd.grad_mode import is_grad_enabled
from ...shapes import infer
from ...tensor import Tensor
from ..modules.module import Module, _flat_tensors

_FIRST_BUCKET_BYTES = 1024 * 1024  # a small first bucket starts communicating early
_DEFAULT_BUCKET_MB = 25


def _assign_buckets(params, cap_bytes):
    """Indices of ``params`` grouped into buckets: reverse order, one wire dtype each,
    closed once they reach the byte cap (the first one at min(1 MiB, cap))."""
    buckets, open_buckets = [], {}
    for i in reversed(range(len(params))):
        wire = dist._wire_dtype(params[i]._data.dtype)
        bucket = open_buckets.setdefault(wire, [[], 0])
        bucket[0].append(i)
        bucket[1] += params[i].numel() * wire.itemsize
        if bucket[1] >= (min(_FIRST_BUCKET_BYTES, cap_bytes) if not buckets else cap_bytes):
            buckets.append(bucket[0])
            del open_buckets[wire]
    buckets.extend(indices for indices, _ in open_buckets.values())
    return buckets


def _reachable_leaves(output):
    """ids of the leaf tensors that the graph of ``output`` reaches."""
    tensors = _flat_tensors(output)
    leaves = {id(t) for t in tensors if t.requires_grad and t.grad_fn is None}
    nodes = _topological_order([t.grad_fn for t in tensors if t.grad_fn is not None])
    return leaves | {id(n.variable) for n in nodes if isinstance(n, AccumulateGrad)}


class _Bucket:
    """A flat buffer holding the gradients of some parameters, all-reduced in one call."""

    def __init__(self, indices, params):
        self.indices = indices
        self.offsets = np.cumsum([0] + [params[i].numel() for i in indices])
        wire = dist._wire_dtype(params[indices[0]]._data.dtype)
        self.buffer = np.zeros(int(self.offsets[-1]), wire)
        self.pending = len(indices)

    def slot(self, pos):
        return self.buffer[self.offsets[pos]:self.offsets[pos + 1]]


def _on_grad_ready(reducer_ref, index, param):
    reducer = reducer_ref()
    if reducer is not None:
        reducer.grad_ready(index)


def _remove_handles(handles):
    for handle in handles:
        handle.remove()


class _Reducer:
    """The state of one iteration's gradient reduction, driven by the parameters' hooks."""

    def __init__(self, params, names, bucket_indices, comm, find_unused):
        self.params, self.names, self.comm, self.find_unused = params, names, comm, find_unused
        self.buckets = [_Bucket(indices, params) for indices in bucket_indices]
        self.where = {i: (b, pos) for b in self.buckets for pos, i in enumerate(b.indices)}
        self.active = self.hooked = False
        self.ready, self.requests, self.next_bucket, self.used = [], [], 0, None
        handles = [p.register_post_accumulate_grad_hook(
            functools.partial(_on_grad_ready, weakref.ref(self), i)) for i, p in enumerate(params)]
        weakref.finalize(self, _remove_handles, handles)

    def prepare(self, output):
        """After a forward that will sync: expect one gradient per parameter."""
        self.ready = [False] * len(self.params)
        for bucket in self.buckets:
            bucket.pending = len(bucket.indices)
        self.requests, self.next_bucket, self.used = [], 0, None
        self.active, self.hooked = True, False
        if self.find_unused:
            reached = _reachable_leaves(output)
            self.used = np.array([id(p) in reached for p in self.params], np.int32)
            MPI = dist._mpi()
            self.requests.append(self.comm.Iallreduce(MPI.IN_PLACE, self.used, MPI.MAX))
            for i in np.flatnonzero(self.used == 0):
                self._mark_ready(int(i))

    def _mark_ready(self, i):
        if self.ready[i]:
            raise RuntimeError(
                f"DistributedDataParallel: parameter '{self.names[i]}' got its gradient twice "
                "in one iteration: a second backward went through the graph of one forward. "
                "Run forward again before each backward, or accumulate inside no_sync().")
        self.ready[i] = True
        bucket, pos = self.where[i]
        grad = self.params[i].grad
        bucket.slot(pos)[:] = 0 if grad is None else grad._data.reshape(-1)
        bucket.pending -= 1

    def grad_ready(self, i):
        """A parameter's gradient has been accumulated: start every bucket that can go."""
        if not self.active:  # forward ran under no_grad or no_sync
            return
        self.hooked = True
        self._mark_ready(i)
        MPI = dist._mpi()
        while self.next_bucket < len(self.buckets) and self.buckets[self.next_bucket].pending == 0:
            buffer = self.buckets[self.next_bucket].buffer
            self.requests.append(self.comm.Iallreduce(MPI.IN_PLACE, buffer, MPI.SUM))
            self.next_bucket += 1
        if self.next_bucket == len(self.buckets):
            self._finish()

    def _finish(self):
        dist._mpi().Request.Waitall(self.requests)
        world = self.comm.Get_size()
        for bucket in self.buckets:
            bucket.buffer /= world
            for pos, i in enumerate(bucket.indices):
                if self.used is None or self.used[i]:  # a parameter no rank used keeps its grad
                    _write_grad(self.params[i], bucket.slot(pos))
        self.active, self.requests = False, []

    def settle(self):
        """Before a forward: close the previous iteration; fail if its backward stopped short."""
        if not self.active:
            return
        dist._mpi().Request.Waitall(self.requests)
        self.active, self.requests = False, []
        if self.hooked:
            missing = [n for n, ready in zip(self.names, self.ready) if not ready]
            raise RuntimeError(
                "DistributedDataParallel: expected to have finished reduction in the prior "
                "iteration before starting a new one, but these parameters received no "
                f"gradient in the last backward: {', '.join(missing)}. Make every parameter "
                "take part in computing the loss, or pass find_unused_parameters=True.")


def _write_grad(param, values):
    values = values.reshape(param._data.shape)
    grad = param.grad
    if grad is None or grad._data.shape != values.shape or not grad._data.flags.writeable:
        param.grad = Tensor._wrap(values.astype(param._data.dtype))
    else:
        np.copyto(grad._data, values, casting="unsafe")
        grad._version.value += 1


def _verify_same_model(pg, module, with_buffers):
    """Fail on every rank if any rank's parameters (and synced buffers) differ in name,
    shape or dtype from rank 0's: the broadcasts would silently mix up tensors."""
    tensors = list(module.named_parameters())
    if with_buffers:
        tensors += list(module.named_buffers())
    layout = repr([(name, tuple(t.shape), str(t.dtype)) for name, t in tensors])
    mine = np.array([zlib.crc32(layout.encode())], np.int64)
    every = np.empty(pg.size(), np.int64)
    pg.comm.Allgather(mine, every)
    differ = [r for r in range(pg.size()) if every[r] != every[0]]
    if differ:
        raise RuntimeError(
            f"DistributedDataParallel: rank(s) {differ} hold parameters or buffers whose "
            "names, shapes or dtypes differ from rank 0's; every rank must wrap the same model")


class DistributedDataParallel(Module):
    """Data parallelism over MPI ranks (``torch.nn.parallel.DistributedDataParallel``).

    Each rank runs the module on its own part of the data; backward averages the
    gradients over the ranks, so every rank ends with the gradient of the whole batch's
    mean loss.  Needs ``nncheck.distributed.init_process_group()`` first.
    ``gradient_as_bucket_view`` and ``static_graph`` are accepted and change nothing:
    gradients are always copied into the buckets and the graph is re-read every
    iteration.
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0,
                 broadcast_buffers=True, init_sync=True, process_group=None, bucket_cap_mb=None,
                 find_unused_parameters=False, gradient_as_bucket_view=False,
                 static_graph=False):
        super().__init__()
        pg = dist._group(process_group)
        named = [(name, p) for name, p in module.named_parameters() if p.requires_grad]
        if not named:
            raise RuntimeError("DistributedDataParallel is not needed when a module doesn't "
                               "have any parameter that requires a gradient.")
        if device_ids is not None and len(device_ids) > 1:
            raise ValueError("device_ids can only be None or contain a single element.")
        if device_ids or output_device is not None:
            raise ValueError(
                f"DistributedDataParallel: device_ids and output_device must be None for a CPU "
                f"module (each rank is one process: start one per device with mpiexec), got "
                f"device_ids={device_ids}, output_device={output_device}")
        cap_mb = _DEFAULT_BUCKET_MB if bucket_cap_mb is None else bucket_cap_mb
        if not cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be positive, got "
                             f"{bucket_cap_mb}")
        self.module = module
        self.device_ids = self.output_device = None
        self.dim = dim
        self.broadcast_buffers = bool(broadcast_buffers)
        self.find_unused_parameters = bool(find_unused_parameters)
        self.gradient_as_bucket_view = gradient_as_bucket_view
        self.static_graph = static_graph
        self.process_group = pg
        self.bucket_bytes_cap = max(1, int(cap_mb * 1024 * 1024))
        self.require_backward_grad_sync = self.require_forward_param_sync = True
        _verify_same_model(pg, module, self.broadcast_buffers)
        if init_sync:
            synced = list(module.parameters())
            if self.broadcast_buffers:
                synced += list(module.buffers())
            dist._broadcast_coalesced(synced, 0, pg)
        params = [p for _, p in named]
        self._reducer = _Reducer(params, [name for name, _ in named],
                                 _assign_buckets(params, self.bucket_bytes_cap), pg.comm,
                                 self.find_unused_parameters)

    def forward(self, *inputs, **kwargs):
        self._reducer.settle()
        if self.broadcast_buffers and self.require_forward_param_sync:
            buffers = list(self.module.buffers())
            if buffers:
                dist._broadcast_coalesced(buffers, 0, self.process_group)
        output = self.module(*inputs, **kwargs)
        sync = is_grad_enabled() and self.require_backward_grad_sync
        self.require_forward_param_sync = sync
        if sync:
            self._reducer.prepare(output)
        return output

    @contextlib.contextmanager
    def no_sync(self):
        """Forwards inside accumulate gradients locally; the first synced backward after
        them averages the accumulated gradients."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    def infer_shape(self, *input_shapes, explain=None):
        return tuple(infer(self.module, input_shapes, explain))


__all__ = ["DistributedDataParallel"]
