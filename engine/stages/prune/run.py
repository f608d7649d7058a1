"""The pruning stage: dense checkpoint in, `checkpoints/pruned.pt` and a manifest record out.

Pruning always starts from the dense (trained) model, so running it again replaces the previous pruned model.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Iterator

import torch
import torch.nn as nn

from engine import stages
from engine.checkpoints import save_gan
from engine.devices import pick_device
from engine.distill import DistillWeights
from engine.distill.probe import cached_feature_net
from engine.distill.trainer import Finetuner, StudentSettings
from engine.errors import ConfigError
from engine.events import Artifact, Cancelled, CancelToken, Event, Log, Metrics, Progress, Samples
from engine.grids import sample_grid
from engine.images import save_png
from engine.inputs import load_teacher, workspace_images
from engine.latents import fixed_latents
from engine.models import (
    build_discriminator,
    build_generator,
    discriminator_from_checkpoint,
)
from engine.prune.blocks import remove_blocks
from engine.prune.fidelity import psnr_for_json, teacher_psnr
from engine.prune.layers import pick_layers, prunable_layers, resolve_layers, weight_layers
from engine.prune.schedules import agp_amounts, relative_step, rewind, snapshot
from engine.prune.sensitivity import DEFAULT_AMOUNTS, allocate, model_macs, scan, write_results
from engine.prune.structured import prune_channels
from engine.prune.unstructured import make_permanent, prune_weights, sparsity
from engine.stage_runner import recorded
from engine.stages.prune.config import PruneConfig
from engine.tasks import DEFAULT_TASK, IMAGE, model_kind
from engine.workspace import Workspace

CHECKPOINT = "pruned"
Layers = list[tuple[str, nn.Module]]


def measure(model: nn.Module) -> dict[str, int]:
    """Params, nonzero params and MACs per sample (file sizes are the evaluate stage's job: zipping is slow)."""
    return {"params": sum(p.numel() for p in model.parameters()),
            "nonzero_params": sum(int((p != 0).sum()) for p in model.parameters()), "macs": model_macs(model)}


def layer_stats(model: nn.Module) -> dict[str, dict]:
    layers = weight_layers(model)
    per, _ = sparsity(layers)
    return {n: {"width": int(getattr(m, "out_features", None) or m.out_channels), "sparsity": round(per[n], 6)}
            for n, m in layers}


def channel_fraction_removed(before: dict[str, dict], model: nn.Module) -> float:
    """Share of hidden channels/neurons gone (the output layer is never pruned, so it is left out)."""
    names = [n for n, _ in prunable_layers(model, structural=True)]
    after = layer_stats(model)
    old = sum(before[n]["width"] for n in names if n in before)
    new = sum(after[n]["width"] for n in names if n in before)
    return 1 - new / old if old else 0.0


class _Run:
    """State shared by the schedules: the networks, their teachers, fixed inputs and fine-tuning between rounds."""

    def __init__(self, cfg: PruneConfig, ws: Workspace | None, dense: dict, teacher: nn.Module,
                 cancel: CancelToken) -> None:
        self.cfg, self.ws, self.dense, self.cancel = cfg, ws, dense, cancel
        self.G = copy.deepcopy(teacher).train()
        self.D = discriminator_from_checkpoint(dense).train()
        self.teachers = {"g": teacher.eval(), "d": copy.deepcopy(self.D).eval()}
        self.z = fixed_latents(64, self.G.latent_dim, cfg.seed)
        with torch.no_grad():
            self.inputs = {"g": self.z, "d": teacher(self.z)}
        self._data = None
        self.rewind_weights: dict | None = None  # the lottery ticket's step-k weights, saved with the pruned model
        self._feature_net = None
        self.notes: list[str] = []

    def net(self, role: str) -> nn.Module:
        return self.G if role == "g" else self.D

    def prune(self, role: str, layers: Layers | None, amount: float | dict, permanent: bool = False) -> dict:
        cfg = self.cfg
        if cfg.structural:
            if isinstance(amount, dict) and layers is None:  # per-layer amounts: only those layers (and coupled)
                layers = pick_layers(self.net(role), list(amount), True, role.upper())
            self.notes += prune_channels(self.net(role), cfg.method, amount, cfg.scope, cfg.round_to, layers,
                                         self.teachers[role], self.inputs[role], cfg.seed)
            return {}
        return prune_weights(layers, cfg.method, amount, cfg.scope, cfg.seed, permanent=permanent)

    def finetune(self, steps: int, on_step=None) -> Iterator[Event]:
        """`steps` adversarial + distillation steps (output, feature-adapter and perceptual terms, each scaled by
        cfg.distill) with fresh optimizers over the modules as they are now."""
        if steps <= 0:
            return
        cfg = self.cfg
        if self._data is None:
            self._data = workspace_images(self.ws, self.dense)
            self._feature_net = cached_feature_net(self._data)
        device, _ = pick_device(cfg.device)
        settings = StudentSettings(lr=cfg.lr, batch_size=cfg.batch_size, seed=cfg.seed)
        tuner = Finetuner(self.G, self.D, self.teachers["g"], self._data.images, settings,
                          DistillWeights().scaled(cfg.distill), self.dense.get("loss") or "bce", device,
                          perceptual_net=self._feature_net, labels=self._data.labels)
        try:
            while tuner.step < steps:
                self.cancel.raise_if_cancelled()
                values = tuner.train_step()
                yield Metrics("prune", tuner.step, values)
                if on_step is not None:
                    on_step(tuner.step)
        finally:
            tuner.close()
            for m in (self.G, self.D, self.teachers["g"]):
                m.cpu()


@recorded("prune")
def run_prune(cfg: PruneConfig, ws: Workspace, cancel: CancelToken) -> Iterator[Event]:
    """Prune the dense model as `cfg` says; cancelling leaves the previous pruned checkpoint (if any) untouched."""
    cfg.validate()
    try:
        yield from _run_prune(cfg, ws, cancel)
    except Cancelled:  # the stage runner records it; the user hears what is kept
        yield Log("warning", "Pruning cancelled; nothing was saved (pruning restarts from the dense model).")


def _run_prune(cfg: PruneConfig, ws: Workspace, cancel: CancelToken) -> Iterator[Event]:
    dense, teacher = load_teacher(ws)
    if model_kind(dense) == IMAGE:  # image-to-image (pix2pix) models have their own, one-shot path
        from engine.stages.prune.image import run_prune_images

        yield from run_prune_images(cfg, ws, dense, teacher, cancel)
        return
    run = _Run(cfg, ws, dense, teacher, cancel)
    before = {r: {"summary": measure(run.net(r)), "layers": layer_stats(run.net(r))} for r in ("g", "d")}
    t0 = time.perf_counter()  # nothing is written until _save: a failure while pruning leaves the folder as it was
    chosen_amounts, pruned_roles = yield from _prune_networks(cfg, run, before, cancel)
    yield from _save(cfg, ws, run, dense, before, chosen_amounts, sorted(pruned_roles), time.perf_counter() - t0)


def preview(cfg: PruneConfig, dense: dict, teacher: nn.Module, ws: Workspace | None = None) -> dict[str, nn.Module]:
    """G and D as the stage would prune them (the same code, on copies; nothing is saved): what the studio's
    preview shows. Gradual schedules are previewed as one shot of the same total amount (their fine-tuning between
    rounds needs the data), and a MACs budget is not previewed (its sensitivity scan writes sensitivity.json)."""
    if model_kind(dense) == IMAGE:  # image-to-image: the one-shot path the stage takes for these models
        from engine.stages.prune.image import preview_images

        return preview_images(cfg, ws, dense, teacher)
    if cfg.target_macs is not None:
        raise ConfigError("A MACs budget is not previewed: its per-layer amounts come from a sensitivity scan.")
    cfg = dataclasses.replace(cfg, schedule="oneshot")
    cfg.validate()
    run = _Run(cfg, None, dense, teacher, CancelToken())
    before = {r: {"summary": measure(run.net(r)), "layers": layer_stats(run.net(r))} for r in ("g", "d")}
    for _ in _prune_networks(cfg, run, before, run.cancel):
        pass
    return {"g": run.G.eval(), "d": run.D.eval()}


def _prune_networks(cfg: PruneConfig, run: _Run, before: dict, cancel: CancelToken):
    """Prune run.G / run.D in place as `cfg` says (blocks, or layers by the schedule, then D by G's share with
    --match-d); weight masks are folded in. Returns (amounts chosen per network, the networks pruned)."""
    arch = run.dense["arch"]["generator"]["arch"]
    chosen_amounts: dict[str, object] = {}
    pruned_roles = set(cfg.target)

    if cfg.method == "block":
        if "d" in cfg.target:
            raise ConfigError("--method block removes residual blocks of the generator; use --target g.")
        removed = remove_blocks(run.G, cfg.amount, cfg.block_criterion, run.z, arch)
        chosen_amounts["g"] = {"removed_blocks": removed}
        yield Log("info", f"Removed {len(removed)} residual block(s): {', '.join(removed)}.")
    else:
        targets = {r: run.net(r) for r in cfg.target}
        selected = resolve_layers(targets, list(cfg.layers) if cfg.layers else None, cfg.structural)
        amounts: dict[str, float | dict] = {r: float(cfg.amount) for r in cfg.target}
        if cfg.target_macs is not None:
            yield from _auto_amounts(cfg, run, selected["g"], amounts, cancel)
        passed = {r: (selected[r] if cfg.layers or not cfg.structural else None) for r in cfg.target}
        yield from _schedule(cfg, run, passed, selected, amounts, cancel)
        chosen_amounts.update(amounts)

    g_lost = channel_fraction_removed(before["g"]["layers"], run.G) if cfg.structural else 0.0
    if cfg.structural and "d" not in cfg.target:
        if cfg.match_d and g_lost > 0:
            run.prune("d", None, g_lost)
            pruned_roles.add("d")
            chosen_amounts["d"] = round(g_lost, 4)
            yield Log("info", f"--match-d: pruned D's channels by {g_lost:.0%}, the share G lost.")
        elif g_lost > 0.5:
            yield Log("info", f"G lost {g_lost:.0%} of its channels; D stays whole, which fine-tuned better than a D "
                              "cut to G's share in bench/distill_ablation.py (--match-d cuts it).")
    for note in dict.fromkeys(run.notes):
        yield Log("warning", note)
    make_permanent(run.G)
    make_permanent(run.D)
    return chosen_amounts, pruned_roles


def _auto_amounts(cfg: PruneConfig, run: _Run, layers: Layers, amounts: dict, cancel: CancelToken):
    """Per-layer G amounts that keep cfg.target_macs of the MACs with the least predicted PSNR loss."""
    rows = []
    for item in scan(run.G, cfg.method, DEFAULT_AMOUNTS, run.z, [n for n, _ in layers], cfg.round_to, cancel):
        if isinstance(item, dict):
            rows.append(item)
        else:
            yield Progress("prune", item.step, item.total, message=f"sensitivity scan: {item.message}")
    dense_macs = model_macs(run.G)
    names = [n for n, _ in layers]

    def measure(per_layer: dict[str, float]) -> int:
        trial = copy.deepcopy(run.G)
        prune_channels(trial, "channel-random", per_layer, layers=pick_layers(trial, list(per_layer), True, "G"),
                       round_to=cfg.round_to)
        return model_macs(trial)

    per_layer, info = allocate(rows, dense_macs, cfg.target_macs, measure if names else None)
    write_results(run.ws, {"method": cfg.method, "amounts": list(DEFAULT_AMOUNTS), "metric": "teacher_psnr_db",
                           "rows": rows, "allocation": {"target_macs": cfg.target_macs, "amounts": per_layer, **info}})
    amounts["g"] = per_layer
    chosen = ", ".join(f"{n} {a:.0%}" for n, a in per_layer.items()) or "nothing"
    msg = (f"--target-macs {cfg.target_macs}: chose {chosen}; MACs {info['macs_ratio']:.0%} of "
           f"dense, predicted teacher-PSNR {info['predicted_psnr']} dB.")
    yield Log("info" if info["reached"] else "warning",
              msg if info["reached"] else msg + " The budget was not reached even at 90% per layer.")


def _schedule(cfg: PruneConfig, run: _Run, passed: dict, selected: dict, amounts: dict, cancel: CancelToken):
    if cfg.schedule == "oneshot":
        yield Progress("prune", 0, 1, message=f"{cfg.method} {cfg.schedule}")
        for role in cfg.target:
            run.prune(role, passed[role], amounts[role])
        yield Progress("prune", 1, 1, message="pruned")
        return
    steps = cfg.finetune_steps
    theta = {}
    if cfg.schedule == "lottery":  # train to step k, keep those weights, train on to the round's end
        def keep_step_k(step):
            if step == cfg.rewind_step:
                theta.update({r: snapshot(selected[r]) for r in cfg.target})
        if cfg.rewind_step == 0:
            keep_step_k(0)
        yield from run.finetune(steps, keep_step_k)
        # written with the pruned model (write last), kept here until then
        run.rewind_weights = {"arch": {"generator": run.G.spec(), "discriminator": run.D.spec()},
                              "step": cfg.rewind_step, "layers": theta, "task": getattr(run.G, "task", DEFAULT_TASK)}
        yield Log("info", f"Lottery ticket: kept the weights at step {cfg.rewind_step} (checkpoints/rewind.pt).")
    schedule = {r: _per_round(amounts[r], cfg.rounds) for r in cfg.target}
    done: dict[str, object] = {r: 0.0 if not isinstance(amounts[r], dict) else {} for r in cfg.target}
    for i in range(cfg.rounds):
        cancel.raise_if_cancelled()
        for role in cfg.target:
            total = schedule[role][i]
            if cfg.structural:  # channels come off the current (already thinner) layer
                step = ({n: relative_step(done[role].get(n, 0.0), a) for n, a in total.items()}
                        if isinstance(total, dict) else relative_step(done[role], total))
                run.prune(role, passed[role], step)
            else:
                masks = run.prune(role, selected[role], total)
                if cfg.schedule == "lottery":
                    rewind(selected[role], masks, theta[role])
            done[role] = total
        yield Progress("prune", i + 1, cfg.rounds, message=f"round {i + 1} of {cfg.rounds}")
        if cfg.schedule == "lottery" or i + 1 < cfg.rounds:
            yield from run.finetune(steps)


def _per_round(amount: float | dict, rounds: int) -> list:
    if isinstance(amount, dict):
        per_layer = {n: agp_amounts(a, rounds) for n, a in amount.items()}
        return [{n: v[i] for n, v in per_layer.items()} for i in range(rounds)]
    return agp_amounts(amount, rounds)


def _save(cfg: PruneConfig, ws: Workspace, run: _Run, dense: dict, before: dict, amounts: dict, roles: list[str],
          seconds: float) -> Iterator[Event]:
    G, D = run.G.eval(), run.D.eval()
    after = {r: {"summary": measure(run.net(r)), "layers": layer_stats(run.net(r))} for r in ("g", "d")}
    psnr = teacher_psnr(G, run.teachers["g"], run.z)
    record = {"method": cfg.method, "criterion": cfg.chosen.criterion, "schedule": cfg.schedule,
              "rounds": cfg.rounds if cfg.schedule != "oneshot" else 1, "scope": cfg.scope, "target": cfg.target,
              "pruned": roles, "amount": cfg.amount if cfg.target_macs is None else None,
              "target_macs": cfg.target_macs, "amounts": amounts, "round_to": cfg.round_to,
              "layers": {r: {n: {"width_before": before[r]["layers"][n]["width"], "width_after": s["width"],
                                 "sparsity": s["sparsity"]} for n, s in after[r]["layers"].items()}
                         for r in ("g", "d")},
              "params_before": {r: before[r]["summary"]["params"] for r in ("g", "d")},
              "params_after": {r: after[r]["summary"]["params"] for r in ("g", "d")},
              "nonzero_params_after": {r: after[r]["summary"]["nonzero_params"] for r in ("g", "d")},
              "macs_before": {r: before[r]["summary"]["macs"] for r in ("g", "d")},
              "macs_after": {r: after[r]["summary"]["macs"] for r in ("g", "d")},
              "teacher_psnr": psnr_for_json(psnr), "seconds": round(seconds, 2),
              "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    grid = sample_grid(G, run.z)  # the last uses of the model's forward: before anything is written
    _, total_sparsity = sparsity(weight_layers(G))
    # Write last. Results made from the previous pruned model go out of date BEFORE it is replaced: a kill in
    # between must never leave a fine-tuned model or ONNX files of the old pruning offered next to the new pruned.pt.
    ws.update_stage("prune", status="running", method=cfg.method)
    stale_finetune = "finetune" in ws.mark_stale(*stages.out_of_date_after("prune"))
    path = ws.abs(save_gan(ws, CHECKPOINT, G, D, step=0, data=dense.get("data", {}), seed=cfg.seed,
                           loss=dense.get("loss", "bce"), teacher="checkpoints/dense.pt", pruning=record))
    # Round trip: the saved spec + state_dict rebuild the same network (no pickled modules anywhere).
    back = ws.load_checkpoint(path)
    G2 = build_generator(back["arch"]["generator"])
    G2.load_state_dict(back["generator"])
    build_discriminator(back["arch"]["discriminator"]).load_state_dict(back["discriminator"])
    if run.rewind_weights is not None:
        ws.save_checkpoint("rewind", run.rewind_weights)
    ws.append_record("pruning", record)
    if stale_finetune:
        yield Log("info", "The earlier fine-tuned model belongs to the previous pruning; run 'gan-prune finetune' "
                          "again.")
    ws.update_stage("prune", checkpoint=ws.rel(path), method=cfg.method, amount=record["amount"],
                    target=cfg.target)
    gr = {k: after["g"]["summary"][k] / max(1, before["g"]["summary"][k]) for k in ("params", "macs")}
    yield Metrics("prune", 0, {"params_ratio": gr["params"], "macs_ratio": gr["macs"],
                               "nonzero_ratio": after["g"]["summary"]["nonzero_params"]
                               / max(1, before["g"]["summary"]["params"]),
                               "teacher_psnr": psnr if psnr != float("inf") else 999.0})
    save_png(ws.samples_dir / "pruned.png", grid)
    yield Samples("prune", 0, grid, label="pruned")
    yield Artifact("prune", "checkpoint", ws.rel(path), {"record": record})
    yield Log("info", f"G: params {gr['params']:.0%} and MACs {gr['macs']:.0%} of dense, weight sparsity "
                      f"{total_sparsity:.0%}, teacher-PSNR {record['teacher_psnr']} dB; checkpoint {ws.rel(path)}.")
