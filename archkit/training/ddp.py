"""Data-parallel training: process-group setup under torchrun, and `--nproc N` spawning on one machine.

Under `torchrun --nproc-per-node N -m archkit train ...` every process finds RANK, WORLD_SIZE and
LOCAL_RANK in its environment; `--nproc N` sets the same variables itself and starts N processes.
The backend is NCCL on CUDA and gloo on the CPU. Each process trains on its share of every batch
(DistributedDataParallel averages the gradients) and scores its share of the validation set.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from . import errors


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def from_env() -> DistInfo:
    """The process's place in a torchrun job (a single process when WORLD_SIZE is unset)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    return DistInfo(rank=int(os.environ["RANK"]), world=world, local_rank=int(os.environ.get("LOCAL_RANK", "0")),
                    local_world=int(os.environ.get("LOCAL_WORLD_SIZE", str(world))))


def init(info: DistInfo, device: torch.device) -> bool:
    """Join the process group (env:// rendezvous); True when this call created it."""
    if not info.enabled or dist.is_initialized():
        return False
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, rank=info.rank, world_size=info.world)
    return True


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def all_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over all processes, in place (a no-op without a process group)."""
    if dist.is_initialized():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def gather(obj) -> list:
    """Every process's `obj`, in rank order (a one-element list without a process group)."""
    if not dist.is_initialized():
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(nproc: int, target, args: tuple, result_dir: Path | None = None):
    """Run `target(*args)` in `nproc` spawned processes on this machine (ranks 0..nproc-1) and return
    rank 0's return value, which must be picklable by torch.save. A TrainError (or the memory
    check's DoesNotFitError) raised in a process is raised again here with its type and message."""
    import logging

    import torch.multiprocessing as mp

    # When one process fails, torch stops the others and logs a line per process it terminates;
    # the failure itself is said below in one line, so those lines are kept out of the user's way.
    spawn_log = logging.getLogger("torch.multiprocessing.spawn")
    level = spawn_log.level
    spawn_log.setLevel(logging.ERROR)
    try:
        return _launch(nproc, target, args, mp)
    finally:
        spawn_log.setLevel(level)


def _launch(nproc: int, target, args: tuple, mp):
    with tempfile.TemporaryDirectory(prefix="archkit-ddp-") as tmp:
        port = free_port()
        try:
            mp.spawn(_entry, args=(nproc, port, target, args, tmp), nprocs=nproc, join=True)
        except Exception:
            for rank in range(nproc):
                path = Path(tmp) / f"error-{rank}.json"
                if path.is_file():
                    info = json.loads(path.read_text())
                    cls = getattr(errors, info["type"], errors.TrainError)
                    if cls is errors.DivergedError:
                        raise cls(info["message"], info["epoch"], info["step"]) from None
                    raise cls(info["message"]) from None
            raise
        return torch.load(Path(tmp) / "result.pt", map_location="cpu", weights_only=False)


def _entry(rank: int, nproc: int, port: int, target, args: tuple, tmp: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(nproc), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(nproc),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    try:
        result = target(*args)
    except (errors.TrainError, errors.DoesNotFitError) as exc:
        info = {"type": type(exc).__name__, "message": str(exc),
                "epoch": getattr(exc, "epoch", None), "step": getattr(exc, "step", None)}
        Path(tmp, f"error-{rank}.json").write_text(json.dumps(info))
        raise
    if rank == 0:
        torch.save(result, Path(tmp) / "result.pt")
