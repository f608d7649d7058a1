"""A residual generator whose blocks can be removed whole (layer pruning), with a conv discriminator.

Layout: latent 1x1 → ConvTranspose stem → [blocks at this size → ConvTranspose 2x up] * k → blocks → 3x3 conv → Tanh.
Each block is pre-activation (BN, ReLU, 3x3 conv, BN, ReLU, 3x3 conv) plus the identity, so deleting a block
leaves a working network.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from engine.errors import ConfigError
from engine.models import ArchCode
from engine.models.dcgan import (
    ConvDiscriminator,
    check_conv_discriminator,
    default_discriminator_widths,
    size_plan,
)
from engine.models.spec import MAX_LATENT, SpecError, conv_plan, need_image_shape, need_int, need_int_list


class ResBlock(nn.Module):
    def __init__(self, channels: int, inner: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(channels), nn.ReLU(),
            nn.Conv2d(channels, inner, 3, 1, 1, bias=False),
            nn.BatchNorm2d(inner), nn.ReLU(),
            nn.Conv2d(inner, channels, 3, 1, 1, bias=False),
        )

    @property
    def inner(self) -> int:
        return self.body[2].out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResNetGenerator(nn.Module):
    def __init__(self, latent_dim: int, image_shape: tuple[int, int, int], channels: list[int],
                 blocks: list[list[int]]) -> None:
        super().__init__()
        self.image_shape = tuple(image_shape)
        base, k = size_plan(self.image_shape)
        if len(channels) != k + 1 or len(blocks) != k + 1:
            raise ConfigError(f"A {self.image_shape[1]}px resnet generator needs {k + 1} stages of channels and "
                              f"blocks (got {len(channels)} and {len(blocks)}).")
        self.stem = nn.Sequential(nn.ConvTranspose2d(latent_dim, channels[0], base, 1, 0, bias=False),
                                  nn.BatchNorm2d(channels[0]), nn.ReLU())
        self.stages = nn.ModuleList(nn.ModuleList(ResBlock(c, w) for w in ws) for c, ws in zip(channels, blocks))
        self.ups = nn.ModuleList(
            nn.Sequential(nn.BatchNorm2d(a), nn.ReLU(), nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False))
            for a, b in zip(channels[:-1], channels[1:]))
        self.head = nn.Sequential(nn.BatchNorm2d(channels[-1]), nn.ReLU(),
                                  nn.Conv2d(channels[-1], self.image_shape[0], 3, 1, 1), nn.Tanh())

    @property
    def latent_dim(self) -> int:
        return self.stem[0].in_channels

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.stem(z.reshape(z.shape[0], -1, 1, 1))
        for i, stage in enumerate(self.stages):
            for block in stage:
                x = block(x)
            if i < len(self.ups):
                x = self.ups[i](x)
        return self.head(x)

    def block_names(self) -> list[str]:
        return [f"stages.{i}.{j}" for i, stage in enumerate(self.stages) for j in range(len(stage))]

    def remove_blocks(self, names: list[str]) -> None:
        """Delete whole residual blocks by name (e.g. 'stages.0.1'); the identity path carries on."""
        valid = set(self.block_names())
        unknown = [n for n in names if n not in valid]
        if unknown:
            raise ConfigError(f"Unknown block(s) {', '.join(unknown)}; valid blocks: {', '.join(sorted(valid))}.")
        for i, stage in enumerate(self.stages):
            keep = [b for j, b in enumerate(stage) if f"stages.{i}.{j}" not in names]
            self.stages[i] = nn.ModuleList(keep)

    def spec(self) -> dict:
        channels = [self.stem[0].out_channels] + [up[2].out_channels for up in self.ups]
        return {"arch": "resnet", "role": "generator", "latent_dim": self.latent_dim,
                "image_shape": list(self.image_shape), "channels": channels,
                "blocks": [[b.inner for b in stage] for stage in self.stages]}


def _defaults(image_shape: tuple[int, int, int], latent_dim: int, num_classes: int = 0) -> tuple[dict, dict]:
    _, k = size_plan(image_shape)
    channels = [max(32, 128 // 2**i) for i in range(k + 1)]
    blocks = [[c] * 2 if i < k else [] for i, c in enumerate(channels)]  # no blocks at full size: too many MACs
    g = {"arch": "resnet", "role": "generator", "latent_dim": latent_dim, "image_shape": list(image_shape),
         "channels": channels, "blocks": blocks}
    d = {"arch": "resnet", "role": "discriminator", "image_shape": list(image_shape),
         "widths": default_discriminator_widths(image_shape)}
    return g, d


def _check(spec: dict, role: str, where: str) -> None:
    if role == "discriminator":
        return check_conv_discriminator(spec, where)
    k = conv_plan(need_image_shape(spec, where), where)
    need_int(spec, "latent_dim", where, 1, MAX_LATENT)
    need_int_list(spec, "channels", where, length=k + 1)
    blocks = spec.get("blocks")
    if not isinstance(blocks, (list, tuple)) or len(blocks) != k + 1:
        raise SpecError(f"{where}.blocks must be a list of {k + 1} lists of block widths (got {blocks!r})")
    for i, stage in enumerate(blocks):  # a stage may hold no blocks at all (they were pruned away)
        need_int_list({f"blocks[{i}]": stage}, f"blocks[{i}]", where)


CODE = ArchCode(
    generator=lambda s: ResNetGenerator(s["latent_dim"], tuple(s["image_shape"]), s["channels"], s["blocks"]),
    discriminator=lambda s: ConvDiscriminator(tuple(s["image_shape"]), s["widths"], "resnet"),
    check=_check,
    noise_defaults=_defaults,
)
