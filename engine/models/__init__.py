"""Model registry: each arch builds a generator and a discriminator from JSON-able specs.

A spec records every layer's width, read back from the modules (`model.spec()`), so a pruned model is rebuilt
from spec + state_dict — never pickled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch.nn as nn

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

__all__ = ["Discriminator", "Generator", "HasBlocks", "ImageToImageGenerator", "LatentGenerator", "MakesOwnInput",
           "SpecError", "TakesLatents", "arch_names", "build_discriminator", "build_generator", "build_pair",
           "check_spec", "default_specs", "discriminator_from_checkpoint",
           "generator_from_checkpoint", "num_classes", "register_arch"]

_GENERATORS: dict[str, Callable[[dict], nn.Module]] = {}
_DISCRIMINATORS: dict[str, Callable[[dict], nn.Module]] = {}
_DEFAULTS: dict[str, Callable[..., tuple[dict, dict]]] = {}
_CHECKS: dict[str, Callable[[dict, str, str], None]] = {}


def register_arch(name: str, generator: Callable, discriminator: Callable, defaults: Callable,
                  check: Callable[[dict, str, str], None]) -> None:
    """`check(spec, role, where)` refuses a spec its builders cannot make (raising SpecError naming the key)."""
    _GENERATORS[name] = generator
    _DISCRIMINATORS[name] = discriminator
    _DEFAULTS[name] = defaults
    _CHECKS[name] = check


def arch_names() -> list[str]:
    return sorted(_GENERATORS)


def _check_arch(name: str) -> None:
    if name not in _GENERATORS:
        raise ConfigError(f"Unknown architecture '{name}'; choose one of: {', '.join(arch_names())}.")


def default_specs(arch: str, image_shape: tuple[int, int, int], latent_dim: int = 100,
                  num_classes: int = 0) -> tuple[dict, dict]:
    """Generator and discriminator specs of an arch at its default widths for one image shape.

    num_classes > 0: the class-conditional pair (a class embedding into G, a projection D); dcgan only."""
    _check_arch(arch)
    g, d = _DEFAULTS[arch](tuple(image_shape), latent_dim)
    if num_classes:
        from engine.models.conditional import default_embed_dim

        if arch != "dcgan":
            raise ConfigError(f"The conditional task needs --arch dcgan (got {arch}).")
        g.update(num_classes=num_classes, embed_dim=default_embed_dim(num_classes))
        d.update(num_classes=num_classes)
    return g, d


def num_classes(model: nn.Module) -> int:
    """How many classes a conditional generator or discriminator takes; 0 for an unconditional one."""
    return int(getattr(model, "num_classes", 0) or 0)


def check_spec(spec: Any, role: str, where: str) -> None:
    """Refuse a generator/discriminator spec with a missing, mistyped or out-of-range field (SpecError)."""
    if not isinstance(spec, dict):
        raise SpecError(f"{where} must be a table of the {role}'s layer sizes (got {type(spec).__name__})")
    arch = spec.get("arch")
    if arch not in _GENERATORS:
        raise SpecError(f"{where}.arch must be one of {', '.join(arch_names())} (got {arch!r})")
    _CHECKS[arch](spec, role, where)


def build_generator(spec: dict, where: str = "arch.generator") -> nn.Module:
    check_spec(spec, "generator", where)
    return check_contract(_GENERATORS[spec["arch"]](spec), Generator, spec["arch"])


def build_discriminator(spec: dict, where: str = "arch.discriminator") -> nn.Module:
    check_spec(spec, "discriminator", where)
    return check_contract(_DISCRIMINATORS[spec["arch"]](spec), Discriminator, spec["arch"])


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


# Registration happens on import of each arch module.
from engine.models import dcgan, mlp, resnet, resnet_i2i, unet, user  # noqa: E402,F401
