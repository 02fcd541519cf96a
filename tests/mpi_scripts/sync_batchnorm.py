"""Run under mpiexec: SyncBatchNorm on each rank's slice of one global batch against
BatchNorm on the whole batch in one process.

Outputs, running statistics and input gradients must be the slices / values of the
full-batch ones; the parameter gradients, summed over the ranks, the full-batch ones.
"""

import numpy as np

import nncheck
import nncheck.distributed as dist
import nncheck.nn as nn

dist.init_process_group()
rank, world = dist.get_rank(), dist.get_world_size()
PER_RANK = 3


def close(actual, expected, what):
    np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-12, err_msg=what)


def check(shape, momentum, affine):
    rng = np.random.default_rng(7)  # the same global batch and grad_output on every rank
    full_shape = (world * PER_RANK,) + shape
    x, g = rng.standard_normal(full_shape) * 2 + 0.5, rng.standard_normal(full_shape)
    w, b = rng.standard_normal(shape[0]), rng.standard_normal(shape[0])
    mine = slice(rank * PER_RANK, (rank + 1) * PER_RANK)
    ref = nn.BatchNorm1d(shape[0], momentum=momentum, affine=affine).double() \
        if len(shape) <= 2 else nn.BatchNorm2d(shape[0], momentum=momentum, affine=affine).double()
    sync = nn.SyncBatchNorm(shape[0], momentum=momentum, affine=affine).double()
    if affine:
        for m in (ref, sync):
            m.weight.data, m.bias.data = nncheck.from_numpy(w.copy()), nncheck.from_numpy(b.copy())
    for step in range(2):  # running statistics carry over
        full_x = nncheck.from_numpy(x.copy()).requires_grad_(True)
        part_x = nncheck.from_numpy(x[mine].copy()).requires_grad_(True)
        full_y, part_y = ref(full_x), sync(part_x)
        close(part_y.numpy(force=True), full_y.numpy(force=True)[mine], f"output, step {step}")
        for m in (ref, sync):
            for p in m.parameters():
                p.grad = None
        full_y.backward(nncheck.from_numpy(g))
        part_y.backward(nncheck.from_numpy(g[mine].copy()))
        close(part_x.grad.numpy(), full_x.grad.numpy()[mine], f"input grad, step {step}")
        for (name, p), q in zip(sync.named_parameters(), ref.parameters()):
            summed = p.grad.detach().clone()
            dist.all_reduce(summed)
            close(summed.numpy(), q.grad.numpy(), f"{name} grad summed over ranks")
        for name, buf in sync.named_buffers():
            close(buf.numpy(), dict(ref.named_buffers())[name].numpy(), f"buffer {name}")
    sync.eval()  # eval: the running statistics, no communication
    ref.eval()
    with nncheck.no_grad():
        close(sync(nncheck.from_numpy(x[mine].copy())).numpy(),
              ref(nncheck.from_numpy(x.copy())).numpy()[mine], "eval output")


check((4,), 0.1, True)
check((3, 5), None, False)
check((2, 3, 4), 0.3, True)
print(f"sync batchnorm ok (world size {world})")
