"""The compress stage: prune the dense G to each size the search picks, distil it from the teacher for its share of
the time budget, keep its best probed step, and save the smallest candidate that keeps quality.

It writes what the prune and fine-tune stages write (checkpoints/pruned.pt, checkpoints/finetuned.pt, their manifest
entries), so evaluate and export take the result as they would a hand-made one, plus compress.json/.csv with every
candidate. Quality is the fine-tune probe's FID on held-out latents, against the teacher's on the same latents.
A cancelled search keeps its best result so far.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from engine import stages
from engine.checkpoints import save_gan
from engine.compress.config import DISCRIMINATORS, CompressConfig  # noqa: F401  (re-exported)
from engine.compress.search import Candidate, Search, pareto
from engine.devices import pick_device
from engine.distill import DistillWeights
from engine.distill.probe import BestKeeper, FidProbe
from engine.distill.students import channel_share_lost, matched_discriminator
from engine.distill.trainer import Finetuner, StudentSettings
from engine.errors import ConfigError
from engine.events import Artifact, CancelToken, Event, Log, Metrics, Progress, Samples
from engine.grids import sample_grid
from engine.images import save_png
from engine.inputs import load_teacher, workspace_images
from engine.latents import fixed_latents
from engine.metrics.feature_cache import prepare_feature_net
from engine.models import TakesLatents, discriminator_from_checkpoint
from engine.prune import methods
from engine.prune.layers import pick_layers
from engine.prune.sensitivity import DEFAULT_AMOUNTS, allocate, model_macs, scan
from engine.prune.structured import prune_channels
from engine.stage_runner import recorded
from engine.workspace import Workspace, atomic_write_json, atomic_write_text

STAGE = "compress"


@dataclass
class Trial:
    """A candidate with what it takes to keep training it and to save it."""

    candidate: Candidate
    tuner: Finetuner
    keeper: BestKeeper
    pruned_state: dict  # G and D right after pruning: checkpoints/pruned.pt
    amounts: dict = field(default_factory=dict)


class _Context:
    """What every try shares: teacher, data, probe, sensitivity rows, deadline."""

    def __init__(self, cfg: CompressConfig, ws: Workspace, cancel: CancelToken, started: float) -> None:
        self.cfg, self.ws, self.cancel, self.started = cfg, ws, cancel, started
        # Saving, the dense model's latency and the tables take a few seconds after the last step: keep them inside.
        self.deadline = started + cfg.time_budget * 60 * 0.97 - 3
        self.device, self.device_note = pick_device(cfg.device)
        self.dense, teacher = load_teacher(ws)
        if not isinstance(teacher, TakesLatents):  # its search scores FID on held-out latents
            raise ConfigError("compress searches noise generators; for an image-to-image model use 'gan-prune prune "
                              "--target-macs R' and 'gan-prune finetune'.")
        self.teacher = teacher.eval()
        self.data = workspace_images(ws, self.dense)
        self.loss = self.dense.get("loss") or "bce"
        self.z = fixed_latents(64, teacher.latent_dim, cfg.seed)
        self.dense_macs = model_macs(teacher)
        self.net = self.probe = None
        self.teacher_fid = math.nan
        self.rows: list[dict] = []

    def seconds_left(self) -> float:
        return self.deadline - time.perf_counter()

    def progress(self, message: str) -> Progress:
        total = int(self.cfg.time_budget * 60)
        done = min(total, int(time.perf_counter() - self.started))
        return Progress(STAGE, done, total, message=message, eta_s=max(0.0, self.seconds_left()))


@recorded("compress")
def run_compress(cfg: CompressConfig, ws: Workspace, cancel: CancelToken) -> Iterator[Event]:
    cfg.validate()
    ctx = _Context(cfg, ws, cancel, time.perf_counter())
    if ctx.device_note:
        yield Log("info", ctx.device_note)
    yield from _prepare(ctx)
    ws.update_stage(STAGE, status="running", max_fid_rise=cfg.max_fid_rise, time_budget=cfg.time_budget)
    search = Search(goal=(1 / cfg.target_macs) if cfg.target_macs else None)
    candidates: list[Candidate] = []
    winner: Trial | None = None
    while not cancel.cancelled and (reduction := search.next()) is not None and ctx.seconds_left() > 5:
        trial = yield from _try(ctx, reduction, search.seconds_for_next(ctx.seconds_left()))
        candidates.append(trial.candidate)
        search.record(reduction, trial.candidate.feasible)
        yield Metrics(STAGE, len(candidates), candidate_values(trial.candidate))
        if trial.candidate.feasible and (winner is None or trial.candidate.macs < winner.candidate.macs):
            winner, trial = trial, winner  # the old winner (if any) is the one to close now
        if trial is not None:
            trial.tuner.close()
    # The winner's feature taps stay open until its polish ends: closed, they would hand the feature term stale maps
    # (the last sample grid's) and it would train without that term, or fail on the grid's other batch size.
    if winner is not None and not cancel.cancelled and ctx.seconds_left() > 5:
        yield from _polish(ctx, winner)
    if winner is not None:
        winner.tuner.close()
    yield from _finish(ctx, candidates, winner, "cancelled" if cancel.cancelled else "done")


def _prepare(ctx: _Context) -> Iterator[Event]:
    """The feature net and the teacher's probe FID (the quality yardstick), then the sensitivity scan."""
    cfg = ctx.cfg
    found = yield from prepare_feature_net(ctx.data, ctx.cancel)
    if not found:
        raise ConfigError(f"compress needs a feature net to measure FID for {ctx.data.name}, and there is none; "
                          "use a labelled data set or a folder of at least a few hundred images.")
    ctx.net = found[0]
    ctx.probe = FidProbe(ctx.net, ctx.data.images, ctx.teacher.latent_dim, cfg.probe_samples, cfg.seed,
                         torch.device("cpu"))
    ctx.teacher_fid = ctx.probe(ctx.teacher)
    yield Log("info", f"Teacher: probe FID {ctx.teacher_fid:.2f} on {ctx.probe.n} held-out latents; the budget is "
                      f"{ctx.teacher_fid * (1 + cfg.max_fid_rise):.2f} (+{cfg.max_fid_rise:.0%}).")
    yield Samples(STAGE, 0, sample_grid(ctx.teacher, ctx.z), label="teacher")
    if cfg.allocation != "sensitivity":
        return
    for item in scan(ctx.teacher, cfg.method, DEFAULT_AMOUNTS, ctx.z, cancel=ctx.cancel):
        if isinstance(item, dict):
            ctx.rows.append(item)
        else:
            yield ctx.progress(f"sensitivity scan: {item.message}")


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
    return ({"g": chosen} if isinstance(chosen, dict) else {"g": chosen}), how


def _try(ctx: _Context, reduction: float, seconds: float) -> Iterator[Event]:
    """Prune to `reduction`, distil for `seconds`, and score the best probed step. Returns a Trial."""
    cfg, t0 = ctx.cfg, time.perf_counter()
    yield ctx.progress(f"pruning to {reduction:g}x fewer MACs")
    G = copy.deepcopy(ctx.teacher).train()
    amounts, how = prune_to(G, reduction, ctx.rows, cfg.method, cfg.allocation)
    share = channel_share_lost(G, ctx.teacher)
    D = matched_discriminator(ctx.dense, share) if cfg.discriminator == "match" \
        else discriminator_from_checkpoint(ctx.dense)
    pruned_state = {"G": copy.deepcopy(G).eval(), "D": copy.deepcopy(D).eval()}
    torch.manual_seed(cfg.seed)
    tuner = Finetuner(G, D, ctx.teacher, ctx.data.images, student_settings(cfg), distill_weights(cfg),
                      ctx.loss, ctx.device, perceptual_net=ctx.net, labels=ctx.data.labels)
    cand = Candidate(reduction, macs=model_macs(G), params=sum(p.numel() for p in G.parameters()),
                     widths=list(G.spec().get("widths") or []), note=how)
    trial = Trial(cand, tuner, BestKeeper(), pruned_state, amounts)
    yield Log("info", f"Trying {reduction:g}x fewer MACs ({ctx.dense_macs / max(1, cand.macs):.1f}x measured, "
                      f"widths {cand.widths}, {how}) for {seconds / 60:.1f} min.")
    yield from _train(ctx, trial, t0 + seconds, f"{reduction:g}x")
    cand.latency_ms = latency_ms(G)
    cand.seconds = round(time.perf_counter() - t0, 1)
    verdict = "keeps quality" if cand.feasible else "loses quality"
    yield Log("info", f"{reduction:g}x: best probe FID {cand.probe_fid:.2f} at step {cand.kept_step} "
                      f"({cand.fid_rise:+.1%} vs the teacher) after {cand.steps} steps: {verdict}.")
    return trial


def student_settings(cfg: CompressConfig) -> StudentSettings:
    return StudentSettings(lr=cfg.lr, batch_size=cfg.batch_size, seed=cfg.seed, adversarial=cfg.adversarial,
                           schedule=cfg.lr_schedule)


def distill_weights(cfg: CompressConfig) -> DistillWeights:
    return DistillWeights(cfg.distill_output, cfg.distill_features, cfg.distill_perceptual)


def _train(ctx: _Context, trial: Trial, until: float, label: str) -> Iterator[Event]:
    """Distil until the clock says stop, probing about six times; leaves the best probed weights in place."""
    tuner, keeper, cand = trial.tuner, trial.keeper, trial.candidate
    start = time.perf_counter()
    every = max(3.0, (until - start) / 6)
    next_probe, last_report = start + every, 0.0
    while time.perf_counter() < until and not ctx.cancel.cancelled:
        tuner.set_progress((time.perf_counter() - start) / max(1e-9, until - start))  # the clock is the schedule
        values = tuner.train_step()
        now = time.perf_counter()
        if now - last_report > 0.5:
            last_report = now
            yield Metrics(STAGE, tuner.step, values)
            yield ctx.progress(f"{label}: step {tuner.step}")
        if now >= next_probe:
            next_probe = now + every
            yield from _probe(ctx, trial)
    if not keeper.history or keeper.history[-1]["step"] != tuner.step:
        yield from _probe(ctx, trial)
    keeper.restore({"G": tuner.G, "D": tuner.D})
    cand.steps, cand.kept_step = tuner.step, keeper.step
    cand.probe_fid = round(keeper.fid, 4)
    cand.fid_rise = keeper.fid / ctx.teacher_fid - 1
    cand.feasible = cand.fid_rise <= ctx.cfg.max_fid_rise
    yield Samples(STAGE, tuner.step, sample_grid(tuner.G, ctx.z.to(ctx.device)), label=f"student {label}")


def _probe(ctx: _Context, trial: Trial) -> Iterator[Event]:
    tuner = trial.tuner
    fid = ctx.probe(tuner.G.cpu())
    tuner.G.to(ctx.device)
    trial.keeper.offer(tuner.step, fid, {"G": tuner.G, "D": tuner.D})
    yield Metrics(STAGE, tuner.step, {"probe_fid": fid, "probe_fid_rise": fid / ctx.teacher_fid - 1})


def _polish(ctx: _Context, winner: Trial) -> Iterator[Event]:
    """The rest of the budget trains the winner longer; its best probed step may only get better."""
    label = f"{winner.candidate.reduction:g}x (polishing)"
    yield Log("info", f"Search settled on {winner.candidate.reduction:g}x; training it {ctx.seconds_left() / 60:.1f} "
                      "more minutes.")
    t0 = time.perf_counter()
    yield from _train(ctx, winner, ctx.deadline, label)
    winner.candidate.seconds = round(winner.candidate.seconds + time.perf_counter() - t0, 1)
    winner.tuner.close()


def candidate_values(c: Candidate) -> dict[str, float]:
    """A finished candidate as a Metrics event's numbers (the studio's table reads them; "candidate" marks them)."""
    return {"candidate": 1.0, "reduction": c.reduction, "macs": float(c.macs), "params": float(c.params),
            "probe_fid": c.probe_fid, "fid_rise": c.fid_rise, "feasible": float(c.feasible),
            "latency_ms": c.latency_ms, "steps": float(c.steps), "seconds": c.seconds}


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


def _finish(ctx: _Context, candidates: list[Candidate], winner: Trial | None, status: str) -> Iterator[Event]:
    ws, cfg = ctx.ws, ctx.cfg
    summary = {"status": status, "teacher_probe_fid": round(ctx.teacher_fid, 4), "max_fid_rise": cfg.max_fid_rise,
               "target_macs": cfg.target_macs, "time_budget_min": cfg.time_budget, "dense_macs": ctx.dense_macs,
               "dense_params": sum(p.numel() for p in ctx.teacher.parameters()),
               "dense_latency_ms": latency_ms(ctx.teacher), "probe_samples": ctx.probe.n,
               "seconds": round(time.perf_counter() - ctx.started, 1),
               "candidates": [c.row() for c in candidates], "pareto": [c.reduction for c in pareto(candidates)],
               "best": winner.candidate.row() if winner else None}
    atomic_write_json(ws.root / "compress.json", summary)
    atomic_write_text(ws.root / "compress.csv", _csv(candidates))
    yield Artifact(STAGE, "table", "compress.json")
    if winner is None:
        ws.update_stage(STAGE, best=None, candidates=len(candidates))
        tried = ", ".join(f"{c.reduction:g}x ({c.fid_rise:+.0%})" for c in candidates) or "none"
        yield Log("warning", f"No candidate kept FID within +{cfg.max_fid_rise:.0%} of the teacher (tried {tried}); "
                             "give a larger --time-budget or --max-fid-rise. Nothing was replaced.")
        return
    yield from _save(ctx, winner)
    ws.update_stage(STAGE, best=winner.candidate.row(), candidates=len(candidates),
                    checkpoint="checkpoints/finetuned.pt")
    c = winner.candidate
    yield Log("info", f"Compressed: {ctx.dense_macs / c.macs:.1f}x fewer MACs, "
                      f"{summary['dense_params'] / c.params:.1f}x fewer params, probe FID {c.probe_fid:.2f} "
                      f"({c.fid_rise:+.1%}); {summary['dense_latency_ms'] / c.latency_ms:.1f}x faster in torch. "
                      "Run 'gan-prune evaluate' for the full protocol and 'gan-prune export' to ship it.")


def _save(ctx: _Context, winner: Trial) -> Iterator[Event]:
    """pruned.pt and finetuned.pt as the prune and fine-tune stages write them, so every later stage reads them."""
    ws, cfg, c = ctx.ws, ctx.cfg, winner.candidate
    G0, D0 = winner.pruned_state["G"], winner.pruned_state["D"]
    record = {"method": cfg.method, "criterion": methods.get(cfg.method).criterion, "schedule": "compress", "rounds": 1,
              "scope": "layer", "target": "g", "pruned": ["d", "g"] if cfg.discriminator == "match" else ["g"],
              "amount": None, "target_macs": round(1 / c.reduction, 6), "amounts": winner.amounts,
              "macs_before": {"g": ctx.dense_macs}, "macs_after": {"g": c.macs},
              "params_before": {"g": sum(p.numel() for p in ctx.teacher.parameters())}, "params_after": {"g": c.params},
              "by": "compress", "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    common = {"data": ctx.dense.get("data", {}), "seed": cfg.seed, "loss": ctx.loss, "pruning": record}
    pruned = save_gan(ws, "pruned", G0, D0, step=0, teacher="checkpoints/dense.pt", **common)
    tuner = winner.tuner
    finetuned = save_gan(ws, "finetuned", tuner.G.eval(), tuner.D.eval(), step=c.kept_step, last_step=c.steps,
                         probe_fid=c.probe_fid, probes=winner.keeper.history, student=None,
                         finetune={"distill": 1.0, "weights": vars(distill_weights(cfg)), "discriminator":
                                   cfg.discriminator, "adversarial": cfg.adversarial,
                                   "lr_schedule": cfg.lr_schedule, "by": "compress"}, **common)
    ws.append_record("pruning", record)
    ws.mark_stale(*stages.out_of_date_after(STAGE))
    ws.update_stage("prune", status="done", checkpoint=pruned, method=cfg.method, amount=None, target="g",
                    by="compress")
    ws.update_stage("finetune", status="done", checkpoint=finetuned, step=c.steps, kept_step=c.kept_step,
                    probe_fid=c.probe_fid, by="compress")
    grid = sample_grid(tuner.G.cpu(), ctx.z)
    save_png(ws.samples_dir / "compress.png", grid)
    yield Samples(STAGE, c.steps, grid, label="compressed")
    yield Artifact(STAGE, "checkpoint", finetuned, {"reduction": c.reduction, "probe_fid": c.probe_fid})


def _csv(candidates: list[Candidate]) -> str:
    cols = ["reduction", "macs", "params", "widths", "latency_ms", "probe_fid", "fid_rise", "feasible", "steps",
            "kept_step", "seconds", "note"]
    lines = [",".join(cols)]
    for c in candidates:
        row = c.row()
        lines.append(",".join('"' + " ".join(map(str, row[k])) + '"' if isinstance(row[k], list)
                              else f'"{row[k]}"' if isinstance(row[k], str) else str(row[k]) for k in cols))
    return "\n".join(lines) + "\n"
