"""The export stage writes every precision from the workspace's newest generator and records them."""

import onnx
import pytest
import torch

from engine.cli import main as gan_prune
from engine.errors import ConfigError, WorkspaceError
from engine.events import Artifact, Progress
from engine.export.onnx import read_metadata
from engine.stages.export.run import ExportConfig, run_export
from engine.workspace import Workspace
from tests.engine.tiny import pruned_dcgan_workspace


def test_run_export_writes_all_precisions(tmp_path):
    ws = pruned_dcgan_workspace(tmp_path / "ws")
    cfg = ExportConfig(precisions=("fp32", "int8", "int8-dynamic", "fp16"), calibration=16, bench_runs=2)
    events = list(run_export(cfg, ws, None))
    written = {e.info["precision"]: e.path for e in events if isinstance(e, Artifact)}
    assert written == {"fp32": "export/generator.onnx", "int8": "export/generator.int8.onnx",
                       "int8-dynamic": "export/generator.int8-dynamic.onnx", "fp16": "export/generator.fp16.onnx"}
    assert any(isinstance(e, Progress) and e.step == e.total for e in events)
    results = ws.stage("export")["results"]
    assert results["fp32"]["parity"] <= 1e-4
    for precision, rel in written.items():
        assert (ws.root / rel).stat().st_size == results[precision]["bytes"]
        assert set(results[precision]["latency_ms"]) == {"ort_b1", "ort_b64", "threads"}
        assert str(results[precision]["latency_ms"]["threads"]) in results[precision]["threads_tried"]
        meta = read_metadata(ws.root / rel)
        assert meta["gan.precision"] == precision and meta["gan.dataset"] == "mnist-5k"
        assert meta["gan.opset"] == "17" and results[precision]["opset"] == 17
        assert '"method":"channel-l1"' in meta["gan.pruning"]
    assert results["int8"]["psnr_vs_fp32"] > 20
    assert not list(ws.export_dir.glob("tmp*"))  # the sub-pixel intermediate is cleaned up


def test_bad_input_is_a_user_error(tmp_path):
    with pytest.raises(WorkspaceError, match="no generator checkpoint"):
        list(run_export(ExportConfig(), Workspace(tmp_path / "empty"), None))
    with pytest.raises(ConfigError, match="int4.*fp32, fp16, int8, int8-dynamic"):
        ExportConfig(precisions=("int4",)).validate()
    with pytest.raises(ConfigError, match="calibration"):
        ExportConfig(calibration=0).validate()
    with pytest.raises(ConfigError, match=r"opset must be a whole number from 14 to 21 \(got 13\)"):
        ExportConfig(opset=13).validate()


def test_cli_bad_precision_exits_2_with_one_line(tmp_path, capsys):
    Workspace(tmp_path / "ws")
    assert gan_prune(["export", "--workspace", str(tmp_path / "ws"), "--precision", "int4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "int4" in err[0]
    assert gan_prune(["export", "--workspace", str(tmp_path / "ws"), "--calibration", "-1"]) == 2
    assert gan_prune(["export", "--workspace", str(tmp_path / "ws")]) == 2
    assert "no generator checkpoint" in capsys.readouterr().err


def test_cli_export_fp32(tmp_path, capsys):
    ws = pruned_dcgan_workspace(tmp_path / "ws")
    torch.manual_seed(0)
    assert gan_prune(["export", "--workspace", str(ws.root), "--precision", "fp32", "--opset", "18"]) == 0
    model = onnx.load(str(ws.export_dir / "generator.onnx"))
    assert (model.ir_version, [(o.domain, o.version) for o in model.opset_import]) == (8, [("", 18)])
    assert read_metadata(ws.export_dir / "generator.onnx")["gan.opset"] == "18"
    assert "generator.onnx" in capsys.readouterr().err
    assert gan_prune(["export", "--workspace", str(ws.root), "--opset", "22"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "gan-prune: error: opset must be a whole number from 14 to 21 (got 22); 17 loads in onnxruntime 1.14 "
        "and newer."]
