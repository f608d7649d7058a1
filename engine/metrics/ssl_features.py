"""A feature space for unlabelled images: the same small CNN as the classifiers, trained without labels on the user's
own images (self-supervised), so FID, precision/recall, density/coverage work on any folder.

Four pretext tasks are implemented and compared in bench/unlabelled_features.py (mnist-5k with labels hidden, and a
synthetic RGB shapes set), each against a classifier trained with the labels. DEFAULT_METHOD is rotation prediction:
it was the most sensitive to dropped classes on both sets (FID of "one class missing" 21x the two-halves noise floor
on mnist-5k, the supervised digit net 20x; 8.7x on shapes, SimCLR+rotation 2.8x), FID rose monotonically with every
corruption, it ranked the corruptions as the supervised nets do (Spearman 0.87 mnist, 0.96 shapes), and it is the
cheapest (30 s of one core for 5,000 28x28 images). SimCLR keys on colour and brightness on RGB data and was less
sensitive to missing classes; the denoising bottleneck learns to ignore noise. Rotation's blind spot: images with no
upright orientation (textures, top-down views) give it little to learn; the report names the method used.
Augmentations are geometric and gain jitter only: noise and blur are left out on purpose, since a feature space that
is invariant to them could not tell a noisy or blurry generator from the real data.
"""

from __future__ import annotations

import math
import time
from collections.abc import Generator

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from engine.events import CancelToken, Event, Log, Progress

METHODS = ("simclr", "rotation", "denoise", "simclr+rotation")
DEFAULT_METHOD = "rotation"
RECIPE = "ssl-v1"  # part of the cache key (with the method): change it when the training below changes
MAX_TRAIN_IMAGES = 10_000
BATCH = 128
TARGET_STEPS = 800  # for 28x28 gray: ~20 epochs of 5,000 images, ~1.5 min on one core (bench/unlabelled_features)
MIN_STEPS = 200  # bigger or colour images cost more per step: fewer steps, down to this
MIN_EPOCHS, MAX_EPOCHS = 1, 60
MAX_SIZE = 32  # larger images are learnt (and measured) at 32 px: the training time stays bounded
LR = 2e-3
TEMPERATURE = 0.2  # NT-Xent; small batches on small images separate better with a sharp softmax


def ssl_spec(data, n_train: int, method: str) -> dict:
    """The net's spec: the classifier family with no classes and a field that says how it was trained."""
    from engine.metrics.feature_cache import feature_dim_for, widths_for

    c, h, _ = data.image_shape
    return {"arch": "cnn-ssl", "in_channels": c, "image_size": min(h, MAX_SIZE), "widths": widths_for(c),
            "feature_dim": feature_dim_for(n_train), "classes": 0, "trained_on": data.name,
            "trained_by": f"self-supervised:{method}"}


def is_self_supervised(spec: dict) -> bool:
    return str(spec.get("trained_by", "")).startswith("self-supervised")


# ---- augmentations ------------------------------------------------------------------------------------------------
def random_view(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """One random view of each image in [-1,1]: small affine jitter (shift, scale, rotation) and gain/offset jitter.

    Small images lose too much to random-resized crops of SimCLR's size (8-100 %); 85-110 % zoom with ±12 % shift
    keeps a digit a digit. No flip: a mirrored generator output must not look like the data."""
    n = x.shape[0]
    u = torch.rand(n, 6, generator=gen)
    angle = (u[:, 0] - 0.5) * (math.pi / 6)  # ±15 degrees
    scale = 0.9 + 0.2 * u[:, 1]
    shift = (u[:, 2:4] - 0.5) * 0.24
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # padding with the border (background) value: zero padding would paint gray frames into [-1,1] images
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    gain = (0.75 + 0.5 * u[:, 4]).view(n, 1, 1, 1)
    offset = ((u[:, 5] - 0.5) * 0.3).view(n, 1, 1, 1)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    return ((out - mean) * gain + mean + offset).clamp(-1, 1)


# ---- pretext tasks: each maps a batch to a loss and owns its extra head ------------------------------------------
class SimCLR(nn.Module):
    """Two views of each image must find each other among the batch (NT-Xent loss on a projection head)."""

    def __init__(self, feature_dim: int) -> None:
        super().__init__()
        self.project = nn.Sequential(nn.ReLU(), nn.Linear(feature_dim, feature_dim), nn.ReLU(),
                                     nn.Linear(feature_dim, 64))

    def loss(self, encoder, x: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, float]:
        z = F.normalize(self.project(encoder.embedding(torch.cat([random_view(x, gen), random_view(x, gen)]))), dim=1)
        n = x.shape[0]
        sim = (z @ z.T) / TEMPERATURE
        sim.fill_diagonal_(float("-inf"))
        target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
        return F.cross_entropy(sim, target), float((sim.argmax(1) == target).float().mean())


class Rotation(nn.Module):
    """Which of 0/90/180/270 degrees was each (jittered) image turned by?"""

    def __init__(self, feature_dim: int) -> None:
        super().__init__()
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(feature_dim, 4))

    def loss(self, encoder, x: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, float]:
        k = torch.randint(0, 4, (x.shape[0],), generator=gen)
        views = random_view(x, gen)
        turned = torch.stack([torch.rot90(v, int(r), dims=(1, 2)) for v, r in zip(views, k, strict=True)])
        logits = self.head(encoder.embedding(turned))
        return F.cross_entropy(logits, k), float((logits.argmax(1) == k).float().mean())


class Denoise(nn.Module):
    """Rebuild the clean image from a noisy, partly masked one through the feature vector (a denoising bottleneck)."""

    def __init__(self, feature_dim: int, channels: int, size: int, widths: list[int]) -> None:
        super().__init__()
        self.side, self.size, self.w3 = max(1, size // 8), size, widths[2]
        up = [nn.Upsample(scale_factor=2), nn.Conv2d(widths[2], widths[1], 3, padding=1), nn.ReLU(),
              nn.Upsample(scale_factor=2), nn.Conv2d(widths[1], widths[0], 3, padding=1), nn.ReLU(),
              nn.Upsample(scale_factor=2), nn.Conv2d(widths[0], channels, 3, padding=1)]
        self.expand = nn.Linear(feature_dim, widths[2] * self.side * self.side)
        self.up = nn.Sequential(*up)

    def loss(self, encoder, x: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, float]:
        noisy = x + 0.4 * torch.randn(x.shape, generator=gen)
        noisy = torch.where(torch.rand(x.shape[0], 1, *x.shape[2:], generator=gen) < 0.25, 0.0, noisy)
        h = F.relu(self.expand(encoder.embedding(noisy))).view(-1, self.w3, self.side, self.side)
        out = F.interpolate(self.up(h), size=x.shape[2:], mode="bilinear", align_corners=False)
        loss = F.mse_loss(out, x)
        return loss, -float(loss.detach())


class Both(nn.Module):
    """SimCLR and rotation prediction on the same encoder, losses added: instance-level and orientation cues."""

    def __init__(self, feature_dim: int) -> None:
        super().__init__()
        self.simclr, self.rotation = SimCLR(feature_dim), Rotation(feature_dim)

    def loss(self, encoder, x: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, float]:
        a, score = self.simclr.loss(encoder, x, gen)
        b, _ = self.rotation.loss(encoder, x, gen)
        return a + b, score


def pretext_for(method: str, spec: dict) -> nn.Module:
    fd = int(spec["feature_dim"])
    if method == "simclr+rotation":
        return Both(fd)
    if method == "simclr":
        return SimCLR(fd)
    if method == "rotation":
        return Rotation(fd)
    if method == "denoise":
        return Denoise(fd, int(spec["in_channels"]), int(spec["image_size"]), list(spec["widths"]))
    raise ValueError(f"unknown self-supervised method {method!r}; choose one of {', '.join(METHODS)}")


# ---- training -----------------------------------------------------------------------------------------------------
def plan(n_images: int, spec: dict) -> tuple[int, int]:
    """(epochs, steps per epoch): TARGET_STEPS for 28x28 gray, fewer where a step costs more (pixels x first width,
    at least MIN_STEPS), whatever the number of images, within MIN/MAX_EPOCHS."""
    per_epoch = max(1, n_images // BATCH)
    cost = int(spec["image_size"]) ** 2 * int(spec["widths"][0]) / (28 * 28 * 16)
    steps = max(MIN_STEPS, TARGET_STEPS / max(cost, 1.0))
    return int(np.clip(math.ceil(steps / per_epoch), MIN_EPOCHS, MAX_EPOCHS)), per_epoch


def train_self_supervised(data, cancel: CancelToken | None = None, method: str = DEFAULT_METHOD, seed: int = 0,
                          steps: int | None = None) -> Generator[Event, None, nn.Module]:
    """Train the feature net on the images alone (labels, if any, are never read); events as the classifier's."""
    from engine.data import to_float
    from engine.metrics.feature_net import DigitCNN

    cancel = cancel or CancelToken()
    pool = np.sort(np.random.default_rng(seed).permutation(len(data))[:MAX_TRAIN_IMAGES])
    spec = ssl_spec(data, len(pool), method)
    x_train = to_float(data.images[pool])
    if x_train.shape[-1] != spec["image_size"]:  # features() resizes measured images the same way
        x_train = F.interpolate(x_train, size=(spec["image_size"],) * 2, mode="bilinear", antialias=True,
                                align_corners=False)
    epochs, per_epoch = plan(len(pool), spec)
    if steps is not None:  # a test's or a benchmark's budget
        epochs, per_epoch = max(1, math.ceil(steps / per_epoch)), min(per_epoch, steps)
    batch = min(BATCH, len(pool))
    yield Log("info", f"Training a feature net for {data.name} without labels ({method}, {len(pool):,} images, "
                      f"{epochs} epochs on CPU); it is cached for next time.")
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):  # a fixed init without moving the caller's global RNG
        torch.manual_seed(seed)
        net, task = DigitCNN(spec), pretext_for(method, spec)
    params = list(net.parameters()) + list(task.parameters())
    opt = torch.optim.AdamW(params, lr=LR, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=epochs * per_epoch)
    t0, cpu0 = time.perf_counter(), time.process_time()
    net.train()
    for epoch in range(epochs):
        order = torch.randperm(len(pool), generator=gen)
        scores = []
        for i in range(per_epoch):
            cancel.raise_if_cancelled()
            loss, score = task.loss(net, x_train[order[i * batch:(i + 1) * batch]], gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            scores.append(score)
        done = epoch + 1
        rate = done * per_epoch * batch / max(time.perf_counter() - t0, 1e-9)
        yield Progress("feature-net", done, epochs, f"training the {data.name} feature net without labels "
                                                    f"(epoch {done}/{epochs}, loss {loss.item():.3f})",
                       rate=rate, eta_s=(epochs - done) * per_epoch * batch / rate)
    net.eval()
    scale_to_unit_variance(net, x_train[:2000])
    net.pretext_score = float(np.mean(scores[-max(1, len(scores) // 4):]))
    net.val_accuracy = float("nan")
    net.train_info = {"train": len(pool), "epochs": epochs, "steps": epochs * per_epoch, "seed": seed,
                      "method": method, "pretext_score": round(net.pretext_score, 4),
                      "train_seconds": round(time.perf_counter() - t0, 1),
                      "train_cpu_seconds": round(time.process_time() - cpu0, 1)}
    return net


@torch.no_grad()
def scale_to_unit_variance(net: nn.Module, images: torch.Tensor) -> None:
    """Scale the feature layer so the features of the data have mean variance 1 per dimension.

    A contrastive net's raw feature scale is arbitrary (FIDs of 1e-3 would read as "perfect"); one scalar folded
    into the last layer's weights gives FIDs in a readable range and leaves every ranking as it was."""
    feats = torch.cat([net.embedding(chunk) for chunk in images.split(500)])
    scale = float(feats.var(0).mean().clamp_min(1e-12).rsqrt())
    net.embed.weight.mul_(scale)
    net.embed.bias.mul_(scale)
