"""Train the bundled feature network (resources/models/digit-classifier.pt) on mnist-5k, reproducibly.

    .venv/bin/python tools/train_feature_net.py [--epochs 6] [--seed 0] [--out resources/models/digit-classifier.pt]

1,000 images (100 per class, fixed seed) are held out and scored; the rest train a small CNN with random
±2-pixel shifts for a few epochs on CPU (about a minute on 2 cores). Writes the weights atomically and a JSON
beside them with the held-out accuracy.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import engine.metrics.feature_net as fn  # noqa: E402
from engine.config import DataConfig  # noqa: E402
from engine.data import load_dataset, to_float  # noqa: E402
from engine.resources import resource  # noqa: E402
from engine.workspace import atomic_write_bytes, atomic_write_json  # noqa: E402


def random_shift(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Shift each image by up to max_shift pixels (zero = background -1 fill), a cheap augmentation."""
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, [max_shift] * 4, value=-1.0)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    rows = (dy.view(n, 1) + torch.arange(h).view(1, h)).view(n, 1, h, 1).expand(n, x.shape[1], h, w + 2 * max_shift)
    cols = (dx.view(n, 1) + torch.arange(w).view(1, w)).view(n, 1, 1, w).expand(n, x.shape[1], h, w)
    return padded.gather(2, rows).gather(3, cols)


def train(epochs: int, seed: int, batch: int = 64, lr: float = 2e-3) -> tuple[fn.DigitCNN, float, dict]:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    data = load_dataset(DataConfig(dataset="mnist-5k"))
    labels = data.labels.numpy()
    val = fn.held_out_indices(labels, per_class=100, seed=seed)
    train_idx = np.setdiff1d(np.arange(len(labels)), val)
    x_train, y_train = to_float(data.images[train_idx]), data.labels[train_idx]
    net = fn.DigitCNN()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * ((len(train_idx) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(train_idx), generator=gen)
        total = 0.0
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            x = random_shift(x_train[idx], 2, gen)
            loss = torch.nn.functional.cross_entropy(net(x), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        acc = float((fn.predict(net, data.images[val]) == labels[val]).mean())
        print(f"epoch {epoch + 1}/{epochs}: train loss {total / len(order):.4f}, held-out accuracy {acc:.4f}",
              flush=True)
    split = {"held_out": len(val), "held_out_per_class": 100, "split_seed": seed, "train": len(train_idx)}
    return net, acc, split


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=resource(*fn.FEATURE_NET_FILE))
    args = ap.parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    t0 = time.perf_counter()
    net, acc, split = train(args.epochs, args.seed)
    seconds = time.perf_counter() - t0
    net.eval()
    payload = fn.feature_net_payload(net, acc, seed=args.seed, epochs=args.epochs)
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(args.out, buf.getvalue())
    info = {"format": payload["format"], "version": payload["version"], "spec": payload["spec"],
            "val_accuracy": round(acc, 4), "dataset": "mnist-5k", **split, "epochs": args.epochs,
            "seed": args.seed, "augmentation": "random shifts up to 2 px", "train_seconds": round(seconds, 1),
            "torch": torch.__version__, "file_bytes": len(buf.getvalue())}
    atomic_write_json(args.out.with_suffix(".json"), info)
    print(f"held-out accuracy {acc:.4f} in {seconds:.0f} s; wrote {args.out} ({len(buf.getvalue())} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
