"""Smaller ONNX generators with onnxruntime.quantization: static int8 (QDQ), dynamic int8, fp16; and measuring them.

Static int8 is calibrated on latents drawn exactly as in training (standard normal, seeded). ORT has no int8
ConvTranspose, so give it the sub-pixel export (engine.export.subpixel) for int8 to pay off: there every layer
is a QLinearConv/QGemm and the depth-to-space and crop between them run on uint8 (see graph.stray_qdq).
Every file keeps the source's opset and gets the lowest IR version for it, so older runtimes load it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from engine.export.graph import opset_of, retarget
from engine.export.onnx import ort_session, run_onnx, save_model_atomic, set_metadata
from engine.ondevice.threads import pick_threads

COMPUTE_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


class LatentReader:
    """Feeds calibration latents to onnxruntime's calibrator: N standard-normal vectors in batches, seeded."""

    def __init__(self, latent_dim: int, count: int = 256, seed: int = 0, batch: int = 32,
                 num_classes: int = 0) -> None:
        rng = np.random.default_rng(seed)
        z = rng.standard_normal((count, latent_dim)).astype(np.float32)
        self._batches = [{"z": z[i:i + batch]} for i in range(0, count, batch)]
        if num_classes:  # a conditional model calibrates on every class alike: 0, 1, ..., K-1, 0, ...
            labels = np.arange(count, dtype=np.int64) % num_classes
            for i, feed in enumerate(self._batches):
                feed["label"] = labels[i * batch:(i + 1) * batch]
        self._it = iter(self._batches)

    def get_next(self):
        return next(self._it, None)

    def rewind(self) -> None:
        self._it = iter(self._batches)


def _latent_dim(model) -> int:
    meta = {p.key: p.value for p in model.metadata_props}
    if "gan.latent_dim" in meta:
        return int(meta["gan.latent_dim"])
    return int(model.graph.input[0].type.tensor_type.shape.dim[1].dim_value)


def _meta(model) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props if p.key.startswith("gan.")}


def first_last_compute_nodes(model) -> list[str]:
    """Names of the first and last Conv/Gemm/MatMul nodes: the layers most sensitive to int8."""
    names = [n.name for n in model.graph.node if n.op_type in COMPUTE_OPS]
    return sorted({names[0], names[-1]}) if names else []


def _keep_used_domains(model) -> None:
    """Drop opset imports no node uses: the quantizer's pre-processing adds ORT's private domains
    (com.microsoft.nchwc, ai.onnx.preview, ...), and an older runtime refuses versions it does not know."""
    used = {n.domain or "" for n in model.graph.node} | {""}
    keep = [(o.domain, o.version) for o in model.opset_import if (o.domain or "") in used]
    del model.opset_import[:]
    for domain, version in keep:
        entry = model.opset_import.add()
        entry.domain, entry.version = domain, version


def _finish(src_meta: dict[str, str], out_path: Path, precision: str, opset: int) -> Path:
    """Re-attach our metadata (quantizers drop or keep it unpredictably), set gan.precision, bring the file back
    to the source's opset and IR version, write atomically."""
    import onnx

    model = onnx.load(str(out_path))
    _keep_used_domains(model)
    model = retarget(model, opset)
    set_metadata(model, {**src_meta, "gan.precision": precision, "gan.opset": str(opset)})
    save_model_atomic(model, out_path)
    return out_path


def _weight_overrides(model) -> dict:
    """Per-channel scales for conv weights (their channels' ranges differ most after BatchNorm folding),
    one scale for Gemm/MatMul weights: at batch 1 ORT's QGemm with per-channel scales was 1.6x slower
    (23 vs 14 us for the 100 -> 2,744 latent projection) for no measurable gain in PSNR."""
    inits = {i.name for i in model.graph.initializer}
    axis = {"Conv": 0, "ConvTranspose": 1}  # the output-channel axis of each weight layout
    return {n.input[1]: [{"axis": axis[n.op_type]}] for n in model.graph.node
            if n.op_type in axis and len(n.input) > 1 and n.input[1] in inits}


def quantize_int8_static(fp32_path: str | os.PathLike, out_path: str | os.PathLike, calibration: int = 256,
                         seed: int = 0, keep_first_last_float: bool = False, per_channel: bool = True,
                         reader=None, symbolic_shapes: bool = True) -> Path:
    """Static int8 in QDQ form: uint8 activations, int8 weights (per-channel for convs), MinMax calibration.

    `reader`: the calibration data (onnxruntime's CalibrationDataReader); default: `calibration` seeded latents.
    `symbolic_shapes`: False skips ORT's symbolic shape inference, which gives up on a bicubic Resize."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quant_pre_process, quantize_static

    out_path = Path(out_path)
    src = onnx.load(str(fp32_path))
    meta, opset = _meta(src), opset_of(src)
    with tempfile.TemporaryDirectory(dir=out_path.parent) as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=not symbolic_shapes)
        pre_model = onnx.load(str(pre))
        exclude = first_last_compute_nodes(pre_model) if keep_first_last_float else []
        staged = Path(tmp) / "int8.onnx"
        extra = {"WeightSymmetric": True, "ActivationSymmetric": False}
        if per_channel:
            extra["TensorQuantOverrides"] = _weight_overrides(pre_model)
        reader = reader or LatentReader(_latent_dim(src), calibration, seed,
                                        num_classes=int(meta.get("gan.num_classes", 0)))
        quantize_static(str(pre), str(staged), reader,
                        quant_format=QuantFormat.QDQ, per_channel=False, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, nodes_to_exclude=exclude or None, extra_options=extra)
        _finish(meta, staged, "int8", opset)
        os.replace(staged, out_path)
    return out_path


def quantize_int8_dynamic(fp32_path: str | os.PathLike, out_path: str | os.PathLike,
                          keep_first_last_float: bool = False, symbolic_shapes: bool = True) -> Path:
    """Dynamic int8: weights stored int8, activations quantized on the fly (no calibration)."""
    import onnx
    from onnxruntime.quantization import QuantType, quant_pre_process, quantize_dynamic

    out_path = Path(out_path)
    src = onnx.load(str(fp32_path))
    meta, opset = _meta(src), opset_of(src)
    with tempfile.TemporaryDirectory(dir=out_path.parent) as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=not symbolic_shapes)
        pre_model = onnx.load(str(pre))
        exclude = first_last_compute_nodes(pre_model) if keep_first_last_float else []
        staged = Path(tmp) / "dyn.onnx"
        # onnxruntime before 1.17 has ConvInteger for uint8 weights only (int8 ones fail to load there).
        weights = QuantType.QUInt8 if any(n.op_type == "Conv" for n in pre_model.graph.node) else QuantType.QInt8
        quantize_dynamic(str(pre), str(staged), weight_type=weights, per_channel=False,
                         nodes_to_exclude=exclude or None)
        _finish(meta, staged, "int8-dynamic", opset)
        os.replace(staged, out_path)
    return out_path


def convert_fp16(fp32_path: str | os.PathLike, out_path: str | os.PathLike) -> Path:
    """Half-precision weights and math; the input z and output image stay float32 for every caller."""
    import onnx

    try:
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except ImportError:  # older wheels: the same function ships in onnxconverter-common
        from onnxconverter_common.float16 import convert_float_to_float16

    out_path = Path(out_path)
    src = onnx.load(str(fp32_path))
    meta = _meta(src)
    half = convert_float_to_float16(src, keep_io_types=True, disable_shape_infer=False)
    _keep_used_domains(half)
    half = retarget(half, opset_of(src))
    set_metadata(half, {**meta, "gan.precision": "fp16", "gan.opset": str(opset_of(src))})
    save_model_atomic(half, out_path)
    return out_path


# ---- measuring -----------------------------------------------------------------------------------------------------
def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 2.0) -> float:
    """PSNR in dB of two images in [-1, 1] (range 2); inf when identical."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * float(np.log10(data_range ** 2 / mse))


def measure(path: str | os.PathLike, reference: str | os.PathLike | None = None, batches=(1, 64), runs: int = 20,
            threads: int | None = None, n_compare: int = 64, seed: int = 0) -> dict:
    """File bytes, ORT latency (ms, median) per batch size at the fastest thread count (or the one given), and
    PSNR of the outputs against a reference file.

    latency_ms carries "threads", the count its numbers were measured with; "threads_tried" keeps the others.
    """
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    latent = _latent_dim(model)
    picked = pick_threads(path, latent, batches, runs=runs, candidates=[threads] if threads else None, seed=seed)
    result = {"bytes": Path(path).stat().st_size, "latency_ms": picked["latency_ms"],
              "threads_tried": picked["tried"], "opset": opset_of(model), "ir_version": int(model.ir_version)}
    if reference is not None:
        z = np.random.default_rng(seed).standard_normal((n_compare, latent)).astype(np.float32)
        ref = run_onnx(ort_session(reference, threads=1), z)
        value = psnr(run_onnx(ort_session(path, threads=1), z), ref)
        result["psnr_vs_fp32"] = None if value == float("inf") else round(value, 3)
    return result
