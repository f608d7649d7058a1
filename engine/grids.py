"""Sample grids: what a generator draws for fixed latents (and, for a conditional one, a row per class)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from engine.data import to_uint8
from engine.images import make_grid
from engine.latents import fixed_latents
from engine.models import num_classes

MAX_CLASS_ROWS = 16  # a 100-class model shows its first 16 classes; a grid of 800 images says nothing more
PER_CLASS = 8


@dataclass(frozen=True)
class GridInputs:
    """The fixed inputs of a progress grid: latents, the class of each (None: unconditional) and images per row."""

    z: torch.Tensor
    labels: torch.Tensor | None = None
    nrow: int | None = None

    def to(self, device) -> GridInputs:
        return GridInputs(self.z.to(device), None if self.labels is None else self.labels.to(device), self.nrow)


def grid_inputs(G: nn.Module, n: int, seed: int) -> GridInputs:
    """n fixed latents, or for a conditional G one row of PER_CLASS latents per class (the same latents in
    every row, so a row differs from the next only by its class)."""
    k = num_classes(G)
    if not k:
        return GridInputs(fixed_latents(n, G.latent_dim, seed))
    rows = min(k, MAX_CLASS_ROWS)
    z = fixed_latents(PER_CLASS, G.latent_dim, seed).repeat(rows, 1)
    return GridInputs(z, torch.arange(rows).repeat_interleave(PER_CLASS), PER_CLASS)


@torch.no_grad()
def sample_grid(G: nn.Module, z: torch.Tensor | GridInputs, nrow: int | None = None,
                labels: torch.Tensor | None = None) -> np.ndarray:
    """uint8 H x W x C grid of G(z) (G(z, labels) for a conditional G given labels) in eval mode."""
    if isinstance(z, GridInputs):
        z, labels, nrow = z.z, z.labels, z.nrow
    was_training = G.training
    G.eval()
    try:
        images = to_uint8(G(z) if labels is None else G(z, labels.to(z.device))).cpu().numpy()
    finally:
        G.train(was_training)
    return make_grid(images, nrow=nrow)
