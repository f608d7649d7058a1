"""Who this process is in a multi-process run, and the collective calls the training loops make.

Outside torchrun `current()` is a one-process Context and every call is a no-op, so a stage reads the same either
way. The global batch is the user's batch size: each of N processes takes its own contiguous 1/N of the rows that
one process would take at the same step, so the N processes together see exactly the one-process batch.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from engine.distributed.batches import local_batch
from engine.events import Cancelled

WORKER_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")  # what torchrun sets in each process it starts
WAIT_POLL_S = 0.5


def worker_environment() -> bool:
    """True inside a process that torchrun started (ours or the user's own torchrun)."""
    return all(k in os.environ for k in WORKER_ENV)


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    backend: str = ""  # "" on one process, else nccl | gloo

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes: checkpoints, grids, the manifest, the EMA, events, the workspace lock."""
        return self.rank == 0

    def device(self, device: torch.device) -> torch.device:
        """Each process of a CUDA run owns the GPU of its local rank."""
        if device.type == "cuda" and self.distributed:
            return torch.device("cuda", self.local_rank)
        return device

    def local_batch(self, batch_size: int, where: str = "batch size") -> int:
        return local_batch(batch_size, self.world, where)

    def shard(self, rows: torch.Tensor) -> torch.Tensor:
        """This process's contiguous share of a global batch (indices, latents): rows [r*b, (r+1)*b)."""
        if not self.distributed:
            return rows
        b = rows.shape[0] // self.world
        return rows[self.rank * b:(self.rank + 1) * b]

    def agree(self, stop: bool, values: dict[str, torch.Tensor | float]) -> tuple[bool, dict[str, float]]:
        """One all-reduce per step: stop if ANY process was asked to (Ctrl-C/SIGTERM reaches rank 0), and each
        value averaged over the processes (equal shards, so the mean of means is the global batch's mean)."""
        if not self.distributed:
            return stop, {k: float(v) for k, v in values.items()}
        flat = torch.tensor([float(stop)] + [float(v) for v in values.values()], dtype=torch.float64,
                            device=self._comm_device())
        dist.all_reduce(flat)
        flat = flat.cpu()
        return bool(flat[0] > 0), {k: float(x) / self.world for k, x in zip(values, flat[1:].tolist())}

    def sum_over_processes(self, x: torch.Tensor) -> torch.Tensor:
        """A summed copy over the processes (a statistic of the whole batch, outside autograd)."""
        if not self.distributed:
            return x
        out = x.detach().clone()
        dist.all_reduce(out)
        return out

    def _comm_device(self) -> torch.device:
        return torch.device("cuda", self.local_rank) if self.backend == "nccl" else torch.device("cpu")

    # Rank 0 may work alone for a long time (a feature net to train, a model to prune) while the others wait:
    # a polled key in torchrun's store, not a collective, so no process-group timeout fires in between. A rank 0
    # that dies takes the store (or, on one machine, torchrun's watchdog the waiting processes) with it.
    def main_reached(self, key: str) -> None:
        if self.distributed and self.is_main:
            _store().set(f"gan-prune/{key}", "1")

    # A flag any process may raise and every process polls (compress's stop: its processes train different
    # candidates, so there is no per-step collective to carry it).
    def raise_flag(self, key: str) -> None:
        if self.distributed:
            _store().set(f"gan-prune/{key}", "1")

    def flag_raised(self, key: str) -> bool:
        return self.distributed and _store().check([f"gan-prune/{key}"])

    def wait_for_main(self, key: str, cancel=None) -> None:
        if not self.distributed or self.is_main:
            return
        store = _store()
        while not store.check([f"gan-prune/{key}"]):
            if cancel is not None and cancel.cancelled:
                raise Cancelled()
            time.sleep(WAIT_POLL_S)


_current = Context()

LOST_CONTACT_WORDS = ("lost contact with another process of the run (it stopped or died, or its machine went "
                      "away); the last checkpoint written is kept")


def lost_contact(e: BaseException) -> bool:
    """A collective that failed because another process of the run went away (Gloo/NCCL's own words vary)."""
    if not _current.distributed:
        return False
    text = str(e).lower()
    return isinstance(e, dist.DistError) or any(w in text for w in ("gloo", "nccl", "connection", "peer"))


def current() -> Context:
    return _current


def _store():
    return dist.distributed_c10d._get_default_store()


def start(requested_device: str, timeout_s: float) -> Context:
    """Join the process group torchrun described in the environment (NCCL on CUDA, Gloo on the CPU)."""
    global _current
    if not worker_environment() or int(os.environ["WORLD_SIZE"]) < 2:
        _current = Context()
        return _current
    rank, world, local = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"])
    cuda = requested_device != "cpu" and torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(local)
    backend = "nccl" if cuda else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
    _current = Context(rank, world, local, backend)
    return _current


@contextlib.contextmanager
def alone() -> Iterator[None]:
    """Rank 0 running a one-process stage (prune, evaluate, export) inside a multi-process pipeline."""
    global _current
    saved, _current = _current, Context()
    try:
        yield
    finally:
        _current = saved


def finish() -> None:
    global _current
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    _current = Context()
