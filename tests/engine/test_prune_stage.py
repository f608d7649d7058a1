"""The pruning stage: checkpoint, manifest record and stage entry; bad input names what to do."""

import pytest
import torch

from engine.errors import ConfigError, WorkspaceError
from engine.events import Artifact, CancelToken, Log
from engine.models import generator_from_checkpoint
from engine.stages.prune.config import PruneConfig
from engine.stages.prune.run import run_prune
from engine.stages.train.run import run_train
from engine.workspace import Workspace
from tests.engine.tiny import dense_workspace


def test_channel_pruning_writes_checkpoint_record_and_stage(tmp_path):
    ws = dense_workspace(tmp_path / "ws")
    events = list(run_prune(PruneConfig(method="channel-l1", amount=0.5, target="gd"), ws, CancelToken()))
    entry = ws.stage("prune")
    assert entry["status"] == "done" and entry["checkpoint"] == "checkpoints/pruned.pt"
    rec = ws.read_manifest()["pruning"][-1]
    assert rec["method"] == "channel-l1" and rec["criterion"] == "l1" and rec["scope"] == "layer"
    assert {n: v["width_after"] for n, v in rec["layers"]["g"].items()} == {"net.0": 16, "net.3": 8, "net.6": 1}
    assert rec["layers"]["d"]["net.0"]["width_after"] == 8
    assert rec["macs_after"]["g"] < rec["macs_before"]["g"] and rec["params_after"]["d"] < rec["params_before"]["d"]
    G = generator_from_checkpoint(ws.load_checkpoint("pruned"))
    assert G.spec()["widths"] == [16, 8] and G(torch.randn(2, 16)).shape == (2, 1, 28, 28)
    assert any(isinstance(e, Artifact) and e.kind == "checkpoint" for e in events)


def test_hint_without_match_d_and_match_d_prunes_d_by_the_same_share(tmp_path):
    ws = dense_workspace(tmp_path / "ws")
    logs = [e.message for e in run_prune(PruneConfig(amount=0.75), ws, CancelToken()) if isinstance(e, Log)]
    assert any("--match-d" in m for m in logs)
    list(run_prune(PruneConfig(amount=0.75, match_d=True), ws, CancelToken()))
    rec = ws.read_manifest()["pruning"][-1]
    assert rec["pruned"] == ["d", "g"] and rec["layers"]["d"]["net.2"]["width_after"] == 8


def test_bad_input_is_a_user_error_naming_the_valid_choices(tmp_path):
    with pytest.raises(WorkspaceError, match="gan-prune train"):
        list(run_prune(PruneConfig(), Workspace(tmp_path / "empty"), CancelToken()))
    with pytest.raises(ConfigError, match="channel-l1"):
        PruneConfig(method="channel-l3").validate()
    with pytest.raises(ConfigError, match="between 0 and 1"):
        PruneConfig(amount=1.2).validate()
    ws = dense_workspace(tmp_path / "ws")
    with pytest.raises(ConfigError, match="g:net.0, g:net.3"):
        list(run_prune(PruneConfig(layers=("net.9",)), ws, CancelToken()))
    with pytest.raises(ConfigError, match="residual blocks"):
        list(run_prune(PruneConfig(method="block"), ws, CancelToken()))


def test_iterative_weight_pruning_after_real_training_reaches_the_amount(tmp_path, tiny_cfg):
    ws = Workspace(tmp_path / "ws")
    list(run_train(tiny_cfg("dcgan", steps=3), ws, CancelToken()))
    cfg = PruneConfig(method="l1-unstructured", amount=0.6, scope="global", schedule="iterative", rounds=2,
                      finetune_steps=2, batch_size=8, device="cpu", layers=("net.3",))
    list(run_prune(cfg, ws, CancelToken()))
    rec = ws.read_manifest()["pruning"][-1]
    assert rec["layers"]["g"]["net.3"]["sparsity"] == pytest.approx(0.6, abs=1e-4)
    assert rec["layers"]["g"]["net.0"]["sparsity"] == 0
    state = ws.load_checkpoint("pruned")["generator"]
    assert "net.3.weight" in state and not any(k.endswith("_orig") for k in state)
