"""compress --search elastic: one weight-sharing student of every size, trained once, then sizes scored by the probe
alone (seconds each, no training), and the smallest that keeps quality trained on alone.

The budget, in order: the elastic student (sandwich rule, engine.distill.sandwich), the search over per-group widths
(engine.stages.compress.width_search; BatchNorm re-estimated for each size), the winner's polish (the fine-tune
recipe of the trials). The student is kept as checkpoints/elastic.pt with every size scored, so any size can be
taken later without training (`--extract`). One process: with several, compress searches by trials.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch

from engine import stages
from engine.checkpoints import save_gan
from engine.distill import DistillWeights
from engine.distill.elastic import GRID, ElasticGenerator
from engine.distill.elastic_file import load_elastic, save_elastic, widths_for
from engine.distill.probe import BestKeeper
from engine.distill.sandwich import SandwichSettings, SandwichTrainer
from engine.distill.students import channel_share_lost, matched_discriminator
from engine.distill.trainer import Finetuner
from engine.distributed import alone
from engine.events import Artifact, Event, Log, Metrics, Samples
from engine.grids import sample_grid
from engine.inputs import load_teacher
from engine.models import discriminator_from_checkpoint
from engine.stages.compress.config import CompressConfig
from engine.stages.compress.results import Winner
from engine.stages.compress.search import Candidate
from engine.stages.compress.trial import STAGE, Trial, candidate_values, distill_weights, student_settings, train
from engine.stages.compress.width_search import Steps, WidthSearch
from engine.workspace import Workspace

if TYPE_CHECKING:
    from engine.stages.compress.run import Context

ELASTIC_FILE = "elastic"
# Shares of the time left after the teacher's probe, chosen by measurement on the bundled DCGAN (2 busy cores, one
# torch thread; bench/elastic_split.py, bench/results/compress_elastic_split.json): 300 s of elastic training
# brought 22.5x fewer MACs to probe FID 1.26x the teacher's with no training of its own, and 150 s of polish then to
# 1.09x (13.5x: 1.12x -> 1.06x). The elastic student serves every size, the polish one: half for the first, the
# search up to a tenth (a size scores in ~3-5 s: BatchNorm re-estimate + the 5,000-sample probe), the rest polishes.
ELASTIC_SHARE = 0.5
SEARCH_SHARE = 0.1
# The widths compress trains and searches: a half to an eighth of each group's channels (about 4x to 45x fewer MACs
# on the bundled DCGAN). The dense model already is the 1x answer; leaving the wider sizes out of the sandwich makes
# its largest size a quarter of the dense cost (a sandwich step ~35 % shorter, measured) and puts every step on sizes
# compress can pick.
COMPRESS_GRID = tuple(s for s in GRID if s <= 0.5)
# The search looks for the smallest size whose probe FID before any polish is within the budget x (1 + STRETCH): the
# polish then brings it within the budget (measured above: 1.26x -> 1.09x in 150 s, against a 1.10x budget it is a
# stretch of 0.14). If it misses, the smallest size that kept quality without training is the result.
STRETCH = 0.2
# The polish's safety net: the bold size trains for FIRST_POLISH of the time left; unless it is then within the
# budget x (1 + NEARLY), a larger size within half the stretch trains for the rest (_safety_net). A run with two
# searches sharing 2 busy cores gave the polish 661 steps where the stretch was measured with ~600 in half the time:
# 28.9x polished to +12.6 % and nothing else had kept quality (bench/results/compress_elastic_run1.json).
FIRST_POLISH = 0.5
NEARLY = 0.03


def quality_budget(ctx: Context) -> tuple[float, str]:
    """The highest probe FID that keeps quality, and the sentence that says against what: the teacher's FID, or
    the metric's own noise floor (two halves of the data) when the teacher is already within it."""
    rise = ctx.cfg.max_fid_rise
    floor = ctx.probe.noise_floor(ctx.cfg.seed)
    if math.isnan(floor):
        return ctx.teacher_fid * (1 + rise), (f"Quality budget: probe FID at most {ctx.teacher_fid * (1 + rise):.2f} "
                                              f"(+{rise:.0%} over the teacher; too few probe images to measure the "
                                              "metric's noise floor on two halves of the data).")
    if floor > ctx.teacher_fid:
        return floor * (1 + rise), (f"The teacher's probe FID {ctx.teacher_fid:.2f} is within the metric's own noise "
                                    f"(two halves of the data read {floor:.2f}): the budget is taken against that "
                                    f"floor, {floor * (1 + rise):.2f} (+{rise:.0%}).")
    return ctx.teacher_fid * (1 + rise), (f"Quality budget: probe FID at most {ctx.teacher_fid * (1 + rise):.2f} "
                                          f"(+{rise:.0%} over the teacher; the metric's noise floor, two halves of "
                                          f"the data, is {floor:.2f}).")


def run_elastic(ctx: Context) -> Iterator[Event]:
    """Train, search, polish. Returns (every size scored as a Candidate, the Winner or None)."""
    cfg, start = ctx.cfg, time.perf_counter()
    total = ctx.seconds_left()
    budget_fid, sentence = quality_budget(ctx)
    ctx.budget_fid = budget_fid
    yield Log("info", sentence)
    elastic = ElasticGenerator.from_dense(ctx.teacher, cfg.method)
    yield from _train(ctx, elastic, start + total * ELASTIC_SHARE)
    elastic.model.cpu()
    path = ctx.ws.checkpoint_path(ELASTIC_FILE)
    fields = {"teacher": "checkpoints/dense.pt", "method": cfg.method, "grid": list(COMPRESS_GRID),
              "teacher_probe_fid": ctx.teacher_fid, "budget_fid": budget_fid, "steps": ctx.elastic_steps}
    save_elastic(path, elastic, sizes=[], **fields)
    candidates, bold = yield from _search(ctx, elastic, budget_fid * (1 + STRETCH),
                                          time.perf_counter() + total * SEARCH_SHARE)
    save_elastic(path, elastic, sizes=[_size(elastic, c) for c in candidates], **fields)
    yield Log("info", f"Kept the elastic student as {ctx.ws.rel(path)}: any size can be taken from it without "
                      "training (gan-prune compress --extract --reduction R).")
    safe = min((c for c in candidates if c.feasible), key=lambda c: c.macs, default=None)
    if ctx.crew.stopping():
        return candidates, _unpolished(ctx, elastic, safe)
    if bold is None:
        scored = [c for c in candidates if c.macs < ctx.dense_macs]
        bold = min(scored, key=lambda c: c.fid_rise) if scored else None
        if bold is None:
            return candidates, None
        yield Log("info", f"No size came near the budget without training; polishing the closest, "
                          f"{bold.reduction:g}x.")
    winner = yield from _polish(ctx, elastic, bold, candidates)
    if winner is None and safe is not None and safe is not bold:
        yield Log("info", f"{bold.reduction:g}x missed the budget after its polish; the result is {safe.reduction:g}x, "
                          "which kept quality without training.")
        winner = _unpolished(ctx, elastic, safe)
    return candidates, winner


def _unpolished(ctx: Context, elastic: ElasticGenerator, c: Candidate | None) -> Winner | None:
    """A size that kept quality by the probe alone, taken out as it is (the fallback when the polish missed)."""
    if c is None:
        return None
    G = elastic.extract(dict(zip((g.name for g in elastic.groups), c.widths))).eval()
    D = discriminator_from_checkpoint(ctx.dense)
    c.note = "elastic, not trained further (kept quality without training)"
    return Winner(c, G, D, {"G": _copy(G), "D": _copy(D)}, {"g": c.widths}, [{"step": 0, "fid": c.probe_fid}])


def _train(ctx: Context, elastic: ElasticGenerator, until: float) -> Iterator[Event]:
    cfg = ctx.cfg
    # The hidden-map term is left out here: at 20x fewer MACs it changed FID by 0.4 % and cost 35 % of the step
    # (bench/results/distill_ablation.json, "features off"); the polish uses every term asked for.
    weights = DistillWeights(cfg.distill_output, 0.0, cfg.distill_perceptual)
    D = discriminator_from_checkpoint(ctx.dense) if cfg.adversarial > 0 else None
    settings = SandwichSettings(lr=cfg.lr, batch_size=cfg.batch_size, adversarial=cfg.adversarial,
                                loss=ctx.loss, seed=cfg.seed, grid=COMPRESS_GRID)
    trainer = SandwichTrainer(elastic, settings, weights, ctx.device, ctx.net, D)
    trainer.images = ctx.data.images
    start, last = time.perf_counter(), 0.0
    yield Log("info", f"Training one elastic student for {(until - start) / 60:.1f} min: channel groups "
                      f"{', '.join(f'{g.name} ({g.channels})' for g in elastic.groups)}, each from "
                      f"{min(COMPRESS_GRID):g} to {max(COMPRESS_GRID):g} of its channels; each step the largest, "
                      f"the smallest and {settings.random_subnets} random sizes.")
    try:
        while time.perf_counter() < until and not ctx.crew.stopping():
            trainer.set_progress((time.perf_counter() - start) / max(1e-9, until - start))
            with alone():
                values = trainer.train_step()
            if time.perf_counter() - last > 0.5:
                last = time.perf_counter()
                yield Metrics(STAGE, trainer.step, values)
                yield ctx.progress(f"elastic student: step {trainer.step}")
    finally:
        trainer.close()
    ctx.elastic_steps = trainer.step
    yield Log("info", f"Elastic student: {trainer.step} steps in {time.perf_counter() - start:.0f} s.")


def _search(ctx: Context, elastic: ElasticGenerator, search_fid: float, until: float) -> Iterator[Event]:
    """Score sizes with the probe until the search settles or its time is up. Returns (candidates, the smallest
    within `search_fid` or None); a candidate is feasible when it is within the quality budget itself."""
    cfg, groups = ctx.cfg, elastic.groups

    def widths(steps: Steps) -> dict[str, int]:
        return elastic.widths_at({g.name: COMPRESS_GRID[i] for g, i in zip(groups, steps)})

    goal = int(ctx.dense_macs * cfg.target_macs) if cfg.target_macs else None
    search = WidthSearch(len(groups), len(COMPRESS_GRID), lambda s: elastic.macs(widths(s)), search_fid, goal,
                         lambda: min(until, ctx.deadline) - time.perf_counter() if not ctx.crew.stopping() else 0)
    candidates: list[Candidate] = []
    left = until - time.perf_counter()
    yield Log("info", f"Scoring sizes of the elastic student by the probe alone (up to {left:.0f} s, no training "
                      "per size).")
    gen = search.run()
    try:
        steps = next(gen)
        while True:
            t0 = time.perf_counter()
            w = widths(steps)
            elastic.calibrate(w, seed=cfg.seed)
            fid = ctx.probe(elastic.model)
            c = _candidate(ctx, elastic, w, fid, time.perf_counter() - t0, len(candidates) + 1)
            candidates.append(c)
            yield Metrics(STAGE, len(candidates), candidate_values(c))
            yield Log("info", f"{c.reduction:g}x (widths {c.widths}): probe FID {fid:.2f} ({c.fid_rise:+.1%}) "
                              f"without training: {'keeps quality' if c.feasible else 'loses quality'}.")
            yield ctx.progress(f"search: {len(candidates)} sizes scored")
            steps = gen.send(fid)
    except StopIteration as stop:
        best_steps = stop.value
    if best_steps is None:
        return candidates, None
    best_macs = elastic.macs(widths(best_steps))
    return candidates, next(c for c in candidates if c.macs == best_macs and c.probe_fid <= search_fid)


def _candidate(ctx: Context, elastic: ElasticGenerator, widths: dict[str, int], fid: float, seconds: float,
               number: int) -> Candidate:
    macs = elastic.macs(widths)
    return Candidate(round(ctx.dense_macs / max(1, macs), 2), macs=macs, params=elastic.params(widths),
                     widths=[widths[g.name] for g in elastic.groups], probe_fid=round(fid, 4),
                     fid_rise=fid / ctx.teacher_fid - 1, feasible=fid <= ctx.budget_fid, steps=ctx.elastic_steps,
                     kept_step=ctx.elastic_steps, seconds=round(seconds, 1), note="elastic, scored without training",
                     round=number)


def _size(elastic: ElasticGenerator, c: Candidate) -> dict:
    return {"widths": dict(zip((g.name for g in elastic.groups), c.widths)), "macs": c.macs,
            "probe_fid": c.probe_fid, "feasible": c.feasible}


def _polish(ctx: Context, elastic: ElasticGenerator, bold: Candidate, candidates: list[Candidate]) -> Iterator[Event]:
    """The bold size taken out of the elastic student and distilled alone. With a larger size scored, the bold one
    gets the first half of the time: if it is then within the budget (or nearly) it trains on, else the larger size
    gets the second half (a busy machine gives fewer steps than the stretch assumed; the result degrades to a larger
    size rather than to nothing). Returns the Winner or None."""
    if ctx.seconds_left() < 3:  # no time left to train: the size as the search scored it
        return _unpolished(ctx, elastic, bold) if bold.feasible else None
    larger = _safety_net(ctx, candidates, bold)
    seconds = ctx.seconds_left()
    yield Log("info", f"Search settled on {bold.reduction:g}x (widths {bold.widths}, probe FID {bold.probe_fid:.2f} "
                      f"before training, the budget {ctx.budget_fid:.2f}); training it alone "
                      f"{seconds * (FIRST_POLISH if larger else 1) / 60:.1f} min"
                      + (f", then it or {larger.reduction:g}x the rest." if larger else "."))
    trial = _polish_trial(ctx, elastic, bold)
    try:
        yield from _polish_for(ctx, trial, seconds * (FIRST_POLISH if larger else 1))
        if larger is None or ctx.seconds_left() < 5 or ctx.crew.stopping():
            return Winner.from_trial(trial) if bold.feasible else None
        if bold.probe_fid <= ctx.budget_fid * (1 + NEARLY):
            yield from _polish_for(ctx, trial, ctx.seconds_left())
            return Winner.from_trial(trial) if bold.feasible else None
        yield Log("info", f"{bold.reduction:g}x is not near the budget after half the polish; training "
                          f"{larger.reduction:g}x (probe FID {larger.probe_fid:.2f} before training) for the rest.")
        trial.tuner.close()
        trial = _polish_trial(ctx, elastic, larger)
        yield from _polish_for(ctx, trial, ctx.seconds_left())
        return Winner.from_trial(trial) if larger.feasible else None
    finally:
        trial.tuner.close()


def _safety_net(ctx: Context, candidates: list[Candidate], bold: Candidate) -> Candidate | None:
    """The size to polish if the bold one is not near the budget halfway: the smallest larger one within half the
    stretch, else the larger one with the best probe FID."""
    larger = [c for c in candidates if bold.macs < c.macs < ctx.dense_macs]
    near = [c for c in larger if c.probe_fid <= ctx.budget_fid * (1 + STRETCH / 2)]
    if near:
        return min(near, key=lambda c: c.macs)
    return min(larger, key=lambda c: (c.probe_fid, c.macs), default=None)


def _polish_trial(ctx: Context, elastic: ElasticGenerator, c: Candidate) -> Trial:
    """A size taken out of the elastic student with a fine-tuner; its probe before training counts (the polish can
    only make it better)."""
    cfg = ctx.cfg
    widths = dict(zip((g.name for g in elastic.groups), c.widths))
    G = elastic.extract(widths, calibrate=True).train()
    D = matched_discriminator(ctx.dense, channel_share_lost(G, ctx.teacher)) if cfg.discriminator == "match" \
        else discriminator_from_checkpoint(ctx.dense)
    pruned = {"G": _copy(G), "D": _copy(D)}
    torch.manual_seed(cfg.seed)
    with alone():
        tuner = Finetuner(G, D, ctx.teacher, ctx.data.images, student_settings(cfg), distill_weights(cfg), ctx.loss,
                          ctx.device, perceptual_net=ctx.net, labels=ctx.data.labels)
    keeper = BestKeeper()
    keeper.offer(0, c.probe_fid, {"G": G, "D": D})
    c.note = "elastic, then trained on alone"
    return Trial(c, tuner, keeper, pruned, {"g": widths})


def _polish_for(ctx: Context, trial: Trial, seconds: float) -> Iterator[Event]:
    """One cosine cycle of the fine-tune recipe over `seconds`; the candidate's row is updated."""
    c, t0, before = trial.candidate, time.perf_counter(), trial.candidate.probe_fid
    yield from train(ctx, trial, t0 + seconds, f"{c.reduction:g}x (polish)")
    c.seconds = round(c.seconds + time.perf_counter() - t0, 1)
    c.feasible = c.probe_fid <= ctx.budget_fid
    yield Metrics(STAGE, c.round, candidate_values(c))
    yield Log("info", f"{c.reduction:g}x after {time.perf_counter() - t0:.0f} s of polish: probe FID "
                      f"{c.probe_fid:.2f} ({c.fid_rise:+.1%}, {before:.2f} before) after {c.steps} steps: "
                      f"{'keeps quality' if c.feasible else 'loses quality'}.")
    yield Samples(STAGE, c.steps, sample_grid(trial.tuner.G, ctx.z.to(ctx.device)), label=f"{c.reduction:g}x polished")


def _copy(m: torch.nn.Module) -> torch.nn.Module:
    import copy

    return copy.deepcopy(m).eval()


def extract_to_workspace(cfg: CompressConfig, ws: Workspace) -> Iterator[Event]:
    """--extract: the size asked, taken from checkpoints/elastic.pt without training, saved as the pruned and the
    fine-tuned model (so evaluate and export take it, as after a compress)."""
    reduction = cfg.reduction if cfg.reduction is not None else 1.0 / cfg.target_macs
    dense, teacher = load_teacher(ws)
    t0 = time.perf_counter()
    elastic, data = load_elastic(ws.checkpoint_path(ELASTIC_FILE))
    widths = widths_for(elastic, data, reduction)
    G = elastic.extract(widths).eval()
    macs, dense_macs = elastic.macs(widths), elastic.macs()
    scored = next((s for s in data.get("sizes", []) if dict(s["widths"]) == widths), None)
    how = (f"a size the search scored (probe FID {scored['probe_fid']:.2f})" if scored else
           "the same share of every channel group (a size the search did not score)")
    D = discriminator_from_checkpoint(dense)
    record = {"method": data.get("method", cfg.method), "schedule": "elastic", "scope": "layer", "target": "g",
              "pruned": ["g"], "amount": None, "target_macs": round(macs / dense_macs, 6), "amounts": {"g": widths},
              "macs_before": {"g": dense_macs}, "macs_after": {"g": macs},
              "params_before": {"g": sum(p.numel() for p in teacher.parameters())},
              "params_after": {"g": sum(p.numel() for p in G.parameters())}, "by": "compress --extract",
              "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    common = {"data": dense.get("data", {}), "seed": cfg.seed, "loss": dense.get("loss") or "bce", "pruning": record}
    pruned = save_gan(ws, "pruned", G, D, step=0, teacher="checkpoints/dense.pt", **common)
    finetuned = save_gan(ws, "finetuned", G, D, step=0, last_step=0, student=None,
                         finetune={"by": "compress --extract", "steps": 0}, **common)
    ws.append_record("pruning", record)
    ws.mark_stale(*stages.out_of_date_after(STAGE))
    ws.update_stage("prune", status="done", checkpoint=pruned, method=record["method"], amount=None, target="g",
                    by="compress --extract")
    ws.update_stage("finetune", status="done", checkpoint=finetuned, step=0, by="compress --extract")
    ws.update_stage(STAGE, extracted={"reduction": round(dense_macs / macs, 2), "widths": widths})
    yield Artifact(STAGE, "checkpoint", finetuned, {"reduction": round(dense_macs / macs, 2)})
    yield Log("info", f"Took {dense_macs / macs:.1f}x fewer MACs (widths {list(widths.values())}) from the elastic "
                      f"student in {time.perf_counter() - t0:.1f} s: {how}; saved as {pruned} and {finetuned}, not "
                      "trained further ('gan-prune finetune' trains it on).")
