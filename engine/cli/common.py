"""What every subcommand shares: the workspace flag, the event printer with a progress bar, Ctrl-C and SIGTERM."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TextIO

from engine.events import Artifact, Cancelled, CancelToken, Event, Log, Metrics, Progress, Samples


def workspace_path(text: str) -> str:
    """--workspace: an empty value would silently mean the current folder."""
    import argparse

    if not text.strip():
        raise argparse.ArgumentTypeError("the project folder is empty; give a folder, e.g. --workspace my-project")
    return text


def add_workspace_arg(p) -> None:
    p.add_argument("--workspace", "-w", required=True, metavar="DIR", type=workspace_path, help="the project folder")


def remove_if_left_empty(path: str | None, existed: bool) -> None:
    """A refused command on a new path leaves no project folder behind: remove what it created when that holds no
    file but the workspace lock (only folders this command made, and only when they are empty)."""
    import os
    from pathlib import Path

    if existed or not path:
        return
    root = Path(path).expanduser()
    try:
        if not root.is_dir() or root.is_symlink():
            return
        entries = list(root.rglob("*"))
        if any(p.is_file() and p.relative_to(root).as_posix() != ".lock" or p.is_symlink() for p in entries):
            return
        for p in sorted(entries, key=lambda p: len(p.parts), reverse=True):
            p.unlink() if p.is_file() else p.rmdir()
        os.rmdir(root)
    except (OSError, RuntimeError, ValueError):
        pass  # best effort: another process may be using it


class ConsoleReporter:
    """Prints events: a one-line progress bar on a terminal, plain lines otherwise."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = self.stream.isatty()
        self._last_line = 0.0
        self._metrics: dict[str, float] = {}
        self._metrics_stage = ""

    def __call__(self, event: Event) -> None:
        if isinstance(event, Progress):
            self._progress(event)
        elif isinstance(event, Metrics):
            self._metrics, self._metrics_stage = event.values, event.stage
        elif isinstance(event, Log):
            self._newline()
            if event.level != "info" or not self.quiet:
                prefix = "" if event.level == "info" else f"{event.level}: "
                print(f"{prefix}{event.message}", file=self.stream)
        elif isinstance(event, Artifact):
            self._newline()
            if not self.quiet:
                print(f"wrote {event.kind}: {event.path}", file=self.stream)
        elif isinstance(event, Samples):
            pass

    def _progress(self, e: Progress) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        done = e.step >= e.total
        if not done and now - self._last_line < (0.2 if self.tty else 5.0):
            return
        self._last_line = now
        frac = e.step / max(1, e.total)
        bar = "#" * int(24 * frac) + "-" * (24 - int(24 * frac))
        shown = self._metrics if self._metrics_stage == e.stage else {}  # never another stage's numbers
        extras = [f"{k}={v:.3g}" for k, v in list(shown.items())[:4] if isinstance(v, (int, float))]
        if e.rate:
            extras.append(f"{e.rate:.1f}/s")
        if e.eta_s is not None and not done:
            extras.append(f"eta {e.eta_s:.0f}s")
        line = f"{e.stage} [{bar}] {e.step}/{e.total} {e.message} {' '.join(extras)}".rstrip()
        if self.tty:
            print("\r" + line[:160].ljust(100), end="\n" if done else "", file=self.stream, flush=True)
        else:
            print(line, file=self.stream, flush=True)

    def _newline(self) -> None:
        if self.tty:
            print("", file=self.stream, end="")


def drive(events: Iterable[Event], cancel: CancelToken, quiet: bool = False, patient: bool = False,
          sink: Callable[[Event], None] | None = None) -> None:
    """Consume a stage generator; the first Ctrl-C (or SIGTERM) asks the stage to stop cleanly (it saves first).

    A stop raises Cancelled at the end, so the command exits 130 even when the stage wound down normally:
    `train && prune` must not go on with an unfinished model. `patient`: a second signal does not abort either
    (one process of several must reach the step where all stop together; torchrun kills it if that never comes).
    `sink` also receives every event (the JSON-lines stream the studio reads).
    """
    from engine import user_code
    from engine.workspace import writes_so_far

    reporter = ConsoleReporter(quiet=quiet)
    writes_at_start = writes_so_far()

    def on_stop(signum, frame):
        user_code.note_stop_signal()
        if cancel.cancelled:
            if patient:
                return
            raise KeyboardInterrupt
        if user_code.inside() and writes_so_far() == writes_at_start and not patient:
            # A person's model code never reaches "the end of this step" if it hangs; nothing is written yet,
            # so there is nothing to save first: stop now (exit 130).
            raise KeyboardInterrupt
        print("\nstopping after this step (Ctrl-C again to abort)...", file=sys.stderr)
        cancel.cancel()

    handled = (signal.SIGINT, signal.SIGTERM)
    old = {s: signal.signal(s, on_stop) for s in handled} if _main_thread() else {}
    try:
        for event in events:
            reporter(event)
            if sink is not None:
                sink(event)
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()  # on an abort the stage's bookkeeping (lock, manifest) runs now, not at garbage collection
        for s, handler in old.items():
            signal.signal(s, handler)
    if cancel.cancelled:
        raise Cancelled()


def drive_stage(name: str, ws, events: Iterator[Event], cancel: CancelToken, quiet: bool = False,
                before_first_event: Callable[[], None] | None = None, **drive_options) -> None:
    """drive() a pipeline of stages (demo, run) through engine.stage_runner: the workspace lock and the manifest."""
    from engine.stage_runner import run_stage

    drive(run_stage(name, ws, events, cancel, before_first_event), cancel, quiet=quiet, **drive_options)


def run_registered(name: str, cfg, ws, quiet: bool = False,
                   before_first_event: Callable[[], None] | None = None) -> None:
    """Run one registered stage (engine.stages) on a workspace until it ends; Ctrl-C stops it cleanly."""
    from engine import stages

    cancel = CancelToken()
    drive(stages.start(name, cfg, ws, cancel, before_first_event=before_first_event), cancel, quiet=quiet)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def add_settings_arg(p) -> None:
    """The hidden --settings CONFIG.toml: every setting from the stage's table (how the studio's processes run)."""
    import argparse

    p.add_argument("--settings", metavar="CONFIG.toml", help=argparse.SUPPRESS)


def with_settings(cfg, args, stage: str):
    """`cfg`, or the stage's settings from the --settings file when one is given."""
    if not getattr(args, "settings", None):
        return cfg
    from engine.config import load_pipeline_config, stage_config

    return stage_config(type(cfg), load_pipeline_config(args.settings).stages.get(stage), stage)
