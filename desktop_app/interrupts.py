"""SIGTERM and Ctrl-C for the studio: close like the Quit menu does (the job cancelled, its worker waited for, the
stage left "cancelled"), then exit 130 — the same code as every gan-prune command, so a script or a service manager
sees "interrupted" rather than "finished" (0) or "crashed".

Why a timer: Python runs its signal handlers only between bytecodes, and Qt's event loop sleeps in C++ while the
window is idle, so a handler alone would wait for the next mouse move. A 200 ms timer gives the interpreter a turn.
"""

from __future__ import annotations

import signal

from PySide6.QtCore import QObject, QTimer, Signal

INTERRUPTED = 130
POLL_MS = 200


class Interrupts(QObject):
    """Catches SIGINT and SIGTERM while it lives; `received` fires on the UI thread, once."""

    received = Signal(int)  # the signal number

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.signum: int | None = None
        self._emitted = False
        self._previous: dict[int, object] = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._on_signal)
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._check)
        self._timer.start()

    def _on_signal(self, signum: int, _frame) -> None:
        # Only note it: this runs between two arbitrary bytecodes, where touching widgets is not safe.
        if self.signum is None:
            self.signum = signum

    def _check(self) -> None:
        if self.signum is not None and not self._emitted:
            self._emitted = True
            self.received.emit(self.signum)

    @property
    def interrupted(self) -> bool:
        return self.signum is not None

    def restore(self) -> None:
        """Put the previous handlers back (tests build several windows in one process)."""
        self._timer.stop()
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


def quit_on_interrupt(window, exit_loop) -> None:
    """What the studio does on SIGTERM/Ctrl-C: close like File ▸ Quit, without the question (nobody may be there to
    answer it): closeEvent cancels the job and waits for its worker; then `exit_loop(130)` (QApplication.exit in the
    app; only while app.exec() runs, since an exit() outside it makes every later local event loop return at once)."""
    window.confirm_close = lambda: True
    window.close()
    exit_loop(INTERRUPTED)
