"""DCGAN in its classic conv-only form: the latent as a 1x1 map into ConvTranspose/BatchNorm/ReLU → Tanh.

The conv-only form matters: torch-pruning shrinks every ConvTranspose width, while a Linear→view projection
would stay at full width. Image sizes are base * 2**k with base 4 or 7 (28 = 7*4, 32 = 4*8, 64 = 4*16).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from engine.errors import ConfigError
from engine.models import ArchCode
from engine.models.spec import MAX_LATENT, MAX_WIDTH, conv_plan, need_image_shape, need_int, need_int_list


def size_plan(image_shape: tuple[int, int, int]) -> tuple[int, int]:
    """(base, k): the first feature map's side and the number of 2x upsamplings to reach the image side."""
    c, h, w = image_shape
    if h != w:
        raise ConfigError(f"Conv models need square images (got {h}x{w}); choose an image size like 28 or 32.")
    if c not in (1, 3):
        raise ConfigError(f"Images must have 1 (gray) or 3 (RGB) channels (got {c}).")
    for base in (7, 4):
        k, side = 0, base
        while side < h:
            side, k = side * 2, k + 1
        if side == h and k >= 1:
            return base, k
    raise ConfigError(f"Image size {h} is not supported by conv models; use 28, 32, 56 or 64 "
                      "(a side of 4 or 7 doubled one or more times).")


def dcgan_init(model: nn.Module) -> nn.Module:
    """Radford et al.'s init: conv weights N(0, 0.02), BatchNorm scales N(1, 0.02), biases 0.

    PyTorch's default (Kaiming-uniform) init gives the last ConvTranspose a fan-in of 16 and so weights ~7x larger:
    38 % of a fresh G's pixels sit in Tanh's flat ends (|x| > 0.95, measured), G gets almost no gradient, and D wins
    for about the first 1,000 steps (D(x) ~ 1, D(G(z)) ~ 0). With this init none are saturated.
    """
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return model


class DCGANGenerator(nn.Module):
    def __init__(self, latent_dim: int, image_shape: tuple[int, int, int], widths: list[int]) -> None:
        super().__init__()
        self.image_shape = tuple(image_shape)
        base, k = size_plan(self.image_shape)
        if len(widths) != k:
            raise ConfigError(f"A {self.image_shape[1]}px DCGAN generator needs {k} hidden widths (got {len(widths)}).")
        layers: list[nn.Module] = [nn.ConvTranspose2d(latent_dim, widths[0], base, 1, 0, bias=False),
                                   nn.BatchNorm2d(widths[0]), nn.ReLU(True)]
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(widths[-1], self.image_shape[0], 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        dcgan_init(self)

    @property
    def latent_dim(self) -> int:
        return self.net[0].in_channels

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.reshape(z.shape[0], -1, 1, 1))

    def spec(self) -> dict:
        convs = [m for m in self.net if isinstance(m, nn.ConvTranspose2d)]
        return {"arch": "dcgan", "role": "generator", "latent_dim": self.latent_dim,
                "image_shape": list(self.image_shape), "widths": [m.out_channels for m in convs[:-1]]}


class ConvDiscriminator(nn.Module):
    """Strided Conv/BatchNorm/LeakyReLU down to a 1x1 logit; shared by the dcgan and resnet archs."""

    def __init__(self, image_shape: tuple[int, int, int], widths: list[int], arch: str = "dcgan") -> None:
        super().__init__()
        self.image_shape, self.arch = tuple(image_shape), arch
        base, k = size_plan(self.image_shape)
        if len(widths) != k:
            raise ConfigError(f"A {self.image_shape[1]}px conv discriminator needs {k} widths (got {len(widths)}).")
        layers: list[nn.Module] = []
        prev = self.image_shape[0]
        for i, w in enumerate(widths):
            layers.append(nn.Conv2d(prev, w, 4, 2, 1, bias=(i == 0)))
            if i > 0:
                layers.append(nn.BatchNorm2d(w))
            layers.append(nn.LeakyReLU(0.2, True))
            prev = w
        layers.append(nn.Conv2d(prev, 1, base, 1, 0))
        self.net = nn.Sequential(*layers)
        dcgan_init(self)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1).squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(x))

    def spec(self) -> dict:
        convs = [m for m in self.net if isinstance(m, nn.Conv2d)]
        return {"arch": self.arch, "role": "discriminator", "image_shape": list(self.image_shape),
                "widths": [m.out_channels for m in convs[:-1]]}


def default_discriminator_widths(image_shape: tuple[int, int, int]) -> list[int]:
    _, k = size_plan(image_shape)
    return [min(512, 64 * 2**i) for i in range(k)]


def _defaults(image_shape: tuple[int, int, int], latent_dim: int, num_classes: int = 0) -> tuple[dict, dict]:
    """num_classes > 0: the class-conditional pair (a class embedding into G, a projection D)."""
    _, k = size_plan(image_shape)
    g = {"arch": "dcgan", "role": "generator", "latent_dim": latent_dim, "image_shape": list(image_shape),
         "widths": [max(32, 256 // 2**i) for i in range(k)]}
    d = {"arch": "dcgan", "role": "discriminator", "image_shape": list(image_shape),
         "widths": default_discriminator_widths(image_shape)}
    if num_classes:
        from engine.models.conditional import default_embed_dim

        g.update(num_classes=num_classes, embed_dim=default_embed_dim(num_classes))
        d.update(num_classes=num_classes)
    return g, d


def check_conv_discriminator(spec: dict, where: str) -> None:
    k = conv_plan(need_image_shape(spec, where), where)
    need_int_list(spec, "widths", where, length=k)


def _check(spec: dict, role: str, where: str) -> None:
    from engine.models.conditional import MAX_CLASSES

    if "num_classes" in spec:  # the class-conditional pair (engine.models.conditional)
        need_int(spec, "num_classes", where, 2, MAX_CLASSES)
        if role == "generator":
            need_int(spec, "embed_dim", where, 1, MAX_WIDTH)
    if role == "discriminator":
        return check_conv_discriminator(spec, where)
    k = conv_plan(need_image_shape(spec, where), where)
    need_int(spec, "latent_dim", where, 1, MAX_LATENT)
    need_int_list(spec, "widths", where, length=k)


def _generator(s: dict) -> nn.Module:
    if s.get("num_classes"):
        from engine.models.conditional import ConditionalDCGANGenerator

        return ConditionalDCGANGenerator(s["latent_dim"], tuple(s["image_shape"]), s["widths"], s["num_classes"],
                                         s["embed_dim"])
    return DCGANGenerator(s["latent_dim"], tuple(s["image_shape"]), s["widths"])


def _discriminator(s: dict) -> nn.Module:
    if s.get("num_classes"):
        from engine.models.conditional import ProjectionDiscriminator

        return ProjectionDiscriminator(tuple(s["image_shape"]), s["widths"], s["num_classes"])
    return ConvDiscriminator(tuple(s["image_shape"]), s["widths"], "dcgan")


CODE = ArchCode(generator=_generator, discriminator=_discriminator, check=_check, noise_defaults=_defaults)
