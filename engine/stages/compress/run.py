"""The compress stage: prune the dense G to each size the search picks, distil it from the teacher for its share of
the time budget, keep its best probed step, and save the smallest candidate that keeps quality.

On P processes (--nproc-per-node, torchrun) each round of the search tries P sizes at once, one per process
(engine.stages.compress.crew); with one process it tries one at a time. When the search has settled, the process that
trained the winner trains it on for the rest of the budget, and every process whose last candidate was smaller (or
any, when nothing kept quality yet) but missed the budget trains that one on too: if it gets within the budget, it
wins. Quality is the fine-tune probe's
FID on held-out latents, against the teacher's on the same latents. A stopped search keeps its best result so far.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator

import torch

from engine.devices import pick_device
from engine.distill.probe import FidProbe
from engine.errors import ConfigError
from engine.events import CancelToken, Event, Log, Metrics, Progress, Samples
from engine.grids import sample_grid
from engine.inputs import load_teacher, workspace_images
from engine.latents import fixed_latents
from engine.metrics.feature_cache import prepare_feature_net
from engine.models import TakesLatents
from engine.prune.sensitivity import DEFAULT_AMOUNTS, model_macs, scan
from engine.stage_runner import recorded
from engine.stages.compress.config import CompressConfig
from engine.stages.compress.crew import Crew
from engine.stages.compress.elastic import ELASTIC_SHARE, SEARCH_SHARE, extract_to_workspace, run_elastic
from engine.stages.compress.results import Winner, finish
from engine.stages.compress.search import Candidate, Search
from engine.stages.compress.trial import STAGE, Trial, candidate_values, latency_ms, train, try_candidate
from engine.workspace import Workspace

WAIT_S = 0.5


class Context:
    """What every try shares: teacher, data, probe, sensitivity rows, deadline, the processes of the run."""

    def __init__(self, cfg: CompressConfig, ws: Workspace, cancel: CancelToken, started: float) -> None:
        self.cfg, self.ws, self.cancel, self.started = cfg, ws, cancel, started
        self.crew = Crew(cancel)
        # Saving, the dense model's latency and the tables take a few seconds after the last step: keep them inside.
        self.deadline = started + cfg.time_budget * 60 * 0.97 - 3
        device, self.device_note = pick_device(cfg.device)
        self.device = self.crew.team.device(device)  # each process of a CUDA run its own GPU
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
        self.budget_fid = math.nan  # the elastic search's FID limit (the teacher's, or the noise floor's, + rise)
        self.elastic_steps = 0
        self.rows: list[dict] = []

    def seconds_left(self) -> float:
        return self.deadline - time.perf_counter()

    def progress(self, message: str) -> Progress:
        total = int(self.cfg.time_budget * 60)
        done = min(total, int(time.perf_counter() - self.started))
        return Progress(STAGE, done, total, message=message, eta_s=max(0.0, self.seconds_left()))


class Held:
    """This process's trials that may still matter: the winner so far (if it trained it) and its last round's."""

    def __init__(self) -> None:
        self.winner: Trial | None = None
        self.last: Trial | None = None

    def keep_only(self, *keep: Trial | None) -> None:
        for t in {id(t): t for t in (self.winner, self.last) if t is not None}.values():
            if not any(t is k for k in keep):
                t.tuner.close()


@recorded("compress")
def run_compress(cfg: CompressConfig, ws: Workspace, cancel: CancelToken) -> Iterator[Event]:
    cfg.validate()
    if cfg.extract:
        yield from extract_to_workspace(cfg, ws)
        return
    ctx = Context(cfg, ws, cancel, time.perf_counter())
    if ctx.device_note:
        yield Log("info", ctx.device_note)
    elastic = cfg.search == "elastic"
    if elastic and ctx.crew.size > 1:
        elastic = False
        if ctx.crew.is_main:
            yield Log("info", f"The elastic search runs on one process; the {ctx.crew.size} processes search by "
                              "trials (--search trials).")
    yield from _prepare(ctx)
    if ctx.crew.is_main:
        ws.update_stage(STAGE, status="running", max_fid_rise=cfg.max_fid_rise, time_budget=cfg.time_budget,
                        processes=ctx.crew.size, search="elastic" if elastic else "trials")
    if elastic:
        candidates, winner = yield from run_elastic(ctx)
        yield from finish(ctx, candidates, winner, "cancelled" if ctx.crew.stopping() else "done",
                          {"search": "elastic", "budget_fid": round(ctx.budget_fid, 4),
                           "elastic_steps": ctx.elastic_steps, "elastic_checkpoint": "checkpoints/elastic.pt",
                           "split": {"elastic": ELASTIC_SHARE, "search_at_most": SEARCH_SHARE}})
        return
    held, candidates = Held(), []
    try:
        best = yield from _search(ctx, held, candidates)
        best = yield from _polish(ctx, held, candidates, best)
        winner = _gather_winner(ctx, held, best)
    finally:
        held.keep_only()  # the feature taps of every fine-tuner still open
    if ctx.crew.is_main:
        yield from finish(ctx, candidates, winner, "cancelled" if ctx.crew.stopping() else "done",
                          {"search": "trials"})


def _prepare(ctx: Context) -> Iterator[Event]:
    """The feature net and the teacher's probe FID (the quality yardstick), then the sensitivity scan."""
    cfg, crew = ctx.cfg, ctx.crew
    crew.team.wait_for_main("compress-feature-net", ctx.cancel)  # rank 0 trains and caches a missing one first
    found = yield from prepare_feature_net(ctx.data, ctx.cancel)
    crew.team.main_reached("compress-feature-net")
    if not found:
        raise ConfigError(f"compress needs a feature net to measure FID for {ctx.data.name}, and there is none; "
                          "use a labelled data set or a folder of at least a few hundred images.")
    ctx.net = found[0]
    ctx.probe = FidProbe(ctx.net, ctx.data.images, ctx.teacher.latent_dim, cfg.probe_samples, cfg.seed,
                         torch.device("cpu"))
    # Rank 0 alone measures the teacher and scans (the others wait on the store, not in a timed collective), and
    # sends the results: one yardstick, and the same per-layer amounts for every process's pruning.
    crew.team.wait_for_main("compress-ready", ctx.cancel)
    if crew.is_main:
        ctx.teacher_fid = ctx.probe(ctx.teacher)
        if cfg.allocation == "sensitivity":
            for item in scan(ctx.teacher, cfg.method, DEFAULT_AMOUNTS, ctx.z, cancel=ctx.cancel):
                if isinstance(item, dict):
                    ctx.rows.append(item)
                else:
                    yield ctx.progress(f"sensitivity scan: {item.message}")
        crew.team.main_reached("compress-ready")
    ctx.teacher_fid, ctx.rows = crew.plan((ctx.teacher_fid, ctx.rows))
    yield Log("info", f"Teacher: probe FID {ctx.teacher_fid:.2f} on {ctx.probe.n} held-out latents; the budget is "
                      f"{ctx.teacher_fid * (1 + cfg.max_fid_rise):.2f} (+{cfg.max_fid_rise:.0%}).")
    yield Samples(STAGE, 0, sample_grid(ctx.teacher, ctx.z), label="teacher")


def _search(ctx: Context, held: Held, candidates: list[Candidate]) -> Iterator[Event]:
    """Rounds of up to one try per process until the search settles, the time runs out or a stop. Returns the
    winner so far (the smallest candidate that kept quality), or None."""
    cfg, crew = ctx.cfg, ctx.crew
    search = Search(goal=(1 / cfg.target_macs) if cfg.target_macs else None)
    best: Candidate | None = None
    for round_no in itertools.count(1):
        # rank 0 decides (its clock, its view of a stop); every process follows the same plan
        plan = None
        if crew.is_main and not crew.stopping() and ctx.seconds_left() > 5:
            sizes = search.next_round(crew.size)
            plan = (sizes, search.seconds_for_next(ctx.seconds_left(), crew.size)) if sizes else None
        plan = crew.plan(plan)
        if plan is None:
            return best
        sizes, seconds = plan
        if crew.is_main and crew.size > 1:
            yield Log("info", f"Round {round_no}: trying {', '.join(f'{r:g}x' for r in sizes)} at once on "
                              f"{len(sizes)} of {crew.size} processes, {seconds / 60:.1f} min each.")
        mine = sizes[crew.rank] if crew.rank < len(sizes) else None
        held.keep_only(held.winner)
        held.last = (yield from try_candidate(ctx, mine, seconds, round_no)) if mine is not None else None
        if mine is None:
            yield from _wait(ctx, time.perf_counter() + seconds, "waiting for the round's other processes")
        found = [c for c in crew.share(held.last.candidate if held.last else None) if c is not None]
        search.record_round([(c.reduction, c.feasible) for c in found])
        candidates += found
        yield from _report(ctx, found, len(candidates))
        new_best = _smallest_feasible([best, *found])
        if new_best is not best:
            best = new_best
            mine_won = held.last is not None and held.last.key == (best.round, best.process)
            held.keep_only(held.last)
            held.winner = held.last if mine_won else None


def _report(ctx: Context, found: list[Candidate], count: int) -> Iterator[Event]:
    for i, c in enumerate(found):
        yield Metrics(STAGE, count - len(found) + i + 1, candidate_values(c))
        verdict = "keeps quality" if c.feasible else "loses quality"
        who = f" (process {c.process})" if ctx.crew.size > 1 else ""
        yield Log("info", f"{c.reduction:g}x{who}: best probe FID {c.probe_fid:.2f} at step {c.kept_step} "
                          f"({c.fid_rise:+.1%} vs the teacher) after {c.steps} steps: {verdict}.")


def _smallest_feasible(candidates: list[Candidate | None]) -> Candidate | None:
    feasible = [c for c in candidates if c is not None and c.feasible]
    return min(feasible, key=lambda c: (c.macs, c.probe_fid, c.round, c.process)) if feasible else None


def _key(c: Candidate | None) -> tuple[int, int] | None:
    return None if c is None else (c.round, c.process)


def _polish(ctx: Context, held: Held, candidates: list[Candidate], best: Candidate | None) -> Iterator[Event]:
    """The rest of the budget: the winner trains on (its best probed step may only get better), and every process
    whose last candidate was smaller than the winner (or any, with no winner yet) but missed the budget trains that
    one on: if it gets within the budget, it wins. Returns the winner after it."""
    crew = ctx.crew
    # rank 0 decides for all (a stop seen by one process only would leave the others waiting for it below)
    seconds = crew.plan(0.0 if not crew.is_main or crew.stopping() else ctx.seconds_left())
    if seconds <= 5:
        return best
    job, last = held.winner, held.last
    if job is None and last is not None and not last.candidate.feasible \
            and (best is None or last.candidate.reduction > best.reduction):
        job = last
    held.keep_only(held.winner, job)
    if crew.is_main:
        yield Log("info", (f"Search settled on {best.reduction:g}x; training it" if best else
                           "No size kept quality yet; training the last tries") + f" {seconds / 60:.1f} more minutes"
                          + (" (and on the other processes the smaller tries that missed)." if crew.size > 1 and best
                             else "."))
    until = time.perf_counter() + seconds
    if job is None:
        yield from _wait(ctx, until, "waiting while other processes train on")
    else:
        t0 = time.perf_counter()
        yield from train(ctx, job, until, f"{job.candidate.reduction:g}x (training on)")
        job.candidate.seconds = round(job.candidate.seconds + time.perf_counter() - t0, 1)
        job.candidate.latency_ms = latency_ms(job.tuner.G)
        if job is not held.winner:
            job.candidate.note += "; trained on after the search settled"
    updated = {_key(c): c for c in crew.share(job.candidate if job else None) if c is not None}
    candidates[:] = [updated.get(_key(c), c) for c in candidates]
    for c in updated.values():  # the studio's table replaces the row of the same round and process
        yield Metrics(STAGE, 1 + [_key(x) for x in candidates].index(_key(c)), candidate_values(c))
        yield Log("info", f"{c.reduction:g}x after training on: best probe FID {c.probe_fid:.2f} "
                          f"({c.fid_rise:+.1%}) after {c.steps} steps: "
                          f"{'keeps quality' if c.feasible else 'loses quality'}.")
    new_best = _smallest_feasible([*updated.values(), updated.get(_key(best), best)])
    if job is not None and _key(new_best) == job.key:
        held.winner = job
    elif _key(new_best) != _key(best):
        held.winner = None  # another process's candidate overtook this process's winner
    return new_best


def _gather_winner(ctx: Context, held: Held, best: Candidate | None) -> Winner | None:
    """The winner on rank 0, whichever process trained it (its weights travel; rank 0 rebuilds its sizes)."""
    crew = ctx.crew
    if best is None:
        return None
    if best.process == 0:
        return Winner.from_trial(held.winner) if crew.is_main else None
    parcel = crew.hand(Winner.parcel(held.winner) if crew.rank == best.process else None, best.process)
    return Winner.rebuilt(ctx, best, parcel) if crew.is_main else None


def _wait(ctx: Context, until: float, message: str) -> Iterator[Event]:
    """A process without a candidate this round sleeps until the others finish theirs (or a stop)."""
    while time.perf_counter() < until and not ctx.crew.stopping():
        time.sleep(WAIT_S)
        yield ctx.progress(message)
