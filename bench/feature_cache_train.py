"""Time the cached-classifier training (engine/metrics/feature_cache.py) on 10k synthetic 32x32 RGB images.

    .venv/bin/python bench/feature_cache_train.py [--images 10000] [--threads 2]

Two classes of random-colour squares vs circles; prints the training time and held-out accuracy and writes
bench/results/feature_cache_train.json. No asserts: the target is under 2 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def shapes(n: int, size: int = 32, seed: int = 0):
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    out = np.zeros((n, size, size, 3), np.uint8)
    labels = np.arange(n) % 2
    for i in range(n):
        im = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(0, 90, 3)))
        r, cx, cy = (int(v) for v in (rng.integers(4, 12), *rng.integers(10, 23, 2)))
        draw = ImageDraw.Draw(im)
        (draw.ellipse if labels[i] == 0 else draw.rectangle)([cx - r, cy - r, cx + r, cy + r],
                                                             fill=tuple(int(v) for v in rng.integers(140, 256, 3)))
        out[i] = np.asarray(im)
    return torch.from_numpy(out.transpose(0, 3, 1, 2).copy()), torch.from_numpy(labels)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    os.environ["GAN_STUDIO_CACHE"] = tempfile.mkdtemp(prefix="bench-feature-cache-")
    torch.set_num_threads(args.threads)
    from engine.data import ImageData
    from engine.metrics.feature_cache import feature_net_for

    images, labels = shapes(args.images)
    data = ImageData(images, labels, "bench-shapes", ["circles", "squares"])
    t0 = time.perf_counter()
    net, name = feature_net_for(data)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, cached_name = feature_net_for(data)
    load_s = time.perf_counter() - t0
    result = {"images": args.images, "shape": list(data.image_shape), "threads": args.threads,
              "train_seconds": round(train_s, 1), "cached_load_seconds": round(load_s, 3),
              "val_accuracy": round(net.val_accuracy, 4), "name": name, "cached_name": cached_name,
              **net.train_info, "spec": net.spec(), "torch": torch.__version__}
    print(json.dumps(result, indent=1))
    out = Path(__file__).resolve().parent / "results" / "feature_cache_train.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
