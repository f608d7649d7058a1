"""Write last: every stage that writes is walked with a failure injected as late as it can come before the stage
commits, and the workspace is compared byte for byte (a SHA-256 of every file) before and after.

Two late failures, both real conditions and neither a stand-in for the stage under test:
- at the stage's first write (the disk refuses it: ENOSPC from the one door every workspace write goes through),
  after every model call the stage makes before it: the stage must have written nothing else on another path, and
  its bookkeeping must not write a "failed" entry for a stage that never started writing;
- for the stages that replace a model in one step (import, prune), at the LAST model call of the whole stage
  (forward of any module, counted with a global forward hook): probe, round trip and the first grid all come before
  the first byte, so even that failure leaves the folder as it was.
Train, fine-tune, compress, export and evaluate save progress as they go (by design: a long run keeps what it made);
for them the first write is the commit point.
"""

from __future__ import annotations

import errno
import shutil
from contextlib import contextmanager

import pytest
import torch

from engine.events import CancelToken
from tests.engine.tiny import dense_dcgan_workspace
from tests.engine.user_model import FIXTURE, saved_weights
from tests.hostile.conftest import snapshot


class LateFailure(RuntimeError):
    """The injected failure (a model call that fails)."""


@contextmanager
def count_model_calls(fail_at: int | None = None):
    """Count every module forward in the process; with fail_at, the call of that number raises LateFailure."""
    calls = [0]

    def hook(module, args):
        calls[0] += 1
        if fail_at is not None and calls[0] == fail_at:
            raise LateFailure(f"injected at model call {fail_at}")

    handle = torch.nn.modules.module.register_module_forward_pre_hook(hook)
    try:
        yield calls
    finally:
        handle.remove()


@contextmanager
def first_write_fails(monkeypatch, calls):
    """The disk refuses the stage's first write; records how many model calls came before it."""
    import engine.workspace as workspace

    seen = {}

    def refuse(path, data):
        seen.setdefault("calls_before_first_write", calls[0])
        seen.setdefault("first_write", str(path))
        raise OSError(errno.ENOSPC, "No space left on device (injected)", str(path))

    monkeypatch.setattr(workspace, "atomic_write_bytes", refuse)
    yield seen


# ---- the stages, each on a workspace it accepts -----------------------------------------------------------------
def _import(tmp_path):
    from engine.stages.import_model.run import ImportConfig, run_import

    g, _ = saved_weights(tmp_path / "w")
    cfg = ImportConfig(generator=str(FIXTURE), class_name="TinyGenerator", weights=str(g), limit=320,
                       d_warmup_steps=1)
    return dense_dcgan_workspace(tmp_path / "ws"), run_import, cfg


def _train(tmp_path):
    from engine.config import DataConfig, ModelConfig, PipelineConfig, TrainConfig
    from engine.stages.train.run import run_train

    cfg = PipelineConfig(DataConfig("mnist-5k", limit=128), ModelConfig(arch="dcgan", latent_dim=16),
                         TrainConfig(steps=4, batch_size=16, sample_every=2, checkpoint_every=2, device="cpu"))
    return dense_dcgan_workspace(tmp_path / "ws"), run_train, cfg


def _prune(tmp_path):
    from engine.stages.prune.config import PruneConfig
    from engine.stages.prune.run import run_prune

    return dense_dcgan_workspace(tmp_path / "ws"), run_prune, PruneConfig(method="channel-l1", amount=0.5,
                                                                         device="cpu")


def _pruned_ws(tmp_path):
    from engine.stages.prune.config import PruneConfig
    from engine.stages.prune.run import run_prune

    ws = dense_dcgan_workspace(tmp_path / "ws")
    list(run_prune(PruneConfig(method="channel-l1", amount=0.5, device="cpu"), ws, CancelToken()))
    return ws


def _finetune(tmp_path):
    from engine.stages.finetune.run import FinetuneConfig, run_finetune

    cfg = FinetuneConfig(steps=2, batch_size=8, checkpoint_every=2, device="cpu", probe_samples=0)
    return _pruned_ws(tmp_path), run_finetune, cfg


def _export(tmp_path):
    from engine.stages.export.run import ExportConfig, run_export

    return _pruned_ws(tmp_path), run_export, ExportConfig(precisions=("fp32",), bench_runs=1)


def _evaluate(tmp_path):
    from engine.stages.evaluate.run import EvaluateConfig, run_evaluate

    return _pruned_ws(tmp_path), run_evaluate, EvaluateConfig(samples=300, latency=False)


def _compress(tmp_path):
    from engine.stages.compress.config import CompressConfig
    from engine.stages.compress.run import run_compress

    cfg = CompressConfig(max_fid_rise=10.0, time_budget=0.2, probe_samples=256, batch_size=16)
    return dense_dcgan_workspace(tmp_path / "ws"), run_compress, cfg


STAGES = {"import": _import, "train": _train, "prune": _prune, "finetune": _finetune, "export": _export,
          "evaluate": _evaluate, "compress": _compress}


@pytest.mark.parametrize("stage", list(STAGES))
def test_a_stage_whose_first_write_fails_leaves_the_workspace_byte_identical(tmp_path, monkeypatch, stage):
    ws, run, cfg = STAGES[stage](tmp_path)
    before = snapshot(ws.root)
    with count_model_calls() as calls, first_write_fails(monkeypatch, calls) as seen:
        with pytest.raises(Exception) as failed:
            list(run(cfg, ws, CancelToken()))
    assert seen, f"{stage} finished without writing anything"
    assert "No space left" in str(failed.value) or "disk full" in str(failed.value), failed.value
    assert snapshot(ws.root) == before, f"{stage} changed files before its first write {seen}"


@pytest.mark.parametrize("stage", ["import", "prune"])
def test_a_stage_that_replaces_a_model_fails_at_its_last_model_call_without_a_trace(tmp_path, stage):
    clean, run, cfg = STAGES[stage](tmp_path / "clean")
    with count_model_calls() as calls:
        list(run(cfg, clean, CancelToken()))
    last = calls[0]
    ws, run, cfg = STAGES[stage](tmp_path / "late")
    before = snapshot(ws.root)
    with count_model_calls(fail_at=last), pytest.raises(Exception) as failed:
        list(run(cfg, ws, CancelToken()))
    assert "injected at model call" in str(failed.value)
    assert snapshot(ws.root) == before, f"{stage} wrote before its last model call ({last})"
    shutil.rmtree(tmp_path / "clean", ignore_errors=True)
