"""A quick FID on held-out latents, so fine-tuning keeps its best step rather than its last one.

A fixed sample (1,000 images by default) scored in the evaluate stage's feature space: a few tenths of a second
with the digit classifier. The latents come from their own seed, never the training noise or the sample grids.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn

from engine.latents import fixed_latents
from engine.metrics.feature_net import features
from engine.metrics.quality import fid_from_features

PROBE_SEED_OFFSET = 7_919


class FidProbe:
    def __init__(self, net: nn.Module, real_images: torch.Tensor, latent_dim: int, n: int, seed: int,
                 device: torch.device) -> None:
        dim = int(net.spec()["feature_dim"]) if hasattr(net, "spec") else 128
        self.n = max(int(n), 2 * dim)  # FID needs at least 2·dim samples for a usable covariance
        self.net, self.device = net, device
        pick = np.random.default_rng(seed + PROBE_SEED_OFFSET).permutation(len(real_images))[:self.n]
        self.real_features = features(net, real_images[np.sort(pick)])
        self.z = fixed_latents(self.n, latent_dim, seed + PROBE_SEED_OFFSET)

    @torch.no_grad()
    def __call__(self, G: nn.Module) -> float:
        was_training = G.training
        G.eval()
        try:
            images = torch.cat([G(z.to(self.device)).float().cpu() for z in self.z.split(500)])
        finally:
            G.train(was_training)
        return fid_from_features(self.real_features, features(self.net, images))

    def noise_floor(self, seed: int = 0) -> float:
        """FID between two random halves of the probe's real images: what the metric reads for two samples of the
        same data (at half the size, so a little above its noise at the probe's size); NaN when the halves are too
        small for FID."""
        pick = np.random.default_rng(seed).permutation(len(self.real_features))
        half = len(pick) // 2
        if half < 2 * self.real_features.shape[1]:
            return math.nan
        return fid_from_features(self.real_features[pick[:half]], self.real_features[pick[half:2 * half]])


def _cpu_state(model: nn.Module) -> dict:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


class BestKeeper:
    """The weights at the step with the lowest probe FID so far, and every probe taken."""

    def __init__(self) -> None:
        self.step: int | None = None
        self.fid = math.inf
        self.states: dict[str, dict] = {}
        self.history: list[dict] = []

    def offer(self, step: int, fid: float, models: dict[str, nn.Module | None]) -> bool:
        """Record a probe; keep copies of `models` when it is the best so far. True when it was kept."""
        self.history.append({"step": step, "fid": round(float(fid), 4)})
        if not fid < self.fid:
            return False
        self.step, self.fid = step, float(fid)
        self.states = {k: _cpu_state(m) for k, m in models.items() if m is not None}
        return True

    def restore(self, models: dict[str, nn.Module | None]) -> None:
        for k, m in models.items():
            if m is not None and k in self.states:
                m.load_state_dict(self.states[k])


def cached_feature_net(data) -> nn.Module | None:
    """The evaluate stage's feature net for these data when it needs no training now (bundled or cached), else None."""
    from engine.metrics.feature_cache import DIGIT_DATA, cache_dir, cache_key  # loads the cache code only here
    from engine.metrics.feature_net import load_feature_net

    if data.name in DIGIT_DATA:
        return load_feature_net()
    path = cache_dir() / f"{cache_key(data)}.pt"
    try:
        return load_feature_net(path) if path.exists() else None
    except Exception:  # a foreign or truncated cache file: distil without the perceptual term
        return None
