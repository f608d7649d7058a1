"""The flags of a command that may run as several processes (train, finetune, run), and how such a command starts.

Outside torchrun with more than one process asked for, the command re-starts itself through torch.distributed.run
and waits (engine.distributed.launch). Inside torchrun (ours or the user's own) each process joins the group;
rank 0 holds the workspace lock, writes and prints; the others only train.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import signal
import sys
from collections.abc import Callable, Iterator

from engine.cli.common import drive
from engine.config import DistributedConfig
from engine.events import CancelToken, Event

FLAGS = ("nproc_per_node", "nnodes", "node_rank", "master_addr", "master_port")


def add_distributed_args(p) -> None:
    g = p.add_argument_group("more than one process or machine (README: 'More than one machine')")
    g.add_argument("--nproc-per-node", type=int, metavar="N",
                   help="processes on this machine: one per GPU, or CPU processes (default 1)")
    g.add_argument("--nnodes", type=int, metavar="M", help="machines taking part (default 1)")
    g.add_argument("--node-rank", type=int, metavar="R", help="this machine's number, 0 to M-1 (0 hosts the meeting)")
    g.add_argument("--master-addr", metavar="A", help="the address of machine 0, as the other machines reach it")
    g.add_argument("--master-port", type=int, metavar="P",
                   help="a free TCP port on machine 0 (default: 29500 across machines, any free port on one)")
    g.add_argument("--events", metavar="FILE", help=argparse.SUPPRESS)  # JSON lines from rank 0, '-' = stdout


def distributed_config(args, base: DistributedConfig | None = None) -> DistributedConfig:
    values = {k: getattr(args, k) for k in FLAGS if getattr(args, k, None) is not None}
    dc = dataclasses.replace(base or DistributedConfig(), **values)
    dc.validate()
    return dc


def run_command(args, stage: str, ws, make_events: Callable[[CancelToken], Iterator[Event]], *,
                dc: DistributedConfig, device: str) -> int:
    """Launch the processes, or be one of them (or the only one): drive the stage's events (the stage runner
    inside them holds the lock on rank 0 alone) and return the exit code."""
    from engine.distributed import finish, start, worker_environment

    if dc.launches and not worker_environment():
        return _launch(args, ws, stage, dc, device)
    ctx = start(device, dc.timeout_s)
    sink = _event_sink(args) if ctx.is_main else None
    try:
        cancel = CancelToken()
        drive(make_events(cancel), cancel, quiet=args.quiet or not ctx.is_main, patient=ctx.distributed, sink=sink)
    except Exception as e:
        if ctx.distributed and _lost_contact(e):
            print(f"gan-prune: error: process {ctx.rank} lost contact with the others ({_short(e)}); stopping.",
                  file=sys.stderr)
            return 1
        raise
    finally:
        if ctx.distributed:  # torchrun's own stop signal may follow; this process is already on its way out
            with contextlib.suppress(ValueError):
                for sig in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(sig, signal.SIG_IGN)
        finish()
    return 0


def _launch(args, ws, stage: str, dc: DistributedConfig, device: str) -> int:
    from engine.distributed.launch import RunFailed, launch
    from engine.stage_runner import workspace_lock

    with workspace_lock(ws, stage):  # a busy workspace is one line now, not after N processes have started
        pass
    try:
        code = launch(args.argv, dc, device)
    except RunFailed as e:
        print(f"gan-prune: error: {e}", file=sys.stderr)
        code = 1
    if getattr(args, "own_process", False):
        # After a process died, interpreter shutdown waits ~10-30 s in torch's C++ teardown of the rendezvous
        # store (measured: the message at 1 s, the exit at 11 s). This process holds nothing else: leave now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _event_sink(args):
    path = getattr(args, "events", None)
    if not path:
        return None
    from engine.event_stream import JsonLinesSink

    return JsonLinesSink(sys.stdout if path == "-" else open(path, "a", encoding="utf-8"))  # noqa: SIM115


def _lost_contact(e: Exception) -> bool:
    import torch.distributed as dist

    text = str(e).lower()
    return isinstance(e, dist.DistError) or any(w in text for w in ("gloo", "nccl", "connection", "peer"))


def _short(e: Exception) -> str:
    return " ".join(str(e).split())[:160]
