"""The unpaired task (issue 23): two image sets with no pairs train a CycleGAN whose A → B generator goes through
prune, fine-tune (teacher L1, optional cycle term), evaluate (FID vs real B, identity baseline, cycle error) and
export like any image-to-image model; the bundled horse2zebra-28 and unpaired:DIR feed it."""

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from engine.config import DataConfig, ModelConfig, PipelineConfig, TrainConfig
from engine.data import load_dataset
from engine.data.unpaired import UnpairedSource
from engine.errors import ConfigError, DataError
from engine.events import CancelToken, Samples
from engine.models import build_generator, image_specs
from engine.models.cyclegan import ReflectPad
from engine.pipeline import save_config
from engine.prune.sensitivity import model_macs
from engine.prune.structured import prune_channels
from engine.stages.evaluate.run import EvaluateConfig, run_evaluate
from engine.stages.export.run import ExportConfig, run_export
from engine.stages.finetune.run import FinetuneConfig, run_finetune
from engine.stages.prune.config import PruneConfig
from engine.stages.prune.run import run_prune
from engine.stages.train.run import run_train
from engine.workspace import Workspace


def tiny_cfg(steps=2, dataset="horse2zebra-28", **train):
    return PipelineConfig(DataConfig(dataset=dataset, limit=40, image_size=8),
                          ModelConfig(arch="cyclegan", task="unpaired", width=4, blocks=2),
                          TrainConfig(steps=steps, batch_size=4, sample_every=1, checkpoint_every=100, device="cpu",
                                      **train))


@pytest.fixture(scope="module")
def unpaired_ws(tmp_path_factory):
    """An 8 px CycleGAN (width 4, 2 blocks) taken through train, prune and fine-tune with the cycle term."""
    ws = Workspace(tmp_path_factory.mktemp("unpaired"))
    cfg = tiny_cfg()
    save_config(ws, cfg)
    events = list(run_train(cfg, ws, CancelToken()))
    list(run_prune(PruneConfig(method="channel-l1", amount=0.5), ws, CancelToken()))
    list(run_finetune(FinetuneConfig(steps=2, batch_size=4, probe_every=1, device="cpu", cycle=1.0), ws,
                      CancelToken()))
    return ws, events


def test_bundled_horses_and_zebras_load_as_two_unpaired_sets():
    data = load_dataset(DataConfig(dataset="horse2zebra-28"))
    assert data.images.shape == (700, 1, 28, 28) and data.a_images.shape == (700, 1, 28, 28)
    assert data.images.dtype == torch.uint8 and data.labels is None
    src = UnpairedSource(data)
    assert len(src.test_idx) == len(src.b_test_idx) == 70 and not src.has_targets
    a, b = src.batch(src.train_idx[:5], torch.Generator().manual_seed(0))
    assert a.shape == b.shape == (5, 1, 28, 28) and a.min() >= -1 and b.max() <= 1


def test_unpaired_folders_take_any_names_and_counts_and_refuse_one_line(tmp_path):
    for side, n, value in (("A", 3, 40), ("B", 5, 200)):
        (tmp_path / side).mkdir()
        for i in range(n):
            Image.fromarray(np.full((8, 8), value, np.uint8)).save(tmp_path / side / f"{side}{i}.png")
    data = load_dataset(DataConfig(dataset=f"unpaired:{tmp_path}"))
    assert data.a_images.shape == (3, 1, 8, 8) and data.images.shape == (5, 1, 8, 8)
    assert data.name == f"unpaired:{tmp_path.name}"
    for f in (tmp_path / "B").iterdir():
        f.unlink()
    with pytest.raises(DataError, match="B has 0 PNG/JPEG image"):
        load_dataset(DataConfig(dataset=f"unpaired:{tmp_path}"))
    with pytest.raises(DataError, match="has no A/ or B/"):
        load_dataset(DataConfig(dataset=f"unpaired:{tmp_path / 'A'}"))


def test_the_unpaired_task_and_its_sources_go_together():
    with pytest.raises(ConfigError, match=r"horse2zebra-28 \(or unpaired:DIR\) goes with --task unpaired"):
        PipelineConfig(DataConfig("mnist-5k"), ModelConfig(arch="cyclegan", task="unpaired")).validate()
    with pytest.raises(ConfigError, match="horse2zebra-28 goes with --task unpaired"):
        PipelineConfig(DataConfig("horse2zebra-28"), ModelConfig(arch="unet", task="superres")).validate()
    from engine.archs import default_arch

    assert default_arch("unpaired") == "cyclegan" and default_arch("superres") == "unet"


def test_reflection_padding_as_a_gather_equals_torch_and_pruning_keeps_the_residual_sums():
    x = torch.randn(2, 3, 8, 8)
    assert torch.equal(ReflectPad(3)(x), F.pad(x, (3, 3, 3, 3), mode="reflect"))
    g, d = image_specs("cyclegan", (1, 16, 16), (1, 16, 16), False, sees_input=False, width=8, blocks=2)
    assert d["sees_input"] is False and g["widths"] == [8, 16, 32, 16, 8] and g["blocks"] == [32, 32]
    G = build_generator(g).eval()
    dense = model_macs(G)
    prune_channels(G, "channel-l1", 0.5)
    rebuilt = build_generator(G.spec())
    rebuilt.load_state_dict(G.state_dict())  # the spec records every width, the trunk's once
    x = torch.randn(2, 1, 16, 16)
    assert torch.equal(rebuilt.eval()(x), G(x)) and model_macs(G) < 0.4 * dense


def test_cyclegan_trains_with_both_sides_in_the_checkpoint(unpaired_ws):
    ws, events = unpaired_ws
    dense = ws.load_checkpoint("dense")  # every check passes: both optimizers hold both sides' tensors
    assert {"generator_ba", "discriminator_a", "arch_ba", "pools"} <= set(dense)
    assert dense["task"] == "unpaired" and dense["loss"] == "lsgan" and dense["step"] == 2
    assert dense["arch"]["discriminator"]["sees_input"] is False
    grids = [e for e in events if isinstance(e, Samples)]
    assert grids and grids[-1].label == "A → fake B → A again" and grids[-1].image.shape[1] == 3 * 8 + 4 * 2


def test_resume_continues_exactly_as_one_run(tmp_path):
    straight, parts = Workspace(tmp_path / "straight"), Workspace(tmp_path / "parts")
    list(run_train(tiny_cfg(steps=3), straight, CancelToken()))
    list(run_train(tiny_cfg(steps=2), parts, CancelToken()))
    list(run_train(tiny_cfg(steps=3, resume=True), parts, CancelToken()))
    a, b = straight.load_checkpoint("dense"), parts.load_checkpoint("dense")
    for key in ("generator", "generator_ba", "discriminator", "discriminator_a"):
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key]), key


def test_pruned_student_is_evaluated_against_real_b_the_identity_baseline_and_the_teacher(unpaired_ws):
    ws, _ = unpaired_ws
    ft = ws.load_checkpoint("finetuned")
    assert ft["finetune"]["weights"] and ft["validation_psnr"] is not None  # kept by closeness to the teacher
    list(run_evaluate(EvaluateConfig(feature_net="none", latency=False), ws, CancelToken()))
    import json

    rows = {v["name"]: v for v in json.loads(ws.report_path.read_text())["variants"]}
    assert rows["identity"]["kind"] == "baseline" and rows["identity"]["cycle_l1"] > 0
    assert rows["dense"]["cycle_l1"] >= 0 and "psnr_vs_teacher" not in {k for k, v in rows["dense"].items()
                                                                         if v is not None}
    assert rows["finetuned"]["psnr_vs_teacher"] > 0 and rows["pruned"]["macs"] < rows["dense"]["macs"]
    assert (ws.samples_dir / "evaluate-input.png").exists() and (ws.samples_dir / "evaluate-finetuned.png").exists()


@pytest.mark.slow  # torch.onnx's exporter: ~9 s on a busy 2-core machine
def test_the_a_to_b_generator_exports_at_the_default_opset_and_runs(unpaired_ws):
    ws, _ = unpaired_ws
    list(run_export(ExportConfig(precisions=("fp32",), calibration=8, bench_runs=1), ws, CancelToken()))
    path = ws.export_dir / "generator.onnx"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["gan.task"] == "unpaired" and meta["gan.opset"] == "17"
    out = session.run(None, {"image": np.zeros((2, 1, 8, 8), np.float32)})[0]
    assert out.shape == (2, 1, 8, 8) and np.abs(out).max() <= 1


def test_fine_tuning_refuses_the_cycle_term_without_a_b_to_a_generator():
    from engine.stages.finetune.image import _back_generator

    with pytest.raises(ConfigError, match="--cycle needs the B → A generator"):
        _back_generator({"arch": {}}, FinetuneConfig(cycle=1.0))
    assert _back_generator({}, FinetuneConfig()) is None


@pytest.mark.slow  # two gloo processes start (~20 s on a busy 2-core machine)
def test_two_processes_take_the_same_step_as_one(tmp_path):
    """Each process takes half the batch; the four networks' gradients are averaged, the PatchGANs' BatchNorm is
    global: one step equals one process's (at 16 px; at 8 px the 2x2 instance norm amplifies float rounding)."""
    from engine.cli import main as gan_prune

    for n in (1, 2):
        assert gan_prune(["train", "-w", str(tmp_path / f"p{n}"), "--task", "unpaired", "--dataset", "horse2zebra-28",
                          "--image-size", "16", "--width", "4", "--blocks", "1", "--steps", "1", "--batch-size", "4",
                          "--limit", "20", "--threads", "1", "--optimizer", "sgd", "--lr", "0.001",
                          "--nproc-per-node", str(n), "--quiet"]) == 0
    one, two = (torch.load(tmp_path / f"p{n}" / "checkpoints" / "dense.pt", weights_only=True) for n in (1, 2))
    for key in ("generator", "generator_ba", "discriminator", "discriminator_a"):
        worst = max((one[key][k].float() - two[key][k].float()).abs().max().item() for k in one[key])
        assert worst < 1e-5, key


def test_cancel_stops_after_the_step_and_keeps_a_resumable_checkpoint(tmp_path):
    from engine.events import Metrics

    ws, cancel = Workspace(tmp_path), CancelToken()
    for event in run_train(tiny_cfg(steps=5), ws, cancel):
        if isinstance(event, Metrics):
            cancel.cancel()
    ckpt = ws.load_checkpoint("dense")
    assert ckpt["step"] == 1 and ckpt["optim"] and ckpt["rng"]["pool"].dtype == torch.uint8
    assert ws.read_manifest()["stages"]["train"]["status"] == "cancelled"
