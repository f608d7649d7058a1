"""Image-to-image models (pix2pix): a small U-Net generator whose decoder concatenates the encoder's maps (skips),
and a PatchGAN discriminator that judges (input, output) pairs patch by patch.

The input may be smaller than the output (super-resolution): the generator first resizes it bicubically to the
output's size, so every task shares one layout. With `residual` it learns only a correction of that resized input
(the bicubic baseline), which is what lets a small model beat bicubic quickly. There is no ConvTranspose anywhere:
upsampling is nearest-neighbour + 3x3 conv, so ONNX Runtime runs every layer in int8 (it has no int8 ConvTranspose).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.errors import ConfigError
from engine.models import ArchCode
from engine.models.dcgan import dcgan_init
from engine.models.spec import SpecError, field, need_image_shape, need_int_list

Shape = tuple[int, int, int]


def resize_to(x: torch.Tensor, side: tuple[int, int]) -> torch.Tensor:
    """The input at the output's size (bicubic, the super-resolution baseline); unchanged when it already is."""
    if tuple(x.shape[-2:]) == tuple(side):
        return x
    return F.interpolate(x, size=tuple(side), mode="bicubic", align_corners=False)


def downsamplings(image_shape: Shape) -> int:
    """How many times the U-Net halves the image: twice for 8-28 px, three times from 32 px when the side allows."""
    _, h, w = image_shape
    if h != w:
        raise ConfigError(f"Image-to-image models need square images (got {h}x{w}); choose an image size like 28.")
    if h % 2:
        raise ConfigError(f"Image-to-image models need an even image side (got {h}); choose e.g. 28 or 32.")
    if h >= 32 and h % 8 == 0:
        return 3
    return 2 if h % 4 == 0 else 1


def _conv_bn(cin: int, cout: int, kernel: int, stride: int, act: nn.Module) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2 if stride == 1 else 1, bias=False),
                         nn.BatchNorm2d(cout), act)


class ImageGenerator(nn.Module):
    """What every image-to-image generator shares: its shapes, an example input, the resize and the output."""

    input_shape: Shape
    image_shape: Shape
    residual: bool

    def example_input(self, batch: int = 1) -> torch.Tensor:
        device = next(self.parameters()).device
        return torch.zeros(batch, *self.input_shape, device=device)

    def _finish(self, x0: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        if self.residual:  # a correction of the resized input; clamp keeps it in the images' [-1, 1]
            return (x0 + out).clamp(-1.0, 1.0)
        return torch.tanh(out)


class UNetGenerator(ImageGenerator):
    def __init__(self, input_shape: Shape, image_shape: Shape, enc: list[int], dec: list[int],
                 residual: bool) -> None:
        super().__init__()
        self.input_shape, self.image_shape, self.residual = tuple(input_shape), tuple(image_shape), residual
        k = len(enc) - 1
        if len(dec) != k or k < 1:
            raise ConfigError(f"A U-Net with {len(enc)} encoder widths needs {k} decoder widths (got {len(dec)}).")
        self.first = nn.Sequential(nn.Conv2d(self.input_shape[0], enc[0], 3, 1, 1), nn.LeakyReLU(0.2))
        self.down = nn.ModuleList(_conv_bn(a, b, 4, 2, nn.LeakyReLU(0.2)) for a, b in zip(enc[:-1], enc[1:]))
        prev, ups = enc[-1], []
        for j, width in enumerate(dec):  # deepest first; each takes the level above's encoder map as a skip
            ups.append(_conv_bn(prev + enc[k - 1 - j], width, 3, 1, nn.ReLU()))
            prev = width
        self.up = nn.ModuleList(ups)
        self.last = nn.Conv2d(prev, self.image_shape[0], 3, 1, 1)
        dcgan_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0 = resize_to(x, self.image_shape[1:])
        feats = [self.first(x0)]
        for down in self.down:
            feats.append(down(feats[-1]))
        h = feats[-1]
        for j, up in enumerate(self.up):
            h = F.interpolate(h, scale_factor=2.0, mode="nearest")
            h = up(torch.cat([h, feats[len(feats) - 2 - j]], 1))
        return self._finish(x0, self.last(h))

    def spec(self) -> dict:
        return {"arch": "unet", "role": "generator", "input_shape": list(self.input_shape),
                "image_shape": list(self.image_shape), "residual": self.residual,
                "enc": [self.first[0].out_channels] + [d[0].out_channels for d in self.down],
                "dec": [u[0].out_channels for u in self.up]}


class PatchDiscriminator(nn.Module):
    """PatchGAN: strided convs down to a map of logits, one per overlapping patch of the (input, output) pair.

    With `sees_input` False (the unpaired task, CycleGAN) it judges the image alone: it still takes the same
    (input, image) stack, so every caller feeds both kinds alike, and reads only the image's channels."""

    def __init__(self, input_shape: Shape, image_shape: Shape, widths: list[int], arch: str,
                 sees_input: bool = True) -> None:
        super().__init__()
        self.input_shape, self.image_shape, self.arch = tuple(input_shape), tuple(image_shape), arch
        self.sees_input = sees_input
        first_in = (self.input_shape[0] if sees_input else 0) + self.image_shape[0]
        layers: list[nn.Module] = [nn.Conv2d(first_in, widths[0], 4, 2, 1), nn.LeakyReLU(0.2)]
        for a, b in zip(widths[:-1], widths[1:]):
            layers.append(_conv_bn(a, b, 4, 2, nn.LeakyReLU(0.2)))
        layers.append(nn.Conv2d(widths[-1], 1, 3, 1, 1))
        self.net = nn.Sequential(*layers)
        dcgan_init(self)

    def example_input(self, batch: int = 1) -> torch.Tensor:
        c = self.input_shape[0] + self.image_shape[0]
        return torch.zeros(batch, c, *self.image_shape[1:], device=next(self.parameters()).device)

    def logits(self, pair: torch.Tensor) -> torch.Tensor:
        """pair: make_pair(input, image); one logit per patch, N x patches."""
        if not self.sees_input:
            pair = pair[:, pair.shape[1] - self.image_shape[0]:]
        return self.net(pair).flatten(1)

    def judge_images(self, images: torch.Tensor) -> torch.Tensor:
        """An image-only D's logits for images alone (CycleGAN's step, which has no input beside a real B)."""
        return self.net(images).flatten(1)

    def forward(self, pair: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(pair))

    def spec(self) -> dict:
        convs = [m for m in self.net.modules() if isinstance(m, nn.Conv2d)]
        spec = {"arch": self.arch, "role": "discriminator", "input_shape": list(self.input_shape),
                "image_shape": list(self.image_shape), "widths": [m.out_channels for m in convs[:-1]]}
        return spec if self.sees_input else {**spec, "sees_input": False}


def patch_discriminator(spec: dict) -> PatchDiscriminator:
    """The PatchGAN of an image arch's spec (older specs have no `sees_input`: they judge pairs)."""
    return PatchDiscriminator(tuple(spec["input_shape"]), tuple(spec["image_shape"]), spec["widths"], spec["arch"],
                              spec.get("sees_input", True))


def make_pair(inputs: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """What the PatchGAN sees: the input resized to the image's size, stacked on the image's channels."""
    return torch.cat([resize_to(inputs, images.shape[-2:]), images], 1)


# ---- default sizes and spec checks --------------------------------------------------------------------------------
def base_width(image_shape: Shape) -> int:
    """Small images (tests, 8-16 px) get a tiny model, 28-32 px digits one with room to prune (14 M MACs at 28 px),
    larger pictures a wider one."""
    return 8 if image_shape[1] <= 16 else 16 if image_shape[1] <= 32 else 32


def image_pair_specs(arch: str, widths: dict, input_shape: Shape, image_shape: Shape,
                     residual: bool, sees_input: bool = True) -> tuple[dict, dict]:
    """An image-to-image generator spec (its own `widths` keys) and the PatchGAN's at the default widths (one that
    judges the image alone when not `sees_input`)."""
    k, b = downsamplings(image_shape), base_width(image_shape)
    g = {"arch": arch, "role": "generator", **widths, "input_shape": list(input_shape),
         "image_shape": list(image_shape), "residual": residual}
    d = {"arch": arch, "role": "discriminator", "input_shape": list(input_shape), "image_shape": list(image_shape),
         "widths": [b * 2**i for i in range(min(k, 2 if image_shape[1] < 32 else 3))]}
    return g, (d if sees_input else {**d, "sees_input": False})


def _image_defaults(input_shape: Shape, image_shape: Shape, residual: bool, sees_input: bool = True,
                    width: int | None = None, blocks: int | None = None) -> tuple[dict, dict]:
    k, b = downsamplings(image_shape), width or base_width(image_shape)  # a U-Net has no blocks to count
    widths = {"enc": [b * 2**i for i in range(k + 1)], "dec": [b * 2**i for i in reversed(range(k))]}
    return image_pair_specs("unet", widths, input_shape, image_shape, residual, sees_input)


def check_shapes(spec: dict, where: str) -> tuple[Shape, Shape]:
    image = need_image_shape(spec, where)
    c, h, w = need_int_list(spec, "input_shape", where, 1, 1024, length=3)
    if c not in (1, 3):
        raise SpecError(f"{where}.input_shape must start with 1 (gray) or 3 (RGB) channels (got {c})")
    if h > image[1] or w > image[2] or image[1] % h or image[2] % w:
        raise SpecError(f"{where}.input_shape {[c, h, w]} must divide the output's {list(image)}")
    try:
        downsamplings(image)
    except ConfigError as e:
        raise SpecError(f"{where}.image_shape {list(image)} does not fit: {str(e).rstrip('.')}") from None
    return (c, h, w), image


def check_residual(spec: dict, where: str, input_shape: Shape, image: Shape) -> None:
    residual = field(spec, "residual", where)
    if not isinstance(residual, bool):
        raise SpecError(f"{where}.residual must be true or false (got {residual!r})")
    if residual and input_shape[0] != image[0]:
        raise SpecError(f"{where}.residual needs as many input channels as output channels")


def check_patch_discriminator(spec: dict, where: str) -> None:
    check_shapes(spec, where)
    need_int_list(spec, "widths", where)
    if not isinstance(spec.get("sees_input", True), bool):
        raise SpecError(f"{where}.sees_input must be true or false (got {spec['sees_input']!r})")


def _check(spec: dict, role: str, where: str) -> None:
    if role == "discriminator":
        return check_patch_discriminator(spec, where)
    inp, image = check_shapes(spec, where)
    check_residual(spec, where, inp, image)
    k = downsamplings(image)
    need_int_list(spec, "enc", where, length=k + 1)
    need_int_list(spec, "dec", where, length=k)


CODE = ArchCode(
    generator=lambda s: UNetGenerator(tuple(s["input_shape"]), tuple(s["image_shape"]), s["enc"], s["dec"],
                                      s["residual"]),
    discriminator=patch_discriminator,
    check=_check,
    image_defaults=_image_defaults,
)
