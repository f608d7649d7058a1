"""Colour data from a folder too small to learn a feature net from (40 images): FID is said to be unavailable; SWD
and teacher fidelity are still reported. (A bigger unlabelled folder gets FID: tests/engine/test_ssl_features.py.)"""

import json

import numpy as np
import torch
from PIL import Image

from engine.config import DataConfig, ModelConfig, PipelineConfig, TrainConfig
from engine.events import CancelToken, Log
from engine.pipeline import save_config
from engine.stages.evaluate.run import EvaluateConfig, run_evaluate
from engine.stages.train.run import run_train
from engine.workspace import Workspace


def test_small_rgb_folder_reports_swd_and_says_fid_is_unavailable(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(40):  # smooth colour blobs, not noise: SWD has structure to compare
        base = rng.integers(0, 255, (4, 4, 3)).astype(np.uint8)
        Image.fromarray(base).resize((28, 28), Image.BILINEAR).save(folder / f"{i}.png")
    ws = Workspace(tmp_path / "ws")
    cfg = PipelineConfig(data=DataConfig(f"folder:{folder}"), model=ModelConfig(arch="mlp", latent_dim=16),
                         train=TrainConfig(steps=2, batch_size=8, sample_every=2, checkpoint_every=2, device="cpu"))
    save_config(ws, cfg)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        list(run_train(cfg, ws, CancelToken()))
        events = list(run_evaluate(EvaluateConfig(samples=40, latency=False), ws, CancelToken()))
    finally:
        torch.set_num_threads(n)
    report = json.loads(ws.report_path.read_text("utf-8"))
    (dense,) = report["variants"]
    assert report["fid_available"] is False and "unavailable" in report["fid_note"]
    assert "unavailable" in report["feature_net"] and report["image_shape"] == [3, 28, 28]
    assert dense["fid"] is None and dense["precision"] is None and "class_histogram" not in dense
    assert dense["swd"] > 0 and dense["psnr_vs_teacher"] > 0
    assert any(isinstance(e, Log) and e.level == "warning" and "unavailable" in e.message for e in events)
    assert "FID is unavailable" in (ws.root / "report.html").read_text("utf-8")
