"""compress on two CPU processes (Gloo, through the real CLI and torchrun): each round of the search fine-tunes one
candidate per process, the winner reaches rank 0 from the process that trained it, and a stop ends every process
with the best result so far kept."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.models import generator_from_checkpoint
from engine.prune.sensitivity import model_macs
from engine.stages.compress.search import Search
from tests.engine.tiny import dense_dcgan_workspace

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--probe-samples", "256", "--batch-size", "16", "--device", "cpu", "--nproc-per-node", "2"]


def _cli(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "engine.cli", "compress", *args], env=env, cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_rounds_try_one_size_per_process_spread_over_what_is_open():
    search = Search(ladder=(2, 3, 4, 6, 8, 12, 16, 20, 24, 32, 40))
    assert search.rounds_left(2) == 3 and search.rounds_left(1) == 4  # 11 rungs: thirds vs halves
    assert search.next_round(2) == [6, 20]  # the open ladder cut in three
    search.record_round([(6, True), (20, False)])
    assert search.next_round(2) == [8, 12] and search.rounds_left(2) == 2  # 8, 12, 16 open: 16 may need one more
    search.record_round([(8, True), (12, False)])
    assert search.next_round(2) == []  # settled: 8x keeps quality, 12x does not
    # more processes than open sizes: each is tried once, the rest of the processes wait
    assert Search(ladder=(2, 4, 8)).next_round(5) == [2, 4, 8]
    assert Search(ladder=(2, 4, 8)).next_round(1) == [4]  # one process: the binary search's middle


def test_a_try_that_loses_quality_below_one_that_keeps_it_does_not_close_the_search():
    search = Search(ladder=(2, 4, 8, 16, 32))
    search.record_round([(4, False), (16, True)])  # training noise: the smaller one made it, the larger did not
    assert search.ladder[search.lo] == 16 and search.next_round(2) == [32]


def test_a_goal_is_in_the_first_round_with_the_other_processes_spread_around_it():
    search = Search(ladder=(2, 3, 4, 6, 8, 12, 16, 20, 24, 32, 40), goal=20)
    assert search.next_round(2) == [8, 20]
    search.record_round([(8, True), (20, True)])
    assert search.next_round(2) == []  # the goal holds: the rest of the time polishes it


def test_two_processes_search_together_and_rank_0_saves_the_winner_process_1_trained(tmp_path):
    ws = dense_dcgan_workspace(tmp_path / "ws")
    # goal 20x: round 1 tries 8x (process 0) and 20x (process 1); with a 10x FID budget both keep "quality", the
    # search ends and process 1 polishes 20x, so the winner's weights must travel to rank 0.
    run = _cli("-w", str(ws.root), "--max-fid-rise", "10", "--target-macs", "0.05", "--time-budget", "0.35", *TINY)
    out, err = run.communicate(timeout=180)
    assert run.returncode == 0, err
    table = json.loads((ws.root / "compress.json").read_text())
    assert table["processes"] == 2 and table["status"] == "done"
    rows = {(c["round"], c["process"]): c for c in table["candidates"]}
    assert set(rows) == {(1, 0), (1, 1)} and rows[1, 0]["reduction"] == 8 and rows[1, 1]["reduction"] == 20
    assert all(c["steps"] > 0 and c["feasible"] for c in rows.values())
    best = table["best"]
    assert (best["round"], best["process"], best["reduction"]) == (1, 1, 20)
    assert best["steps"] > rows[1, 0]["steps"]  # polished for the rest of the budget
    student = generator_from_checkpoint(ws.load_checkpoint("finetuned"), use_ema=False)
    assert model_macs(student) == best["macs"] and student.spec()["widths"] == best["widths"]
    ckpt = ws.load_checkpoint("finetuned")
    assert ckpt["step"] == best["kept_step"] and ckpt["probes"][-1]["step"] == best["steps"]
    assert ckpt["probe_fid"] == pytest.approx(best["probe_fid"])
    pruned = generator_from_checkpoint(ws.load_checkpoint("pruned"), use_ema=False)
    assert pruned.spec()["widths"] == best["widths"]
    stages = ws.read_manifest()["stages"]
    assert stages["compress"]["status"] == "done" and stages["finetune"]["by"] == "compress"
    said = out + err
    assert "Round 1: trying 8x, 20x at once on 2 of 2 processes" in said and "20x (process 1)" in said


@pytest.mark.slow  # ~17 s on a loaded machine; make test keeps the two-process search above
def test_a_stop_ends_every_process_and_keeps_the_best_so_far(tmp_path):
    ws = dense_dcgan_workspace(tmp_path / "ws")
    events = tmp_path / "events.jsonl"
    run = _cli("-w", str(ws.root), "--max-fid-rise", "10", "--time-budget", "2", *TINY, "--events", str(events))
    deadline = time.monotonic() + 120
    while not any(e["type"] == "Metrics" and "probe_fid" in e["values"] for e in _events(events)):
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()
        time.sleep(0.3)
    t0 = time.monotonic()
    run.send_signal(signal.SIGTERM)  # what the studio's Stop does; torchrun passes it to both processes
    _, err = run.communicate(timeout=60)
    print(f"stopped {time.monotonic() - t0:.1f} s after SIGTERM")
    assert run.returncode == 130 and "Traceback" not in err, err
    table = json.loads((ws.root / "compress.json").read_text())
    assert table["status"] == "cancelled" and {c["process"] for c in table["candidates"]} == {0, 1}
    assert table["best"] is not None and ws.checkpoint_path("finetuned").exists()
    assert ws.stage("compress")["status"] == "cancelled"


def _events(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
