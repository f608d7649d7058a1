"""int8 (static QDQ on the sub-pixel form, dynamic) and fp16 stay close to fp32 and keep the metadata.

PSNR bound: 30 dB over the [-1, 1] range is an RMS error below 0.063 (about 8 of 255 gray levels) — no visible
change in a sample grid. The model has BatchNorm statistics from a forward pass in train mode, so its
activations are spread like a trained generator's, and the test checks that its images are not flat (a near-
constant output would make any PSNR look good).
"""

import numpy as np
import onnx
import pytest
import torch

from engine.export.onnx import export_generator, ort_session, read_metadata
from engine.export.quantize import (
    convert_fp16,
    first_last_compute_nodes,
    measure,
    psnr,
    quantize_int8_dynamic,
    quantize_int8_static,
)
from engine.models import build_generator, default_specs
from engine.ondevice.threads import candidate_threads

PSNR_BOUND_DB = 30.0


@pytest.fixture(scope="module")
def fp32_subpixel(tmp_path_factory):
    torch.manual_seed(0)
    G = build_generator({**default_specs("dcgan", (1, 28, 28), latent_dim=16)[0], "widths": [16, 8]})
    G.train()
    with torch.no_grad():
        G(torch.randn(32, 16))
        G.net[-2].reset_parameters()  # PyTorch's init, not DCGAN's 7x smaller one: the scale below assumes it
        G.net[-2].weight.mul_(60.0)  # spread the outputs over the tanh range, as a trained generator does
    G.eval()
    path = tmp_path_factory.mktemp("q") / "g.onnx"
    return export_generator(G, path, {"dataset": "mnist-5k"}, subpixel=True)


def _outputs(path, n=32):
    z = np.random.default_rng(1).standard_normal((n, 16)).astype(np.float32)
    return ort_session(path).run(["image"], {"z": z})[0]


def test_fp32_reference_is_not_flat(fp32_subpixel):
    out = _outputs(fp32_subpixel)  # seeded weights and latents: the spread the tolerances below were set for
    assert float(out.std()) == pytest.approx(0.2551, abs=1e-3)
    assert float(np.abs(out).max()) == pytest.approx(0.934, abs=1e-3)


@pytest.mark.parametrize("precision", ["int8", "int8-first-last-float", "int8-dynamic", "fp16"])
def test_precision_close_to_fp32_with_metadata(fp32_subpixel, tmp_path, precision):
    out = tmp_path / f"g.{precision}.onnx"
    if precision == "int8":
        quantize_int8_static(fp32_subpixel, out, calibration=64, seed=0)
    elif precision == "int8-first-last-float":
        quantize_int8_static(fp32_subpixel, out, calibration=64, seed=0, keep_first_last_float=True)
    elif precision == "int8-dynamic":
        quantize_int8_dynamic(fp32_subpixel, out)
    else:
        convert_fp16(fp32_subpixel, out)
    assert psnr(_outputs(out), _outputs(fp32_subpixel)) >= PSNR_BOUND_DB
    meta = read_metadata(out)
    assert meta["gan.precision"] == precision.replace("-first-last-float", "")
    assert meta["gan.latent_dim"] == "16" and meta["gan.image_shape"] == "1,28,28"
    assert meta["gan.opset"] == "17"
    assert out.stat().st_size < fp32_subpixel.stat().st_size

    model = onnx.load(str(out))
    assert model.ir_version == 8 and {(o.domain, o.version) for o in model.opset_import} <= {("", 17),
                                                                                            ("com.microsoft", 1)}
    ops = [n.op_type for n in model.graph.node]
    if precision == "int8":
        # Every Conv/Gemm reads int8 weights through DequantizeLinear: ORT fuses these into QLinearConv.
        assert "ConvTranspose" not in ops and ops.count("QuantizeLinear") >= 3
        produced_by = {o: n.op_type for n in model.graph.node for o in n.output}
        for n in model.graph.node:
            if n.op_type in ("Conv", "Gemm"):
                assert produced_by.get(n.input[1]) == "DequantizeLinear", n.name
    if precision == "int8-first-last-float":
        excluded = set(first_last_compute_nodes(onnx.load(str(fp32_subpixel))))
        assert excluded  # the float layers exist by name in the quantized model's graph
    if precision == "fp16":
        assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT


def test_measure_reports_bytes_latency_and_psnr(fp32_subpixel, tmp_path):
    out = quantize_int8_static(fp32_subpixel, tmp_path / "g.int8.onnx", calibration=32)
    info = measure(out, reference=fp32_subpixel, batches=(1, 4), runs=2)
    assert info["bytes"] == out.stat().st_size
    latency, tried = info["latency_ms"], info["threads_tried"]
    assert set(latency) == {"ort_b1", "ort_b4", "threads"}
    assert set(tried) == {str(t) for t in candidate_threads()}  # every count on this machine was timed ...
    assert {k: latency[k] for k in ("ort_b1", "ort_b4")} == tried[str(latency["threads"])]  # ... the winner kept
    assert (info["opset"], info["ir_version"]) == (17, 8)
    assert info["psnr_vs_fp32"] >= PSNR_BOUND_DB
