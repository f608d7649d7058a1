"""Conditional accuracy: how often the feature net's class of a generated image is the class that was asked for.

Overall and per class, from class ids already predicted (the evaluate stage gets them in the same pass as the FID
features). A feature net without a classifier (trained without labels, Inception) cannot say, and gives None.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn


def asked_labels(n: int, num_classes: int) -> np.ndarray:
    """The classes asked for n samples when none are given: 0, 1, ..., K-1, 0, 1, ... (every model and the ONNX
    sampler use this same rule, see engine.models.conditional.default_labels)."""
    return np.arange(n, dtype=np.int64) % num_classes


def conditional_accuracy(predicted: np.ndarray, asked: np.ndarray, num_classes: int) -> dict:
    """{"cond_accuracy": share of samples whose predicted class is the asked one,
        "cond_accuracy_per_class": that share for each asked class (None for a class never asked)}."""
    predicted, asked = np.asarray(predicted), np.asarray(asked)
    if predicted.shape != asked.shape:
        raise ValueError(f"{len(predicted)} predictions for {len(asked)} asked classes")
    hit = predicted == asked
    per_class = [round(float(hit[asked == c].mean()), 4) if (asked == c).any() else None for c in range(num_classes)]
    return {"cond_accuracy": round(float(hit.mean()), 4) if len(hit) else None,
            "cond_accuracy_per_class": per_class}


def can_classify(net: nn.Module | None, num_classes: int) -> bool:
    """The feature net has a classifier head with one output per class of the generator."""
    head = getattr(net, "head", None)
    last = [m for m in head.modules() if isinstance(m, nn.Linear)][-1:] if head is not None else []
    return bool(last) and last[0].out_features == num_classes


@torch.no_grad()
def generator_accuracy(G: nn.Module, net: nn.Module, per_class: int = 500, seed: int = 0, batch: int = 500) -> dict:
    """Conditional accuracy of a torch generator: per_class seeded samples of every class, classified by net."""
    from engine.data import to_uint8
    from engine.latents import fixed_latents
    from engine.metrics.feature_net import predict

    k = int(G.num_classes)
    z = fixed_latents(per_class * k, G.latent_dim, seed)
    asked = torch.from_numpy(asked_labels(len(z), k))
    G = G.eval()
    images = torch.cat([to_uint8(G(zb, yb)) for zb, yb in zip(z.split(batch), asked.split(batch), strict=True)])
    return conditional_accuracy(predict(net, images), asked.numpy(), k)
