"""Image-to-image GANs (issue 13): the U-Net's skips survive channel pruning, the built-in tasks make the inputs
they promise, and superres goes through train → prune → fine-tune → evaluate → export on a tiny real run."""

import copy
import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from engine.config import DataConfig, ModelConfig, PipelineConfig, TrainConfig
from engine.data.image_pairs import edges, make_inputs, punch_holes, split
from engine.errors import ConfigError
from engine.events import CancelToken
from engine.export.onnx import read_metadata
from engine.models import build_generator, image_specs
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


def drain(events):
    return list(events)


def tiny_cfg(task="superres", arch="unet", steps=3, **data):
    data = {"dataset": "mnist-5k", "limit": 40, "image_size": 16, **data}
    return PipelineConfig(DataConfig(**data), ModelConfig(arch=arch, task=task),
                          TrainConfig(steps=steps, batch_size=8, sample_every=2, checkpoint_every=100, device="cpu"))


@pytest.fixture(scope="module")
def superres_ws(tmp_path_factory):
    """A 16px superres x4 workspace taken through every stage once (4x4 inputs, a U-Net of widths 8-16-32)."""
    ws = Workspace(tmp_path_factory.mktemp("superres"))
    cfg = tiny_cfg()
    save_config(ws, cfg)
    drain(run_train(cfg, ws, CancelToken()))
    drain(run_prune(PruneConfig(method="channel-l1", target_macs=0.3), ws, CancelToken()))
    drain(run_finetune(FinetuneConfig(steps=3, batch_size=8, probe_every=2, device="cpu"), ws, CancelToken()))
    drain(run_export(ExportConfig(precisions=("fp32", "int8"), calibration=16, bench_runs=2), ws, CancelToken()))
    drain(run_evaluate(EvaluateConfig(feature_net="none", latency=False), ws, CancelToken()))
    return ws


def test_unet_channel_pruning_keeps_skip_concatenations_consistent():
    g, _ = image_specs("unet", (1, 4, 4), (1, 16, 16), residual=True)
    G = build_generator(g).eval()
    pruned = copy.deepcopy(G)
    prune_channels(pruned, "channel-l1", 0.5)
    spec = pruned.spec()
    assert spec["enc"] == [4, 8, 16] and spec["dec"] == [8, 4]
    # each decoder conv reads the upsampled level below concatenated with the encoder map of its level
    assert [u[0].in_channels for u in pruned.up] == [16 + 8, 8 + 4]
    x = torch.rand(3, 1, 4, 4) * 2 - 1
    rebuilt = build_generator(spec).eval()
    rebuilt.load_state_dict(pruned.state_dict())
    assert torch.equal(rebuilt(x), pruned(x)) and pruned(x).shape == (3, 1, 16, 16)
    assert model_macs(pruned) < 0.3 * model_macs(G)


def test_resnet_generator_prunes_residual_channels_together():
    g, _ = image_specs("resnet-i2i", (1, 16, 16), (1, 16, 16), residual=False)
    G = build_generator(g)
    prune_channels(G, "channel-l2", 0.5)
    spec = G.spec()
    assert spec["widths"] == [4, 8, 4] and spec["blocks"] == [8, 8, 8]
    assert G(torch.zeros(2, 1, 16, 16)).shape == (2, 1, 16, 16)


def test_task_inputs():
    x = torch.rand(4, 1, 16, 16) * 2 - 1
    gen = torch.Generator().manual_seed(0)
    holes = punch_holes(x, gen)
    zeroed = (holes == 0) & (x != 0)
    per_image = zeroed.flatten(1).sum(1)
    assert bool(((per_image >= 16) & (per_image <= 64)).all())  # a 4x4 to 8x8 hole per 16px image
    assert torch.equal(holes[~zeroed & (holes != 0)], x[~zeroed & (holes != 0)])
    e = edges(torch.rand(2, 3, 16, 16) * 2 - 1)
    assert e.shape == (2, 1, 16, 16) and set(e.unique().tolist()) <= {-1.0, 1.0}
    small = make_inputs("superres", x, gen, scale=4)
    assert small.shape == (4, 1, 4, 4)
    assert torch.allclose((small + 1) * 127.5, ((small + 1) * 127.5).round(), atol=1e-4)  # 8-bit levels
    train, test = split(40)
    assert test.tolist() == [9, 19, 29, 39] and len(train) == 36


def test_settings_refuse_a_noise_arch_for_an_image_task():
    with pytest.raises(ConfigError, match=r"The superres task needs --arch unet or resnet-i2i or cyclegan \(got dcgan"):
        ModelConfig(arch="dcgan", task="superres").validate()
    with pytest.raises(ConfigError, match="pairs:DIR goes with --task paired"):
        PipelineConfig(DataConfig("pairs:/x"), ModelConfig(arch="unet", task="superres")).validate()
    with pytest.raises(ConfigError, match=r"model.scale must be one of 2, 4 \(got 3\)"):
        ModelConfig(arch="unet", task="superres", scale=3).validate()


def test_superres_pipeline_prunes_finetunes_and_reports(superres_ws):
    ws = superres_ws
    pruning = ws.load_checkpoint("pruned")["pruning"]
    assert pruning["macs_after"]["g"] <= 0.3 * pruning["macs_before"]["g"]
    tuned = ws.load_checkpoint("finetuned")
    assert tuned["arch"]["generator"]["enc"] == ws.load_checkpoint("pruned")["arch"]["generator"]["enc"]
    assert [p["step"] for p in tuned["probes"]] == [2, 3]
    report = json.loads(ws.report_path.read_text())
    rows = {v["name"]: v for v in report["variants"]}
    assert list(rows) == ["bicubic", "dense", "pruned", "finetuned", "onnx-fp32", "onnx-int8"]
    assert report["real_count"] == 4 and report["task"] == "superres"  # every 10th of 40 images
    for name in ("dense", "finetuned", "onnx-int8"):
        assert 5 < rows[name]["psnr"] < 60 and 0 < rows[name]["ssim"] <= 1
    assert rows["dense"]["psnr_vs_teacher"] == 100.0  # the cap: identical to itself
    assert abs(rows["onnx-fp32"]["psnr"] - rows["finetuned"]["psnr"]) < 1e-3  # the export is the fine-tuned model
    assert "PSNR vs truth (dB)" in (ws.root / "report.html").read_text()


def test_superres_onnx_takes_image_with_dynamic_batch_and_metadata(superres_ws):
    path = superres_ws.export_dir / "generator.int8.onnx"
    meta = read_metadata(path)
    assert meta["gan.task"] == "superres" and json.loads(meta["gan.input_shape"]) == [1, 4, 4]
    assert meta["gan.image_shape"] == "1,16,16" and meta["gan.precision"] == "int8"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image"]
    out = session.run(None, {"image": np.zeros((3, 1, 4, 4), np.float32)})[0]
    assert out.shape == (3, 1, 16, 16)
    assert superres_ws.stage("export")["calibration"] == 16


@pytest.mark.parametrize("task, arch, in_channels", [("inpaint", "unet", 3), ("sketch", "resnet-i2i", 1)])
def test_inpaint_and_sketch_train_from_any_image_data(tmp_path, task, arch, in_channels):
    ws = Workspace(tmp_path)
    cfg = tiny_cfg(task, arch, steps=2, color="rgb")
    events = drain(run_train(cfg, ws, CancelToken()))
    spec = ws.load_checkpoint("dense")["arch"]["generator"]
    assert spec["input_shape"] == [in_channels, 16, 16] and spec["image_shape"] == [3, 16, 16]
    assert spec["residual"] is (task == "inpaint")
    grid = [e for e in events if type(e).__name__ == "Samples"][-1].image
    assert grid.shape == (4 * 18 + 2, 3 * 18 + 2, 3)  # a row of input → output → target per test image (4)


def test_prune_preview_matches_what_the_stage_saved(superres_ws):
    from engine.inputs import load_teacher
    from engine.stages.prune.run import preview

    dense, teacher = load_teacher(superres_ws)
    shown = preview(PruneConfig(method="channel-l1", target_macs=0.3), dense, teacher, superres_ws)
    assert shown["g"].spec() == superres_ws.load_checkpoint("pruned")["arch"]["generator"]


def test_every_precision_in_the_table_exports_an_image_model(superres_ws):
    """Image models go through the one precision table: a precision added there exports them too (no list of its
    own in the image path). Each file runs in ONNX Runtime, takes the image input and stays close to fp32."""
    from engine.export.precisions import NAMES, PRECISIONS

    drain(run_export(ExportConfig(precisions=NAMES, calibration=16, bench_runs=1), superres_ws, CancelToken()))
    results = superres_ws.stage("export")["results"]
    for p in PRECISIONS:
        path = superres_ws.export_dir / p.file_name
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        assert [i.name for i in session.get_inputs()] == ["image"], p.name
        info = results[p.name]
        assert p.name == "fp32" or info["psnr_vs_fp32"] > 20, (p.name, info)
