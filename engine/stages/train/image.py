"""Training an image-to-image GAN (pix2pix) into a workspace: the train stage's path for superres, inpaint,
sketch and paired. Same checkpoint, manifest and events as noise GANs; the previews are input → output → target."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import torch

from engine import stages
from engine.checkpoints import save_gan
from engine.config import PipelineConfig
from engine.data import load_dataset
from engine.data.image_pairs import PREVIEW, PairSource, preview
from engine.devices import device_name, pick_device
from engine.distributed import current
from engine.distributed.batches import check_whole_set_splits
from engine.distributed.replicas import replicate
from engine.errors import ConfigError, TrainingDiverged, WorkspaceError
from engine.events import Artifact, CancelToken, EtaMeter, Event, Log, Metrics, Progress, Samples
from engine.gan_step import BatchSampler
from engine.images import save_png
from engine.models import build_pair, image_specs
from engine.optim import apply_hyperparameters, make_optimizers, optimizer_to
from engine.pix2pix_step import Pix2PixStep
from engine.workspace import Workspace

CHECKPOINT = "dense"


def data_record(src: PairSource, cfg: PipelineConfig) -> dict:
    """What later stages need to rebuild the same pairs: data set, task, scale, shapes."""
    return {"dataset": src.data.name, "image_shape": list(src.image_shape), "input_shape": list(src.input_shape),
            "task": cfg.model.task, "scale": cfg.model.scale, "test_images": len(src.test_idx)}


def run_train_images(cfg: PipelineConfig, ws: Workspace, cancel: CancelToken) -> Iterator[Event]:
    """Train (or resume) on one process or several (engine.distributed: each process takes its share of every
    batch of pairs; rank 0 alone writes checkpoints, grids and the manifest)."""
    def described(data, src) -> str:
        return (f"Data set {data.name}: {len(src.train_idx)} training and {len(src.test_idx)} held-out test "
                f"images; task {cfg.model.task}: {'x'.join(map(str, src.input_shape))} in, "
                f"{'x'.join(map(str, src.image_shape))} out.")

    yield from drive_training(cfg, ws, cancel, _inputs, _ImageTraining, described, "pairs each")


def drive_training(cfg: PipelineConfig, ws: Workspace, cancel: CancelToken, inputs, training, described,
                   share: str) -> Iterator[Event]:
    """One image-to-image training run, pix2pix or CycleGAN: `inputs(cfg, ws)` -> (data, source, arch, resume
    checkpoint) refuses bad input before the first event; `training(cfg, ws, source, arch, device)` is the run
    (_ImageTraining or unpaired's _CycleTraining); `described(data, source)` the data set in one sentence; `share`
    what each process takes of a batch, in words."""
    tc, ctx = cfg.train, current()
    if tc.threads:
        torch.set_num_threads(tc.threads)
    device, note = pick_device(tc.device)
    device = ctx.device(device)  # each process of a CUDA run owns its local rank's GPU
    ctx.local_batch(tc.batch_size)
    data, src, arch, resume = inputs(cfg, ws)  # everything that can refuse the input, before the first event
    check_whole_set_splits(len(src.train_idx), tc.batch_size, ctx)
    if note:
        yield Log("warning", note)
    if ctx.distributed:
        yield Log("info", f"{ctx.world} processes ({ctx.backend}), {tc.batch_size // ctx.world} {share} of "
                          f"the batch of {tc.batch_size}.")
    yield Log("info", described(data, src))
    for w in data.warnings:
        yield Log("warning", w)
    run = training(cfg, ws, src, arch, device)
    if resume is not None:
        run.restore(resume)
        yield Log("info", f"Resuming from step {run.step}.")
    run.start()
    if ctx.is_main:
        ws.update_stage("train", status="running", total_steps=tc.steps, step=run.step,
                        device=device_name(device), dataset=data.name, arch=cfg.model.arch, task=cfg.model.task)
    status = yield from _steps(run, cancel)
    if ctx.is_main:
        yield from _finish(ws, run.checkpoint(), run, status)


class _ImageTraining:
    """G, D, their optimizers and the noise RNG, and what the loop does with them: a step, a preview grid and a
    checkpoint (engine/stages/train/unpaired.py's CycleGAN run has the same members, so it shares the loop)."""

    label = "input → output → target"  # the preview's rows

    def __init__(self, cfg: PipelineConfig, ws: Workspace, src: PairSource, arch: dict, device) -> None:
        tc = cfg.train
        self.cfg, self.ws, self.tc, self.src, self.device, self.ctx = cfg, ws, tc, src, device, current()
        torch.manual_seed(tc.seed)  # weight init (on several processes DDP then copies rank 0's weights anyway)
        self.G, self.D = build_pair(arch)
        self.optG, self.optD = make_optimizers(self.G, self.D, tc)
        self.noise = torch.Generator().manual_seed(tc.seed)
        self.step = 0
        self.sampler = BatchSampler(len(src.train_idx), tc.batch_size, tc.seed)
        self.meta = data_record(src, cfg)
        self.stale: list[str] | None = None  # the later stages this run marked out of date (None: not yet)

    def restore(self, resume: dict) -> None:
        self.step = _restore(resume, self.G, self.D, self.optG, self.optD, self.noise, self.tc)

    def start(self) -> None:
        """Move to the device, then (several processes) BatchNorm over the global batch and G, D in DDP."""
        G, D, tc, device = self.G, self.D, self.tc, self.device
        G.to(device).train()
        D.to(device).train()
        optimizer_to(self.optG, device)  # a resumed optimizer's state was loaded next to the CPU weights
        optimizer_to(self.optD, device)
        self.gan = Pix2PixStep(G, D, self.optG, self.optD, tc.loss, tc.l1,
                               replicas=replicate(G, D, self.ctx, device))
        self.shown = [t.to(device) for t in self.src.fixed("test", PREVIEW, tc.seed)] if self.ctx.is_main else []

    def train_step(self) -> tuple[dict[str, float], int]:
        """One pix2pix update on this process's share of the next batch: its (unaveraged) values, global batch."""
        idx = self.src.train_idx[self.sampler.indices(self.step)]
        inputs, targets = (t.to(self.device) for t in self.src.batch(idx, self.noise, self.ctx.shard))
        values = self.gan(inputs, targets)
        self.step += 1
        return values, len(idx)

    def grid(self):
        return preview(self.G, *self.shown)

    def checkpoint(self) -> str:
        ws, tc = self.ws, self.tc
        if self.stale is None:
            self.stale = ws.mark_stale(*stages.out_of_date_after("train"))
        path = save_gan(ws, CHECKPOINT, self.G, self.D, optimizers=(self.optG, self.optD),
                        rng={"noise": self.noise.get_state()}, step=self.step, data=self.meta, seed=tc.seed,
                        loss=tc.loss, optimizer=tc.optimizer, task=self.cfg.model.task)
        ws.update_stage("train", checkpoint=path, step=self.step)
        return path


def _steps(run, cancel: CancelToken) -> Iterator[Event]:
    """The loop; returns "done" or "cancelled". Several processes agree each step on a stop (Ctrl-C/SIGTERM
    reaches rank 0) and on the averaged losses; rank 0 alone draws previews and writes checkpoints."""
    tc, ctx = run.tc, run.ctx
    meter = EtaMeter(tc.steps, start_step=run.step)
    while run.step < tc.steps:
        if cancel.cancelled and not ctx.distributed:
            return "cancelled"
        t0 = time.perf_counter()
        values, batch = run.train_step()
        stop, values = ctx.agree(cancel.cancelled, values)
        if not all(math.isfinite(v) for v in values.values()):  # averaged: every process refuses at this step
            raise TrainingDiverged(f"Training diverged at step {run.step}; lower the learning rate (now {tc.lr}).")
        values["samples_per_s"] = batch / max(1e-9, time.perf_counter() - t0)
        rate, eta = meter.update(run.step)
        yield Metrics("train", run.step, values)
        yield Progress("train", run.step, tc.steps, rate=rate, eta_s=eta)
        if ctx.is_main and (run.step % tc.sample_every == 0 or run.step == tc.steps):
            yield Samples("train", run.step, run.grid(), label=run.label)
        if ctx.is_main and run.step % tc.checkpoint_every == 0 and run.step < tc.steps:
            yield Artifact("train", "checkpoint", run.checkpoint(), {"step": run.step})
        if stop:  # every process stops at this step; rank 0's checkpoint is theirs
            cancel.cancel()  # what follows in this process (a pipeline's next stage) stops too
            return "cancelled"
    return "done"


def _inputs(cfg: PipelineConfig, ws: Workspace) -> tuple:
    """The data, their (input, target) pairs, the architecture and the resume checkpoint (or None)."""
    data = load_dataset(cfg.data)
    if len(data) < 2:
        raise ConfigError(f"The data set {cfg.data.dataset} has {len(data)} image(s); training needs at least 2.")
    task = cfg.model.task
    src = PairSource(data, task, cfg.model.scale)
    residual = src.input_shape[0] == src.image_shape[0] and task in ("superres", "inpaint")
    gspec, dspec = image_specs(cfg.model.arch, src.input_shape, src.image_shape, residual,
                               width=cfg.model.width, blocks=cfg.model.blocks)
    resume = _load_resume(ws, cfg, gspec) if cfg.train.resume else None
    arch = resume["arch"] if resume else {"generator": gspec, "discriminator": dspec}
    return data, src, arch, resume


def _restore(resume: dict, G, D, optG, optD, noise: torch.Generator, tc) -> int:
    """Weights, and optimizers and the noise RNG when the checkpoint has them; the step to continue from."""
    G.load_state_dict(resume["generator"])
    D.load_state_dict(resume["discriminator"])
    if resume.get("optim") and resume.get("rng"):
        optG.load_state_dict(resume["optim"]["g"])
        optD.load_state_dict(resume["optim"]["d"])
        apply_hyperparameters(optG, tc)
        apply_hyperparameters(optD, tc, tc.d_lr)
        noise.set_state(resume["rng"]["noise"])
    return int(resume["step"])


def _finish(ws: Workspace, path: str, run, status: str) -> Iterator[Event]:
    step = run.step
    yield Artifact("train", "checkpoint", path, {"step": step})
    grid = run.grid()
    save_png(ws.samples_dir / "train.png", grid)
    yield Samples("train", step, grid, label=run.label)
    yield Artifact("train", "samples", ws.rel(ws.samples_dir / "train.png"))
    ws.update_stage("train", step=step)  # the stage runner records how it ended
    yield Log("warning" if status == "cancelled" else "info",
              f"Training {'cancelled' if status == 'cancelled' else 'finished'} at step {step}; checkpoint {path}.")


def _load_resume(ws: Workspace, cfg: PipelineConfig, gspec: dict) -> dict:
    path = ws.checkpoint_path(CHECKPOINT)
    if not path.exists():
        raise WorkspaceError(f"Nothing to resume in {ws.root}: {path.name} is missing; train without --resume first.")
    ckpt = ws.load_checkpoint(path)
    g = ckpt["arch"]["generator"]
    if g["arch"] != gspec["arch"] or g.get("input_shape") != gspec["input_shape"] \
            or g["image_shape"] != gspec["image_shape"]:
        raise WorkspaceError(f"The checkpoint in {ws.root} is a {g['arch']} model for {g.get('input_shape')} → "
                             f"{g['image_shape']}, not this run's; use the same task and data or a new workspace.")
    return ckpt
