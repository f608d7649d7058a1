"""Pruning of G and D: weights (torch.nn.utils.prune), channels (torch-pruning DepGraph), residual blocks;
one-shot, iterative and lottery schedules; sensitivity scans. `run_prune` is the stage."""

from engine.prune.config import METHODS, PruneConfig

__all__ = ["METHODS", "PruneConfig", "run_prune"]


def __getattr__(name: str):
    # The stage loads on first use: helpers (engine.prune.layers, ...) are imported by the distillation code that the
    # stage itself imports, and an eager import here would make that a cycle.
    if name == "run_prune":
        from engine.prune.stage import run_prune

        return run_prune
    raise AttributeError(name)
