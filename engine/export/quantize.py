"""Smaller ONNX generators with onnxruntime.quantization: static int8 (QDQ, per-channel), dynamic int8, fp16.

Static int8 is calibrated on latents drawn exactly as in training (standard normal, seeded). ORT has no int8
ConvTranspose, so give it the sub-pixel export (engine.export.subpixel) for int8 to pay off.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from engine.export.onnx import ort_session, run_onnx, save_model_atomic, set_metadata

PRECISIONS = ("fp32", "int8", "int8-dynamic", "fp16")
COMPUTE_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


class LatentReader:
    """Feeds calibration latents to onnxruntime's calibrator: N standard-normal vectors in batches, seeded."""

    def __init__(self, latent_dim: int, count: int = 256, seed: int = 0, batch: int = 32) -> None:
        rng = np.random.default_rng(seed)
        z = rng.standard_normal((count, latent_dim)).astype(np.float32)
        self._batches = [{"z": z[i:i + batch]} for i in range(0, count, batch)]
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


def _finish(src_meta: dict[str, str], out_path: Path, precision: str) -> Path:
    """Re-attach our metadata (quantizers drop or keep it unpredictably), set gan.precision, write atomically."""
    import onnx

    model = onnx.load(str(out_path))
    set_metadata(model, {**src_meta, "gan.precision": precision})
    save_model_atomic(model, out_path)
    return out_path


def quantize_int8_static(fp32_path: str | os.PathLike, out_path: str | os.PathLike, calibration: int = 256,
                         seed: int = 0, keep_first_last_float: bool = False, per_channel: bool = True) -> Path:
    """Static int8 in QDQ form: uint8 activations, per-channel int8 weights, MinMax calibration on latents."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quant_pre_process, quantize_static

    out_path = Path(out_path)
    src = onnx.load(str(fp32_path))
    meta = _meta(src)
    with tempfile.TemporaryDirectory(dir=out_path.parent) as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=False)
        pre_model = onnx.load(str(pre))
        exclude = first_last_compute_nodes(pre_model) if keep_first_last_float else []
        staged = Path(tmp) / "int8.onnx"
        quantize_static(str(pre), str(staged), LatentReader(_latent_dim(src), calibration, seed),
                        quant_format=QuantFormat.QDQ, per_channel=per_channel, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, nodes_to_exclude=exclude or None,
                        extra_options={"WeightSymmetric": True, "ActivationSymmetric": False})
        _finish(meta, staged, "int8")
        os.replace(staged, out_path)
    return out_path


def quantize_int8_dynamic(fp32_path: str | os.PathLike, out_path: str | os.PathLike,
                          keep_first_last_float: bool = False) -> Path:
    """Dynamic int8: weights stored int8, activations quantized on the fly (no calibration)."""
    import onnx
    from onnxruntime.quantization import QuantType, quant_pre_process, quantize_dynamic

    out_path = Path(out_path)
    meta = _meta(onnx.load(str(fp32_path)))
    with tempfile.TemporaryDirectory(dir=out_path.parent) as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32_path), str(pre))
        exclude = first_last_compute_nodes(onnx.load(str(pre))) if keep_first_last_float else []
        staged = Path(tmp) / "dyn.onnx"
        quantize_dynamic(str(pre), str(staged), weight_type=QuantType.QInt8, per_channel=False,
                         nodes_to_exclude=exclude or None)
        _finish(meta, staged, "int8-dynamic")
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
    set_metadata(half, {**meta, "gan.precision": "fp16"})
    save_model_atomic(half, out_path)
    return out_path


# ---- measuring -----------------------------------------------------------------------------------------------------
def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 2.0) -> float:
    """PSNR in dB of two images in [-1, 1] (range 2); inf when identical."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * float(np.log10(data_range ** 2 / mse))


def ort_latency_ms(session, latent_dim: int, batch: int, runs: int = 20, warmup: int = 3) -> float:
    """Median wall time of one forward pass at a batch size, after warm-up runs."""
    z = np.random.default_rng(0).standard_normal((batch, latent_dim)).astype(np.float32)
    for _ in range(warmup):
        run_onnx(session, z)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        run_onnx(session, z)
        times.append((time.perf_counter() - t) * 1000.0)
    return statistics.median(times)


def measure(path: str | os.PathLike, reference: str | os.PathLike | None = None, batches=(1, 64), runs: int = 20,
            threads: int | None = None, n_compare: int = 64, seed: int = 0) -> dict:
    """File bytes, ORT latency (ms, median) per batch size, and PSNR of the outputs against a reference file."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    latent = _latent_dim(model)
    session = ort_session(path, threads=threads)
    result = {"bytes": Path(path).stat().st_size,
              "latency_ms": {f"ort_b{b}": round(ort_latency_ms(session, latent, b, runs), 4) for b in batches}}
    if reference is not None:
        z = np.random.default_rng(seed).standard_normal((n_compare, latent)).astype(np.float32)
        ref = run_onnx(ort_session(reference, threads=threads), z)
        value = psnr(run_onnx(session, z), ref)
        result["psnr_vs_fp32"] = None if value == float("inf") else round(value, 3)
    return result
