"""The distillation terms, each on by a weight above 0 (GAN Compression / OMGD style).

- features: every hidden generator layer of the student, mapped by a learned 1x1 conv (student channels → teacher
  channels), matches the teacher's output of the same layer for the same z (MSE normalised by the teacher map's
  variance, so layers of any scale weigh alike). The adapters train with the student and are dropped at the end.
- perceptual: L1 between the feature-net activations (after each conv stage) of the student's and teacher's images.
- output: L1 or MSE between the student's and the teacher's images.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.distill.choices import OUTPUT_LOSSES  # noqa: F401  (the names, torch-free)
from engine.distributed import current


@dataclass(frozen=True)
class DistillWeights:
    """Weight of each term; 0 turns a term off (and its loss is not even computed)."""

    output: float = 1.0
    features: float = 1.0
    perceptual: float = 1.0
    output_loss: str = "l1"

    @property
    def any(self) -> bool:
        return self.output > 0 or self.features > 0 or self.perceptual > 0

    def scaled(self, overall: float) -> DistillWeights:
        """Every weight times `overall` (the `--distill` flag)."""
        return DistillWeights(self.output * overall, self.features * overall, self.perceptual * overall,
                              self.output_loss)


class FeatureTap:
    """Records the outputs of named layers on every forward (the same names in student and teacher)."""

    def __init__(self, model: nn.Module, names: list[str]) -> None:
        self.out: dict[str, torch.Tensor] = {}
        modules = dict(model.named_modules())
        self._hooks = [modules[n].register_forward_hook(self._keep(n)) for n in names]

    def _keep(self, name: str):
        def hook(_m, _i, out):
            self.out[name] = out
        return hook

    def close(self) -> None:
        for h in self._hooks:
            h.remove()


def _as_map(x: torch.Tensor) -> torch.Tensor:
    """A Linear layer's N x C output as an N x C x 1 x 1 map, so one 1x1 conv adapter serves both kinds."""
    return x if x.dim() == 4 else x.reshape(x.shape[0], -1, 1, 1)


class FeatureAdapters(nn.Module):
    """One learned 1x1 conv per tapped layer, from the student's channels to the teacher's."""

    def __init__(self, widths: dict[str, tuple[int, int]]) -> None:
        super().__init__()
        self.names = list(widths)
        self.convs = nn.ModuleDict({_key(n): nn.Conv2d(s, t, 1) for n, (s, t) in widths.items()})
        for conv in self.convs.values():
            nn.init.zeros_(conv.bias)  # torch's default bias (±1/sqrt(fan_in)) would swamp small feature maps

    def forward(self, name: str, x: torch.Tensor) -> torch.Tensor:
        return self.convs[_key(name)](_as_map(x))


def _key(name: str) -> str:
    return name.replace(".", "_")  # ModuleDict keys may not hold dots


@torch.no_grad()
def layer_widths(model: nn.Module, names: list[str], latent_dim: int) -> dict[str, int]:
    """Output channels of each named layer, read from one forward pass of two latents."""
    tap = FeatureTap(model, names)
    was_training = model.training
    try:
        model.eval()
        model(torch.zeros(2, latent_dim, device=next(model.parameters()).device))
        return {n: _as_map(tap.out[n]).shape[1] for n in names}
    finally:
        model.train(was_training)
        tap.close()


def feature_loss(adapters: FeatureAdapters, student: dict[str, torch.Tensor],
                 teacher: dict[str, torch.Tensor]) -> torch.Tensor:
    losses = []
    for name in adapters.names:
        t = _as_map(teacher[name]).float()
        s = adapters(name, student[name]).float()
        losses.append(F.mse_loss(s, t) / (_batch_variance(t) + 1e-6))
    return torch.stack(losses).mean()


@torch.no_grad()
def _batch_variance(t: torch.Tensor) -> torch.Tensor:
    """The teacher maps' variance over the whole batch, also when each process holds a share of it."""
    ctx = current()
    if not ctx.distributed:
        return t.var()
    total = ctx.sum_over_processes(torch.stack([t.sum(), (t * t).sum(), t.new_tensor(float(t.numel()))]))
    n = total[2]
    return (total[1] - total[0] * total[0] / n) / (n - 1)


class PerceptualLoss(nn.Module):
    """L1 between a frozen classifier's activations (after each of its conv stages) for two image batches."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net.eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.size = int(getattr(net, "image_size", 0))
        self.in_channels = int(getattr(net, "in_channels", 0))

    def _stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.shape[1] == 3 and self.in_channels == 1:
            x = (x * x.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
        elif x.shape[1] == 1 and self.in_channels == 3:
            x = x.expand(-1, 3, -1, -1)
        if self.size and x.shape[-1] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        out = []
        for layer in self.net.body:
            x = layer(x)
            if isinstance(layer, nn.MaxPool2d):
                out.append(x)
        return out

    def forward(self, student_images: torch.Tensor, teacher_images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = self._stages(teacher_images)
        losses = [F.l1_loss(s, t) for s, t in zip(self._stages(student_images), target)]
        return torch.stack(losses).mean()


def supports_perceptual(net: nn.Module | None) -> bool:
    """The feature nets built from DigitCNN have conv stages to compare; an Inception wrapper does not."""
    return net is not None and isinstance(getattr(net, "body", None), nn.Sequential)


def output_loss(student: torch.Tensor, teacher: torch.Tensor, kind: str) -> torch.Tensor:
    return F.mse_loss(student, teacher) if kind == "mse" else F.l1_loss(student, teacher)
