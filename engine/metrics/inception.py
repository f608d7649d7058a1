"""Inception-v3 pool features (2048-d) for the classic FID, only from weights already on disk — never downloaded."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from engine.errors import ConfigError

ENV_VAR = "GAN_STUDIO_INCEPTION"
# pytorch-fid's port of the TF FID graph first: it is the one published FIDs use; torchvision's ImageNet weights next
WEIGHT_PATTERNS = ("pt_inception-2015-12-05-*.pth", "inception_v3_google-*.pth")
FEATURE_DIM = 2048
IMAGE_SIZE = 299


def hub_checkpoints() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def find_weights() -> Path | None:
    """$GAN_STUDIO_INCEPTION (a file, or a folder holding one), else torch hub's checkpoints folder; None if absent."""
    override = os.environ.get(ENV_VAR)
    places = [Path(override).expanduser()] if override else []
    places.append(hub_checkpoints())
    for place in places:
        if place.is_file():
            return place
        if place.is_dir():
            for pattern in WEIGHT_PATTERNS:
                found = sorted(place.glob(pattern))
                if found:
                    return found[0]
    return None


def missing_weights_message() -> str:
    return (f"feature_net = inception needs Inception-v3 weights on disk, and this app never downloads them: put "
            f"pt_inception-2015-12-05-6726825d.pth (pytorch-fid) or inception_v3_google-0cc3c7bd.pth (torchvision) "
            f"into {hub_checkpoints()}, or set {ENV_VAR} to the file.")


def require_weights() -> Path:
    """The weights file, or ConfigError saying where to put it."""
    path = find_weights()
    if path is None:
        raise ConfigError(missing_weights_message())
    return path


class InceptionFeatures(nn.Module):
    """torchvision's inception_v3 up to the global average pool; takes [-1,1] RGB at 299 px (feature_net's input
    conversion resizes and repeats gray to RGB). No classifier head: the class histogram is left out."""

    in_channels = 3
    image_size = IMAGE_SIZE
    head = None
    max_batch = 25  # a 299 px batch of 500 would need several GB of activations

    def __init__(self, source: str = "") -> None:
        from torchvision.models import inception_v3

        super().__init__()
        # transform_input=False: both weight files expect (x - 0.5) / 0.5, which is the [-1,1] images we feed
        self.net = inception_v3(weights=None, aux_logits=False, transform_input=False, init_weights=False)
        self.net.fc = nn.Identity()
        self.source = source
        self.val_accuracy = float("nan")

    def embedding(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def spec(self) -> dict:
        return {"arch": "inception-v3", "in_channels": 3, "image_size": IMAGE_SIZE, "feature_dim": FEATURE_DIM,
                "classes": 0, "trained_on": "imagenet", "weights": self.source}


def load_inception(path: str | os.PathLike | None = None) -> tuple[InceptionFeatures, str]:
    """(feature net, description) from the weights on disk; ConfigError when absent or not Inception-v3 weights."""
    path = Path(path) if path is not None else require_weights()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt file, unpickling refused, ...
        raise ConfigError(f"The Inception weights {path} cannot be read ({type(e).__name__}); replace the file "
                          f"({missing_weights_message()})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    net = InceptionFeatures(path.name)
    if not isinstance(state, dict):
        raise ConfigError(f"{path} is not an Inception-v3 state dict; replace it with one of the files named here: "
                          f"{missing_weights_message()}")
    body = {k: v for k, v in state.items() if not k.startswith(("fc.", "AuxLogits."))}
    try:
        net.net.load_state_dict(body, strict=True)
    except RuntimeError as e:
        first = str(e).splitlines()[0][:120]
        raise ConfigError(f"{path} does not hold Inception-v3 weights ({first}); replace it with "
                          "pt_inception-2015-12-05-*.pth or inception_v3_google-*.pth.") from None
    kind = "pt_inception-2015-12-05" if path.name.startswith("pt_inception") else "torchvision ImageNet"
    return net.eval(), f"inception-v3 pool3 2048-d ({kind} weights, {path.name})"
