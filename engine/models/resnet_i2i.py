"""The ResNet image-to-image generator (Johnson et al., as in pix2pix/CycleGAN, scaled down): conv in, one 2x
downsampling, residual blocks at half size, nearest-neighbour upsampling + conv back, conv out; PatchGAN D.

Channel pruning sees the residual sums: every block's last conv and the downsampling conv share their output
channels, so torch-pruning cuts them together (the spec records the shared width once, in `widths[1]`).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.errors import ConfigError
from engine.models import ArchCode
from engine.models.dcgan import dcgan_init
from engine.models.spec import need_int_list
from engine.models.unet import (
    ImageGenerator,
    base_width,
    check_patch_discriminator,
    check_residual,
    check_shapes,
    image_pair_specs,
    patch_discriminator,
    resize_to,
)


class _Block(nn.Module):
    def __init__(self, channels: int, inner: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, inner, 3, 1, 1, bias=False), nn.BatchNorm2d(inner), nn.ReLU(),
                                  nn.Conv2d(inner, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResNetImageGenerator(ImageGenerator):
    def __init__(self, input_shape, image_shape, widths: list[int], blocks: list[int], residual: bool) -> None:
        super().__init__()
        self.input_shape, self.image_shape, self.residual = tuple(input_shape), tuple(image_shape), residual
        if len(widths) != 3:
            raise ConfigError(f"A resnet-i2i generator needs 3 widths (in, middle, out; got {len(widths)}).")
        first, middle, out = widths
        self.first = nn.Sequential(nn.Conv2d(self.input_shape[0], first, 3, 1, 1, bias=False), nn.BatchNorm2d(first),
                                   nn.ReLU())
        self.down = nn.Sequential(nn.Conv2d(first, middle, 4, 2, 1, bias=False), nn.BatchNorm2d(middle), nn.ReLU())
        self.blocks = nn.ModuleList(_Block(middle, inner) for inner in blocks)
        self.up = nn.Sequential(nn.Conv2d(middle, out, 3, 1, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU())
        self.last = nn.Conv2d(out, self.image_shape[0], 3, 1, 1)
        dcgan_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0 = resize_to(x, self.image_shape[1:])
        h = self.down(self.first(x0))
        for block in self.blocks:
            h = block(h)
        h = self.up(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self._finish(x0, self.last(h))

    def spec(self) -> dict:
        return {"arch": "resnet-i2i", "role": "generator", "input_shape": list(self.input_shape),
                "image_shape": list(self.image_shape), "residual": self.residual,
                "widths": [self.first[0].out_channels, self.down[0].out_channels, self.up[0].out_channels],
                "blocks": [b.body[0].out_channels for b in self.blocks]}


def _check(spec: dict, role: str, where: str) -> None:
    if role == "discriminator":
        return check_patch_discriminator(spec, where)
    inp, image = check_shapes(spec, where)
    check_residual(spec, where, inp, image)
    need_int_list(spec, "widths", where, length=3)
    need_int_list(spec, "blocks", where)


def _image_defaults(input_shape, image_shape, residual, sees_input: bool = True, width: int | None = None,
                    blocks: int | None = None) -> tuple[dict, dict]:
    b = width or base_width(image_shape)
    return image_pair_specs("resnet-i2i", {"widths": [b, 2 * b, b], "blocks": [2 * b] * (blocks or 3)}, input_shape,
                            image_shape, residual, sees_input)


CODE = ArchCode(
    generator=lambda s: ResNetImageGenerator(tuple(s["input_shape"]), tuple(s["image_shape"]), s["widths"],
                                             s["blocks"], s["residual"]),
    discriminator=patch_discriminator,
    check=_check,
    image_defaults=_image_defaults,
)
