"""What every subcommand shares: the workspace flag, the event printer with a progress bar, and Ctrl-C."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Iterable
from typing import TextIO

from engine.events import Artifact, CancelToken, Event, Log, Metrics, Progress, Samples


def add_workspace_arg(p) -> None:
    p.add_argument("--workspace", "-w", required=True, metavar="DIR", help="the project folder")


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


def drive(events: Iterable[Event], cancel: CancelToken, quiet: bool = False) -> None:
    """Consume a stage generator; the first Ctrl-C asks the stage to stop cleanly (it saves first)."""
    reporter = ConsoleReporter(quiet=quiet)

    def on_sigint(signum, frame):
        if cancel.cancelled:
            raise KeyboardInterrupt
        print("\nstopping after this step (Ctrl-C again to abort)...", file=sys.stderr)
        cancel.cancel()

    old = signal.signal(signal.SIGINT, on_sigint) if _main_thread() else None
    try:
        for event in events:
            reporter(event)
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
