"""A stage on several processes for a caller that wants its events (the studio), through the real command line.

`gan-prune` is started as a child process (`python -m engine.cli`, or the packaged studio's own program with a
hidden first argument: engine.relaunch) that re-launches itself through torch.distributed.run; rank 0 streams
its events as JSON lines on stdout (engine.event_stream) and they are yielded here as they come. Rank 0 holds the
workspace lock and writes the manifest, so this caller must not take the lock itself. Cancel: SIGTERM to the
child, which torchrun passes to every process; they stop together at the next step and rank 0 saves.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from engine.config import DistributedConfig, PipelineConfig, to_toml
from engine.errors import UserError
from engine.event_stream import from_json
from engine.events import CancelToken, Event
from engine.relaunch import cli_command, is_frozen
from engine.workspace import Workspace

POLL_S = 0.2


class ProcessesFailed(Exception):
    """The multi-process run ended on an error; the message is the command's own last line."""


def _train_command(cfg: PipelineConfig, ws: Workspace, processes: int, folder: Path) -> list[str]:
    # `run` with only [data], [model], [train] and [distributed] is training alone, with every setting kept.
    settings = folder / "train.toml"
    settings.write_text(to_toml(dataclasses.replace(cfg, stages={}, distributed=DistributedConfig(
        nproc_per_node=processes))), "utf-8")
    return ["run", str(settings), "-w", str(ws.root)]


def _stage_command(stage: str, *required: str):
    """A stage command whose every setting travels in a config file's [stage] table (--settings), plus the flags
    its parser requires (finetune's --steps)."""
    def command(cfg, ws: Workspace, processes: int, folder: Path) -> list[str]:
        settings = folder / f"{stage}.toml"
        settings.write_text(to_toml(PipelineConfig(stages={stage: dataclasses.asdict(cfg)})), "utf-8")
        flags = [x for name in required for x in (f"--{name}", str(getattr(cfg, name)))]
        return [stage, "-w", str(ws.root), *flags, "--settings", str(settings), "--nproc-per-node", str(processes)]
    return command


COMMANDS = {"train": _train_command, "finetune": _stage_command("finetune", "steps"),
            "compress": _stage_command("compress")}


def run_processes(stage: str, cfg, ws: Workspace, processes: int, cancel: CancelToken) -> Iterator[Event]:
    """Run `stage` with `cfg` as `processes` local processes and yield rank 0's events."""
    with tempfile.TemporaryDirectory(prefix="gan-prune-") as tmp:
        argv = COMMANDS[stage](cfg, ws, processes, Path(tmp)) + ["--events", "-", "-q"]
        errors = Path(tmp) / "stderr.txt"
        yield from _follow(argv, errors, cancel)


def _follow(argv: list[str], errors: Path, cancel: CancelToken) -> Iterator[Event]:
    env = dict(os.environ)
    if not is_frozen():  # the same engine as this process, wherever it was imported from
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    with open(errors, "w", encoding="utf-8") as err:
        child = subprocess.Popen([*cli_command(), *argv], stdout=subprocess.PIPE, stderr=err, text=True, env=env)
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_read, args=(child.stdout, lines), name="rank0-events", daemon=True)
    reader.start()
    stopping = False
    try:
        while True:
            if cancel.cancelled and not stopping:
                child.send_signal(signal.SIGTERM)  # torchrun passes it on; every process stops at the same step
                stopping = True
            try:
                line = lines.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if line is None:
                break
            event = from_json(line)
            if event is not None:
                yield event
    finally:
        if child.poll() is None and not stopping:  # the caller went away (the studio closed): stop the run
            child.send_signal(signal.SIGTERM)
        code = child.wait()
        reader.join()
    _outcome(code, errors, cancel)


def _read(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _outcome(code: int, errors: Path, cancel: CancelToken) -> None:
    said = [x for x in errors.read_text("utf-8", "replace").splitlines() if x.startswith("gan-prune: error: ")]
    last = said[-1][len("gan-prune: error: "):] if said else f"the processes stopped with exit code {code}"
    if code == 0:
        return
    if code == 130:
        cancel.cancel()
        return
    if code == 2:
        raise UserError(last)
    raise ProcessesFailed(last)
