"""nncheck.distributed and DistributedDataParallel: the scripts in mpi_scripts/ run under
``mpiexec`` and assert against exact math and single-process runs; these tests launch
them (skipped without mpi4py/mpiexec) and check the API that needs no MPI in-process."""

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import nncheck.distributed as dist
import nncheck.nn as nn
from nncheck.nn.parallel import DistributedDataParallel

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = Path(__file__).resolve().parent / "mpi_scripts"
TIMEOUT = 120


def _mpiexec():
    """The mpiexec installed beside this Python (the mpich wheel's), else one on PATH."""
    return shutil.which("mpiexec", path=sysconfig.get_path("scripts")) or shutil.which("mpiexec")


needs_mpi = pytest.mark.skipif(not dist.is_mpi_available() or _mpiexec() is None,
                               reason="needs mpi4py and mpiexec: pip install 'nncheck[mpi]'")


def run_script(name, ranks):
    """Run mpi_scripts/<name> on ``ranks`` processes (ranks=None: one, without mpiexec)."""
    command = [sys.executable, "-m", "mpi4py", str(SCRIPTS / name)]
    if ranks is not None:
        command = [_mpiexec(), "-n", str(ranks), *command]
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # mpiexec and the ranks it started
        output, _ = proc.communicate()
        pytest.fail(f"{name} on {ranks} ranks timed out after {TIMEOUT}s:\n{output}")
    assert proc.returncode == 0, f"{name} on {ranks} ranks failed:\n{output}"
    return output


@needs_mpi
@pytest.mark.parametrize("ranks", [None, 2])
def test_collectives(ranks):
    assert f"collectives ok (world size {ranks or 1})" in run_script("collectives.py", ranks)


@needs_mpi
def test_ddp_matches_one_process_on_the_full_batch():
    assert "ddp ok (world size 2)" in run_script("ddp.py", 2)


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_distributed_gradcheck_agrees_with_single_process(ranks):
    output = run_script("gradcheck.py", ranks)
    assert f"distributed gradcheck ok (world size {ranks})" in output
    assert "wrong: passed=False" in output and "module: passed=True" in output


@needs_mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_sync_batchnorm_equals_batchnorm_over_the_whole_batch(ranks):
    assert f"sync batchnorm ok (world size {ranks})" in run_script("sync_batchnorm.py", ranks)


def test_use_before_init_process_group():
    assert not dist.is_initialized()
    for call in (dist.get_rank, dist.get_world_size, dist.barrier,
                 lambda: DistributedDataParallel(nn.Linear(2, 2))):
        with pytest.raises(ValueError, match="has not been initialized"):
            call()


def test_only_the_mpi_backend():
    with pytest.raises(ValueError, match="only the 'mpi' backend, got backend='nccl'"):
        dist.init_process_group("nccl")


def test_missing_mpi4py_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    assert not dist.is_mpi_available()
    with pytest.raises(RuntimeError, match=r"needs mpi4py.*pip install 'nncheck\[mpi\]'"):
        dist.init_process_group(backend="mpi")
    assert not dist.is_initialized()
