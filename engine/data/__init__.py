"""Data sets as one uint8 tensor in memory (N, C, H, W), batched by slicing — no per-sample transforms.

Which sources there are, and which loader reads each, is the table in engine/data_sources.py."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import torch

from engine.config import DataConfig
from engine.data_sources import labelled_words, split
from engine.errors import ConfigError


@dataclass
class ImageData:
    images: torch.Tensor  # uint8, N x C x H x W
    labels: torch.Tensor | None  # int64 class ids, or None for unlabelled folders
    name: str
    classes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    inputs: torch.Tensor | None = None  # pairs:DIR only: uint8 inputs (A/) matching `images` (B/) one to one
    names: list[str] = field(default_factory=list)  # pairs:DIR only: the file names, in order
    a_images: torch.Tensor | None = None  # the unpaired task only: uint8 A set (any count); `images` is the B set

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def __len__(self) -> int:
        return self.images.shape[0]


def to_float(batch_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] → float [-1, 1], the generator's Tanh range."""
    return batch_uint8.float().div_(127.5).sub_(1.0)


def to_uint8(batch: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] → uint8 [0, 255]."""
    return ((batch.detach().float().clamp(-1, 1) + 1) * 127.5).round_().to(torch.uint8)


def _conform(images: torch.Tensor, cfg: DataConfig) -> torch.Tensor:
    """Apply the requested size and color once, at load time."""
    if cfg.color == "gray" and images.shape[1] == 3:
        w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        images = (images.float() * w).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    elif cfg.color == "rgb" and images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1).contiguous()
    if cfg.image_size and cfg.image_size != images.shape[-1]:
        out = []
        for chunk in images.split(2048):
            x = torch.nn.functional.interpolate(chunk.float(), size=(cfg.image_size, cfg.image_size),
                                                mode="bilinear", antialias=True, align_corners=False)
            out.append(x.round().clamp(0, 255).to(torch.uint8))
        images = torch.cat(out)
    return images


def require_labels(data: ImageData, dataset: str) -> int:
    """The number of classes of labelled data, or one sentence saying the data have none (the conditional task)."""
    if data.labels is None or len(data.classes) < 2:
        found = "one class" if data.labels is not None else "no class labels"
        raise ConfigError(f"The data set {dataset} has {found}; the conditional task needs labelled data: "
                          f"{labelled_words()}.")
    return len(data.classes)


def load_dataset(cfg: DataConfig) -> ImageData:
    cfg.validate()  # refuses a value no source knows
    source, argument = split(cfg.dataset)
    module, function = source.loader.split(":")
    data = getattr(importlib.import_module(module), function)(argument, cfg)
    if cfg.limit:
        data.images = data.images[: cfg.limit]
        data.labels = None if data.labels is None else data.labels[: cfg.limit]
        data.inputs = None if data.inputs is None else data.inputs[: cfg.limit]
        data.a_images = None if data.a_images is None else data.a_images[: cfg.limit]
    if data.inputs is not None:  # pairs keep their own sizes (A and B may differ); only the color is conformed
        keep_size = DataConfig(dataset=cfg.dataset, color=cfg.color)
        data.images, data.inputs = _conform(data.images, keep_size), _conform(data.inputs, keep_size)
        return data
    data.images = _conform(data.images, cfg)
    if data.a_images is not None:  # two unpaired sets: both at the requested size and colour
        data.a_images = _conform(data.a_images, cfg)
    return data
