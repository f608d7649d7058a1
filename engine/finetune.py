"""The fine-tune stage: train a student from the dense teacher and keep its best step by a quick FID probe.

The student is the pruned model (`checkpoints/pruned.pt`) or, with `student_widths`, a slim generator of those
widths trained from scratch. Its D is the one saved with the pruned model, the teacher's D, or the teacher's D
co-pruned to G's share (`discriminator`). The distillation terms live in engine/distill.

`checkpoints/finetuned.pt` holds the best probed step (what evaluate and export use);
`checkpoints/finetuned-last.pt` holds the last step with optimizer state, for --resume.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from engine import stages
from engine.checkpoints import save_gan
from engine.compress.config import MIN_PROBE_SAMPLES
from engine.config import DEVICES, TrainConfig, check_fields, setting
from engine.devices import pick_device
from engine.distill import OUTPUT_LOSSES, DistillWeights
from engine.distill.probe import BestKeeper, FidProbe
from engine.distill.students import DISCRIMINATORS, StudentSource, build_student
from engine.distill.trainer import (
    DEFAULT_ADVERSARIAL,
    DEFAULT_LR,
    DEFAULT_SCHEDULE,
    LR_SCHEDULES,
    Finetuner,
    StudentSettings,
)
from engine.distributed import current
from engine.errors import ConfigError, WorkspaceError
from engine.events import Artifact, CancelToken, EtaMeter, Event, Log, Metrics, Progress, Samples
from engine.grids import grid_inputs, sample_grid
from engine.images import save_png
from engine.inputs import load_teacher, workspace_images
from engine.metrics.feature_cache import prepare_feature_net
from engine.models import checkpoint_takes_image
from engine.optim import apply_hyperparameters
from engine.stage_runner import recorded
from engine.workspace import Workspace

CHECKPOINT = "finetuned"
LAST = "finetuned-last"
GRID_SIZE = 64

__all__ = ["FinetuneConfig", "Finetuner", "run_finetune"]


@dataclass(frozen=True)
class FinetuneConfig:
    steps: int = 500
    # The overall teacher weight: each term's weight below is multiplied by it, so with the default
    # distill_output = 1 it is the output weight (as before) and 0 turns every distillation term off.
    distill: float = setting(1.0, help="overall teacher weight: multiplies every term below (with --distill-output "
                                       "1 it is the output weight); 0 turns distillation off")
    distill_output: float = setting(1.0, help="L1/MSE to the teacher's image; 0 = off")  # for the same z
    # every hidden G layer through a learned 1x1 adapter to the teacher's
    distill_features: float = setting(1.0, help="hidden maps matched through learned 1x1 adapters; 0 = off")
    distill_perceptual: float = setting(1.0, help="feature-net activations of student vs teacher image; 0 = off")
    output_loss: str = setting("l1", choices=OUTPUT_LOSSES)
    # pruned (as the prune stage saved it) | teacher | match (co-pruned to G's share)
    discriminator: str = setting("pruned", choices=DISCRIMINATORS,
                                 help="D to train against: as pruned, the teacher's full D, or the teacher's D cut to "
                                      "G's share")
    # a slim G of these widths trained from scratch by distillation
    student_widths: tuple[int, ...] | None = setting(None, help="train a slim student of these G widths from "
                                                                "scratch instead of the pruned model")
    # weight of D's verdict in G's loss; 0 = distillation alone
    adversarial: float = setting(DEFAULT_ADVERSARIAL, help="weight of D's verdict in G's loss; 0 = distillation "
                                                           "alone (no D step, about twice as fast)")
    # constant | cosine (decays to 0 at the last step)
    lr_schedule: str = setting(DEFAULT_SCHEDULE, choices=LR_SCHEDULES,
                               help="constant, or cosine decay to 0 at the last step")
    # quick FID on held-out latents; the best probed step is the one kept
    probe_every: int = setting(250, help="quick FID probe interval; the best step is kept")
    probe_samples: int = setting(1000, help="images per probe; 0 = off (keep the last step)")
    # for distillation alone; with the GAN term on, 2e-4 (the training default) is safer
    lr: float = setting(DEFAULT_LR, help="4e-3 suits distillation alone; use 2e-4 with the GAN term on "
                                         "(--adversarial above 0)")
    betas: tuple[float, float] = (0.5, 0.999)
    batch_size: int = 64
    loss: str | None = None  # None: the loss the model was trained with
    device: str = setting("auto", choices=DEVICES)
    ema: float = 0.0
    sample_every: int = 100
    checkpoint_every: int = 250
    seed: int = 0
    resume: bool = setting(False, help="continue from checkpoints/finetuned.pt")

    def validate(self) -> None:
        # Types, NaN/inf and training's ranges for the fields both share, in one sentence naming the key.
        zero_off = {"min": 0, "note": "0 turns it off"}
        check_fields(self, "finetune", like=TrainConfig, ranges={
            name: zero_off for name in ("distill", "distill_output", "distill_features", "distill_perceptual")})
        for name in ("distill", "distill_output", "distill_features", "distill_perceptual"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be 0 or more (got {v!r}); 0 turns it off.")
        if not isinstance(self.adversarial, (int, float)) or isinstance(self.adversarial, bool) \
                or not 0 <= self.adversarial <= 100:
            raise ConfigError(f"--adversarial must be a number from 0 to 100 (got {self.adversarial!r}); 0 trains "
                              "by distillation alone.")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(f"--lr-schedule must be one of {', '.join(LR_SCHEDULES)} (got {self.lr_schedule!r}).")
        if self.output_loss not in OUTPUT_LOSSES:
            raise ConfigError(f"--output-loss must be one of {', '.join(OUTPUT_LOSSES)} (got {self.output_loss!r}).")
        if self.discriminator not in DISCRIMINATORS:
            raise ConfigError(f"--discriminator must be one of {', '.join(DISCRIMINATORS)} "
                              f"(got {self.discriminator!r}).")
        if self.student_widths is not None and (
                not self.student_widths or any(not isinstance(w, int) or w < 1 for w in self.student_widths)):
            raise ConfigError(f"--student-widths must be whole numbers above 0, e.g. 64,32 "
                              f"(got {self.student_widths!r}).")
        for name in ("probe_every", "probe_samples"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be a whole number, 0 or more (got {v!r}).")
        if 0 < self.probe_samples < MIN_PROBE_SAMPLES:  # the probe would silently take 256 instead
            raise ConfigError(f"--probe-samples must be 0 (off) or at least {MIN_PROBE_SAMPLES} (FID needs twice "
                              f"the feature net's 128 features; got {self.probe_samples}).")

    def weights(self) -> DistillWeights:
        return DistillWeights(self.distill_output, self.distill_features, self.distill_perceptual,
                              self.output_loss).scaled(self.distill)

    def settings(self) -> StudentSettings:
        return StudentSettings(lr=self.lr, betas=tuple(self.betas), batch_size=self.batch_size, seed=self.seed,
                               ema=self.ema, adversarial=self.adversarial, schedule=self.lr_schedule)

    def train_config(self) -> TrainConfig:
        return TrainConfig(lr=self.lr, betas=self.betas, batch_size=self.batch_size, device=self.device)


@recorded("finetune")
def run_finetune(cfg: FinetuneConfig, ws: Workspace, cancel: CancelToken) -> Iterator[Event]:
    cfg.validate()
    ctx = current()  # one process, or this process's place in a torchrun group (rank 0 alone writes)
    device, note = pick_device(cfg.device)
    device = ctx.device(device)
    ctx.local_batch(cfg.batch_size, "fine-tuning batch size")
    if note:
        yield Log("info", note)
    if not cfg.student_widths and not ws.checkpoint_path("pruned").exists():
        raise WorkspaceError(f"No pruned model in {ws.root} (checkpoints/pruned.pt is missing); run 'gan-prune "
                             "prune' first, or give --student-widths to train a slim student from scratch.")
    dense, teacher = load_teacher(ws)
    if checkpoint_takes_image(dense):  # image-to-image (pix2pix) students learn from pairs, not latents
        from engine.i2i.finetune import run_finetune_images

        yield from run_finetune_images(cfg, ws, dense, teacher, cancel)
        return
    src = build_student(ws, cfg, dense)
    resume = _load_resume(ws, cfg, src) if cfg.resume else None
    if cfg.resume and resume is None:
        raise WorkspaceError(f"Nothing to resume in {ws.root}: checkpoints/{LAST}.pt is missing; fine-tune "
                             "without --resume.")
    for line in src.notes:
        yield Log("info", line)
    data = workspace_images(ws, src.record)
    feature_net = None
    if cfg.probe_samples > 0 or cfg.weights().perceptual > 0:
        ctx.wait_for_main("feature-net")  # rank 0 trains and caches a missing one; the others then read it
        found = yield from prepare_feature_net(data, cancel)
        feature_net = found[0] if found else None
        ctx.main_reached("feature-net")
    loss = cfg.loss or src.record.get("loss") or dense.get("loss") or "bce"
    torch.manual_seed(cfg.seed)
    tuner = Finetuner(src.G, src.D, teacher, data.images, cfg.settings(), cfg.weights(), loss, device,
                      perceptual_net=feature_net, step=int(resume["step"]) if resume else 0,
                      keep_zeros=src.weight_pruned, labels=data.labels)
    if tuner.gan.adversarial > 0 and not tuner.pure and cfg.lr > 1e-3:
        yield Log("warning", f"The GAN term is on with lr {cfg.lr:g}, a rate meant for distillation alone; "
                             "if the losses jump about, use --lr 2e-4.")
    if cfg.weights().perceptual > 0 and tuner.weights.perceptual == 0:
        yield Log("warning", "No feature classifier for these data; the perceptual term is off.")
    keeper = BestKeeper()
    if resume is not None:
        _restore(tuner, resume, cfg, keeper, ws)
        yield Log("info", f"Resuming fine-tuning from step {tuner.step}.")
    probe = FidProbe(feature_net, data.images, src.G.latent_dim, cfg.probe_samples, cfg.seed, device) \
        if feature_net is not None and cfg.probe_samples > 0 and ctx.is_main else None
    z_fixed = grid_inputs(src.G, GRID_SIZE, cfg.seed).to(device)
    if ctx.is_main:
        yield Samples("finetune", tuner.step, sample_grid(teacher.to(device), z_fixed), label="teacher")
        ws.update_stage("finetune", status="running", total_steps=cfg.steps, step=tuner.step,
                        distill=cfg.distill, weights=vars(cfg.weights()), student=src.kind)
    status = "done"
    try:
        status = yield from _loop(cfg, ws, cancel, tuner, src, probe, keeper, z_fixed)
    finally:
        tuner.close()
    if ctx.is_main:
        yield from _finish(cfg, ws, tuner, src, probe, keeper, z_fixed, status)


def _load_resume(ws: Workspace, cfg: FinetuneConfig, src: StudentSource) -> dict | None:
    path = ws.checkpoint_path(LAST)
    if not path.exists():
        path = ws.checkpoint_path(CHECKPOINT)  # a workspace fine-tuned before the best-step probe
    if not path.exists():
        return None
    resume = ws.load_checkpoint(path)
    if "optim" not in resume:
        raise WorkspaceError(f"{path} has no optimizer state; fine-tune without --resume.")
    if resume.get("pruning") != src.record.get("pruning") or resume.get("student") != src.student \
            or not (ws.stage("finetune") or {}).get("checkpoint"):
        raise WorkspaceError(f"{path} was fine-tuned from an earlier pruning or another student; fine-tune "
                             "without --resume.")
    was = (resume.get("finetune") or {}).get("discriminator", "pruned")
    if was != src.d_kind:
        raise WorkspaceError(f"{path} was fine-tuned against the '{was}' discriminator; resume with "
                             f"--discriminator {was}, or fine-tune without --resume.")
    src.G.load_state_dict(resume["generator"])
    src.D.load_state_dict(resume["discriminator"])
    return resume


def _restore(tuner: Finetuner, resume: dict, cfg: FinetuneConfig, keeper: BestKeeper, ws: Workspace) -> None:
    try:
        tuner.optG.load_state_dict(resume["optim"]["g"])
    except ValueError:  # other distillation terms, so other adapters: G's optimizer starts afresh
        pass
    tuner.optD.load_state_dict(resume["optim"]["d"])
    apply_hyperparameters(tuner.optG, cfg.train_config())
    apply_hyperparameters(tuner.optD, cfg.train_config())
    tuner.load_resume_state(resume)
    if tuner.ema is not None and resume.get("ema"):
        tuner.ema.load_state_dict(resume["ema"])
    best = resume.get("best") or {}
    kept = ws.checkpoint_path(CHECKPOINT)
    if best.get("probe_fid") is not None and kept.exists():  # the earlier run's best stays a candidate
        ckpt = ws.load_checkpoint(kept)
        keeper.step, keeper.fid, keeper.history = best["step"], best["probe_fid"], list(best.get("probes", []))
        keeper.states = {"G": ckpt["generator"], "D": ckpt["discriminator"]}
        if ckpt.get("ema"):
            keeper.states["ema"] = ckpt["ema"]


def _probe(tuner: Finetuner, probe: FidProbe | None, keeper: BestKeeper) -> Iterator[Event]:
    if probe is None:
        return
    fid = probe(tuner.ema or tuner.G)
    kept = keeper.offer(tuner.step, fid, {"G": tuner.G, "D": tuner.D, "ema": tuner.ema})
    yield Log("info", f"Probe at step {tuner.step}: FID {fid:.2f} on {probe.n} held-out latents"
                      + (" (best so far)." if kept else f" (best stays step {keeper.step}, {keeper.fid:.2f})."))


def _loop(cfg, ws, cancel, tuner: Finetuner, src: StudentSource, probe, keeper, z_fixed):
    meter = EtaMeter(cfg.steps, start_step=tuner.step)
    ctx = tuner.ctx
    while tuner.step < cfg.steps:
        if cancel.cancelled and not ctx.distributed:
            return "cancelled"
        t0 = time.perf_counter()
        tuner.set_progress(tuner.step / cfg.steps)
        stop, values = ctx.agree(cancel.cancelled, tuner.train_step())  # every process stops at the same step
        values["samples_per_s"] = cfg.batch_size / max(1e-9, time.perf_counter() - t0)
        rate, eta = meter.update(tuner.step)
        yield Metrics("finetune", tuner.step, values)
        yield Progress("finetune", tuner.step, cfg.steps, rate=rate, eta_s=eta)
        if ctx.is_main and (tuner.step % cfg.sample_every == 0 or tuner.step == cfg.steps):
            yield Samples("finetune", tuner.step, sample_grid(tuner.ema or tuner.G, z_fixed), label="student")
        if ctx.is_main and cfg.probe_every and tuner.step % cfg.probe_every == 0 and tuner.step < cfg.steps:
            yield from _probe(tuner, probe, keeper)
        if ctx.is_main and tuner.step % cfg.checkpoint_every == 0 and tuner.step < cfg.steps:
            yield Artifact("finetune", "checkpoint", _save_last(cfg, ws, tuner, src, keeper), {"step": tuner.step})
        if stop:
            cancel.cancel()  # every process stops here, and so does whatever would follow in this one
            return "cancelled"
    return "done"


def _fields(cfg: FinetuneConfig, src: StudentSource, tuner: Finetuner) -> dict:
    return {"data": src.record.get("data", {}), "seed": cfg.seed, "loss": tuner.loss,
            "pruning": src.record.get("pruning"), "student": src.student,
            "finetune": {"distill": cfg.distill, "weights": vars(tuner.weights), "discriminator": src.d_kind,
                         "adversarial": tuner.gan.adversarial, "lr_schedule": cfg.lr_schedule}}


def _save_last(cfg, ws: Workspace, tuner: Finetuner, src: StudentSource, keeper: BestKeeper) -> str:
    """The resume state of the step just taken (optimizers, RNG, adapters, the best probe so far)."""
    best = {"step": keeper.step, "probe_fid": keeper.fid if keeper.step is not None else None,
            "probes": keeper.history}
    path = save_gan(ws, LAST, tuner.G, tuner.D, ema=tuner.ema, optimizers=(tuner.optG, tuner.optD),
                    step=tuner.step, best=best, **tuner.resume_state(), **_fields(cfg, src, tuner))
    ws.update_stage("finetune", resume_checkpoint=path, step=tuner.step)
    return path


def _finish(cfg, ws: Workspace, tuner: Finetuner, src: StudentSource, probe, keeper: BestKeeper, z_fixed,
            status: str) -> Iterator[Event]:
    last_step = tuner.step
    if probe is not None and last_step not in {h["step"] for h in keeper.history}:
        yield from _probe(tuner, probe, keeper)
    _save_last(cfg, ws, tuner, src, keeper)
    kept_step, fid = last_step, None
    if keeper.step is not None:
        keeper.restore({"G": tuner.G, "D": tuner.D, "ema": tuner.ema})  # the best step's weights, adapters dropped
        kept_step, fid = keeper.step, round(keeper.fid, 4)
    ws.mark_stale(*stages.out_of_date_after("finetune"))  # ONNX of the model before this; before finetuned.pt changes
    path = save_gan(ws, CHECKPOINT, tuner.G, tuner.D, ema=tuner.ema, step=kept_step, last_step=last_step,
                    probe_fid=fid, probes=keeper.history, **_fields(cfg, src, tuner))
    ws.update_stage("finetune", checkpoint=path, step=last_step, kept_step=kept_step, probe_fid=fid)
    yield Artifact("finetune", "checkpoint", path, {"step": kept_step, "probe_fid": fid})
    grid = sample_grid(tuner.ema or tuner.G, z_fixed)
    save_png(ws.samples_dir / "finetune.png", grid)
    yield Samples("finetune", kept_step, grid, label="student")
    yield Artifact("finetune", "samples", ws.rel(ws.samples_dir / "finetune.png"))
    ws.update_stage("finetune", step=last_step)
    kept = f"kept step {kept_step} (probe FID {fid:.2f})" if fid is not None else f"kept the last step {kept_step}"
    if status == "cancelled":
        yield Log("warning", f"Fine-tuning cancelled at step {last_step}; {kept} in {path}; resume with --resume.")
    else:
        yield Log("info", f"Fine-tuning finished at step {last_step}; {kept} in {path}.")
