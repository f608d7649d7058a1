"""mnist-5k: 5,000 MNIST digits bundled in resources/ (see resources/datasets/NOTICE), the offline default."""

from __future__ import annotations

import numpy as np
import torch

from engine.errors import DataError
from engine.resources import resource

MNIST_5K = "datasets/mnist-5k.npz"


def load(argument: str, cfg):
    """The data-source table's loader (engine/data_sources.py)."""
    return load_mnist_5k()


def load_mnist_5k():
    from engine.data import ImageData

    path = resource(MNIST_5K)
    try:
        with np.load(path) as z:
            images, labels = z["images"], z["labels"]
    except (OSError, KeyError, ValueError) as e:
        raise DataError(f"The bundled data set {path} is missing or damaged ({e}); reinstall the app.") from None
    return ImageData(images=torch.from_numpy(images).unsqueeze(1).contiguous(),
                     labels=torch.from_numpy(labels.astype(np.int64)), name="mnist-5k",
                     classes=[str(i) for i in range(10)])
