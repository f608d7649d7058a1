"""What a kill -9 right after a stage replaced a model leaves behind: results made from the older model are
already out of date, and an export half-way through never says "done". The stage generator is simply abandoned at
that event (nothing after it runs, as with a kill); bench/fault_injection.py does the same to real processes.
A kill runs no stage runner either, so these drive the stage bodies (`__wrapped__`, under stage_runner.recorded)."""

from engine.events import Artifact, CancelToken, Progress
from engine.stages.export.run import ExportConfig, run_export
from engine.stages.finetune.run import FinetuneConfig, run_finetune
from engine.stages.prune.config import PruneConfig
from engine.stages.prune.run import run_prune
from engine.stages.train.run import run_train
from tests.engine.tiny import dense_dcgan_workspace


def stop_at(events, wanted):
    """Run a stage until its first event of type `wanted` (with kind 'checkpoint' for artifacts), then drop it."""
    for e in events:
        if isinstance(e, wanted) and (wanted is not Artifact or e.kind == "checkpoint"):
            events.close()
            return
    raise AssertionError(f"the stage finished without a {wanted.__name__} event")


def statuses(ws):
    return {name: entry.get("status") for name, entry in ws.read_manifest()["stages"].items()}


def test_a_kill_after_the_first_new_dense_checkpoint_leaves_pruned_and_exported_models_stale(tmp_path, tiny_cfg):
    ws = dense_dcgan_workspace(tmp_path / "ws")
    list(run_prune(PruneConfig(method="channel-l1", amount=0.5, device="cpu"), ws, CancelToken()))
    ws.update_stage("export", status="done", checkpoint="checkpoints/pruned.pt")  # an export of that pruned model
    stop_at(run_train.__wrapped__(tiny_cfg("dcgan", steps=6, resume=True), ws, CancelToken()), Artifact)
    assert ws.load_checkpoint("dense")["step"] == 2  # dense.pt already holds the new model
    assert statuses(ws) == {"train": "running", "prune": "stale", "export": "stale"}
    assert ws.latest_generator_checkpoint() == ws.checkpoint_path("dense")


def test_a_kill_right_after_the_new_fine_tuned_model_is_saved_leaves_the_export_stale(tmp_path):
    ws = dense_dcgan_workspace(tmp_path / "ws")
    list(run_prune(PruneConfig(method="channel-l1", amount=0.5, device="cpu"), ws, CancelToken()))
    ws.update_stage("export", status="done", checkpoint="checkpoints/pruned.pt")
    cfg = FinetuneConfig(steps=2, batch_size=8, checkpoint_every=2, device="cpu", probe_samples=0)
    events = run_finetune.__wrapped__(cfg, ws, CancelToken())
    for e in events:  # the Artifact for finetuned.pt (not the resume state) comes right after it is written
        if isinstance(e, Artifact) and e.path.endswith("finetuned.pt"):
            events.close()
            break
    assert ws.load_checkpoint("finetuned")["step"] == 2
    assert ws.stage("export")["status"] == "stale"


def test_an_export_killed_half_way_says_running_not_done(tmp_path):
    ws = dense_dcgan_workspace(tmp_path / "ws")
    (ws.export_dir / "generator.fp16.onnx").write_bytes(b"an earlier export")
    ws.update_stage("export", status="done", checkpoint="checkpoints/dense.pt",
                    results={"fp16": {"path": "export/generator.fp16.onnx"}})
    stop_at(run_export.__wrapped__(ExportConfig(precisions=("fp32",), bench_runs=1), ws, CancelToken()), Progress)
    assert not (ws.export_dir / "generator.fp16.onnx").exists()  # removed: it belongs to no asked-for precision
    assert (ws.export_dir / "generator.onnx").exists()
    assert ws.stage("export")["status"] == "running"
