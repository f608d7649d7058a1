"""gan-prune demo: the whole pipeline from the bundled pretrained DCGAN, with tiny step counts."""

import json

from engine.cli import main


def test_quick_demo_runs_every_stage_and_writes_the_report(tmp_path, capsys):
    ws = tmp_path / "demo"
    assert main(["demo", "-w", str(ws), "--quick", "--train-steps", "2", "-q"]) == 0, capsys.readouterr().err
    manifest = json.loads((ws / "manifest.json").read_text())
    for stage in ("train", "prune", "finetune", "export", "evaluate", "demo"):
        assert manifest["stages"][stage]["status"] == "done", stage
    report = json.loads((ws / "report.json").read_text())
    names = [v["name"] for v in report["variants"]]
    assert names[:3] == ["dense", "pruned", "finetuned"] and "onnx-int8" in names
    dense, pruned = report["variants"][0], report["variants"][1]
    assert pruned["macs"] < dense["macs"] / 2  # half the channels of G: about a quarter of the MACs
    assert (ws / "samples" / "ondevice-int8.png").stat().st_size > 0
    assert (ws / "report.html").exists()
    assert "demo finished in" in capsys.readouterr().out


def test_demo_refuses_zero_training_steps(tmp_path, capsys):
    assert main(["demo", "-w", str(tmp_path / "d"), "--train-steps", "0"]) == 2
    assert "--train-steps must be above 0 (got 0)" in capsys.readouterr().err
