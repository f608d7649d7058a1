"""Re-start this command as N processes per machine through torch.distributed.run (what `torchrun` runs).

The processes find each other through a store on machine 0 (master_addr:master_port; on one machine any free
port). torchrun's agent checks them every 0.1 s and stops the others when one dies, so nothing hangs; this
process waits and says in one line how the run ended.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import socket

import torch

from engine.errors import ConfigError
from engine.events import Cancelled
from engine.relaunch import torchrun_program

DEFAULT_PORT = 29500  # torchrun's
MONITOR_INTERVAL_S = 0.1
CANCELLED, BAD_INPUT = 130, 2


class RunFailed(Exception):
    """A process of the run failed (died, or stopped on an error of its own); the others were stopped."""


def check_port_free(port: int) -> None:
    """Machine 0 hosts the rendezvous store on this port: say so in one line when something else holds it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("", port))
        except OSError as e:
            if e.errno in (errno.EADDRINUSE, errno.EACCES):
                raise ConfigError(f"Port {port} on this machine is already in use (another run or program); "
                                  "choose a free one with --master-port (e.g. 29501).") from None
            raise


def check_devices(device: str, nproc_per_node: int) -> None:
    if device == "cpu" or not torch.cuda.is_available():
        return
    gpus = torch.cuda.device_count()
    if nproc_per_node > gpus:
        raise ConfigError(f"--nproc-per-node {nproc_per_node} asks for one GPU per process but this machine has "
                          f"{gpus}; use --nproc-per-node {gpus}, or --device cpu for CPU processes.")


def torchrun_arguments(argv: list[str], dc) -> list[str]:
    """torchrun's own command line for `gan-prune ARGV` under the settings of `dc` (engine.relaunch: from source or
    from the packaged studio)."""
    args = ["--nnodes", str(dc.nnodes), "--nproc-per-node", str(dc.nproc_per_node), "--max-restarts", "0",
            "--monitor-interval", str(MONITOR_INTERVAL_S)]
    if dc.nnodes == 1 and dc.master_port is None:
        args.append("--standalone")  # a free port of its own choosing on localhost
    else:
        args += ["--node-rank", str(dc.node_rank), "--master-addr", dc.master_addr,
                 "--master-port", str(dc.master_port or DEFAULT_PORT)]
    return args + [*torchrun_program(), *argv]


def launch(argv: list[str], dc, device: str) -> int:
    """Run `gan-prune ARGV` as dc.world_size processes. Returns 0 when all ended well, 2 when rank 0 refused bad
    input (it printed why); raises Cancelled (all stopped on Ctrl-C/SIGTERM), ConfigError, or RunFailed."""
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    check_devices(device, dc.nproc_per_node)
    if dc.node_rank == 0 and not (dc.nnodes == 1 and dc.master_port is None):
        check_port_free(dc.master_port or DEFAULT_PORT)
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread per CPU process (torchrun would say so loudly)
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)  # we say what happened
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        torchrun.run(torchrun.parse_args(torchrun_arguments(argv, dc)))
        return 0
    except ChildFailedError as e:
        return _explain(e, dc)
    except SignalException:
        raise Cancelled() from None
    except Exception as e:  # the rendezvous itself: a port taken meanwhile, machine 0 unreachable, ...
        if "EADDRINUSE" in str(e) or "address already in use" in str(e).lower():
            raise ConfigError(f"Port {dc.master_port or DEFAULT_PORT} on this machine is already in use; choose "
                              "a free one with --master-port.") from None
        raise RunFailed(f"the processes could not meet at {dc.master_addr}:{dc.master_port or DEFAULT_PORT} "
                        f"({' '.join(str(e).split())[:200]}); check that machine 0 runs with --node-rank 0 and "
                        "that the port is open between the machines.") from None
    finally:
        for s, h in handlers.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(s, h)


def _explain(e, dc) -> int:
    codes = {rank: f.exitcode for rank, f in e.failures.items()}
    if all(c == CANCELLED for c in codes.values()):
        raise Cancelled()
    rank, failure = e.get_first_failure()
    if failure.exitcode == BAD_INPUT:
        return BAD_INPUT  # rank 0 said why in one line
    how = f"was killed by {failure.signal_name()}" if failure.exitcode < 0 else \
        f"stopped with exit code {failure.exitcode}"
    raise RunFailed(f"process {rank} of {dc.world_size} (pid {failure.pid}) {how}, so every process stopped; the "
                    "last checkpoint written is kept: fix the cause and run the same command with --resume.")
