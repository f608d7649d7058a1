"""The export stage's path for image-to-image generators (the files are made by engine/export/image_onnx.py): int8
calibrated on the task's own inputs (downscaled digits for superres, holed images for inpaint, edge maps for sketch,
the A/ images for paired) rather than on random latents.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch.nn as nn

from engine.events import Artifact, CancelToken, Event, Log, Progress
from engine.export.image_onnx import (
    ImageReader,
    export_image_generator,
    image_metadata,
    image_parity,
    latency_ms,
    run_image_onnx,
)
from engine.export.onnx import ort_session
from engine.export.precisions import BY_NAME, Sources
from engine.inputs import workspace_pairs
from engine.metrics.quality import psnr
from engine.workspace import Workspace


def run_export_images(cfg, ws: Workspace, ckpt: dict, ckpt_path: Path, G: nn.Module, pruning: dict,
                      cancel: CancelToken) -> Iterator[Event]:
    wanted = list(dict.fromkeys(cfg.precisions))
    data = ckpt.get("data") or {}
    src = workspace_pairs(ws, ckpt)
    calib_in, _ = src.fixed("train", cfg.calibration, cfg.seed)
    test_in, _ = src.fixed("test", 64, cfg.seed)
    meta = image_metadata(G, data.get("task", "superres"), data.get("dataset", "unknown"), pruning=pruning,
                          scale=data.get("scale"))
    yield Log("info", f"exporting {ws.rel(ckpt_path)} ({G.spec()['arch']}, task {meta['gan.task']}) as "
                      f"{', '.join(wanted)}; int8 calibrated on {len(calib_in)} of the task's own training inputs")
    ws.update_stage("export", status="running")
    fp32 = ws.export_dir / BY_NAME["fp32"].file_name
    export_image_generator(G, fp32, {**meta, "gan.precision": "fp32"}, opset=cfg.opset)
    worst = image_parity(G, fp32, test_in)
    total = 1 + len(wanted)
    yield Progress("export", 1, total, f"fp32 exported, parity {worst:.1e}")
    if worst > 1e-4:
        yield Log("warning", f"ONNX output differs from torch by {worst:.2e} (more than 1e-4)")
    ref = run_image_onnx(ort_session(fp32, threads=1), test_in.numpy())
    results: dict[str, dict] = {}
    for i, name in enumerate(wanted):
        cancel.raise_if_cancelled()
        path = ws.export_dir / BY_NAME[name].file_name
        if BY_NAME[name].convert is not None:  # the same table as every export; int8 calibrates on task inputs
            BY_NAME[name].convert(Sources(fp32, fp32, len(calib_in), cfg.seed, cfg.keep_first_last_float,
                                          reader=ImageReader(calib_in.numpy()), symbolic_shapes=False), path)
        out = run_image_onnx(ort_session(path, threads=1), test_in.numpy())
        info = {"bytes": path.stat().st_size, "path": ws.rel(path),
                "latency_ms": {"ort_b1": latency_ms(path, test_in[:1].numpy(), cfg.bench_runs),
                               "ort_b64": latency_ms(path, test_in.numpy(), max(3, cfg.bench_runs // 4)),
                               "threads": 1},
                "psnr_vs_fp32": None if name == "fp32" else round(psnr(out, ref), 3)}
        if name == "fp32":
            info["parity"] = worst
        results[name] = info
        yield Progress("export", 2 + i, total, f"{name} done")
        yield Artifact("export", "onnx", ws.rel(path), {"precision": name, **info})
    ws.update_stage("export", checkpoint=ws.rel(ckpt_path), calibration=len(calib_in),
                    opset=cfg.opset, results=results, task=meta["gan.task"])
    yield Log("info", "export done (" + ", ".join(f"{p}: {r['bytes'] / 1e6:.2f} MB" for p, r in results.items())
              + ")")
