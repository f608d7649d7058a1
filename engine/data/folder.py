"""A folder of images (flat, or one subfolder per class) read once, resized and stacked into memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from engine.errors import DataError

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}


def _list_images(root: Path) -> tuple[list[Path], list[int], list[str]]:
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    flat = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in EXTENSIONS)
    if subdirs and not flat:
        files, labels, classes = [], [], []
        for d in subdirs:
            imgs = sorted(p for p in d.rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS)
            if imgs:
                labels += [len(classes)] * len(imgs)
                files += imgs
                classes.append(d.name)
        return files, labels, classes
    return flat, [], []


def load_folder(path: str, image_size: int = 28, color: str = "auto"):
    from PIL import Image, UnidentifiedImageError

    from engine.data import ImageData

    root = Path(path).expanduser()
    if not root.exists():
        raise DataError(f"The image folder {root} does not exist; choose a folder of png/jpg/bmp/webp images.")
    if not root.is_dir():
        raise DataError(f"{root} is a file, not a folder; choose a folder of images.")
    files, labels, classes = _list_images(root)
    if not files:
        raise DataError(f"The folder {root} has no png/jpg/bmp/webp images; add some or choose another folder.")
    arrays, kept_labels, gray_flags, bad = [], [], [], 0
    for i, f in enumerate(files):
        try:
            with Image.open(f) as im:
                im.load()
                gray_flags.append(im.mode in ("1", "L", "LA", "I", "I;16", "F"))
                arrays.append(im.convert("RGB").resize((image_size, image_size), Image.BICUBIC))
                if labels:
                    kept_labels.append(labels[i])
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
            bad += 1
    if not arrays:
        raise DataError(f"None of the {len(files)} images in {root} could be read; check the files.")
    mode = color if color != "auto" else ("gray" if all(gray_flags) else "rgb")
    if mode == "gray":
        stack = np.stack([np.asarray(a.convert("L")) for a in arrays])[:, None]
    else:
        stack = np.stack([np.asarray(a) for a in arrays]).transpose(0, 3, 1, 2)
    warnings = [f"Skipped {bad} unreadable file(s) of {len(files)} in {root}."] if bad else []
    return ImageData(images=torch.from_numpy(np.ascontiguousarray(stack)),
                     labels=torch.tensor(kept_labels, dtype=torch.int64) if kept_labels else None,
                     name=f"folder:{root.name}", classes=classes, warnings=warnings)
