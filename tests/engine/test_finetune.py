"""Fine-tuning a pruned model: fresh optimizers, distillation from the dense teacher, checkpoints and resume."""

import pytest
import torch

from engine.errors import WorkspaceError
from engine.events import CancelToken, Metrics, Samples
from engine.stages.finetune.run import FinetuneConfig, run_finetune
from engine.stages.prune.config import PruneConfig
from engine.stages.prune.run import run_prune
from engine.workspace import Workspace
from tests.engine.tiny import dense_dcgan_workspace


def _pruned_workspace(path):
    ws = dense_dcgan_workspace(path)
    list(run_prune(PruneConfig(method="channel-l1", amount=0.5, target="gd"), ws, CancelToken()))
    return ws


def test_finetuning_changes_the_pruned_weights_and_reports_distillation(tmp_path):
    ws = _pruned_workspace(tmp_path / "ws")
    pruned = ws.load_checkpoint("pruned")
    events = list(run_finetune(FinetuneConfig(steps=3, batch_size=8, device="cpu", sample_every=2), ws,
                               CancelToken()))
    tuned = ws.load_checkpoint("finetuned")
    assert tuned["step"] == 3 and tuned["arch"] == pruned["arch"]
    for key in ("net.0.weight", "net.3.weight"):
        assert tuned["generator"][key].shape == pruned["generator"][key].shape
        assert not torch.equal(tuned["generator"][key], pruned["generator"][key])
    metrics = [e.values for e in events if isinstance(e, Metrics)]
    assert len(metrics) == 3 and metrics[-1]["distill"] > 0 and "distill_features" in metrics[-1]
    labels = {e.label for e in events if isinstance(e, Samples)}
    assert {"student", "teacher"} <= labels
    assert ws.stage("finetune")["checkpoint"] == "checkpoints/finetuned.pt"
    # pruning again makes that fine-tuned model stale: later stages must use the new pruned one
    list(run_prune(PruneConfig(method="channel-l1", amount=0.25), ws, CancelToken()))
    assert ws.stage("finetune")["status"] == "stale" and ws.latest_generator_checkpoint().name == "pruned.pt"


def test_resume_continues_and_distill_zero_turns_distillation_off(tmp_path):
    ws = _pruned_workspace(tmp_path / "ws")
    cancel = CancelToken()
    for e in run_finetune(FinetuneConfig(steps=4, batch_size=8, device="cpu", distill=0), ws, cancel):
        if isinstance(e, Metrics):
            assert e.values["distill"] == 0
            if e.step == 2:
                cancel.cancel()
    assert ws.stage("finetune")["status"] == "cancelled" and ws.load_checkpoint("finetuned")["step"] == 2
    steps = [e.step for e in run_finetune(FinetuneConfig(steps=4, batch_size=8, device="cpu", resume=True), ws,
                                          CancelToken()) if isinstance(e, Metrics)]
    assert steps == [3, 4] and ws.stage("finetune")["status"] == "done"


def test_finetune_without_a_pruned_model_names_the_missing_step(tmp_path):
    with pytest.raises(WorkspaceError, match="gan-prune prune"):
        list(run_finetune(FinetuneConfig(steps=1), Workspace(tmp_path / "ws"), CancelToken()))
