"""The flags of a command that may run as several processes (train, finetune, run), and how such a command starts.

Outside torchrun with more than one process asked for, the command re-starts itself through torch.distributed.run
and waits (engine.distributed.launch). Inside torchrun (ours or the user's own) each process joins the group;
rank 0 holds the workspace lock, writes and prints; the others only train. Across machines every process reads
the one workspace rank 0 writes, so it must be a shared folder: checked once the processes have met.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import secrets
import signal
import sys
from collections.abc import Callable, Iterator

from engine.cli.common import drive
from engine.config import DistributedConfig
from engine.events import CancelToken, Event

FLAGS = ("nproc_per_node", "nnodes", "node_rank", "master_addr", "master_port", "join_timeout_s")


def add_distributed_args(p) -> None:
    g = p.add_argument_group("more than one process or machine (README: 'More than one machine')")
    g.add_argument("--nproc-per-node", type=int, metavar="N",
                   help="processes on this machine: one per GPU, or CPU processes (default 1)")
    g.add_argument("--nnodes", type=int, metavar="M", help="machines taking part (default 1)")
    g.add_argument("--node-rank", type=int, metavar="R", help="this machine's number, 0 to M-1 (0 hosts the meeting)")
    g.add_argument("--master-addr", metavar="A", help="the address of machine 0, as the other machines reach it")
    g.add_argument("--master-port", type=int, metavar="P",
                   help="a free TCP port on machine 0 (default: 29500 across machines, any free port on one)")
    g.add_argument("--join-timeout", type=float, metavar="S", dest="join_timeout_s",
                   help="seconds each machine waits for the others to start (default 300)")
    g.add_argument("--events", metavar="FILE", help=argparse.SUPPRESS)  # JSON lines from rank 0, '-' = stdout


def distributed_config(args, base: DistributedConfig | None = None) -> DistributedConfig:
    values = {k: getattr(args, k) for k in FLAGS if getattr(args, k, None) is not None}
    dc = dataclasses.replace(base or DistributedConfig(), **values)
    dc.validate()
    return dc


def run_command(args, stage: str, ws, make_events: Callable[[CancelToken], Iterator[Event]], *,
                dc: DistributedConfig, device: str, needs: tuple[str, ...] = ()) -> int:
    """Launch the processes, or be one of them (or the only one): drive the stage's events (the stage runner
    inside them holds the lock on rank 0 alone) and return the exit code. `needs`: the models ("dense", "pruned")
    checked before any process is launched."""
    from engine.distributed import finish, start, worker_environment
    from engine.distributed.context import lost_contact

    if dc.launches and not worker_environment():
        return _launch(args, ws, stage, dc, device, needs)
    from engine.distributed.launch import watch_launcher

    watch_launcher()
    ctx = start(device, dc.timeout_s)
    sink = _event_sink(args) if ctx.is_main else None
    try:
        if _machines() > 1:
            _check_one_workspace(ctx, ws)
        cancel = CancelToken()
        drive(make_events(cancel), cancel, quiet=args.quiet or not ctx.is_main, patient=ctx.distributed, sink=sink)
    except Exception as e:
        if lost_contact(e):
            from engine.distributed.launch import LAUNCHED, LOST_CONTACT

            if os.environ.get(LAUNCHED):  # our launcher says it once for this machine
                _leave_if_own_process(args, LOST_CONTACT)
                return LOST_CONTACT
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


def _launch(args, ws, stage: str, dc: DistributedConfig, device: str, needs: tuple[str, ...]) -> int:
    from engine.distributed.launch import RunFailed, check_devices, launch
    from engine.errors import UserError
    from engine.stage_runner import workspace_lock

    check_devices(device, dc.nproc_per_node)  # processes this machine can run, before anything starts
    if dc.node_rank == 0:  # a busy workspace is one line now, not after N processes have started; the other
        with workspace_lock(ws, stage):  # machines never write it (and on a shared folder would meet rank 0's lock)
            pass
        check_models(ws, needs)  # "no trained model" from here, not from N processes each ~300 MB
    if dc.nnodes > 1 and not args.quiet:
        print(_meeting(dc), file=sys.stderr, flush=True)
    try:
        code = launch(args.argv, dc, device)
    except RunFailed as e:
        print(f"gan-prune: error: {e}", file=sys.stderr)
        code = 1
    except UserError as e:  # a port taken, machines that never met
        print(f"gan-prune: error: {' '.join(str(e).split())}", file=sys.stderr)
        code = 2
    _leave_if_own_process(args, code)
    return code


def check_models(ws, needs: tuple[str, ...]) -> None:
    """The models the command starts from ("dense", "pruned": what its resolved settings need) are there and load
    (checked, trusted), in the one process that launches the others: a missing or refused model is one line before
    any process starts."""
    from engine.errors import WorkspaceError
    from engine.inputs import load_teacher

    if "dense" in needs:
        load_teacher(ws)
    if "pruned" in needs:
        if not ws.checkpoint_path("pruned").exists():
            raise WorkspaceError(f"No pruned model in {ws.root} (checkpoints/pruned.pt is missing); run 'gan-prune "
                                 "prune' first, or give --student-widths to train a slim student from scratch.")
        ws.load_checkpoint("pruned")


def _leave_if_own_process(args, code: int) -> None:
    """After a process died, interpreter shutdown waits ~10-30 s in torch's C++ teardown of a store whose other
    end is gone (measured: the message at 1 s, the exit at 11 s). A launcher, or a worker that lost contact,
    holds nothing else (its stage has recorded how it ended): leave now."""
    if getattr(args, "own_process", False):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _meeting(dc: DistributedConfig) -> str:
    from engine.distributed.launch import DEFAULT_PORT

    where = f"{dc.master_addr}:{dc.master_port or DEFAULT_PORT}"
    if dc.node_rank == 0:
        return (f"Machine 0 of {dc.nnodes}: waiting up to {dc.join_timeout_s:g} s on {where} for the other "
                f"machines; progress shows here.")
    return (f"Machine {dc.node_rank} of {dc.nnodes}: joining machine 0 at {where} (waiting up to "
            f"{dc.join_timeout_s:g} s); progress and files are on machine 0.")


def _machines() -> int:
    """How many machines the group spans (torchrun: WORLD_SIZE processes, LOCAL_WORLD_SIZE on each machine)."""
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "0") or 0)
    return int(os.environ.get("WORLD_SIZE", "1")) // local if local else 1


def _check_one_workspace(ctx, ws) -> None:
    """Every machine reads what rank 0 writes (the pruned model, a cached feature net, the resume checkpoint): a
    file rank 0 writes under a fresh name must be visible to every process, or all refuse at once. A name never
    looked up before is not hidden by a network file system's cache of missing names."""
    import torch.distributed as dist

    from engine.errors import ConfigError

    token = [secrets.token_hex(8) if ctx.is_main else None]
    marker = ws.root / f".same-workspace-{token[0]}"
    if ctx.is_main:
        marker.write_bytes(b"")
    dist.broadcast_object_list(token, src=0)
    seen = (ws.root / f".same-workspace-{token[0]}").exists()
    everyone: list = [None] * ctx.world
    dist.all_gather_object(everyone, (int(os.environ.get("GROUP_RANK", "0")), seen))
    if ctx.is_main:
        marker.unlink(missing_ok=True)
    blind = sorted({machine for machine, ok in everyone if not ok})
    if blind:
        raise ConfigError(not_shared(blind, ws.root, int(os.environ.get("GROUP_RANK", "0")), _machines()))


def not_shared(machines: list[int], root, here: int, nnodes: int) -> str:
    """The one sentence for machines that do not see machine 0's workspace."""
    who = ", ".join(str(m) for m in machines)
    return (f"Machine{'s' if len(machines) > 1 else ''} {who} of {nnodes} do{'' if len(machines) > 1 else 'es'} "
            f"not see the workspace machine 0 writes ({root} on machine {here}): across machines --workspace must "
            "be one shared folder (e.g. an NFS mount) that every machine reaches; mount it on each and give its "
            "path there.")


def refuse_unshared(args) -> None:
    """On a machine other than 0, a command that reads an existing workspace (finetune, train --resume) refuses a
    folder that is not there in one line before it joins the others (machine 0 then says it did not come)."""
    from pathlib import Path

    from engine.errors import ConfigError

    rank, nnodes = getattr(args, "node_rank", None) or 0, getattr(args, "nnodes", None) or 1
    if rank > 0 and nnodes > 1 and not (Path(args.workspace) / "manifest.json").is_file():
        raise ConfigError(not_shared([rank], args.workspace, rank, nnodes))


def _event_sink(args):
    path = getattr(args, "events", None)
    if not path:
        return None
    from engine.event_stream import JsonLinesSink

    return JsonLinesSink(sys.stdout if path == "-" else open(path, "a", encoding="utf-8"))  # noqa: SIM115


def _short(e: Exception) -> str:
    return " ".join(str(e).split())[:160]
