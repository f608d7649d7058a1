"""The domain feature space for FID and friends: a small digit CNN trained on mnist-5k, shipped in resources/.

Inception weights need a download; this net is 0.4 MB, trains in a minute on CPU (tools/train_feature_net.py)
and sees the same 28x28 gray domain the generators produce. Its penultimate layer is the feature vector.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine.errors import DataError
from engine.resources import resource

FEATURE_NET_FORMAT = "gan-prune-studio/feature-net"
FEATURE_NET_VERSION = 1
FEATURE_NET_FILE = ("models", "digit-classifier.pt")
DEFAULT_SPEC = {"arch": "digit-cnn", "in_channels": 1, "image_size": 28, "widths": [16, 32, 64],
                "feature_dim": 128, "classes": 10, "trained_on": "mnist-5k"}


class DigitCNN(nn.Module):
    """Three conv+pool stages, a feature layer and a linear classifier head; channels, size (8 px or more), widths,
    feature size and class count all come from the spec, so the same family serves any labelled data set."""

    def __init__(self, spec: dict | None = None) -> None:
        super().__init__()
        spec = dict(DEFAULT_SPEC if spec is None else spec)
        self.spec_dict = spec
        w1, w2, w3 = spec["widths"]
        self.image_size = int(spec["image_size"])
        self.in_channels = int(spec["in_channels"])
        self.body = nn.Sequential(
            nn.Conv2d(self.in_channels, w1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 28 -> 14
            nn.Conv2d(w1, w2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 14 -> 7
            nn.Conv2d(w2, w3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 7 -> 3
            nn.Flatten(),
        )
        side = self.image_size // 8
        self.embed = nn.Linear(w3 * side * side, int(spec["feature_dim"]))
        # a net trained without labels (classes 0) has no classifier: features only, no class histogram
        classes, dim = int(spec["classes"]), int(spec["feature_dim"])
        self.head = nn.Sequential(nn.ReLU(), nn.Dropout(0.2), nn.Linear(dim, classes)) if classes > 0 else None

    def embedding(self, x: torch.Tensor) -> torch.Tensor:
        # Pre-activation features: full rank (no dead ReLU units), so the covariance in FID stays well conditioned.
        return self.embed(self.body(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embedding(x)) if self.head is not None else self.embedding(x)

    def spec(self) -> dict:
        return dict(self.spec_dict)


def _as_net_input(net: DigitCNN, images) -> torch.Tensor:
    """uint8 [0,255] or float [-1,1], N x C x H x W (numpy or torch) → float [-1,1] in the net's shape.

    Colour images are turned gray and other sizes resized so any generator can be measured; the numbers only
    mean something for digit-like data, which is what the report says next to the feature net's name.
    """
    x = torch.as_tensor(images)
    if x.dim() == 3:
        x = x.unsqueeze(1)
    x = x.float().div(127.5).sub(1.0) if not x.is_floating_point() else x.float()
    if x.shape[1] == 3 and net.in_channels == 1:
        x = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    elif x.shape[1] == 1 and net.in_channels == 3:  # gray data in an RGB feature space (Inception)
        x = x.expand(-1, 3, -1, -1)
    elif x.shape[1] != net.in_channels:
        raise DataError(f"The feature net takes {net.in_channels}-channel images (got {x.shape[1]} channels).")
    if x.shape[-1] != net.image_size or x.shape[-2] != net.image_size:
        x = nn.functional.interpolate(x, size=(net.image_size, net.image_size), mode="bilinear",
                                      antialias=True, align_corners=False)
    return x


@torch.no_grad()
def features(net: DigitCNN, images, batch: int = 500) -> np.ndarray:
    """Penultimate-layer features (N x feature_dim, float64) of images in [-1,1] (float) or [0,255] (uint8)."""
    net.eval()
    device = next(net.parameters()).device
    out = [net.embedding(_as_net_input(net, chunk).to(device)).double().cpu()
           for chunk in torch.as_tensor(images).split(_batch_for(net, batch))]
    return torch.cat(out).numpy() if out else np.zeros((0, int(net.spec()["feature_dim"])))


def _batch_for(net, batch: int) -> int:
    # a big feature net (Inception at 299 px) names the most images it can take at once without GBs of activations
    return min(batch, getattr(net, "max_batch", batch))


@torch.no_grad()
def predict(net: DigitCNN, images, batch: int = 500) -> np.ndarray:
    """Class ids (int64) of images in [-1,1] (float) or [0,255] (uint8)."""
    net.eval()
    device = next(net.parameters()).device
    out = [net(_as_net_input(net, chunk).to(device)).argmax(1).cpu() for chunk in torch.as_tensor(images).split(batch)]
    return torch.cat(out).numpy() if out else np.zeros((0,), dtype=np.int64)


def held_out_indices(labels, per_class: int = 100, seed: int = 0) -> np.ndarray:
    """The stratified validation split the bundled net was scored on (same seed → same images), sorted."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    picks = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in np.unique(labels)]
    return np.sort(np.concatenate(picks))


@torch.no_grad()
def features_and_classes(net: DigitCNN, images, batch: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """Features (float64) and class ids in one pass over the images, for FID and the class histogram together."""
    net.eval()
    device = next(net.parameters()).device
    feats, ids = [], []
    for chunk in torch.as_tensor(images).split(_batch_for(net, batch)):
        emb = net.embedding(_as_net_input(net, chunk).to(device))
        feats.append(emb.double().cpu())
        # a feature net without a classifier (Inception features) gives no classes: all ids are 0
        ids.append(net.head(emb).argmax(1).cpu() if net.head is not None else torch.zeros(len(emb), dtype=torch.int64))
    if not feats:
        return np.zeros((0, int(net.spec()["feature_dim"]))), np.zeros((0,), dtype=np.int64)
    return torch.cat(feats).numpy(), torch.cat(ids).numpy()


def feature_net_payload(net: DigitCNN, val_accuracy: float, **extra) -> dict:
    """The dict saved to disk: plain tensors and builtins only, so weights_only=True can read it."""
    state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    return {"format": FEATURE_NET_FORMAT, "version": FEATURE_NET_VERSION, "spec": net.spec(),
            "state_dict": state, "val_accuracy": float(val_accuracy), **extra}


def load_feature_net(path=None, device: str | torch.device = "cpu") -> DigitCNN:
    """Load the bundled digit classifier (or `path`); DataError when it is missing or not a feature-net file."""
    path = resource(*FEATURE_NET_FILE) if path is None else path
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise DataError(f"The feature network {path} is missing; reinstall the app or run "
                        "tools/train_feature_net.py to rebuild it.") from None
    except Exception as e:  # corrupt zip, unpickling refused, ...
        raise DataError(f"The feature network {path} cannot be read ({type(e).__name__}); "
                        "run tools/train_feature_net.py to rebuild it.") from None
    if not isinstance(payload, dict) or payload.get("format") != FEATURE_NET_FORMAT:
        raise DataError(f"{path} is not a feature-network file; run tools/train_feature_net.py to rebuild it.")
    if payload.get("version") != FEATURE_NET_VERSION:
        raise DataError(f"The feature network {path} has version {payload.get('version')!r}, this app reads "
                        f"version {FEATURE_NET_VERSION}; run tools/train_feature_net.py to rebuild it.")
    net = DigitCNN(payload["spec"])
    net.load_state_dict(payload["state_dict"])
    net.val_accuracy = float(payload.get("val_accuracy", float("nan")))
    return net.to(device).eval()


def describe(net: DigitCNN) -> str:
    """The name report.json gives the feature space, e.g. "digit-cnn-mnist5k (val acc 0.97)" or
    "cnn-ssl-folder:faces (simclr, no labels)"."""
    spec = net.spec()
    data = str(spec.get("trained_on", "mnist-5k")).replace("-", "")
    if str(spec.get("trained_by", "")).startswith("self-supervised"):  # no accuracy to give: say how it learnt
        return f"{spec.get('arch', 'cnn-ssl')}-{data} ({spec['trained_by'].split(':', 1)[-1]}, no labels)"
    acc = getattr(net, "val_accuracy", float("nan"))
    return f"{spec.get('arch', 'digit-cnn')}-{data} (val acc {acc:.3f})"


def feature_net_info(path=None) -> dict:
    """The JSON written beside the weights (accuracy, data, seed), or {} when absent."""
    pt = resource(*FEATURE_NET_FILE) if path is None else Path(path)
    try:
        return json.loads(pt.with_suffix(".json").read_text("utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
