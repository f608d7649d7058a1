"""The one place threads live: an engine stage generator runs on a QThread and its events come back to the UI
thread as queued signals, coalesced so images, plots and progress update at most ten times a second.

A page asks `JobRunner.start(name, make_events)`; `make_events(cancel)` is called ON the worker thread (so slow
imports and data loading never freeze the window) and returns the stage's event iterator. One job at a time.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from engine.events import Artifact, Cancelled, CancelToken, Log, Metrics, Progress, Samples

log = logging.getLogger("desktop_app.jobs")

UPDATE_INTERVAL_S = 0.1  # at most 10 image/plot/progress updates per second


@dataclass(frozen=True)
class JobFailure:
    """What went wrong, as one sentence for a person and the technical details folded away."""

    job: str
    message: str
    details: str
    user_error: bool


def describe_failure(job: str, exc: BaseException) -> JobFailure:
    from engine.errors import UserError

    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if isinstance(exc, UserError):
        return JobFailure(job, str(exc), details, True)
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    return JobFailure(job, f"The {job} step stopped because of an unexpected problem ({type(exc).__name__}: "
                           f"{first}). The details are in the log file.", details, False)


def coalesce(events: list) -> list:
    """Keep every metric, log and artifact; keep only the newest progress and the newest grid per label."""
    newest_progress = None
    newest_samples: dict[str, Samples] = {}
    out = []
    for ev in events:
        if isinstance(ev, Progress):
            newest_progress = ev
        elif isinstance(ev, Samples):
            newest_samples[ev.label] = ev
        else:
            out.append(ev)
    out.extend(newest_samples.values())
    if newest_progress is not None:
        out.append(newest_progress)
    return out


class _Worker(QObject):
    batch = Signal(object)  # list of events
    failed = Signal(object)  # JobFailure
    finished = Signal(str)  # done | cancelled | failed

    def __init__(self, name: str, make_events: Callable[[CancelToken], Iterator], cancel: CancelToken,
                 interval_s: float) -> None:
        super().__init__()
        self._name, self._make_events, self._cancel, self._interval = name, make_events, cancel, interval_s

    @Slot()
    def run(self) -> None:
        status = "done"
        pending: list = []
        last_flush = 0.0
        try:
            for ev in self._make_events(self._cancel):
                if isinstance(ev, (Log, Artifact)):  # rare and wanted at once; they draw no image or plot
                    self.batch.emit([ev])
                    continue
                pending.append(ev)
                now = time.monotonic()
                if now - last_flush >= self._interval:
                    self.batch.emit(coalesce(pending))
                    pending, last_flush = [], now
            if self._cancel.cancelled:
                status = "cancelled"
        except Cancelled:
            status = "cancelled"
        except Exception as exc:  # every failure becomes a dialog, never a dead thread
            status = "failed"
            log.error("job %s failed", self._name, exc_info=exc)
            self.failed.emit(describe_failure(self._name, exc))
        finally:
            if pending:
                self.batch.emit(coalesce(pending))
            self.finished.emit(status)


class JobRunner(QObject):
    """Runs one engine stage at a time off the UI thread; every signal arrives on the UI thread."""

    started = Signal(str)  # job name
    progress = Signal(object)  # Progress
    metrics = Signal(object)  # list[Metrics] since the last update
    samples = Signal(object)  # Samples
    artifact = Signal(object)  # Artifact
    log_event = Signal(object)  # Log
    failed = Signal(object)  # JobFailure (emitted before finished)
    finished = Signal(str, str)  # job name, status: done | cancelled | failed
    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None, interval_s: float = UPDATE_INTERVAL_S) -> None:
        super().__init__(parent)
        self._interval = interval_s
        self._thread: QThread | None = None
        self._worker: _Worker | None = None
        self._cancel: CancelToken | None = None
        self._name = ""
        self._status = "done"

    @property
    def busy(self) -> bool:
        return self._thread is not None

    @property
    def current(self) -> str:
        return self._name if self.busy else ""

    def start(self, name: str, make_events: Callable[[CancelToken], Iterator]) -> bool:
        """Start a job; False (and nothing started) when another job is running."""
        if self.busy:
            return False
        self._name, self._status = name, "done"
        self._cancel = CancelToken()
        thread = QThread()
        thread.setObjectName(f"job-{name}")
        worker = _Worker(name, make_events, self._cancel, self._interval)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.batch.connect(self._on_batch)
        worker.failed.connect(self._on_failed)
        worker.finished.connect(self._on_worker_finished)
        # Direct: quit() is thread-safe, and a queued call would never run while shutdown() blocks the UI thread.
        worker.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._worker = thread, worker
        log.info("job %s started", name)
        self.busy_changed.emit(True)
        self.started.emit(name)
        thread.start()
        return True

    def cancel(self) -> None:
        if self._cancel is not None and self.busy:
            log.info("job %s: cancel requested", self._name)
            self._cancel.cancel()

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Cancel and wait for the worker (closing the window); True when no thread is left running."""
        if not self.busy:
            return True
        self.cancel()
        assert self._thread is not None
        stopped = self._thread.wait(timeout_ms)
        if stopped:
            self._status = "cancelled"
            self._finish()
        return stopped

    # ---- slots: run on the UI thread ----------------------------------------------------------------------------
    @Slot(object)
    def _on_batch(self, events: list) -> None:
        metrics = [e for e in events if isinstance(e, Metrics)]
        if metrics:
            self.metrics.emit(metrics)
        for ev in events:
            if isinstance(ev, Progress):
                self.progress.emit(ev)
            elif isinstance(ev, Samples):
                self.samples.emit(ev)
            elif isinstance(ev, Artifact):
                self.artifact.emit(ev)
            elif isinstance(ev, Log):
                self.log_event.emit(ev)

    @Slot(object)
    def _on_failed(self, failure: JobFailure) -> None:
        self.failed.emit(failure)

    @Slot(str)
    def _on_worker_finished(self, status: str) -> None:
        self._status = status

    @Slot()
    def _on_thread_finished(self) -> None:
        if self._thread is not None:
            self._thread.wait()  # `finished` is emitted just before the thread really ends
            self._finish()

    def _finish(self) -> None:
        thread, worker, name, status = self._thread, self._worker, self._name, self._status
        if thread is None:
            return
        self._thread = self._worker = None
        self._cancel = None
        worker.deleteLater()
        thread.deleteLater()
        log.info("job %s %s", name, status)
        self.busy_changed.emit(False)
        self.finished.emit(name, status)


class _CallThread(QThread):
    done = Signal(object, object, object)  # tag, value, error (JobFailure or None)

    def __init__(self, tag: str, fn: Callable[[], object]) -> None:
        super().__init__()
        self._tag, self._fn = tag, fn

    def run(self) -> None:
        try:
            value = self._fn()
        except Exception as exc:  # shown next to the widget that asked, never a crash
            self.done.emit(self._tag, None, describe_failure(self._tag, exc))
            return
        self.done.emit(self._tag, value, None)


class BackgroundCalls(QObject):
    """Short computations that must not freeze the window (the pruning preview), one at a time, newest request
    wins: while one runs, later requests replace each other and only the last one runs next. Not a job: it
    does not block the Start buttons."""

    result = Signal(str, object)  # tag, value
    error = Signal(str, object)  # tag, JobFailure

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: _CallThread | None = None
        self._pending: tuple[str, Callable[[], object]] | None = None
        self._closed = False

    @property
    def busy(self) -> bool:
        return self._thread is not None

    def request(self, tag: str, fn: Callable[[], object]) -> None:
        if self._closed:  # a debounce timer firing after the window closed must not start a thread
            return
        self._pending = (tag, fn)
        if self._thread is None:
            self._next()

    def _next(self) -> None:
        if self._pending is None:
            return
        tag, fn = self._pending
        self._pending = None
        thread = _CallThread(tag, fn)
        thread.setObjectName(f"call-{tag}")
        thread.done.connect(self._on_done)
        thread.finished.connect(self._on_finished)
        self._thread = thread
        thread.start()

    @Slot(object, object, object)
    def _on_done(self, tag: str, value: object, failure: JobFailure | None) -> None:
        if self._pending is not None and self._pending[0] == tag:
            return  # a newer request for the same thing is waiting; this answer is already stale
        if failure is None:
            self.result.emit(tag, value)
        else:
            self.error.emit(tag, failure)

    @Slot()
    def _on_finished(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.wait()
            thread.deleteLater()
        self._next()

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        self._closed = True
        self._pending = None
        if self._thread is None:
            return True
        stopped = self._thread.wait(timeout_ms)
        if stopped:
            self._thread.deleteLater()
            self._thread = None
        return stopped
