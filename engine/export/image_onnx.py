"""ONNX files of image-to-image generators: input `image` [batch, C, h, w] (dynamic batch), output `output`
[batch, C, H, W] (ONNX names are unique, so the output cannot share the input's name), their metadata (gan.task,
gan.input_shape), parity against torch, the int8 calibration reader over the task's own inputs, and latency."""

from __future__ import annotations

import json
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from engine import APP_NAME, __version__
from engine.export.onnx import ort_session, prepare_for_export, save_model_atomic, set_metadata

INPUT, OUTPUT = "image", "output"


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
