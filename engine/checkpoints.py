"""The one writer of GAN checkpoints: arch JSON with every width + state_dicts (+ optimizer/RNG state to resume).

Plain tensors and builtins only, so `torch.load(weights_only=True)` reads every file back.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from engine.tasks import DEFAULT_TASK
from engine.workspace import Workspace


def model_state(model: nn.Module) -> dict:
    """A CPU copy of the state_dict (the model may live on a GPU and keep training)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def float32_state(state: dict) -> dict:
    """Bundled models are stored in float16 to stay small; train in float32."""
    return {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}


def gan_payload(G: nn.Module, D: nn.Module, *, ema: nn.Module | None = None,
                optimizers: tuple[torch.optim.Optimizer, torch.optim.Optimizer] | None = None,
                **fields) -> dict:
    """The checkpoint dict: `arch`, `generator`, `discriminator`, `ema`, `optim` (when given), `task` and `fields`.

    `task` (engine/tasks.py) is the one given, else the generator's own (a conditional G says so), else
    unconditional: every stage that saves a model keeps what it does without having to know."""
    payload = {"arch": {"generator": G.spec(), "discriminator": D.spec()},
               "task": fields.pop("task", None) or getattr(G, "task", DEFAULT_TASK),
               "generator": model_state(G), "discriminator": model_state(D),
               "ema": model_state(ema) if ema is not None else None}
    if optimizers is not None:
        payload["optim"] = {"g": optimizers[0].state_dict(), "d": optimizers[1].state_dict()}
    payload.update(fields)
    return payload


def save_gan(ws: Workspace, name: str, G: nn.Module, D: nn.Module, **kwargs) -> str:
    """Write checkpoints/<name>.pt atomically (see gan_payload); returns its workspace-relative path."""
    return ws.rel(ws.save_checkpoint(name, gan_payload(G, D, **kwargs)))
