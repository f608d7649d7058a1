"""Where a stage runs: the torch device for the user's choice and the mixed-precision type it supports."""

from __future__ import annotations

import torch

from engine.errors import ConfigError


def pick_device(requested: str) -> tuple[torch.device, str | None]:
    """The torch device for 'auto' | 'cpu' | 'cuda', and a note when auto fell back to the CPU."""
    if requested == "cpu":
        return torch.device("cpu"), None
    has_cuda = torch.cuda.is_available()
    if requested == "cuda":
        if not has_cuda:
            raise ConfigError("--device cuda was asked for but no CUDA GPU is available; use --device cpu or auto.")
        return torch.device("cuda"), None
    if has_cuda:
        return torch.device("cuda"), None
    return torch.device("cpu"), "No CUDA GPU found; training on the CPU."


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"


def amp_dtype(device: torch.device, amp: bool) -> torch.dtype | None:
    """bfloat16 where the GPU has it (no loss scaling needed), else float16; None on the CPU or with amp off."""
    if device.type != "cuda" or not amp:
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
