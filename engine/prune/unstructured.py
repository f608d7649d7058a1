"""Weight (unstructured) pruning through torch.nn.utils.prune: L1, random and LAMP scores, per layer or global.

Scores are computed here so every method counts exactly: `round(amount * n)` weights become zero, and weights
already zero (an earlier round) are pruned first, so an iterative schedule reaches its total amount.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.utils.prune as tprune

from engine.prune import methods
from engine.prune.methods import WEIGHT_METHODS, lamp_scores

__all__ = ["WEIGHT_METHODS", "lamp_scores", "make_permanent", "masks_for", "prune_weights", "sparsity"]


def weight_scores(weight: torch.Tensor, method: str, generator: torch.Generator) -> torch.Tensor:
    criterion = methods.find(method)
    if criterion is None or criterion.family is not methods.WEIGHTS:
        raise ValueError(method)
    w = weight.detach()
    s = criterion.scores(w, generator)
    return torch.where(w == 0, torch.full_like(s, -1.0), s)  # already-pruned weights go first


def masks_for(layers: list[tuple[str, nn.Module]], method: str, amount: float | dict[str, float], scope: str,
              seed: int = 0) -> dict[str, torch.Tensor]:
    """Keep-masks (1 = keep) per layer name. `amount` may be a per-layer dict (scope 'layer' only)."""
    gen = torch.Generator().manual_seed(seed)
    scores = {name: weight_scores(m.weight, method, gen) for name, m in layers}
    masks: dict[str, torch.Tensor] = {}
    if scope == "global":
        flat = torch.cat([s.flatten() for s in scores.values()])
        n_prune = int(round(float(amount) * flat.numel()))
        keep = torch.ones_like(flat, dtype=torch.bool)
        if n_prune > 0:
            keep[torch.topk(flat, n_prune, largest=False).indices] = False
        offset = 0
        for name, s in scores.items():
            masks[name] = keep[offset:offset + s.numel()].view_as(s).float()
            offset += s.numel()
        return masks
    for name, s in scores.items():
        a = amount[name] if isinstance(amount, dict) else float(amount)
        flat = s.flatten()
        keep = torch.ones_like(flat, dtype=torch.bool)
        n_prune = int(round(a * flat.numel()))
        if n_prune > 0:
            keep[torch.topk(flat, n_prune, largest=False).indices] = False
        masks[name] = keep.view_as(s).float()
    return masks


def apply_masks(layers: list[tuple[str, nn.Module]], masks: dict[str, torch.Tensor], permanent: bool = True) -> None:
    """Attach the masks with torch's pruning hooks; `permanent` folds them into the weights (prune.remove)."""
    for name, m in layers:
        if tprune.is_pruned(m):
            tprune.remove(m, "weight")
        tprune.custom_from_mask(m, "weight", masks[name].to(m.weight.device))
        if permanent:
            tprune.remove(m, "weight")


def make_permanent(model: nn.Module) -> None:
    """Fold every pending mask into its weight before saving or exporting."""
    for m in model.modules():
        if tprune.is_pruned(m):
            for hook in list(m._forward_pre_hooks.values()):
                if isinstance(hook, tprune.BasePruningMethod):
                    tprune.remove(m, hook._tensor_name)


def sparsity(layers: list[tuple[str, nn.Module]]) -> tuple[dict[str, float], float]:
    """(per-layer fraction of zero weights, total over these layers)."""
    per, zeros, total = {}, 0, 0
    for name, m in layers:
        w = m.weight.detach()
        z = int((w == 0).sum())
        per[name] = z / w.numel()
        zeros, total = zeros + z, total + w.numel()
    return per, zeros / max(1, total)


def prune_weights(layers: list[tuple[str, nn.Module]], method: str, amount: float | dict[str, float], scope: str,
                  seed: int = 0, permanent: bool = True) -> dict[str, torch.Tensor]:
    """Zero the lowest-scoring weights; returns the keep-masks (the lottery schedule rewinds through them)."""
    masks = masks_for(layers, method, amount, scope, seed)
    apply_masks(layers, masks, permanent)
    return masks
