"""Re-start this command as N processes per machine through torch.distributed.run (what `torchrun` runs).

The processes find each other through a store on machine 0 (master_addr:master_port; on one machine any free
port). Each machine waits at most join_timeout_s for the others to start, then says which did not come.
torchrun's agent checks this machine's processes every 0.1 s and stops the others when one dies; a machine whose
processes lose contact with another machine's stops too. So nothing hangs; this process says in one line how the
run ended.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import socket
import sys
import threading
import time

import torch

from engine.errors import ConfigError
from engine.events import Cancelled
from engine.relaunch import torchrun_program

DEFAULT_PORT = 29500  # torchrun's
MONITOR_INTERVAL_S = 0.1
CANCELLED, BAD_INPUT = 130, 2
LOST_CONTACT = 3  # a worker's exit code: its collective failed because a process elsewhere went away
LAUNCHED = "GAN_PRUNE_LAUNCHED"  # set for the workers this launcher starts: it speaks for them when they end
QUIET_CPP_LOG = "GAN_PRUNE_QUIET_CPP_LOG"
SIGNAL_GRACE_S = 1.0


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


def cpu_cores() -> int:
    """The cores this process may run on (a container's or taskset's limit, not the whole machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def check_devices(device: str, nproc_per_node: int) -> None:
    """One process per GPU; on CPU at most one per core (each takes a core and ~300 MB: 1024 of them would take
    the machine down before the first step)."""
    if device == "cpu" or not torch.cuda.is_available():
        cores = cpu_cores()
        if nproc_per_node > cores:
            raise ConfigError(f"--nproc-per-node {nproc_per_node} starts {nproc_per_node} CPU processes but this "
                              f"machine has {cores} CPU cores for them; use --nproc-per-node {cores} or fewer.")
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
    else:  # torchrun's static rendezvous: a store on machine 0 that every machine joins (default wait: 600 s)
        args += ["--node-rank", str(dc.node_rank), "--master-addr", dc.master_addr,
                 "--master-port", str(dc.master_port or DEFAULT_PORT),
                 "--rdzv-conf", f"timeout={max(1, round(dc.join_timeout_s))}"]
    return args + [*torchrun_program(), *argv]


def launch(argv: list[str], dc, device: str) -> int:
    """Run `gan-prune ARGV` as dc.world_size processes. Returns 0 when all ended well, 2 when rank 0 refused bad
    input (it printed why); raises Cancelled (all stopped on Ctrl-C/SIGTERM), ConfigError (a port taken, machines
    that never met), or RunFailed."""
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    check_devices(device, dc.nproc_per_node)
    if dc.node_rank == 0 and not (dc.nnodes == 1 and dc.master_port is None):
        check_port_free(dc.master_port or DEFAULT_PORT)
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread per CPU process (torchrun would say so loudly)
    os.environ[LAUNCHED] = "1"
    if os.environ.pop(QUIET_CPP_LOG, None):  # this process's torch read it at start (engine.cli); the workers
        os.environ.pop("TORCH_CPP_LOG_LEVEL", None)  # get the user's own C++ log level
    _quiet_torchrun_logs()  # we say what happened
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with _StopWhileWaiting("the other machines" if dc.nnodes > 1 else "the processes to start"):
            torchrun.run(torchrun.parse_args(torchrun_arguments(argv, dc)))
        return 0
    except ChildFailedError as e:
        return _explain(e, dc)
    except SignalException:
        raise Cancelled() from None
    except Exception as e:  # the rendezvous itself: a port taken meanwhile, machines that never met, ...
        raise _not_met(e, dc) from None
    finally:
        os.environ.pop(LAUNCHED, None)
        for s, h in handlers.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(s, h)


def watch_launcher(interval_s: float = 1.0) -> None:
    """In a worker this launcher started: if the launcher goes (kill -9, a closed terminal's hang-up), stop as on
    SIGTERM, at the next step with the checkpoint saved, instead of training on unwatched. torchrun starts each
    worker in a session of its own, so nothing else would reach it."""
    if not os.environ.get(LAUNCHED):
        return
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval_s)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="watch-launcher", daemon=True).start()


def _not_met(e: Exception, dc) -> Exception:
    text, port = " ".join(str(e).split()), dc.master_port or DEFAULT_PORT
    if "EADDRINUSE" in text or "address already in use" in text.lower():
        return ConfigError(f"Port {port} on this machine is already in use; choose a free one with --master-port.")
    wait = f"{dc.join_timeout_s:g} s"
    if "waiting for clients" in text:  # machine 0's store: "... 1/2 clients joined."
        ranks = "--node-rank 1" if dc.nnodes == 2 else f"its --node-rank (1 to {dc.nnodes - 1})"
        return ConfigError(f"Machine 0 waited {wait} on port {port} and only {_joined(text, dc.nnodes)} of the "
                           f"{dc.nnodes} machines joined; start the same command on "
                           f"{'the other machine' if dc.nnodes == 2 else 'each other machine'} with {ranks} and "
                           f"--master-addr {dc.master_addr} --master-port {port}, or wait longer with "
                           "--join-timeout.")
    if dc.node_rank > 0 and ("timed out" in text.lower() or "connect" in text.lower() or "ping" in text.lower()):
        return ConfigError(f"Machine {dc.node_rank} could not reach machine 0 at {dc.master_addr}:{port} within "
                           f"{wait}; start the same command there with --node-rank 0, and check that "
                           "--master-addr is its address as this machine reaches it and that the port is open.")
    return RunFailed(f"the processes could not meet at {dc.master_addr}:{port} ({text[:200]}); check that machine "
                     "0 runs with --node-rank 0 and that the port is open between the machines.")


def _joined(text: str, nnodes: int) -> str:
    words = [w for w in text.split() if "/" in w and w.split("/")[0].isdigit()]
    return words[0].split("/")[0] if words else f"fewer than {nnodes}"


def _quiet_torchrun_logs() -> None:
    """torchrun's modules each set their own logger's level (WARNING), so the parent's level does not reach them."""
    for name in list(logging.root.manager.loggerDict):
        if name.startswith(("torch.distributed.elastic", "torch.distributed.run", "torch.distributed.launcher")):
            logging.getLogger(name).setLevel(logging.CRITICAL)


class _StopWhileWaiting:
    """Ctrl-C and SIGTERM while this machine waits for the others: the wait is C++ (torch's TCPStore) and runs no
    Python signal handler until it times out, so a thread watches the signal wake-up fd instead. Once the workers
    run, torchrun's own handler takes every signal (it stops them at a step); before that nothing has started and
    this process leaves at once."""

    def __init__(self, waiting_for: str) -> None:
        self.waiting_for = waiting_for

    def __enter__(self):
        self.active, self.old_fd = False, None
        if threading.current_thread() is not threading.main_thread():
            return self
        self.read, self.write = socket.socketpair()
        self.write.setblocking(False)
        self.old_fd = signal.set_wakeup_fd(self.write.fileno(), warn_on_full_buffer=False)
        self.active = True
        threading.Thread(target=self._watch, name="stop-while-waiting", daemon=True).start()
        return self

    def _watch(self) -> None:
        with contextlib.suppress(OSError):
            while self.read.recv(64):
                time.sleep(SIGNAL_GRACE_S)  # the main thread may be in Python and handle it itself
                if self.active and not _workers_started():
                    print(f"\ngan-prune: cancelled while waiting for {self.waiting_for}; nothing had started.",
                          file=sys.stderr, flush=True)
                    os._exit(CANCELLED)

    def __exit__(self, *exc) -> None:
        if self.active:
            self.active = False
            signal.set_wakeup_fd(self.old_fd)
            self.write.close()  # the watcher's recv ends
            self.read.close()


def _workers_started() -> bool:
    from torch.distributed.elastic.multiprocessing.api import _terminate_process_handler

    return signal.getsignal(signal.SIGTERM) is _terminate_process_handler


def _explain(e, dc) -> int:
    codes = {rank: f.exitcode for rank, f in e.failures.items()}
    if all(c == CANCELLED for c in codes.values()):
        raise Cancelled()
    causes = {r: f for r, f in e.failures.items() if f.exitcode != LOST_CONTACT}
    if not causes and dc.nnodes > 1:  # this machine's processes are fine: a process on another machine went away
        here = f"machine {dc.node_rank} of {dc.nnodes}"
        kept = "the last checkpoint written is kept" if dc.node_rank == 0 else \
            "machine 0 keeps the last checkpoint written"
        raise RunFailed(f"this machine's processes ({here}) lost contact with another machine (its command "
                        f"stopped or died; it says why there), so they stopped; {kept}: start the same command on "
                        "every machine again with --resume.")
    causes = causes or e.failures
    rank = min(causes, key=lambda r: causes[r].timestamp)
    failure = causes[rank]
    if failure.exitcode == BAD_INPUT:
        return BAD_INPUT  # the process said why in one line
    how = f"was killed by {failure.signal_name()}" if failure.exitcode < 0 else \
        f"stopped with exit code {failure.exitcode}"
    raise RunFailed(f"process {rank} of {dc.world_size} (pid {failure.pid}) {how}, so every process stopped; the "
                    "last checkpoint written is kept: fix the cause and run the same command with --resume.")
