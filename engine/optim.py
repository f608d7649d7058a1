"""Optimizers for G and D, built fresh over the parameters a model has now."""

from __future__ import annotations

import torch
import torch.nn as nn

from engine.config import TrainConfig


def make_optimizer(params, cfg: TrainConfig, lr: float | None = None) -> torch.optim.Optimizer:
    lr = cfg.lr if lr is None else lr
    if cfg.optimizer == "sgd":  # the reference's choice
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum)
    return torch.optim.Adam(params, lr=lr, betas=tuple(cfg.betas))


def make_optimizers(G: nn.Module, D: nn.Module, cfg: TrainConfig) -> tuple[torch.optim.Optimizer, ...]:
    """Fresh optimizers over the CURRENT parameters (after structural pruning the old ones point at dead tensors);
    D at its own rate when the config sets one (two time-scale update rule)."""
    return make_optimizer(G.parameters(), cfg), make_optimizer(D.parameters(), cfg, cfg.d_lr)


def apply_hyperparameters(opt: torch.optim.Optimizer, cfg: TrainConfig, lr: float | None = None) -> None:
    """The loaded state carries the old lr/betas; this run's settings win."""
    for group in opt.param_groups:
        group["lr"] = cfg.lr if lr is None else lr
        if "betas" in group:
            group["betas"] = tuple(cfg.betas)
        if "momentum" in group:
            group["momentum"] = cfg.momentum


def optimizer_to(opt: torch.optim.Optimizer, device: torch.device) -> None:
    for state in opt.state.values():
        for k, v in state.items():
            if isinstance(v, torch.Tensor) and k != "step":
                state[k] = v.to(device)
