"""Run under mpiexec (any world size): nncheck.distributed's collectives against exact math."""

import numpy as np
import pytest

import nncheck
import nncheck.distributed as dist
from nncheck.distributed import ReduceOp

dist.init_process_group(backend="mpi")
rank, world = dist.get_rank(), dist.get_world_size()
assert dist.is_initialized() and dist.get_backend() == "mpi"
with pytest.raises(ValueError, match="twice"):
    dist.init_process_group()

# every rank holds (rank + 1) * base; the reductions have closed forms
base = np.array([[1.0, -2.0, 0.5], [3.0, 0.25, -1.0]])
values = [(r + 1) * base for r in range(world)]
expected = {
    ReduceOp.SUM: sum(values), ReduceOp.AVG: sum(values) / world,
    ReduceOp.MAX: np.maximum.reduce(values), ReduceOp.MIN: np.minimum.reduce(values),
    ReduceOp.PRODUCT: np.multiply.reduce(values),
}
for dtype in (nncheck.float64, nncheck.float32, nncheck.float16):
    for op, want in expected.items():
        t = nncheck.tensor(values[rank], dtype=dtype)
        assert dist.all_reduce(t, op=op) is None
        np.testing.assert_allclose(t.numpy(), want.astype(dtype.np), rtol=1e-3 if
                                   dtype is nncheck.float16 else 1e-6, err_msg=f"{op} {dtype}")

ints = nncheck.tensor([rank, 10 * rank + 1])
dist.all_reduce(ints)
assert ints.tolist() == [sum(range(world)), sum(10 * r + 1 for r in range(world))]
flags = nncheck.tensor([rank == 0, False])
dist.all_reduce(flags)  # bool sums as logical or
assert flags.tolist() == [True, False]

# a non-contiguous view is reduced in place: its base sees the result
grid = nncheck.tensor(np.arange(12.0).reshape(3, 4) * (rank + 1))
column_major = grid.t()
dist.all_reduce(column_major)
np.testing.assert_array_equal(grid.numpy(), np.arange(12.0).reshape(3, 4) * sum(
    r + 1 for r in range(world)))

# async: Work.wait() completes the collective
t = nncheck.full((4,), float(rank))
work = dist.all_reduce(t, op=ReduceOp.MAX, async_op=True)
assert work.wait() and work.is_completed()
assert t.tolist() == [float(world - 1)] * 4

src = world - 1
b = nncheck.full((2, 3), float(rank), dtype=nncheck.float64)
dist.broadcast(b, src=src)
assert b.tolist() == [[float(src)] * 3] * 2
scalar = nncheck.tensor(7 if rank == 0 else 0)
dist.broadcast(scalar, 0)
assert scalar.item() == 7

mine = nncheck.tensor([rank, rank * rank], dtype=nncheck.float32)
gathered = [nncheck.zeros(2) for _ in range(world)]
dist.all_gather(gathered, mine)
assert [g.tolist() for g in gathered] == [[float(r), float(r * r)] for r in range(world)]
dist.all_gather(gathered, mine, async_op=True).wait()
dist.barrier()

with pytest.raises(ValueError, match="one tensor per rank"):
    dist.all_gather([nncheck.zeros(2)] * (world + 1), mine)
with pytest.raises(ValueError, match="shape"):
    dist.all_gather([nncheck.zeros(3) for _ in range(world)], mine)
with pytest.raises(TypeError, match="AVG needs a floating point"):
    dist.all_reduce(nncheck.tensor([1, 2]), op=ReduceOp.AVG)
with pytest.raises(ValueError, match="not a rank"):
    dist.broadcast(b, src=world)
with pytest.raises(TypeError, match="expected a Tensor"):
    dist.all_reduce(np.zeros(3))

dist.destroy_process_group()
assert not dist.is_initialized()
with pytest.raises(ValueError, match="has not been initialized"):
    dist.get_rank()
with pytest.raises(ValueError, match="world_size=99"):
    dist.init_process_group(world_size=99)
if rank == 0:
    print(f"collectives ok (world size {world})")
