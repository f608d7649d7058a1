"""gan-prune demo: the whole pipeline from the bundled pretrained DCGAN, with tiny step counts."""

import json

import torch

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


def test_every_bundled_gan_opens_as_a_trained_workspace(tmp_path):
    from engine.models import discriminator_from_checkpoint, generator_from_checkpoint
    from engine.pipeline import open_demo_workspace

    for name in ("dcgan-mnist5k.pt", "mlp-mnist5k.pt"):
        ws = open_demo_workspace(tmp_path / name, model=name)
        ckpt = ws.load_checkpoint("dense")
        G, D = generator_from_checkpoint(ckpt), discriminator_from_checkpoint(ckpt)
        assert G.spec()["image_shape"] == [1, 28, 28] and D.spec()["image_shape"] == [1, 28, 28]
        assert all(v.dtype.is_floating_point is False or v.dtype == torch.float32 for v in ckpt["generator"].values())
        assert ws.stage("train")["status"] == "done" and ws.stage("train")["step"] > 1000
