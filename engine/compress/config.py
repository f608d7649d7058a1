"""What `gan-prune compress` is asked: the quality budget, an optional size goal, and a time budget."""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.errors import ConfigError
from engine.prune import methods

# The channel methods the sensitivity scan can use (Taylor needs gradients per try), from the method registry.
CHANNEL_METHODS = tuple(m.name for m in methods.METHODS if m.structural and m.scannable)
DISCRIMINATORS = ("teacher", "match")
ALLOCATIONS = ("uniform", "sensitivity")


@dataclass(frozen=True)
class CompressConfig:
    max_fid_rise: float = 0.10  # the quality budget: FID at most (1 + this) x the teacher's
    target_macs: float | None = None  # a goal: keep at most this share of G's MACs; the search stops once met
    time_budget: float = 15.0  # minutes for everything (scan, tries, polishing the winner)
    method: str = "channel-l1"
    # The teacher's full D | the teacher's D cut to G's share (GCC). At 20x fewer MACs the full D gave the better
    # FID (169 vs 305, bench/results/distill_ablation*.json), so it is the default.
    discriminator: str = "teacher"
    # How the MACs are cut: the same share of every layer's channels, or per-layer amounts from the sensitivity scan.
    # Uniform measured better on the bundled DCGAN: at 2x fewer MACs probe FID -3.7 % vs +18 % (the scan, which scores
    # each layer pruned alone without training, cut the last hidden layer to half in every candidate).
    allocation: str = "uniform"
    # The probe is the search's yardstick, so it uses the evaluate protocol's size: at 1,000 samples FID's bias
    # differs between models (teacher 30.1 at 1,000 vs 25.1 at 5,000; a 2x student 29.2 vs 29.5), and a search
    # judged at 1,000 accepted a student that is +17 % at 5,000 (bench/results/compress_probe1000.json).
    probe_samples: int = 5000
    batch_size: int = 64
    lr: float = 2e-4
    device: str = "auto"
    seed: int = 0

    def validate(self) -> None:
        def number(v) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

        if not (number(self.max_fid_rise) and 0 <= self.max_fid_rise <= 10):
            raise ConfigError(f"--max-fid-rise must be a number between 0 and 10, e.g. 0.10 for 10 % "
                              f"(got {self.max_fid_rise!r}).")
        if self.target_macs is not None and not (number(self.target_macs) and 0 < self.target_macs < 1):
            raise ConfigError(f"--target-macs is the share of G's MACs to keep, between 0 and 1, e.g. 0.05 for "
                              f"20x fewer (got {self.target_macs!r}).")
        if not (number(self.time_budget) and 0 < self.time_budget <= 24 * 60):
            raise ConfigError(f"--time-budget is minutes, above 0 and at most 1440 (got {self.time_budget!r}).")
        if self.method not in CHANNEL_METHODS:
            valid = ", ".join(CHANNEL_METHODS)
            raise ConfigError(f"compress removes channels; --method must be one of {valid} (got {self.method!r}).")
        if self.discriminator not in DISCRIMINATORS:
            raise ConfigError(f"--discriminator must be one of {', '.join(DISCRIMINATORS)} "
                              f"(got {self.discriminator!r}).")
        if self.allocation not in ALLOCATIONS:
            raise ConfigError(f"--allocation must be one of {', '.join(ALLOCATIONS)} (got {self.allocation!r}).")
        for name in ("probe_samples", "batch_size"):
            v = getattr(self, name)
            if not (isinstance(v, int) and not isinstance(v, bool) and v > 0):
                raise ConfigError(f"--{name.replace('_', '-')} must be a whole number above 0 (got {v!r}).")
        if not (number(self.lr) and self.lr > 0):
            raise ConfigError(f"--lr must be a number above 0 (got {self.lr!r}).")
