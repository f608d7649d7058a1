"""Imported models ("user" arch): a person's own nn.Module, wrapped so every stage sees the model contract
(`latent_dim`, `image_shape`, `spec()`, and `logits()` for a discriminator).

The spec names the source file, its SHA-256, the class and its constructor arguments; a pruned model also lists
every layer whose tensors changed shape (`resized`), so it is rebuilt as: import the file (hash checked), build the
class, give those layers their pruned shapes, load the state dict. No pickled module anywhere: checkpoints stay
`torch.load(weights_only=True)` files.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
import torch.nn as nn

from engine.errors import ConfigError
from engine.models import ArchCode
from engine.models.spec import (
    MAX_LATENT,
    MAX_SIDE,
    MAX_WIDTH,
    SpecError,
    field,
    need_image_shape,
    need_int,
    need_int_list,
)
from engine.models.user_source import build_class, call_forward

SOURCE_KEYS = ("source", "sha256", "class", "args")
LATENT_LAYOUTS = ("flat", "map")  # z as [B, n], or as a [B, n, 1, 1] map (the DCGAN convention)
# Integer attributes that say a layer's size; torch-pruning changes them with the tensors, so a rebuild sets them.
SIZE_ATTRS = ("in_channels", "out_channels", "groups", "in_features", "out_features", "num_features",
              "num_channels", "num_groups", "num_parameters", "embedding_dim", "num_embeddings")


def _tensors(m: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v for k, v in [*m._parameters.items(), *m._buffers.items()] if v is not None}


def tensor_shapes(net: nn.Module) -> dict[str, tuple[int, ...]]:
    return {f"{n}.{t}" if n else t: tuple(v.shape) for n, m in net.named_modules() for t, v in _tensors(m).items()}


def resized_layers(net: nn.Module, built: dict[str, tuple[int, ...]]) -> dict[str, dict]:
    """{layer: {"tensors": {name: shape}, "attrs": {size attribute: value}}} for layers no longer as built."""
    out = {}
    for name, m in net.named_modules():
        changed = {t: list(v.shape) for t, v in _tensors(m).items()
                   if built.get(f"{name}.{t}" if name else t) != tuple(v.shape)}
        if changed:
            attrs = {a: getattr(m, a) for a in SIZE_ATTRS
                     if isinstance(getattr(m, a, None), int) and not isinstance(getattr(m, a), bool)}
            out[name] = {"tensors": changed, "attrs": attrs}
    return out


def apply_resized(net: nn.Module, resized: dict, where: str) -> None:
    """Give the freshly built layers the shapes a pruned model recorded (weights come from the state dict)."""
    modules = dict(net.named_modules())
    for name, entry in resized.items():
        m = modules.get(name)
        if m is None:
            raise SpecError(f"{where}.resized names the layer {name!r}, which the class does not build")
        for attr, value in entry.get("attrs", {}).items():
            if not hasattr(m, attr):
                raise SpecError(f"{where}.resized[{name!r}] sets {attr!r}, which that layer does not have")
            setattr(m, attr, value)
        tensors = _tensors(m)
        for t, shape in entry["tensors"].items():
            old = tensors.get(t)
            if old is None:
                raise SpecError(f"{where}.resized[{name!r}] names the tensor {t!r}, which that layer does not have")
            new = torch.zeros(shape, dtype=old.dtype, device=old.device)
            if t in m._parameters:
                m._parameters[t] = nn.Parameter(new, requires_grad=old.requires_grad)
            else:
                m._buffers[t] = new


def _net(spec: dict) -> tuple[nn.Module, dict]:
    net = build_class(spec["source"], spec["class"], dict(spec["args"]), spec["sha256"])
    built = tensor_shapes(net)
    apply_resized(net, spec.get("resized") or {}, f"arch.{spec['role']}")
    return net, built


class UserGenerator(nn.Module):
    """z [B, latent_dim] (and, for a conditional model, label [B]) → image [B, C, H, W] through the imported module."""

    def __init__(self, spec: dict, net: nn.Module | None = None, built: dict | None = None) -> None:
        super().__init__()
        if net is None:
            net, built = _net(spec)
        self.net = net
        self.image_shape = tuple(spec["image_shape"])
        self.latent_layout = spec["latent_layout"]
        self._latent_dim = int(spec["latent_dim"])
        self.num_classes = int(spec.get("num_classes") or 0)
        self.task = "conditional" if self.num_classes else "unconditional"  # engine/tasks.py's names
        self._source = {k: spec[k] for k in SOURCE_KEYS}
        self._built = built if built is not None else tensor_shapes(net)

    @property
    def latent_dim(self) -> int:
        return self._latent_dim

    def forward(self, z: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        x = z if self.latent_layout == "flat" else z.reshape(z.shape[0], -1, 1, 1)
        if not self.num_classes:
            return call_forward(self.net, x)
        if label is None:  # every class alike, as the built-in conditional models draw them
            label = torch.arange(z.shape[0], device=z.device) % self.num_classes
        return call_forward(self.net, x, label.long())

    def spec(self) -> dict:
        spec = {"arch": "user", "role": "generator", **self._source, "latent_dim": self._latent_dim,
                "latent_layout": self.latent_layout, "image_shape": list(self.image_shape),
                "resized": resized_layers(self.net, self._built)}
        if self.num_classes:
            spec["num_classes"] = self.num_classes
        return spec


class UserImageGenerator(nn.Module):
    """image [B, *input_shape] → image [B, C, H, W] (super-resolution, inpainting, sketch → image, pairs)."""

    def __init__(self, spec: dict, net: nn.Module | None = None, built: dict | None = None) -> None:
        super().__init__()
        if net is None:
            net, built = _net(spec)
        self.net = net
        self.input_shape = tuple(spec["input_shape"])
        self.image_shape = tuple(spec["image_shape"])
        self.task = spec["task"]
        self._source = {k: spec[k] for k in SOURCE_KEYS}
        self._built = built if built is not None else tensor_shapes(net)

    def example_input(self, batch: int = 1) -> torch.Tensor:
        device = next(self.parameters()).device
        return torch.zeros(batch, *self.input_shape, device=device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return call_forward(self.net, x)

    def spec(self) -> dict:
        return {"arch": "user", "role": "generator", **self._source, "task": self.task,
                "input_shape": list(self.input_shape), "image_shape": list(self.image_shape),
                "resized": resized_layers(self.net, self._built)}


def user_generator(spec: dict) -> nn.Module:
    return UserImageGenerator(spec) if "input_shape" in spec else UserGenerator(spec)


class UserDiscriminator(nn.Module):
    """image (and, for a conditional model, label) → one logit per image. A final Sigmoid module is replaced by
    Identity (training works on logits); a patch map of logits is averaged."""

    def __init__(self, spec: dict, net: nn.Module | None = None, built: dict | None = None) -> None:
        super().__init__()
        if net is None:
            net, built = _net(spec)
        self.sigmoid_layer = spec.get("sigmoid_layer")
        if self.sigmoid_layer:
            _replace(net, self.sigmoid_layer, nn.Identity())
        self.net = net
        self.image_shape = tuple(spec["image_shape"])
        self.num_classes = int(spec.get("num_classes") or 0)
        self._source = {k: spec[k] for k in SOURCE_KEYS}
        self._built = built if built is not None else tensor_shapes(net)

    def logits(self, x: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes:
            if label is None:
                label = torch.arange(x.shape[0], device=x.device) % self.num_classes
            out = call_forward(self.net, x, label.long())
        else:
            out = call_forward(self.net, x)
        return out.reshape(out.shape[0], -1).mean(1)

    def forward(self, x: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        return torch.sigmoid(self.logits(x, label))

    def spec(self) -> dict:
        spec = {"arch": "user", "role": "discriminator", **self._source, "image_shape": list(self.image_shape),
                "sigmoid_layer": self.sigmoid_layer, "resized": resized_layers(self.net, self._built)}
        if self.num_classes:
            spec["num_classes"] = self.num_classes
        return spec


def _replace(net: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = net.get_submodule(parent_name) if parent_name else net
    if not isinstance(getattr(parent, child, None), nn.Sigmoid):
        raise SpecError(f"arch.discriminator.sigmoid_layer {name!r} is not a Sigmoid layer of the class")
    setattr(parent, child, new)


# ---- spec checks (no import: a spec is checked before any file runs) ------------------------------------------------
_SHA = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check_source(spec: dict, where: str) -> None:
    source = field(spec, "source", where)
    if not isinstance(source, str) or not source.endswith(".py"):
        raise SpecError(f"{where}.source must be the path of a .py file (got {source!r:.60})")
    if not Path(source).is_absolute():  # relative to what? the folder a command runs in must never pick the code
        raise SpecError(f"{where}.source must be an absolute path (got the relative {source!r:.60})")
    if not isinstance(field(spec, "sha256", where), str) or not _SHA.fullmatch(spec["sha256"]):
        raise SpecError(f"{where}.sha256 must be 64 hex digits (got {spec['sha256']!r:.60})")
    if not isinstance(field(spec, "class", where), str) or not _NAME.fullmatch(spec["class"]):
        raise SpecError(f"{where}.class must be a Python class name (got {spec['class']!r:.60})")
    if not isinstance(field(spec, "args", where), dict) or not all(isinstance(k, str) for k in spec["args"]):
        raise SpecError(f"{where}.args must be a table of constructor arguments (got {spec['args']!r:.60})")


def _check_resized(spec: dict, where: str) -> None:
    resized = spec.get("resized") or {}
    if not isinstance(resized, dict):
        raise SpecError(f"{where}.resized must be a table of layers (got {resized!r:.60})")
    for name, entry in resized.items():
        w = f"{where}.resized[{name!r}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("tensors"), dict) \
                or not isinstance(entry.get("attrs", {}), dict):
            raise SpecError(f"{w} must hold 'tensors' and 'attrs' tables")
        for attr, v in entry.get("attrs", {}).items():
            if attr not in SIZE_ATTRS or not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= MAX_WIDTH:
                raise SpecError(f"{w}.attrs.{attr} must be a size attribute with a whole number between 1 and "
                                f"{MAX_WIDTH} (got {v!r:.40})")
        for t, shape in entry["tensors"].items():
            if not isinstance(shape, list) or not all(isinstance(s, int) and not isinstance(s, bool)
                                                      and 0 <= s <= MAX_WIDTH for s in shape):
                raise SpecError(f"{w}.tensors.{t} must be a shape: whole numbers between 0 and {MAX_WIDTH}")


def _check_signature(spec: dict, where: str) -> None:
    """A noise generator has latent_dim and its layout (and num_classes when conditional); an image-to-image one
    has input_shape and the task its data pairs are made for."""
    if "input_shape" in spec:
        need_int_list(spec, "input_shape", where, 1, MAX_SIDE, length=3)
        if not isinstance(spec.get("task"), str) or not _NAME.fullmatch(spec["task"]):
            raise SpecError(f"{where}.task must name the image-to-image task (got {spec.get('task')!r:.40})")
        return
    need_int(spec, "latent_dim", where, 1, MAX_LATENT)
    if spec.get("latent_layout") not in LATENT_LAYOUTS:
        raise SpecError(f"{where}.latent_layout must be one of {', '.join(LATENT_LAYOUTS)} "
                        f"(got {spec.get('latent_layout')!r:.40})")
    if "num_classes" in spec:
        need_int(spec, "num_classes", where, 2, MAX_WIDTH)


def _check(spec: dict, role: str, where: str) -> None:
    if "widths" in spec:  # a slim student (--student-widths) would silently be the full class from a random init
        raise SpecError(f"{where} is an imported model, whose widths come from pruning only: a slim student "
                        "(--student-widths) cannot be built from it; prune it (gan-prune prune) instead")
    _check_source(spec, where)
    need_image_shape(spec, where)
    if role == "generator":
        _check_signature(spec, where)
    else:
        if spec.get("sigmoid_layer") is not None and not isinstance(spec["sigmoid_layer"], str):
            raise SpecError(f"{where}.sigmoid_layer must be a layer name or unset (got {spec['sigmoid_layer']!r:.40})")
        if "num_classes" in spec:
            need_int(spec, "num_classes", where, 2, MAX_WIDTH)
    _check_resized(spec, where)


def _defaults(image_shape, latent_dim, num_classes=0):
    raise ConfigError("The 'user' architecture is an imported model, which 'gan-prune train' does not train; bring "
                      "yours with 'gan-prune import --generator FILE.py --class NAME --weights G.pt' and start "
                      "from pruning.")


CODE = ArchCode(generator=user_generator, discriminator=UserDiscriminator, check=_check, noise_defaults=_defaults)
