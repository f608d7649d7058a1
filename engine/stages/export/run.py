"""The export stage: the newest generator in a workspace → fp32 / int8 / int8-dynamic / fp16 ONNX, measured."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

from engine.errors import WorkspaceError
from engine.events import Artifact, CancelToken, Event, Log, Progress
from engine.export.precisions import BY_NAME, PRECISIONS, Sources
from engine.stage_runner import recorded
from engine.stages.export.config import ExportConfig
from engine.tasks import IMAGE, model_kind
from engine.workspace import Workspace


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
    from engine.models import generator_from_checkpoint

    cfg.validate()
    cancel = cancel or CancelToken()
    ckpt_path = ws.latest_generator_checkpoint()
    if ckpt_path is None:
        raise WorkspaceError(f"The workspace {ws.root} has no generator checkpoint; run 'gan-prune train' first.")
    ckpt = ws.load_checkpoint(ckpt_path)
    G = generator_from_checkpoint(ckpt)
    edge_formats = [f for f in cfg.format if f != "onnx"]
    image_model = model_kind(ckpt) == IMAGE
    if image_model and edge_formats:
        raise WorkspaceError(f"--format {' '.join(edge_formats)} covers models that make images from noise so far; "
                             "export this image-to-image model with --format onnx.")
    if image_model:  # image-to-image: input 'image', int8 calibrated on task inputs
        from engine.stages.export.image import run_export_images

        cfg_wanted = list(dict.fromkeys(cfg.precisions))
        yield from _remove_stale(ws, cfg_wanted)
        yield from run_export_images(cfg, ws, ckpt, ckpt_path, G, _pruning_summary(ws), cancel)
        return
    meta = {"dataset": (ckpt.get("data") or {}).get("dataset", "unknown"), "pruning": _pruning_summary(ws)}
    classes = (ckpt.get("data") or {}).get("classes")
    if getattr(G, "num_classes", 0) and isinstance(classes, list) and len(classes) == G.num_classes:
        meta["class_names"] = [str(c) for c in classes]  # the sampler and studio name each class
    if "onnx" not in cfg.format:
        yield from _export_edge_only(cfg, ws, G, meta, ckpt_path, cancel)
        return
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
    from engine.stages.export.edge import export_edge, remove_stale

    edge = (yield from export_edge(cfg, ws, G, meta, cancel)) if edge_formats else {}
    if not edge_formats:
        yield from remove_stale(ws, set())
    ws.update_stage("export", checkpoint=ws.rel(ckpt_path), subpixel=cfg.subpixel,
                    calibration=cfg.calibration, opset=cfg.opset, results=results, formats={"onnx": results, **edge})
    yield Log("info", f"export done ({_summary(results)})")


def _export_edge_only(cfg: ExportConfig, ws: Workspace, G, meta: dict, ckpt_path: Path,
                      cancel: CancelToken) -> Iterator[Event]:
    """Formats beside ONNX without an ONNX file: earlier ONNX files stay only when they were made from this same
    checkpoint (their record with them)."""
    from engine.stages.export.edge import export_edge

    yield Log("info", f"exporting {ws.rel(ckpt_path)} as {' '.join(cfg.format)} in {' '.join(cfg.precisions)}")
    cancel.raise_if_cancelled()
    before = ws.stage("export") or {}
    ws.update_stage("export", status="running")
    results = before.get("results") or {}
    if before.get("checkpoint") != ws.rel(ckpt_path):  # ONNX files of an older model would pass for this one's
        yield from _remove_stale(ws, [])
        (ws.export_dir / BY_NAME["fp32"].file_name).unlink(missing_ok=True)
        results = {}
    edge = yield from export_edge(cfg, ws, G, meta, cancel)
    ws.update_stage("export", checkpoint=ws.rel(ckpt_path), calibration=cfg.calibration, results=results,
                    formats={**({"onnx": results} if results else {}), **edge})
    yield Log("info", "export done (" + ", ".join(f"{f} {p}: {r['bytes'] / 1e6:.2f} MB" for f, v in edge.items()
                                                 for p, r in v.items() if "bytes" in r) + ")")


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
