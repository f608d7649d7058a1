"""Bad input: nothing to evaluate, too few samples for the covariance, a missing or corrupt variant file."""

import json

import pytest

from engine.errors import ConfigError, WorkspaceError
from engine.events import CancelToken
from engine.stages.evaluate.run import EvaluateConfig, run_evaluate
from engine.workspace import Workspace
from tests.engine.evaluate_workspace import mlp_to_onnx, workspace_copy


def test_empty_workspace_has_nothing_to_evaluate(tmp_path):
    with pytest.raises(WorkspaceError, match="nothing to evaluate"):
        list(run_evaluate(EvaluateConfig(), Workspace(tmp_path / "empty"), CancelToken()))


def test_too_few_samples_are_refused_naming_the_minimum(tmp_path):
    ws = workspace_copy(tmp_path)
    with pytest.raises(ConfigError, match="at least 256"):
        list(run_evaluate(EvaluateConfig(samples=100), ws, CancelToken()))


@pytest.mark.parametrize("bad", [dict(samples=0), dict(seeds=-1), dict(batch=1.5), dict(feature_net="vgg"),
                                 dict(threads=0)])
def test_settings_out_of_range_are_refused(bad):
    with pytest.raises(ConfigError):
        EvaluateConfig(**bad).validate()


def _onnx_that_does_not_run(ws):
    """Valid ONNX with the right metadata whose Reshape cannot hold the image: it loads, then fails at run time."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    from engine.models import generator_from_checkpoint

    G = generator_from_checkpoint(ws.load_checkpoint("finetuned"))
    path = mlp_to_onnx(G, ws.export_dir / "generator.int8.onnx", precision="int8")
    model = onnx.load(str(path))
    (shape,) = [i for i in model.graph.initializer if i.name == "shape"]
    shape.CopyFrom(numpy_helper.from_array(np.array([-1, 1, 27, 27], np.int64), "shape"))
    onnx.save(model, str(path))


def test_missing_corrupt_and_broken_variants_fail_alone(tmp_path):
    ws = workspace_copy(tmp_path)
    ws.checkpoint_path("pruned").write_bytes(b"not a checkpoint")
    (ws.export_dir / "generator.onnx").unlink()  # the manifest still lists it
    _onnx_that_does_not_run(ws)
    with pytest.raises(WorkspaceError) as info:
        list(run_evaluate(EvaluateConfig(samples=256, latency=False), ws, CancelToken()))
    assert all(name in str(info.value) for name in ("pruned", "onnx-fp32", "onnx-int8", "3 of 5"))
    rows = {v["name"]: v for v in json.loads(ws.report_path.read_text("utf-8"))["variants"]}
    assert rows["pruned"]["status"] == rows["onnx-fp32"]["status"] == rows["onnx-int8"]["status"] == "failed"
    assert "corrupt" in rows["pruned"]["error"] and "missing" in rows["onnx-fp32"]["error"]
    assert "does not run" in rows["onnx-int8"]["error"]
    assert rows["dense"]["status"] == rows["finetuned"]["status"] == "ok" and rows["finetuned"]["fid"] > 0
    assert ws.stage("evaluate")["status"] == "failed" and (ws.root / "report.html").exists()
