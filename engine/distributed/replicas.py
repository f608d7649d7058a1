"""G and D wrapped in DistributedDataParallel for the shared GAN step.

Measured choice (tests/engine/test_distributed.py): two separate DDP wrappers with find_unused_parameters=False.
The D step calls D through its wrapper (so D's gradients are averaged); the G step calls the plain D with its
weights frozen, so no D gradient exists and D's reducer has nothing to wait for, and G's wrapper averages G's.
DDP only hooks forward(), and the loops call D.logits(): `LogitsOf` makes logits the forward DDP sees.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel

from engine.distributed.batchnorm import sync_batchnorm
from engine.distributed.context import Context


class LogitsOf(nn.Module):
    def __init__(self, D: nn.Module) -> None:
        super().__init__()
        self.D = D

    def forward(self, x: torch.Tensor, *labels: torch.Tensor) -> torch.Tensor:
        return self.D.logits(x, *labels)  # a conditional D also takes the class labels


@dataclass
class Replicas:
    """What the GAN step calls to generate and to judge; on one process simply G and D.logits."""

    generate: Callable[[torch.Tensor], torch.Tensor]
    judge: Callable[[torch.Tensor], torch.Tensor]
    distributed: bool = False

    def average_gradients(self, params: Iterable[nn.Parameter]) -> None:
        """Average the gradients of parameters outside G and D (distillation adapters) over the processes."""
        grads = [p.grad for p in params if p.grad is not None]
        if not self.distributed or not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= dist.get_world_size()
        offset = 0
        for g in grads:
            g.copy_(flat[offset:offset + g.numel()].view_as(g))
            offset += g.numel()


def replicate(G: nn.Module, D: nn.Module, ctx: Context, device: torch.device) -> Replicas:
    """On several processes: BatchNorm over the global batch, then G and D.logits in DDP (weights from rank 0)."""
    if not ctx.distributed:
        return Replicas(G, D.logits)
    sync_batchnorm(G)
    sync_batchnorm(D)
    ids = [device.index] if device.type == "cuda" else None
    # Statistics are already global (SyncedBatchNorm), so buffers need no broadcast at every forward.
    g = DistributedDataParallel(G, device_ids=ids, forward_sync_buffers=False)
    d = DistributedDataParallel(LogitsOf(D), device_ids=ids, forward_sync_buffers=False)
    return Replicas(g, d, distributed=True)
