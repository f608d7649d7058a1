"""The evaluate stage compares every variant on the same latents and real images, with progress and grids."""

import numpy as np
import pytest

from engine.events import Artifact, CancelToken, Metrics, Progress, Samples
from engine.metrics.quality import PSNR_CAP_DB
from engine.ondevice.threads import candidate_threads
from engine.stages.evaluate.run import EvaluateConfig, run_evaluate
from tests.engine.evaluate_workspace import evaluated_copy, keep_only_dense, workspace_copy


def test_every_variant_is_measured_side_by_side(tmp_path):
    ws, events = evaluated_copy(tmp_path)
    import json

    report = json.loads(ws.report_path.read_text("utf-8"))
    rows = {v["name"]: v for v in report["variants"]}
    assert list(rows) == ["dense", "pruned", "finetuned", "onnx-fp32"]
    assert all(v["status"] == "ok" for v in rows.values())
    # channel pruning shrinks params and MACs; the ONNX file does the fine-tuned model's work
    assert rows["pruned"]["params"] < rows["dense"]["params"] and rows["pruned"]["macs"] < rows["dense"]["macs"]
    assert rows["onnx-fp32"]["macs"] == rows["finetuned"]["macs"] and rows["onnx-fp32"]["numeric_precision"] == "fp32"
    # same latents and same real images: the exported model scores what its checkpoint scores
    assert rows["onnx-fp32"]["fid"] == pytest.approx(rows["finetuned"]["fid"], rel=1e-3)
    assert rows["onnx-fp32"]["psnr_vs_teacher"] == pytest.approx(rows["finetuned"]["psnr_vs_teacher"], abs=0.05)
    assert rows["dense"]["psnr_vs_teacher"] == PSNR_CAP_DB and rows["dense"]["ssim_vs_teacher"] == pytest.approx(1.0)
    assert rows["pruned"]["psnr_vs_teacher"] < PSNR_CAP_DB
    for v in rows.values():
        assert np.isfinite(v["fid"]) and v["fid"] > 0 and 0 <= v["precision"] <= 1 and 0 <= v["recall"] <= 1
        assert v["swd"] > 0 and v["seconds"] > 0 and sum(v["class_histogram"]) == pytest.approx(1.0)
        runtime = "ort" if v["kind"] == "onnx" else "torch"
        assert 0 < v["latency_ms"][f"{runtime}_b1"] < 1000 and 0 < v["latency_ms"][f"{runtime}_b64"] < 1000  # ms
        assert v["latency_ms"]["threads"] in (candidate_threads() if runtime == "ort" else [v["latency_threads"]])
        assert (ws.samples_dir / f"evaluate-{v['name']}.png").exists()
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress[-1].step == progress[-1].total == 4
    assert [e.label for e in events if isinstance(e, Samples)] == list(rows)
    assert sum(isinstance(e, Metrics) for e in events) == 4
    assert {e.kind for e in events if isinstance(e, Artifact)} == {"report", "html", "csv"}
    assert ws.stage("evaluate")["status"] == "done" and ws.stage("evaluate")["failed"] == []


def test_several_seeds_give_mean_and_spread(tmp_path):
    ws = keep_only_dense(workspace_copy(tmp_path))
    list(run_evaluate(EvaluateConfig(samples=256, seeds=2, latency=False), ws, CancelToken()))
    import json

    (dense,) = json.loads(ws.report_path.read_text("utf-8"))["variants"]
    fids = [s["fid"] for s in dense["per_seed"]]
    assert len(fids) == 2 and fids[0] != fids[1]
    assert dense["fid"] == pytest.approx(np.mean(fids)) and dense["fid_std"] == pytest.approx(np.std(fids))
    assert dense["latency_ms"] == {"torch_b1": None, "torch_b64": None, "ort_b1": None, "ort_b64": None,
                                   "threads": None}


def test_cancel_leaves_no_report(tmp_path):
    ws = keep_only_dense(workspace_copy(tmp_path))
    cancel = CancelToken()
    cancel.cancel()
    events = list(run_evaluate(EvaluateConfig(samples=256, latency=False), ws, cancel))
    assert not ws.report_path.exists() and ws.stage("evaluate")["status"] == "cancelled"
    assert events[-1].level == "warning"
