"""Sample grids: what a generator draws for fixed latents, as one uint8 image."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from engine.data import to_uint8
from engine.images import make_grid


@torch.no_grad()
def sample_grid(G: nn.Module, z: torch.Tensor, nrow: int | None = None) -> np.ndarray:
    """uint8 H x W x C grid of G(z) in eval mode."""
    was_training = G.training
    G.eval()
    try:
        images = to_uint8(G(z)).cpu().numpy()
    finally:
        G.train(was_training)
    return make_grid(images, nrow=nrow)
