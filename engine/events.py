"""Events that stage generators yield, and the token that cancels them.

A stage is `run_x(cfg, workspace, cancel) -> Iterator[Event]`. The CLI prints these events; the GUI turns them
into queued Qt signals. Nothing here knows who listens.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the CLI answers --help before numpy loads
    import numpy as np


@dataclass(frozen=True)
class Progress:
    stage: str
    step: int
    total: int
    message: str = ""
    rate: float | None = None  # items per second, e.g. samples/s or steps/s
    eta_s: float | None = None


@dataclass(frozen=True)
class Metrics:
    stage: str
    step: int
    values: dict[str, float]


@dataclass(frozen=True)
class Samples:
    """A grid of generated images as uint8 H x W x C (C = 1 or 3)."""

    stage: str
    step: int
    image: np.ndarray
    label: str = "samples"


@dataclass(frozen=True)
class Artifact:
    """A file a stage wrote (path relative to the workspace when inside it)."""

    stage: str
    kind: str  # checkpoint, samples, onnx, report, csv, ...
    path: str
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Log:
    level: str  # "info", "warning", "error"
    message: str


Event = Progress | Metrics | Samples | Artifact | Log


class Cancelled(Exception):
    """Raised inside a stage when its cancel token fires; stages save what they have first."""


class CancelToken:
    """Thread-safe flag a stage checks between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()


class EtaMeter:
    """Steps/s and time left, smoothed so a single slow step does not make the ETA jump."""

    def __init__(self, total: int, start_step: int = 0, smoothing: float = 0.1) -> None:
        import time

        self._time = time.perf_counter
        self.total = total
        self._last_t = self._time()
        self._last_step = start_step
        self._rate: float | None = None
        self._smoothing = smoothing

    def update(self, step: int) -> tuple[float | None, float | None]:
        now = self._time()
        dt, ds = now - self._last_t, step - self._last_step
        if dt > 0 and ds > 0:
            rate = ds / dt
            self._rate = rate if self._rate is None else (1 - self._smoothing) * self._rate + self._smoothing * rate
            self._last_t, self._last_step = now, step
        eta = (self.total - step) / self._rate if self._rate else None
        return self._rate, eta
