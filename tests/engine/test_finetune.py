"""Fine-tuning a pruned model: fresh optimizers, distillation from the dense teacher, checkpoints and resume."""

import pytest
import torch

from engine.errors import WorkspaceError
from engine.events import CancelToken, Metrics, Samples
from engine.finetune import FinetuneConfig, run_finetune
from engine.prune import PruneConfig, run_prune
from engine.workspace import Workspace


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """On a busy 2-core machine torch's thread pool spin-waits: one thread runs these tiny models ~100x faster."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _pruned_workspace(path):
    from engine.models import build_pair, default_specs

    ws = Workspace(path)
    torch.manual_seed(0)
    gspec, dspec = default_specs("dcgan", (1, 28, 28), latent_dim=16)
    gspec["widths"], dspec["widths"] = [32, 16], [16, 32]
    G, D = build_pair({"generator": gspec, "discriminator": dspec})
    ws.save_checkpoint("dense", {"arch": {"generator": gspec, "discriminator": dspec}, "generator": G.state_dict(),
                                 "discriminator": D.state_dict(), "step": 0, "loss": "bce",
                                 "data": {"dataset": "mnist-5k", "image_shape": [1, 28, 28]}})
    ws.update_stage("train", status="done", checkpoint="checkpoints/dense.pt")
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
    assert len(metrics) == 3 and metrics[-1]["distill"] > 0 and "feature_distill" in metrics[-1]
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
