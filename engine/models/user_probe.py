"""What `gan-prune import` learns from a person's model before it trusts it with a workspace: its weights file,
whether the state dict fits the class, and its input signature (latent size and layout, image shape) read from the
module's attributes and one dry run. Each refusal is one sentence naming the file.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from engine.models.user_source import UserModelError, one_line

# Attribute names people give a generator's latent size (DCGAN tutorials use nz; StyleGAN z_dim).
LATENT_ATTRS = ("latent_dim", "nz", "z_dim", "latent_size", "noise_dim", "dim_z", "zdim", "latent_dimension")
# Keys under which training scripts commonly nest the state dict in a checkpoint dict.
NESTED_KEYS = ("state_dict", "generator", "model", "netG", "G", "model_state_dict", "discriminator", "netD", "D")


def read_state_dict(path: str | Path, prefer: tuple[str, ...] = NESTED_KEYS) -> dict[str, torch.Tensor]:
    """A state dict from a .pt file, read with weights_only=True (a weights file must never run code)."""
    path = Path(path).expanduser()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserModelError(f"The weights file {path} does not exist; check the path.") from None
    except OSError as e:
        raise UserModelError(f"Cannot read the weights file {path} ({e.strerror or e}); check the path.") from None
    try:
        data = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise UserModelError(f"The weights file {path} is not a safe PyTorch state dict ({first[:120]}); save it "
                             "with torch.save(model.state_dict(), PATH).") from None
    if isinstance(data, dict) and not _is_state(data):
        nested = [k for k in prefer if isinstance(data.get(k), dict) and _is_state(data[k])]
        if nested:
            data = data[nested[0]]
    if not isinstance(data, dict) or not data or not _is_state(data):
        raise UserModelError(f"The weights file {path} holds no state dict (names to tensors); save it with "
                             "torch.save(model.state_dict(), PATH).")
    if all(k.startswith("module.") for k in data):  # saved from nn.DataParallel / DDP
        data = {k[len("module."):]: v for k, v in data.items()}
    return data


def _is_state(d: dict) -> bool:
    return bool(d) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in d.items())


def load_fitting(model: nn.Module, state: dict[str, torch.Tensor], weights: str | Path, what: str) -> None:
    """Load `state` into `model`, or refuse with the missing, unexpected and mis-shaped keys summarised."""
    wanted = model.state_dict()
    missing = [k for k in wanted if k not in state]
    unexpected = [k for k in state if k not in wanted]
    shapes = [f"{k} {list(state[k].shape)} vs {list(v.shape)}" for k, v in wanted.items()
              if k in state and tuple(state[k].shape) != tuple(v.shape)]
    parts = [f"{len(keys)} {label} ({', '.join(keys[:3])}{', …' if len(keys) > 3 else ''})"
             for label, keys in (("missing", missing), ("unexpected", unexpected),
                                 ("of another shape (file vs class)", shapes)) if keys]
    if parts:
        raise UserModelError(f"The weights file {weights} does not fit {what}: {'; '.join(parts)}; save the "
                             "state dict of this class with these arguments.")
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise UserModelError(f"The weights file {weights} holds NaN or infinite values in {bad[0]}; use a "
                             "checkpoint from before training diverged.")
    model.load_state_dict({k: (v.float() if v.is_floating_point() else v) for k, v in state.items()})


@dataclass(frozen=True)
class Signature:
    latent_dim: int
    latent_layout: str  # "flat" | "map"
    image_shape: tuple[int, int, int]
    output_range: tuple[float, float]


def guess_latent_dim(net: nn.Module) -> int | None:
    """The module's own latent-size attribute, else the input size of its first weight layer."""
    for attr in LATENT_ATTRS:
        v = getattr(net, attr, None)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v
    for m in net.modules():
        if isinstance(m, nn.Linear):
            return m.in_features
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            return m.in_channels
    return None


@torch.no_grad()
def probe_generator(net: nn.Module, latent_dim: int | None, source: Path, class_name: str) -> Signature:
    """Run the generator once on two latents, as [B, n] and else as [B, n, 1, 1]; the output must be an image batch."""
    n = latent_dim or guess_latent_dim(net)
    if n is None:
        raise UserModelError(f"Cannot tell the latent size of {class_name} in {source}: it has no latent_dim "
                             "attribute and no Linear or Conv layer; give --latent-dim.")
    z = torch.randn(2, n, generator=torch.Generator().manual_seed(0))
    net.eval()
    errors = []
    for layout, x in (("flat", z), ("map", z.reshape(2, n, 1, 1))):
        try:
            out = net(x)
        except Exception as e:
            errors.append(one_line(e))
            continue
        return Signature(n, layout, _image_shape(out, source, class_name), _range(out))
    raise UserModelError(f"{class_name} from {source} does not run on latents of size {n} ({errors[-1]}); give "
                         "the right --latent-dim.")


def _image_shape(out, source: Path, class_name: str) -> tuple[int, int, int]:
    if not isinstance(out, torch.Tensor) or not out.is_floating_point():
        raise UserModelError(f"{class_name} from {source} returns {type(out).__name__}, not an image tensor; its "
                             "forward must return one float tensor [batch, channels, height, width].")
    shape = list(out.shape)
    if out.dim() != 4 or shape[0] != 2 or shape[1] not in (1, 3) or shape[2] != shape[3] or not 8 <= shape[2] <= 256:
        raise UserModelError(f"{class_name} from {source} returns a tensor of shape {shape} for 2 latents, not an "
                             "image batch [2, 1 or 3, side, side] with a side of 8 to 256.")
    if not bool(torch.isfinite(out).all()):
        raise UserModelError(f"{class_name} from {source} returns NaN or infinite pixels; check its weights.")
    return int(shape[1]), int(shape[2]), int(shape[3])


def _range(out: torch.Tensor) -> tuple[float, float]:
    return float(out.min()), float(out.max())


@torch.no_grad()
def find_final_sigmoid(net: nn.Module, images: torch.Tensor, source: Path, class_name: str) -> str | None:
    """The Sigmoid layer whose removal leaves the logits (sigmoid(out without it) == out), or None when the
    output already is a logit. Checks that D runs on the generator's images and gives one score per image."""
    net.eval()
    try:
        out = net(images)
    except Exception as e:
        raise UserModelError(f"{class_name} from {source} does not run on the generator's images "
                             f"{list(images.shape)} ({one_line(e)}); check --discriminator-class.") from None
    if not isinstance(out, torch.Tensor) or out.dim() == 0 or out.shape[0] != images.shape[0]:
        raise UserModelError(f"{class_name} from {source} does not return one score per image (got "
                             f"{getattr(out, 'shape', type(out).__name__)}); its forward must return [batch, ...].")
    for name, m in reversed(list(net.named_modules())):
        if not isinstance(m, nn.Sigmoid):
            continue
        parent_name, _, child = name.rpartition(".")
        parent = net.get_submodule(parent_name) if parent_name else net
        setattr(parent, child, nn.Identity())
        try:
            same = torch.allclose(torch.sigmoid(net(images)), out, atol=1e-5)
        finally:
            setattr(parent, child, m)
        if same:
            return name
    return None
