"""Run under mpiexec: DistributedDataParallel against one process on the whole batch.

Each rank takes its slice of one global batch; after backward every rank must hold
the gradient that a single process computes on the full batch (mean loss), starting
from rank 0's initial parameters even though every rank initialises differently.
"""

import copy

import numpy as np
import pytest

import nncheck
import nncheck.distributed as dist
import nncheck.nn as nn
from nncheck.nn.parallel import DistributedDataParallel as DDP

dist.init_process_group()
rank, world = dist.get_rank(), dist.get_world_size()
PER_RANK = 3


def make_model():
    nncheck.manual_seed(100 + rank)  # a different initialisation on every rank
    return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)).double()


def batch(seed):
    """The same global batch on every rank (shared seed), and this rank's slice of it."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((world * PER_RANK, 4))
    y = rng.standard_normal((world * PER_RANK, 3))
    mine = slice(rank * PER_RANK, (rank + 1) * PER_RANK)
    return (nncheck.from_numpy(x), nncheck.from_numpy(y)), (nncheck.from_numpy(x[mine]),
                                                             nncheck.from_numpy(y[mine]))


def mse(model, x, y):
    return ((model(x) - y) ** 2).mean()


def grads(model):
    return [p.grad.numpy().copy() for p in model.parameters()]


def rank0_copy(model):
    """A plain model holding rank 0's parameters (sent by broadcast), for the reference."""
    ref = copy.deepcopy(model)
    for p in ref.parameters():
        dist.broadcast(p.detach(), 0)
    return ref


def assert_grads(actual, expected, what):
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-14, err_msg=what)


def check_matches_full_batch(bucket_cap_mb):
    model = make_model()
    reference = rank0_copy(model)
    ddp = DDP(model, bucket_cap_mb=bucket_cap_mb)
    for p, q in zip(model.parameters(), reference.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    for step in range(2):
        (x, y), (xr, yr) = batch(step)
        model.zero_grad()
        reference.zero_grad()
        mse(ddp, xr, yr).backward()
        mse(reference, x, y).backward()
        assert_grads(grads(model), grads(reference), f"bucket_cap_mb={bucket_cap_mb}")
    return ddp


def check_no_sync():
    model = make_model()
    reference = rank0_copy(model)
    ddp = DDP(model, bucket_cap_mb=1e-5)
    (_, _), (xa, ya) = batch(10)
    (_, _), (xb, yb) = batch(11)
    with ddp.no_sync():
        mse(ddp, xa, ya).backward()
    local = grads(model)
    mse(reference, xa, ya).backward()
    assert_grads(local, grads(reference), "no_sync keeps the local gradient")
    every = [nncheck.zeros(local[0].shape, dtype=nncheck.float64) for _ in range(world)]
    dist.all_gather(every, nncheck.from_numpy(local[0]))
    if world > 1:
        assert not np.allclose(every[0].numpy(), every[1].numpy()), "no_sync must not average"
    mse(ddp, xb, yb).backward()  # synced: averages the gradients accumulated on every rank
    reference.zero_grad()
    for r in range(world):
        part = slice(r * PER_RANK, (r + 1) * PER_RANK)
        for seed in (10, 11):
            (x, y), _ = batch(seed)
            (mse(reference, x[part], y[part]) / world).backward()
    assert_grads(grads(model), grads(reference), "sync after no_sync")


class Branches(nn.Module):
    """Uses ``unused`` only when asked, and keeps a buffer that forward reads."""

    def __init__(self):
        super().__init__()
        self.used = nn.Linear(4, 3).double()
        self.unused = nn.Linear(4, 3).double()
        self.register_buffer("scale", nncheck.full((3,), float(rank + 1), dtype=nncheck.float64))

    def forward(self, x, use_both=False):
        out = self.used(x) * self.scale
        return out + self.unused(x) if use_both else out


def check_unused_parameters():
    (_, _), (x, y) = batch(20)
    ddp = DDP(Branches())
    mse(ddp, x, y).backward()  # `unused` gets no gradient: the reduction cannot finish
    with pytest.raises(RuntimeError, match=r"unused\.weight, unused\.bias.*find_unused"):
        ddp(x)
    model = Branches()
    ddp = DDP(model, find_unused_parameters=True, bucket_cap_mb=1e-5)
    mse(ddp, x, y).backward()
    assert model.unused.weight.grad is None  # unused on every rank: left alone
    model.zero_grad()
    # used on rank 0 only: every rank gets rank 0's contribution, averaged
    ((ddp(x, use_both=rank == 0) - y) ** 2).mean().backward()
    reference = rank0_copy(model)
    reference.zero_grad()
    for r in range(world):
        part = slice(r * PER_RANK, (r + 1) * PER_RANK)
        (x_all, y_all), _ = batch(20)
        out = reference(x_all[part], use_both=r == 0)
        (((out - y_all[part]) ** 2).mean() / world).backward()
    np.testing.assert_allclose(model.unused.weight.grad.numpy(),
                               reference.unused.weight.grad.numpy(), rtol=1e-12)


def check_buffers():
    model = Branches()
    DDP(model)  # broadcast_buffers=True: rank 0's buffer at construction and every forward
    assert model.scale.tolist() == [1.0] * 3
    model.scale.fill_(float(rank + 5))
    DDP(model)(nncheck.zeros(2, 4, dtype=nncheck.float64))
    assert model.scale.tolist() == [5.0] * 3
    local = Branches()
    ddp = DDP(local, broadcast_buffers=False)
    ddp(nncheck.zeros(2, 4, dtype=nncheck.float64))
    assert local.scale.tolist() == [float(rank + 1)] * 3


def check_api():
    ddp = DDP(nn.Linear(4, 3))
    assert list(ddp.state_dict()) == ["module.weight", "module.bias"]
    assert repr(ddp) == ("DistributedDataParallel(\n  (module): "
                         "Linear(in_features=4, out_features=3, bias=True)\n)")
    assert ddp.infer_shape((5, 4)) == ((5, 3),)
    with pytest.raises(ValueError, match="single element"):
        DDP(nn.Linear(2, 2), device_ids=[0, 1])
    with pytest.raises(ValueError, match="must be None for a CPU module"):
        DDP(nn.Linear(2, 2), device_ids=[0])
    with pytest.raises(RuntimeError, match="not needed"):
        DDP(nn.Linear(2, 2).requires_grad_(False))
    with pytest.raises(RuntimeError, match="differ from rank 0"):
        DDP(nn.Linear(2, 2 + (rank > 0)))
    with nncheck.no_grad():  # a forward that will not sync leaves no reduction pending
        ddp(nncheck.zeros(1, 4))
    ddp(nncheck.zeros(1, 4)).sum().backward()


check_matches_full_batch(bucket_cap_mb=25)
ddp = check_matches_full_batch(bucket_cap_mb=1e-5)  # one bucket per parameter
assert len(ddp._reducer.buckets) == 4
check_no_sync()
check_unused_parameters()
check_buffers()
check_api()
dist.destroy_process_group()
if rank == 0:
    print(f"ddp ok (world size {world})")
