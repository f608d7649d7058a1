"""Which widths of an elastic generator the compress search scores, by evaluation alone (no training per try).

Widths are one grid step per channel group (index 0 = the dense width). First the same step for every group,
bisected (quality falls as widths shrink); then a local search from the smallest uniform config that kept quality:
each move shrinks one group a step, or shrinks one and grows another (trading a cheap group for a costly one), and
the search takes the move with the fewest MACs that still keeps quality, until no move does or the time is up.
Pure Python: `score(steps) -> FID` and `macs(steps) -> int` are given, so it runs on a toy table in a test.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

Steps = tuple[int, ...]  # one grid index per group
TRADING_GROUPS = 4


Ask = Generator[Steps, float, bool]  # yields a config to score, is sent its FID back, returns whether it keeps quality


@dataclass
class WidthSearch:
    """Drive `run()`: it yields the next config to score and is sent its probe FID (`drive` does it with a
    function); it returns the config with the fewest MACs that kept quality, or None."""

    groups: int
    grid_len: int
    macs: Callable[[Steps], int]
    budget: float  # the highest FID that keeps quality
    goal_macs: int | None = None  # --target-macs: stop at the first config this small that keeps quality
    time_left: Callable[[], float] = lambda: float("inf")
    scored: dict[Steps, float] = field(default_factory=dict)  # every config scored, in order

    def keeps(self, steps: Steps) -> Ask:
        if steps not in self.scored:
            self.scored[steps] = float((yield steps))
        return self.scored[steps] <= self.budget

    def uniform(self) -> Generator[Steps, float, Steps | None]:
        """The smallest config with one step for every group that keeps quality (bisection), or None."""
        lo, hi, best = 0, self.grid_len - 1, None  # the answer is in [lo, hi]
        if self.goal_macs is not None:  # the goal's own step first: if it keeps quality, the search is done
            fits = [i for i in range(self.grid_len) if self.macs((i,) * self.groups) <= self.goal_macs]
            if fits and (yield from self.keeps((fits[0],) * self.groups)):
                return (fits[0],) * self.groups
        while lo <= hi and self.time_left() > 0:
            mid = (lo + hi + 1) // 2
            if (yield from self.keeps((mid,) * self.groups)):
                best, lo = (mid,) * self.groups, mid + 1
            else:
                hi = mid - 1
        return best

    def moves(self, at: Steps) -> list[Steps]:
        """Configs one move from `at` with fewer MACs, fewest first: one group shrinks one or two steps, and
        another may grow one or two (trading a cheap group's channels for a costly one's)."""
        out = set()
        for g in range(self.groups):
            for d in (1, 2):
                if at[g] + d >= self.grid_len:
                    continue
                shrunk = at[:g] + (at[g] + d,) + at[g + 1:]
                out.add(shrunk)
                for h, e in itertools.product(range(self.groups), (1, 2)):
                    # trades only with a few groups: with many (a ResNet's ten) they would be hundreds of probes
                    if h != g and shrunk[h] - e >= 0 and self.groups <= TRADING_GROUPS:
                        out.add(shrunk[:h] + (shrunk[h] - e,) + shrunk[h + 1:])
        here = self.macs(at)
        return sorted((s for s in out if self.macs(s) < here), key=lambda s: (self.macs(s), s))

    def _done(self, best: Steps) -> bool:
        return self.time_left() <= 0 or (self.goal_macs is not None and self.macs(best) <= self.goal_macs)

    def run(self) -> Generator[Steps, float, Steps | None]:
        best = yield from self.uniform()
        if best is None and self.time_left() > 0 and (yield from self.keeps((0,) * self.groups)):
            best = (0,) * self.groups
        while best is not None and not self._done(best):
            for s in self.moves(best):
                if self.time_left() <= 0:
                    return best
                if (yield from self.keeps(s)):
                    best = s
                    break
            else:
                return best
        return best


def drive(search: WidthSearch, score: Callable[[Steps], float]) -> Steps | None:
    """Run the search with a scoring function (a test's table)."""
    gen = search.run()
    try:
        steps = next(gen)
        while True:
            steps = gen.send(score(steps))
    except StopIteration as stop:
        return stop.value
