"""The export stage's path for image-to-image generators: ONNX with input `image` [batch, C, h, w] (dynamic batch)
and output `output` [batch, C, H, W] (ONNX names are unique, so the output cannot share the input's name), the
metadata gan.task and gan.input_shape, and int8 calibrated on the task's own inputs (downscaled digits for superres,
holed images for inpaint, edge maps for sketch, the A/ images for paired) rather than on random latents.
"""

from __future__ import annotations

import json
import statistics
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from engine import APP_NAME, __version__
from engine.errors import ConfigError
from engine.events import Artifact, CancelToken, Event, Log, Progress
from engine.export.onnx import ort_session, prepare_for_export, save_model_atomic, set_metadata
from engine.export.precisions import BY_NAME
from engine.inputs import workspace_pairs
from engine.metrics.quality import psnr
from engine.workspace import Workspace

INPUT, OUTPUT = "image", "output"
SUPPORTED = ("fp32", "fp16", "int8", "int8-dynamic")


def image_metadata(G: nn.Module, task: str, dataset: str, precision: str = "fp32", pruning: dict | None = None,
                   scale: int | None = None) -> dict[str, str]:
    spec = G.spec()
    meta = {"gan.task": task, "gan.input_shape": json.dumps(list(G.input_shape)),
            "gan.image_shape": ",".join(str(int(v)) for v in G.image_shape), "gan.output_range": "-1,1",
            "gan.arch": spec["arch"], "gan.dataset": dataset, "gan.precision": precision,
            "gan.pruning": json.dumps(pruning or {}, separators=(",", ":"), sort_keys=True),
            "gan.producer": f"{APP_NAME} {__version__}"}
    if task == "superres" and scale:
        meta["gan.scale"] = str(scale)
    return meta


def export_image_generator(G: nn.Module, path: str | Path, metadata: dict[str, str], opset: int | None = None) -> Path:
    """Write G as a single-file ONNX: input 'image' [batch, *input_shape], output 'output' [batch, *image_shape]."""
    from engine.export.graph import DEFAULT_OPSET, retarget, simplify
    from engine.export.onnx import _cache_torchlib_op_list

    path = Path(path)
    _cache_torchlib_op_list()
    model = prepare_for_export(G)
    x = torch.rand(2, *G.input_shape) * 2 - 1  # batch >= 2 so the batch axis is not specialized
    batch = torch.export.Dim("batch", min=1, max=65536)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model, (x,), dynamo=True, dynamic_shapes=({0: batch},), external_data=False,
                                    input_names=[INPUT], output_names=[OUTPUT], verbose=False, optimize=True)
    proto = program.model_proto
    proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    simplify(proto)
    opset = opset or DEFAULT_OPSET
    proto = retarget(proto, opset)
    set_metadata(proto, {**metadata, "gan.opset": str(opset)})
    save_model_atomic(proto, path)
    return path


def run_image_onnx(session, x: np.ndarray) -> np.ndarray:
    return session.run([OUTPUT], {INPUT: x.astype(np.float32)})[0]


@torch.no_grad()
def image_parity(G: nn.Module, path: Path, inputs: torch.Tensor) -> float:
    """Largest |torch - ONNX| on real inputs at batch 1 and the whole batch."""
    session = ort_session(path)
    ref = prepare_for_export(G)
    worst = 0.0
    for x in (inputs[:1], inputs):
        out = run_image_onnx(session, x.numpy())
        worst = max(worst, float(np.abs(out - ref(x).numpy()).max()))
    return worst


class ImageReader:
    """Feeds onnxruntime's calibrator the task's own inputs in batches."""

    def __init__(self, inputs: np.ndarray, batch: int = 32) -> None:
        self._batches = [{INPUT: inputs[i:i + batch].astype(np.float32)} for i in range(0, len(inputs), batch)]
        self._it = iter(self._batches)

    def get_next(self):
        return next(self._it, None)

    def rewind(self) -> None:
        self._it = iter(self._batches)


def latency_ms(path: Path, x: np.ndarray, runs: int, threads: int = 1) -> float:
    session = ort_session(path, threads=threads)
    for _ in range(2):
        run_image_onnx(session, x)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        run_image_onnx(session, x)
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 3)


def _convert(name: str, fp32: Path, out: Path, calib: np.ndarray, cfg) -> None:
    from engine.export import quantize

    if name == "int8":
        quantize.quantize_int8_static(fp32, out, seed=cfg.seed, keep_first_last_float=cfg.keep_first_last_float,
                                      reader=ImageReader(calib), symbolic_shapes=False)
    elif name == "int8-dynamic":
        quantize.quantize_int8_dynamic(fp32, out, cfg.keep_first_last_float, symbolic_shapes=False)
    elif name == "fp16":
        quantize.convert_fp16(fp32, out)


def run_export_images(cfg, ws: Workspace, ckpt: dict, ckpt_path: Path, G: nn.Module, pruning: dict,
                      cancel: CancelToken) -> Iterator[Event]:
    wanted = list(dict.fromkeys(cfg.precisions))
    unsupported = [p for p in wanted if p not in SUPPORTED]
    if unsupported:
        raise ConfigError(f"Image-to-image models export as {', '.join(SUPPORTED)} (not {', '.join(unsupported)}).")
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
        if name != "fp32":
            _convert(name, fp32, path, calib_in.numpy(), cfg)
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
