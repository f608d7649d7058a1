"""What `gan-prune compress` is asked: the quality budget, an optional size goal, and a time budget."""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.config import DEVICES, setting
from engine.errors import ConfigError
from engine.prune import methods

# The channel methods the sensitivity scan can use (Taylor needs gradients per try), from the method registry.
CHANNEL_METHODS = tuple(m.name for m in methods.METHODS if m.structural and m.scannable)
DISCRIMINATORS = ("teacher", "match")
ALLOCATIONS = ("uniform", "sensitivity")
LR_SCHEDULES = ("constant", "cosine")  # engine.distill.trainer's (this module stays free of torch for the CLI)
SEARCHES = ("elastic", "trials")


# An FID probe of fewer images than twice the feature net's width (128 for the bundled one) has no usable covariance;
# the probe would silently take this many instead of what was asked.
from engine.distill.choices import MIN_PROBE_SAMPLES  # noqa: E402  (one number for finetune and compress)


@dataclass(frozen=True)
class CompressConfig:
    # the quality budget: FID at most (1 + this) x the teacher's
    max_fid_rise: float = setting(0.10, help="quality budget: FID may rise at most this much over the teacher's "
                                             "(0.10 = 10 %)")
    # a goal: keep at most this share of G's MACs; the search stops once met
    target_macs: float | None = setting(None, help="a goal: keep at most this share of G's MACs (0.05 = 20x fewer); "
                                                   "stops once it is met")
    # minutes for everything (scan, tries, polishing the winner)
    time_budget: float = setting(15.0, help="minutes for the whole search, the winner's extra training included")
    method: str = setting("channel-l1", choices=CHANNEL_METHODS, help="which channels go first")
    # elastic: one weight-sharing student trained once, every size scored by the probe alone, the winner polished
    # (engine.stages.compress.elastic); trials: each size pruned and distilled from scratch (the search before it)
    search: str = setting("elastic", choices=SEARCHES, help="elastic: train one student of every size once and "
                                                            "score sizes without training; trials: train each "
                                                            "size tried from scratch")
    # take a size from checkpoints/elastic.pt at once (no training): --extract --reduction 16 (or --target-macs)
    extract: bool = setting(False, help="take a size from the elastic student of an earlier compress, without "
                                        "training (with --reduction or --target-macs)")
    reduction: float | None = setting(None, help="with --extract: how many times fewer G MACs, e.g. 16")
    # The teacher's full D | the teacher's D cut to G's share (GCC); used only with a GAN term (adversarial > 0). At
    # 20x fewer MACs the full D gave the better FID (57 vs 70 against the retrained teacher, 600 steps; distillation
    # alone: 28.6; bench/results/distill_ablation.json), so it is the default.
    discriminator: str = setting("teacher", choices=DISCRIMINATORS, help="D for the students: the teacher's D cut "
                                                                        "to G's share, or the teacher's full D")
    # How the MACs are cut: the same share of every layer's channels, or per-layer amounts from the sensitivity scan.
    # Uniform measured better on the bundled DCGAN: at 2x fewer MACs probe FID -3.7 % vs +18 % (the scan, which scores
    # each layer pruned alone without training, cut the last hidden layer to half in every candidate).
    allocation: str = setting("uniform", choices=ALLOCATIONS, help="per-layer cuts from the sensitivity scan, or the "
                                                                   "same share of every layer")
    # The probe is the search's yardstick, so it uses the evaluate protocol's size: at 1,000 samples FID's bias
    # differs between models (teacher 30.1 at 1,000 vs 25.1 at 5,000; a 2x student 29.2 vs 29.5), and a search
    # judged at 1,000 accepted a student that is +17 % at 5,000 (bench/results/compress_probe1000.json).
    probe_samples: int = setting(5000, help="images per FID probe (the evaluate protocol size)")
    batch_size: int = 64
    # The recipe of engine.distill.trainer (bench/results/distill_recipe.json): distillation alone, lr 4e-3 decaying
    # to 0 (cosine) over each candidate's share of the budget. Repeated here: this module stays free of torch.
    lr: float = 4e-3
    # weight of D's verdict in G's loss; 0 = distillation alone (no D step)
    adversarial: float = setting(0.0, help="weight of D's verdict in G's loss; 0 = distillation alone (no D step, "
                                           "about twice as fast)")
    lr_schedule: str = setting("cosine", choices=LR_SCHEDULES, help="constant, or cosine decay to 0 over each "
                                                                    "candidate's time")
    # the fine-tune stage's terms, 0 turns one off
    distill_output: float = setting(1.0, help="weight of the L1 to the teacher's image; 0 = off")
    distill_features: float = setting(1.0, help="weight of the hidden maps through 1x1 adapters; 0 = off")
    distill_perceptual: float = setting(1.0, help="weight of the feature-net activations of student vs teacher "
                                                  "image; 0 = off")
    device: str = setting("auto", choices=DEVICES)
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
        if self.reduction is not None and not (number(self.reduction) and self.reduction >= 1):
            raise ConfigError(f"--reduction is how many times fewer G MACs, 1 or more, e.g. 16 "
                              f"(got {self.reduction!r}).")
        if self.extract and self.reduction is None and self.target_macs is None:
            raise ConfigError("--extract needs the size to take: --reduction R (e.g. 16) or --target-macs R "
                              "(e.g. 0.0625).")
        if not (number(self.time_budget) and 0 < self.time_budget <= 24 * 60):
            raise ConfigError(f"--time-budget is minutes, above 0 and at most 1440 (got {self.time_budget!r}).")
        self._check_choices()
        v = self.probe_samples
        if not (isinstance(v, int) and not isinstance(v, bool) and v >= MIN_PROBE_SAMPLES):
            raise ConfigError(f"--probe-samples must be a whole number of at least {MIN_PROBE_SAMPLES} (FID needs "
                              f"twice the feature net's 128 features; got {v!r}).")
        v = self.batch_size
        if not (isinstance(v, int) and not isinstance(v, bool) and v > 0):
            raise ConfigError(f"--batch-size must be a whole number above 0 (got {v!r}).")
        for name in ("adversarial", "distill_output", "distill_features", "distill_perceptual"):
            v = getattr(self, name)
            if not (number(v) and 0 <= v <= 100):
                raise ConfigError(f"--{name.replace('_', '-')} must be a number from 0 to 100 (got {v!r}); "
                                  "0 turns it off.")
        if not (number(self.lr) and self.lr > 0):
            raise ConfigError(f"--lr must be a number above 0 (got {self.lr!r}).")

    def _check_choices(self) -> None:
        if self.method not in CHANNEL_METHODS:
            valid = ", ".join(CHANNEL_METHODS)
            raise ConfigError(f"compress removes channels; --method must be one of {valid} (got {self.method!r}).")
        if self.discriminator not in DISCRIMINATORS:
            raise ConfigError(f"--discriminator must be one of {', '.join(DISCRIMINATORS)} "
                              f"(got {self.discriminator!r}).")
        if self.search not in SEARCHES:
            raise ConfigError(f"--search must be one of {', '.join(SEARCHES)} (got {self.search!r}).")
        if self.allocation not in ALLOCATIONS:
            raise ConfigError(f"--allocation must be one of {', '.join(ALLOCATIONS)} (got {self.allocation!r}).")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"--lr-schedule must be one of {', '.join(LR_SCHEDULES)} (got {self.lr_schedule!r}).")
