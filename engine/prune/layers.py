"""Which layers of a generator or discriminator can be pruned, by the names `layer_table` uses."""

from __future__ import annotations

import torch.nn as nn

from engine.errors import ConfigError
from engine.metrics.complexity import layer_table

PRUNABLE = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Linear/Conv/ConvTranspose layers in forward order (the order `layer_table` reports)."""
    modules = dict(model.named_modules())
    return [(r.name, modules[r.name]) for r in layer_table(model) if isinstance(modules[r.name], PRUNABLE)]


def output_layer(model: nn.Module) -> str:
    """The layer that writes the image (G) or the logit (D): structural pruning never shrinks it."""
    return weight_layers(model)[-1][0]


def prunable_layers(model: nn.Module, structural: bool) -> list[tuple[str, nn.Module]]:
    """Weight pruning may thin every layer; channel pruning leaves the output layer whole."""
    layers = weight_layers(model)
    return layers[:-1] if structural else layers


def pick_layers(model: nn.Module, names: list[str] | None, structural: bool, role: str) -> list[tuple[str, nn.Module]]:
    """The chosen layers (all prunable ones when names is None); unknown names list the valid ones."""
    layers = prunable_layers(model, structural)
    if not names:
        return layers
    valid = {n: m for n, m in layers}
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise ConfigError(f"Unknown {role} layer(s) {', '.join(unknown)}; prunable {role} layers: "
                          f"{', '.join(valid)} (see 'gan-prune layers').")
    return [(n, valid[n]) for n in names]


def resolve_layers(models: dict[str, nn.Module], names: list[str] | None,
                   structural: bool) -> dict[str, list[tuple[str, nn.Module]]]:
    """'--layers' per network ({"g": G, "d": D} for the targets): 'g:net.0' / 'd:net.0' pick one network, a bare
    name applies to every target network that has it. Unknown names raise ConfigError listing the valid ones."""
    if not names:
        return {role: prunable_layers(m, structural) for role, m in models.items()}
    wanted: dict[str, list[str]] = {role: [] for role in models}
    for n in names:
        prefix = n[:2].lower()
        if prefix in ("g:", "d:"):
            role = prefix[0]
            if role not in models:
                raise ConfigError(f"Layer {n} belongs to {'G' if role == 'g' else 'D'}, which --target "
                                  f"{''.join(models)} does not prune; add it to --target.")
            wanted[role].append(n[2:])
            continue
        owners = [r for r, m in models.items() if n in dict(prunable_layers(m, structural))]
        if not owners:
            valid = [f"{r}:{ln}" for r, m in models.items() for ln, _ in prunable_layers(m, structural)]
            raise ConfigError(f"Unknown layer {n}; prunable layers: {', '.join(valid)} (see 'gan-prune layers').")
        for r in owners:
            wanted[r].append(n)
    return {r: pick_layers(models[r], ws, structural, r.upper()) if ws else [] for r, ws in wanted.items()}
