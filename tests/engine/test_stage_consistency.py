"""Later stages never mix models: weight-pruning zeros survive fine-tuning, out-of-date results go stale and are
not evaluated, a resume of an older fine-tune is refused, and an export leaves no files of an earlier one."""

import pytest
import torch

from engine.errors import WorkspaceError
from engine.events import CancelToken
from engine.metrics.variants import discover
from engine.stages.export.run import ExportConfig, run_export
from engine.stages.finetune.run import FinetuneConfig, run_finetune
from engine.stages.prune.config import PruneConfig
from engine.stages.prune.run import run_prune
from engine.stages.train.run import run_train
from tests.engine.tiny import dense_dcgan_workspace


def run(stage, cfg, ws):
    return list(stage(cfg, ws, CancelToken()))


def zero_fraction(state):
    weights = [v for k, v in state.items() if k.endswith("weight") and v.dim() > 1]
    return sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)


def test_weight_pruning_zeros_survive_fine_tuning(tmp_path):
    ws = dense_dcgan_workspace(tmp_path / "ws")
    run(run_prune, PruneConfig(method="l1-unstructured", amount=0.5, target="gd"), ws)
    before = zero_fraction(ws.load_checkpoint("pruned")["generator"])
    run(run_finetune, FinetuneConfig(steps=3, batch_size=8, device="cpu"), ws)
    after = ws.load_checkpoint("finetuned")
    assert before == pytest.approx(0.5, abs=0.01)
    assert zero_fraction(after["generator"]) >= before and zero_fraction(after["discriminator"]) >= 0.49


def test_a_new_pruning_makes_the_old_fine_tune_stale_and_unresumable(tmp_path):
    ws = dense_dcgan_workspace(tmp_path / "ws")
    run(run_prune, PruneConfig(method="channel-l1", amount=0.25), ws)
    run(run_finetune, FinetuneConfig(steps=2, batch_size=8, device="cpu"), ws)
    run(run_prune, PruneConfig(method="channel-l1", amount=0.5), ws)
    assert ws.stage("finetune")["status"] == "stale"
    assert [v.name for v in discover(ws)] == ["dense", "pruned"]
    with pytest.raises(WorkspaceError, match="earlier pruning"):
        run(run_finetune, FinetuneConfig(steps=4, batch_size=8, device="cpu", resume=True), ws)


def test_training_again_makes_pruned_finetuned_and_exported_models_stale(tmp_path, tiny_cfg):
    ws = tmp_path / "ws"
    from engine.workspace import Workspace

    ws = Workspace(ws)
    run(run_train, tiny_cfg("dcgan", steps=2), ws)
    run(run_prune, PruneConfig(method="channel-l1", amount=0.5, device="cpu"), ws)
    run(run_export, ExportConfig(precisions=("fp32", "fp16"), bench_runs=1), ws)
    run(run_train, tiny_cfg("dcgan", steps=3, resume=True), ws)
    stages = ws.read_manifest()["stages"]
    assert stages["prune"]["status"] == "stale" and stages["export"]["status"] == "stale"
    assert ws.latest_generator_checkpoint() == ws.checkpoint_path("dense")
    assert [v.name for v in discover(ws)] == ["dense"]


def test_export_removes_files_of_precisions_not_asked_for(tmp_path):
    ws = dense_dcgan_workspace(tmp_path / "ws")
    run(run_export, ExportConfig(precisions=("fp32", "fp16"), bench_runs=1), ws)
    assert (ws.export_dir / "generator.fp16.onnx").exists()
    run(run_export, ExportConfig(precisions=("fp32",), bench_runs=1), ws)
    assert sorted(p.name for p in ws.export_dir.glob("*.onnx")) == ["generator.onnx"]


def test_resume_uses_this_runs_learning_rate(tmp_path, tiny_cfg):
    from engine.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    run(run_train, tiny_cfg("mlp", steps=1), ws)
    run(run_train, tiny_cfg("mlp", steps=2, resume=True, lr=1e-5), ws)
    assert ws.load_checkpoint("dense")["optim"]["g"]["param_groups"][0]["lr"] == 1e-5
    assert torch.isfinite(ws.load_checkpoint("dense")["generator"]["net.0.weight"]).all()
