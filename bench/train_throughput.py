"""Training throughput: our trainer (in-memory uint8 tensor, batches by slicing) against the reference loop
(a DataLoader over PIL images with ToTensor + Normalize per sample), same MLP GAN, batch 128, same step count,
measured in the same run. Writes bench/results/train_throughput.json.

    .venv/bin/python bench/train_throughput.py [--steps 60] [--threads 2]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn as nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.config import DataConfig, ModelConfig, PipelineConfig, TrainConfig  # noqa: E402
from engine.data import load_dataset  # noqa: E402
from engine.events import CancelToken, Metrics  # noqa: E402
from engine.models import build_pair, default_specs  # noqa: E402
from engine.stages.train.run import run_train  # noqa: E402
from engine.workspace import Workspace, atomic_write_json  # noqa: E402

BATCH = 128


def reference_loop(steps: int, warmup: int) -> float:
    """The seed's loop: PIL images → ToTensor → Normalize per sample, Sigmoid D with nn.BCELoss."""
    import numpy as np
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset
    from torchvision import transforms

    data = load_dataset(DataConfig("mnist-5k"))
    pil_images = [Image.fromarray(a[0]) for a in data.images.numpy()]
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])

    class Digits(Dataset):
        def __len__(self):
            return len(pil_images)

        def __getitem__(self, i):
            return tf(pil_images[i]), int(data.labels[i])

    torch.manual_seed(0)
    G, D = build_pair(dict(zip(("generator", "discriminator"), default_specs("mlp", (1, 28, 28)))))
    G.train(), D.train()
    bce = nn.BCELoss()
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    loader = DataLoader(Digits(), batch_size=BATCH, shuffle=True, drop_last=True, num_workers=0)
    done, t0 = 0, None
    while done < steps + warmup:
        for real, _ in loader:
            if done == warmup:
                t0 = time.perf_counter()
            b = real.size(0)
            ones, zeros = torch.ones(b, 1), torch.zeros(b, 1)
            opt_d.zero_grad()
            z = torch.randn(b, 100)
            fake = G(z)
            loss_d = bce(D(real).view(-1, 1), ones) + bce(D(fake.detach()).view(-1, 1), zeros)
            loss_d.backward()
            opt_d.step()
            opt_g.zero_grad()
            loss_g = bce(D(fake).view(-1, 1), ones)
            loss_g.backward()
            opt_g.step()
            done += 1
            if done >= steps + warmup:
                break
    _ = np  # numpy is what PIL→tensor goes through; imported to make the dependency explicit
    return steps * BATCH / (time.perf_counter() - t0)


def our_trainer(steps: int, warmup: int) -> float:
    cfg = PipelineConfig(DataConfig("mnist-5k"), ModelConfig("mlp"),
                         TrainConfig(steps=steps + warmup, batch_size=BATCH, device="cpu", sample_every=10**9,
                                     checkpoint_every=10**9))
    t0 = None
    with tempfile.TemporaryDirectory() as tmp:
        for e in run_train(cfg, Workspace(tmp), CancelToken()):
            if isinstance(e, Metrics) and e.step == warmup:
                t0 = time.perf_counter()
            if isinstance(e, Metrics) and e.step == steps + warmup:
                elapsed = time.perf_counter() - t0  # stop the clock before the final checkpoint and grid
    return steps * BATCH / elapsed


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    ours, ref = [], []
    for _ in range(args.repeats):  # interleaved, so drift in machine load hits both alike
        ref.append(reference_loop(args.steps, args.warmup))
        ours.append(our_trainer(args.steps, args.warmup))
    result = {"benchmark": "train_throughput", "arch": "mlp", "batch": BATCH, "steps": args.steps,
              "threads": args.threads, "reference_samples_per_s": max(ref), "ours_samples_per_s": max(ours),
              "ratio": max(ours) / max(ref), "all_reference": ref, "all_ours": ours, "target_ratio": 3.0,
              "torch": torch.__version__, "machine": platform.processor() or platform.machine()}
    print(f"reference loop: {max(ref):8.0f} samples/s")
    print(f"our trainer:    {max(ours):8.0f} samples/s")
    print(f"ratio:          {result['ratio']:.2f}x (target >= 3x)")
    out = ROOT / "bench" / "results" / "train_throughput.json"
    atomic_write_json(out, result)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
