"""The training loop: events, checkpoints, exact resume, repeatability, cancel and the NaN stop."""

import dataclasses

import pytest
import torch

from engine.errors import TrainingDiverged, WorkspaceError
from engine.events import Artifact, CancelToken, Metrics, Progress, Samples
from engine.stages.train.run import run_train
from engine.workspace import Workspace, load_checkpoint_file


def run(cfg, ws, cancel=None):
    return list(run_train(cfg, ws, cancel or CancelToken()))


def test_three_steps_yield_metrics_samples_and_a_checkpoint(tmp_path, tiny_cfg):
    ws = Workspace(tmp_path / "ws")
    events = run(tiny_cfg("mlp", steps=3), ws)
    metrics = [e for e in events if isinstance(e, Metrics)]
    assert [m.step for m in metrics] == [1, 2, 3]
    assert set(metrics[0].values) == {"loss_g", "loss_d", "d_real", "d_fake", "samples_per_s"}
    assert [e.step for e in events if isinstance(e, Progress)][-1] == 3
    grid = [e for e in events if isinstance(e, Samples)][-1].image
    assert grid.dtype.name == "uint8" and grid.ndim == 3
    assert any(isinstance(e, Artifact) and e.kind == "checkpoint" for e in events)
    ckpt = load_checkpoint_file(ws.checkpoint_path("dense"))  # weights_only=True inside
    assert ckpt["step"] == 3 and ckpt["arch"]["generator"]["arch"] == "mlp"
    assert set(ckpt["optim"]) == {"g", "d"}
    assert ws.stage("train")["status"] == "done"
    assert (ws.samples_dir / "train.png").exists()


def _weights(ws):
    return load_checkpoint_file(ws.checkpoint_path("dense"))["generator"]


@pytest.mark.parametrize("arch", ["mlp", "dcgan"])
def test_resume_equals_an_uninterrupted_run(tmp_path, tiny_cfg, arch):
    straight = Workspace(tmp_path / "a")
    run(tiny_cfg(arch, steps=4, ema=0.9), straight)
    split = Workspace(tmp_path / "b")
    run(tiny_cfg(arch, steps=2, ema=0.9), split)
    run(tiny_cfg(arch, steps=4, ema=0.9, resume=True), split)
    a, b = _weights(straight), _weights(split)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_fixed_seed_repeats_exactly_and_another_seed_differs(tmp_path, tiny_cfg):
    runs = []
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        ws = Workspace(tmp_path / name)
        run(tiny_cfg("dcgan", steps=2, seed=seed), ws)
        runs.append(_weights(ws))
    first = next(iter(runs[0]))
    assert torch.equal(runs[0][first], runs[1][first])
    assert not torch.equal(runs[0][first], runs[2][first])


def test_cancel_stops_at_the_next_step_and_keeps_a_checkpoint(tmp_path, tiny_cfg):
    ws = Workspace(tmp_path / "ws")
    cancel = CancelToken()
    steps_seen = []
    for e in run_train(tiny_cfg("mlp", steps=50), ws, cancel):
        if isinstance(e, Progress):
            steps_seen.append(e.step)
            if e.step == 2:
                cancel.cancel()
    assert steps_seen[-1] == 2
    assert ws.stage("train")["status"] == "cancelled"
    assert load_checkpoint_file(ws.checkpoint_path("dense"))["step"] == 2


def test_a_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path, tiny_cfg):
    ws = Workspace(tmp_path / "ws")
    run(tiny_cfg("mlp", steps=2), ws)
    good = _weights(ws)
    exploding = tiny_cfg("mlp", steps=40, resume=True, optimizer="sgd", lr=1e30)
    with pytest.raises(TrainingDiverged, match=r"diverged at step \d+ .*last good checkpoint is checkpoints/dense.pt"):
        run(exploding, ws)
    assert all(torch.equal(good[k], v) for k, v in _weights(ws).items())
    assert ws.stage("train")["status"] == "failed"


def test_resume_refuses_another_architecture(tmp_path, tiny_cfg):
    ws = Workspace(tmp_path / "ws")
    run(tiny_cfg("mlp", steps=1), ws)
    with pytest.raises(WorkspaceError, match="is a 'mlp' model, not 'dcgan'"):
        run(tiny_cfg("dcgan", steps=2, resume=True), ws)


def test_resume_without_a_checkpoint_says_so(tmp_path, tiny_cfg):
    with pytest.raises(WorkspaceError, match="Nothing to resume"):
        run(dataclasses.replace(tiny_cfg("mlp"), train=tiny_cfg().train.__class__(resume=True, device="cpu")),
            Workspace(tmp_path / "ws"))
