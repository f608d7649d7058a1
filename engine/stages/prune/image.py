"""The prune stage's path for image-to-image models: channels (torch-pruning's dependency graph keeps the U-Net's
skip concatenations consistent: an encoder channel removed is removed from the decoder conv that reads it too) or
weights, one shot, with --target-macs found by bisection on one amount for every layer."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator

import torch
import torch.nn as nn

from engine import stages
from engine.checkpoints import save_gan
from engine.data.image_pairs import PairSource, preview
from engine.errors import ConfigError
from engine.events import Artifact, CancelToken, Event, Log, Metrics, Progress, Samples
from engine.images import save_png
from engine.inputs import workspace_pairs
from engine.models import discriminator_from_checkpoint
from engine.models.unet import make_pair
from engine.prune import methods
from engine.prune.fidelity import psnr_for_json, teacher_psnr
from engine.prune.layers import prunable_layers, resolve_layers, weight_layers
from engine.prune.sensitivity import model_macs
from engine.prune.structured import prune_channels
from engine.prune.unstructured import make_permanent, prune_weights, sparsity
from engine.stages.prune.config import PruneConfig
from engine.workspace import Workspace

CHECKPOINT = "pruned"


def _widths(model: nn.Module) -> dict[str, dict]:
    layers = weight_layers(model)
    per, _ = sparsity(layers)
    return {n: {"width": int(m.out_channels), "sparsity": round(per[n], 6)} for n, m in layers}


def amount_for_macs(G: nn.Module, method: str, target: float, round_to: int | None) -> float:
    """The one channel amount for every layer that keeps at most `target` of G's MACs (bisection, 12 halvings)."""
    dense, lo, hi = model_macs(G), 0.0, 0.95
    for _ in range(12):
        mid = (lo + hi) / 2
        trial = copy.deepcopy(G)
        prune_channels(trial, method if methods.get(method).scannable else "channel-l1", mid, round_to=round_to)
        lo, hi = (lo, mid) if model_macs(trial) <= target * dense else (mid, hi)
    return round(hi, 4)


def _inputs(src: PairSource, teacher: nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """Fixed task inputs for Taylor scores: G's from the training pairs, D's as (input, teacher output) pairs."""
    inputs, _ = src.fixed("train", 16, seed)
    with torch.no_grad():
        return {"g": inputs, "d": make_pair(inputs, teacher(inputs))}


def prune_networks(cfg: PruneConfig, nets: dict[str, nn.Module], teachers: dict[str, nn.Module],
                   taylor: dict[str, torch.Tensor]) -> tuple[dict[str, float], list[str]]:
    """Prune nets["g"] / nets["d"] in place as cfg says (one shot); returns (amount per network, notes)."""
    if cfg.method == "block" or cfg.schedule != "oneshot":
        raise ConfigError("Image-to-image models prune in one shot with a channel or weight method; use "
                          "--schedule oneshot and fine-tune afterwards with 'gan-prune finetune'.")
    G, D = nets["g"], nets["d"]
    widths_before = {n: m.out_channels for n, m in prunable_layers(G, True)}
    amounts: dict[str, float] = {r: float(cfg.amount) for r in cfg.target}
    notes: list[str] = []
    if cfg.target_macs is not None:
        amounts["g"] = amount_for_macs(G, cfg.method, cfg.target_macs, cfg.round_to)
        notes.append(f"--target-macs {cfg.target_macs}: {amounts['g']:.1%} of every G layer's channels.")
    selected = resolve_layers({r: nets[r] for r in cfg.target}, list(cfg.layers) if cfg.layers else None,
                              cfg.structural)
    for role in cfg.target:
        if cfg.structural:
            notes += prune_channels(nets[role], cfg.method, amounts[role], cfg.scope, cfg.round_to,
                                    selected[role] if cfg.layers else None, teachers[role], taylor[role], cfg.seed)
        else:
            prune_weights(selected[role], cfg.method, amounts[role], cfg.scope, cfg.seed)
    if cfg.structural and cfg.match_d and "d" not in cfg.target:
        lost = 1 - sum(m.out_channels for _, m in prunable_layers(G, True)) / sum(widths_before.values())
        prune_channels(D, cfg.method, lost)
        amounts["d"] = round(lost, 4)
    make_permanent(G)
    make_permanent(D)
    return amounts, notes


def preview_images(cfg: PruneConfig, ws: Workspace, dense: dict, teacher: nn.Module) -> dict[str, nn.Module]:
    """G and D as the stage would prune them, on copies (the studio's preview); nothing is saved."""
    if ws is None:
        raise ConfigError("Previewing the pruning of an image-to-image model needs its project (for its inputs).")
    nets = {"g": copy.deepcopy(teacher).train(), "d": discriminator_from_checkpoint(dense).train()}
    teachers = {"g": teacher.eval(), "d": copy.deepcopy(nets["d"]).eval()}
    prune_networks(cfg, nets, teachers, _inputs(workspace_pairs(ws, dense), teacher, cfg.seed))
    return {r: m.eval() for r, m in nets.items()}


def run_prune_images(cfg: PruneConfig, ws: Workspace, dense: dict, teacher: nn.Module,
                     cancel: CancelToken) -> Iterator[Event]:
    t0 = time.perf_counter()
    src = workspace_pairs(ws, dense)
    nets = {"g": copy.deepcopy(teacher).train(), "d": discriminator_from_checkpoint(dense).train()}
    teachers = {"g": teacher.eval(), "d": copy.deepcopy(nets["d"]).eval()}
    before = {r: {"macs": model_macs(m), "params": sum(p.numel() for p in m.parameters()), "layers": _widths(m)}
              for r, m in nets.items()}
    yield Progress("prune", 0, 1, message=f"{cfg.method} oneshot")
    cancel.raise_if_cancelled()
    amounts, notes = prune_networks(cfg, nets, teachers, _inputs(src, teacher, cfg.seed))
    yield Progress("prune", 1, 1, message="pruned")
    for note in dict.fromkeys(notes):
        yield Log("info" if note.startswith("--target-macs") else "warning", note)
    yield from _save(cfg, ws, dense, src, nets, teachers["g"], before, amounts, time.perf_counter() - t0)


def _save(cfg: PruneConfig, ws: Workspace, dense: dict, src: PairSource, nets: dict, teacher: nn.Module,
          before: dict, amounts: dict, seconds: float) -> Iterator[Event]:
    G, D = nets["g"].eval(), nets["d"].eval()
    test_in, test_out = src.fixed("test", 64, cfg.seed)
    psnr = teacher_psnr(G, teacher, test_in)
    after = {r: {"macs": model_macs(m), "params": sum(p.numel() for p in m.parameters()), "layers": _widths(m),
                 "nonzero": sum(int((p != 0).sum()) for p in m.parameters())} for r, m in nets.items()}
    record = {"method": cfg.method, "criterion": cfg.chosen.criterion,
              "schedule": "oneshot", "rounds": 1, "scope": cfg.scope, "target": cfg.target,
              "pruned": sorted(amounts), "amount": cfg.amount if cfg.target_macs is None else None,
              "target_macs": cfg.target_macs, "amounts": amounts, "round_to": cfg.round_to,
              "layers": {r: {n: {"width_before": before[r]["layers"][n]["width"], "width_after": s["width"],
                                 "sparsity": s["sparsity"]} for n, s in after[r]["layers"].items()}
                         for r in ("g", "d")},
              "params_before": {r: before[r]["params"] for r in ("g", "d")},
              "params_after": {r: after[r]["params"] for r in ("g", "d")},
              "nonzero_params_after": {r: after[r]["nonzero"] for r in ("g", "d")},
              "macs_before": {r: before[r]["macs"] for r in ("g", "d")},
              "macs_after": {r: after[r]["macs"] for r in ("g", "d")},
              "teacher_psnr": psnr_for_json(psnr), "seconds": round(seconds, 2),
              "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    grid = preview(G, test_in, test_out)  # the last use of the model: before anything is written
    # Write last: results of the previous pruning go out of date before it is replaced
    ws.update_stage("prune", status="running", method=cfg.method)
    if "finetune" in ws.mark_stale(*stages.out_of_date_after("prune")):
        yield Log("info", "The earlier fine-tuned model belongs to the previous pruning; run 'gan-prune finetune' "
                          "again.")
    path = save_gan(ws, CHECKPOINT, G, D, step=0, data=dense.get("data", {}), seed=cfg.seed,
                    loss=dense.get("loss", "bce"), teacher="checkpoints/dense.pt", pruning=record,
                    task=dense.get("task"))
    ws.append_record("pruning", record)
    ws.update_stage("prune", checkpoint=path, method=cfg.method, amount=record["amount"],
                    target=cfg.target)
    macs_ratio = after["g"]["macs"] / max(1, before["g"]["macs"])
    yield Metrics("prune", 0, {"params_ratio": after["g"]["params"] / max(1, before["g"]["params"]),
                               "macs_ratio": macs_ratio, "nonzero_ratio": after["g"]["nonzero"]
                               / max(1, before["g"]["params"]), "teacher_psnr": min(psnr, 999.0)})
    save_png(ws.samples_dir / "pruned.png", grid)
    yield Samples("prune", 0, grid, label="pruned: input → output → target")
    yield Artifact("prune", "checkpoint", path, {"record": record})
    yield Log("info", f"G: MACs {macs_ratio:.1%} of dense, teacher-PSNR {record['teacher_psnr']} dB on "
                      f"{len(test_in)} held-out inputs; checkpoint {path}.")
