"""Seeded latents: the same z every time for a seed, so grids and probes compare like for like."""

from __future__ import annotations

import torch


def fixed_latents(n: int, latent_dim: int, seed: int) -> torch.Tensor:
    """The same latents every time for a seed: grids from different steps and models compare like for like."""
    return torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(10_007 + seed))
