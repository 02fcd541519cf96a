"""``nncheck.distributed``: torch.distributed's process-group API on MPI, through mpi4py.

Start one process per rank with ``mpiexec -n N python script.py``; ``init_process_group()``
reads rank and world size from MPI.  Collectives work in place on the tensors' numpy
buffers with mpi4py's buffer calls (Iallreduce/Ibcast/Iallgather), so a tensor is never
pickled.  ``distributed_gradcheck`` shards a numerical gradient check over the ranks.

``pip install "nncheck[mpi]"`` brings mpi4py and the ``mpich`` wheel, which provides
``mpiexec`` beside the Python executable; no system MPI is needed.
"""

import enum
import importlib.util

from . import random as _random
from ._lazy import np
from .autograd import checker
from .autograd.checker import _share
from .tensor import Tensor

_NOT_INITIALIZED = (
    "Default process group has not been initialized, please make sure to call "
    "init_process_group."
)


class ReduceOp(enum.IntEnum):
    """Reductions of ``all_reduce`` (``torch.distributed.ReduceOp``)."""

    SUM = 0
    AVG = 1
    PRODUCT = 2
    MIN = 3
    MAX = 4
    BAND = 5
    BOR = 6
    BXOR = 7


class Backend:
    """Backend names; nncheck has one, MPI."""

    MPI = "mpi"


class ProcessGroup:
    """The world group: a duplicate of MPI's COMM_WORLD, so user MPI traffic never mixes in."""

    def __init__(self, comm):
        self.comm = comm

    def rank(self):
        return self.comm.Get_rank()

    def size(self):
        return self.comm.Get_size()

    def __repr__(self):
        return f"ProcessGroup(backend='mpi', rank={self.rank()}, size={self.size()})"


class Work:
    """Handle of a collective started with ``async_op=True``; ``wait()`` completes it."""

    def __init__(self, request, finish):
        self._request = request
        self._finish = finish

    def _complete(self):
        if self._finish is not None:
            finish, self._finish = self._finish, None
            finish()

    def wait(self, timeout=None):
        self._request.Wait()
        self._complete()
        return True

    def is_completed(self):
        if self._finish is not None and self._request.Test():
            self._complete()
        return self._finish is None


_world = None


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise RuntimeError(
            "nncheck.distributed needs mpi4py and an MPI library: pip install 'nncheck[mpi]' "
            "(mpi4py plus the mpich wheel, which provides mpiexec), then launch with "
            "'mpiexec -n N python script.py'"
        ) from exc
    return MPI


def is_available():
    return True


def is_mpi_available():
    return importlib.util.find_spec("mpi4py") is not None


def is_initialized():
    return _world is not None


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1,
                       store=None, group_name="", pg_options=None, device_id=None):
    """Join the process group that ``mpiexec`` started (``torch.distributed.init_process_group``).

    MPI has already done the rendezvous, so ``init_method``, ``store`` and ``timeout`` are
    accepted for compatibility and unused; ``world_size`` and ``rank``, when given, must
    agree with what ``mpiexec`` launched.
    """
    global _world
    if backend is not None and str(backend).lower() != Backend.MPI:
        raise ValueError(
            f"init_process_group: nncheck.distributed has only the 'mpi' backend, got "
            f"backend={backend!r}"
        )
    if _world is not None:
        raise ValueError("trying to initialize the default process group twice!")
    comm = _mpi().COMM_WORLD.Dup()
    size, my_rank = comm.Get_size(), comm.Get_rank()
    problem = None
    if world_size not in (None, -1) and world_size != size:
        problem = (f"world_size={world_size} but MPI started {size} process(es); launch with "
                   f"'mpiexec -n {world_size} python ...'")
    elif rank not in (None, -1) and rank != my_rank:
        problem = f"rank={rank} but MPI gave this process rank {my_rank}"
    if problem:
        comm.Free()
        raise ValueError(f"init_process_group: {problem}")
    _world = ProcessGroup(comm)


def destroy_process_group(group=None):
    global _world
    pg = _group(group)
    pg.comm.Free()
    _world = None


def _group(group):
    if _world is None:
        raise ValueError(_NOT_INITIALIZED)
    if group is None or group is _world:
        return _world
    raise ValueError(f"nncheck.distributed has only the default (world) process group, got "
                     f"{group!r}")


def get_rank(group=None):
    return _group(group).rank()


def get_world_size(group=None):
    return _group(group).size()


def get_backend(group=None):
    _group(group)
    return Backend.MPI


# ---------------------------------------------------------------------- buffers
def _wire_dtype(dtype):
    """The dtype a buffer travels in: MPI has no float16, and bool reduces as uint8."""
    dtype = np.dtype(dtype)
    if dtype == np.float16:
        return np.dtype(np.float32)
    if dtype == np.bool_:
        return np.dtype(np.uint8)
    return dtype


def _buffer(tensor):
    """A C-contiguous array of the tensor's values that MPI can read and write."""
    arr = tensor._data
    wire = _wire_dtype(arr.dtype)
    if arr.dtype == wire and arr.flags.c_contiguous and arr.flags.writeable:
        return arr
    return np.ascontiguousarray(arr, dtype=wire)


def _store(tensor, values):
    """Write received values back into the tensor's storage (a no-op when MPI wrote it)."""
    if values is not tensor._data:
        np.copyto(tensor._data, values.reshape(tensor._data.shape), casting="unsafe")
    tensor._version.value += 1


def _check_tensor(name, tensor):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(tensor).__name__}")


def _run(request, finish, async_op):
    work = Work(request, finish)
    if async_op:
        return work
    work.wait()
    return None


def _mpi_op(MPI, op, dtype, world):
    """The MPI reduction for ``op`` on ``dtype``, and the divisor AVG applies afterwards."""
    kind = np.dtype(dtype).kind
    if op == ReduceOp.AVG:
        if kind not in "fc":
            raise TypeError(f"all_reduce: ReduceOp.AVG needs a floating point or complex tensor, "
                            f"got dtype {np.dtype(dtype)}")
        return MPI.SUM, world
    if op in (ReduceOp.MIN, ReduceOp.MAX) and kind == "c":
        raise TypeError(f"all_reduce: {op.name} is not defined for complex tensors")
    if op in (ReduceOp.BAND, ReduceOp.BOR, ReduceOp.BXOR) and kind not in "iub":
        raise TypeError(f"all_reduce: {op.name} needs an integer or bool tensor, got dtype "
                        f"{np.dtype(dtype)}")
    if kind == "b":  # bool sums as logical or, multiplies as logical and
        op = {ReduceOp.SUM: ReduceOp.MAX, ReduceOp.PRODUCT: ReduceOp.MIN}.get(op, op)
    table = {ReduceOp.SUM: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD, ReduceOp.MIN: MPI.MIN,
             ReduceOp.MAX: MPI.MAX, ReduceOp.BAND: MPI.BAND, ReduceOp.BOR: MPI.BOR,
             ReduceOp.BXOR: MPI.BXOR}
    return table[op], 1


# ---------------------------------------------------------------------- collectives
def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``tensor`` over all ranks, in place, on every rank."""
    pg = _group(group)
    _check_tensor("all_reduce", tensor)
    if not isinstance(op, ReduceOp):
        raise TypeError(f"all_reduce: op must be a ReduceOp, got {op!r}")
    MPI = _mpi()
    mpi_op, divisor = _mpi_op(MPI, op, tensor._data.dtype, pg.size())
    buf = _buffer(tensor)
    request = pg.comm.Iallreduce(MPI.IN_PLACE, buf, mpi_op)

    def finish():
        if divisor != 1:
            np.divide(buf, divisor, out=buf)
        _store(tensor, buf)

    return _run(request, finish, async_op)


def _check_rank(name, what, value, size):
    if not isinstance(value, (int, np.integer)) or not 0 <= value < size:
        raise ValueError(f"{name}: {what}={value!r} is not a rank of the group (ranks 0.."
                         f"{size - 1})")


def broadcast(tensor, src=0, group=None, async_op=False, group_src=None):
    """Copy rank ``src``'s ``tensor`` into ``tensor`` on every other rank."""
    pg = _group(group)
    _check_tensor("broadcast", tensor)
    src = src if group_src is None else group_src
    _check_rank("broadcast", "src", src, pg.size())
    buf = _buffer(tensor)
    request = pg.comm.Ibcast(buf, root=int(src))
    receiving = pg.rank() != src
    return _run(request, (lambda: _store(tensor, buf)) if receiving else None, async_op)


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """Fill ``tensor_list[r]`` with rank r's ``tensor``, on every rank."""
    pg = _group(group)
    _check_tensor("all_gather", tensor)
    if not isinstance(tensor_list, (list, tuple)) or len(tensor_list) != pg.size():
        got = len(tensor_list) if isinstance(tensor_list, (list, tuple)) else type(tensor_list)
        raise ValueError(f"all_gather: tensor_list must hold one tensor per rank "
                         f"({pg.size()}), got {got}")
    for i, out in enumerate(tensor_list):
        _check_tensor(f"all_gather: tensor_list[{i}]", out)
        if out.shape != tensor.shape or out.dtype != tensor.dtype:
            raise ValueError(
                f"all_gather: tensor_list[{i}] has shape {list(out.shape)} and dtype "
                f"{out.dtype}; expected the input's shape {list(tensor.shape)} and dtype "
                f"{tensor.dtype}")
    send = _buffer(tensor)
    recv = np.empty((pg.size(),) + send.shape, send.dtype)
    request = pg.comm.Iallgather(send, recv)

    def finish():
        for out, values in zip(tensor_list, recv):
            _store(out, values)

    return _run(request, finish, async_op)


def barrier(group=None, async_op=False, device_ids=None):
    """Wait until every rank has reached the barrier."""
    pg = _group(group)
    return _run(pg.comm.Ibarrier(), None, async_op)


def _broadcast_coalesced(tensors, src=0, group=None):
    """Broadcast many tensors with one Bcast per wire dtype (DDP's parameter/buffer sync)."""
    pg = _group(group)
    by_dtype = {}
    for t in tensors:
        by_dtype.setdefault(_wire_dtype(t._data.dtype), []).append(t)
    receiving = pg.rank() != src
    for wire, members in by_dtype.items():
        if receiving:
            flat = np.empty(sum(t.numel() for t in members), wire)
        else:
            flat = np.concatenate([t._data.reshape(-1).astype(wire, copy=False) for t in members])
        pg.comm.Bcast(flat, root=src)
        if receiving:
            offset = 0
            for t in members:
                _store(t, flat[offset:offset + t.numel()])
                offset += t.numel()


# ---------------------------------------------------------------------- gradient checking
def _block_layout(comm, n_rows, width):
    size = comm.Get_size()
    blocks = [_share(n_rows, r, size) for r in range(size)]
    return [len(b) * width for b in blocks], [b.start * width for b in blocks]


def _allgather_rows(comm, local, n_rows, width):
    """Every rank's ``_share`` block of rows (float64), stacked, on every rank."""
    counts, displs = _block_layout(comm, n_rows, width)
    full = np.empty((n_rows, width))
    comm.Allgatherv(np.ascontiguousarray(local, np.float64),
                    [full, counts, displs, _mpi().DOUBLE])
    return full


def _gather_rows(comm, local, n_rows, width, root):
    """Every rank's ``_share`` block of rows (float64), stacked, on ``root``; None elsewhere."""
    counts, displs = _block_layout(comm, n_rows, width)
    full = np.empty((n_rows, width)) if comm.Get_rank() == root else None
    recv = None if full is None else [full, counts, displs, _mpi().DOUBLE]
    comm.Gatherv(np.ascontiguousarray(local, np.float64), recv, root=root)
    return full


def distributed_check_gradients(func, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, progress=None,
                                kinks=True, group=None, root=0):
    """``check_gradients`` scaled out over the ranks (a collective call).

    Every rank checks ``root``'s point: the tensors in ``inputs``, the parameters and
    buffers of a Module ``func`` and the random state are broadcast from ``root`` first.
    The analytic Jacobian's rows (one backward each) are shared out and all-gathered,
    since every rank needs the sparsity of its columns; the numerical Jacobian's
    columns are shared out in contiguous blocks and computed with the checker's own
    (coloured) central differences, then gathered on ``root``, which compares them as
    ``check_gradients`` does and returns the ``GradcheckReport`` (forward and backward
    calls summed over the ranks).  Other ranks return None.
    """
    from .nn.modules.module import Module

    pg = _group(group)
    comm, rank, size = pg.comm, pg.rank(), pg.size()
    _check_rank("distributed_check_gradients", "root", root, size)
    inputs = checker._as_tuple(inputs)
    shared = [t for t in inputs if isinstance(t, Tensor)]
    if isinstance(func, Module):
        shared += list(func.parameters()) + list(func.buffers())
    _broadcast_coalesced(shared, root, pg)
    _random.set_rng_state(comm.bcast(_random.get_rng_state() if rank == root else None, root))
    problem = checker._Problem(func, inputs)
    wrt = [t for _, t in problem.targets]
    in_at, n_out = _offsets(wrt), int(problem.offsets[-1])
    local = np.hstack(problem.analytic(_share(n_out, rank, size)))
    jacobian = _allgather_rows(comm, local, n_out, in_at[-1])
    analytic = [jacobian[:, in_at[ti]:in_at[ti + 1]] for ti in range(len(wrt))]

    mine = _share(in_at[-1], rank, size)
    done = [0]

    def advance(n):
        done[0] += n
        if progress is not None:
            progress(done[0], len(mine))

    columns = checker._numeric_block(problem, analytic, mine, eps, atol, rtol, advance)
    _random.set_rng_state(problem.rng_state)
    numeric = _gather_rows(comm, columns, in_at[-1], n_out, root)
    calls = np.array([problem.forward_calls, problem.backward_calls], np.int64)
    comm.Allreduce(_mpi().IN_PLACE, calls)
    if rank != root:
        return None
    checks = [checker._compare(problem, name, t, analytic[ti],
                               numeric[in_at[ti]:in_at[ti + 1]].T, eps, atol, rtol, kinks)
              for ti, (name, t) in enumerate(problem.targets)]
    _random.set_rng_state(problem.rng_state)
    return checker.GradcheckReport(checks, all(c.passed for c in checks), eps, atol, rtol,
                                   int(calls[0]), int(calls[1]))


def _offsets(tensors):
    return np.concatenate([[0], np.cumsum([t.numel() for t in tensors])]).astype(int)


def distributed_gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3,
                          raise_exception=True, group=None):
    """``gradcheck`` scaled out over the ranks: one verdict, returned (or raised) on every rank."""
    pg = _group(group)
    report = distributed_check_gradients(func, inputs, eps=eps, atol=atol, rtol=rtol, group=pg)
    failures = None
    if report is not None and not report.passed:
        failures = "\n".join(c.describe() for c in report.checks if not c.passed)
    failures = pg.comm.bcast(failures, root=0)
    if failures is None:
        return True
    if raise_exception:
        raise checker.GradcheckError(f"Gradient check failed:\n{failures}")
    return False


__all__ = [
    "Backend", "ProcessGroup", "ReduceOp", "Work", "all_gather", "all_reduce", "barrier",
    "broadcast", "destroy_process_group", "distributed_check_gradients",
    "distributed_gradcheck", "get_backend", "get_rank", "get_world_size", "init_process_group",
    "is_available", "is_initialized", "is_mpi_available",
]
