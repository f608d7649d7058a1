"""A refused command writes nothing, and a hand-edited manifest is one clear line naming manifest.json and the key."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from engine.config import DataConfig, ModelConfig, PipelineConfig, TrainConfig
from engine.events import CancelToken
from engine.pipeline import save_config
from engine.stages.prune.config import PruneConfig
from engine.stages.prune.run import run_prune
from tests.hostile.conftest import assert_refused, run_cli, set_at, snapshot
from tests.hostile.oshelpers import cli_env


@pytest.fixture
def configured_ws(tiny_ws):
    """The tiny DCGAN workspace with the config.toml a real run would have left."""
    save_config(tiny_ws, PipelineConfig(DataConfig(dataset="mnist-5k"), ModelConfig(arch="dcgan", latent_dim=16),
                                        TrainConfig(steps=10)))
    return tiny_ws


@pytest.mark.parametrize("args, fragment", [
    (["--dataset", "folder:/no/such/folder", "--arch", "dcgan", "--steps", "5"], "/no/such/folder"),
    (["--resume", "--arch", "mlp", "--steps", "20"], "'dcgan' model"),
    (["--resume", "--dataset", "cifar10-not-a-set", "--steps", "20"], "cifar10-not-a-set"),
], ids=["missing-folder", "resume-other-arch", "unknown-dataset"])
def test_a_refused_train_leaves_config_and_model_untouched(configured_ws, args, fragment):
    before = snapshot(configured_ws.root)
    r = run_cli("train", "-w", str(configured_ws.root), *args)
    assert_refused(r, fragment)
    assert snapshot(configured_ws.root) == before  # config.toml above all: later stages read the data set there


def test_a_refused_run_config_writes_no_config(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text('[data]\ndataset = "folder:/no/such/folder"\n[model]\narch = "mlp"\n[train]\nsteps = 2\n')
    ws = tmp_path / "ws"
    assert_refused(run_cli("run", str(cfg), "-w", str(ws)), "/no/such/folder")
    assert snapshot(ws) == {}


def test_demo_refuses_to_replace_a_trained_model_without_force(configured_ws):
    before = snapshot(configured_ws.root)
    line = assert_refused(run_cli("demo", "-w", str(configured_ws.root), "--quick"), "already holds a trained model",
                          "checkpoints/dense.pt", "--force")
    assert str(configured_ws.root) in line
    assert snapshot(configured_ws.root) == before


def test_finetune_resume_with_nothing_to_resume_says_so(configured_ws):
    list(run_prune(PruneConfig(method="channel-l1", amount=0.5), configured_ws, CancelToken()))
    before = snapshot(configured_ws.root)
    r = run_cli("finetune", "-w", str(configured_ws.root), "--steps", "2", "--resume", "--device", "cpu")
    assert_refused(r, "nothing to resume", "finetuned-last.pt", "without --resume")
    assert snapshot(configured_ws.root) == before
    assert "finetune" not in json.loads((configured_ws.root / "manifest.json").read_text())["stages"]


def test_info_into_a_closed_pipe_ends_quietly(configured_ws):
    """`gan-prune info | head -1`: the reader goes away; no traceback, exit 0."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has already gone: every write fails with EPIPE
    try:
        p = subprocess.run([sys.executable, "-m", "engine.cli", "info", "-w", str(configured_ws.root)],
                           stdout=write_end, stderr=subprocess.PIPE, text=True, env=cli_env(), timeout=120)
    finally:
        os.close(write_end)
    assert (p.returncode, p.stderr) == (0, "")


def test_info_through_head_prints_the_first_line_only(configured_ws):
    cmd = f"set -o pipefail; {sys.executable} -m engine.cli info -w '{configured_ws.root}' | head -1"
    p = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, env=cli_env(), timeout=120)
    assert (p.returncode, p.stdout, p.stderr) == (0, "checkpoint checkpoints/dense.pt (step 0)\n", "")


# ---- manifests edited by hand ------------------------------------------------------------------------------------
def edit_manifest(ws, change) -> None:
    path = ws.root / "manifest.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


EDITS = {
    "stage-is-a-string": (set_at("stages", "train", "done"), "stages.train"),
    "stage-is-a-list": (set_at("stages", "train", ["checkpoints/dense.pt"]), "stages.train"),
    "stages-is-a-list": (set_at("stages", []), "'stages'"),
    "checkpoint-climbs-out": (set_at("stages", "train", "checkpoint", "../../etc/passwd"),
                              "stages.train.checkpoint"),
    "checkpoint-is-absolute": (set_at("stages", "train", "checkpoint", "/etc/passwd"), "stages.train.checkpoint"),
    "checkpoint-is-a-number": (set_at("stages", "train", "checkpoint", 5), "stages.train.checkpoint"),
}


CASES = [(edit, ["info"]) for edit in EDITS] + [  # info reads the manifest only; export also means to write
    ("stage-is-a-string", ["export", "--precision", "fp32"]),
    ("checkpoint-climbs-out", ["export", "--precision", "fp32"]),
]


@pytest.mark.parametrize("edit, command", CASES, ids=[f"{c[0]}-{e}" for e, c in CASES])
def test_a_hand_edited_manifest_is_one_line_naming_the_key(tiny_ws, edit, command):
    change, key = EDITS[edit]
    edit_manifest(tiny_ws, change)
    before = snapshot(tiny_ws.root)
    assert_refused(run_cli(command[0], "-w", str(tiny_ws.root), *command[1:]), "manifest.json", key, "fix or delete")
    assert snapshot(tiny_ws.root) == before


def test_an_export_result_path_outside_the_workspace_is_refused(tiny_ws):
    tiny_ws.update_stage("export", status="done", results={"fp32": {"path": "../../../etc/passwd"}})
    before = snapshot(tiny_ws.root)
    r = run_cli("evaluate", "-w", str(tiny_ws.root), "--samples", "64", "--no-latency", "--feature-net", "none")
    assert_refused(r, "manifest.json", "../../../etc/passwd", "outside the workspace")
    assert snapshot(tiny_ws.root) == before
