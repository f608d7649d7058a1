"""Pruning of G and D: weights (torch.nn.utils.prune), channels (torch-pruning DepGraph), residual blocks;
one-shot, iterative and lottery schedules; sensitivity scans. The methods a user picks are in methods.py (a table
that loads no torch, so the studio can list them); `run_prune` is the stage."""

__all__ = ["METHODS", "PruneConfig", "run_prune"]


def __getattr__(name: str):
    # Loaded on first use: the package itself imports nothing heavy (the studio reads engine.prune.methods before
    # torch loads), and the stage imports helpers that the distillation code it imports also imports (no cycle).
    if name == "run_prune":
        from engine.prune.stage import run_prune

        return run_prune
    if name in ("METHODS", "PruneConfig"):
        from engine.prune import config

        return getattr(config, name)
    raise AttributeError(name)
