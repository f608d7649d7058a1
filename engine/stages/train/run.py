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
from engine.distributed import current
from engine.distributed.replicas import replicate
from engine.ema import frozen_copy, recalibrate_batchnorm, update_ema
from engine.errors import ConfigError, TrainingDiverged, WorkspaceError
from engine.events import Artifact, CancelToken, EtaMeter, Event, Log, Metrics, Progress, Samples
from engine.gan_step import BatchSampler, GanStep, all_finite
from engine.grids import grid_inputs, sample_grid
from engine.images import save_png
from engine.models import build_pair, default_specs
from engine.optim import apply_hyperparameters, make_optimizers, optimizer_to
from engine.stage_runner import recorded
from engine.tasks import IMAGE, is_conditional, is_unpaired, task_of
from engine.workspace import Workspace

CHECKPOINT = "dense"
GRID_SIZE = 64


@recorded("train")
def run_train(cfg: PipelineConfig, ws: Workspace, cancel: CancelToken) -> Iterator[Event]:
    """Train (or resume) the dense GAN of a workspace; see the module docstring. The stage runner records how it
    ended (engine.stages.start)."""
    cfg.validate()
    ctx = current()  # one process, or this process's place in a torchrun group (rank 0 alone writes)
    if cfg.model.kind == IMAGE:  # image-to-image tasks (pix2pix) train on (input, target) pairs, on any processes
        if is_unpaired(cfg.model.task):  # two unpaired sets: CycleGAN
            from engine.stages.train.unpaired import run_train_unpaired as run_images
        else:
            from engine.stages.train.image import run_train_images as run_images

        yield from run_images(cfg, ws, cancel)
        return
    tc = cfg.train
    if tc.threads:
        torch.set_num_threads(tc.threads)
    # Everything that can refuse the input runs before the first event, so bad input prints one line only.
    inputs = _Inputs(cfg, ws)
    if inputs.note:
        yield Log("warning", inputs.note)
    data, classes = inputs.data, inputs.classes
    if ctx.distributed:
        yield Log("info", f"{ctx.world} processes ({ctx.backend}), {tc.batch_size // ctx.world} images each of "
                          f"the batch of {tc.batch_size}.")
    yield Log("info", f"Data set {data.name}: {len(data)} images of {'x'.join(map(str, data.image_shape))}"
                      + (f", {classes} classes." if classes else "."))
    for w in data.warnings:
        yield Log("warning", w)
    run = _Training(cfg, ws, inputs)
    yield from run.restore(inputs.resume)
    if run.gan_step.amp_dtype is not None and ctx.is_main:
        yield Log("info", f"Mixed precision on {device_name(run.device)} "
                          f"({str(run.gan_step.amp_dtype).replace('torch.', '')}).")
    if ctx.is_main:
        ws.update_stage("train", status="running", total_steps=tc.steps, step=run.step,
                        device=device_name(run.device), dataset=data.name, arch=cfg.model.arch, task=cfg.model.task)
    if run.step >= tc.steps:
        yield Log("info", f"The checkpoint is already at step {run.step} of {tc.steps}; nothing to train.")
    yield from _steps(run, ctx, cancel)
    if not ctx.is_main:
        return
    yield from _finish(ws, run, cancelled=run.step < tc.steps)


class _Inputs:
    """The data, the architecture and the resume state, each checked before anything is written."""

    def __init__(self, cfg: PipelineConfig, ws: Workspace) -> None:
        tc, task = cfg.train, cfg.model.task
        self.device, self.note = pick_device(tc.device)
        self.device = current().device(self.device)  # each process of a CUDA run owns its local rank's GPU
        current().local_batch(tc.batch_size)
        self.data = data = load_dataset(cfg.data)
        if len(data) < 2:
            raise ConfigError(f"The data set {cfg.data.dataset} has {len(data)} image(s); a GAN needs at least 2.")
        self.classes = require_labels(data, cfg.data.dataset) if is_conditional(task) else 0
        gspec, dspec = default_specs(cfg.model.arch, data.image_shape, cfg.model.latent_dim, self.classes)  # refuses
        self.arch = {"generator": gspec, "discriminator": dspec}                    # sizes the arch cannot make
        self.resume = _load_resume(ws, cfg) if tc.resume else None
        if self.resume is not None:
            self.arch = self.resume["arch"]
            _check_resume(ws, cfg, self.resume, self.classes, data.image_shape)


def _check_resume(ws: Workspace, cfg: PipelineConfig, resume: dict, classes: int, image_shape) -> None:
    """Refuse to continue a checkpoint of another task, class count, architecture or image size."""
    task, g = cfg.model.task, resume["arch"]["generator"]
    if task_of(resume) != task:
        raise WorkspaceError(f"The checkpoint in {ws.root} was trained for the {task_of(resume)} task, not "
                             f"{task}; use --task {task_of(resume)} or a new workspace.")
    if int(g.get("num_classes", 0)) != classes:
        raise WorkspaceError(f"The checkpoint in {ws.root} knows {g.get('num_classes', 0)} "
                             f"classes but the data have {classes}; use the same data set.")
    if g["arch"] != cfg.model.arch:
        raise WorkspaceError(f"The checkpoint in {ws.root} is a '{g['arch']}' model, not "
                             f"'{cfg.model.arch}'; use --arch {g['arch']} or a new workspace.")
    if list(g["image_shape"]) != list(image_shape):
        raise WorkspaceError(f"The checkpoint in {ws.root} was trained on {g['image_shape']} "
                             f"images but the data are {list(image_shape)}; use the same data set.")


class _Training:
    """G, D, their optimizers, EMA and RNGs, and the three things the loop does with them: a step, a sample grid
    and a checkpoint (Lightning Fabric's build-your-own-trainer shape: the loop itself stays in run_train)."""

    def __init__(self, cfg: PipelineConfig, ws: Workspace, inputs: _Inputs) -> None:
        tc, data = cfg.train, inputs.data
        self.cfg, self.ws, self.tc, self.device = cfg, ws, tc, inputs.device
        torch.manual_seed(tc.seed)  # weight init and dropout
        self.G, self.D = build_pair(inputs.arch)
        self.optG, self.optD = make_optimizers(self.G, self.D, tc)
        self.noise = torch.Generator().manual_seed(tc.seed)
        self.step = self.start_step = 0
        self.ema: nn.Module | None = None
        self.stale: list[str] | None = None  # the later stages this run marked out of date (None: not checked yet)
        cuda = self.device.type == "cuda"
        self.images = data.images.to(self.device) if cuda else data.images
        self.labels = None if not inputs.classes else data.labels.to(self.device) if cuda else data.labels
        self.sampler = BatchSampler(len(data), tc.batch_size, tc.seed)
        self.meta = {"dataset": data.name, "image_shape": list(data.image_shape), "classes": data.classes}

    def restore(self, resume: dict | None) -> Iterator[Event]:
        """Load the resume checkpoint (weights, optimizers and RNGs when it has them), then move to the device."""
        tc, G, D = self.tc, self.G, self.D
        if resume is not None:
            G.load_state_dict(float32_state(resume["generator"]))
            D.load_state_dict(float32_state(resume["discriminator"]))
            self.step = self.start_step = int(resume["step"])
            same_optimizer = resume.get("optimizer", "adam") == tc.optimizer
            if resume.get("optim") and resume.get("rng") and same_optimizer:
                self.optG.load_state_dict(resume["optim"]["g"])
                self.optD.load_state_dict(resume["optim"]["d"])
                apply_hyperparameters(self.optG, tc)  # the loaded state carries the old lr/betas; this run's win
                apply_hyperparameters(self.optD, tc, tc.d_lr)
                self.noise.set_state(resume["rng"]["noise"])
                torch.set_rng_state(resume["rng"]["torch"])
                yield Log("info", f"Resuming from step {self.step}.")
            else:  # a pretrained model ships without optimizer state; another optimizer cannot reuse it
                why = "the checkpoint has no optimizer state" if same_optimizer else "the optimizer changed"
                yield Log("info", f"Continuing from step {self.step} with fresh optimizers ({why}).")
        G.to(self.device).train()
        D.to(self.device).train()
        optimizer_to(self.optG, self.device)
        optimizer_to(self.optD, self.device)
        self.ctx = ctx = current()
        if tc.ema > 0 and ctx.is_main:  # rank 0 alone keeps the EMA
            self.ema = frozen_copy(G)
            if resume is not None and resume.get("ema"):
                self.ema.load_state_dict(resume["ema"])
        if ctx.distributed:  # the same latents and batches on every process; dropout masks must differ between them
            torch.manual_seed(tc.seed * 1_000_003 + self.step * 1009 + ctx.rank)
        replicas = replicate(G, D, ctx, self.device)  # after the EMA copy: that one keeps plain BatchNorm
        self.z_fixed = grid_inputs(G, GRID_SIZE, tc.seed).to(self.device)
        self.gan_step = GanStep(G, D, self.optG, self.optD, tc.loss, self.device, amp=tc.amp, r1=tc.r1,
                                replicas=replicas)
        self.gan_step.steps = self.step  # lazy R1 lands on the same steps whether or not the run was resumed

    def train_step(self) -> dict[str, float]:
        """One D and G update on the next batch; refuses to go on from a non-finite loss."""
        tc, G, device = self.tc, self.G, self.device
        idx = self.sampler.indices(self.step)
        self.batch = len(idx)  # the global batch; each process takes its share of the rows and latents
        idx = self.ctx.shard(idx)
        cuda = device.type == "cuda"
        real = to_float(self.images[idx.to(self.images.device)] if cuda else self.images[idx])
        z = self.ctx.shard(torch.randn(self.batch, G.latent_dim, generator=self.noise)).to(device, non_blocking=True)
        out = self.gan_step(real, z, labels=None if self.labels is None else self.labels[idx.to(self.labels.device)])
        if not all_finite(out.loss_d, out.loss_g, *[p for p in G.parameters()][:1]):
            last = self.ws.stage("train").get("checkpoint")
            kept = f"the last good checkpoint is {last}" if last else "no checkpoint was written yet"
            raise TrainingDiverged(f"Training diverged at step {self.step + 1} (loss D={out.loss_d.item():.3g}, "
                                   f"G={out.loss_g.item():.3g}); {kept}. Lower the learning rate (now {tc.lr}) "
                                   "or try --loss hinge.")
        if self.ema is not None:
            update_ema(self.ema, G, tc.ema, self.step)
        self.step += 1
        return {"loss_g": out.loss_g.item(), "loss_d": out.loss_d.item(),
                "d_real": torch.sigmoid(out.d_real.float()).mean().item(),
                "d_fake": torch.sigmoid(out.d_fake.float()).mean().item()}

    def ema_ready(self) -> nn.Module | None:
        if self.ema is not None:
            recalibrate_batchnorm(self.ema, seed=self.tc.seed)
        return self.ema

    def grid(self):
        return sample_grid(self.ema_ready() or self.G, self.z_fixed)

    def checkpoint(self) -> str:
        tc, ws = self.tc, self.ws
        self.ema_ready()
        if self.step != self.start_step and self.stale is None:  # before dense.pt changes: a kill never leaves
            self.stale = ws.mark_stale(*stages.out_of_date_after("train"))  # them offered
        path = save_gan(ws, CHECKPOINT, self.G, self.D, ema=self.ema, optimizers=(self.optG, self.optD),
                        rng={"noise": self.noise.get_state(), "torch": torch.get_rng_state()},
                        step=self.step, data=self.meta, seed=tc.seed, loss=tc.loss, optimizer=tc.optimizer,
                        task=self.cfg.model.task)
        ws.update_stage("train", checkpoint=path, step=self.step)
        return path


def _steps(run: _Training, ctx, cancel: CancelToken) -> Iterator[Event]:
    """The loop. Several processes agree each step on a stop (Ctrl-C/SIGTERM reaches rank 0) with the averaged
    metrics; rank 0 alone draws grids and writes checkpoints."""
    tc = run.tc
    meter = EtaMeter(tc.steps, start_step=run.step)
    while run.step < tc.steps and not (cancel.cancelled and not ctx.distributed):
        t0 = time.perf_counter()
        stop, values = ctx.agree(cancel.cancelled, run.train_step())
        rate, eta = meter.update(run.step)
        dt = time.perf_counter() - t0
        yield Metrics("train", run.step, {**values, "samples_per_s": run.batch / dt if dt > 0 else math.nan})
        yield Progress("train", run.step, tc.steps, rate=rate, eta_s=eta)
        if ctx.is_main and (run.step % tc.sample_every == 0 or run.step == tc.steps):
            yield Samples("train", run.step, run.grid())
        if ctx.is_main and run.step % tc.checkpoint_every == 0 and run.step < tc.steps:
            yield Artifact("train", "checkpoint", run.checkpoint(), {"step": run.step})
        if stop:  # every process stops at this step; rank 0's checkpoint is theirs
            cancel.cancel()  # what follows in this process (a pipeline's next stage) stops too
            return


def _finish(ws: Workspace, run: _Training, cancelled: bool) -> Iterator[Event]:
    """The last checkpoint and sample grid; the stage runner records how the stage ended."""
    path = run.checkpoint()
    yield Artifact("train", "checkpoint", path, {"step": run.step})
    if run.stale:  # the dense model changed: models pruned or exported from the old one are out of date
        yield Log("info", f"The dense model changed; {', '.join(run.stale)} results are out of date — run them "
                          "again.")
    grid = run.grid()
    save_png(ws.samples_dir / "train.png", grid)
    yield Samples("train", run.step, grid)
    yield Artifact("train", "samples", ws.rel(ws.samples_dir / "train.png"))
    ws.update_stage("train", step=run.step)
    if cancelled:
        yield Log("warning", f"Training cancelled at step {run.step}; the checkpoint {path} is saved, "
                             "resume with --resume.")
    else:
        yield Log("info", f"Training finished at step {run.step}; checkpoint {path}.")


def _load_resume(ws: Workspace, cfg: PipelineConfig) -> dict | None:
    path = ws.checkpoint_path(CHECKPOINT)
    if not path.exists():
        raise WorkspaceError(f"Nothing to resume in {ws.root}: {path.name} is missing; train without --resume first.")
    return ws.load_checkpoint(path)
