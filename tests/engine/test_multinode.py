"""Two machines, played on this one: two `gan-prune train --nnodes 2` commands (node ranks 0 and 1, one Gloo
process each, 127.0.0.1) on one workspace, as two machines on a shared folder would run them.

Same tolerance as tests/engine/test_distributed.py (2 processes on one machine): after 5 steps of the 28px DCGAN at
global batch 16, losses within 1e-4 (relative) and every weight within 1e-4 of one process.
"""

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.cli import main
from engine.workspace import Workspace, load_checkpoint_file
from tests.engine.test_distributed import BATCH, STEPS, _close, _max_weight_difference, _metrics, _one_process

ROOT = Path(__file__).resolve().parents[2]
ARGS = ["--dataset", "mnist-5k", "--limit", "64", "--arch", "dcgan", "--batch-size", str(BATCH), "--device", "cpu",
        "--sample-every", "1000", "--seed", "3", "--nnodes", "2", "--nproc-per-node", "1", "--master-addr",
        "127.0.0.1"]
NEEDS_PROC = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the workers through /proc")
LOST = ("gan-prune: error: this machine's processes (machine {r} of 2) lost contact with another machine (its "
        "command stopped or died; it says why there), so they stopped; {kept}: start the same command on every "
        "machine again with --resume.")


def _free_port() -> int:
    """A free port below Linux's ephemeral range (32768 up), where the processes' own connections take theirs."""
    while True:
        port = random.randrange(20000, 32000)
        with socket.socket() as s, contextlib.suppress(OSError):
            s.bind(("", port))
            return port


def _machine(rank: int, ws: Path, port: int, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "engine.cli", "train", "-w", str(ws), *ARGS, "--node-rank",
                             str(rank), "--master-port", str(port), *extra], env=env, cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _joining(port: int, wait: int = 300) -> str:
    return (f"Machine 1 of 2: joining machine 0 at 127.0.0.1:{port} (waiting up to {wait} s); progress and files "
            "are on machine 0.")


def _children(pid: int) -> list[int]:
    """The workers torchrun started (each in a session of its own, so not in the launcher's process group)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def _wait_for_steps(events: Path, n: int, *procs: subprocess.Popen, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while len(_metrics(events)) < n:
        for p in procs:
            assert p.poll() is None, p.communicate()
        assert time.monotonic() < end, "training never started"
        time.sleep(0.1)


def test_two_machines_train_as_one_process(tmp_path):
    port, ws, events = _free_port(), tmp_path / "shared", tmp_path / "events.jsonl"
    first = _machine(0, ws, port, "--steps", str(STEPS), "--events", str(events))
    second = _machine(1, ws, port, "--steps", str(STEPS))
    (_, err0), (out1, err1) = first.communicate(timeout=180), second.communicate(timeout=60)
    assert (first.returncode, second.returncode) == (0, 0), (err0, err1)
    assert err0.splitlines()[0] == (f"Machine 0 of 2: waiting up to 300 s on 127.0.0.1:{port} for the other "
                                    "machines; progress shows here.")
    assert out1 == "" and err1.strip() == _joining(port)  # progress, files and events come from machine 0 alone
    reference = _one_process(Workspace(tmp_path / "one"), STEPS)
    two = _metrics(events)
    assert len(two) == STEPS and all(_close(a, b) for a, b in zip(two, reference)), (two, reference)
    dense = [load_checkpoint_file(Workspace(tmp_path / w).checkpoint_path("dense")) for w in ("shared", "one")]
    assert dense[0]["step"] == STEPS and _max_weight_difference(*dense) < 1e-4
    assert not list(ws.glob(".same-workspace-*"))  # the shared-folder check leaves nothing behind


@NEEDS_PROC
@pytest.mark.slow  # ~10 s; make test keeps the two-machine training above
def test_a_killed_machine_ends_the_other_within_ten_seconds(tmp_path):
    port, ws, events = _free_port(), tmp_path / "shared", tmp_path / "events.jsonl"
    first = _machine(0, ws, port, "--steps", "100000", "--events", str(events))
    second = _machine(1, ws, port, "--steps", "100000")
    _wait_for_steps(events, 2, first, second)
    for pid in [first.pid, *_children(first.pid)]:  # machine 0 goes: its command and its process
        os.kill(pid, signal.SIGKILL)
    t0 = time.monotonic()
    _, err = second.communicate(timeout=60)
    seconds = time.monotonic() - t0
    first.communicate()
    print(f"machine 1 ended {seconds:.1f} s after machine 0 was killed")
    assert second.returncode == 1 and seconds <= 10, (seconds, err)
    assert err.strip().splitlines() == [_joining(port), LOST.format(r=1, kept="machine 0 keeps the last "
                                                                             "checkpoint written")]


@NEEDS_PROC
@pytest.mark.slow  # ~15 s: two more machines
def test_a_killed_second_machine_ends_machine_0_which_keeps_its_checkpoint(tmp_path):
    port, ws, events = _free_port(), tmp_path / "shared", tmp_path / "events.jsonl"
    first = _machine(0, ws, port, "--steps", "100000", "--checkpoint-every", "2", "--events", str(events))
    second = _machine(1, ws, port, "--steps", "100000")
    _wait_for_steps(events, 3, first, second)
    for pid in [second.pid, *_children(second.pid)]:
        os.kill(pid, signal.SIGKILL)
    t0 = time.monotonic()
    _, err = first.communicate(timeout=60)
    assert first.returncode == 1 and time.monotonic() - t0 <= 10, err
    assert err.strip().splitlines()[-1] == LOST.format(r=0, kept="the last checkpoint written is kept")
    assert load_checkpoint_file(Workspace(ws).checkpoint_path("dense"))["step"] >= 2
    assert json.loads((ws / "manifest.json").read_text())["stages"]["train"] | {"status": "failed", "error": (
        "lost contact with another process of the run (it stopped or died, or its machine went away); the last "
        "checkpoint written is kept")} == json.loads((ws / "manifest.json").read_text())["stages"]["train"]
    second.communicate()


@pytest.mark.slow  # ~15 s
def test_sigterm_on_machine_0_stops_both_at_one_step(tmp_path):
    port, ws, events = _free_port(), tmp_path / "shared", tmp_path / "events.jsonl"
    first = _machine(0, ws, port, "--steps", "100000", "--events", str(events))
    second = _machine(1, ws, port, "--steps", "100000")
    _wait_for_steps(events, 2, first, second)
    first.send_signal(signal.SIGTERM)
    (_, err0), (_, err1) = first.communicate(timeout=60), second.communicate(timeout=60)
    assert (first.returncode, second.returncode) == (130, 130), (err0, err1)
    cancelled = "gan-prune: cancelled; what was saved before the stop is kept"
    assert err0.count(cancelled) == 1 and err1.strip().splitlines() == [_joining(port), cancelled]
    assert load_checkpoint_file(Workspace(ws).checkpoint_path("dense"))["step"] == len(_metrics(events))
    assert json.loads((ws / "manifest.json").read_text())["stages"]["train"]["status"] == "cancelled"


@NEEDS_PROC
@pytest.mark.slow  # ~15 s
def test_a_killed_command_stops_its_orphaned_process_at_a_step_with_the_checkpoint_saved(tmp_path):
    port, ws, events = _free_port(), tmp_path / "shared", tmp_path / "events.jsonl"
    first = _machine(0, ws, port, "--steps", "100000", "--events", str(events))
    second = _machine(1, ws, port, "--steps", "100000")
    _wait_for_steps(events, 2, first, second)
    workers = _children(first.pid)
    first.kill()  # machine 0's command alone: its process lives on in a session of its own
    _, err = second.communicate(timeout=30)
    assert second.returncode == 130, err
    end = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
              for pid in workers):
        assert time.monotonic() < end, "machine 0's process trains on without its command"
        time.sleep(0.1)
    first.communicate()
    assert load_checkpoint_file(Workspace(ws).checkpoint_path("dense"))["step"] == len(_metrics(events))
    assert json.loads((ws / "manifest.json").read_text())["stages"]["train"]["status"] == "cancelled"


@pytest.mark.slow  # ~10 s
def test_a_second_machine_with_another_folder_is_refused_on_both(tmp_path):
    port = _free_port()
    first = _machine(0, tmp_path / "here", port, "--steps", "3")
    second = _machine(1, tmp_path / "there", port, "--steps", "3")
    (_, err0), (_, err1) = first.communicate(timeout=120), second.communicate(timeout=60)
    assert (first.returncode, second.returncode) == (2, 2), (err0, err1)
    words = ("gan-prune: error: Machine 1 of 2 does not see the workspace machine 0 writes ({} on machine {}): "
             "across machines --workspace must be one shared folder (e.g. an NFS mount) that every machine "
             "reaches; mount it on each and give its path there.")
    assert err0.strip().splitlines()[-1] == words.format(tmp_path / "here", 0)
    assert err1.strip().splitlines()[-1] == words.format(tmp_path / "there", 1)


def test_machine_0_alone_says_after_the_stated_wait_that_the_other_never_came(tmp_path):
    port = _free_port()
    t0 = time.monotonic()
    first = _machine(0, tmp_path / "ws", port, "--steps", "3", "--join-timeout", "2")
    _, err = first.communicate(timeout=60)
    assert first.returncode == 2 and time.monotonic() - t0 < 30, err
    assert err.strip().splitlines() == [
        f"Machine 0 of 2: waiting up to 2 s on 127.0.0.1:{port} for the other machines; progress shows here.",
        f"gan-prune: error: Machine 0 waited 2 s on port {port} and only 1 of the 2 machines joined; start the same "
        f"command on the other machine with --node-rank 1 and --master-addr 127.0.0.1 --master-port {port}, or "
        "wait longer with --join-timeout."]


@pytest.mark.slow  # ~8 s
def test_a_machine_that_cannot_reach_machine_0_says_so_after_the_stated_wait(tmp_path):
    port = _free_port()  # nothing listens there: machine 0 was never started (or has another address)
    second = _machine(1, tmp_path / "ws", port, "--steps", "3", "--join-timeout", "2")
    _, err = second.communicate(timeout=60)
    assert second.returncode == 2, err
    assert err.strip().splitlines() == [_joining(port, 2), (  # and none of c10d's retry warnings with stack traces
        f"gan-prune: error: Machine 1 could not reach machine 0 at 127.0.0.1:{port} within 2 s; start the same "
        "command there with --node-rank 0, and check that --master-addr is its address as this machine reaches it "
        "and that the port is open.")]


@pytest.mark.slow  # ~8 s
def test_ctrl_c_while_waiting_for_the_others_ends_at_once(tmp_path):
    first = _machine(0, tmp_path / "ws", _free_port(), "--steps", "3")
    assert first.stderr.readline().startswith("Machine 0 of 2: waiting up to 300 s")
    time.sleep(1.0)  # inside torch's C++ wait, where no Python signal handler runs
    first.send_signal(signal.SIGTERM)
    t0 = time.monotonic()
    _, err = first.communicate(timeout=30)
    assert first.returncode == 130 and time.monotonic() - t0 < 5, err
    assert err.strip() == "gan-prune: cancelled while waiting for the other machines; nothing had started."


def test_machine_numbers_and_missing_folders_are_one_line(tmp_path, capsys):
    assert main(["train", "-w", str(tmp_path / "ws"), "--steps", "2", *ARGS, "--node-rank", "2"]) == 2
    assert capsys.readouterr().err.strip() == ("gan-prune: error: distributed.node_rank must be below nnodes (2) "
                                               "(got 2); number the machines 0 to nnodes-1.")
    # fine-tuning on machine 1 reads machine 0's workspace: a folder that is not there is refused before joining
    missing = tmp_path / "not-mounted"
    assert main(["finetune", "-w", str(missing), "--steps", "2", "--batch-size", "16", "--device", "cpu",
                 "--nnodes", "2", "--node-rank", "1", "--master-addr", "10.0.0.1"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"gan-prune: error: Machine 1 of 2 does not see the workspace machine 0 writes ({missing} on machine 1): "
        "across machines --workspace must be one shared folder (e.g. an NFS mount) that every machine reaches; "
        "mount it on each and give its path there.")
    assert not missing.exists()
