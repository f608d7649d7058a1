"""The one adversarial step that training and fine-tuning share: D on real vs fake, then G through a frozen D.

Mixed precision on a GPU (autocast + a GradScaler for float16), the frozen-D trick (the G step needs gradients
through D, not of D's weights: ~15% less work), optional masks that keep weight-pruning zeros at zero, and extra
generator terms (distillation) added inside the same autocast region. `BatchSampler` gives both loops their batches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.devices import amp_dtype

Masks = list[tuple[torch.Tensor, torch.Tensor]]
# extra(fake, z) → weighted generator terms; a conditional model's extra also takes the labels: extra(fake, z, labels)
ExtraLoss = Callable[..., dict[str, torch.Tensor]]


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "hinge":
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    if kind == "lsgan":  # least squares on the raw scores: real → 1, fake → 0 (CycleGAN's choice)
        return (real_logits - 1).pow(2).mean() + fake_logits.pow(2).mean()
    # -[log D(x) + log(1 - D(G(z)))] with D = sigmoid(logits): softplus keeps it finite where log(sigmoid) is not.
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def d_logits(D: nn.Module, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """D's logits, given the class labels when the model is conditional (labels is None otherwise)."""
    return D.logits(x) if labels is None else D.logits(x, labels)


def g_images(G: nn.Module, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    return G(z) if labels is None else G(z, labels)


def r1_penalty(D: nn.Module, real: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared norm of D's logit gradient at real images (Mescheder et al. 2018): keeps D smooth on the data,
    so it cannot saturate to D(x) = 1 and starve G of gradient. Adds no parameter, so pruning sees the same D."""
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(d_logits(D, real, labels).sum(), real, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


R1_EVERY = 4  # lazy R1 (StyleGAN2): the penalty on every 4th step, scaled up to match, costs a quarter


def generator_loss(fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "hinge":
        return -fake_logits.mean()
    if kind == "lsgan":
        return (fake_logits - 1).pow(2).mean()
    return F.softplus(-fake_logits).mean()  # -log D(G(z)), the non-saturating loss


def all_finite(*values: torch.Tensor) -> bool:
    return all(bool(torch.isfinite(v).all()) for v in values)


def zero_masks(model: nn.Module) -> Masks:
    """(weight, mask of its nonzeros) for every weight matrix/kernel that has zeros."""
    return [(p, (p != 0).to(p.dtype)) for p in model.parameters() if p.dim() > 1 and bool((p == 0).any())]


@torch.no_grad()
def apply_masks(masks: Masks) -> None:
    for p, mask in masks:
        p.mul_(mask)


@dataclass
class StepResult:
    loss_d: torch.Tensor
    adv: torch.Tensor  # G's adversarial loss
    loss_g: torch.Tensor  # adv + every extra term
    d_real: torch.Tensor  # logits, detached
    d_fake: torch.Tensor
    terms: dict[str, torch.Tensor] = field(default_factory=dict)  # the extra terms, weighted, detached


class GanStep:
    """One D step and one G step over the given optimizers; `extra(fake, z)` adds weighted generator terms.

    `labels` (conditional models): each real image's class; the fakes are drawn for the same classes, so D sees
    real and fake images of one class mix and the projection term learns each class's look."""

    def __init__(self, G: nn.Module, D: nn.Module, optG: torch.optim.Optimizer, optD: torch.optim.Optimizer,
                 loss: str, device: torch.device, amp: bool = True, masks_g: Masks | None = None,
                 masks_d: Masks | None = None, r1: float = 0.0, adversarial: float = 1.0, replicas=None,
                 shared_params=()) -> None:
        self.G, self.D, self.optG, self.optD, self.loss = G, D, optG, optD, loss
        # Across processes (engine.distributed.replicas): G and D's D-step calls go through DDP wrappers, and
        # G-side parameters outside G (distillation adapters) get their gradients averaged by hand.
        self.replicas, self.shared_params = replicas, list(shared_params)
        self.generate = replicas.generate if replicas is not None else G
        self.judge = replicas.judge if replicas is not None else D.logits
        self.adversarial = adversarial  # weight of G's adversarial loss (distillation may weigh it down)
        self.r1, self.steps = r1, 0
        self.amp_dtype = amp_dtype(device, amp)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.device_type = device.type
        self.masks_g, self.masks_d = masks_g or [], masks_d or []

    def _autocast(self):
        return torch.autocast(self.device_type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None)

    def __call__(self, real: torch.Tensor, z: torch.Tensor, extra: ExtraLoss | None = None,
                 labels: torch.Tensor | None = None) -> StepResult:
        D, scaler = self.D, self.scaler
        cond = () if labels is None else (labels,)
        with self._autocast():
            fake = self.generate(z, *cond)
            d_real, d_fake = self.judge(real, *cond), self.judge(fake.detach(), *cond)
            loss_d = discriminator_loss(d_real.float(), d_fake.float(), self.loss)
            if self.r1 > 0 and self.steps % R1_EVERY == 0:
                loss_d = loss_d + self.r1 / 2 * R1_EVERY * r1_penalty(D, real, labels)
        self.steps += 1
        self.optD.zero_grad(set_to_none=True)
        scaler.scale(loss_d).backward()
        scaler.step(self.optD)
        scaler.update()
        apply_masks(self.masks_d)

        D.requires_grad_(False)
        try:
            with self._autocast():
                adv = generator_loss(d_logits(D, fake, labels).float(), self.loss)
                terms = {} if extra is None else extra(fake, z) if labels is None else extra(fake, z, labels)
                weighted = adv * self.adversarial if self.adversarial != 1.0 else adv
                loss_g = weighted + sum(terms.values()) if terms else weighted
            self.optG.zero_grad(set_to_none=True)
            scaler.scale(loss_g).backward()
            if self.replicas is not None:
                self.replicas.average_gradients(self.shared_params)
            scaler.step(self.optG)
            scaler.update()
        finally:
            D.requires_grad_(True)
        apply_masks(self.masks_g)
        return StepResult(loss_d.detach(), adv.detach(), loss_g.detach(), d_real.detach(), d_fake.detach(),
                          {k: v.detach() for k, v in terms.items()})


class BatchSampler:
    """Batches by slicing a per-epoch permutation of the in-memory data; the order depends only on (seed, step)."""

    def __init__(self, n: int, batch_size: int, seed: int) -> None:
        self.n, self.batch_size, self.seed = n, min(batch_size, n), seed
        self.per_epoch = max(1, n // self.batch_size)  # drop the ragged tail: every batch has the same size
        self._epoch, self._perm = -1, None

    def indices(self, step: int) -> torch.Tensor:
        epoch, i = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm, self._epoch = torch.randperm(self.n, generator=g), epoch
        return self._perm[i * self.batch_size:(i + 1) * self.batch_size]


# ---- the stage --------------------------------------------------------------------------------------------------
