"""One CycleGAN step (Zhu et al. 2017): two generators (A → B, B → A) and two image-only PatchGANs, least-squares
adversarial losses, cycle consistency λ·(|G_BA(G_AB(a)) − a| + |G_AB(G_BA(b)) − b|) and identity
λ·w·(|G_AB(b) − b| + |G_BA(a) − a|), and each D trained on a pool of 50 earlier fakes (Shrivastava et al.).

Several processes (engine.distributed): each takes its share of the batch and the gradients of both generators
and both discriminators are averaged before each update (instance norm needs no global statistics; the PatchGANs'
BatchNorm is synchronised by the caller), so the update equals one process's on the whole batch.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.distributed.replicas import Replicas

POOL_SIZE = 50


class ImagePool:
    """The last POOL_SIZE fakes: each new fake is shown to D as is, or (half the time, once the pool is full)
    swapped for a stored one, which D then sees instead (the reference's image buffer)."""

    def __init__(self, gen: torch.Generator, size: int = POOL_SIZE) -> None:
        self.gen, self.size, self.images = gen, size, None

    def __call__(self, fakes: torch.Tensor) -> torch.Tensor:
        fakes = fakes.detach()
        out = []
        for image in fakes:
            image = image.unsqueeze(0)
            if self.images is None or len(self.images) < self.size:
                self.images = image.clone() if self.images is None else torch.cat([self.images, image])
                out.append(image)
            elif torch.rand((), generator=self.gen).item() < 0.5:
                i = int(torch.randint(self.size, (), generator=self.gen))
                out.append(self.images[i:i + 1].clone())
                self.images[i] = image[0]
            else:
                out.append(image)
        return torch.cat(out)

    def state(self) -> torch.Tensor:
        return (self.images if self.images is not None else torch.zeros(0)).detach().cpu()

    def load(self, images: torch.Tensor, device) -> None:
        self.images = images.to(device) if images.numel() else None


def ls_loss(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """The least-squares GAN loss (Mao et al.) on raw patch scores, as CycleGAN's reference uses (--loss lsgan)."""
    return (logits - (1.0 if real else 0.0)).pow(2).mean()


class CycleStep:
    def __init__(self, nets: dict[str, nn.Module], optG: torch.optim.Optimizer, optD: torch.optim.Optimizer,
                 cycle: float, identity: float, pool_gen: torch.Generator, distributed: bool = False) -> None:
        self.nets, self.optG, self.optD = nets, optG, optD  # nets: g_ab, g_ba, d_a, d_b
        self.cycle, self.identity = cycle, identity
        self.pools = {"a": ImagePool(pool_gen), "b": ImagePool(pool_gen)}
        self.replicas = Replicas(None, None, distributed=distributed)  # type: ignore[arg-type]

    def _params(self, *names: str) -> list[nn.Parameter]:
        return [p for n in names for p in self.nets[n].parameters()]

    def __call__(self, a: torch.Tensor, b: torch.Tensor) -> dict[str, float]:
        g_ab, g_ba, d_a, d_b = (self.nets[k] for k in ("g_ab", "g_ba", "d_a", "d_b"))
        fake_b, fake_a = g_ab(a), g_ba(b)
        d_a.requires_grad_(False)
        d_b.requires_grad_(False)
        try:  # the generators' update: fool both Ds, come back round, leave an image of the target style alone
            adv = ls_loss(d_b.judge_images(fake_b), True) + ls_loss(d_a.judge_images(fake_a), True)
            cyc = F.l1_loss(g_ba(fake_b), a) + F.l1_loss(g_ab(fake_a), b)
            idt = (F.l1_loss(g_ab(b), b) + F.l1_loss(g_ba(a), a)) if self.identity > 0 else torch.zeros(())
            loss_g = adv + self.cycle * cyc + self.cycle * self.identity * idt
            self.optG.zero_grad(set_to_none=True)
            loss_g.backward()
            self.replicas.average_gradients(self._params("g_ab", "g_ba"))
            self.optG.step()
        finally:
            d_a.requires_grad_(True)
            d_b.requires_grad_(True)
        # each D: real images of its set against pooled fakes, halved as in the reference (D learns slower than G)
        shown_a, shown_b = self.pools["a"](fake_a), self.pools["b"](fake_b)
        real_b, fake_b_logits = d_b.judge_images(b), d_b.judge_images(shown_b)
        real_a, fake_a_logits = d_a.judge_images(a), d_a.judge_images(shown_a)
        loss_d_b = 0.5 * (ls_loss(real_b, True) + ls_loss(fake_b_logits, False))
        loss_d_a = 0.5 * (ls_loss(real_a, True) + ls_loss(fake_a_logits, False))
        self.optD.zero_grad(set_to_none=True)
        (loss_d_a + loss_d_b).backward()
        self.replicas.average_gradients(self._params("d_a", "d_b"))
        self.optD.step()
        return {"loss_g": loss_g.item(), "adv": adv.item(), "cycle": cyc.item(), "identity": idt.item(),
                "loss_d": (loss_d_a + loss_d_b).item(), "d_real": real_b.mean().item(),
                "d_fake": fake_b_logits.mean().item()}
