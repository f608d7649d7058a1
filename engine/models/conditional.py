"""Class-conditional DCGAN: G takes (z, class) through a learned embedding, D is a projection discriminator.

G (Mirza & Osindero's concatenation, with a learned embedding instead of one-hot): the class embedding is
concatenated to z and the pair enters the same conv-only DCGAN stack as a 1x1 map, so channel pruning shrinks
every hidden width exactly as for the unconditional model and never touches the embedding.

D (Miyato & Koyama 2018, "cGANs with Projection Discriminator"): logit = psi(phi(x)) + <embed(y), sum-pool phi(x)>.
The class embedding has the width of D's last hidden layer; torch-pruning's dependency graph sees the product and
cuts the embedding's columns together with that layer's channels, so a pruned D stays consistent.

Without a label both take `default_labels(n)` = 0, 1, ..., K-1, 0, 1, ...: every caller that only passes z (FID,
latency, pruning traces, teacher PSNR) then sees each class equally often, and teacher and student the same ones.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.errors import ConfigError
from engine.models.dcgan import ConvDiscriminator, DCGANGenerator

MAX_CLASSES = 1000


def default_labels(n: int, num_classes: int, device: torch.device | str | None = None) -> torch.Tensor:
    """0, 1, ..., K-1, 0, 1, ...: balanced classes for n samples (the ONNX sampler uses the same rule)."""
    return torch.arange(n, device=device) % num_classes


def class_grid_labels(num_classes: int, per_class: int) -> torch.Tensor:
    """Labels for a grid with one row per class: 0 x per_class, then 1 x per_class, ..."""
    return torch.arange(num_classes).repeat_interleave(per_class)


def _check_labels(label: torch.Tensor, n: int, num_classes: int) -> torch.Tensor:
    if label.shape != (n,):
        raise ConfigError(f"Labels must be one class id per sample ({n}), got shape {list(label.shape)}.")
    return label.long()


class ConditionalDCGANGenerator(DCGANGenerator):
    """DCGAN generator whose first layer reads [z, embed(label)]."""

    task = "conditional"  # what checkpoints record for it (engine/tasks.py)

    def __init__(self, latent_dim: int, image_shape: tuple[int, int, int], widths: list[int], num_classes: int,
                 embed_dim: int) -> None:
        super().__init__(latent_dim + embed_dim, image_shape, widths)
        self.num_classes = num_classes
        self.embed = nn.Embedding(num_classes, embed_dim)
        nn.init.normal_(self.embed.weight, 0.0, 1.0)  # on the scale of z, so neither input drowns the other

    @property
    def latent_dim(self) -> int:
        return self.net[0].in_channels - self.embed.embedding_dim

    def forward(self, z: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        n = z.shape[0]
        label = default_labels(n, self.num_classes, z.device) if label is None else \
            _check_labels(label, n, self.num_classes)
        h = torch.cat([z.reshape(n, -1), self.embed(label)], dim=1)
        return self.net(h.reshape(n, -1, 1, 1))

    def spec(self) -> dict:
        spec = super().spec()
        spec.update(latent_dim=self.latent_dim, num_classes=self.num_classes,
                    embed_dim=self.embed.embedding_dim)
        return spec


class ClassProjection(nn.Module):
    """<embed(y), sum-pooled features>: one number per sample from a B x C x H x W map and B class ids.

    Its own module (not an nn.Embedding and a product) so that structural pruning can be told what it is: its
    input channels follow the layer before it, and it has no output channels to prune (see
    engine.prune.structured). Left to itself the dependency graph follows the product into the logit and refuses
    to shrink D's last hidden layer at all."""

    def __init__(self, num_classes: int, width: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, width).normal_(0.0, 0.02))  # near the plain D at first

    @property
    def in_channels(self) -> int:
        return self.weight.shape[1]

    def forward(self, features: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        return (F.embedding(label, self.weight) * features.sum(dim=(2, 3))).sum(dim=1)


class ProjectionDiscriminator(ConvDiscriminator):
    """The DCGAN discriminator plus the projection term <embed(y), sum-pooled last features>."""

    def __init__(self, image_shape: tuple[int, int, int], widths: list[int], num_classes: int) -> None:
        super().__init__(image_shape, widths, "dcgan")
        self.num_classes = num_classes
        self.project = ClassProjection(num_classes, widths[-1])

    def logits(self, x: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        n = x.shape[0]
        label = default_labels(n, self.num_classes, x.device) if label is None else \
            _check_labels(label, n, self.num_classes)
        features = self.net[:-1](x)  # phi(x): the last hidden map, B x C x base x base
        projection = self.project(features, label)
        return self.net[-1](features).flatten(1).squeeze(1) + projection  # psi(phi(x)) + projection

    def forward(self, x: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        return torch.sigmoid(self.logits(x, label))

    def spec(self) -> dict:
        return {**super().spec(), "num_classes": self.num_classes}


def default_embed_dim(num_classes: int) -> int:
    """Wide enough to tell the classes apart, small next to z: 10 classes → 16, 2 → 8, 100 or more → 64."""
    return max(8, min(64, 1 << (num_classes - 1).bit_length()))
