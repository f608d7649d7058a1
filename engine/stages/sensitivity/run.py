"""The sensitivity stage: each prunable G layer pruned alone at each amount, scored by teacher-PSNR on fixed latents
(or the task's own inputs for image-to-image models); written to sensitivity.json and sensitivity.csv."""

from __future__ import annotations

from collections.abc import Iterator

from engine.events import Artifact, CancelToken, Event, Log
from engine.inputs import load_teacher, workspace_pairs
from engine.latents import fixed_latents
from engine.metrics.complexity import summarize
from engine.prune.sensitivity import PSNR_CAP, scan, write_results
from engine.stage_runner import recorded
from engine.stages.sensitivity.config import SensitivityConfig
from engine.tasks import IMAGE, model_kind
from engine.workspace import Workspace


@recorded("sensitivity")
def run_sensitivity(cfg: SensitivityConfig, ws: Workspace, cancel: CancelToken) -> Iterator[Event]:
    cfg.validate()
    dense, G = load_teacher(ws)
    if model_kind(dense) == IMAGE:  # image-to-image: the task's own inputs stand in for latents
        z, _ = workspace_pairs(ws, dense).fixed("train", cfg.n_latents, cfg.seed)
    else:
        z = fixed_latents(cfg.n_latents, G.latent_dim, cfg.seed)
    rows = []
    for item in scan(G, cfg.method, tuple(cfg.amounts), z, cfg.layers, cfg.round_to, cancel):
        if isinstance(item, dict):
            rows.append(item)
        else:
            yield item
    result = {"method": cfg.method, "amounts": list(cfg.amounts), "metric": "teacher_psnr_db",
              "psnr_cap": PSNR_CAP, "dense": summarize(G), "rows": rows}
    for name in write_results(ws, result):
        yield Artifact("sensitivity", "sensitivity", name)
    worst = min(rows, key=lambda r: r["psnr"]) if rows else None
    if worst:
        yield Log("info", f"Most sensitive: {worst['layer']} at {worst['amount']:.0%} ({worst['psnr']:.1f} dB).")
