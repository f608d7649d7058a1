"""The studio's headless paths (`--screenshot`, `--run`, `--wait`) and its window under hostile input and signals,
run as a user runs them: `gan-prune-studio ...` in a fresh interpreter, offscreen.

Promise: bad input exits 2 with one line on stderr naming the file or value; SIGTERM cancels the job, waits for the
worker, leaves the stage "cancelled" and exits 130; nothing ever waits on a dialog nobody can answer.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.hostile.conftest import ROOT, Result, assert_consistent, assert_refused, run_cli, snapshot

LONG_TRAIN = {"arch": "mlp", "steps": 1_000_000, "batch_size": 16, "sample_every": 50, "checkpoint_every": 10,
              "device": "cpu", "threads": 1, "resume": False}  # the manifest's step moves every 10 steps


def _env(tmp_path: Path) -> dict:
    return {"QT_QPA_PLATFORM": "offscreen", "GAN_STUDIO_LOG_DIR": str(tmp_path / "logs")}


def studio(tmp_path: Path, *args: str, timeout: float = 240) -> Result:
    return run_cli(*args, module="desktop_app", timeout=timeout, env=_env(tmp_path))


def start_studio(tmp_path: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **_env(tmp_path)}
    return subprocess.Popen([sys.executable, "-m", "desktop_app", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def long_training_settings(tmp_path: Path) -> Path:
    """A settings file whose Train page asks for a million steps of a tiny MLP GAN (a job that never ends alone)."""
    from desktop_app.settings import StudioSettings

    path = tmp_path / "settings.ini"
    s = StudioSettings(path)
    s.set_options("data", {"dataset": "mnist-5k", "limit": 256})
    s.set_options("train", LONG_TRAIN)
    s.sync()
    return path


def wait_for(condition, proc: subprocess.Popen, what: str, timeout: float = 180) -> None:
    """Poll a subprocess's files (the workspace, the log) until condition() holds; fail if it exits first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the studio exited ({proc.returncode}) before {what}: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def train_status(ws: Path) -> dict:
    try:
        return json.loads((ws / "manifest.json").read_text())["stages"].get("train") or {}
    except (OSError, ValueError, KeyError):
        return {}


# ---- bad input: exit 2, one line ----------------------------------------------------------------------------------
def test_corrupt_manifest_headless_is_one_line_and_exit_2(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "manifest.json").write_text('{"version": 1, "stages": {')
    before = snapshot(ws)
    r = studio(tmp_path, str(ws), "--screenshot", str(tmp_path / "shot.png"), "--page", "train")
    assert_refused(r, "manifest.json", "corrupt")
    assert snapshot(ws) == before and not (tmp_path / "shot.png").exists()


@pytest.mark.parametrize("where, fragment", [("a-file/shot.png", "not a writable folder"),
                                              ("folder", "is a folder"), ("shot.txt", ".png")])
def test_unusable_screenshot_path_is_one_line_and_exit_2(tmp_path, where, fragment):
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "folder").mkdir()
    before = snapshot(tmp_path)
    r = studio(tmp_path, "--screenshot", str(tmp_path / where), "--page", "train")
    assert_refused(r, where.split("/")[-1], fragment)
    assert snapshot(tmp_path) == before  # nothing written, not even a log folder


@pytest.mark.parametrize("flag, value, fragment", [("--size", "huge", "--size"), ("--size", "0x900", "--size"),
                                                   ("--wait", "-5", "--wait")])
def test_bad_headless_flags_are_one_line_and_exit_2(tmp_path, flag, value, fragment):
    r = studio(tmp_path, "--screenshot", str(tmp_path / "s.png"), flag, value)
    assert_refused(r, fragment, value)
    assert not (tmp_path / "s.png").exists()


def test_a_workspace_that_is_a_file_is_one_line_and_exit_2(tmp_path):
    not_a_folder = tmp_path / "ws"
    not_a_folder.write_text("hello")
    r = studio(tmp_path, str(not_a_folder), "--screenshot", str(tmp_path / "s.png"))
    assert_refused(r, str(not_a_folder))
    assert not_a_folder.read_text() == "hello"


@pytest.mark.slow  # a whole studio start for a path the in-process tests also cover
def test_a_damaged_checkpoint_still_gives_a_screenshot_and_no_traceback(tmp_path, tiny_ws):
    (tiny_ws.root / "checkpoints" / "dense.pt").write_bytes(b"\x80\x02garbage")
    r = studio(tmp_path, str(tiny_ws.root), "--screenshot", str(tmp_path / "s.png"), "--page", "prune")
    assert r.code == 0 and r.err == "", r.err
    assert (tmp_path / "s.png").stat().st_size > 1000
    assert_consistent(tiny_ws.root)


# ---- jobs that outlast their wait, and signals ------------------------------------------------------------------
def test_a_job_that_outlasts_wait_is_photographed_cancelled_and_the_app_exits(tmp_path):
    ws, shot = tmp_path / "ws", tmp_path / "shot.png"
    t0 = time.monotonic()
    r = studio(tmp_path, str(ws), "--settings", str(long_training_settings(tmp_path)), "--screenshot", str(shot),
               "--page", "train", "--run", "--wait", "3")
    assert r.code == 1, r.err
    assert_refused(r, "did not finish within 3 s", "cancelled", code=1)
    assert shot.stat().st_size > 1000
    assert train_status(ws).get("status") == "cancelled"
    assert time.monotonic() - t0 < 200  # it used to hang for ever in a question dialog
    assert_consistent(ws)


def test_sigterm_during_a_headless_run_cancels_the_job_and_exits_130(tmp_path):
    ws, shot = tmp_path / "ws", tmp_path / "shot.png"
    proc = start_studio(tmp_path, str(ws), "--settings", str(long_training_settings(tmp_path)), "--screenshot",
                        str(shot), "--page", "train", "--run", "--wait", "600")
    wait_for(lambda: train_status(ws).get("step", 0) >= 10, proc, "the first checkpoint")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    assert train_status(ws)["status"] == "cancelled" and not shot.exists()
    assert (ws / "checkpoints" / "dense.pt").is_file()  # what was made so far is kept
    assert_consistent(ws)


def test_sigterm_closes_an_idle_window_with_130(tmp_path):
    log = tmp_path / "logs" / "studio.log"
    proc = start_studio(tmp_path, str(tmp_path / "ws"), "--settings", str(tmp_path / "s.ini"))
    wait_for(lambda: log.exists() and "Opened project" in log.read_text(), proc, "the window to open the project")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err, err
