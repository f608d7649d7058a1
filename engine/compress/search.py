"""Which MACs reduction the compress search tries next, and how much of the time budget each try gets.

A binary search over a ladder of reductions: a candidate whose quick FID stays within the budget moves the search
to smaller models, one that does not moves it to larger ones. With a goal (`--target-macs`), the goal is tried
first and the search stops at the first candidate that is at least that small and keeps quality. Pure Python, so
the search can be tested on a toy budget without training anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

LADDER = (2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 20.0, 24.0, 32.0, 40.0)  # dense MACs / candidate MACs
POLISH_SHARE = 0.25  # of the budget left for training the winner longer once the search has settled


@dataclass
class Candidate:
    """One try: its size, speed and quality, and whether it kept quality within the budget."""

    reduction: float  # asked for: dense MACs / candidate MACs
    macs: int = 0
    params: int = 0
    widths: list[int] | None = None
    latency_ms: float | None = None  # torch, CPU, one thread, batch 64, per image
    probe_fid: float | None = None
    fid_rise: float | None = None  # probe_fid / teacher probe FID - 1
    feasible: bool = False
    steps: int = 0
    kept_step: int | None = None
    seconds: float = 0.0
    note: str = ""

    def row(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in vars(self).items()}


class Search:
    def __init__(self, ladder: tuple[float, ...] = LADDER, goal: float | None = None) -> None:
        rungs = set(ladder) | ({float(goal)} if goal else set())
        self.ladder = sorted(rungs)
        self.goal = float(goal) if goal else None
        self.lo = -1  # index of the largest reduction known to keep quality (-1: none yet, the dense model)
        self.hi = len(self.ladder)  # index of the smallest reduction known to lose it
        self.tried: list[float] = []

    def next(self) -> float | None:
        """The reduction to try next, or None when the search has settled."""
        if self.hi - self.lo <= 1:
            return None
        if self.goal is not None and not self.tried:
            return self.goal
        return self.ladder[(self.lo + self.hi) // 2]

    def record(self, reduction: float, kept_quality: bool) -> None:
        i = self.ladder.index(reduction)
        self.tried.append(reduction)
        if kept_quality:
            self.lo = max(self.lo, i)
            if self.goal is not None and reduction >= self.goal:
                self.hi = self.lo + 1  # small enough: what is left of the budget polishes this one
        else:
            self.hi = min(self.hi, i)

    def tries_left(self) -> int:
        """Tries the binary search still needs at most."""
        span = self.hi - self.lo - 1
        return 0 if span <= 0 else math.ceil(math.log2(span + 1))

    def seconds_for_next(self, seconds_left: float) -> float:
        """The next try's share: what is left, less the winner's polish share, split over the tries still needed."""
        tries = max(1, self.tries_left())
        return max(0.0, seconds_left * (1 - POLISH_SHARE) / tries)


def pareto(candidates: list[Candidate]) -> list[Candidate]:
    """Candidates no other beats on both MACs and FID, smallest first."""
    done = [c for c in candidates if c.probe_fid is not None]
    front = [c for c in done if not any((o.macs <= c.macs and o.probe_fid < c.probe_fid) or
                                        (o.macs < c.macs and o.probe_fid <= c.probe_fid) for o in done)]
    return sorted(front, key=lambda c: c.macs)
