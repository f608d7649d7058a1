"""One candidate of the compress search: the dense G pruned to a size, distilled from the teacher until a deadline,
probed about six times, and left at its best probed step.

Each process of a multi-process compress trains its own candidate alone (engine.distributed.alone): the
fine-tuner must not wrap it in DDP or average anything with the other processes, which train other sizes.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
import torch.nn as nn

from engine.distill import DistillWeights
from engine.distill.probe import BestKeeper
from engine.distill.students import channel_share_lost, matched_discriminator
from engine.distill.trainer import Finetuner, StudentSettings
from engine.distributed import alone
from engine.events import Event, Log, Metrics, Samples
from engine.grids import sample_grid
from engine.models import discriminator_from_checkpoint
from engine.prune.layers import pick_layers
from engine.prune.sensitivity import allocate, model_macs
from engine.prune.structured import prune_channels
from engine.stages.compress.config import CompressConfig
from engine.stages.compress.search import Candidate

if TYPE_CHECKING:
    from engine.stages.compress.run import Context

STAGE = "compress"


@dataclass
class Trial:
    """A candidate with what it takes to keep training it and to save it."""

    candidate: Candidate
    tuner: Finetuner
    keeper: BestKeeper
    pruned_state: dict  # G and D right after pruning: checkpoints/pruned.pt
    amounts: dict = field(default_factory=dict)

    @property
    def key(self) -> tuple[int, int]:
        return self.candidate.round, self.candidate.process


def prune_to(G: nn.Module, reduction: float, rows: list[dict], method: str,
             allocation: str = "sensitivity") -> tuple[dict, str]:
    """Remove channels of G (in place) until its MACs are at most 1/reduction of now: per-layer amounts from the
    sensitivity scan when asked and they reach it, else one amount for every layer found by bisection."""
    dense_macs, target = model_macs(G), 1.0 / reduction

    def pruned_copy(amount) -> nn.Module:
        trial = copy.deepcopy(G)
        layers = pick_layers(trial, list(amount), True, "G") if isinstance(amount, dict) else None
        prune_channels(trial, method, amount, layers=layers)
        return trial

    per_layer, info = ({}, {"reached": False}) if allocation == "uniform" else \
        allocate(rows, dense_macs, target, lambda a: model_macs(pruned_copy(a)) if a else dense_macs)
    if info["reached"] and per_layer:
        chosen, how = per_layer, "sensitivity-guided"
    else:
        lo, hi = 0.0, 0.97
        for _ in range(14):  # MACs fall monotonically with the amount; 14 halvings resolve it to ~1e-4
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if model_macs(pruned_copy(mid)) <= target * dense_macs else (mid, hi)
        chosen = math.ceil(hi * 1e4) / 1e4  # rounded up: never back above the budget the bisection met
        how = "uniform" if allocation == "uniform" else "uniform (the scan's amounts cannot reach it)"
    layers = pick_layers(G, list(chosen), True, "G") if isinstance(chosen, dict) else None
    prune_channels(G, method, chosen, layers=layers)
    return {"g": chosen}, how


def student(ctx: Context, reduction: float) -> tuple[nn.Module, nn.Module, dict, str]:
    """The teacher pruned to `reduction` and its D, as every process builds it for the same rows (so rank 0 can
    rebuild another process's winner and load its weights)."""
    cfg = ctx.cfg
    G = copy.deepcopy(ctx.teacher).train()
    amounts, how = prune_to(G, reduction, ctx.rows, cfg.method, cfg.allocation)
    D = matched_discriminator(ctx.dense, channel_share_lost(G, ctx.teacher)) if cfg.discriminator == "match" \
        else discriminator_from_checkpoint(ctx.dense)
    return G, D, amounts, how


def student_settings(cfg: CompressConfig) -> StudentSettings:
    return StudentSettings(lr=cfg.lr, batch_size=cfg.batch_size, seed=cfg.seed, adversarial=cfg.adversarial,
                           schedule=cfg.lr_schedule)


def distill_weights(cfg: CompressConfig) -> DistillWeights:
    return DistillWeights(cfg.distill_output, cfg.distill_features, cfg.distill_perceptual)


def try_candidate(ctx: Context, reduction: float, seconds: float, round_no: int = 1) -> Iterator[Event]:
    """Prune to `reduction`, distil for `seconds`, and score the best probed step. Returns a Trial."""
    cfg, t0 = ctx.cfg, time.perf_counter()
    yield ctx.progress(f"pruning to {reduction:g}x fewer MACs")
    G, D, amounts, how = student(ctx, reduction)
    pruned_state = {"G": copy.deepcopy(G).eval(), "D": copy.deepcopy(D).eval()}
    torch.manual_seed(cfg.seed)
    with alone():  # this process's own candidate: no DDP with the others
        tuner = Finetuner(G, D, ctx.teacher, ctx.data.images, student_settings(cfg), distill_weights(cfg),
                          ctx.loss, ctx.device, perceptual_net=ctx.net, labels=ctx.data.labels)
    cand = Candidate(reduction, macs=model_macs(G), params=sum(p.numel() for p in G.parameters()),
                     widths=list(G.spec().get("widths") or []), note=how, round=round_no, process=ctx.crew.rank)
    trial = Trial(cand, tuner, BestKeeper(), pruned_state, amounts)
    yield Log("info", f"Trying {reduction:g}x fewer MACs ({ctx.dense_macs / max(1, cand.macs):.1f}x measured, "
                      f"widths {cand.widths}, {how}) for {seconds / 60:.1f} min.")
    yield from train(ctx, trial, t0 + seconds, f"{reduction:g}x")
    cand.latency_ms = latency_ms(G)
    cand.seconds = round(time.perf_counter() - t0, 1)
    return trial


def train(ctx: Context, trial: Trial, until: float, label: str) -> Iterator[Event]:
    """Distil until the clock says stop, probing about six times (less often when a probe would take more than a
    quarter of the time: at 5,000 samples on a busy CPU it can); leaves the best probed weights in place."""
    tuner, keeper, cand = trial.tuner, trial.keeper, trial.candidate
    start = time.perf_counter()
    every = max(3.0, (until - start) / 6)
    next_probe, last_report = start + every, 0.0
    while time.perf_counter() < until and not ctx.crew.stopping():
        tuner.set_progress((time.perf_counter() - start) / max(1e-9, until - start))  # the clock is the schedule
        with alone():
            values = tuner.train_step()
        now = time.perf_counter()
        if now - last_report > 0.5:
            last_report = now
            yield Metrics(STAGE, tuner.step, values)
            yield ctx.progress(f"{label}: step {tuner.step}")
        if now >= next_probe:
            yield from _probe(ctx, trial)
            took = time.perf_counter() - now
            next_probe = time.perf_counter() + max(every, 3 * took)
    if not keeper.history or keeper.history[-1]["step"] != tuner.step:
        yield from _probe(ctx, trial)
    keeper.restore({"G": tuner.G, "D": tuner.D})
    cand.steps, cand.kept_step = tuner.step, keeper.step
    cand.probe_fid = round(keeper.fid, 4)
    cand.fid_rise = keeper.fid / ctx.teacher_fid - 1
    cand.feasible = cand.fid_rise <= ctx.cfg.max_fid_rise
    yield Samples(STAGE, tuner.step, sample_grid(tuner.G, ctx.z.to(ctx.device)), label=f"student {label}")


def _probe(ctx: Context, trial: Trial) -> Iterator[Event]:
    tuner = trial.tuner
    fid = ctx.probe(tuner.G.cpu())
    tuner.G.to(ctx.device)
    trial.keeper.offer(tuner.step, fid, {"G": tuner.G, "D": tuner.D})
    yield Metrics(STAGE, tuner.step, {"probe_fid": fid, "probe_fid_rise": fid / ctx.teacher_fid - 1})


def candidate_values(c: Candidate) -> dict[str, float]:
    """A finished candidate as a Metrics event's numbers (the studio's table reads them; "candidate" marks them)."""
    return {"candidate": 1.0, "reduction": c.reduction, "macs": float(c.macs), "params": float(c.params),
            "probe_fid": c.probe_fid, "fid_rise": c.fid_rise, "feasible": float(c.feasible),
            "latency_ms": c.latency_ms, "steps": float(c.steps), "seconds": c.seconds, "round": float(c.round),
            "process": float(c.process)}


def latency_ms(G: nn.Module, batch: int = 64, repeats: int = 5) -> float:
    """Median torch CPU time per image at `batch`, on the threads torch has now (one in the tests and bench)."""
    G = copy.deepcopy(G).cpu().eval()
    z = torch.randn(batch, G.latent_dim)
    times = []
    with torch.no_grad():
        G(z)
        for _ in range(repeats):
            t = time.perf_counter()
            G(z)
            times.append(time.perf_counter() - t)
    return round(sorted(times)[len(times) // 2] * 1000 / batch, 4)
