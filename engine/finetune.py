"""Fine-tuning a pruned GAN: the adversarial loss with the (possibly pruned) D, plus distillation from the frozen
dense teacher on the same latents (pixel L1 and channel-mean feature matching).

Optimizers and the EMA are built fresh from the pruned modules: the trained ones point at tensors that structural
pruning removed (the stale-optimizer bug). `Finetuner` is one readable step; the pruning schedules reuse it
between rounds.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.config import DataConfig, TrainConfig, load_pipeline_config
from engine.data import ImageData, load_dataset, to_float
from engine.errors import ConfigError, TrainingDiverged, WorkspaceError
from engine.events import Artifact, CancelToken, EtaMeter, Event, Log, Metrics, Progress, Samples
from engine.images import save_png
from engine.models import discriminator_from_checkpoint, generator_from_checkpoint
from engine.prune.layers import prunable_layers
from engine.train import (
    BatchSampler,
    all_finite,
    apply_hyperparameters,
    discriminator_loss,
    fixed_latents,
    generator_loss,
    make_optimizer,
    pick_device,
    sample_grid,
    update_ema,
)
from engine.workspace import Workspace

CHECKPOINT = "finetuned"
GRID_SIZE = 64


@dataclass(frozen=True)
class FinetuneConfig:
    steps: int = 500
    distill: float = 1.0  # weight of the pixel L1 to the teacher's image; 0 turns distillation off
    feature_distill: float = 1.0  # weight of the channel-mean feature matching; used only when distill > 0
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    batch_size: int = 64
    loss: str | None = None  # None: the loss the model was trained with
    device: str = "auto"
    ema: float = 0.0
    sample_every: int = 100
    checkpoint_every: int = 250
    seed: int = 0
    resume: bool = False

    def validate(self) -> None:
        TrainConfig(steps=self.steps, batch_size=self.batch_size, lr=self.lr, device=self.device, ema=self.ema,
                    loss=self.loss or "bce", sample_every=self.sample_every,
                    checkpoint_every=self.checkpoint_every).validate()
        for name, v in (("distill", self.distill), ("feature_distill", self.feature_distill)):
            if not isinstance(v, (int, float)) or v < 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be 0 or more (got {v!r}); 0 turns it off.")

    def train_config(self) -> TrainConfig:
        return TrainConfig(lr=self.lr, betas=self.betas, batch_size=self.batch_size, device=self.device)


class FeatureTap:
    """Records the outputs of G's hidden prunable layers by name (the same names in student and teacher)."""

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


def channel_mean_loss(student: dict[str, torch.Tensor], teacher: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean over channels makes maps of different widths comparable without adapters (a spatial attention map)."""
    losses = [F.l1_loss(s.mean(1), teacher[n].mean(1)) for n, s in student.items() if n in teacher]
    return torch.stack(losses).mean() if losses else torch.zeros(())


def _zero_masks(model: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(weight, mask of its nonzeros) for every weight matrix/kernel that has zeros."""
    out = []
    for p in model.parameters():
        if p.dim() > 1 and bool((p == 0).any()):
            out.append((p, (p != 0).to(p.dtype)))
    return out


@torch.no_grad()
def _apply_masks(masks: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
    for p, mask in masks:
        p.mul_(mask)


class Finetuner:
    """One fine-tuning step at a time over in-memory images; fresh optimizers over the modules as they are now."""

    def __init__(self, G: nn.Module, D: nn.Module, teacher: nn.Module | None, images: torch.Tensor,
                 cfg: FinetuneConfig, loss: str, device: torch.device, step: int = 0, keep_zeros: bool = False) -> None:
        self.G, self.D = G.to(device), D.to(device)
        # Weight pruning saved plain zeros; without masks the optimizer would grow them back in a few steps.
        self.masks_g = _zero_masks(G) if keep_zeros else []
        self.masks_d = _zero_masks(D) if keep_zeros else []
        self.cfg, self.loss, self.device, self.step = cfg, loss, device, step
        self.teacher = teacher.to(device).eval() if teacher is not None and cfg.distill > 0 else None
        if self.teacher is not None:
            for p in self.teacher.parameters():
                p.requires_grad_(False)
        tc = cfg.train_config()
        self.optG, self.optD = make_optimizer(G.parameters(), tc), make_optimizer(D.parameters(), tc)
        self.ema = None
        if cfg.ema > 0:
            self.ema = copy.deepcopy(G).eval()
            for p in self.ema.parameters():
                p.requires_grad_(False)
        self.images = images
        self.sampler = BatchSampler(len(images), cfg.batch_size, cfg.seed + 1)
        self.noise = torch.Generator().manual_seed(cfg.seed + 1)
        names = [n for n, _ in prunable_layers(G, structural=True)]
        use_feat = self.teacher is not None and cfg.feature_distill > 0
        self.tap_s = FeatureTap(G, names) if use_feat else None
        self.tap_t = FeatureTap(self.teacher, [n for n in names if n in dict(self.teacher.named_modules())]) \
            if use_feat else None

    def close(self) -> None:
        for tap in (self.tap_s, self.tap_t):
            if tap is not None:
                tap.close()

    def train_step(self) -> dict[str, float]:
        G, D, cfg = self.G.train(), self.D.train(), self.cfg
        real = to_float(self.images[self.sampler.indices(self.step)]).to(self.device)
        z = torch.randn(real.shape[0], G.latent_dim, generator=self.noise).to(self.device)
        fake = G(z)
        loss_d = discriminator_loss(D.logits(real), D.logits(fake.detach()), self.loss)
        self.optD.zero_grad(set_to_none=True)
        loss_d.backward()
        self.optD.step()
        _apply_masks(self.masks_d)

        adv = generator_loss(D.logits(fake), self.loss)
        pixel = feat = torch.zeros((), device=self.device)
        if self.teacher is not None:
            with torch.no_grad():
                target = self.teacher(z)
            pixel = F.l1_loss(fake, target)
            if self.tap_s is not None:
                feat = channel_mean_loss(self.tap_s.out, self.tap_t.out)
        loss_g = adv + cfg.distill * pixel + (cfg.distill and cfg.feature_distill) * feat
        self.optG.zero_grad(set_to_none=True)
        loss_g.backward()
        self.optG.step()
        _apply_masks(self.masks_g)
        if not all_finite(loss_d, loss_g):
            raise TrainingDiverged(f"Fine-tuning diverged at step {self.step + 1} (loss D={loss_d.item():.3g}, "
                                   f"G={loss_g.item():.3g}); lower the learning rate (now {cfg.lr}).")
        if self.ema is not None:
            update_ema(self.ema, G, cfg.ema)
        self.step += 1
        return {"loss_g": loss_g.item(), "loss_d": loss_d.item(), "adv": adv.item(),
                "distill": pixel.item(), "feature_distill": feat.item()}


def workspace_images(ws: Workspace, ckpt: dict) -> ImageData:
    """The data set the model was trained on: from config.toml when there is one, else the checkpoint's note."""
    shape = list(ckpt.get("data", {}).get("image_shape") or ckpt["arch"]["generator"]["image_shape"])
    if ws.config_path.exists():
        data_cfg = load_pipeline_config(ws.config_path).data
    else:
        name = ckpt.get("data", {}).get("dataset") or "mnist-5k"
        data_cfg = DataConfig(dataset=name, image_size=shape[1], color="gray" if shape[0] == 1 else "rgb")
    data = load_dataset(data_cfg)
    if list(data.image_shape) != shape:
        raise WorkspaceError(f"The data set {data_cfg.dataset} gives {list(data.image_shape)} images but the model "
                             f"makes {shape}; fix config.toml in {ws.root}.")
    return data


def load_teacher(ws: Workspace) -> tuple[dict, nn.Module]:
    entry = ws.stage("train") or {}
    path = ws.abs(entry["checkpoint"]) if entry.get("checkpoint") else ws.checkpoint_path("dense")
    if not path.exists():
        raise WorkspaceError(f"No trained model in {ws.root} (checkpoints/dense.pt is missing); run 'gan-prune "
                             "train' first.")
    ckpt = ws.load_checkpoint(path)
    return ckpt, generator_from_checkpoint(ckpt)


def run_finetune(cfg: FinetuneConfig, ws: Workspace, cancel: CancelToken) -> Iterator[Event]:
    cfg.validate()
    device, note = pick_device(cfg.device)
    if note:
        yield Log("info", note)
    pruned_path = ws.checkpoint_path("pruned")
    if not pruned_path.exists():
        raise WorkspaceError(f"No pruned model in {ws.root} (checkpoints/pruned.pt is missing); run 'gan-prune "
                             "prune' first.")
    pruned = ws.load_checkpoint(pruned_path)
    dense, teacher = load_teacher(ws)
    resume = None
    if cfg.resume and ws.checkpoint_path(CHECKPOINT).exists():
        resume = ws.load_checkpoint(CHECKPOINT)
        if "optim" not in resume:
            raise WorkspaceError(f"{ws.checkpoint_path(CHECKPOINT)} has no optimizer state; fine-tune without "
                                 "--resume.")
        if resume.get("pruning") != pruned.get("pruning") or not (ws.stage("finetune") or {}).get("checkpoint"):
            raise WorkspaceError(f"{ws.checkpoint_path(CHECKPOINT)} was fine-tuned from an earlier pruning; "
                                 "fine-tune without --resume.")
    src = resume or pruned
    G, D = generator_from_checkpoint(src, use_ema=False), discriminator_from_checkpoint(src)
    loss = cfg.loss or pruned.get("loss") or dense.get("loss") or "bce"
    data = workspace_images(ws, pruned)
    torch.manual_seed(cfg.seed)
    weight_pruned = str((pruned.get("pruning") or {}).get("method", "")).endswith("-unstructured")
    tuner = Finetuner(G, D, teacher, data.images, cfg, loss, device, step=int(resume["step"]) if resume else 0,
                      keep_zeros=weight_pruned)
    if resume is not None:
        tuner.optG.load_state_dict(resume["optim"]["g"])
        tuner.optD.load_state_dict(resume["optim"]["d"])
        apply_hyperparameters(tuner.optG, cfg.train_config())
        apply_hyperparameters(tuner.optD, cfg.train_config())
        tuner.noise.set_state(resume["rng"]["noise"])
        if tuner.ema is not None and resume.get("ema"):
            tuner.ema.load_state_dict(resume["ema"])
        yield Log("info", f"Resuming fine-tuning from step {tuner.step}.")
    z_fixed = fixed_latents(GRID_SIZE, G.latent_dim, cfg.seed).to(device)
    yield Samples("finetune", tuner.step, sample_grid(teacher.to(device), z_fixed), label="teacher")
    ws.update_stage("finetune", status="running", total_steps=cfg.steps, step=tuner.step, distill=cfg.distill)

    def checkpoint() -> str:
        state = lambda m: {k: v.detach().cpu().clone() for k, v in m.state_dict().items()}  # noqa: E731
        payload = {"arch": {"generator": G.spec(), "discriminator": D.spec()}, "generator": state(G),
                   "discriminator": state(D), "ema": state(tuner.ema) if tuner.ema is not None else None,
                   "optim": {"g": tuner.optG.state_dict(), "d": tuner.optD.state_dict()},
                   "rng": {"noise": tuner.noise.get_state()}, "step": tuner.step, "data": pruned.get("data", {}),
                   "seed": cfg.seed, "loss": loss, "pruning": pruned.get("pruning"),
                   "finetune": {"distill": cfg.distill, "feature_distill": cfg.feature_distill}}
        # ONNX files of the model before this fine-tuning go out of date before finetuned.pt changes, so a kill in
        # between never leaves them offered next to the newer model.
        ws.mark_stale("export")
        path = ws.save_checkpoint(CHECKPOINT, payload)
        ws.update_stage("finetune", checkpoint=ws.rel(path), step=tuner.step)
        return ws.rel(path)

    meter = EtaMeter(cfg.steps, start_step=tuner.step)
    status = "done"
    try:
        while tuner.step < cfg.steps:
            if cancel.cancelled:
                status = "cancelled"
                break
            t0 = time.perf_counter()
            values = tuner.train_step()
            values["samples_per_s"] = cfg.batch_size / max(1e-9, time.perf_counter() - t0)
            rate, eta = meter.update(tuner.step)
            yield Metrics("finetune", tuner.step, values)
            yield Progress("finetune", tuner.step, cfg.steps, rate=rate, eta_s=eta)
            if tuner.step % cfg.sample_every == 0 or tuner.step == cfg.steps:
                yield Samples("finetune", tuner.step, sample_grid(tuner.ema or G, z_fixed), label="student")
            if tuner.step % cfg.checkpoint_every == 0 and tuner.step < cfg.steps:
                yield Artifact("finetune", "checkpoint", checkpoint(), {"step": tuner.step})
    except Exception as e:
        ws.update_stage("finetune", status="failed", error=str(e)[:300])
        raise
    finally:
        tuner.close()
    path = checkpoint()
    yield Artifact("finetune", "checkpoint", path, {"step": tuner.step})
    grid = sample_grid(tuner.ema or G, z_fixed)
    save_png(ws.samples_dir / "finetune.png", grid)
    yield Samples("finetune", tuner.step, grid, label="student")
    yield Artifact("finetune", "samples", ws.rel(ws.samples_dir / "finetune.png"))
    ws.update_stage("finetune", status=status, step=tuner.step)
    if status == "cancelled":
        yield Log("warning", f"Fine-tuning cancelled at step {tuner.step}; {path} is saved, resume with --resume.")
    else:
        yield Log("info", f"Fine-tuning finished at step {tuner.step}; checkpoint {path}.")
