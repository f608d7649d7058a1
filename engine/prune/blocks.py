"""Layer pruning: remove whole residual blocks of a resnet generator, least important first."""

from __future__ import annotations

import copy

import torch
import torch.nn as nn

from engine.errors import ConfigError
from engine.models.contract import HasBlocks
from engine.prune.fidelity import teacher_psnr
from engine.prune.methods import BLOCK_CRITERIA

__all__ = ["BLOCK_CRITERIA", "block_scores", "check_has_blocks", "remove_blocks"]


def check_has_blocks(model: nn.Module, arch: str) -> list[str]:
    names = model.block_names() if isinstance(model, HasBlocks) else []
    if not names:
        raise ConfigError(f"--method block removes residual blocks, but the '{arch}' generator has none; use a "
                          "resnet model or a channel-* method.")
    return names


def block_scores(G: nn.Module, criterion: str, z: torch.Tensor | None = None) -> dict[str, float]:
    """Higher = more important. 'l1': L1 norm of the block's last conv (what it adds to the identity);
    'psnr': the teacher-PSNR loss when this block alone is removed (dB)."""
    names = G.block_names()
    modules = dict(G.named_modules())
    if criterion == "l1":
        return {n: float(modules[n].body[-1].weight.detach().abs().sum()) for n in names}
    if criterion == "psnr":
        scores = {}
        for n in names:
            trial = copy.deepcopy(G)
            trial.remove_blocks([n])
            p = teacher_psnr(trial, G, z)
            scores[n] = 100.0 - min(p, 100.0)  # a small PSNR (big change) means an important block
        return scores
    raise ConfigError(f"Unknown block criterion '{criterion}'; choose one of: {', '.join(BLOCK_CRITERIA)}.")


def remove_blocks(G: nn.Module, amount: float, criterion: str = "l1", z: torch.Tensor | None = None,
                  arch: str = "resnet") -> list[str]:
    """Remove round(amount * blocks) blocks (at least one), lowest score first; returns the removed names."""
    names = check_has_blocks(G, arch)
    scores = block_scores(G, criterion, z)
    n = max(1, min(len(names), int(round(amount * len(names)))))
    removed = sorted(names, key=lambda k: scores[k])[:n]
    G.remove_blocks(removed)
    return removed
