"""Ctrl-C and SIGTERM: every stage stops cleanly, keeps what it saved, says "cancelled", and the command exits 130
(so `train && prune` never goes on with an unfinished model). Real subprocesses, real signals."""

from __future__ import annotations

import json
import signal
import time

import pytest

from engine.events import CancelToken
from engine.stages.prune.config import PruneConfig
from engine.stages.prune.run import run_prune
from engine.workspace import load_checkpoint_file
from tests.hostile.conftest import assert_consistent
from tests.hostile.oshelpers import finish, spawn_cli, wait_for_status

TRAIN = ["--dataset", "mnist-5k", "--arch", "mlp", "--limit", "256", "--batch-size", "32", "--sample-every", "10000",
         "--checkpoint-every", "10000", "-q"]


def stop(p, sig, ws, stage: str):
    """Wait until the stage runs, send `sig`, and return how the command ended."""
    try:
        wait_for_status(ws, stage, "running", p)
        time.sleep(0.3)  # a few steps in
        p.send_signal(sig)
        return finish(p)
    finally:
        if p.poll() is None:
            p.kill()


def assert_cancelled(r, ws, stage: str):
    assert r.code == 130, f"exit {r.code}; stderr:\n{r.err}"
    assert "Traceback" not in r.err
    assert r.err.strip().splitlines()[-1] == "gan-prune: cancelled; what was saved before the stop is kept"
    entry = json.loads((ws / "manifest.json").read_text())["stages"][stage]
    assert entry["status"] == "cancelled", entry
    assert_consistent(ws)
    return entry


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_train_stops_saves_and_exits_130(tmp_path, sig):
    ws = tmp_path / "ws"
    r = stop(spawn_cli("train", "-w", str(ws), "--steps", "100000", *TRAIN), sig, ws, "train")
    entry = assert_cancelled(r, ws, "train")
    assert 0 < entry["step"] < 100000
    ckpt = load_checkpoint_file(ws / "checkpoints" / "dense.pt")
    assert ckpt["step"] == entry["step"] and "optim" in ckpt  # what was saved is kept, ready for --resume


def test_a_second_ctrl_c_aborts_at_once_and_still_exits_130(tmp_path):
    ws = tmp_path / "ws"
    p = spawn_cli("train", "-w", str(ws), "--steps", "100000", *TRAIN)
    try:
        wait_for_status(ws, "train", "running", p)
        p.send_signal(signal.SIGINT)
        p.send_signal(signal.SIGINT)
        r = finish(p)
    finally:
        if p.poll() is None:
            p.kill()
    assert r.code == 130, r.err
    assert "Traceback" not in r.err
    status = json.loads((ws / "manifest.json").read_text())["stages"]["train"]["status"]
    assert status == "cancelled"
    assert_consistent(ws)


@pytest.fixture
def pruned_ws(tiny_ws):
    list(run_prune(PruneConfig(method="channel-l1", amount=0.5), tiny_ws, CancelToken()))
    return tiny_ws


def test_finetune_ctrl_c_exits_130_with_its_checkpoint_kept(pruned_ws):
    ws = pruned_ws.root
    p = spawn_cli("finetune", "-w", str(ws), "--steps", "100000", "--batch-size", "16", "--sample-every", "100000",
                  "--checkpoint-every", "100000", "--device", "cpu", "-q")
    entry = assert_cancelled(stop(p, signal.SIGINT, ws, "finetune"), ws, "finetune")
    assert load_checkpoint_file(ws / entry["checkpoint"])["step"] == entry["step"]
    assert json.loads((ws / "manifest.json").read_text())["stages"]["prune"]["status"] == "done"


def test_evaluate_sigterm_exits_130_and_leaves_no_report(tiny_ws):
    ws = tiny_ws.root
    p = spawn_cli("evaluate", "-w", str(ws), "--samples", "5000", "--no-latency", "--batch", "50", "-q")
    assert_cancelled(stop(p, signal.SIGTERM, ws, "evaluate"), ws, "evaluate")
    assert not (ws / "report.json").exists()


def test_demo_ctrl_c_exits_130_and_is_not_recorded_as_done(tmp_path):
    ws = tmp_path / "demo"
    p = spawn_cli("demo", "-w", str(ws), "--quick", "--train-steps", "100000", "--model", "mlp", "-q")
    assert_cancelled(stop(p, signal.SIGINT, ws, "train"), ws, "train")
    stages = json.loads((ws / "manifest.json").read_text())["stages"]
    assert "demo" not in stages and "prune" not in stages  # nothing after the stop ran


def test_run_config_sigterm_stops_before_the_later_stages(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text('[data]\ndataset = "mnist-5k"\nlimit = 256\n[model]\narch = "mlp"\n'
                   '[train]\nsteps = 100000\nbatch_size = 32\nsample_every = 100000\ncheckpoint_every = 100000\n'
                   '[prune]\nmethod = "channel-l1"\namount = 0.5\n')
    ws = tmp_path / "ws"
    assert_cancelled(stop(spawn_cli("run", str(cfg), "-w", str(ws), "-q"), signal.SIGTERM, ws, "train"), ws, "train")
    assert "prune" not in json.loads((ws / "manifest.json").read_text())["stages"]
