"""The CycleGAN ResNet generator (Johnson et al. as in Zhu et al. 2017's reference code), with its PatchGAN D:
a 7x7 conv in, two stride-2 downsamplings, residual blocks at a quarter of the side, two upsamplings, a 7x7 conv
out and tanh; reflection padding and instance norm throughout. `width` is the reference's ngf (64 there) and the
block count its n_blocks (9 at 256 px, 6 at 128 px); the defaults are the project's small sizes.

Two departures, both for the exported file: upsampling is nearest-neighbour + 3x3 conv instead of ConvTranspose
(ONNX Runtime has no int8 ConvTranspose, as in engine/models/unet.py), and reflection padding is an index gather
(torch.export writes nn.ReflectionPad2d as a Pad that the ONNX version converter cannot take down to opset 17, the
export default, and `gan-prune export` crashed on it). Channel pruning sees the residual sums: every block's last
conv and the second downsampling share their output channels (`widths[2]`); each block's inner width is its own.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.errors import ConfigError
from engine.models import ArchCode
from engine.models.dcgan import dcgan_init
from engine.models.spec import SpecError, need_int_list
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

DEFAULT_BLOCKS = 4  # the reference has 6 (128 px) or 9 (256 px); 4 keep a 28 px model quick to train on a CPU


class ReflectPad(nn.Module):
    """Reflection padding by `pad` pixels as a gather of rows then columns (exports as Gather at any opset)."""

    def __init__(self, pad: int) -> None:
        super().__init__()
        self.pad = pad

    @staticmethod
    def _index(n: int, p: int, device) -> torch.Tensor:
        i = torch.arange(-p, n + p, device=device).abs()
        return torch.where(i > n - 1, 2 * (n - 1) - i, i)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = x.index_select(-2, self._index(h, self.pad, x.device))
        return x.index_select(-1, self._index(w, self.pad, x.device))


def _conv(cin: int, cout: int, kernel: int, stride: int = 1, norm: bool = True) -> nn.Sequential:
    """Reflection-padded conv (stride 1) or zero-padded strided conv, then instance norm and ReLU."""
    pad = (kernel - 1) // 2
    layers: list[nn.Module] = ([ReflectPad(pad), nn.Conv2d(cin, cout, kernel, 1, 0)] if stride == 1
                               else [nn.Conv2d(cin, cout, kernel, stride, pad)])
    if norm:
        layers += [nn.InstanceNorm2d(cout, affine=True), nn.ReLU()]
    return nn.Sequential(*layers)


class _Block(nn.Module):
    def __init__(self, channels: int, inner: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv(channels, inner, 3), ReflectPad(1), nn.Conv2d(inner, channels, 3),
                                  nn.InstanceNorm2d(channels, affine=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class CycleGANGenerator(ImageGenerator):
    def __init__(self, input_shape, image_shape, widths: list[int], blocks: list[int], residual: bool) -> None:
        super().__init__()
        self.input_shape, self.image_shape, self.residual = tuple(input_shape), tuple(image_shape), residual
        if len(widths) != 5:
            raise ConfigError(f"A cyclegan generator needs 5 widths (in, 2 down, 2 up; got {len(widths)}).")
        first, down1, trunk, up1, up2 = widths
        self.first = _conv(self.input_shape[0], first, 7)
        self.down = nn.Sequential(_conv(first, down1, 3, 2), _conv(down1, trunk, 3, 2))
        self.blocks = nn.ModuleList(_Block(trunk, inner) for inner in blocks)
        self.up = nn.ModuleList([_conv(trunk, up1, 3), _conv(up1, up2, 3)])
        self.last = nn.Sequential(ReflectPad(3), nn.Conv2d(up2, self.image_shape[0], 7))
        dcgan_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0 = resize_to(x, self.image_shape[1:])
        h = self.down(self.first(x0))
        for block in self.blocks:
            h = block(h)
        for up in self.up:
            h = up(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self._finish(x0, self.last(h))

    def spec(self) -> dict:
        convs = [self.first[1], self.down[0][0], self.down[1][0], self.up[0][1], self.up[1][1]]
        return {"arch": "cyclegan", "role": "generator", "input_shape": list(self.input_shape),
                "image_shape": list(self.image_shape), "residual": self.residual,
                "widths": [c.out_channels for c in convs], "blocks": [b.body[0][1].out_channels for b in self.blocks]}


def _check(spec: dict, role: str, where: str) -> None:
    if role == "discriminator":
        return check_patch_discriminator(spec, where)
    inp, image = check_shapes(spec, where)
    if image[1] % 4 or image[2] % 4:
        raise SpecError(f"{where}.image_shape {list(image)} does not fit: a cyclegan generator halves the side "
                        "twice, so it must be a multiple of 4 (e.g. 28, 32, 256)")
    check_residual(spec, where, inp, image)
    need_int_list(spec, "widths", where, length=5)
    need_int_list(spec, "blocks", where)


def _image_defaults(input_shape, image_shape, residual, sees_input: bool = True, width: int | None = None,
                    blocks: int | None = None) -> tuple[dict, dict]:
    if image_shape[1] % 4 or image_shape[2] % 4:
        raise ConfigError(f"The cyclegan generator needs an image side that is a multiple of 4 (got "
                          f"{image_shape[1]}); choose --image-size 28, 32 or 256.")
    b = width or base_width(image_shape)
    sizes = {"widths": [b, 2 * b, 4 * b, 2 * b, b], "blocks": [4 * b] * (blocks or DEFAULT_BLOCKS)}
    return image_pair_specs("cyclegan", sizes, input_shape, image_shape, residual, sees_input)


CODE = ArchCode(
    generator=lambda s: CycleGANGenerator(tuple(s["input_shape"]), tuple(s["image_shape"]), s["widths"],
                                          s["blocks"], s["residual"]),
    discriminator=patch_discriminator,
    check=_check,
    image_defaults=_image_defaults,
)
