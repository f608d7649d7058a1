"""Sensitivity scan: each prunable G layer pruned alone at each amount, scored by teacher-PSNR on fixed latents;
and the greedy choice of per-layer amounts that meets a MACs budget with the least predicted PSNR loss."""

from __future__ import annotations

import copy
import csv
import io
import math
from collections.abc import Callable, Iterator

import torch
import torch.nn as nn

from engine.events import CancelToken, Progress
from engine.metrics.complexity import layer_table
from engine.prune import methods
from engine.prune.fidelity import psnr_for_json, teacher_psnr
from engine.prune.layers import pick_layers
from engine.prune.methods import DEFAULT_AMOUNTS  # noqa: F401  (callers read it here)
from engine.prune.structured import coupled_layers, prune_channels
from engine.prune.unstructured import prune_weights
from engine.workspace import Workspace, atomic_write_json, atomic_write_text

PSNR_CAP = 100.0  # an unchanged model has infinite PSNR; curves and sums use this cap


def scan(G: nn.Module, method: str, amounts: tuple[float, ...], z: torch.Tensor, layer_names=None,
         round_to: int | None = None, cancel: CancelToken | None = None) -> Iterator[dict | Progress]:
    """Yields one row per (layer, amount): PSNR of the pruned copy against G, and its MACs and params."""
    structural = methods.get(method).structural
    names = [n for n, _ in pick_layers(G, list(layer_names) if layer_names else None, structural, "G")]
    if structural:  # residual-coupled layers move together: scan each coupled set once, under its first name
        groups, seen = {}, set()
        for n in names:
            if n in seen:
                continue
            members = [m for m, _ in coupled_layers(G, pick_layers(G, [n], True, "G"))[0]]
            seen.update(members)
            groups[n] = members
        names = list(groups)
    total = len(names) * len(amounts)
    done = 0
    for name in names:
        for a in amounts:
            if cancel is not None:
                cancel.raise_if_cancelled()
            trial = copy.deepcopy(G)
            if structural:
                prune_channels(trial, method, float(a), layers=pick_layers(trial, groups[name], True, "G"),
                               round_to=round_to, expand_coupled=False)
            else:
                prune_weights(pick_layers(trial, [name], False, "G"), method, float(a), "layer")
            p = teacher_psnr(trial, G, z)
            done += 1
            yield {"layer": name, "amount": float(a), "psnr": min(p, PSNR_CAP), "macs": model_macs(trial),
                   "params": sum(t.numel() for t in trial.parameters())}
            yield Progress("sensitivity", done, total, message=f"{name} at {a:.0%}")


def model_macs(model: nn.Module) -> int:
    return sum(r.macs for r in layer_table(model))


def _mse(psnr: float) -> float:
    return 4.0 / 10 ** (psnr / 10)


def allocate(rows: list[dict], dense_macs: int, target_macs: float,
             measure: Callable[[dict[str, float]], int] | None = None) -> tuple[dict[str, float], dict]:
    """Per-layer amounts whose predicted MACs are at most target_macs * dense. Greedy: repeatedly take the next
    amount step of the layer that saves MACs at the least added image error (errors and savings are assumed to
    add up across layers). Savings of neighbouring layers overlap (a conv's MACs shrink with both its input and its
    output), so when `measure` is given the real MACs of the choice are measured and the greedy goes on until
    they meet the budget."""
    curves: dict[str, list[dict]] = {}
    for r in rows:
        curves.setdefault(r["layer"], []).append(r)
    for c in curves.values():
        c.sort(key=lambda r: r["amount"])
    level = {name: -1 for name in curves}  # index into the curve; -1 = not pruned
    budget = target_macs * dense_macs

    def saved(name: str, i: int) -> float:
        return 0.0 if i < 0 else dense_macs - curves[name][i]["macs"]

    def err(name: str, i: int) -> float:
        return 0.0 if i < 0 else _mse(curves[name][i]["psnr"])

    predicted = float(dense_macs)
    measured = None
    while True:
        if predicted <= budget:
            if measure is None:
                break
            measured = measure({n: curves[n][i]["amount"] for n, i in level.items() if i >= 0})
            if measured <= budget:
                break
        best = _cheapest_step(level, curves, saved, err)
        if best is None:
            break  # every layer at its largest scanned amount
        level[best] += 1
        predicted = dense_macs - sum(saved(n, i) for n, i in level.items())
    amounts = {n: curves[n][i]["amount"] for n, i in level.items() if i >= 0}
    total_err = sum(err(n, i) for n, i in level.items())
    final = measured if measured is not None else predicted
    info = {"macs_ratio": final / dense_macs, "measured": measured is not None, "reached": final <= budget,
            "predicted_psnr": psnr_for_json(10 * math.log10(4.0 / total_err)) if total_err > 0 else None}
    return amounts, info


def _cheapest_step(level: dict[str, int], curves: dict[str, list[dict]], saved, err) -> str | None:
    """The layer whose next amount step saves MACs at the least added image error (None: nothing left to take)."""
    best, best_cost = None, math.inf
    for name, i in level.items():
        if i + 1 >= len(curves[name]):
            continue
        gain = saved(name, i + 1) - saved(name, i)
        if gain <= 0:
            continue
        cost = (err(name, i + 1) - err(name, i)) / gain
        if cost < best_cost:
            best, best_cost = name, cost
    return best


def write_results(ws: Workspace, result: dict) -> list[str]:
    """sensitivity.json (everything) and sensitivity.csv (one row per layer and amount), both written atomically."""
    atomic_write_json(ws.root / "sensitivity.json", result)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["layer", "amount", "psnr", "macs", "params"], lineterminator="\n")
    writer.writeheader()
    for r in result["rows"]:
        writer.writerow(r)
    atomic_write_text(ws.root / "sensitivity.csv", buf.getvalue())
    return ["sensitivity.json", "sensitivity.csv"]
