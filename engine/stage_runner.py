"""The one door every writing stage goes through: the workspace lock, the manifest bookkeeping, temp-file cleanup.

`run_stage(name, ws, events, cancel)` wraps a stage generator. While it runs it holds an OS lock on `DIR/.lock`
(one writer per workspace, CLI and studio alike); when it ends it makes sure the manifest says how:
done, failed (an exception), or cancelled (Cancelled, KeyboardInterrupt, SIGTERM through the cancel token).
Every stage function is declared with `@recorded(name)`, so calling it goes through `run_stage`: the stages only
mark 'running' (with their own fields) and never record their own end. It imports no stage.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from engine.distributed import current
from engine.errors import UserError
from engine.events import Cancelled, CancelToken, Event
from engine.workspace import PROCESS_START, Workspace

LOCK_NAME = ".lock"


class WorkspaceBusy(UserError):
    """Another process (a CLI command or the studio) is writing this workspace."""


# Locks this process holds, by workspace root: a pipeline (demo, run) holds the lock and runs its stages inside it.
_held: dict[Path, list] = {}  # root -> [open file, depth]
_held_guard = threading.Lock()


def _try_lock(f) -> bool:
    """Take an exclusive lock on the open file without waiting; False when another process holds it."""
    if os.name == "nt":
        import msvcrt

        try:
            f.seek(0)
            msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    import fcntl

    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _unlock(f) -> None:
    if os.name == "nt":
        import msvcrt

        f.seek(0)
        msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _holder(f) -> str:
    """'pid N, stage S' as the holder wrote it (the lock file is never truncated by a waiting process)."""
    try:
        f.seek(0)
        text = f.read(200).decode("utf-8", "replace").split()
        fields = dict(part.split("=", 1) for part in text if "=" in part)
        return f"pid {fields.get('pid', '?')}, stage {fields.get('stage', '?')}"
    except (OSError, ValueError):
        return "pid ?, stage ?"


@contextlib.contextmanager
def workspace_lock(ws: Workspace, stage: str) -> Iterator[bool]:
    """Hold DIR/.lock for one writer. Yields True for the outermost holder in this process (it tidies up).

    A lock left by a killed process is no obstacle: the OS drops a flock/msvcrt lock with its owner's last handle.
    """
    root = ws.root
    with _held_guard:
        if root in _held:
            _held[root][1] += 1
            outer = False
        else:
            f = open(root / LOCK_NAME, "a+b")  # noqa: SIM115 - held across the yield, closed below
            if not _try_lock(f):
                who = _holder(f)
                f.close()
                raise WorkspaceBusy(f"workspace busy ({who}): {root} is being written by another command or the "
                                    "studio; wait for it to finish or use another workspace.")
            with contextlib.suppress(OSError):  # who holds it is a courtesy for the next writer; a full disk
                f.seek(0)                        # must not leave the lock taken and unrecorded
                f.truncate()
                f.write(f"pid={os.getpid()} stage={stage}\n".encode())
                f.flush()
            _held[root] = [f, 1]
            outer = True
    try:
        yield outer
    finally:
        with _held_guard:
            entry = _held[root]
            entry[1] -= 1
            if entry[1] == 0:
                del _held[root]
                with contextlib.suppress(OSError):
                    _unlock(entry[0])
                entry[0].close()


# ---- tidying up after a killed writer ----------------------------------------------------------------------------
def sweep_stale_temp_files(ws: Workspace) -> list[str]:
    """Remove `.NAME.*.tmp` files and export/tmp* folders older than this process: a killed writer left them
    (an atomic write that finishes or fails removes its own). Call only under the lock."""
    removed = []
    for folder in (ws.root, ws.checkpoints, ws.export_dir, ws.samples_dir, ws.logs_dir):
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            try:
                old = p.stat().st_mtime < PROCESS_START
                if p.is_file() and p.name.startswith(".") and p.name.endswith(".tmp") and old:
                    p.unlink()
                elif p.is_dir() and folder == ws.export_dir and p.name.startswith("tmp") and old:
                    shutil.rmtree(p)
                else:
                    continue
                removed.append(ws.rel(p))
            except OSError:
                continue  # a read-only or vanished file: the stage's own write will say what is wrong
    return removed


def close_interrupted_stages(ws: Workspace) -> list[str]:
    """Under the lock no stage can be running: an entry that still says so was left by a killed process."""
    stages = ws.read_manifest()["stages"]
    stuck = [name for name, entry in stages.items() if entry.get("status") == "running"]
    for name in stuck:
        ws.update_stage(name, status="failed", error="interrupted: the process running it stopped (killed or "
                                                     "crashed); run the stage again")
    return stuck


def interrupted_stages(ws: Workspace) -> list[str]:
    """Stages the manifest calls 'running' although no process holds the workspace lock: their process was killed
    (the next writer records them as failed). A read-only look: it takes the lock only for an instant to test it,
    and never creates the lock file."""
    stages = ws.read_manifest()["stages"]
    running = [name for name, entry in stages.items() if entry.get("status") == "running"]
    if not running:
        return []
    try:
        f = open(ws.root / LOCK_NAME, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return running  # nobody ever held it, so nobody holds it now
    except OSError:
        return []  # cannot tell: say nothing rather than something wrong
    with f:
        with _held_guard:
            if ws.root in _held:
                return []  # this very process is writing it
        if not _try_lock(f):
            return []  # a live writer: they are running
        with contextlib.suppress(OSError):
            _unlock(f)
    return running


# ---- the wrapper -------------------------------------------------------------------------------------------------
def recorded(name: str) -> Callable:
    """Declare a stage function: `@recorded("train") def run_train(cfg, ws, cancel)`. Calling it returns the body's
    events through run_stage, so every caller (CLI, studio, pipeline, tests, benchmarks) gets the lock and the one
    record of how the stage ended; the body only marks 'running' with its own fields when it starts writing.
    `before_first_event` (keyword) is passed on to run_stage."""

    def wrap(body: Callable[..., Iterator[Event]]) -> Callable[..., Iterator[Event]]:
        @functools.wraps(body)
        def run(cfg: Any, ws: Workspace, cancel: CancelToken | None = None, *,
                before_first_event: Callable[[], None] | None = None) -> Iterator[Event]:
            cancel = cancel if cancel is not None else CancelToken()
            return run_stage(name, ws, body(cfg, ws, cancel), cancel, before_first_event)

        run.stage_name = name  # type: ignore[attr-defined]
        return run

    return wrap


def run_stage(name: str, ws: Workspace, events: Iterator[Event], cancel: CancelToken | None = None,
              before_first_event: Callable[[], None] | None = None) -> Iterator[Event]:
    """Run a stage generator under the workspace lock and record how it ended in the manifest.

    A stage refuses bad input before its first event and before it writes anything; `before_first_event` (e.g.
    writing config.toml) therefore runs only once the stage has accepted its input, so a refused command writes
    nothing. The stage itself marks 'running' when it starts writing; this wrapper turns an entry it finds
    unchanged into nothing, and a changed one still 'running' (or any changed entry on an error) into the outcome.
    """
    if not current().is_main:  # one of several processes: rank 0 alone holds the lock and keeps the manifest
        yield from events
        return
    with workspace_lock(ws, name) as outer:
        if outer:
            sweep_stale_temp_files(ws)
            close_interrupted_stages(ws)
        before = _entry(ws, name)
        started = before_first_event is None
        try:
            for event in events:
                if not started:
                    before_first_event()
                    started = True
                yield event
        except BaseException as e:
            _close(events)  # the stage's own finally blocks run first, still under the lock
            stopped = isinstance(e, (Cancelled, KeyboardInterrupt, GeneratorExit))
            _record(ws, name, before, "cancelled" if stopped else "failed", **({} if stopped else
                                                                                {"error": _one_line(e)}))
            raise
        _record(ws, name, before, "cancelled" if cancel is not None and cancel.cancelled else "done",
                only_if_running=True)


def _close(events: Iterator[Event]) -> None:
    close = getattr(events, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):
            close()


def _entry(ws: Workspace, name: str) -> Any:
    try:
        return ws.stage(name)
    except UserError:
        return None


def _record(ws: Workspace, name: str, before: Any, status: str, only_if_running: bool = False, **fields) -> None:
    """Write the stage's outcome where this run changed its entry; never let bookkeeping hide the real error."""
    try:
        now = ws.stage(name)
        if now is None or now == before:
            return  # the stage refused before it wrote anything: the manifest stays as it was
        if now.get("status") == "running" or (not only_if_running and now.get("status") != status):
            ws.update_stage(name, status=status, **fields)
    except (OSError, UserError):
        pass  # a read-only or full disk: the caller reports the original error


def _one_line(e: BaseException) -> str:
    from engine.distributed.context import LOST_CONTACT_WORDS, lost_contact

    if lost_contact(e):  # not Gloo's "[.../pair.cc:545] Read error ... GLHF!"
        return LOST_CONTACT_WORDS
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:300]

