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


def bundled_arrays(name: str, *keys: str) -> list[np.ndarray]:
    """The arrays `keys` of a data set shipped in resources/ (an .npz of plain arrays: nothing is unpickled)."""
    path = resource(name)
    try:
        with np.load(path) as z:
            return [z[k] for k in keys]
    except (OSError, KeyError, ValueError) as e:
        raise DataError(f"The bundled data set {path} is missing or damaged ({e}); reinstall the app.") from None


def load_mnist_5k():
    from engine.data import ImageData

    images, labels = bundled_arrays(MNIST_5K, "images", "labels")
    return ImageData(images=torch.from_numpy(images).unsqueeze(1).contiguous(),
                     labels=torch.from_numpy(labels.astype(np.int64)), name="mnist-5k",
                     classes=[str(i) for i in range(10)])
