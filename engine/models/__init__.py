"""Model building: each catalogued arch (engine/archs.py) builds a generator and a discriminator from JSON-able specs.

A spec records every layer's width, read back from the modules (`model.spec()`), so a pruned model is rebuilt
from spec + state_dict — never pickled.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch.nn as nn

from engine.archs import ARCHS, arch_names, archs_for
from engine.errors import ConfigError
from engine.models.contract import (
    Discriminator,
    Generator,
    HasBlocks,
    ImageToImageGenerator,
    LatentGenerator,
    MakesOwnInput,
    TakesLatents,
    check_contract,
)
from engine.models.spec import SpecError
from engine.tasks import image_tasks

__all__ = ["ArchCode", "Discriminator", "Generator", "HasBlocks", "ImageToImageGenerator", "LatentGenerator",
           "MakesOwnInput", "SpecError", "TakesLatents", "arch_code", "arch_names", "build_discriminator",
           "build_generator", "build_pair", "check_spec", "default_specs", "discriminator_from_checkpoint",
           "generator_from_checkpoint", "image_specs", "num_classes"]

@dataclass(frozen=True)
class ArchCode:
    """What builds one architecture (named by its engine/archs.py entry as "module:CODE", loaded on first use)."""

    generator: Callable[[dict], nn.Module]
    discriminator: Callable[[dict], nn.Module]
    check: Callable[[dict, str, str], None]  # check(spec, role, where) raises SpecError naming the key
    # Default widths: a noise arch's (image_shape, latent_dim, num_classes) -> (g, d); an image arch's
    # (input_shape, image_shape, residual) -> (g, d).
    noise_defaults: Callable[..., tuple[dict, dict]] | None = None
    image_defaults: Callable[..., tuple[dict, dict]] | None = None


def arch_code(name: str) -> ArchCode:
    """The builders of a catalogued architecture (ConfigError naming the choices for any other name)."""
    if name not in ARCHS:
        raise ConfigError(f"Unknown architecture '{name}'; choose one of: {', '.join(arch_names())}.")
    module, attr = ARCHS[name].code.split(":")
    return getattr(importlib.import_module(module), attr)


def default_specs(arch: str, image_shape: tuple[int, int, int], latent_dim: int = 100,
                  num_classes: int = 0) -> tuple[dict, dict]:
    """Generator and discriminator specs of a noise arch at its default widths for one image shape.

    num_classes > 0: the class-conditional pair (an arch the catalogue marks conditional)."""
    code, entry = arch_code(arch), ARCHS[arch]
    if num_classes and not entry.conditional:
        raise ConfigError(f"The conditional task needs --arch {' or '.join(archs_for('conditional'))} (got {arch}).")
    if code.noise_defaults is None:
        raise ConfigError(f"{arch} turns an image into an image; train it with --task "
                          f"{', '.join(image_tasks())}.")
    return code.noise_defaults(tuple(image_shape), latent_dim, num_classes)


def image_specs(arch: str, input_shape: tuple[int, int, int], image_shape: tuple[int, int, int],
                residual: bool, sees_input: bool = True, width: int | None = None,
                blocks: int | None = None) -> tuple[dict, dict]:
    """Generator and discriminator specs of an image-to-image arch for one (input, output) shape: its default
    widths, or `width` as its first layer's (each arch doubles it as its default does) and `blocks` residual blocks
    where it has them; the PatchGAN judges the image alone when not `sees_input` (the unpaired task)."""
    code = arch_code(arch)
    if code.image_defaults is None:
        raise ConfigError(f"{arch} does not take an image in; use {' or '.join(archs_for('superres'))}.")
    return code.image_defaults(tuple(input_shape), tuple(image_shape), residual, sees_input, width, blocks)


def num_classes(model: nn.Module) -> int:
    """How many classes a conditional generator or discriminator takes; 0 for an unconditional one."""
    return int(getattr(model, "num_classes", 0) or 0)


def check_spec(spec: Any, role: str, where: str) -> None:
    """Refuse a generator/discriminator spec with a missing, mistyped or out-of-range field (SpecError)."""
    if not isinstance(spec, dict):
        raise SpecError(f"{where} must be a table of the {role}'s layer sizes (got {type(spec).__name__})")
    arch = spec.get("arch")
    if arch not in ARCHS:
        raise SpecError(f"{where}.arch must be one of {', '.join(arch_names())} (got {arch!r})")
    arch_code(arch).check(spec, role, where)


def build_generator(spec: dict, where: str = "arch.generator") -> nn.Module:
    check_spec(spec, "generator", where)
    return check_contract(arch_code(spec["arch"]).generator(spec), Generator, spec["arch"])


def build_discriminator(spec: dict, where: str = "arch.discriminator") -> nn.Module:
    check_spec(spec, "discriminator", where)
    return check_contract(arch_code(spec["arch"]).discriminator(spec), Discriminator, spec["arch"])


def build_pair(arch_spec: dict) -> tuple[nn.Module, nn.Module]:
    """arch_spec = {"generator": spec, "discriminator": spec} as stored in checkpoints."""
    return build_generator(arch_spec["generator"]), build_discriminator(arch_spec["discriminator"])


def generator_from_checkpoint(ckpt: dict, use_ema: bool = True) -> nn.Module:
    """Rebuild G from a checkpoint's spec and load its weights (the EMA copy when present and asked for)."""
    g = build_generator(_arch(ckpt)["generator"])
    state = ckpt.get("ema") if use_ema and ckpt.get("ema") else ckpt.get("generator")
    _load(g, state, "generator")
    return g.eval()


def discriminator_from_checkpoint(ckpt: dict) -> nn.Module:
    d = build_discriminator(_arch(ckpt)["discriminator"])
    _load(d, ckpt.get("discriminator"), "discriminator")
    return d.eval()


def _arch(ckpt: dict) -> dict:
    """engine.checkpoint_check checked every file read from disk; this guards dicts made in memory."""
    from engine.errors import WorkspaceError

    arch = ckpt.get("arch")
    if not isinstance(arch, dict):
        raise WorkspaceError("The checkpoint has no 'arch' (every layer's width); restore it or train again.")
    return arch


def _load(model: nn.Module, state: dict, what: str) -> None:
    from engine.errors import WorkspaceError

    if not isinstance(state, dict):
        raise WorkspaceError(f"The checkpoint has no {what} weights; restore it or train again.")
    try:
        # float16 bundled weights upcast to the model's float32
        model.load_state_dict({k: (v.float() if v.is_floating_point() else v) for k, v in state.items()})
    except (RuntimeError, KeyError) as e:
        raise WorkspaceError(f"The checkpoint's {what} weights do not fit its architecture spec "
                             f"({str(e).splitlines()[0][:100]}); the file is damaged or from another model.") from None
