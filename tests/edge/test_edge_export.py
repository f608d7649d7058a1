"""ExecuTorch, LiteRT and Core ML exports of a tiny DCGAN (issue 24): written by `gan-prune export --format`, with
the ONNX file's metadata, checked against torch, and generated from by gan-sample like an .onnx file. Needs the
edge extra (`make test-edge`); each test skips, with the reason, where its package is absent."""

import json
import subprocess
import sys

import numpy as np
import pytest

from engine.export import formats
from engine.sample_cli import main as gan_sample
from tests.edge.conftest import needs

pytestmark = pytest.mark.edge


@needs("executorch")
def test_executorch_fp32_and_int8_with_metadata_parity_and_onnx_beside(exported):
    ws, rec = exported("onnx executorch", "fp32 int8")
    for precision in ("fp32", "int8"):
        info = rec["formats"]["executorch"][precision]
        path = ws.root / info["path"]
        assert path.name == formats.BY_NAME["executorch"].file_name(precision) and path.stat().st_size == info["bytes"]
        card = json.loads((ws.root / info["side_car"]).read_text())
        assert card["metadata"]["gan.precision"] == precision and card["metadata"]["gan.latent_dim"] == "8"
        assert card["metadata"]["gan.dataset"] == "mnist-5k" and card["inputs"] == ["z"]
        assert set(info["latency_ms"]) == {"b1", "b64", "threads"}
    assert rec["formats"]["executorch"]["fp32"]["parity"] <= 1e-4
    assert rec["formats"]["executorch"]["int8"]["psnr_vs_fp32"] > 20
    assert (ws.export_dir / "generator.int8.onnx").is_file() and rec["results"]["int8"]["bytes"] > 0


@needs("litert_torch", "ai_edge_litert")
def test_litert_fp32_and_int8_said_in_one_line(exported):
    ws, rec = exported("litert", "fp32 int8")
    info = rec["formats"]["litert"]["fp32"]
    assert info["parity"] <= 1e-4 and (ws.root / info["path"]).suffix == ".tflite"
    assert "num_scales" in rec["formats"]["litert"]["int8"]["skipped"]
    assert not (ws.export_dir / "generator.int8.tflite").exists()


@needs("coremltools")
def test_coreml_validated_and_prediction_skipped_off_macos(exported):
    ws, rec = exported("coreml", "fp16 int8")
    for precision in ("fp16", "int8"):
        info = rec["formats"]["coreml"][precision]
        assert (ws.root / info["path"]).is_dir() and info["validated"] == ["z"]
        if sys.platform != "darwin":
            assert "macOS" in info["not_run"]
    from engine.export.edge import validate_coreml

    meta = validate_coreml(ws.export_dir / "generator.int8.mlpackage")["metadata"]
    assert meta["gan.precision"] == "int8" and meta["gan.latent_dim"] == "8"
    if sys.platform != "darwin":
        pytest.skip("Core ML predicts on macOS only: the packages were converted and their spec validated")


@needs("executorch", "ai_edge_litert", "litert_torch")
@pytest.mark.parametrize("name", ["generator.int8.pte", "generator.tflite"])
def test_gan_sample_generates_and_benches_like_onnx(exported, tmp_path, capsys, name):
    ws, _ = exported("onnx executorch litert", "fp32 int8")
    out = tmp_path / "grid.png"
    assert gan_sample([str(ws.export_dir / name), "--n", "5", "--out", str(out), "--bench", "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    assert out.stat().st_size > 0 and "batch   1:" in printed and "batch  64:" in printed
    # the same latents through the ONNX fp32 file: images alike (int8 within a few grey levels)
    from PIL import Image

    onnx_out = tmp_path / "onnx.png"
    assert gan_sample([str(ws.export_dir / "generator.onnx"), "--n", "5", "--out", str(onnx_out)]) == 0
    a, b = (np.asarray(Image.open(p), dtype=np.int16) for p in (out, onnx_out))
    assert np.abs(a - b).mean() < (8 if "int8" in name else 1)


@needs("ai_edge_litert", "litert_torch")
def test_litert_sampler_stays_torch_free(exported, tmp_path):
    ws, _ = exported("onnx executorch litert", "fp32 int8")
    code = ("import sys; sys.modules['torch'] = None\n"
            "from engine.sample_cli import main\n"
            f"rc = main([{str(ws.export_dir / 'generator.tflite')!r}, '--n', '3', '--out', "
            f"{str(tmp_path / 'g.png')!r}])\n"
            "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
            "sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]
    assert (tmp_path / "g.png").stat().st_size > 0


@needs("ai_edge_litert")
def test_a_damaged_tflite_is_one_line(tmp_path, capsys):
    bad = tmp_path / "g.tflite"
    bad.write_bytes(b"not a flatbuffer" * 10)
    assert gan_sample([str(bad), "--out", str(tmp_path / "g.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a readable LiteRT model" in err[0] and not (tmp_path / "g.png").exists()


@needs("executorch", "litert_torch", "ai_edge_litert")
@pytest.mark.parametrize("suffix", [".pte", ".tflite"])
def test_a_conditional_generator_takes_its_labels(tmp_path, suffix):
    import torch

    from engine.export.edge import export_executorch, export_litert
    from engine.models import build_generator, default_specs
    from engine.ondevice import GeneratorModel

    torch.manual_seed(0)
    spec, _ = default_specs("dcgan", (1, 28, 28), latent_dim=16, num_classes=10)
    G = build_generator({**spec, "widths": [8, 4]}).eval()
    path = tmp_path / f"g{suffix}"
    (export_executorch if suffix == ".pte" else export_litert)(G, "fp32", path, {"class_names": list("abcdefghij")})
    model = GeneratorModel(path, threads=1)
    assert model.num_classes == 10 and model.class_names[3] == "d"
    z, labels = model.latents(5), np.arange(5, dtype=np.int64) + 3
    with torch.no_grad():
        ref = G(torch.from_numpy(z), torch.from_numpy(labels)).numpy()
    assert np.abs(model._run(z, labels) - ref).max() <= 1e-4


@needs("litert_torch", "ai_edge_litert")
def test_an_onnx_export_removes_an_earlier_litert_file(tmp_path):
    from engine.cli import main as gan_prune
    from tests.engine.tiny import pruned_dcgan_workspace

    ws = pruned_dcgan_workspace(tmp_path / "ws")
    flags = ["--workspace", str(ws.root), "--precision", "fp32", "--bench-runs", "1", "--threads", "1"]
    assert gan_prune(["export", *flags, "--format", "litert"]) == 0
    assert (ws.export_dir / "generator.tflite").is_file() and ws.stage("export")["formats"]["litert"]["fp32"]
    assert gan_prune(["export", *flags, "--format", "onnx"]) == 0
    assert not (ws.export_dir / "generator.tflite").exists() and not (ws.export_dir / "generator.tflite.json").exists()
    assert set(ws.stage("export")["formats"]) == {"onnx"}
