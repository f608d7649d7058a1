"""How the final amount is reached: at once, over N rounds on a cubic (AGP) schedule, or as a lottery ticket
(iterative magnitude pruning that rewinds the surviving weights to their values at an early step k)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.utils.prune as tprune

from engine.prune.methods import SCHEDULES  # noqa: F401  (the names live in the torch-free table)


def agp_amounts(final: float, rounds: int) -> list[float]:
    """Total amount after each round, Zhu & Gupta's cubic schedule: fast at first, gentle near the end."""
    return [final * (1 - (1 - r / rounds) ** 3) for r in range(1, rounds + 1)]


def relative_step(done: float, total: float) -> float:
    """The fraction of what is left to remove now so that `total` of the original is gone (channels are
    removed from the current, already thinner, layer)."""
    return 0.0 if total <= done else 1 - (1 - total) / (1 - done)


def snapshot(layers: list[tuple[str, nn.Module]]) -> dict[str, torch.Tensor]:
    """The weights of the chosen layers now (the lottery's step-k weights)."""
    return {name: _dense_weight(m).detach().clone() for name, m in layers}


@torch.no_grad()
def rewind(layers: list[tuple[str, nn.Module]], masks: dict[str, torch.Tensor], theta: dict[str, torch.Tensor]) -> None:
    """Reset every surviving weight to its step-k value; pruned ones stay zero (the mask stays attached)."""
    for name, m in layers:
        value = theta[name].to(_dense_weight(m).device) * masks[name].to(theta[name].device)
        _dense_weight(m).copy_(value)


def _dense_weight(m: nn.Module) -> torch.Tensor:
    """The trainable tensor: weight_orig while torch's pruning hook is attached, else weight."""
    return m.weight_orig if tprune.is_pruned(m) and hasattr(m, "weight_orig") else m.weight
