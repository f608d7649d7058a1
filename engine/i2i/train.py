"""Training an image-to-image GAN (pix2pix) into a workspace: the train stage's path for superres, inpaint,
sketch and paired. Same checkpoint, manifest and events as noise GANs; the previews are input → output → target."""

from __future__ import annotations

import time
from collections.abc import Iterator

import torch

from engine import stages
from engine.checkpoints import save_gan
from engine.config import PipelineConfig
from engine.data import load_dataset
from engine.data.image_pairs import PREVIEW, PairSource, preview
from engine.devices import device_name, pick_device
from engine.errors import ConfigError, TrainingDiverged, WorkspaceError
from engine.events import Artifact, CancelToken, EtaMeter, Event, Log, Metrics, Progress, Samples
from engine.gan_step import BatchSampler
from engine.i2i.step import Pix2PixStep
from engine.images import save_png
from engine.models import build_pair
from engine.models.unet import image_specs
from engine.optim import apply_hyperparameters, make_optimizers
from engine.workspace import Workspace

CHECKPOINT = "dense"


def data_record(src: PairSource, cfg: PipelineConfig) -> dict:
    """What later stages need to rebuild the same pairs: data set, task, scale, shapes."""
    return {"dataset": src.data.name, "image_shape": list(src.image_shape), "input_shape": list(src.input_shape),
            "task": cfg.model.task, "scale": cfg.model.scale, "test_images": len(src.test_idx)}


def run_train_images(cfg: PipelineConfig, ws: Workspace, cancel: CancelToken) -> Iterator[Event]:
    tc, task = cfg.train, cfg.model.task
    if tc.threads:
        torch.set_num_threads(tc.threads)
    device, note = pick_device(tc.device)
    data, src, arch, resume = _inputs(cfg, ws)  # everything that can refuse the input, before the first event
    if note:
        yield Log("warning", note)
    yield Log("info", f"Data set {data.name}: {len(src.train_idx)} training and {len(src.test_idx)} held-out test "
                      f"images; task {task}: {'x'.join(map(str, src.input_shape))} in, "
                      f"{'x'.join(map(str, src.image_shape))} out.")
    for w in data.warnings:
        yield Log("warning", w)
    torch.manual_seed(tc.seed)
    G, D = build_pair(arch)
    optG, optD = make_optimizers(G, D, tc)
    noise = torch.Generator().manual_seed(tc.seed)
    step = 0
    if resume is not None:
        step = _restore(resume, G, D, optG, optD, noise, tc)
        yield Log("info", f"Resuming from step {step}.")
    G.to(device).train()
    D.to(device).train()
    gan = Pix2PixStep(G, D, optG, optD, tc.loss, tc.l1)
    sampler = BatchSampler(len(src.train_idx), tc.batch_size, tc.seed)
    shown = [t.to(device) for t in src.fixed("test", PREVIEW, tc.seed)]
    meta = data_record(src, cfg)
    ws.update_stage("train", status="running", total_steps=tc.steps, step=step, device=device_name(device),
                    dataset=data.name, arch=cfg.model.arch, task=task)
    stale: list[str] | None = None

    def checkpoint() -> str:
        nonlocal stale
        if stale is None:
            stale = ws.mark_stale(*stages.out_of_date_after("train"))
        path = save_gan(ws, CHECKPOINT, G, D, optimizers=(optG, optD), rng={"noise": noise.get_state()},
                        step=step, data=meta, seed=tc.seed, loss=tc.loss, optimizer=tc.optimizer, task=task)
        ws.update_stage("train", checkpoint=path, step=step)
        return path

    meter, status = EtaMeter(tc.steps, start_step=step), "done"
    while step < tc.steps:
        if cancel.cancelled:
            status = "cancelled"
            break
        values = _train_step(gan, src, sampler, step, noise, device, tc.lr)
        step += 1
        rate, eta = meter.update(step)
        yield Metrics("train", step, values)
        yield Progress("train", step, tc.steps, rate=rate, eta_s=eta)
        if step % tc.sample_every == 0 or step == tc.steps:
            yield Samples("train", step, preview(G, *shown), label="input → output → target")
        if step % tc.checkpoint_every == 0 and step < tc.steps:
            yield Artifact("train", "checkpoint", checkpoint(), {"step": step})
    yield from _finish(ws, checkpoint(), G, shown, step, status)


def _train_step(gan: Pix2PixStep, src: PairSource, sampler: BatchSampler, step: int, noise: torch.Generator,
                device, lr: float) -> dict[str, float]:
    """One pix2pix update on the next batch of pairs; refuses to go on from a non-finite loss."""
    t0 = time.perf_counter()
    idx = src.train_idx[sampler.indices(step)]
    inputs, targets = (t.to(device) for t in src.batch(idx, noise))
    values = gan(inputs, targets)
    if not all(v == v and abs(v) != float("inf") for v in values.values()):
        raise TrainingDiverged(f"Training diverged at step {step + 1}; lower the learning rate (now {lr}).")
    values["samples_per_s"] = len(idx) / max(1e-9, time.perf_counter() - t0)
    return values


def _inputs(cfg: PipelineConfig, ws: Workspace) -> tuple:
    """The data, their (input, target) pairs, the architecture and the resume checkpoint (or None)."""
    data = load_dataset(cfg.data)
    if len(data) < 2:
        raise ConfigError(f"The data set {cfg.data.dataset} has {len(data)} image(s); training needs at least 2.")
    task = cfg.model.task
    src = PairSource(data, task, cfg.model.scale)
    residual = src.input_shape[0] == src.image_shape[0] and task in ("superres", "inpaint")
    gspec, dspec = image_specs(cfg.model.arch, src.input_shape, src.image_shape, residual)
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


def _finish(ws: Workspace, path: str, G, shown: list, step: int, status: str) -> Iterator[Event]:
    yield Artifact("train", "checkpoint", path, {"step": step})
    grid = preview(G, *shown)
    save_png(ws.samples_dir / "train.png", grid)
    yield Samples("train", step, grid, label="input → output → target")
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
