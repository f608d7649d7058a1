"""A feature space for any data set: the bundled digit net for MNIST, a small CNN of the same family trained once on
labelled data (CPU, fixed seed), or the same CNN trained without labels (engine/metrics/ssl_features.py) on a folder
that has none; both cached under the user cache, keyed by the data they saw."""

from __future__ import annotations

import hashlib
import io
import math
import re
import time
from collections.abc import Callable, Generator
from pathlib import Path

import numpy as np
import torch

from engine.events import CancelToken, Event, Log, Progress

DIGIT_DATA = ("mnist-5k", "mnist")  # the bundled net was trained on these digits
RECIPE = "cnn-v1"  # part of the cache key: change it when the training below changes, so old nets retrain
MAX_TRAIN_IMAGES = 10_000
MIN_IMAGES_PER_CLASS = 5
MIN_UNLABELLED_IMAGES = 100  # the smallest feature size (32) needs 64 real images for FID; a few more to learn from
BATCH = 64
TARGET_STEPS = 300  # small data sets get more epochs, large ones at least MIN_EPOCHS
MIN_EPOCHS, MAX_EPOCHS = 5, 20
LR = 2e-3

FeatureNet = tuple[torch.nn.Module, str]


def cache_dir() -> Path:
    from engine.resources import user_cache_dir

    return user_cache_dir() / "feature-nets"


def feature_dim_for(n_images: int) -> int:
    """Feature size the data can support: FID needs at least 2x the feature size in real images."""
    if n_images >= 2000:
        return 128
    return 64 if n_images >= 600 else 32


def widths_for(channels: int) -> list[int]:
    # colour images carry more to tell apart than gray digits; 2x wider stays well under 2 min for 10k on 2 cores
    return [16, 32, 64] if channels == 1 else [32, 64, 128]


def cache_key(data) -> str:
    """<name>-<CxHxW>-<K>c-<hash> (or -ssl-<hash> for a net trained without labels): the hash covers the recipe, the
    labels and the first images, so a changed folder retrains."""
    c, h, w = data.image_shape
    supervised = _classes_usable(data)
    digest = hashlib.sha256((RECIPE if supervised else ssl_recipe()).encode())
    if supervised:
        digest.update(np.ascontiguousarray(data.labels.numpy(), dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(data.images[:256].numpy()).tobytes())
    digest.update(str(len(data)).encode())
    name = re.sub(r"[^A-Za-z0-9]+", "-", data.name).strip("-").lower() or "data"
    return f"{name}-{c}x{h}x{w}-{f'{_class_count(data)}c' if supervised else 'ssl'}-{digest.hexdigest()[:12]}"


def ssl_recipe() -> str:
    from engine.metrics.ssl_features import DEFAULT_METHOD
    from engine.metrics.ssl_features import RECIPE as SSL_RECIPE

    return f"{SSL_RECIPE}-{DEFAULT_METHOD}"


def _class_count(data) -> int:
    return max(len(data.classes), int(data.labels.max()) + 1) if len(data) else len(data.classes)


def _classes_usable(data) -> bool:
    """Labels a classifier can learn from: 2+ classes with MIN_IMAGES_PER_CLASS+ images each."""
    if data.labels is None or not len(data):
        return False
    counts = np.bincount(data.labels.numpy(), minlength=_class_count(data))
    return bool((counts > 0).sum() >= 2 and counts[counts > 0].min() >= MIN_IMAGES_PER_CLASS)


def why_no_feature_net(data) -> str | None:
    """None when the data gets a feature net (the digit net, a classifier, or one trained without labels); otherwise
    the sentence the report shows."""
    shape = "x".join(map(str, data.image_shape))
    if data.name in DIGIT_DATA:
        return None
    if min(data.image_shape[1:]) < 8:
        return (f"FID is unavailable for {shape} images (the feature net needs 8 px or more); SWD and teacher "
                "fidelity are reported instead.")
    if not _classes_usable(data) and len(data) < MIN_UNLABELLED_IMAGES:
        return (f"FID is unavailable for {data.name}: a feature net learnt from its images needs at least "
                f"{MIN_UNLABELLED_IMAGES} of them (got {len(data)}); add images, or SWD and teacher fidelity are "
                "reported instead.")
    return None


why_no_classifier = why_no_feature_net  # the older name, still imported elsewhere


def feature_net_for(data, cancel: CancelToken | None = None,
                    on_event: Callable[[Event], None] | None = None) -> FeatureNet | None:
    """(net, description) for the data's feature space, or None when why_no_feature_net says why not. Trains and
    caches on first use; `on_event` sees the training progress (Log and Progress events)."""
    gen = prepare_feature_net(data, cancel)
    while True:
        try:
            event = next(gen)
        except StopIteration as done:
            return done.value
        if on_event is not None:
            on_event(event)


def prepare_feature_net(data, cancel: CancelToken | None = None) -> Generator[Event, None, FeatureNet | None]:
    """The same as feature_net_for, as a stage-style generator: `net = yield from prepare_feature_net(data)`."""
    from engine.metrics.feature_net import describe, load_feature_net

    if data.name in DIGIT_DATA:
        net = load_feature_net()
        net.cache_key = "digit-classifier"
        return net, describe(net)
    if why_no_feature_net(data):
        return None
    supervised = _classes_usable(data)
    what = "feature classifier" if supervised else "feature net (trained without labels)"
    path = cache_dir() / f"{cache_key(data)}.pt"
    if path.exists():
        try:
            net = load_feature_net(path)
            net.from_cache, net.cache_key = True, path.stem
            yield Log("info", f"The {what} for {data.name} loaded from the cache ({path}).")
            return net, _name(net, data, "cached")
        except Exception as e:  # a truncated or foreign file: train again and overwrite it
            yield Log("warning", f"The cached {what} {path} cannot be read ({e}); training it again.")
    if supervised:
        net, acc = yield from _train(data, cancel or CancelToken())
        _save(net, acc, path, data)
        yield Log("info", f"Feature classifier for {data.name}: held-out accuracy {acc:.3f}; cached as {path}.")
    else:
        from engine.metrics.ssl_features import train_self_supervised

        net = yield from train_self_supervised(data, cancel or CancelToken())
        _save(net, float("nan"), path, data, training="self-supervised")
        yield Log("info", f"Feature net for {data.name} trained without labels ({net.train_info['method']}, "
                          f"{net.train_info['train_seconds']:.0f} s); cached as {path}.")
    net.from_cache, net.cache_key = False, path.stem
    return net, _name(net, data, "trained now")


def _name(net, data, origin: str) -> str:
    """The report's name of the feature space: which data, how trained, so nets are never mixed up."""
    from engine.metrics.ssl_features import is_self_supervised

    spec = net.spec()
    if is_self_supervised(spec):
        method = str(spec["trained_by"]).split(":", 1)[-1]
        return f"cnn-ssl-{data.name} ({method}, no labels, {origin})"
    return f"cnn-{data.name} (val acc {net.val_accuracy:.2f}, {origin})"


def split_indices(labels: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) indices over at most MAX_TRAIN_IMAGES images: 10% of each class held out (1 to 100)."""
    rng = np.random.default_rng(seed)
    pool = np.sort(rng.permutation(len(labels))[:MAX_TRAIN_IMAGES])
    held = []
    for c in np.unique(labels[pool]):
        members = pool[labels[pool] == c]
        held.append(rng.permutation(members)[: min(100, max(1, len(members) // 10))])
    held_out = np.sort(np.concatenate(held))
    return np.setdiff1d(pool, held_out), held_out


def _random_shift(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Shift each image by up to max_shift pixels, edges repeated: the classifier should not key on exact position."""
    n, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, [max_shift] * 4, mode="replicate")
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    rows = (dy.view(n, 1) + torch.arange(h).view(1, h)).view(n, 1, h, 1).expand(n, c, h, w + 2 * max_shift)
    cols = (dx.view(n, 1) + torch.arange(w).view(1, w)).view(n, 1, 1, w).expand(n, c, h, w)
    return padded.gather(2, rows).gather(3, cols)


def _train(data, cancel: CancelToken, seed: int = 0) -> Generator[Event, None, tuple[torch.nn.Module, float]]:
    from engine.data import to_float
    from engine.metrics.feature_net import DigitCNN, predict

    labels = data.labels.numpy()
    train_idx, val_idx = split_indices(labels, seed)
    c, h, _ = data.image_shape
    spec = {"arch": "cnn", "in_channels": c, "image_size": h, "widths": widths_for(c),
            "feature_dim": feature_dim_for(len(train_idx)), "classes": _class_count(data), "trained_on": data.name,
            "trained_by": "labels"}
    epochs = int(np.clip(math.ceil(TARGET_STEPS * BATCH / len(train_idx)), MIN_EPOCHS, MAX_EPOCHS))
    steps_per_epoch = math.ceil(len(train_idx) / BATCH)
    yield Log("info", f"Training a feature classifier for {data.name} ({len(train_idx):,} images, "
                      f"{spec['classes']} classes, {epochs} epochs on CPU); it is cached for next time.")
    x_train, y_train = to_float(data.images[train_idx]), data.labels[train_idx]
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):  # a fixed init without moving the caller's global RNG
        torch.manual_seed(seed)
        net = DigitCNN(spec)
    opt = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=epochs * steps_per_epoch)
    t0, shift = time.perf_counter(), max(1, h // 14)
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(train_idx), generator=gen)
        for i in range(0, len(order), BATCH):
            cancel.raise_if_cancelled()
            idx = order[i:i + BATCH]
            with torch.random.fork_rng(devices=[]):  # dropout draws from the global RNG; keep it reproducible
                torch.manual_seed(seed * 100_003 + epoch * 10_007 + i)
                loss = torch.nn.functional.cross_entropy(net(_random_shift(x_train[idx], shift, gen)), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        done = epoch + 1
        rate = done * len(train_idx) / max(time.perf_counter() - t0, 1e-9)
        yield Progress("feature-net", done, epochs, f"training the {data.name} feature classifier "
                                                    f"(epoch {done}/{epochs}, loss {loss.item():.3f})",
                       rate=rate, eta_s=(epochs - done) * len(train_idx) / rate)
    net.eval()
    acc = float((predict(net, data.images[val_idx]) == labels[val_idx]).mean())
    net.val_accuracy = acc
    net.train_info = {"train": len(train_idx), "held_out": len(val_idx), "epochs": epochs, "seed": seed,
                      "train_seconds": round(time.perf_counter() - t0, 1)}
    return net, acc


def _save(net, acc: float, path: Path, data, training: str = "labels") -> None:
    """Atomic write (temp file + os.replace) of a weights_only-readable payload; `training` says how it learnt."""
    from engine.metrics.feature_net import feature_net_payload
    from engine.workspace import atomic_write_bytes

    recipe = RECIPE if training == "labels" else ssl_recipe()
    payload = feature_net_payload(net, acc, recipe=recipe, dataset=data.name, classes=list(data.classes),
                                  training=training, **net.train_info)
    buf = io.BytesIO()
    torch.save(payload, buf)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buf.getvalue())
