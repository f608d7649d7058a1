"""Training an elastic generator by the sandwich rule (Yu & Huang's slimmable nets, Anycost GAN, OFA).

Each step trains, on the same latents, the largest sub-network, the smallest and a few random ones, every one
distilled from the dense teacher by the fine-tune stage's terms (output L1, hidden maps through 1x1 adapters,
perceptual). The smaller ones also match the largest one's image (Anycost GAN's consistency: the largest teaches
the small ones). Gradients of all of them add up in the shared weights before one optimizer step. A GAN term against
the teacher's D is optional (off by default: distillation alone measured better for pruned students,
engine.distill.trainer).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.distill.elastic import GRID, ElasticGenerator
from engine.distill.terms import DistillWeights, FeatureTap, PerceptualLoss, output_loss, supports_perceptual
from engine.ema import frozen_copy
from engine.errors import TrainingDiverged
from engine.gan_step import discriminator_loss, generator_loss
from engine.prune.layers import prunable_layers

# The largest sub-network's image as a target for the others, beside the teacher's (weight of that L1), as Anycost
# GAN keeps every size consistent with the full one. Measured on the bundled DCGAN (240 s, 280 steps each, one run):
# 0.5 gave probe FID 1.29x / 1.58x / 2.23x the teacher's at 1/4, 3/16, 1/8 of the channels, 0 gave 1.36x / 1.64x /
# 2.30x (bench/results/compress_elastic_consistency.json).
CONSISTENCY = 0.5


@dataclass(frozen=True)
class SandwichSettings:
    lr: float = 4e-3  # engine.distill.trainer's recipe
    betas: tuple[float, float] = (0.5, 0.999)
    batch_size: int = 64
    random_subnets: int = 2
    grid: tuple[float, ...] = GRID
    consistency: float = CONSISTENCY
    adversarial: float = 0.0  # weight of the teacher D's verdict in every sub-network's loss; 0: no D step
    loss: str = "bce"
    seed: int = 0


class SlicedAdapters(nn.Module):
    """One 1x1 conv per tapped layer from the student's first k channels to all the teacher's, started at the
    identity: the teacher is the elastic model at full width, so channel j of both is the same channel."""

    def __init__(self, widths: dict[str, int]) -> None:
        super().__init__()
        self.names = list(widths)
        self.weights = nn.ParameterList([nn.Parameter(torch.eye(c).view(c, c, 1, 1)) for c in widths.values()])
        self.biases = nn.ParameterList([nn.Parameter(torch.zeros(c)) for c in widths.values()])

    def loss(self, student: dict[str, torch.Tensor], teacher: dict[str, torch.Tensor]) -> torch.Tensor:
        losses = []
        for name, w, b in zip(self.names, self.weights, self.biases):
            s, t = _as_map(student[name]), _as_map(teacher[name]).float()
            mapped = F.conv2d(s.float(), w[:, :s.shape[1]], b)
            losses.append(F.mse_loss(mapped, t) / (t.var().detach() + 1e-6))
        return torch.stack(losses).mean()


def _as_map(x: torch.Tensor) -> torch.Tensor:
    return x if x.dim() == 4 else x.reshape(x.shape[0], -1, 1, 1)


class SandwichTrainer:
    """One step = the largest, the smallest and `random_subnets` random sub-networks, on one batch of latents."""

    def __init__(self, elastic: ElasticGenerator, settings: SandwichSettings, weights: DistillWeights,
                 device: torch.device, perceptual_net: nn.Module | None = None, D: nn.Module | None = None) -> None:
        self.elastic, self.settings, self.device = elastic, settings, device
        self.G = elastic.model.to(device)
        self.teacher = frozen_copy(elastic.extract(None, calibrate=False)).to(device).eval()
        if not supports_perceptual(perceptual_net):
            weights = DistillWeights(weights.output, weights.features, 0.0, weights.output_loss)
        self.weights = weights
        self.perceptual = PerceptualLoss(perceptual_net).to(device) if weights.perceptual > 0 else None
        names = [n for n, _ in prunable_layers(self.teacher, structural=True)]
        self.adapters = None
        self.taps: list[FeatureTap] = []
        if weights.features > 0:
            modules = dict(self.teacher.named_modules())
            sizes = {n: int(getattr(modules[n], "out_features", None) or modules[n].out_channels) for n in names}
            self.adapters = SlicedAdapters(sizes).to(device)
            self.taps = [FeatureTap(self.G, names), FeatureTap(self.teacher, names)]
        params = list(self.G.parameters()) + (list(self.adapters.parameters()) if self.adapters else [])
        self.opt = torch.optim.Adam(params, lr=settings.lr, betas=settings.betas)
        self.D = D.to(device) if D is not None and settings.adversarial > 0 else None
        self.optD = torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.5, 0.999)) if self.D else None
        self.noise = torch.Generator().manual_seed(settings.seed + 1)
        self.pick = random.Random(settings.seed)
        self.step = 0
        self.images: torch.Tensor | None = None  # real images, for the optional D step

    def close(self) -> None:
        for tap in self.taps:
            tap.close()
        self.elastic.set_widths(None)

    def subnets(self) -> list[dict[str, int]]:
        """This step's width configs: the largest, the smallest, then random ones (a share per group)."""
        grid = self.settings.grid
        rand = [{g.name: self.pick.choice(grid) for g in self.elastic.groups}
                for _ in range(self.settings.random_subnets)]
        return [self.elastic.widths_at(s) for s in (max(grid), min(grid), *rand)]

    def set_progress(self, fraction: float) -> None:
        """Cosine decay of the learning rate to 0 over the elastic training (by the clock)."""
        lr = self.settings.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, max(0.0, fraction))))
        for group in self.opt.param_groups:
            group["lr"] = lr

    def _terms(self, fake: torch.Tensor, target: torch.Tensor, target_stages: list[torch.Tensor] | None,
               largest: torch.Tensor | None) -> torch.Tensor:
        w = self.weights
        loss = fake.new_zeros(())
        if w.output > 0:
            loss = loss + w.output * output_loss(fake, target, w.output_loss)
        if self.adapters is not None:
            loss = loss + w.features * self.adapters.loss(self.taps[0].out, self.taps[1].out)
        if self.perceptual is not None:  # the teacher's feature-net stages once per step, not per sub-network
            stages = self.perceptual._stages(fake)
            loss = loss + w.perceptual * torch.stack([F.l1_loss(s, t) for s, t in zip(stages, target_stages)]).mean()
        if largest is not None and self.settings.consistency > 0:
            loss = loss + self.settings.consistency * F.l1_loss(fake, largest)
        if self.D is not None:
            loss = loss + self.settings.adversarial * generator_loss(self.D.logits(fake), self.settings.loss)
        return loss

    def train_step(self) -> dict[str, float]:
        self.G.train()
        z = torch.randn(self.settings.batch_size, self.G.latent_dim, generator=self.noise).to(self.device)
        with torch.no_grad():
            target = self.teacher(z)
            target_stages = self.perceptual._stages(target) if self.perceptual is not None else None
        self.opt.zero_grad(set_to_none=True)
        values: dict[str, float] = {}
        largest = None
        if self.D is not None:
            self.D.requires_grad_(False)
        for i, widths in enumerate(self.subnets()):
            self.elastic.set_widths(widths)
            fake = self.G(z)
            loss = self._terms(fake, target, target_stages, largest)
            if not torch.isfinite(loss):
                raise TrainingDiverged(f"Elastic training diverged at step {self.step + 1} (loss {loss.item():.3g}); "
                                       f"lower the learning rate (now {self.settings.lr}).")
            loss.backward()
            if i == 0:
                largest = fake.detach()
            values[("largest", "smallest")[i] if i < 2 else f"random{i - 1}"] = loss.item()
        self.opt.step()
        self.elastic.set_widths(None)
        if self.D is not None:
            values["loss_d"] = self._d_step(largest)
        self.step += 1
        values["distill"] = sum(values.values())
        return values

    def _d_step(self, fake: torch.Tensor) -> float:
        """D on real images vs the largest sub-network's (the GAN term is optional; off by default)."""
        from engine.data import to_float

        self.D.requires_grad_(True)
        idx = torch.randint(len(self.images), (fake.shape[0],), generator=self.noise)
        real = to_float(self.images[idx]).to(self.device)
        loss = discriminator_loss(self.D.logits(real), self.D.logits(fake), self.settings.loss)
        self.optD.zero_grad(set_to_none=True)
        loss.backward()
        self.optD.step()
        return loss.item()
