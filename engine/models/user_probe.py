"""What `gan-prune import` learns from a person's model before it trusts it with a workspace: its weights file,
whether the state dict fits the class, and its input signature (latent size and layout, image shape) read from the
module's attributes and one dry run. Each refusal is one sentence naming the file.
"""

from __future__ import annotations

import inspect
import io
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from engine.models.user_source import UserCodeStopped, UserModelError, call_forward, one_line, regular_file
from engine.workspace import torch_load_problem

# Attribute names people give a generator's latent size (DCGAN tutorials use nz; StyleGAN z_dim).
LATENT_ATTRS = ("latent_dim", "nz", "z_dim", "latent_size", "noise_dim", "dim_z", "zdim", "latent_dimension")
CLASS_ATTRS = ("num_classes", "n_classes", "nclasses", "n_class", "num_labels", "class_num")
# Keys under which training scripts commonly nest the state dict in a checkpoint dict.
NESTED_KEYS = ("state_dict", "generator", "model", "netG", "G", "model_state_dict", "discriminator", "netD", "D")


def read_state_dict(path: str | Path, prefer: tuple[str, ...] = NESTED_KEYS) -> dict[str, torch.Tensor]:
    """A state dict from a .pt file, read with weights_only=True (a weights file must never run code)."""
    path = regular_file(Path(path).expanduser(), "weights file")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise UserModelError(f"Cannot read the weights file {path} ({e.strerror or e}); check the path.") from None
    try:
        data = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as e:
        raise UserModelError(f"The weights file {path} {torch_load_problem(e)}: it is not a plain state dict; save "
                             "it with torch.save(model.state_dict(), PATH).") from None
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
    """What goes in and comes out: noise (latent_dim, layout), noise + a class (num_classes > 0), or an image
    (input_shape); the output is always an image batch of image_shape."""

    image_shape: tuple[int, int, int]
    output_range: tuple[float, float]
    latent_dim: int | None = None
    latent_layout: str | None = None  # "flat" [B, n] | "map" [B, n, 1, 1]
    num_classes: int = 0
    input_shape: tuple[int, int, int] | None = None


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


def guess_num_classes(net: nn.Module) -> int | None:
    """The module's class-count attribute, else the size of its first nn.Embedding (the usual label table)."""
    for attr in CLASS_ATTRS:
        v = getattr(net, attr, None)
        if isinstance(v, int) and not isinstance(v, bool) and v > 1:
            return v
    return next((m.num_embeddings for m in net.modules() if isinstance(m, nn.Embedding)), None)


def required_inputs(net: nn.Module) -> int:
    """How many positional arguments forward() needs: 1 (z or an image) or 2 (z and a class label)."""
    try:
        params = inspect.signature(net.forward).parameters.values()
    except (TypeError, ValueError):
        return 1
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(1 for p in params if p.default is p.empty and p.kind in positional)


@torch.no_grad()
def probe_generator(net: nn.Module, source: Path, class_name: str, latent_dim: int | None = None,
                    num_classes: int | None = None, input_shape: tuple[int, int, int] | None = None) -> Signature:
    """Read the input signature from the module and one dry run of two samples. An image input comes from
    input_shape (or an `input_shape` attribute); a second forward argument means a class label."""
    net.eval()
    own = getattr(net, "input_shape", None)
    if input_shape is None and isinstance(own, (tuple, list)) and len(own) == 3 \
            and all(isinstance(v, int) for v in own):
        input_shape = tuple(own)
    if input_shape is not None:
        x = torch.rand(2, *input_shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
        try:
            out = call_forward(net, x, plain=True)
        except UserCodeStopped:
            raise
        except Exception as e:
            raise UserModelError(f"{class_name} from {source} does not run on images {list(input_shape)} "
                                 f"({one_line(e)}); give the right --input-shape.") from None
        return Signature(_image_shape(out, source, class_name), _range(out), input_shape=tuple(input_shape))
    k = 0
    if num_classes is not None or required_inputs(net) >= 2:
        k = num_classes or guess_num_classes(net) or 0
        if k < 2:
            raise UserModelError(f"{class_name} from {source} takes a second input (a class label?) but has no "
                                 "num_classes attribute or nn.Embedding to count the classes; give --num-classes.")
    return _probe_noise(net, latent_dim, k, source, class_name)


def _probe_noise(net: nn.Module, latent_dim: int | None, k: int, source: Path, class_name: str) -> Signature:
    """Latents as [B, n], else as [B, n, 1, 1]; with k classes the labels 0 and 1 go in as the second input.

    Without a stated size: the module's attribute or its first layer's input, and for a conditional model also
    that input less the label embedding's width (the usual cat([z, embed(y)]) in front of the first layer)."""
    guess = latent_dim or guess_latent_dim(net)
    if guess is None:
        raise UserModelError(f"Cannot tell the latent size of {class_name} in {source}: it has no latent_dim "
                             "attribute and no Linear or Conv layer; give --latent-dim.")
    sizes = [guess]
    embedding = next((m for m in net.modules() if isinstance(m, nn.Embedding)), None)
    if k and latent_dim is None and embedding is not None and guess > embedding.embedding_dim:
        sizes.append(guess - embedding.embedding_dim)
    extra = (torch.arange(2) % k,) if k else ()
    errors = []
    for n in sizes:
        z = torch.randn(2, n, generator=torch.Generator().manual_seed(0))
        for layout, x in (("flat", z), ("map", z.reshape(2, n, 1, 1))):
            try:
                out = call_forward(net, x, *extra, plain=True)
            except UserCodeStopped:
                raise
            except Exception as e:
                errors.append(one_line(e))
                continue
            return Signature(_image_shape(out, source, class_name), _range(out), n, layout, k)
    what = f"latents of size {' or '.join(map(str, sizes))}" + (f" and labels of {k} classes" if k else "")
    raise UserModelError(f"{class_name} from {source} does not run on {what} ({errors[0]}); give the right "
                         f"--latent-dim{' and --num-classes' if k else ''}.")


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
def find_final_sigmoid(net: nn.Module, images: torch.Tensor, source: Path, class_name: str,
                       labels: torch.Tensor | None = None) -> str | None:
    """The Sigmoid layer whose removal leaves the logits (sigmoid(out without it) == out), or None when the
    output already is a logit. Checks that D runs on the generator's images (and their labels, for a conditional
    D) and gives one score per image."""
    net.eval()
    extra = () if labels is None else (labels,)
    try:
        out = call_forward(net, images, *extra, plain=True)
    except UserCodeStopped:
        raise
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
            same = torch.allclose(torch.sigmoid(call_forward(net, images, *extra, plain=True)), out, atol=1e-5)
        finally:
            setattr(parent, child, m)
        if same:
            return name
    return None
