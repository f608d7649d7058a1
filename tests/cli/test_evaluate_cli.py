"""gan-prune evaluate: exit 0 with the report; exit 2 with one line naming the problem."""

import json

from engine.cli import main
from tests.engine.evaluate_workspace import keep_only_dense, workspace_copy


def test_evaluate_writes_the_report_and_fails_on_a_broken_variant(tmp_path, capsys):
    ws = keep_only_dense(workspace_copy(tmp_path))
    broken = ws.export_dir / "generator.int8.onnx"
    broken.write_bytes(b"\x00garbage")
    args = ["evaluate", "--workspace", str(ws.root), "--samples", "256", "--no-latency", "--quiet"]
    assert main(args) == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("gan-prune: error:") and "onnx-int8" in last and "generator.int8.onnx" in last
    assert "Traceback" not in err
    report = json.loads(ws.report_path.read_text("utf-8"))
    assert [v["status"] for v in report["variants"]] == ["ok", "failed"]
    broken.unlink()
    assert main(args) == 0
    report = json.loads(ws.report_path.read_text("utf-8"))
    assert [v["name"] for v in report["variants"]] == ["dense"] and report["samples"] == 256
    assert (ws.root / "report.html").exists() and (ws.root / "report.csv").exists()


def test_too_few_samples_exit_2_naming_the_minimum(tmp_path, capsys):
    ws = workspace_copy(tmp_path)
    assert main(["evaluate", "--workspace", str(ws.root), "--samples", "100"]) == 2
    err = capsys.readouterr().err
    assert "256" in err and "Traceback" not in err


def test_missing_workspace_exits_2(tmp_path, capsys):
    assert main(["evaluate", "--workspace", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
