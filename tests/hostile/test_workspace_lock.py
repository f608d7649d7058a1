"""One writer per workspace: a real OS lock on DIR/.lock, held by every writing stage, CLI and studio alike."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from engine.events import CancelToken
from engine.stage_runner import WorkspaceBusy, run_stage, sweep_stale_temp_files, workspace_lock
from engine.workspace import Workspace, load_checkpoint_file
from tests.hostile.conftest import assert_consistent, assert_refused, run_cli, snapshot
from tests.hostile.oshelpers import cli_env, finish, spawn_cli, stage_status, wait_for_status

HOLD = ("import sys, time\n"
        "from engine.workspace import Workspace\n"
        "from engine.stage_runner import workspace_lock\n"
        "lock = workspace_lock(Workspace(sys.argv[1]), sys.argv[2]); lock.__enter__()\n"
        "print('locked', flush=True); time.sleep(600)\n")


@pytest.fixture
def lock_holder():
    """Another process that holds a workspace's lock until killed (as a running stage would)."""
    procs = []

    def hold(ws, stage: str = "finetune") -> subprocess.Popen:
        p = subprocess.Popen([sys.executable, "-c", HOLD, str(ws.root), stage], stdout=subprocess.PIPE, text=True,
                             env=cli_env())
        procs.append(p)
        assert p.stdout.readline().strip() == "locked"
        return p

    yield hold
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def test_a_second_writer_is_refused_with_the_holders_pid_and_stage(tiny_ws, lock_holder):
    holder = lock_holder(tiny_ws, "finetune")
    before = snapshot(tiny_ws.root)
    r = run_cli("prune", "-w", str(tiny_ws.root), "--method", "channel-l1", "--amount", "0.5")
    line = assert_refused(r, "workspace busy", f"pid {holder.pid}", "stage finetune", str(tiny_ws.root))
    assert line.startswith("gan-prune: error: workspace busy")
    assert snapshot(tiny_ws.root) == before


@pytest.mark.parametrize("command", [["info"], ["layers"]])
def test_read_only_commands_do_not_wait_for_the_lock(tiny_ws, lock_holder, command):
    lock_holder(tiny_ws, "train")
    r = run_cli(*command, "-w", str(tiny_ws.root))
    assert r.code == 0, r.err
    assert "Traceback" not in r.err
    assert "dense" in r.out  # both print the dense model's layers


def test_a_lock_left_by_a_kill_9_is_taken_over(tiny_ws, lock_holder):
    holder = lock_holder(tiny_ws, "export")
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert (tiny_ws.root / ".lock").read_text().split() == [f"pid={holder.pid}", "stage=export"]  # what it left
    r = run_cli("prune", "-w", str(tiny_ws.root), "--method", "channel-l1", "--amount", "0.5", "-q")
    assert r.code == 0, r.err
    assert stage_status(tiny_ws.root, "prune") == "done"
    assert (tiny_ws.root / ".lock").read_text().split()[1] == "stage=prune"
    assert_consistent(tiny_ws.root)


def test_the_studio_is_refused_while_the_cli_writes(tiny_ws, lock_holder):
    from desktop_app.facade import EngineFacade

    holder = lock_holder(tiny_ws, "train")
    make = EngineFacade().prune_job(tiny_ws, {"method": "channel-l1", "amount": 0.5})
    with pytest.raises(WorkspaceBusy, match=f"workspace busy \\(pid {holder.pid}, stage train\\)"):
        list(make(CancelToken()))
    assert stage_status(tiny_ws.root, "prune") is None


def test_the_cli_is_refused_while_a_studio_job_writes(tiny_ws):
    from desktop_app.facade import EngineFacade

    job = EngineFacade().export_job(tiny_ws, {"precisions": ["fp32"]})(CancelToken())
    next(job)  # the job has started: it holds the lock, as on the studio's worker thread
    try:
        r = run_cli("train", "-w", str(tiny_ws.root), "--resume", "--arch", "dcgan", "--steps", "3")
        assert_refused(r, f"workspace busy (pid {os.getpid()}, stage export)")
    finally:
        job.close()
    assert stage_status(tiny_ws.root, "export") is None  # closed before its first write: nothing to record
    assert stage_status(tiny_ws.root, "train") == "done"


def test_the_lock_is_reentrant_inside_one_process_and_released_after(tiny_ws):
    ws2 = Workspace(tiny_ws.root)  # another handle on the same folder, as a pipeline's stages have
    with workspace_lock(tiny_ws, "demo") as outer:
        with workspace_lock(ws2, "train") as inner:
            assert (outer, inner) == (True, False)
        probe = subprocess.run([sys.executable, "-c", HOLD.replace("time.sleep(600)", "pass"), str(tiny_ws.root),
                                "prune"], capture_output=True, text=True, env=cli_env())
        assert probe.returncode == 1 and "workspace busy (pid " in probe.stderr
        assert f"pid {os.getpid()}, stage demo" in probe.stderr
    probe = subprocess.run([sys.executable, "-c", HOLD.replace("time.sleep(600)", "pass"), str(tiny_ws.root),
                            "prune"], capture_output=True, text=True, env=cli_env())
    assert probe.returncode == 0 and probe.stdout.strip() == "locked"


def test_stale_temp_files_are_swept_and_fresh_ones_kept(tiny_ws):
    stale = [tiny_ws.checkpoints / ".dense.pt.k1l2.tmp", tiny_ws.root / ".manifest.json.x9.tmp",
             tiny_ws.export_dir / "tmpq8w7"]
    stale[-1].mkdir()
    (stale[-1] / "pre.onnx").write_bytes(b"half")
    for p in stale[:2]:
        p.write_bytes(b"x" * 1000)
    for p in stale:
        os.utime(p, (time.time() - 3600, time.time() - 3600))  # written by a process killed an hour ago
    fresh = tiny_ws.samples_dir / ".train.png.ab.tmp"  # this process's own write in progress
    fresh.write_bytes(b"png")
    with workspace_lock(tiny_ws, "train"):
        removed = sweep_stale_temp_files(tiny_ws)
    assert sorted(removed) == [".manifest.json.x9.tmp", "checkpoints/.dense.pt.k1l2.tmp", "export/tmpq8w7"]
    assert not any(p.exists() for p in stale)
    assert fresh.exists()


def test_a_stage_left_running_by_a_killed_process_is_closed_as_failed(tiny_ws):
    tiny_ws.update_stage("finetune", status="running", step=40)
    (tiny_ws.checkpoints / ".finetuned.pt.zz.tmp").write_bytes(b"x" * 2048)
    os.utime(tiny_ws.checkpoints / ".finetuned.pt.zz.tmp", (1, 1))

    def nothing():
        yield from ()

    list(run_stage("evaluate", tiny_ws, nothing(), CancelToken()))
    entry = tiny_ws.stage("finetune")
    assert entry["status"] == "failed" and entry["error"].startswith("interrupted")
    assert entry["step"] == 40
    assert tiny_ws.stage("evaluate") is None  # it wrote nothing, so nothing is recorded for it
    assert_consistent(tiny_ws.root)


TRAIN = ["--dataset", "mnist-5k", "--arch", "mlp", "--limit", "256", "--batch-size", "32", "--sample-every", "10000",
         "--checkpoint-every", "10000", "--seed", "0", "-q"]


def test_two_trains_on_one_workspace_one_is_refused_the_other_completes(tmp_path):
    ws = tmp_path / "ws"
    first = spawn_cli("train", "-w", str(ws), "--steps", "300", *TRAIN)
    try:
        wait_for_status(ws, "train", "running", first)
        second = finish(spawn_cli("train", "-w", str(ws), "--steps", "5", *TRAIN))
        assert first.poll() is None, "the first train ended before the second tried; raise its --steps"
        assert_refused(second, "workspace busy", f"pid {first.pid}", "stage train")
        done = finish(first)
    finally:
        if first.poll() is None:
            first.kill()
    assert done.code == 0, done.err
    entry = json.loads((ws / "manifest.json").read_text())["stages"]["train"]
    assert (entry["status"], entry["step"], entry["total_steps"]) == ("done", 300, 300)
    assert load_checkpoint_file(ws / "checkpoints" / "dense.pt")["step"] == 300
    assert "steps = 300" in (ws / "config.toml").read_text()
    assert_consistent(ws)
