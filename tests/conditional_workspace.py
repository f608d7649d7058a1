"""Tiny class-conditional workspaces shared by the engine, CLI and studio tests (a helper, not a conftest)."""

from __future__ import annotations

import dataclasses

import torch

from engine.config import DataConfig, ModelConfig, PipelineConfig, TrainConfig, to_toml
from engine.events import CancelToken
from engine.models import build_pair, default_specs
from engine.workspace import Workspace, atomic_write_text

DIGITS = [str(i) for i in range(10)]


def conditional_config(steps: int = 2, **train) -> PipelineConfig:
    """mnist-5k, the conditional task, a few steps on a few images."""
    return PipelineConfig(DataConfig("mnist-5k", limit=600), ModelConfig(arch="dcgan", task="conditional"),
                          dataclasses.replace(TrainConfig(steps=steps, batch_size=8, sample_every=1000,
                                                          checkpoint_every=1000, device="cpu"), **train))


def conditional_dense_workspace(path, latent: int = 16) -> Workspace:
    """A workspace whose trained ('dense') model is a narrow, randomly initialised conditional DCGAN."""
    ws = Workspace(path)
    torch.manual_seed(0)
    gspec, dspec = default_specs("dcgan", (1, 28, 28), latent_dim=latent, num_classes=10)
    gspec["widths"], dspec["widths"] = [32, 16], [16, 32]
    G, D = build_pair({"generator": gspec, "discriminator": dspec})
    ws.save_checkpoint("dense", {"arch": {"generator": gspec, "discriminator": dspec}, "generator": G.state_dict(),
                                 "discriminator": D.state_dict(), "step": 0, "loss": "bce", "task": "conditional",
                                 "data": {"dataset": "mnist-5k", "image_shape": [1, 28, 28], "classes": DIGITS}})
    ws.update_stage("train", status="done", checkpoint="checkpoints/dense.pt")
    cfg = conditional_config()
    atomic_write_text(ws.config_path, to_toml(dataclasses.replace(cfg, model=dataclasses.replace(
        cfg.model, latent_dim=latent))))
    return ws


def exported_conditional(path) -> Workspace:
    """conditional_dense_workspace exported as fp32 and int8 ONNX."""
    from engine.stages.export.run import ExportConfig, run_export

    ws = conditional_dense_workspace(path)
    for _ in run_export(ExportConfig(precisions=("fp32", "int8"), bench_runs=1, threads=1, calibration=20), ws,
                        CancelToken()):
        pass
    return ws
