"""Which MACs reduction the compress search tries next, and how much of the time budget each try gets.

A search over a ladder of reductions: a candidate whose quick FID stays within the budget moves the search to
smaller models, one that does not moves it to larger ones. One process tries one candidate at a time (a binary
search); P processes try P at once per round (a P-section search: fewer, longer rounds). With a goal
(`--target-macs`), the goal is tried first and the search stops at the first candidate that is at least that small
and keeps quality. Pure Python, so the search can be tested on a toy budget without training anything.
"""

from __future__ import annotations

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
    round: int = 0  # the search round that tried it (from 1); candidates of one round trained at the same time
    process: int = 0  # the process (rank) that trained it

    def row(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in vars(self).items()}


class Search:
    """The ladder, what is known about it, and the next round of reductions to try.

    With P processes a round tries up to P reductions at once, evenly spaced over what is still open (a P-section
    search: each round leaves about 1/(P+1) of the ladder open); with one process it is the binary search.
    """

    def __init__(self, ladder: tuple[float, ...] = LADDER, goal: float | None = None) -> None:
        rungs = set(ladder) | ({float(goal)} if goal else set())
        self.ladder = sorted(rungs)
        self.goal = float(goal) if goal else None
        self.lo = -1  # index of the largest reduction known to keep quality (-1: none yet, the dense model)
        self.hi = len(self.ladder)  # index of the smallest reduction known to lose it
        self.tried: list[float] = []

    def next_round(self, width: int = 1) -> list[float]:
        """Up to `width` reductions to try at once, smallest first; [] when the search has settled. With a goal,
        the first round holds the goal."""
        inside = list(range(self.lo + 1, self.hi))
        if not inside:
            return []
        picks = []
        if self.goal is not None and not self.tried:
            picks.append(self.ladder.index(self.goal))
            inside.remove(picks[0])
        n = min(width - len(picks), len(inside))
        if n > 0:  # n points cutting the open rungs into n + 1 equal parts (n = 1: the middle)
            picks += [inside[(k + 1) * (len(inside) + 1) // (n + 1) - 1] for k in range(n)]
        return [self.ladder[i] for i in sorted(set(picks))]

    def next(self) -> float | None:
        """The reduction to try next on one process, or None when the search has settled."""
        picks = self.next_round(1)
        return picks[0] if picks else None

    def record_round(self, results: list[tuple[float, bool]]) -> None:
        """What a round found: (reduction, kept quality) for each try."""
        kept, lost = [], []
        for reduction, kept_quality in results:
            self.tried.append(reduction)
            (kept if kept_quality else lost).append(self.ladder.index(reduction))
        self.lo = max([self.lo, *kept])
        # a try that lost quality below one that kept it says nothing about the larger ones (training noise)
        self.hi = min([self.hi, *(i for i in lost if i > self.lo)])
        if self.goal is not None and kept and self.ladder[self.lo] >= self.goal:
            self.hi = self.lo + 1  # small enough: what is left of the budget polishes this one

    def record(self, reduction: float, kept_quality: bool) -> None:
        self.record_round([(reduction, kept_quality)])

    def rounds_left(self, width: int = 1) -> int:
        """Rounds of `width` tries the search still needs at most."""
        span, rounds = self.hi - self.lo - 1, 0
        while span > 0:  # n evenly spaced tries leave at most ceil((span - n) / (n + 1)) rungs open
            span = -(-(span - width) // (width + 1)) if span > width else 0
            rounds += 1
        return rounds

    def tries_left(self) -> int:
        """Tries the binary search (one process) still needs at most."""
        return self.rounds_left(1)

    def seconds_for_next(self, seconds_left: float, width: int = 1) -> float:
        """The next round's share: what is left, less the winner's polish share, split over the rounds still
        needed."""
        rounds = max(1, self.rounds_left(width))
        return max(0.0, seconds_left * (1 - POLISH_SHARE) / rounds)


def pareto(candidates: list[Candidate]) -> list[Candidate]:
    """Candidates no other beats on both MACs and FID, smallest first."""
    done = [c for c in candidates if c.probe_fid is not None]
    front = [c for c in done if not any((o.macs <= c.macs and o.probe_fid < c.probe_fid) or
                                        (o.macs < c.macs and o.probe_fid <= c.probe_fid) for o in done)]
    return sorted(front, key=lambda c: c.macs)
