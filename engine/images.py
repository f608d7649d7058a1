"""Image grids and PNG files with numpy + Pillow only (the on-device sampler uses this too: no torch here)."""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass

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


# Pillow opens a 16-bit grayscale PNG as "I;16" (or "I"); its convert() to 8 bits clips instead of scaling, so
# every value above 255 becomes white. These modes are scaled here, by their real bit depth.
WIDE_GRAY_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N", "F")
GRAY_MODES = ("1", "L", "LA", "La", *WIDE_GRAY_MODES)


def to_8bit(im) -> tuple[object, bool]:
    """A Pillow image as 8-bit "L" or "RGB", and whether it had transparency (composited over black).

    16-bit and 32-bit gray are scaled to 0..255 (65535 → 255), float images from 0..1; palette images whose colors
    are all gray become "L"; alpha multiplies the color, so a transparent pixel is black like an empty background."""
    from PIL import Image

    mode = im.mode
    if mode in WIDE_GRAY_MODES:
        a = np.asarray(im).astype(np.float64)
        if mode.startswith("I;16") or (mode == "I" and a.size and a.max() > 255):
            a = a / 257.0  # 16-bit: 65535 / 257 = 255 exactly
        elif mode == "F" and a.size and np.nanmax(a) <= 1.0:
            a = a * 255.0
        return Image.fromarray(np.clip(np.round(np.nan_to_num(a)), 0, 255).astype(np.uint8), "L"), False
    has_alpha = mode in ("RGBA", "LA", "La", "RGBa", "PA") or (mode == "P" and "transparency" in im.info)
    if has_alpha:
        rgba = np.asarray(im.convert("RGBA")).astype(np.float64)
        rgb = np.round(rgba[..., :3] * rgba[..., 3:] / 255.0).astype(np.uint8)
        gray = mode in GRAY_MODES or (mode in ("P", "PA") and _all_gray(rgb))
        return (Image.fromarray(rgb[..., 0], "L") if gray else Image.fromarray(rgb, "RGB")), True
    if mode in GRAY_MODES:
        return im.convert("L"), False
    rgb = im.convert("RGB")
    if mode == "P" and _all_gray(np.asarray(rgb)):  # a gray palette is gray data
        return rgb.convert("L"), False
    return rgb, False


def _all_gray(rgb: np.ndarray) -> bool:
    return bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())


class UnreadableImage(Exception):
    """A file with an image extension that Pillow cannot decode (garbage, truncated, a decompression bomb)."""


@dataclass(frozen=True)
class Picture:
    """One picture as training sees it: 8-bit "L" or "RGB", whether it was gray data, whether it had transparency,
    and its transparent pixels (alpha below half) as an H x W bool mask, None when it had no alpha."""

    image: object
    gray: bool
    transparent: bool
    holes: np.ndarray | None


def read_image(path: str | os.PathLike) -> Picture:
    """The one way a picture file is read, by training's folder and pairs loaders and by the on-device sampler
    alike, so a model is never given a picture differently from how it learned (16-bit scaled, palettes, alpha).
    Raises UnreadableImage for anything Pillow cannot decode."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            holes = np.asarray(im.getchannel("A")) < 128 if "A" in im.getbands() else None
            gray = im.mode in GRAY_MODES
            img, transparent = to_8bit(im)
    except Exception as e:  # Pillow raises OSError, ValueError, SyntaxError, DecompressionBombError, ... per format
        raise UnreadableImage(f"{path}: {type(e).__name__}") from None
    return Picture(img, gray or img.mode == "L", bool(transparent), holes)
