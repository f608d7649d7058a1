"""The processes of one compress run, and the few points where they meet.

Not DDP: each process fine-tunes a candidate of its own (one per GPU, or per CPU process), so a round of the
search tries as many sizes as there are processes. They meet between rounds: rank 0's plan for the round, every
process's finished candidate, and at the end the winner's weights travel to rank 0, which alone writes. A stop
asked on any process (Ctrl-C, SIGTERM, the studio's Stop) is a flag in torchrun's store that every process polls
about once a second while it trains. On one process every call is local and costs nothing.
"""

from __future__ import annotations

import time
from typing import Any

import torch.distributed as dist

from engine.distributed import Context, current
from engine.events import CancelToken

STOP_FLAG = "compress-stop"
POLL_S = 1.0


class Crew:
    def __init__(self, cancel: CancelToken, team: Context | None = None) -> None:
        self.team = team or current()
        self.cancel = cancel
        self._polled = 0.0
        self._raised = False

    @property
    def size(self) -> int:
        return self.team.world

    @property
    def rank(self) -> int:
        return self.team.rank

    @property
    def is_main(self) -> bool:
        return self.team.is_main

    def stopping(self) -> bool:
        """True once this process or any other was asked to stop; a stop seen from another process cancels this
        one's token too, so every process ends the way a stopped stage ends (kept results, exit 130)."""
        if self.cancel.cancelled:
            if not self._raised:
                self.team.raise_flag(STOP_FLAG)  # a no-op on one process
                self._raised = True
            return True
        now = time.monotonic()
        if self.team.distributed and now - self._polled >= POLL_S:
            self._polled = now
            if self.team.flag_raised(STOP_FLAG):
                self.cancel.cancel()
        return self.cancel.cancelled

    def plan(self, value: Any) -> Any:
        """Rank 0's `value` on every process (the round to try, its time, the sensitivity rows)."""
        return self.hand(value, 0)

    def hand(self, value: Any, owner: int) -> Any:
        """Process `owner`'s `value` on every process (the winner's weights, on their way to rank 0)."""
        if not self.team.distributed:
            return value
        box = [value if self.rank == owner else None]
        dist.broadcast_object_list(box, src=owner)
        return box[0]

    def share(self, value: Any) -> list[Any]:
        """Every process's `value`, by rank (the candidates a round finished)."""
        if not self.team.distributed:
            return [value]
        out: list[Any] = [None] * self.size
        dist.all_gather_object(out, value)
        return out
