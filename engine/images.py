"""Image grids and PNG files with numpy + Pillow only (the on-device sampler uses this too: no torch here)."""

from __future__ import annotations

import io
import math
import os

import numpy as np


def make_grid(images: np.ndarray, nrow: int | None = None, pad: int = 2, pad_value: int = 0) -> np.ndarray:
    """uint8 N x C x H x W (or N x H x W x C when channels_last) → one uint8 H x W x C grid image."""
    if images.ndim != 4:
        raise ValueError(f"expected 4-D images, got shape {images.shape}")
    if images.shape[1] in (1, 3) and images.shape[-1] not in (1, 3):
        images = images.transpose(0, 2, 3, 1)
    n, h, w, c = images.shape
    nrow = nrow or max(1, int(math.ceil(math.sqrt(n))))
    rows = int(math.ceil(n / nrow))
    grid = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad, c), pad_value, dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[y:y + h, x:x + w] = images[i]
    return grid


def png_bytes(image_hwc: np.ndarray) -> bytes:
    from PIL import Image

    arr = image_hwc[..., 0] if image_hwc.shape[-1] == 1 else image_hwc
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).save(buf, format="PNG")
    return buf.getvalue()


def save_png(path: str | os.PathLike, image_hwc: np.ndarray) -> None:
    """Write a PNG atomically (temp file in the same folder, then rename)."""
    import tempfile
    from pathlib import Path

    from engine.errors import cannot_write

    path = Path(path)
    data = png_bytes(image_hwc)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:  # a read-only folder, a full disk: one sentence naming the PNG, not the temp file
        raise (cannot_write(e, path) or e) from None
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a PNG should open like any other file
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        refused = cannot_write(e, path)
        if refused is not None:
            raise refused from None
        raise
