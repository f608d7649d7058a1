"""Training on two CPU processes (Gloo) through the real CLI and torchrun: the same run as one process, resumable
on one process, stopped together on SIGTERM, ended in seconds when a process dies, and one line on a taken port.

Tolerance (measured): after 5 steps of the 28px DCGAN at global batch 16 the losses agree to 1e-4 (relative) and
every weight to 1e-4 (absolute: Adam turns float-rounding differences in near-zero gradients into steps of up to
its learning rate, 2e-4; the largest difference seen was 2.3e-5).
"""

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from engine.cli import main
from engine.config import DataConfig, DistributedConfig, ModelConfig, PipelineConfig, TrainConfig
from engine.errors import ConfigError
from engine.events import CancelToken, Metrics
from engine.stages.train.run import run_train
from engine.workspace import Workspace, load_checkpoint_file

ROOT = Path(__file__).resolve().parents[2]
STEPS, BATCH = 5, 16
ARGS = ["--dataset", "mnist-5k", "--limit", "64", "--arch", "dcgan", "--batch-size", str(BATCH), "--device", "cpu",
        "--sample-every", "1000", "--seed", "3"]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def _cli(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "engine.cli", *args], env=_env(), cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def _one_process(ws: Workspace, steps: int, resume: bool = False) -> list[dict]:
    cfg = PipelineConfig(DataConfig(limit=64), ModelConfig(arch="dcgan"),
                         TrainConfig(steps=steps, batch_size=BATCH, device="cpu", sample_every=1000, seed=3,
                                     resume=resume))
    return [e.values for e in run_train(cfg, ws, CancelToken()) if isinstance(e, Metrics)]


def _metrics(path: Path) -> list[dict]:
    lines = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
    return [x["values"] for x in lines if x["type"] == "Metrics"]


def _close(a: dict, b: dict, rel: float = 1e-4) -> bool:
    return all(abs(a[k] - b[k]) <= rel * max(1.0, abs(b[k])) for k in ("loss_g", "loss_d", "d_real", "d_fake"))


def _draw(ws: Workspace):
    from engine.latents import fixed_latents
    from engine.models import build_pair

    ckpt = load_checkpoint_file(ws.checkpoint_path("finetuned"))
    G, _ = build_pair(ckpt["arch"])
    G.load_state_dict(ckpt["generator"])
    with torch.no_grad():
        return G.eval()(fixed_latents(64, G.latent_dim, 0))


def _max_weight_difference(x: dict, y: dict) -> float:
    return max((x[p][k].float() - y[p][k].float()).abs().max().item()
               for p in ("generator", "discriminator") for k in x[p])


def test_two_processes_train_as_one_and_resume_on_one(tmp_path):
    # through engine.multiprocess (the studio's way in): `gan-prune run` re-launched by torchrun, rank 0's events
    from engine.multiprocess import run_processes

    cfg = PipelineConfig(DataConfig(limit=64), ModelConfig(arch="dcgan"),
                         TrainConfig(steps=STEPS, batch_size=BATCH, device="cpu", sample_every=1000, seed=3))
    events = list(run_processes("train", cfg, Workspace(tmp_path / "two"), 2, CancelToken()))
    two = [e.values for e in events if isinstance(e, Metrics)]
    one = Workspace(tmp_path / "one")
    reference = _one_process(one, STEPS)
    assert len(two) == STEPS and all(_close(a, b) for a, b in zip(two, reference)), (two, reference)
    ckpt2, ckpt1 = (load_checkpoint_file(Workspace(p).checkpoint_path("dense")) for p in (tmp_path / "two", one.root))
    assert ckpt2["step"] == STEPS and _max_weight_difference(ckpt2, ckpt1) < 1e-4
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())["stages"]["train"]
    assert manifest["status"] == "done" and manifest["step"] == STEPS
    # the two-process checkpoint resumes on one process and continues as the one-process run does
    more_two = _one_process(Workspace(tmp_path / "two"), STEPS + 2, resume=True)
    more_one = _one_process(one, STEPS + 2, resume=True)
    assert len(more_two) == 2 and all(_close(a, b) for a, b in zip(more_two, more_one))


def _rank_pid(launcher: int, rank: int) -> int | None:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) != launcher:
                continue
            env = (stat.parent / "environ").read_bytes().split(b"\0")
            if f"RANK={rank}".encode() in env:
                return int(stat.parent.name)
        except (OSError, ValueError, IndexError):
            continue
    return None


def _wait_for_steps(events: Path, n: int, proc: subprocess.Popen, timeout: float = 90) -> None:
    end = time.monotonic() + timeout
    while len(_metrics(events)) < n:
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < end, "training never started"
        time.sleep(0.1)


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the rank's pid through /proc")
def test_a_killed_process_ends_the_run_with_a_clear_error_within_ten_seconds(tmp_path):
    events = tmp_path / "events.jsonl"
    run = _cli("train", "-w", str(tmp_path / "ws"), "--steps", "100000", *ARGS, "--nproc-per-node", "2",
               "--checkpoint-every", "2", "--events", str(events))
    _wait_for_steps(events, 3, run)
    pid = _rank_pid(run.pid, 1)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    t0 = time.monotonic()
    _, err = run.communicate(timeout=30)
    seconds = time.monotonic() - t0
    print(f"the run ended {seconds:.1f} s after process 1 was killed")
    assert run.returncode == 1 and seconds <= 10, (seconds, err)
    last = err.strip().splitlines()[-1]
    assert last.startswith("gan-prune: error: process 1 of 2") and "killed by SIGKILL" in last, err
    assert "Traceback" not in err
    assert load_checkpoint_file(Workspace(tmp_path / "ws").checkpoint_path("dense"))["step"] >= 2  # kept


@pytest.mark.slow  # ~8-16 s of two more processes; run with -m slow
def test_sigterm_stops_every_process_at_one_step_and_keeps_the_checkpoint(tmp_path):
    events = tmp_path / "events.jsonl"
    run = _cli("train", "-w", str(tmp_path / "ws"), "--steps", "100000", *ARGS, "--nproc-per-node", "2",
               "--events", str(events))
    _wait_for_steps(events, 2, run)
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 130, err
    ckpt = load_checkpoint_file(Workspace(tmp_path / "ws").checkpoint_path("dense"))
    assert ckpt["step"] == len(_metrics(events)) >= 2  # the step every process stopped at is the one saved
    manifest = json.loads((tmp_path / "ws" / "manifest.json").read_text())["stages"]["train"]
    assert manifest["status"] == "cancelled" and "Traceback" not in err


def test_a_port_in_use_is_one_line_and_exit_2(tmp_path, capsys):
    with socket.socket() as taken:
        taken.bind(("", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["train", "-w", str(tmp_path / "ws"), "--steps", "2", *ARGS, "--nproc-per-node", "2",
                     "--master-port", str(port)])
    err = capsys.readouterr().err
    assert code == 2 and err.strip() == (
        f"gan-prune: error: Port {port} on this machine is already in use (another run or program); choose a "
        "free one with --master-port (e.g. 29501).")


def test_a_batch_that_does_not_split_is_refused_before_any_process_starts(tmp_path, capsys):
    assert main(["train", "-w", str(tmp_path / "ws"), "--steps", "2", "--batch-size", "15", "--nproc-per-node",
                 "2", "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("gan-prune: error: The batch size 15 does not split evenly over 2 processes; use a multiple "
                   "of 2 (e.g. 14).")


def test_distributed_settings_are_checked_like_every_other(tmp_path):
    with pytest.raises(ConfigError, match=r"distributed.node_rank must be below nnodes \(2\) \(got 2\)"):
        DistributedConfig(nnodes=2, node_rank=2).validate()
    with pytest.raises(ConfigError, match=r"nproc_per_node must be a whole number between 1 and 1024 \(got 0\)"):
        DistributedConfig(nproc_per_node=0).validate()
    toml = tmp_path / "c.toml"
    toml.write_text("[distributed]\nnproc_per_node = 2\nmaster_port = 70000\n")
    from engine.config import load_pipeline_config

    port_words = r"c.toml: distributed.master_port must be a whole number between 1 and 65,535, or left unset"
    with pytest.raises(ConfigError, match=port_words + r" \(got 70000\)"):
        load_pipeline_config(toml)
    toml.write_text("[distributed]\nnproc_per_node = 2\nnnodes = 2\nnode_rank = 1\nmaster_addr = \"10.0.0.1\"\n")
    cfg = load_pipeline_config(toml)
    assert dataclasses.astuple(cfg.distributed)[:4] == (2, 2, 1, "10.0.0.1") and cfg.distributed.world_size == 4


PIPELINE = """
[data]
limit = 64
[model]
arch = "dcgan"
[train]
steps = 3
batch_size = 16
device = "cpu"
sample_every = 1000
[prune]
method = "channel-l1"
amount = 0.5
target = "g"
[finetune]
steps = 2
batch_size = 16
probe_samples = 0
device = "cpu"
"""


@pytest.mark.slow  # ~10 s: two processes through train, rank 0 alone through prune, both through fine-tuning
def test_run_config_with_a_distributed_table_matches_one_process(tmp_path):
    from engine.config import load_pipeline_config
    from engine.pipeline import run_config

    one, two = tmp_path / "one.toml", tmp_path / "two.toml"
    one.write_text(PIPELINE)
    two.write_text(PIPELINE + "[distributed]\nnproc_per_node = 2\n")
    run = _cli("run", str(two), "-w", str(tmp_path / "two"))
    _, err = run.communicate(timeout=180)
    assert run.returncode == 0, err
    list(run_config(load_pipeline_config(one), Workspace(tmp_path / "one"), CancelToken()))
    stages = json.loads((tmp_path / "two" / "manifest.json").read_text())["stages"]
    assert {k: v["status"] for k, v in stages.items()} == {"train": "done", "prune": "done", "finetune": "done"}
    dense = [load_checkpoint_file(Workspace(tmp_path / w).checkpoint_path("dense")) for w in ("one", "two")]
    assert _max_weight_difference(*dense) < 1e-4
    # Fine-tuning starts from models 1e-5 apart, and Adam's first steps are +-lr for every weight whatever its
    # gradient's size: weights whose gradient is near 0 may step either way. What G draws stays close.
    images = [_draw(Workspace(tmp_path / w)) for w in ("one", "two")]
    assert (images[0] - images[1]).abs().mean().item() < 5e-4  # measured 1.9e-5
    assert "nproc_per_node = 2" in (tmp_path / "two" / "config.toml").read_text()
