"""One pix2pix step: the PatchGAN learns real (input, target) from (input, G(input)); G learns to fool it plus
λ·L1 to the target (Isola et al. 2017), plus any extra terms (distillation when fine-tuning a pruned student).

Across processes (engine.distributed.replicas) G and the D step's two calls of D go through DDP wrappers, so their
gradients are averaged; the G step calls the plain D with its weights frozen, as the noise GAN step does."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.gan_step import Masks, apply_masks, discriminator_loss, generator_loss
from engine.models.unet import make_pair

Extra = Callable[[torch.Tensor, torch.Tensor], dict[str, torch.Tensor]]


class Pix2PixStep:
    def __init__(self, G: nn.Module, D: nn.Module, optG: torch.optim.Optimizer, optD: torch.optim.Optimizer,
                 loss: str, l1: float, masks_g: Masks | None = None, masks_d: Masks | None = None,
                 adversarial: float = 1.0, replicas=None, shared_params=()) -> None:
        self.G, self.D, self.optG, self.optD, self.loss, self.l1 = G, D, optG, optD, loss, l1
        self.masks_g, self.masks_d = masks_g or [], masks_d or []
        self.adversarial = adversarial  # 0: no D step and no GAN term (L1 and distillation alone)
        self.replicas, self.shared_params = replicas, list(shared_params)  # shared: G-side, outside G (adapters)
        self.generate = replicas.generate if replicas is not None else G
        self.judge = replicas.judge if replicas is not None else D.logits

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor, extra: Extra | None = None) -> dict[str, float]:
        D = self.D
        fake = self.generate(inputs)
        if self.adversarial == 0:
            return self._regression_step(inputs, targets, fake, extra)
        d_real = self.judge(make_pair(inputs, targets))
        d_fake = self.judge(make_pair(inputs, fake.detach()))
        loss_d = discriminator_loss(d_real, d_fake, self.loss)
        self.optD.zero_grad(set_to_none=True)
        loss_d.backward()
        self.optD.step()
        apply_masks(self.masks_d)

        D.requires_grad_(False)  # G needs gradients through D, not of D's weights
        try:
            adv = generator_loss(D.logits(make_pair(inputs, fake)), self.loss)
            l1, terms = self._truth(fake, targets), extra(inputs, fake) if extra is not None else {}
            loss_g = self.adversarial * adv + self.l1 * l1 + sum(terms.values(), torch.zeros((), device=fake.device))
            self._g_update(loss_g)
        finally:
            D.requires_grad_(True)
        apply_masks(self.masks_g)
        values = {"loss_d": loss_d.item(), "loss_g": loss_g.item(), "adv": adv.item(),
                  "d_real": torch.sigmoid(d_real).mean().item(), "d_fake": torch.sigmoid(d_fake).mean().item()}
        if self.l1:
            values["l1"] = l1.item()
        values.update({k: v.item() for k, v in terms.items()})
        return values

    def _regression_step(self, inputs: torch.Tensor, targets: torch.Tensor, fake: torch.Tensor,
                         extra: Extra | None) -> dict[str, float]:
        l1, terms = self._truth(fake, targets), extra(inputs, fake) if extra is not None else {}
        loss_g = self.l1 * l1 + sum(terms.values(), torch.zeros((), device=fake.device))
        self._g_update(loss_g)
        apply_masks(self.masks_g)
        return {"loss_g": loss_g.item(), **({"l1": l1.item()} if self.l1 else {}),
                **{k: v.item() for k, v in terms.items()}}

    def _truth(self, fake: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """L1 to the ground truth; nothing to compute with λ = 0 (the unpaired task has no ground truth: the B
        images beside its inputs are any real B, seen only by D)."""
        return F.l1_loss(fake, targets) if self.l1 else torch.zeros((), device=fake.device)

    def _g_update(self, loss_g: torch.Tensor) -> None:
        self.optG.zero_grad(set_to_none=True)
        loss_g.backward()
        if self.replicas is not None:  # G's own gradients were averaged by its DDP wrapper; adapters' are not
            self.replicas.average_gradients(self.shared_params)
        self.optG.step()
