"""A command asked to run as several processes checks what it can before it starts any: the models it starts from
(missing, damaged) and how many processes this machine can hold (on CPU at most one per core). Starting torchrun
and N workers of ~300 MB each only to hear "No trained model" N times is the defect these cases pin down.
"""

from __future__ import annotations

import pytest

from tests.hostile.conftest import assert_refused, snapshot
from tests.hostile.inprocess import gan_prune


@pytest.fixture
def no_launch(monkeypatch):
    """The launcher itself is not under test here: reaching it at all is the failure."""
    from engine.distributed import launch

    def launched(*args, **kwargs):
        raise AssertionError("processes were launched before the command's checks refused it")

    monkeypatch.setattr(launch, "launch", launched)


def _cores() -> int:
    from engine.distributed.launch import cpu_cores

    return cpu_cores()


def test_compress_on_a_folder_with_no_model_refuses_before_launching(tmp_path, capsys, no_launch):
    (tmp_path / "ws").mkdir()
    r = gan_prune(capsys, "compress", "-w", str(tmp_path / "ws"), "--max-fid-rise", "0.1", "--nproc-per-node", "2",
                  "--device", "cpu")
    assert_refused(r, "No trained model")


def test_finetune_without_a_pruned_model_refuses_before_launching(tiny_ws, capsys, no_launch):
    before = snapshot(tiny_ws.root)
    r = gan_prune(capsys, "finetune", "-w", str(tiny_ws.root), "--steps", "2", "--nproc-per-node", "2",
                  "--device", "cpu")
    assert_refused(r, "No pruned model")
    assert snapshot(tiny_ws.root) == before


def test_train_resume_with_nothing_to_resume_refuses_before_launching(tmp_path, capsys, no_launch):
    (tmp_path / "ws").mkdir()
    r = gan_prune(capsys, "train", "-w", str(tmp_path / "ws"), "--resume", "--steps", "2", "--nproc-per-node", "2",
                  "--device", "cpu")
    assert r.code == 2 and "Traceback" not in r.err


def test_a_damaged_model_refuses_before_launching(tiny_ws, capsys, no_launch):
    dense = tiny_ws.root / "checkpoints" / "dense.pt"
    dense.write_bytes(dense.read_bytes()[:-40])
    r = gan_prune(capsys, "compress", "-w", str(tiny_ws.root), "--max-fid-rise", "0.1", "--nproc-per-node", "2",
                  "--device", "cpu")
    assert_refused(r, "dense.pt", "truncated")


@pytest.mark.parametrize("command", [
    ["compress", "--max-fid-rise", "0.1"], ["finetune", "--steps", "2"], ["train", "--steps", "2", "--resume"]])
@pytest.mark.parametrize("count", ["more than the cores", "1024"])
def test_more_cpu_processes_than_cores_are_refused_before_anything(tiny_ws, capsys, no_launch, command, count):
    n = str(_cores() + 1) if count == "more than the cores" else count
    before = snapshot(tiny_ws.root)
    split = ["--batch-size", n] if command[0] != "compress" else []  # the batch splits evenly: that check passes
    r = gan_prune(capsys, command[0], "-w", str(tiny_ws.root), *command[1:], *split, "--nproc-per-node", n,
                  "--device", "cpu")
    assert_refused(r, f"--nproc-per-node {n}", "CPU cores")
    assert snapshot(tiny_ws.root) == before


def test_info_after_a_kill_says_the_stage_was_interrupted(tiny_ws, capsys):
    """A SIGKILL leaves 'running' in the manifest with no process behind it: info says so at once, not only after
    the next stage has run; while a live process holds the workspace lock, 'running' is what it is."""
    import subprocess
    import sys

    tiny_ws.update_stage("prune", status="running", method="channel-l1")  # what a killed prune leaves
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'a+b'); "
                               "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)",
                               str(tiny_ws.root / ".lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        live = gan_prune(capsys, "info", "-w", str(tiny_ws.root))
    finally:
        holder.kill()
        holder.wait()
    assert live.code == 0 and "interrupted" not in live.out
    r = gan_prune(capsys, "info", "-w", str(tiny_ws.root))
    assert r.code == 0 and "note: the prune stage was interrupted" in r.out, r.out + r.err


@pytest.mark.parametrize("command", [["compress", "--max-fid-rise", "0.1"], ["finetune", "--steps", "2"]])
@pytest.mark.parametrize("n", ["1", "255"])
def test_a_probe_smaller_than_fid_allows_is_refused_not_silently_enlarged(tiny_ws, capsys, command, n):
    before = snapshot(tiny_ws.root)
    r = gan_prune(capsys, command[0], "-w", str(tiny_ws.root), *command[1:], "--probe-samples", n)
    assert_refused(r, "--probe-samples", "at least 256", f"got {n}")
    assert snapshot(tiny_ws.root) == before
