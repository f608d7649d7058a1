"""The GAN training loop, written as a generator of events that reads top to bottom.

Data sit in memory as one uint8 tensor; each step slices a batch of a per-epoch permutation, so there are no
per-sample Python transforms. Every RNG that touches a step (batch order, latents, dropout) is seeded and saved
in the checkpoint, so a resumed CPU run equals an uninterrupted one.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.config import PipelineConfig, TrainConfig
from engine.data import load_dataset, to_float, to_uint8
from engine.errors import ConfigError, TrainingDiverged, WorkspaceError
from engine.events import Artifact, CancelToken, EtaMeter, Event, Log, Metrics, Progress, Samples
from engine.images import make_grid, save_png
from engine.models import build_pair, default_specs
from engine.workspace import Workspace

CHECKPOINT = "dense"
GRID_SIZE = 64
R1_EVERY = 4  # lazy R1 (StyleGAN2): the penalty on every 4th step costs a quarter, trains the same


# ---- pieces reused by fine-tuning -------------------------------------------------------------------------------
def pick_device(requested: str) -> tuple[torch.device, str | None]:
    """The torch device for 'auto' | 'cpu' | 'cuda', and a note when auto fell back to the CPU."""
    if requested == "cpu":
        return torch.device("cpu"), None
    has_cuda = torch.cuda.is_available()
    if requested == "cuda":
        if not has_cuda:
            raise ConfigError("--device cuda was asked for but no CUDA GPU is available; use --device cpu or auto.")
        return torch.device("cuda"), None
    if has_cuda:
        return torch.device("cuda"), None
    return torch.device("cpu"), "No CUDA GPU found; training on the CPU."


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"


def make_optimizer(params, cfg: TrainConfig, lr: float | None = None) -> torch.optim.Optimizer:
    lr = cfg.lr if lr is None else lr
    if cfg.optimizer == "sgd":  # the reference's choice
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum)
    return torch.optim.Adam(params, lr=lr, betas=tuple(cfg.betas))


def make_optimizers(G: nn.Module, D: nn.Module, cfg: TrainConfig) -> tuple[torch.optim.Optimizer, ...]:
    """Fresh optimizers over the CURRENT parameters (after structural pruning the old ones point at dead tensors)."""
    return make_optimizer(G.parameters(), cfg), make_optimizer(D.parameters(), cfg, getattr(cfg, "d_lr", cfg.lr))


def apply_hyperparameters(opt: torch.optim.Optimizer, cfg: TrainConfig, lr: float | None = None) -> None:
    for group in opt.param_groups:
        group["lr"] = cfg.lr if lr is None else lr
        if "betas" in group:
            group["betas"] = tuple(cfg.betas)
        if "momentum" in group:
            group["momentum"] = cfg.momentum


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "hinge":
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    # -[log D(x) + log(1 - D(G(z)))] with D = sigmoid(logits): softplus keeps it finite where log(sigmoid) is not.
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def r1_penalty(D: nn.Module, real: torch.Tensor) -> torch.Tensor:
    """Mean squared norm of D's logit gradient at real images (Mescheder et al. 2018): keeps D smooth on the data,
    so it cannot saturate to D(x) = 1 and starve G of gradient. Adds no parameter, so pruning sees the same D."""
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(D.logits(real).sum(), real, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


def generator_loss(fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "hinge":
        return -fake_logits.mean()
    return F.softplus(-fake_logits).mean()  # -log D(G(z)), the non-saturating loss


@torch.no_grad()
def sample_grid(G: nn.Module, z: torch.Tensor, nrow: int | None = None) -> np.ndarray:
    """uint8 H x W x C grid of G(z) in eval mode."""
    was_training = G.training
    G.eval()
    try:
        images = to_uint8(G(z)).cpu().numpy()
    finally:
        G.train(was_training)
    return make_grid(images, nrow=nrow)


def fixed_latents(n: int, latent_dim: int, seed: int) -> torch.Tensor:
    """The same latents every time for a seed: grids from different steps and models compare like for like."""
    return torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(10_007 + seed))


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float, step: int | None = None) -> None:
    """EMA of the weights. With `step`, the decay warms up as (1+t)/(10+t): otherwise the random initial weights
    linger (0.999**2000 = 13% of them after 2,000 steps) and the EMA samples look noisy."""
    if step is not None:
        decay = min(decay, (1 + step) / (10 + step))
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p.detach(), 1 - decay)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)  # a stand-in between recalibrations (see recalibrate_batchnorm)


@torch.no_grad()
def recalibrate_batchnorm(G: nn.Module, batches: int = 16, batch_size: int = 64, seed: int = 0) -> None:
    """Recompute G's BatchNorm running statistics for its current weights.

    EMA weights never ran forward in train mode, so the raw G's running stats do not fit them; in eval mode such a
    generator draws noisy digits (domain-FID 540 against 295 with batch statistics, measured). A cumulative average
    over a few seeded batches of latents gives the exact population statistics for these weights.
    """
    norms = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    was_training = G.training
    G.train()
    device = next(G.parameters()).device
    g = torch.Generator().manual_seed(seed)
    for _ in range(batches):
        G(torch.randn(batch_size, G.latent_dim, generator=g).to(device))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    G.train(was_training)


def all_finite(*values: torch.Tensor) -> bool:
    return all(bool(torch.isfinite(v).all()) for v in values)


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
def run_train(cfg: PipelineConfig, ws: Workspace, cancel: CancelToken) -> Iterator[Event]:
    """Train (or resume) the dense GAN of a workspace; see the module docstring."""
    try:
        yield from _run_train(cfg, ws, cancel)
    except Exception as e:  # the manifest must never keep saying "running" after a crash
        entry = ws.stage("train")
        if entry and entry.get("status") == "running":
            ws.update_stage("train", status="failed", error=str(e)[:300])
        raise


def _run_train(cfg: PipelineConfig, ws: Workspace, cancel: CancelToken) -> Iterator[Event]:
    cfg.validate()
    tc = cfg.train
    if tc.threads:
        torch.set_num_threads(tc.threads)
    # Everything that can refuse the input runs before the first event, so bad input prints one line only.
    device, note = pick_device(tc.device)
    data = load_dataset(cfg.data)
    image_shape = data.image_shape
    if len(data) < 2:
        raise ConfigError(f"The data set {cfg.data.dataset} has {len(data)} image(s); a GAN needs at least 2.")
    default_specs(cfg.model.arch, image_shape, cfg.model.latent_dim)  # refuses sizes the arch cannot make
    resume = _load_resume(ws, cfg) if tc.resume else None
    if resume is not None:
        arch = resume["arch"]
        if arch["generator"]["arch"] != cfg.model.arch:
            raise WorkspaceError(f"The checkpoint in {ws.root} is a '{arch['generator']['arch']}' model, not "
                                 f"'{cfg.model.arch}'; use --arch {arch['generator']['arch']} or a new workspace.")
        if list(arch["generator"]["image_shape"]) != list(image_shape):
            raise WorkspaceError(f"The checkpoint in {ws.root} was trained on {arch['generator']['image_shape']} "
                                 f"images but the data are {list(image_shape)}; use the same data set.")
    else:
        gspec, dspec = default_specs(cfg.model.arch, image_shape, cfg.model.latent_dim)
        arch = {"generator": gspec, "discriminator": dspec}

    if note:
        yield Log("warning", note)
    yield Log("info", f"Data set {data.name}: {len(data)} images of {'x'.join(map(str, image_shape))}.")
    for w in data.warnings:
        yield Log("warning", w)

    torch.manual_seed(tc.seed)  # weight init and dropout
    G, D = build_pair(arch)
    ema = None
    optG, optD = make_optimizers(G, D, tc)
    noise = torch.Generator().manual_seed(tc.seed)
    step = 0
    if resume is not None:
        G.load_state_dict(_float32(resume["generator"]))
        D.load_state_dict(_float32(resume["discriminator"]))
        step = int(resume["step"])
        same_optimizer = resume.get("optimizer", "adam") == tc.optimizer
        if resume.get("optim") and resume.get("rng") and same_optimizer:
            optG.load_state_dict(resume["optim"]["g"])
            optD.load_state_dict(resume["optim"]["d"])
            apply_hyperparameters(optG, tc)  # the loaded state carries the old lr/betas; this run's settings win
            apply_hyperparameters(optD, tc, tc.d_lr)
            noise.set_state(resume["rng"]["noise"])
            torch.set_rng_state(resume["rng"]["torch"])
            yield Log("info", f"Resuming from step {step}.")
        else:  # a pretrained model ships without optimizer state; another optimizer cannot reuse it
            why = "the checkpoint has no optimizer state" if same_optimizer else "the optimizer changed"
            yield Log("info", f"Continuing from step {step} with fresh optimizers ({why}).")
    G.to(device).train()
    D.to(device).train()
    _optimizer_to(optG, device)
    _optimizer_to(optD, device)
    if tc.ema > 0:
        ema = copy.deepcopy(G).eval()
        if resume is not None and resume.get("ema"):
            ema.load_state_dict(resume["ema"])
        for p in ema.parameters():
            p.requires_grad_(False)

    images = data.images.to(device) if device.type == "cuda" else data.images
    sampler = BatchSampler(len(data), tc.batch_size, tc.seed)
    z_fixed = fixed_latents(GRID_SIZE, G.latent_dim, tc.seed).to(device)
    amp_dtype = _amp_dtype(device, tc.amp)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    if amp_dtype is not None:
        yield Log("info", f"Mixed precision on {device_name(device)} ({str(amp_dtype).replace('torch.', '')}).")

    meta = {"dataset": data.name, "image_shape": list(image_shape), "classes": data.classes}
    ws.update_stage("train", status="running", total_steps=tc.steps, step=step, device=device_name(device),
                    dataset=data.name, arch=cfg.model.arch)

    def ema_ready() -> nn.Module | None:
        if ema is not None:
            recalibrate_batchnorm(ema, seed=tc.seed)
        return ema

    def checkpoint() -> str:
        ema_ready()
        payload = {"arch": {"generator": G.spec(), "discriminator": D.spec()},
                   "generator": _cpu_state(G), "discriminator": _cpu_state(D),
                   "ema": _cpu_state(ema) if ema is not None else None,
                   "optim": {"g": optG.state_dict(), "d": optD.state_dict()},
                   "rng": {"noise": noise.get_state(), "torch": torch.get_rng_state()},
                   "step": step, "data": meta, "seed": tc.seed, "loss": tc.loss, "optimizer": tc.optimizer}
        path = ws.save_checkpoint(CHECKPOINT, payload)
        ws.update_stage("train", checkpoint=ws.rel(path), step=step)
        return ws.rel(path)

    if step >= tc.steps:
        yield Log("info", f"The checkpoint is already at step {step} of {tc.steps}; nothing to train.")
    meter = EtaMeter(tc.steps, start_step=step)
    status = "done"
    start_step = step
    while step < tc.steps:
        if cancel.cancelled:
            status = "cancelled"
            break
        t0 = time.perf_counter()
        idx = sampler.indices(step)
        real = to_float(images[idx.to(images.device)] if device.type == "cuda" else images[idx])
        b = real.shape[0]
        z = torch.randn(b, G.latent_dim, generator=noise).to(device, non_blocking=True)

        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            fake = G(z)
            d_real, d_fake = D.logits(real), D.logits(fake.detach())
            loss_d = discriminator_loss(d_real.float(), d_fake.float(), tc.loss)
            if tc.r1 > 0 and step % R1_EVERY == 0:  # lazy R1: every R1_EVERY steps, scaled up to match
                loss_d = loss_d + tc.r1 / 2 * R1_EVERY * r1_penalty(D, real)
        optD.zero_grad(set_to_none=True)
        scaler.scale(loss_d).backward()
        scaler.step(optD)
        scaler.update()

        D.requires_grad_(False)  # the G step needs gradients through D, not of D's weights: ~15% less work
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            d_gen = D.logits(fake)
            loss_g = generator_loss(d_gen.float(), tc.loss)
        optG.zero_grad(set_to_none=True)
        scaler.scale(loss_g).backward()
        scaler.step(optG)
        scaler.update()
        D.requires_grad_(True)

        if not all_finite(loss_d, loss_g, *[p for p in G.parameters()][:1]):
            ws.update_stage("train", status="failed", error=f"non-finite loss at step {step + 1}")
            last = ws.stage("train").get("checkpoint")
            kept = f"the last good checkpoint is {last}" if last else "no checkpoint was written yet"
            raise TrainingDiverged(f"Training diverged at step {step + 1} (loss D={loss_d.item():.3g}, "
                                   f"G={loss_g.item():.3g}); {kept}. Lower the learning rate (now {tc.lr}) "
                                   "or try --loss hinge.")
        if ema is not None:
            update_ema(ema, G, tc.ema, step)
        step += 1

        rate, eta = meter.update(step)
        dt = time.perf_counter() - t0
        yield Metrics("train", step, {
            "loss_g": loss_g.item(), "loss_d": loss_d.item(),
            "d_real": torch.sigmoid(d_real.detach().float()).mean().item(),
            "d_fake": torch.sigmoid(d_fake.detach().float()).mean().item(),
            "samples_per_s": b / dt if dt > 0 else math.nan})
        yield Progress("train", step, tc.steps, rate=rate, eta_s=eta)
        if step % tc.sample_every == 0 or step == tc.steps:
            yield Samples("train", step, sample_grid(ema_ready() or G, z_fixed))
        if step % tc.checkpoint_every == 0 and step < tc.steps:
            yield Artifact("train", "checkpoint", checkpoint(), {"step": step})

    path = checkpoint()
    yield Artifact("train", "checkpoint", path, {"step": step})
    if step != start_step:  # the dense model changed: models pruned or exported from the old one are out of date
        stale = ws.mark_stale("prune", "finetune", "export")
        if stale:
            yield Log("info", f"The dense model changed; {', '.join(stale)} results are out of date — run them again.")
    grid = sample_grid(ema_ready() or G, z_fixed)
    save_png(ws.samples_dir / "train.png", grid)
    yield Samples("train", step, grid)
    yield Artifact("train", "samples", ws.rel(ws.samples_dir / "train.png"))
    ws.update_stage("train", status=status, step=step)
    if status == "cancelled":
        yield Log("warning", f"Training cancelled at step {step}; the checkpoint {path} is saved, "
                             "resume with --resume.")
    else:
        yield Log("info", f"Training finished at step {step}; checkpoint {path}.")


def _load_resume(ws: Workspace, cfg: PipelineConfig) -> dict | None:
    path = ws.checkpoint_path(CHECKPOINT)
    if not path.exists():
        raise WorkspaceError(f"Nothing to resume in {ws.root}: {path.name} is missing; train without --resume first.")
    return ws.load_checkpoint(path)


def _amp_dtype(device: torch.device, amp: bool) -> torch.dtype | None:
    if device.type != "cuda" or not amp:
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _float32(state: dict) -> dict:
    """Bundled models are stored in float16 to stay small; train in float32."""
    return {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}


def _cpu_state(model: nn.Module) -> dict:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _optimizer_to(opt: torch.optim.Optimizer, device: torch.device) -> None:
    for state in opt.state.values():
        for k, v in state.items():
            if isinstance(v, torch.Tensor) and k != "step":
                state[k] = v.to(device)

