"""MNIST, Fashion-MNIST and CIFAR-10 through torchvision, downloaded once into the per-user cache."""

from __future__ import annotations

import numpy as np
import torch

from engine.errors import DataError
from engine.resources import user_cache_dir


def load(argument: str, cfg):
    """The data-source table's loader (engine/data_sources.py): the argument is the set's name."""
    return load_torchvision(argument)


def load_torchvision(name: str):
    import torchvision.datasets as tvd

    from engine.data import ImageData

    cls = {"mnist": tvd.MNIST, "fashion-mnist": tvd.FashionMNIST, "cifar10": tvd.CIFAR10}[name]
    root = user_cache_dir() / "datasets"
    try:
        root.mkdir(parents=True, exist_ok=True)
        ds = cls(root=str(root), train=True, download=True)
    except Exception as e:  # URLError, socket errors, HTTP errors, checksum errors
        raise DataError(f"Could not download {name} into {root} ({type(e).__name__}); connect to the internet "
                        "once, or use a folder of images with --dataset folder:PATH.") from None
    data = ds.data if isinstance(ds.data, np.ndarray) else ds.data.numpy()
    images = torch.from_numpy(np.ascontiguousarray(data))
    images = images.permute(0, 3, 1, 2) if images.ndim == 4 else images.unsqueeze(1)
    labels = torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64)
    return ImageData(images=images.contiguous(), labels=labels, name=name, classes=list(ds.classes))
