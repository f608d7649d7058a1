"""Pruning of G and D: weights (torch.nn.utils.prune), channels (torch-pruning DepGraph), residual blocks;
one-shot, iterative and lottery schedules; sensitivity scans. `run_prune` is the stage."""

from engine.prune.config import METHODS, PruneConfig
from engine.prune.stage import run_prune

__all__ = ["METHODS", "PruneConfig", "run_prune"]
