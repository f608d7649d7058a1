"""The reference MLP GAN, exactly: G 100→256→512→1024→784 (LeakyReLU 0.2, Tanh); D 784→1024→512→256→1
(LeakyReLU 0.2, Dropout 0.3, Sigmoid). Widths are configurable so pruned models rebuild from their spec."""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from engine.models import ArchCode
from engine.models.spec import MAX_LATENT, need_image_shape, need_int, need_int_list, need_number


class MLPGenerator(nn.Module):
    def __init__(self, latent_dim: int, image_shape: tuple[int, int, int], widths: list[int]) -> None:
        super().__init__()
        self.image_shape = tuple(image_shape)
        layers: list[nn.Module] = []
        prev = latent_dim
        for w in widths:
            layers += [nn.Linear(prev, w), nn.LeakyReLU(0.2)]
            prev = w
        layers += [nn.Linear(prev, math.prod(self.image_shape)), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    @property
    def latent_dim(self) -> int:
        return self.net[0].in_features

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.image_shape)

    def spec(self) -> dict:
        linears = [m for m in self.net if isinstance(m, nn.Linear)]
        return {"arch": "mlp", "role": "generator", "latent_dim": self.latent_dim,
                "image_shape": list(self.image_shape), "widths": [m.out_features for m in linears[:-1]]}


class MLPDiscriminator(nn.Module):
    def __init__(self, image_shape: tuple[int, int, int], widths: list[int], dropout: float = 0.3) -> None:
        super().__init__()
        self.image_shape = tuple(image_shape)
        layers: list[nn.Module] = []
        prev = math.prod(self.image_shape)
        for w in widths:
            layers += [nn.Linear(prev, w), nn.LeakyReLU(0.2), nn.Dropout(dropout)]
            prev = w
        layers += [nn.Linear(prev, 1)]
        self.net = nn.Sequential(*layers)
        self.dropout = dropout

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1)).squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The reference ends in Sigmoid; training uses logits() with the numerically safe equivalent loss.
        return torch.sigmoid(self.logits(x))

    def spec(self) -> dict:
        linears = [m for m in self.net if isinstance(m, nn.Linear)]
        return {"arch": "mlp", "role": "discriminator", "image_shape": list(self.image_shape),
                "widths": [m.out_features for m in linears[:-1]], "dropout": self.dropout}


def _defaults(image_shape: tuple[int, int, int], latent_dim: int, num_classes: int = 0) -> tuple[dict, dict]:
    g = {"arch": "mlp", "role": "generator", "latent_dim": latent_dim, "image_shape": list(image_shape),
         "widths": [256, 512, 1024]}
    d = {"arch": "mlp", "role": "discriminator", "image_shape": list(image_shape), "widths": [1024, 512, 256],
         "dropout": 0.3}
    return g, d


def _check(spec: dict, role: str, where: str) -> None:
    need_image_shape(spec, where)
    if role == "generator":
        need_int(spec, "latent_dim", where, 1, MAX_LATENT)
    need_int_list(spec, "widths", where)
    if role == "discriminator" and "dropout" in spec:
        need_number(spec, "dropout", where, 0.0, 1.0)


CODE = ArchCode(
    generator=lambda s: MLPGenerator(s["latent_dim"], tuple(s["image_shape"]), s["widths"]),
    discriminator=lambda s: MLPDiscriminator(tuple(s["image_shape"]), s["widths"], s.get("dropout", 0.3)),
    check=_check,
    noise_defaults=_defaults,
)
