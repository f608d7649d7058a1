"""The export stage's formats beside ONNX (ExecuTorch, LiteRT, Core ML; engine/export/formats.py): each (format,
precision) file converted from the generator, checked against torch (the largest difference at a few batch sizes,
and PSNR against the fp32 generator for the lossy precisions), timed at batch 1 and 64 on the fastest thread count
(by the sampler's own runtime sessions), and recorded; a precision a format does not hold is said in one line.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from engine.events import Artifact, CancelToken, Event, Log, Progress
from engine.export import formats
from engine.export.onnx import _pruned_weight_memo
from engine.export.quantize import psnr
from engine.workspace import Workspace

LOSSY = ("int8", "int8-dynamic", "fp16")


def _torch_outputs(G: nn.Module, z: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
    G = copy.deepcopy(G, _pruned_weight_memo(G)).cpu().float().eval()
    with torch.no_grad():
        args = (torch.from_numpy(z),) if labels is None else (torch.from_numpy(z), torch.from_numpy(labels))
        return G(*args).numpy()


def check_against_torch(G: nn.Module, path: Path, batches=(1, 7), n_compare: int = 64, seed: int = 0) -> dict:
    """{parity: largest |torch - file| over `batches`, psnr_vs_fp32 over n_compare latents}, run by the
    sampler's session for the file (the runtime a device uses)."""
    from engine.ondevice.runtimes import open_edge_session

    session = open_edge_session(path, threads=1)
    classes = int(getattr(G, "num_classes", 0))
    rng = np.random.default_rng(seed)
    worst, value = 0.0, float("inf")
    for b in (*batches, n_compare):
        z = rng.standard_normal((b, int(G.latent_dim))).astype(np.float32)
        labels = (np.arange(b) % classes).astype(np.int64) if classes else None
        ref = _torch_outputs(G, z, labels)
        out = _run(session, z, labels, classes)
        if out.shape != ref.shape:
            raise RuntimeError(f"{path.name} made shape {out.shape}, torch {ref.shape} at batch {b}")
        if b == n_compare:
            value = psnr(out, ref)
        else:
            worst = max(worst, float(np.abs(out - ref).max()))
    return {"parity": worst, "psnr_vs_fp32": None if value == float("inf") else round(value, 3)}


def _run(session, z, labels, classes) -> np.ndarray:
    from engine.ondevice import fixed_batch, generator_feeds, run_in_batches

    def once(parts):
        return session.run(["image"], generator_feeds(session, parts[0], parts[1] if len(parts) > 1 else None,
                                                      classes))[0]
    return run_in_batches(once, [z] if labels is None else [z, labels], fixed_batch(session.get_inputs()[0].shape))


def latency(path: Path, latent_dim: int, runs: int, threads: int | None) -> dict:
    """Median ms at batch 1 and 64 on the fastest thread count (or the one given), as for ONNX files."""
    from engine.ondevice.threads import pick_threads

    picked = pick_threads(path, latent_dim, (1, 64), runs=runs, candidates=[threads] if threads else None)
    lat = {k.replace("ort_", ""): v for k, v in picked["latency_ms"].items()}
    return {"latency_ms": lat, "threads_tried": picked["tried"]}


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size


def _one(cfg, ws: Workspace, G: nn.Module, meta: dict, fmt: formats.Format, precision: str) -> dict:
    path = ws.export_dir / fmt.file_name(precision)
    fmt.convert(G, precision, path, meta, cfg.calibration, cfg.seed, subpixel=cfg.subpixel)
    info: dict = {"path": ws.rel(path), "bytes": _size(path), "runtime": fmt.runtime, "metadata": fmt.metadata,
                  "subpixel": cfg.subpixel and fmt.name != "coreml"}
    side = fmt.side_car(path)
    if side is not None:
        info["side_car"] = ws.rel(side)
    cannot = fmt.runs_here()
    if cannot:
        from engine.export.edge import validate_coreml

        info.update(validated=validate_coreml(path)["inputs"], not_run=cannot)
        return info
    info.update(check_against_torch(G, path, seed=cfg.seed))
    info.update(latency(path, int(G.latent_dim), cfg.bench_runs, cfg.threads))
    return info


def remove_stale(ws: Workspace, keep: set[tuple[str, str]]) -> Iterator[Event]:
    """An earlier export's ExecuTorch/LiteRT/Core ML files (and side-cars) would pass for this model's: remove
    every one this export does not write again. `keep`: the (format, precision) pairs it writes."""
    import shutil

    from engine.export.precisions import NAMES

    for fmt in formats.FORMATS[1:]:
        for precision in NAMES:
            path = ws.export_dir / fmt.file_name(precision)
            if (fmt.name, precision) in keep or not path.exists():
                continue
            shutil.rmtree(path) if path.is_dir() else path.unlink()
            side = fmt.side_car(path)
            if side is not None and side.exists():
                side.unlink()
            yield Log("info", f"removed {ws.rel(path)} from an earlier export (not asked for this time)")


def export_edge(cfg, ws: Workspace, G: nn.Module, meta: dict, cancel: CancelToken) -> Iterator[Event]:
    """Every non-ONNX (format, precision) asked for; returns {format: {precision: info}}."""
    made, refused = formats.pairs([f for f in cfg.format if f != "onnx"], cfg.precisions)
    yield from remove_stale(ws, {(f.name, p) for f, p in made})
    for fmt, precision, why in refused:
        yield Log("warning", f"{fmt.label} {precision}: not made. {why}")
    results: dict[str, dict] = {}
    for i, (fmt, precision) in enumerate(made):
        cancel.raise_if_cancelled()
        info = _one(cfg, ws, G, meta, fmt, precision)
        results.setdefault(fmt.name, {})[precision] = info
        if precision not in LOSSY and info.get("parity", 0.0) > 1e-4:
            yield Log("warning", f"{fmt.label} {precision} differs from torch by {info['parity']:.2e} (more than "
                                 "1e-4)")
        if info.get("not_run"):
            yield Log("info", f"{fmt.label} {precision}: {info['not_run']}")
        yield Progress("export", i + 1, len(made), f"{fmt.name} {precision} done")
        yield Artifact("export", fmt.name, info["path"], {"precision": precision, **info})
    for fmt, precision, why in refused:
        results.setdefault(fmt.name, {})[precision] = {"skipped": why}
    return results
