"""What a compress search leaves in the workspace (rank 0 alone writes): compress.json/.csv with every candidate,
and the winner as checkpoints/pruned.pt + checkpoints/finetuned.pt with the manifest entries the prune and
fine-tune stages write, so evaluate and export take it as they would a hand-made one.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch.nn as nn

from engine import stages
from engine.checkpoints import save_gan
from engine.events import Artifact, Event, Log, Samples
from engine.grids import sample_grid
from engine.images import save_png
from engine.prune import methods
from engine.stages.compress.search import Candidate, pareto
from engine.stages.compress.trial import STAGE, Trial, distill_weights, latency_ms, student
from engine.workspace import atomic_write_json, atomic_write_text

if TYPE_CHECKING:
    from engine.stages.compress.run import Context


@dataclass
class Winner:
    """The search's winner as rank 0 saves it, whichever process trained it."""

    candidate: Candidate
    G: nn.Module  # at its best probed step
    D: nn.Module
    pruned: dict  # G and D right after pruning
    amounts: dict
    probes: list[dict]  # every probe taken: {"step", "fid"}

    @classmethod
    def from_trial(cls, trial: Trial) -> Winner:
        return cls(trial.candidate, trial.tuner.G, trial.tuner.D, trial.pruned_state, trial.amounts,
                   trial.keeper.history)

    @staticmethod
    def parcel(trial: Trial) -> dict:
        """What another process sends rank 0: the best step's weights and the probes (the sizes rank 0 rebuilds)."""
        return {"states": trial.keeper.states, "probes": trial.keeper.history}

    @classmethod
    def rebuilt(cls, ctx: Context, candidate: Candidate, parcel: dict) -> Winner:
        G, D, amounts, _ = student(ctx, candidate.reduction)  # the same pruning the other process did
        pruned = {"G": _frozen_copy(G), "D": _frozen_copy(D)}
        G.load_state_dict(parcel["states"]["G"])
        if "D" in parcel["states"]:
            D.load_state_dict(parcel["states"]["D"])
        return cls(candidate, G, D, pruned, amounts, parcel["probes"])


def _frozen_copy(m: nn.Module) -> nn.Module:
    return copy.deepcopy(m).eval()


def finish(ctx: Context, candidates: list[Candidate], winner: Winner | None, status: str,
           extra: dict | None = None) -> Iterator[Event]:
    ws, cfg = ctx.ws, ctx.cfg
    if winner is not None:  # timed again beside the dense model, on the same idle process: the speed-up compares
        winner.candidate.latency_ms = latency_ms(winner.G)  # like with like (tries are timed while others train)
        for c in candidates:
            if (c.round, c.process) == (winner.candidate.round, winner.candidate.process):
                c.latency_ms = winner.candidate.latency_ms
    summary = {"status": status, "teacher_probe_fid": round(ctx.teacher_fid, 4), "max_fid_rise": cfg.max_fid_rise,
               "target_macs": cfg.target_macs, "time_budget_min": cfg.time_budget, "dense_macs": ctx.dense_macs,
               "dense_params": sum(p.numel() for p in ctx.teacher.parameters()),
               "dense_latency_ms": latency_ms(ctx.teacher), "probe_samples": ctx.probe.n,
               "processes": ctx.crew.size, "rounds": max((c.round for c in candidates), default=0),
               "seconds": round(time.perf_counter() - ctx.started, 1),
               "candidates": [c.row() for c in candidates], "pareto": [c.reduction for c in pareto(candidates)],
               "best": winner.candidate.row() if winner else None, **(extra or {})}
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


def _save(ctx: Context, winner: Winner) -> Iterator[Event]:
    """pruned.pt and finetuned.pt as the prune and fine-tune stages write them, so every later stage reads them."""
    ws, cfg, c = ctx.ws, ctx.cfg, winner.candidate
    record = {"method": cfg.method, "criterion": methods.get(cfg.method).criterion, "schedule": "compress", "rounds": 1,
              "scope": "layer", "target": "g", "pruned": ["d", "g"] if cfg.discriminator == "match" else ["g"],
              "amount": None, "target_macs": round(1 / c.reduction, 6), "amounts": winner.amounts,
              "macs_before": {"g": ctx.dense_macs}, "macs_after": {"g": c.macs},
              "params_before": {"g": sum(p.numel() for p in ctx.teacher.parameters())}, "params_after": {"g": c.params},
              "by": "compress", "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    common = {"data": ctx.dense.get("data", {}), "seed": cfg.seed, "loss": ctx.loss, "pruning": record}
    pruned = save_gan(ws, "pruned", winner.pruned["G"], winner.pruned["D"], step=0, teacher="checkpoints/dense.pt",
                      **common)
    finetuned = save_gan(ws, "finetuned", winner.G.eval(), winner.D.eval(), step=c.kept_step, last_step=c.steps,
                         probe_fid=c.probe_fid, probes=winner.probes, student=None,
                         finetune={"distill": 1.0, "weights": vars(distill_weights(cfg)), "discriminator":
                                   cfg.discriminator, "adversarial": cfg.adversarial,
                                   "lr_schedule": cfg.lr_schedule, "by": "compress"}, **common)
    ws.append_record("pruning", record)
    ws.mark_stale(*stages.out_of_date_after(STAGE))
    ws.update_stage("prune", status="done", checkpoint=pruned, method=cfg.method, amount=None, target="g",
                    by="compress")
    ws.update_stage("finetune", status="done", checkpoint=finetuned, step=c.steps, kept_step=c.kept_step,
                    probe_fid=c.probe_fid, by="compress")
    grid = sample_grid(winner.G.cpu(), ctx.z)
    save_png(ws.samples_dir / "compress.png", grid)
    yield Samples(STAGE, c.steps, grid, label="compressed")
    yield Artifact(STAGE, "checkpoint", finetuned, {"reduction": c.reduction, "probe_fid": c.probe_fid})


def _csv(candidates: list[Candidate]) -> str:
    cols = ["reduction", "macs", "params", "widths", "latency_ms", "probe_fid", "fid_rise", "feasible", "steps",
            "kept_step", "seconds", "round", "process", "note"]
    lines = [",".join(cols)]
    for c in candidates:
        row = c.row()
        lines.append(",".join('"' + " ".join(map(str, row[k])) + '"' if isinstance(row[k], list)
                              else f'"{row[k]}"' if isinstance(row[k], str) else str(row[k]) for k in cols))
    return "\n".join(lines) + "\n"
