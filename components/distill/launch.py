"""The distiller's processes: one, several started here (torch.multiprocessing), or torchrun's.

Several processes train data-parallel (DDP): one per GPU over NCCL, or CPU processes over gloo.
The stage starts them itself with `--num_processes N` (a pod's GPUs), or runs as one of the
processes `torchrun` started (its RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR variables). A
started process reports back through a queue: rank 0's summary, a `UserError` (which the parent
raises again) or the SIGTERM stop, which the parent forwards to every process so they save
together.
"""

import contextlib
import logging
import os
import signal
import socket
from typing import NamedTuple

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from components.common.errors import UserError
from components.common.logs import setup_logging
from components.distill.state import DistillationInterrupted

log = logging.getLogger(__name__)


class Process(NamedTuple):
    rank: int
    world: int
    device: torch.device


def torchrun_process():
    """This process's place when torchrun started several, else None."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or "RANK" not in os.environ:
        return None
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    return Process(int(os.environ["RANK"]), world, _device(local_rank))


def processes_to_start(num_processes):
    """--num_processes, else one per visible GPU, else 1; more than the GPUs is refused."""
    gpus = torch.cuda.device_count()
    if num_processes is None:
        return max(gpus, 1)
    if gpus and num_processes > gpus:
        raise UserError(f"--num_processes={num_processes} but this machine sees {gpus} GPU(s) "
                        f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r})",
                        where="--num_processes", fix=f"pass --num_processes={gpus} or less")
    return num_processes


def _device(local_rank):
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def single_process():
    return Process(0, 1, _device(0))


@contextlib.contextmanager
def process_group(process, init_method="env://"):
    """The DDP process group of `process` (none for a single process), destroyed on exit."""
    if process.world == 1:
        yield
        return
    backend = "nccl" if process.device.type == "cuda" else "gloo"
    dist.init_process_group(backend, init_method=init_method, rank=process.rank,
                            world_size=process.world,
                            device_id=process.device if backend == "nccl" else None)
    try:
        yield
    finally:
        dist.destroy_process_group()


def host_group(process):
    """The process group for collectives of CPU tensors (the step's counts and stop vote, the
    train records' index): the default group when it is gloo, else a gloo group beside NCCL's,
    so that they wait for no GPU; None for one process. Every process must call it."""
    if process.world == 1:
        return None
    if dist.get_backend() == "gloo":
        return dist.group.WORLD
    return dist.new_group(backend="gloo")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _started_process(rank, worker, args, world, port, results):
    """Entry point of a process started by `spawn`: run `worker(args, process)` and report."""
    setup_logging(None if rank == 0 else "WARNING")
    if not torch.cuda.is_available():
        # The CPU's cores are shared: one process per core group, not every process on all.
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    process = Process(rank, world, _device(rank))
    try:
        with process_group(process, init_method=f"tcp://127.0.0.1:{port}"):
            summary = worker(args, process)
    except UserError as err:
        results.put(("error", (err.what, err.where, err.fix)))
        raise SystemExit(2) from err
    except DistillationInterrupted as stopped:
        if rank == 0:
            results.put(("interrupted", str(stopped)))
        return
    if rank == 0:
        results.put(("done", summary))


def spawn(worker, args, world):
    """Run `worker(args, process)` in `world` new processes; return rank 0's summary.

    SIGTERM is forwarded to every process (they agree on the step to stop at and save);
    a `UserError` in any of them ends all and is raised here."""
    results = mp.get_context("spawn").SimpleQueue()
    context = mp.start_processes(_started_process,
                                 args=(worker, args, world, _free_port(), results),
                                 nprocs=world, join=False, start_method="spawn")

    def forward(signum, frame):
        log.warning("SIGTERM received: asking the %d processes to save and stop", world)
        for child in context.processes:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        while not context.join():
            pass
    except mp.ProcessExitedException:
        if results.empty():
            raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    outcome, value = results.get()
    if outcome == "error":
        raise UserError(*value)
    if outcome == "interrupted":
        raise DistillationInterrupted(value)
    return value
