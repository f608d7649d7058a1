"""The pruning methods a user picks: one object per criterion, grouped in families (channels, weights, blocks).

As in Torch-Pruning (one `Importance` class per criterion), each method says how it scores what it removes, and
everything else reads this table: the prune stage, the sensitivity scan, compress, fine-tuning (was the student
weight-pruned?), the CLI's `--method` choices and the studio's lists. Nothing parses a method's name.

Importing this module loads no torch (the studio builds its lists before torch loads); the scoring imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.errors import ConfigError


@dataclass(frozen=True)
class Family:
    name: str  # channels | weights | blocks
    label: str  # as the studio shows it
    structural: bool  # removes whole channels (the model gets smaller and faster), not single weights


# How the amount is reached: all at once, in rounds (AGP), or in rounds rewinding survivors to their first weights.
SCHEDULES = ("oneshot", "iterative", "lottery")
# The amounts a sensitivity scan prunes each layer by (the scan stage's default, and what --target-macs scans).
DEFAULT_AMOUNTS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)

CHANNELS = Family("channels", "Channels (smaller and faster)", structural=True)
WEIGHTS = Family("weights", "Single weights (sparse, smaller files)", structural=False)
BLOCKS = Family("blocks", "Residual blocks (ResNet only)", structural=False)
FAMILIES = (CHANNELS, WEIGHTS, BLOCKS)


@dataclass(frozen=True)
class PruneMethod:
    name: str  # the value of PruneConfig.method / --method
    family: Family
    criterion: str  # what decides what matters least: l1, l2, taylor, bn, random, lamp, psnr
    label: str  # the criterion as the studio shows it
    # channels: () -> a torch-pruning Importance; weights: (weight, generator) -> one score per weight (higher =
    # keep); blocks: None (engine.prune.blocks.block_scores scores blocks under `criterion`)
    scorer: Callable[..., Any] | None = None
    needs_gradients: bool = False  # scoring needs a backward pass (no sensitivity scan, no compress search)

    @property
    def structural(self) -> bool:
        return self.family.structural

    @property
    def scannable(self) -> bool:
        """Usable by the sensitivity scan (and so by --target-macs and compress): scores without gradients."""
        return self.family is not BLOCKS and not self.needs_gradients

    def importance(self) -> Any:
        """Channels: the torch-pruning Importance that scores each group of coupled channels."""
        assert self.family is CHANNELS and self.scorer is not None, self.name
        return self.scorer()

    def scores(self, weight, generator) -> Any:
        """Weights: one float64 score per weight, the weight's shape; higher = keep."""
        assert self.family is WEIGHTS and self.scorer is not None, self.name
        return self.scorer(weight.detach(), generator)

    def config_values(self) -> dict[str, str]:
        """The PruneConfig fields that pick this method (blocks name their criterion in a field of its own)."""
        if self.family is BLOCKS:
            return {"method": self.name, "block_criterion": self.criterion}
        return {"method": self.name}


def _tp(importance: str, **kwargs) -> Callable[[], Any]:
    """A factory of torch-pruning's `importance` class (imported on first use: the studio's lists need no torch)."""
    def make():
        import torch_pruning as tp

        return getattr(tp.importance, importance)(**kwargs)
    return make


def _magnitude(w, generator):
    return w.abs().double()


def _random(w, generator):
    import torch

    return torch.rand(w.shape, generator=generator, dtype=torch.float64)


METHODS: tuple[PruneMethod, ...] = (
    PruneMethod("l1-unstructured", WEIGHTS, "l1", "L1 norm (magnitude)", _magnitude),
    PruneMethod("random-unstructured", WEIGHTS, "random", "Random (baseline)", _random),
    PruneMethod("lamp-unstructured", WEIGHTS, "lamp", "LAMP (layer-adaptive)", lambda w, g: lamp_scores(w)),
    PruneMethod("channel-l1", CHANNELS, "l1", "L1 norm (magnitude)", _tp("MagnitudeImportance", p=1)),
    PruneMethod("channel-l2", CHANNELS, "l2", "L2 norm", _tp("MagnitudeImportance", p=2)),
    PruneMethod("channel-taylor", CHANNELS, "taylor", "Taylor (gradient × weight)", _tp("TaylorImportance"),
                needs_gradients=True),
    PruneMethod("channel-bn", CHANNELS, "bn", "Batch-norm scale", lambda: _bn_or_magnitude()),
    PruneMethod("channel-random", CHANNELS, "random", "Random (baseline)", _tp("RandomImportance")),
    PruneMethod("block", BLOCKS, "l1", "L1 norm (magnitude)"),
    PruneMethod("block", BLOCKS, "psnr", "Image change when removed"),
)

METHOD_NAMES: tuple[str, ...] = tuple(dict.fromkeys(m.name for m in METHODS))  # --method's choices, in order
CHANNEL_METHODS = tuple(m.name for m in METHODS if m.family is CHANNELS)
WEIGHT_METHODS = tuple(m.name for m in METHODS if m.family is WEIGHTS)
BLOCK_CRITERIA = tuple(m.criterion for m in METHODS if m.family is BLOCKS)
SCANNABLE = tuple(m.name for m in METHODS if m.scannable)  # the sensitivity scan's (and compress's) choices


def find(name: str, block_criterion: str = "l1") -> PruneMethod | None:
    """The method a config names (None for a name this build does not know, e.g. in an old checkpoint)."""
    for m in METHODS:
        if m.name == name and (m.family is not BLOCKS or m.criterion == block_criterion):
            return m
    return None


def get(name: str, block_criterion: str = "l1") -> PruneMethod:
    m = find(name, block_criterion)
    if m is None:
        raise ConfigError(f"Unknown pruning method '{name}'; choose one of: {', '.join(METHOD_NAMES)}.")
    return m


def of_family(family: str) -> list[PruneMethod]:
    return [m for m in METHODS if m.family.name == family]


def lamp_scores(weight):
    """LAMP (Lee et al. 2021): w_u^2 / sum of w_v^2 over the weights at least as large. Comparable across layers,
    so one global threshold gives each layer a sensible share of the budget."""
    import torch

    w2 = weight.detach().flatten().double() ** 2
    order = torch.argsort(w2)
    sorted_w2 = w2[order]
    suffix = torch.flip(torch.cumsum(torch.flip(sorted_w2, [0]), 0), [0])
    scores = torch.empty_like(w2)
    scores[order] = sorted_w2 / suffix.clamp_min(1e-300)
    return scores.view_as(weight)


def _bn_or_magnitude() -> Any:
    """BatchNorm scale where the group has a BatchNorm, L1 magnitude where it has none (e.g. D's first conv)."""
    import torch_pruning as tp

    class BNOrMagnitude(tp.importance.Importance):
        def __init__(self) -> None:
            self.bn = tp.importance.BNScaleImportance()
            self.l1 = tp.importance.MagnitudeImportance(p=1)

        def __call__(self, group):
            imp = self.bn(group)
            return imp if imp is not None else self.l1(group)

    return BNOrMagnitude()
