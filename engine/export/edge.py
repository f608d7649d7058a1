"""Export a generator for phones and small boards: ExecuTorch (.pte, XNNPACK), LiteRT (.tflite), Core ML
(.mlpackage). Each starts from the same prepared module as the ONNX file (eval copy, permanent pruning, BatchNorm
folded; engine/export/onnx.py) and carries the same gan.* metadata: Core ML in its user-defined metadata, the
others in a side-car FILE.json (their files have no slot the runtimes read back), which also names the inputs
and outputs and the batch sizes the file takes. Writes are atomic: a temporary file (or folder), then a rename.

The packages come with the optional extra (engine/export/formats.py EDGE_PINS); each is imported here, when
called, never at import time.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import torch
import torch.nn as nn

from engine.errors import WorkspaceError
from engine.export.onnx import _normalize_metadata, prepare_for_export
from engine.workspace import atomic_write_bytes

# Its memory is planned for the largest batch; larger ones run in slices of this. Measured on the pruned bundled
# DCGAN (XNNPACK, 1 thread): int8 per image 0.049 ms at batch 1, 0.034 at 32, then 0.125 at 64 (fp32 0.087 at 32,
# 0.187 at 64): past 32 its buffers fall out of cache, so 64 images run fastest as two calls of 32.
EXECUTORCH_MAX_BATCH = 32


def _example(G: nn.Module, n: int) -> tuple[tuple[torch.Tensor, ...], list[str]]:
    """Example inputs at batch n and their names: z, and a conditional model's label."""
    z = torch.randn(n, int(G.latent_dim), generator=torch.Generator().manual_seed(0))
    if getattr(G, "num_classes", 0):
        return (z, torch.arange(n) % int(G.num_classes)), ["z", "label"]
    return (z,), ["z"]


def write_side_car(path: Path, fmt: str, names: list[str], meta: dict, **shape) -> Path:
    """FILE.json beside a file whose format has no metadata slot: gan.* metadata, input/output names, batch."""
    card = {"format": fmt, "inputs": names, "outputs": ["image"], **shape, "metadata": meta}
    side = path.with_name(path.name + ".json")
    atomic_write_bytes(side, json.dumps(card, indent=1, sort_keys=True).encode())
    return side


def _metadata(G: nn.Module, meta: dict, precision: str, fmt: str) -> dict[str, str]:
    return {**_normalize_metadata(G, {**meta, "precision": precision}), "gan.format": fmt}


def _needs(module: str, fmt: str):
    from engine.export.formats import BY_NAME

    try:  # the converters' progress bars would start tqdm's monitor thread, which outlives the export
        import tqdm

        tqdm.tqdm.monitor_interval = 0
    except ImportError:
        pass

    try:
        return __import__(module, fromlist=["_"])
    except ImportError as e:
        raise WorkspaceError(f"{BY_NAME[fmt].missing_sentence()} ({e})") from None


# ---- ExecuTorch ----------------------------------------------------------------------------------------------------
def _quantize_pt2e(model: nn.Module, args, dynamic, calibration: int, seed: int, G: nn.Module) -> nn.Module:
    """Static int8 through torchao's PT2E flow with ExecuTorch's XNNPACK quantizer (per-channel weights),
    calibrated on random latents (and classes in turn) as ONNX int8 is."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    graph = torch.export.export(model, args, dynamic_shapes=dynamic).module()
    prepared = prepare_pt2e(graph, quantizer)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for start in range(0, calibration, 32):
            n = min(32, calibration - start)
            z = torch.randn(n, int(G.latent_dim), generator=gen)
            prepared(*((z, torch.arange(start, start + n) % int(G.num_classes)) if len(args) > 1 else (z,)))
    return convert_pt2e(prepared)


def export_executorch(G: nn.Module, precision: str, path: str | os.PathLike, meta: dict, calibration: int = 256,
                      seed: int = 0, subpixel: bool = True) -> Path:
    """G as an ExecuTorch program lowered to XNNPACK: fp32, or int8 (static, PT2E). Any batch from 1 to
    EXECUTORCH_MAX_BATCH in one call. `subpixel`: ConvTranspose as Conv + pixel shuffle (engine/export/subpixel.py),
    which XNNPACK ran 3-5x faster than its own deconvolution on the pruned bundled DCGAN (fp32 b1 0.80 -> 0.14 ms,
    int8 b1 0.17 -> 0.05 ms, one thread)."""
    _needs("executorch.exir", "executorch")
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import ExecutorchBackendConfig, to_edge_transform_and_lower
    from executorch.exir.passes.sym_shape_eval_pass import ConstraintBasedSymShapeEvalPass

    path = Path(path)
    model = prepare_for_export(G, subpixel=subpixel)
    # an example at the largest batch: from a small one torch.export bounded the batch by a guess (15 for a DCGAN)
    # and the memory planner planned for that
    args, names = _example(G, EXECUTORCH_MAX_BATCH)
    batch = torch.export.Dim("batch", min=1, max=EXECUTORCH_MAX_BATCH)
    dynamic = tuple({0: batch} for _ in args)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        if precision == "int8":
            model = _quantize_pt2e(model, args, dynamic, calibration, seed, G)
        program = torch.export.export(model, args, dynamic_shapes=dynamic)
        # plan memory for the largest batch allowed (the default plans for the example's size hint)
        lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()]).to_executorch(
            ExecutorchBackendConfig(sym_shape_eval_pass=ConstraintBasedSymShapeEvalPass()))
    atomic_write_bytes(path, lowered.buffer)
    write_side_car(path, "executorch", names, _metadata(G, meta, precision, "executorch"),
                   max_batch=EXECUTORCH_MAX_BATCH)
    return path


# ---- LiteRT --------------------------------------------------------------------------------------------------------
def export_litert(G: nn.Module, precision: str, path: str | os.PathLike, meta: dict, batch: int = 1,
                  subpixel: bool = True) -> Path:
    """G as a LiteRT flatbuffer (fp32) for a fixed batch (1: a device draws one image at a time): litert-torch
    0.10.0 cannot convert a dynamic batch and its XNNPACK delegate cannot resize the reshape after the latent, so
    other batches run in slices of this one. `subpixel` as for ExecuTorch: LiteRT lowers ConvTranspose to PAD +
    CONV_2D worth ~5x its MACs; the sub-pixel form ran 6x faster (pruned bundled DCGAN, b1 0.78 -> 0.13 ms)."""
    litert_torch = _needs("litert_torch", "litert")
    path = Path(path)
    model = prepare_for_export(G, subpixel=subpixel)
    args, names = _example(G, batch)
    if len(args) > 1:  # without x64 support LiteRT carries the class as int32
        args = (args[0], args[1].to(torch.int32))
    with warnings.catch_warnings(), torch.no_grad(), tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        warnings.simplefilter("ignore")
        tmp_file = Path(tmp) / path.name
        litert_torch.convert(model, args).export(str(tmp_file))
        os.replace(tmp_file, path)
    write_side_car(path, "litert", names, _metadata(G, meta, precision, "litert"), batch=batch)
    return path


# ---- Core ML -------------------------------------------------------------------------------------------------------
def export_coreml(G: nn.Module, precision: str, path: str | os.PathLike, meta: dict) -> Path:
    """G as a Core ML ML Program at batch 1: fp32, fp16, or int8 weights (computed in fp16). The gan.* metadata
    goes in its user-defined metadata. Converted and validated anywhere; predicted on macOS only."""
    ct = _needs("coremltools", "coreml")
    path = Path(path)
    model = prepare_for_export(G)
    args, names = _example(G, 1)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.export.export(model, args).run_decompositions({})
        compute = ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16
        ml = ct.convert(program, convert_to="mlprogram", compute_precision=compute)
        if precision == "int8":
            from coremltools.optimize.coreml import OpLinearQuantizerConfig, OptimizationConfig, linear_quantize_weights

            config = OpLinearQuantizerConfig(mode="linear_symmetric", weight_threshold=0)
            ml = linear_quantize_weights(ml, OptimizationConfig(global_config=config))
    for k, v in _metadata(G, meta, precision, "coreml").items():
        ml.user_defined_metadata[k] = v
    ml.user_defined_metadata["gan.inputs"] = json.dumps(names)
    tmp = path.with_name(f".{path.stem}.tmp.mlpackage")  # coremltools insists on the suffix
    shutil.rmtree(tmp, ignore_errors=True)
    ml.save(str(tmp))
    shutil.rmtree(path, ignore_errors=True)
    os.replace(tmp, path)
    return path


def validate_coreml(path: str | os.PathLike) -> dict:
    """What can be checked of a Core ML package without macOS: its spec loads, and its inputs and metadata."""
    ct = _needs("coremltools", "coreml")
    spec = ct.utils.load_spec(str(path))
    return {"inputs": [i.name for i in spec.description.input], "outputs": [o.name for o in spec.description.output],
            "metadata": dict(spec.description.metadata.userDefined)}
