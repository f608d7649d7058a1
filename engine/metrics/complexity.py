"""Params, nonzero params, MACs (ConvTranspose counted by its input positions) and bytes, per layer and total."""

from __future__ import annotations

import io
import zipfile
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

from engine.models.contract import MakesOwnInput, TakesLatents

COUNTED = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d)


@dataclass
class LayerStats:
    name: str
    type: str
    shape: str  # weight shape, e.g. "256x100" or "100x256x7x7"
    width: int  # output features/channels: what structural pruning shrinks
    params: int
    nonzero: int
    macs: int  # per sample

    def as_dict(self) -> dict:
        return asdict(self)


def _macs(m: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int:
    if isinstance(m, nn.Linear):
        return m.in_features * m.out_features * (out.numel() // out.shape[-1]) // out.shape[0]
    if isinstance(m, nn.Conv2d):
        kh, kw = m.kernel_size
        return out.shape[1] * out.shape[2] * out.shape[3] * (m.in_channels // m.groups) * kh * kw
    if isinstance(m, nn.ConvTranspose2d):
        # Every input position scatters a Cout x kh x kw patch: MACs follow the input, not the output.
        kh, kw = m.kernel_size
        return inp.shape[1] * inp.shape[2] * inp.shape[3] * (m.out_channels // m.groups) * kh * kw
    return 0  # BatchNorm folds into the conv before export


def _width(m: nn.Module) -> int:
    for attr in ("out_features", "out_channels", "num_features"):
        if hasattr(m, attr):
            return int(getattr(m, attr))
    return 0


def example_input(model: nn.Module, batch: int = 1) -> torch.Tensor:
    """A valid input: latents for a generator, images for a discriminator (a model may say for itself)."""
    if isinstance(model, MakesOwnInput):  # image-to-image models: an image in, (input, output) pairs for D
        return model.example_input(batch)
    device = next(model.parameters()).device
    if isinstance(model, TakesLatents):
        return torch.zeros(batch, model.latent_dim, device=device)
    return torch.zeros(batch, *model.image_shape, device=device)


def layer_table(model: nn.Module, x: torch.Tensor | None = None) -> list[LayerStats]:
    """One row per Linear/Conv/ConvTranspose/BatchNorm layer in forward order, MACs per sample."""
    x = example_input(model) if x is None else x
    rows: dict[str, LayerStats] = {}
    names = {m: n for n, m in model.named_modules()}
    hooks = []

    def hook(m, inputs, out):
        n = names[m]
        w = getattr(m, "weight", None)
        params = sum(p.numel() for p in m.parameters(recurse=False))
        nonzero = sum(int((p != 0).sum()) for p in m.parameters(recurse=False))
        rows[n] = LayerStats(n, type(m).__name__, "x".join(map(str, w.shape)) if w is not None else "",
                             _width(m), params, nonzero, int(_macs(m, inputs[0], out)))

    for m in model.modules():
        if isinstance(m, COUNTED):
            hooks.append(m.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return list(rows.values())


def state_dict_bytes(model: nn.Module) -> tuple[int, int]:
    """(raw, zip-compressed) bytes of the saved fp32 weights; zeros from weight pruning show in the second."""
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    raw = buf.getvalue()
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("weights", raw)
    return len(raw), len(zbuf.getvalue())


def summarize(model: nn.Module) -> dict:
    """Totals of one network: params, nonzero params, MACs per sample, file bytes raw and compressed."""
    rows = layer_table(model)
    params = sum(p.numel() for p in model.parameters())
    nonzero = sum(int((p != 0).sum()) for p in model.parameters())
    raw, compressed = state_dict_bytes(model)
    return {"params": params, "nonzero_params": nonzero, "macs": sum(r.macs for r in rows),
            "file_bytes": raw, "file_bytes_compressed": compressed}
