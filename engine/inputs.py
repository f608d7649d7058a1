"""What a stage reads from a workspace: the config it was run with, its images and the dense teacher."""

from __future__ import annotations

import torch.nn as nn

from engine.config import DataConfig, PipelineConfig, load_pipeline_config
from engine.data import ImageData, load_dataset
from engine.errors import WorkspaceError
from engine.models import generator_from_checkpoint
from engine.workspace import Workspace


def workspace_config(ws: Workspace) -> PipelineConfig:
    """The config a workspace was run with (defaults where it has none yet)."""
    if ws.config_path.exists():
        return load_pipeline_config(ws.config_path)
    return PipelineConfig()


def workspace_images(ws: Workspace, ckpt: dict) -> ImageData:
    """The data set the model was trained on: from config.toml when there is one, else the checkpoint's note."""
    shape = list(ckpt.get("data", {}).get("image_shape") or ckpt["arch"]["generator"]["image_shape"])
    if ws.config_path.exists():
        data_cfg = load_pipeline_config(ws.config_path).data
    else:
        name = ckpt.get("data", {}).get("dataset") or "mnist-5k"
        data_cfg = DataConfig(dataset=name, image_size=shape[1], color="gray" if shape[0] == 1 else "rgb")
    data = load_dataset(data_cfg)
    if list(data.image_shape) != shape:
        raise WorkspaceError(f"The data set {data_cfg.dataset} gives {list(data.image_shape)} images but the model "
                             f"makes {shape}; fix config.toml in {ws.root}.")
    return data


def workspace_pairs(ws: Workspace, ckpt: dict):
    """Image-to-image models: the (input, target) pairs the checkpoint was trained on (data set, task, scale)."""
    from engine.data.image_pairs import PairSource
    from engine.data.unpaired import UnpairedSource
    from engine.tasks import is_unpaired

    data = workspace_images(ws, ckpt)
    meta = ckpt.get("data") or {}
    task = meta.get("task", "superres")
    return (UnpairedSource if is_unpaired(task) else PairSource)(data, task, int(meta.get("scale", 4)))


def load_teacher(ws: Workspace) -> tuple[dict, nn.Module]:
    """The dense (trained) checkpoint and its generator (EMA weights when it has them)."""
    entry = ws.stage("train") or {}
    path = ws.abs(entry["checkpoint"]) if entry.get("checkpoint") else ws.checkpoint_path("dense")
    if not path.exists():
        raise WorkspaceError(f"No trained model in {ws.root} (checkpoints/dense.pt is missing); run 'gan-prune "
                             "train' first.")
    ckpt = ws.load_checkpoint(path)
    return ckpt, generator_from_checkpoint(ckpt)
