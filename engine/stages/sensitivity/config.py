"""The sensitivity scan's settings, free of torch so the CLI and the studio read them before torch loads."""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import ConfigError
from engine.prune import methods
from engine.prune.methods import DEFAULT_AMOUNTS


@dataclass(frozen=True)
class SensitivityConfig:
    method: str = "channel-l1"
    amounts: tuple[float, ...] = DEFAULT_AMOUNTS
    layers: tuple[str, ...] | None = None  # names as in `gan-prune layers`
    round_to: int | None = None  # keep channel counts a multiple of N
    n_latents: int = 64
    seed: int = 0

    def validate(self) -> None:
        if self.method not in methods.SCANNABLE:
            valid = sorted(methods.SCANNABLE, key=lambda name: not methods.get(name).structural)  # channels first
            raise ConfigError(f"The sensitivity scan cannot use method '{self.method}'; choose one of: "
                              f"{', '.join(valid)}.")
        if not self.amounts or any(not (isinstance(a, (int, float)) and 0 < a < 1) for a in self.amounts):
            raise ConfigError(f"Every scan amount must be between 0 and 1, e.g. 0.1,0.5,0.9 (got {self.amounts}).")
