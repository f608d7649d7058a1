"""The student trainer: the shared GAN step plus the distillation terms, one step at a time over in-memory images.

Optimizers and the EMA are built fresh over the modules as they are now: the trained ones point at tensors that
structural pruning removed. The fine-tune stage and the iterative pruning schedule both drive it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn

from engine.config import TrainConfig
from engine.data import to_float
from engine.distill.choices import DEFAULT_ADVERSARIAL, DEFAULT_LR, DEFAULT_SCHEDULE, LR_SCHEDULES  # noqa: F401,E402
from engine.distill.terms import (
    DistillWeights,
    FeatureAdapters,
    FeatureTap,
    PerceptualLoss,
    feature_loss,
    layer_widths,
    output_loss,
    supports_perceptual,
)
from engine.distributed import current
from engine.distributed.replicas import replicate
from engine.ema import frozen_copy, update_ema
from engine.errors import TrainingDiverged
from engine.gan_step import BatchSampler, GanStep, all_finite, apply_masks, zero_masks
from engine.models import num_classes
from engine.optim import make_optimizer
from engine.prune.layers import prunable_layers

# The recipe, measured by bench/distill_recipe.py (bench/results/distill_recipe.json) on the bundled DCGAN: distillation
# alone at lr 4e-3 with cosine decay. At 20x fewer MACs after 1,200 steps, probe FID 1.08x the teacher's where the old
# recipe (GAN term against the teacher's D, lr 2e-4 constant) stalled at 2.7x and got worse after step 800: the GAN
# term pulls the student off the teacher's mapping (even at weight 0.1: 1.76x at 600 steps), and it costs a D step.
# (the numbers are in engine/distill/choices.py)


@dataclass(frozen=True)
class StudentSettings:
    lr: float = DEFAULT_LR
    betas: tuple[float, float] = (0.5, 0.999)
    batch_size: int = 64
    seed: int = 0
    ema: float = 0.0
    amp: bool = True
    adversarial: float = DEFAULT_ADVERSARIAL  # the GAN term's weight in G's loss; 0: distillation alone, no D step
    schedule: str = DEFAULT_SCHEDULE  # "cosine": the learning rate decays to 0 over the run (set_progress says where)
    r1: float = 0.0  # R1 penalty on D's real images (a co-pruned D)

    def train_config(self) -> TrainConfig:
        return TrainConfig(lr=self.lr, betas=self.betas, batch_size=self.batch_size)


def hidden_layer_names(student: nn.Module, teacher: nn.Module) -> list[str]:
    """The student's hidden weight layers that the teacher has under the same name (every block of the G)."""
    teacher_names = dict(teacher.named_modules())
    return [n for n, _ in prunable_layers(student, structural=True) if n in teacher_names]


class Finetuner:
    """One step = one D step + one G step (adversarial + the distillation terms that are on)."""

    def __init__(self, G: nn.Module, D: nn.Module, teacher: nn.Module | None, images: torch.Tensor,
                 settings: StudentSettings, weights: DistillWeights, loss: str, device: torch.device,
                 perceptual_net: nn.Module | None = None, step: int = 0, keep_zeros: bool = False,
                 labels: torch.Tensor | None = None) -> None:
        """labels: each image's class, used only when G is conditional (fakes are drawn for the real batch's
        classes, and the teacher is asked for the same classes as the student)."""
        self.G, self.D = G.to(device), D.to(device)
        self.settings, self.loss, self.device, self.step = settings, loss, device, step
        self.teacher = frozen_copy(teacher).to(device) if teacher is not None and weights.any else None
        if self.teacher is None:
            weights = DistillWeights(0.0, 0.0, 0.0, weights.output_loss)
        if not supports_perceptual(perceptual_net):
            weights = DistillWeights(weights.output, weights.features, 0.0, weights.output_loss)
        self.weights = weights
        self.taps: list[FeatureTap] = []
        self.adapters = None
        if weights.features > 0:
            names = hidden_layer_names(G, self.teacher)
            ws = layer_widths(G, names, G.latent_dim)
            wt = layer_widths(self.teacher, names, G.latent_dim)
            self.adapters = FeatureAdapters({n: (ws[n], wt[n]) for n in names}).to(device)
            self.taps = [FeatureTap(G, names), FeatureTap(self.teacher, names)]
        self.perceptual = PerceptualLoss(perceptual_net).to(device) if weights.perceptual > 0 else None
        tc = settings.train_config()
        adapter_params = list(self.adapters.parameters()) if self.adapters is not None else []
        self.optG = make_optimizer(list(G.parameters()) + adapter_params, tc)
        self.optD = make_optimizer(D.parameters(), tc)
        # Across processes rank 0 alone keeps the EMA, a copy taken before BatchNorm goes global (engine.distributed).
        self.ctx = current()
        self.ema = frozen_copy(G) if settings.ema > 0 and self.ctx.is_main else None
        replicas = replicate(G, D, self.ctx, device)
        # Weight pruning saved plain zeros; without masks the optimizer would grow them back in a few steps.
        # Without a teacher the GAN term is all there is: it keeps its full weight whatever was asked.
        adversarial = settings.adversarial if self.teacher is not None else 1.0
        self.masks_g = zero_masks(G) if keep_zeros else []
        self.gan = GanStep(G, D, self.optG, self.optD, loss, device, amp=settings.amp, masks_g=self.masks_g,
                           masks_d=zero_masks(D) if keep_zeros else None, r1=settings.r1,
                           adversarial=adversarial, replicas=replicas, shared_params=adapter_params)
        self.pure = adversarial <= 0
        self.images = images
        self.labels = labels if num_classes(G) else None
        self.sampler = BatchSampler(len(images), settings.batch_size, settings.seed + 1)
        self.noise = torch.Generator().manual_seed(settings.seed + 1)

    def close(self) -> None:
        for tap in self.taps:
            tap.close()

    def distill_terms(self, fake: torch.Tensor, z: torch.Tensor,
                      labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The weighted terms that are on, by metric name; a term that is off is absent."""
        w = self.weights
        with torch.no_grad():
            target = self.teacher(z) if labels is None else self.teacher(z, labels)
        terms = {}
        if w.output > 0:
            terms["distill_output"] = w.output * output_loss(fake, target, w.output_loss)
        if self.adapters is not None:
            student_maps, teacher_maps = self.taps[0].out, self.taps[1].out
            terms["distill_features"] = w.features * feature_loss(self.adapters, student_maps, teacher_maps)
        if self.perceptual is not None:
            terms["distill_perceptual"] = w.perceptual * self.perceptual(fake, target)
        return terms

    def set_progress(self, fraction: float) -> None:
        """Where the run is (0 → 1, by steps or by the clock): the cosine schedule sets the learning rate from it."""
        if self.settings.schedule != "cosine":
            return
        lr = self.settings.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, max(0.0, fraction))))
        for opt in (self.optG, self.optD):
            for group in opt.param_groups:
                group["lr"] = lr

    def _distill_step(self) -> dict[str, float]:
        """G against the teacher alone: no D, no real images (about half the work of a GAN step). A conditional G
        draws its labels from the data's, batch by batch, so the classes come in the data's proportions."""
        self.G.train()
        # Across processes each takes its share of the global batch's latents (and labels); G runs through DDP.
        z = self.ctx.shard(torch.randn(self.settings.batch_size, self.G.latent_dim, generator=self.noise))
        z, generate = z.to(self.device), self.gan.generate
        if self.labels is None:
            terms = self.distill_terms(generate(z), z)
        else:
            idx = self.sampler.indices(self.step)
            labels = self.labels[self.ctx.shard(idx)].to(self.device)
            z = z[:labels.shape[0]]
            terms = self.distill_terms(generate(z, labels), z, labels)
        loss = sum(terms.values())
        if not all_finite(loss):
            raise TrainingDiverged(f"Fine-tuning diverged at step {self.step + 1} (distillation loss "
                                   f"{loss.item():.3g}); lower the learning rate (now {self.settings.lr}).")
        self.optG.zero_grad(set_to_none=True)
        loss.backward()
        if self.gan.replicas is not None:
            self.gan.replicas.average_gradients(self.gan.shared_params)
        self.optG.step()
        apply_masks(self.masks_g)
        values = {"loss_g": loss.item(), "distill": loss.item()}
        values.update({k: v.item() for k, v in terms.items()})
        return values

    def train_step(self) -> dict[str, float]:
        if self.pure:
            values = self._distill_step()
            if self.ema is not None:
                update_ema(self.ema, self.G, self.settings.ema)
            self.step += 1
            return values
        self.G.train(), self.D.train()
        idx = self.sampler.indices(self.step)  # the global batch; each process takes its share of rows and latents
        real = to_float(self.images[self.ctx.shard(idx)]).to(self.device)
        z = self.ctx.shard(torch.randn(len(idx), self.G.latent_dim, generator=self.noise)).to(self.device)
        labels = None if self.labels is None else self.labels[self.ctx.shard(idx)].to(self.device)
        out = self.gan(real, z, self.distill_terms if self.teacher is not None else None, labels=labels)
        if not all_finite(out.loss_d, out.loss_g):
            raise TrainingDiverged(f"Fine-tuning diverged at step {self.step + 1} (loss D={out.loss_d.item():.3g}, "
                                   f"G={out.loss_g.item():.3g}); lower the learning rate (now {self.settings.lr}).")
        if self.ema is not None:
            update_ema(self.ema, self.G, self.settings.ema)
        self.step += 1
        values = {"loss_g": out.loss_g.item(), "loss_d": out.loss_d.item(), "adv": out.adv.item(),
                  "distill": float(sum(v.item() for v in out.terms.values()))}
        values.update({k: v.item() for k, v in out.terms.items()})
        return values

    def resume_state(self) -> dict:
        """What a resumed run needs beyond G and D: the adapters (never part of the model) and the noise RNG."""
        return {"adapters": {k: v.detach().cpu().clone() for k, v in self.adapters.state_dict().items()}
                if self.adapters is not None else None, "rng": {"noise": self.noise.get_state()}}

    def load_resume_state(self, ckpt: dict) -> None:
        if self.adapters is not None and ckpt.get("adapters"):
            self.adapters.load_state_dict(ckpt["adapters"])
        self.noise.set_state(ckpt["rng"]["noise"])
