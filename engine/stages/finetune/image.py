"""The fine-tune stage's path for image-to-image models: the pruned student learns from the data (adversarial +
λ·L1 to the ground truth, as in training) and from the dense teacher: L1 to the teacher's output for the same input
(weighted like the ground-truth L1) and, optionally, its hidden maps through learned 1x1 adapters, as for noise GANs.
The stage's recipe switches apply: --adversarial 0 (the default) drops D and the GAN term, --lr-schedule cosine
decays the rate; on superres x4 that beat the pix2pix recipe by 0.55 dB (bench/superres.py).

The step kept is the one with the best PSNR on a validation slice of the TRAINING images (the test set stays
unseen until evaluate), probed every `probe_every` steps.

On several processes (engine.distributed) G and D run in DDP, each process takes its share of every batch of pairs
and the adapters' gradients are averaged; rank 0 alone probes, previews and writes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine import stages
from engine.checkpoints import save_gan
from engine.data.image_pairs import PREVIEW, PairSource, preview
from engine.devices import pick_device
from engine.distill.probe import BestKeeper
from engine.distill.terms import FeatureAdapters, FeatureTap, feature_loss
from engine.distill.trainer import hidden_layer_names
from engine.distributed import current
from engine.distributed.batches import check_whole_set_splits
from engine.distributed.replicas import replicate
from engine.ema import frozen_copy
from engine.errors import ConfigError, TrainingDiverged, WorkspaceError
from engine.events import Artifact, CancelToken, EtaMeter, Event, Log, Metrics, Progress, Samples
from engine.gan_step import BatchSampler, zero_masks
from engine.images import save_png
from engine.inputs import workspace_config, workspace_pairs
from engine.metrics.quality import psnr
from engine.models import discriminator_from_checkpoint, generator_from_checkpoint
from engine.optim import make_optimizer
from engine.pix2pix_step import Pix2PixStep
from engine.prune import methods as prune_methods
from engine.workspace import Workspace

VALIDATION = 256  # training images held aside from the batches' view only for choosing the step kept


@torch.no_grad()
def _maps_width(model: nn.Module, names: list[str]) -> dict[str, int]:
    tap = FeatureTap(model, names)
    was = model.training
    try:
        model.eval()
        model(model.example_input(2))
        return {n: tap.out[n].shape[1] for n in names}  # read before close(): a closed tap holds no maps
    finally:
        model.train(was)
        tap.close()


class ImageFinetuner:
    """One step = a PatchGAN step + a G step with λ·L1 to the target, λ·w_out·L1 to the teacher, w_feat·adapters.

    The unpaired task has no target (`src.has_targets` False): the teacher's translation takes the target's place
    (its L1 weighted by the cycle λ), D still sees real B, and with `back` (the dense B → A generator) and
    cfg.cycle > 0 the student's translation must also come back to its input through it."""

    def __init__(self, G: nn.Module, D: nn.Module, teacher: nn.Module, src: PairSource, cfg, l1: float,
                 loss: str, device: torch.device, keep_zeros: bool = False, back: nn.Module | None = None) -> None:
        self.G, self.D, self.src, self.device, self.step = G.to(device), D.to(device), src, device, 0
        self.teacher = frozen_copy(teacher).to(device)
        self.back = frozen_copy(back).to(device) if back is not None and cfg.cycle > 0 else None
        self.w_cycle = cfg.cycle
        self.rows = "input → output → target" if src.has_targets else "input → output → teacher's output"
        w = cfg.weights()
        self.w_out, self.w_feat = l1 * w.output, w.features
        self.adapters, self.taps = None, []
        if self.w_feat > 0:
            names = hidden_layer_names(G, self.teacher)
            ws, wt = _maps_width(G, names), _maps_width(self.teacher, names)
            self.adapters = FeatureAdapters({n: (ws[n], wt[n]) for n in names}).to(device)
            self.taps = [FeatureTap(G, names), FeatureTap(self.teacher, names)]
        tc = cfg.train_config()
        adapter_params = list(self.adapters.parameters()) if self.adapters is not None else []
        optG, optD = make_optimizer(list(G.parameters()) + adapter_params, tc), make_optimizer(D.parameters(), tc)
        self.ctx = current()  # replicate() swaps BatchNorm modules in place; the taps hook convs, which stay
        self.gan = Pix2PixStep(G, D, optG, optD, loss, l1 if src.has_targets else 0.0,
                               zero_masks(G) if keep_zeros else None,
                               zero_masks(D) if keep_zeros else None, adversarial=cfg.adversarial,
                               replicas=replicate(G, D, self.ctx, device), shared_params=adapter_params)
        # the fine-tune stage's schedule: "cosine" decays every rate to 0 at the last step
        self.total, self.cosine = cfg.steps, cfg.lr_schedule == "cosine"
        self.base_lr = [[g["lr"] for g in o.param_groups] for o in (optG, optD)]
        n_val = min(VALIDATION, max(1, len(src.train_idx) // 10))
        self.val_idx, self.train_idx = src.train_idx[:n_val], src.train_idx[n_val:] if len(src.train_idx) > n_val \
            else src.train_idx
        self.val = [t.to(device) for t in src.batch(self.val_idx, torch.Generator().manual_seed(cfg.seed + 31))]
        if not src.has_targets:  # no ground truth: the kept step is the one closest to the teacher
            with torch.no_grad():
                self.val[1] = self.teacher(self.val[0])
        self.sampler = BatchSampler(len(self.train_idx), cfg.batch_size, cfg.seed + 1)
        self.noise = torch.Generator().manual_seed(cfg.seed + 1)

    def close(self) -> None:
        for tap in self.taps:
            tap.close()

    def _terms(self, inputs: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            target = self.teacher(inputs)
        terms = {"distill_output": self.w_out * F.l1_loss(fake, target)} if self.w_out > 0 else {}
        if self.back is not None:
            terms["cycle"] = self.w_cycle * F.l1_loss(self.back(fake), inputs)
        if self.adapters is not None:
            terms["distill_features"] = self.w_feat * feature_loss(self.adapters, self.taps[0].out, self.taps[1].out)
        return terms

    def train_step(self) -> dict[str, float]:
        self.G.train(), self.D.train()
        if self.cosine:
            scale = 0.5 * (1 + math.cos(math.pi * min(self.step, self.total) / max(1, self.total)))
            for opt, rates in zip((self.gan.optG, self.gan.optD), self.base_lr):
                for group, lr in zip(opt.param_groups, rates):
                    group["lr"] = lr * scale
        idx = self.train_idx[self.sampler.indices(self.step)]  # the global batch; this process takes its share
        inputs, targets = (t.to(self.device) for t in self.src.batch(idx, self.noise, self.ctx.shard))
        values = self.gan(inputs, targets, self._terms)
        self.step += 1
        return values

    @torch.no_grad()
    def validation_psnr(self) -> float:
        was = self.G.training
        self.G.eval()
        try:
            return psnr(self.G(self.val[0]).cpu(), self.val[1].cpu())
        finally:
            self.G.train(was)


def run_finetune_images(cfg, ws: Workspace, dense: dict, teacher: nn.Module, cancel: CancelToken
                        ) -> Iterator[Event]:
    if cfg.student_widths or cfg.resume:
        raise ConfigError("Image-to-image models fine-tune the pruned model from its start; drop "
                          f"{'--student-widths' if cfg.student_widths else '--resume'}.")
    if not ws.checkpoint_path("pruned").exists():
        raise WorkspaceError(f"No pruned model in {ws.root} (checkpoints/pruned.pt is missing); run 'gan-prune "
                             "prune' first.")
    ctx = current()
    device = ctx.device(pick_device(cfg.device)[0])  # the stage said already where it trains
    pruned = ws.load_checkpoint("pruned")
    G = generator_from_checkpoint(pruned).train()
    D = (discriminator_from_checkpoint(dense) if cfg.discriminator == "teacher"
         else discriminator_from_checkpoint(pruned)).train()
    src = workspace_pairs(ws, dense)
    torch.manual_seed(cfg.seed)  # the adapters' start: the same on every process
    train = workspace_config(ws).train
    tuner = ImageFinetuner(G, D, teacher, src, cfg, train.l1 if src.has_targets else train.cycle,
                           cfg.loss or dense.get("loss") or "bce", device, keep_zeros=_weight_pruned(pruned),
                           back=_back_generator(dense, cfg))
    check_whole_set_splits(len(tuner.train_idx), cfg.batch_size, ctx)
    shown = [t.to(device) for t in src.fixed("test", PREVIEW, cfg.seed)]
    if not src.has_targets:  # the previews' third column: the teacher's translation, the student's only target
        with torch.no_grad():
            shown[1] = tuner.teacher(shown[0])
    if ctx.is_main:
        yield Samples("finetune", 0, preview(tuner.teacher, *shown), label=f"teacher: {tuner.rows}")
        ws.update_stage("finetune", status="running", total_steps=cfg.steps, step=0, distill=cfg.distill,
                        weights=vars(cfg.weights()), student="pruned")
    keeper = BestKeeper()
    try:
        status = yield from _loop(cfg, tuner, keeper, shown, cancel)
    finally:
        tuner.close()
    if not ctx.is_main:
        return
    if cfg.probe_every and tuner.step and (not keeper.history or keeper.history[-1]["step"] != tuner.step):
        _probe(tuner, keeper)  # a cancelled run: its last step is a candidate too
    yield from _finish(ws, tuner, keeper, pruned, dense, cfg, shown, status)


def _loop(cfg, tuner: ImageFinetuner, keeper: BestKeeper, shown: list, cancel: CancelToken) -> Iterator[Event]:
    """Returns "done" or "cancelled". Several processes agree each step on a stop and on the averaged losses;
    rank 0 alone previews and probes (the others never read the probes: rank 0 writes what is kept)."""
    meter, ctx = EtaMeter(cfg.steps), tuner.ctx
    while tuner.step < cfg.steps:
        if cancel.cancelled and not ctx.distributed:
            return "cancelled"
        t0 = time.perf_counter()
        stop, values = ctx.agree(cancel.cancelled, tuner.train_step())
        if not math.isfinite(values["loss_g"]):  # averaged: every process refuses at the same step
            raise TrainingDiverged(f"Fine-tuning diverged at step {tuner.step}; lower the learning rate.")
        values["samples_per_s"] = cfg.batch_size / max(1e-9, time.perf_counter() - t0)
        rate, eta = meter.update(tuner.step)
        yield Metrics("finetune", tuner.step, values)
        yield Progress("finetune", tuner.step, cfg.steps, rate=rate, eta_s=eta)
        if ctx.is_main and (tuner.step % cfg.sample_every == 0 or tuner.step == cfg.steps):
            yield Samples("finetune", tuner.step, preview(tuner.G, *shown), label=f"student: {tuner.rows}")
        if ctx.is_main and cfg.probe_every and (tuner.step % cfg.probe_every == 0 or tuner.step == cfg.steps):
            _probe(tuner, keeper)
        if stop:
            cancel.cancel()  # every process stops here, and so does whatever would follow in this one
            return "cancelled"
    return "done"


def _back_generator(dense: dict, cfg) -> nn.Module | None:
    """The dense CycleGAN's B → A generator when the cycle term is on (refused when the checkpoint has none)."""
    if not cfg.cycle:
        return None
    if not isinstance(dense.get("generator_ba"), dict):
        raise ConfigError("--cycle needs the B → A generator of an unpaired (CycleGAN) model; this model has none: "
                          "use --cycle 0.")
    from engine.models import build_generator

    back = build_generator(dense["arch_ba"]["generator"], "arch_ba.generator")
    back.load_state_dict(dense["generator_ba"])
    return back.eval()


def _weight_pruned(pruned: dict) -> bool:
    """The student lost single weights (its zeros must stay zero while it trains)."""
    method = prune_methods.find(str((pruned.get("pruning") or {}).get("method", "")))
    return method is not None and method.family is prune_methods.WEIGHTS


def _probe(tuner: ImageFinetuner, keeper: BestKeeper) -> None:
    keeper.offer(tuner.step, -tuner.validation_psnr(), {"G": tuner.G, "D": tuner.D})  # lowest wins: -PSNR


def _finish(ws, tuner: ImageFinetuner, keeper: BestKeeper, pruned: dict, dense: dict, cfg, shown, status: str):
    last = tuner.step
    kept = last
    if keeper.step is not None:
        keeper.restore({"G": tuner.G, "D": tuner.D})
        kept = keeper.step
    ws.mark_stale(*stages.out_of_date_after("finetune"))
    val = round(-keeper.fid, 3) if keeper.step is not None else None
    path = save_gan(ws, "finetuned", tuner.G, tuner.D, step=kept, last_step=last, data=dense.get("data", {}),
                    seed=cfg.seed, loss=tuner.gan.loss, pruning=pruned.get("pruning"), student="pruned",
                    task=dense.get("task"), validation_psnr=val,
                    probes=[{"step": h["step"], "psnr": -h["fid"]} for h in keeper.history],
                    finetune={"distill": cfg.distill, "weights": vars(cfg.weights()),
                              "discriminator": cfg.discriminator})
    ws.update_stage("finetune", checkpoint=path, step=last, kept_step=kept, validation_psnr=val)
    yield Artifact("finetune", "checkpoint", path, {"step": kept, "validation_psnr": val})
    grid = preview(tuner.G, *shown)
    save_png(ws.samples_dir / "finetune.png", grid)
    yield Samples("finetune", kept, grid, label=f"student: {tuner.rows}")
    yield Artifact("finetune", "samples", ws.rel(ws.samples_dir / "finetune.png"))
    ws.update_stage("finetune", step=last)  # the stage runner records how it ended
    yield Log("warning" if status == "cancelled" else "info",
              f"Fine-tuning {'cancelled' if status == 'cancelled' else 'finished'} at step {last}; kept step {kept}"
              + (f" (validation PSNR {val:.2f} dB)" if val is not None else "") + f" in {path}.")
