"""The pruning stage's settings, validated once with sentences a person understands."""

from __future__ import annotations

from dataclasses import dataclass

from engine.config import DEVICES, check_fields, setting
from engine.errors import ConfigError
from engine.prune import methods
from engine.prune.methods import BLOCK_CRITERIA, METHOD_NAMES, SCHEDULES, WEIGHT_METHODS

METHODS = METHOD_NAMES  # --method's choices, from the method registry
SCOPES = ("layer", "global")
TARGETS = ("g", "d", "gd")


@dataclass(frozen=True)
class PruneConfig:
    """`amount` is the fraction removed: of the weights (weight methods), of each layer's channels (channel
    methods; a layer always keeps at least one channel, with a warning) or of the residual blocks (block)."""

    method: str = setting("channel-l1", help=", ".join(METHODS))
    amount: float = setting(0.5, help="fraction to remove, between 0 and 1 (default 0.5)", label="Amount",
                            widget="percent", unit=" %", step=0.05, decimals=0,
                            tip="Share of channels / weights / blocks to remove from each chosen layer.")
    scope: str = setting("layer", choices=SCOPES)
    target: str = setting("g", choices=TARGETS, help="which network(s) to prune")
    # names as in `gan-prune layers`; 'g:' / 'd:' pick a network
    layers: tuple[str, ...] | None = setting(None, help="only these layers (see 'gan-prune layers'); prefix g: or "
                                                        "d: to pick a network")
    round_to: int | None = setting(None, help="keep channel counts a multiple of N")
    schedule: str = setting("oneshot", choices=SCHEDULES)
    rounds: int = setting(3, min=1, help="rounds of the iterative/lottery schedule", label="Rounds",
                          tip="How many prune-then-fine-tune rounds the gradual schedules use.")
    finetune_steps: int = setting(50, min=0, help="fine-tuning steps between rounds", label="Steps between",
                                  unit=" steps", step=10,
                                  tip="Fine-tuning steps after each round of a gradual schedule.")  # lottery too
    # lottery: survivors are rewound to their values at this fine-tuning step
    rewind_step: int = setting(10, help="lottery: rewind survivors to this step")
    target_macs: float | None = setting(None, help="keep this fraction of G's MACs; per-layer amounts are chosen "
                                                   "from a sensitivity scan")
    match_d: bool = setting(False, help="prune D's channels by the share G lost", label="Balance D",
                            special="Prune D by the share G lost",
                            tip="Keeps D from overpowering a much smaller G during fine-tuning (channel pruning).")
    block_criterion: str = setting("l1", choices=BLOCK_CRITERIA)
    seed: int = 0
    device: str = setting("auto", choices=DEVICES)
    batch_size: int = 64
    lr: float = 2e-4
    distill: float = 1.0  # fine-tuning between rounds

    @property
    def chosen(self) -> methods.PruneMethod:
        """The registered method (and criterion) these settings pick."""
        return methods.get(self.method, self.block_criterion)

    @property
    def structural(self) -> bool:
        m = methods.find(self.method, self.block_criterion)
        return m is not None and m.structural

    def validate(self) -> None:
        check_fields(self, "prune")  # types, and no NaN/inf, before the ranges below
        if self.method not in METHODS:
            raise ConfigError(f"Unknown pruning method '{self.method}'; choose one of: {', '.join(METHODS)}.")
        if self.target_macs is None and not (isinstance(self.amount, (int, float)) and 0 < self.amount < 1):
            raise ConfigError(f"--amount must be between 0 and 1, e.g. 0.5 to remove half (got {self.amount!r}).")
        if self.scope not in SCOPES:
            raise ConfigError(f"Unknown scope '{self.scope}'; choose layer or global.")
        if self.target not in TARGETS:
            raise ConfigError(f"Unknown target '{self.target}'; choose g, d or gd.")
        self._check_schedule()
        if self.round_to is not None and (not isinstance(self.round_to, int) or self.round_to < 1):
            raise ConfigError(f"--round-to must be a whole number above 0 (got {self.round_to!r}).")
        if self.round_to is not None and not self.structural:
            raise ConfigError("--round-to applies to channel methods only; drop it or use a channel-* method.")
        if self.target_macs is not None:
            self._check_target_macs()
        if self.match_d and not self.structural:
            raise ConfigError("--match-d balances channel pruning of G and D; use it with a channel-* method.")
        if self.block_criterion not in BLOCK_CRITERIA:
            raise ConfigError(f"Unknown block criterion '{self.block_criterion}'; choose l1 or psnr.")
        if self.distill < 0:
            raise ConfigError(f"distill must be 0 or more (got {self.distill!r}).")

    def _check_schedule(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"Unknown schedule '{self.schedule}'; choose one of: {', '.join(SCHEDULES)}.")
        if self.schedule == "lottery" and self.method not in WEIGHT_METHODS:
            raise ConfigError(f"The lottery schedule rewinds individual weights, so it needs a weight method "
                              f"({', '.join(WEIGHT_METHODS)}), not '{self.method}'.")
        if self.schedule != "oneshot" and self.method == "block":
            raise ConfigError("--method block removes blocks in one shot; use --schedule oneshot.")
        for name, v in (("rounds", self.rounds), ("batch size", self.batch_size)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"{name} must be a whole number above 0 (got {v!r}).")
        for name, v in (("finetune_steps", self.finetune_steps), ("rewind_step", self.rewind_step)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ConfigError(f"{name} must be a whole number, 0 or more (got {v!r}).")
        if self.schedule == "lottery" and self.rewind_step > self.finetune_steps:
            raise ConfigError(f"rewind_step ({self.rewind_step}) must not exceed finetune_steps "
                              f"({self.finetune_steps}): the step-k weights come from that training.")

    def _check_target_macs(self) -> None:
        if not (isinstance(self.target_macs, (int, float)) and 0 < self.target_macs < 1):
            raise ConfigError(f"--target-macs is the fraction of MACs to keep, between 0 and 1 "
                              f"(got {self.target_macs!r}).")
        if not (self.structural and self.chosen.scannable):
            scannable = [m.name for m in methods.METHODS if m.structural and m.scannable]
            raise ConfigError("--target-macs needs a channel method that the sensitivity scan can use "
                              f"({', '.join(scannable[:-1])} or {scannable[-1]}).")
        if "g" not in self.target:
            raise ConfigError("--target-macs budgets the generator's MACs; use --target g or gd.")
