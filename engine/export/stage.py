"""The export stage: the newest generator in a workspace → fp32 / int8 / int8-dynamic / fp16 ONNX, measured."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.config import NOISE_TASKS, check_fields, setting
from engine.errors import ConfigError, WorkspaceError
from engine.events import Artifact, CancelToken, Event, Log, Progress
from engine.export.graph import DEFAULT_OPSET, OPSET_RANGE
from engine.export.precisions import BY_NAME, DEFAULT_NAMES, NAMES, PRECISIONS, Sources
from engine.stage_runner import recorded
from engine.workspace import Workspace


@dataclass(frozen=True)
class ExportConfig:
    precisions: tuple[str, ...] = setting(DEFAULT_NAMES, help="one or more of: " + "; ".join(
        f"{x.name} ({x.help.rstrip('.')})" for x in PRECISIONS) + f" (default: {' '.join(DEFAULT_NAMES)})")
    calibration: int = setting(256, help="latents to calibrate int8")  # static int8
    # rewrite ConvTranspose as Conv + DepthToSpace for the int8 files
    subpixel: bool = setting(True, help="quantize the ConvTranspose form as is (slower int8; for comparison)",
                             tasks=NOISE_TASKS)  # image-to-image exports (engine/i2i) do not rewrite
    keep_first_last_float: bool = setting(False, help="leave the first and last layer in float")
    seed: int = 0
    bench_runs: int = 20  # timed runs per batch size (median reported)
    # ORT threads for the latency numbers; None = the fastest, measured
    threads: int | None = setting(None, help="ONNX Runtime threads for the latency numbers (default: the fastest "
                                             "count, measured)")
    # ai.onnx opset of every file; 17 loads in onnxruntime 1.14 and newer
    opset: int = setting(DEFAULT_OPSET, help=f"ONNX opset of the files, {OPSET_RANGE[0]}-{OPSET_RANGE[1]} (default "
                                             f"{DEFAULT_OPSET}: loads in onnxruntime 1.14 and newer; raise it only "
                                             "for a newer runtime)")

    def validate(self) -> None:
        check_fields(self, "export")  # types, and no NaN/inf, before the ranges below
        if isinstance(self.precisions, str) or not self.precisions:
            raise ConfigError(f"precisions must be a list of one or more of {', '.join(NAMES)} "
                              f"(got {self.precisions!r}).")
        bad = [p for p in self.precisions if p not in BY_NAME]
        if bad:
            raise ConfigError(f"Unknown precision {', '.join(map(str, bad))}; choose from {', '.join(NAMES)}.")
        for name in ("calibration", "bench_runs"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ConfigError(f"{name} must be a whole number above 0 (got {v!r}).")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads <= 0):
            raise ConfigError(f"threads must be a whole number above 0 or left unset (got {self.threads!r}).")
        low, high = OPSET_RANGE
        if not isinstance(self.opset, int) or isinstance(self.opset, bool) or not low <= self.opset <= high:
            raise ConfigError(f"opset must be a whole number from {low} to {high} (got {self.opset!r}); "
                              f"{DEFAULT_OPSET} loads in onnxruntime 1.14 and newer.")


def _pruning_summary(ws: Workspace) -> dict:
    """A short record of how the model was pruned, for the gan.pruning metadata."""
    entry = ws.stage("prune") or {}
    keys = ("method", "amount", "scope", "target", "params", "nonzero_params", "sparsity")
    out = {k: entry[k] for k in keys if k in entry and isinstance(entry[k], (int, float, str))}
    return out if len(json.dumps(out)) < 400 else {k: out[k] for k in ("method", "amount") if k in out}


def _remove_stale(ws: Workspace, wanted: list[str]) -> Iterator[Event]:
    """An earlier export's files would pass for this model's: remove the ones not asked for (fp32 stays)."""
    for p in PRECISIONS:
        old = ws.export_dir / p.file_name
        if p.name not in wanted and p.convert is not None and old.exists():
            old.unlink()
            yield Log("info", f"removed {ws.rel(old)} from an earlier export (not asked for this time)")


def _summary(results: dict[str, dict]) -> str:
    def one(p: str, r: dict) -> str:
        lat = r.get("latency_ms") or {}
        speed = f", {lat['ort_b64']:.1f} ms@64 ({lat.get('threads')} thr)" if lat.get("ort_b64") else ""
        return f"{p}: {r['bytes'] / 1e6:.2f} MB{speed}"

    return ", ".join(one(p, r) for p, r in results.items())


@recorded("export")
def run_export(cfg: ExportConfig, ws: Workspace, cancel: CancelToken | None = None) -> Iterator[Event]:
    from engine.export.onnx import export_generator, parity
    from engine.models import generator_from_checkpoint, takes_image

    cfg.validate()
    cancel = cancel or CancelToken()
    ckpt_path = ws.latest_generator_checkpoint()
    if ckpt_path is None:
        raise WorkspaceError(f"The workspace {ws.root} has no generator checkpoint; run 'gan-prune train' first.")
    ckpt = ws.load_checkpoint(ckpt_path)
    G = generator_from_checkpoint(ckpt)
    if takes_image(ckpt["arch"]["generator"]):  # image-to-image: input 'image', int8 calibrated on task inputs
        from engine.i2i.export import run_export_images

        cfg_wanted = list(dict.fromkeys(cfg.precisions))
        yield from _remove_stale(ws, cfg_wanted)
        yield from run_export_images(cfg, ws, ckpt, ckpt_path, G, _pruning_summary(ws), cancel)
        return
    meta = {"dataset": (ckpt.get("data") or {}).get("dataset", "unknown"), "pruning": _pruning_summary(ws)}
    classes = (ckpt.get("data") or {}).get("classes")
    if getattr(G, "num_classes", 0) and isinstance(classes, list) and len(classes) == G.num_classes:
        meta["class_names"] = [str(c) for c in classes]  # the sampler and studio name each class
    wanted = list(dict.fromkeys(cfg.precisions))
    subpixel = cfg.subpixel and any(BY_NAME[p].uses_subpixel for p in wanted)
    total, step = 1 + len(wanted) + int(subpixel), 0
    arch = G.spec()["arch"]
    yield Log("info", f"exporting {ws.rel(ckpt_path)} ({arch}) as {', '.join(wanted)}, opset {cfg.opset}")
    if "int8-dynamic" in wanted and arch != "mlp":
        # Dynamic int8 turns convs into ConvInteger, which ORT runs slower than float; it only saves bytes.
        yield Log("warning", "int8-dynamic makes conv generators smaller but slower; prefer int8 (static) for speed")
    cancel.raise_if_cancelled()
    ws.update_stage("export", status="running")  # from here files change; the stage runner records the end
    yield from _remove_stale(ws, wanted)
    fp32 = ws.export_dir / BY_NAME["fp32"].file_name
    export_generator(G, fp32, {**meta, "precision": "fp32"}, opset=cfg.opset)
    worst = parity(G, fp32)
    step += 1
    yield Progress("export", step, total, f"fp32 exported, parity {worst:.1e}")
    if worst > 1e-4:
        yield Log("warning", f"ONNX output differs from torch by {worst:.2e} (more than 1e-4)")
    results = yield from _convert_each(cfg, ws, G, meta, fp32, worst, wanted, subpixel, (step, total), cancel)
    if "fp32" not in wanted:  # it was written as the reference for the others; keep it, but say so
        results["fp32"] = {"path": ws.rel(fp32), "bytes": fp32.stat().st_size, "parity": worst, "reference_only": True}
    ws.update_stage("export", checkpoint=ws.rel(ckpt_path), subpixel=cfg.subpixel,
                    calibration=cfg.calibration, opset=cfg.opset, results=results)
    yield Log("info", f"export done ({_summary(results)})")


def _convert_each(cfg: ExportConfig, ws: Workspace, G, meta: dict, fp32: Path, worst: float, wanted: list[str],
                  subpixel: bool, progress: tuple[int, int], cancel: CancelToken) -> Iterator[Event]:
    """Each precision asked for, converted from fp32 (or its sub-pixel form) and measured; {name: info}."""
    from engine.export.onnx import export_generator, parity
    from engine.export.quantize import measure

    step, total = progress
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(dir=ws.export_dir) as tmp:
        sources = Sources(fp32, Path(tmp) / "generator.subpixel.onnx" if subpixel else fp32, cfg.calibration,
                          cfg.seed, cfg.keep_first_last_float)
        if subpixel:
            cancel.raise_if_cancelled()
            export_generator(G, sources.subpixel, {**meta, "precision": "fp32"}, subpixel=True, opset=cfg.opset)
            step += 1
            yield Progress("export", step, total, f"sub-pixel form exported, parity {parity(G, sources.subpixel):.1e}")
        for name in wanted:
            cancel.raise_if_cancelled()
            precision = BY_NAME[name]
            path = ws.export_dir / precision.file_name
            if precision.convert is not None:
                precision.convert(sources, path)
            info = measure(path, reference=None if precision.convert is None else fp32, runs=cfg.bench_runs,
                           threads=cfg.threads, seed=cfg.seed)
            if precision.convert is None:
                info["parity"] = worst
            info["path"] = ws.rel(path)
            results[name] = info
            step += 1
            yield Progress("export", step, total, f"{name} done")
            yield Artifact("export", "onnx", ws.rel(path), {"precision": name, **info})
    return results
