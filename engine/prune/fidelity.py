"""How far a pruned generator drifts from its dense teacher: PSNR of their images on the same fixed latents."""

from __future__ import annotations

import math

import torch
import torch.nn as nn


@torch.no_grad()
def teacher_psnr(student: nn.Module, teacher: nn.Module, z: torch.Tensor) -> float:
    """PSNR in dB of student(z) against teacher(z), both in [-1, 1] (peak-to-peak 2); inf when identical."""
    s_was, t_was = student.training, teacher.training
    student.eval()
    teacher.eval()
    try:
        mse = float(((student(z) - teacher(z)) ** 2).mean())
    finally:
        student.train(s_was)
        teacher.train(t_was)
    return math.inf if mse <= 0 else 10 * math.log10(4.0 / mse)


def psnr_for_json(value: float) -> float | None:
    """JSON has no infinity: an identical model is reported as null."""
    return None if math.isinf(value) else round(value, 3)
