"""BatchNorm over the global batch: every process normalises with the statistics of all processes' rows.

Why not torch.nn.SyncBatchNorm: it refuses CPU tensors (so Gloo runs could not use it), and its backward cannot be
differentiated again, which the R1 penalty (a gradient of D's gradient) needs. This one is plain differentiable
ops around two all-reduces per layer (sum and count, then squared deviations), on any device and backend.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes; its gradient is the same sum of the gradients (itself differentiable)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        out = x.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return _AllReduceSum.apply(grad.contiguous())


def _syncing() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class SyncedBatchNorm(_BatchNorm):
    """In training across processes: the global batch's mean and variance; otherwise ordinary BatchNorm."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {x.dim()}D)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and _syncing()):
            return super().forward(x)
        out_dtype, x = x.dtype, x.float()  # statistics in float32 under autocast too, as BatchNorm keeps them
        c, dims = x.shape[1], [0, *range(2, x.dim())]
        # Two passes (mean, then squared deviations from it) as BatchNorm itself does: E[x^2] - E[x]^2 in float32
        # loses digits where the mean is large against the spread, enough to change a GAN's first steps.
        count = x.new_full((1,), x.numel() / c)
        first = _AllReduceSum.apply(torch.cat([x.sum(dims), count]))
        n = first[-1]
        mean = first[:c] / n
        shape = [1, c] + [1] * (x.dim() - 2)
        centred = x - mean.view(shape)
        var = _AllReduceSum.apply((centred * centred).sum(dims)) / n  # biased, as BatchNorm normalises with
        if self.track_running_stats:
            self._update_running(mean.detach(), var.detach(), float(n.detach()))
        y = centred * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape).float() + self.bias.view(shape).float()
        return y.to(out_dtype)

    @torch.no_grad()
    def _update_running(self, mean: torch.Tensor, var: torch.Tensor, n: float) -> None:
        self.num_batches_tracked += 1
        m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
        self.running_mean.lerp_(mean.to(self.running_mean.dtype), m)
        self.running_var.lerp_((var * n / max(n - 1, 1)).to(self.running_var.dtype), m)  # unbiased, like BN


def sync_batchnorm(module: nn.Module) -> int:
    """Swap every BatchNorm under `module` for a SyncedBatchNorm in place, sharing its parameters and running
    statistics (the optimizer, the EMA and saved checkpoints see the same tensors and names). Returns the count."""
    swapped = 0
    for name, child in module.named_children():
        if isinstance(child, _BatchNorm) and not isinstance(child, SyncedBatchNorm):
            twin = SyncedBatchNorm(child.num_features, child.eps, child.momentum, child.affine,
                                   child.track_running_stats)
            if child.affine:
                twin.weight, twin.bias = child.weight, child.bias
            if child.track_running_stats:
                twin.running_mean, twin.running_var = child.running_mean, child.running_var
                twin.num_batches_tracked = child.num_batches_tracked
            twin.train(child.training)
            setattr(module, name, twin)
            swapped += 1
        else:
            swapped += sync_batchnorm(child)
    return swapped
