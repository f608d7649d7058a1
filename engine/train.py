"""The GAN training loop, written as a generator of events that reads top to bottom.

Data sit in memory as one uint8 tensor; each step slices a batch of a per-epoch permutation, so there are no
per-sample Python transforms. Every RNG that touches a step (batch order, latents, dropout) is seeded and saved
in the checkpoint, so a resumed CPU run equals an uninterrupted one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import torch
import torch.nn as nn

from engine import stages
from engine.checkpoints import float32_state, save_gan
from engine.config import PipelineConfig
from engine.data import load_dataset, require_labels, to_float
from engine.devices import device_name, pick_device
from engine.ema import frozen_copy, recalibrate_batchnorm, update_ema
from engine.errors import ConfigError, TrainingDiverged, WorkspaceError
from engine.events import Artifact, CancelToken, EtaMeter, Event, Log, Metrics, Progress, Samples
from engine.gan_step import BatchSampler, GanStep, all_finite
from engine.grids import grid_inputs, sample_grid
from engine.images import save_png
from engine.models import build_pair, default_specs
from engine.optim import apply_hyperparameters, make_optimizers, optimizer_to
from engine.stage_runner import recorded
from engine.tasks import is_conditional, task_of
from engine.workspace import Workspace

CHECKPOINT = "dense"
GRID_SIZE = 64


@recorded("train")
def run_train(cfg: PipelineConfig, ws: Workspace, cancel: CancelToken) -> Iterator[Event]:
    """Train (or resume) the dense GAN of a workspace; see the module docstring. The stage runner records how it
    ended (engine.stages.start)."""
    cfg.validate()
    if cfg.model.takes_image:  # image-to-image tasks (pix2pix) train on (input, target) pairs
        from engine.i2i.train import run_train_images

        yield from run_train_images(cfg, ws, cancel)
        return
    tc = cfg.train
    if tc.threads:
        torch.set_num_threads(tc.threads)
    # Everything that can refuse the input runs before the first event, so bad input prints one line only.
    device, note = pick_device(tc.device)
    data = load_dataset(cfg.data)
    image_shape = data.image_shape
    if len(data) < 2:
        raise ConfigError(f"The data set {cfg.data.dataset} has {len(data)} image(s); a GAN needs at least 2.")
    task = cfg.model.task
    classes = require_labels(data, cfg.data.dataset) if is_conditional(task) else 0
    default_specs(cfg.model.arch, image_shape, cfg.model.latent_dim, classes)  # refuses sizes the arch cannot make
    resume = _load_resume(ws, cfg) if tc.resume else None
    if resume is not None:
        arch = resume["arch"]
        if task_of(resume) != task:
            raise WorkspaceError(f"The checkpoint in {ws.root} was trained for the {task_of(resume)} task, not "
                                 f"{task}; use --task {task_of(resume)} or a new workspace.")
        if int(arch["generator"].get("num_classes", 0)) != classes:
            raise WorkspaceError(f"The checkpoint in {ws.root} knows {arch['generator'].get('num_classes', 0)} "
                                 f"classes but the data have {classes}; use the same data set.")
        if arch["generator"]["arch"] != cfg.model.arch:
            raise WorkspaceError(f"The checkpoint in {ws.root} is a '{arch['generator']['arch']}' model, not "
                                 f"'{cfg.model.arch}'; use --arch {arch['generator']['arch']} or a new workspace.")
        if list(arch["generator"]["image_shape"]) != list(image_shape):
            raise WorkspaceError(f"The checkpoint in {ws.root} was trained on {arch['generator']['image_shape']} "
                                 f"images but the data are {list(image_shape)}; use the same data set.")
    else:
        gspec, dspec = default_specs(cfg.model.arch, image_shape, cfg.model.latent_dim, classes)
        arch = {"generator": gspec, "discriminator": dspec}

    if note:
        yield Log("warning", note)
    yield Log("info", f"Data set {data.name}: {len(data)} images of {'x'.join(map(str, image_shape))}"
                      + (f", {classes} classes." if classes else "."))
    for w in data.warnings:
        yield Log("warning", w)

    torch.manual_seed(tc.seed)  # weight init and dropout
    G, D = build_pair(arch)
    ema = None
    optG, optD = make_optimizers(G, D, tc)
    noise = torch.Generator().manual_seed(tc.seed)
    step = 0
    if resume is not None:
        G.load_state_dict(float32_state(resume["generator"]))
        D.load_state_dict(float32_state(resume["discriminator"]))
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
    optimizer_to(optG, device)
    optimizer_to(optD, device)
    if tc.ema > 0:
        ema = frozen_copy(G)
        if resume is not None and resume.get("ema"):
            ema.load_state_dict(resume["ema"])

    images = data.images.to(device) if device.type == "cuda" else data.images
    sampler = BatchSampler(len(data), tc.batch_size, tc.seed)
    z_fixed = grid_inputs(G, GRID_SIZE, tc.seed).to(device)
    labels = data.labels.to(device) if classes and device.type == "cuda" else data.labels if classes else None
    gan_step = GanStep(G, D, optG, optD, tc.loss, device, amp=tc.amp, r1=tc.r1)
    gan_step.steps = step  # lazy R1 lands on the same steps whether or not the run was resumed
    if gan_step.amp_dtype is not None:
        yield Log("info", f"Mixed precision on {device_name(device)} "
                          f"({str(gan_step.amp_dtype).replace('torch.', '')}).")

    meta = {"dataset": data.name, "image_shape": list(image_shape), "classes": data.classes}
    ws.update_stage("train", status="running", total_steps=tc.steps, step=step, device=device_name(device),
                    dataset=data.name, arch=cfg.model.arch, task=task)

    def ema_ready() -> nn.Module | None:
        if ema is not None:
            recalibrate_batchnorm(ema, seed=tc.seed)
        return ema

    def checkpoint() -> str:
        nonlocal stale
        ema_ready()
        if step != start_step and stale is None:  # before dense.pt changes, so a kill never leaves them offered
            stale = ws.mark_stale(*stages.out_of_date_after("train"))
        path = save_gan(ws, CHECKPOINT, G, D, ema=ema, optimizers=(optG, optD),
                        rng={"noise": noise.get_state(), "torch": torch.get_rng_state()},
                        step=step, data=meta, seed=tc.seed, loss=tc.loss, optimizer=tc.optimizer, task=task)
        ws.update_stage("train", checkpoint=path, step=step)
        return path

    if step >= tc.steps:
        yield Log("info", f"The checkpoint is already at step {step} of {tc.steps}; nothing to train.")
    meter = EtaMeter(tc.steps, start_step=step)
    status = "done"
    start_step = step
    stale: list[str] | None = None  # the later stages this run marked out of date (None: not checked yet)
    while step < tc.steps:
        if cancel.cancelled:
            status = "cancelled"
            break
        t0 = time.perf_counter()
        idx = sampler.indices(step)
        real = to_float(images[idx.to(images.device)] if device.type == "cuda" else images[idx])
        b = real.shape[0]
        z = torch.randn(b, G.latent_dim, generator=noise).to(device, non_blocking=True)

        out = gan_step(real, z, labels=None if labels is None else labels[idx.to(labels.device)])
        loss_d, loss_g, d_real, d_fake = out.loss_d, out.loss_g, out.d_real, out.d_fake
        if not all_finite(loss_d, loss_g, *[p for p in G.parameters()][:1]):
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
            "d_real": torch.sigmoid(d_real.float()).mean().item(),
            "d_fake": torch.sigmoid(d_fake.float()).mean().item(),
            "samples_per_s": b / dt if dt > 0 else math.nan})
        yield Progress("train", step, tc.steps, rate=rate, eta_s=eta)
        if step % tc.sample_every == 0 or step == tc.steps:
            yield Samples("train", step, sample_grid(ema_ready() or G, z_fixed))
        if step % tc.checkpoint_every == 0 and step < tc.steps:
            yield Artifact("train", "checkpoint", checkpoint(), {"step": step})

    path = checkpoint()
    yield Artifact("train", "checkpoint", path, {"step": step})
    if stale:  # the dense model changed: models pruned or exported from the old one are out of date
        yield Log("info", f"The dense model changed; {', '.join(stale)} results are out of date — run them again.")
    grid = sample_grid(ema_ready() or G, z_fixed)
    save_png(ws.samples_dir / "train.png", grid)
    yield Samples("train", step, grid)
    yield Artifact("train", "samples", ws.rel(ws.samples_dir / "train.png"))
    ws.update_stage("train", step=step)
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
