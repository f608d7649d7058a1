"""Image-to-image (pix2pix) training and fine-tuning on two CPU processes (Gloo) through the real CLI and torchrun:
the same loss curves as one process at the same global batch, and checkpoints that resume on another number of
processes (2 → 1 and 1 → 2).

Tolerance (measured): after 3-5 steps of a 16px U-Net + PatchGAN at global batch 8, every logged value (losses,
D's verdicts, the distillation terms) agrees to 1e-4 relative (the largest difference seen was 4e-7: the two
processes differ from one only in the order of float sums, BatchNorm's over the global batch and DDP's average),
and every weight to 1e-4 absolute (seen: 1.8e-7; Adam can turn rounding in a near-zero gradient into a step of
up to its learning rate, 2e-4, so the bound is kept at the noise-GAN tests').
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.config import DataConfig, ModelConfig, PipelineConfig, TrainConfig, load_pipeline_config
from engine.events import CancelToken, Metrics
from engine.pipeline import run_config
from engine.stages.train.run import run_train
from engine.workspace import Workspace, load_checkpoint_file

ROOT = Path(__file__).resolve().parents[2]
TOLERANCE = 1e-4

PIPELINE = """
[data]
limit = 40
image_size = 16
[model]
task = "inpaint"
arch = "unet"
[train]
steps = 3
batch_size = 8
device = "cpu"
sample_every = 1000
seed = 3
[prune]
method = "channel-l1"
amount = 0.5
target = "g"
[finetune]
steps = 3
batch_size = 8
probe_every = 2
adversarial = 1.0
lr = 2e-4
device = "cpu"
"""


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def _cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "engine.cli", *args], env=_env(), cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _curves(path: Path) -> dict[str, list[dict]]:
    """Each stage's logged values by step, as rank 0 wrote them (events as JSON lines)."""
    out: dict[str, list[dict]] = {}
    for line in path.read_text().splitlines():
        event = json.loads(line)
        if event["type"] == "Metrics" and event["stage"] in ("train", "finetune"):
            values = {k: v for k, v in event["values"].items() if k != "samples_per_s"}
            out.setdefault(event["stage"], []).append(values)
    return out


def _same_curve(a: list[dict], b: list[dict]) -> bool:
    return len(a) == len(b) > 0 and all(x.keys() == y.keys() and all(
        abs(x[k] - y[k]) <= TOLERANCE * max(1.0, abs(y[k])) for k in y) for x, y in zip(a, b))


def _max_weight_difference(x: dict, y: dict) -> float:
    return max((x[p][k].float() - y[p][k].float()).abs().max().item()
               for p in ("generator", "discriminator") for k in x[p])


def _checkpoint(root: Path, name: str) -> dict:
    return load_checkpoint_file(Workspace(root).checkpoint_path(name))


def _train_cfg(task: str, steps: int, resume: bool = False) -> PipelineConfig:
    return PipelineConfig(DataConfig(limit=40, image_size=16), ModelConfig(arch="unet", task=task),
                          TrainConfig(steps=steps, batch_size=8, device="cpu", sample_every=1000, seed=3,
                                      resume=resume))


def _one_process(ws: Workspace, cfg: PipelineConfig) -> list[dict]:
    return [{k: v for k, v in e.values.items() if k != "samples_per_s"}
            for e in run_train(cfg, ws, CancelToken()) if isinstance(e, Metrics)]


def test_inpaint_pipeline_on_two_processes_matches_one_and_resumes_on_one(tmp_path):
    # `run CONFIG.toml` with [distributed]: both processes train, rank 0 alone prunes, both fine-tune (the GAN term
    # and feature distillation on, so D, G and the adapters all go through the averaged step)
    one, two = tmp_path / "one.toml", tmp_path / "two.toml"
    one.write_text(PIPELINE)
    two.write_text(PIPELINE + "[distributed]\nnproc_per_node = 2\n")
    proc = _cli("run", str(two), "-w", str(tmp_path / "two"), "--events", str(tmp_path / "two.jsonl"), "-q")
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    events = list(run_config(load_pipeline_config(one), Workspace(tmp_path / "one"), CancelToken()))
    runs = {"two": _curves(tmp_path / "two.jsonl"), "one": {
        stage: [{k: v for k, v in e.values.items() if k != "samples_per_s"}
                for e in events if isinstance(e, Metrics) and e.stage == stage] for stage in ("train", "finetune")}}
    assert len(runs["two"]["train"]) == 3 and len(runs["two"]["finetune"]) == 3
    assert _same_curve(runs["two"]["train"], runs["one"]["train"]), runs
    assert _same_curve(runs["two"]["finetune"], runs["one"]["finetune"]), runs
    assert {"adv", "distill_output", "distill_features", "d_real"} <= runs["two"]["finetune"][0].keys()
    for name in ("dense", "finetuned"):
        assert _max_weight_difference(_checkpoint(tmp_path / "two", name), _checkpoint(tmp_path / "one", name)) < 1e-4
    stages = json.loads((tmp_path / "two" / "manifest.json").read_text())["stages"]
    assert {k: v["status"] for k, v in stages.items()} == {"train": "done", "prune": "done", "finetune": "done"}
    kept = json.loads((tmp_path / "one" / "manifest.json").read_text())["stages"]["finetune"]
    assert (stages["finetune"]["kept_step"], stages["finetune"]["validation_psnr"]) == (kept["kept_step"],
                                                                                       kept["validation_psnr"])
    # the two-process checkpoint resumes on one process and goes on as the one-process run does
    more_two = _one_process(Workspace(tmp_path / "two"), _train_cfg("inpaint", 5, resume=True))
    more_one = _one_process(Workspace(tmp_path / "one"), _train_cfg("inpaint", 5, resume=True))
    assert len(more_two) == 2 and _same_curve(more_two, more_one), (more_two, more_one)


def test_superres_resumes_a_one_process_checkpoint_on_two_through_the_studios_way_in(tmp_path):
    from engine.multiprocess import run_processes

    _one_process(Workspace(tmp_path / "one"), _train_cfg("superres", 3))
    shutil.copytree(tmp_path / "one", tmp_path / "two")
    resumed = _train_cfg("superres", 6, resume=True)
    events = list(run_processes("train", resumed, Workspace(tmp_path / "two"), 2, CancelToken()))
    two = [{k: v for k, v in e.values.items() if k != "samples_per_s"} for e in events if isinstance(e, Metrics)]
    one = _one_process(Workspace(tmp_path / "one"), resumed)
    assert len(two) == 3 and _same_curve(two, one), (two, one)
    checkpoints = [_checkpoint(tmp_path / name, "dense") for name in ("two", "one")]
    assert checkpoints[0]["step"] == 6 and checkpoints[0]["task"] == "superres"
    assert _max_weight_difference(*checkpoints) < 1e-4
    assert json.loads((tmp_path / "two" / "manifest.json").read_text())["stages"]["train"]["status"] == "done"
    assert (tmp_path / "two" / "samples" / "train.png").exists()


@pytest.mark.slow  # ~10-15 s: two processes that run until stopped; run with -m slow
def test_sigterm_stops_both_image_processes_at_one_step_and_keeps_the_checkpoint(tmp_path):
    events = tmp_path / "events.jsonl"
    run = _cli("train", "-w", str(tmp_path / "ws"), "--task", "sketch", "--dataset", "mnist-5k", "--limit", "40",
               "--image-size", "16", "--steps", "100000", "--batch-size", "8", "--device", "cpu",
               "--sample-every", "1000", "--nproc-per-node", "2", "--events", str(events))
    end = time.monotonic() + 90
    while not events.exists() or len(_curves(events).get("train", [])) < 2:
        assert run.poll() is None and time.monotonic() < end, run.communicate()[1]
        time.sleep(0.1)
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 130, err
    steps = len(_curves(events)["train"])
    assert _checkpoint(tmp_path / "ws", "dense")["step"] == steps >= 2  # the step both stopped at is the one saved
    manifest = json.loads((tmp_path / "ws" / "manifest.json").read_text())["stages"]["train"]
    assert manifest["status"] == "cancelled" and "Traceback" not in err


def test_a_pair_batch_that_does_not_split_is_refused_before_any_process_starts(tmp_path, capsys):
    from engine.cli import main

    assert main(["train", "-w", str(tmp_path / "ws"), "--task", "superres", "--steps", "2", "--batch-size", "9",
                 "--nproc-per-node", "2", "--device", "cpu"]) == 2
    assert capsys.readouterr().err.strip() == ("gan-prune: error: The batch size 9 does not split evenly over 2 "
                                               "processes; use a multiple of 2 (e.g. 8).")
    assert not (tmp_path / "ws" / "manifest.json").exists()
    # fewer training pairs than the batch: the whole set is the batch, and it must split too (checked in each process)
    from engine.distributed import Context
    from engine.distributed.batches import check_whole_set_splits
    from engine.errors import ConfigError

    check_whole_set_splits(10, 16, Context(world=2))
    with pytest.raises(ConfigError) as refused:
        check_whole_set_splits(11, 16, Context(world=2))
    assert str(refused.value) == ("The 11 training pairs are fewer than the batch size 16, so they are the batch, "
                                  "and 11 does not split evenly over 2 processes; use --batch-size 10.")


@pytest.mark.parametrize("task", ["superres", "inpaint", "sketch", "paired"])
def test_each_process_takes_its_rows_of_the_batch_one_process_would_take(task, tmp_path):
    # inpaint draws a hole per row from one generator: the shares must be the rows of the one-process batch, and
    # the generator must end where one process leaves it (so a checkpoint resumes on any count); paired reads A/
    import torch

    from engine.data import load_dataset
    from engine.data.image_pairs import PairSource
    from engine.distributed import Context
    from tests.cli.test_image_to_image_cli import make_pairs

    names = [f"p{i}" for i in range(12)]
    spec = f"pairs:{make_pairs(tmp_path / 'p', names)}" if task == "paired" else "mnist-5k"
    src = PairSource(load_dataset(DataConfig(spec, limit=40, image_size=16)), task)
    idx = src.train_idx[:8]
    whole_gen = torch.Generator().manual_seed(5)
    whole = src.batch(idx, whole_gen)
    for rank in (0, 1):
        gen = torch.Generator().manual_seed(5)
        share = src.batch(idx, gen, Context(rank=rank, world=2).shard)
        assert all(s.shape[0] == 4 and torch.equal(s, w[rank * 4:(rank + 1) * 4]) for s, w in zip(share, whole))
        assert torch.equal(gen.get_state(), whole_gen.get_state())
