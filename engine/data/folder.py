"""A folder of images (flat, or one subfolder per class) read once, resized and stacked into memory."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import torch

from engine.errors import DataError

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}


def _list_images(root: Path) -> tuple[list[Path], list[int], list[str], list[str]]:
    """(files, their class numbers, class names, class folders left out for holding no image file)."""
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    flat = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in EXTENSIONS)
    if subdirs and not flat:
        files, labels, classes, empty = [], [], [], []
        for d in subdirs:
            imgs = sorted(p for p in d.rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS)
            if imgs:
                labels += [len(classes)] * len(imgs)
                files += imgs
                classes.append(d.name)
            else:
                empty.append(d.name)
        return files, labels, classes, empty
    return flat, [], [], []


def _drop_unread_classes(labels: list[int], classes: list[str]) -> tuple[list[int], list[str], list[str]]:
    """A class folder none of whose pictures could be read is no class, just like an empty folder: without this a
    conditional model would learn a class it never saw. Returns (renumbered labels, kept classes, dropped)."""
    seen = set(labels)
    kept = [i for i in range(len(classes)) if i in seen]
    new = {old: i for i, old in enumerate(kept)}
    return [new[v] for v in labels], [classes[i] for i in kept], [c for i, c in enumerate(classes) if i not in seen]


def _left_out_note(empty: list[str], unread: list[str], kept: int) -> str | None:
    parts = [f"{name} (no image files)" for name in empty] + [f"{name} (no readable pictures)" for name in unread]
    if not parts:
        return None
    return f"Left out class folder(s) {', '.join(parts)}; {kept} class(es) remain."


# Sides the conv models make (4 or 7 doubled, see engine.models.dcgan.size_plan) up to the largest the studio trains
# by default; a folder of pictures at one of these sizes trains at its own size.
DEFAULT_SIDES = (8, 14, 16, 28, 32, 56, 64)


def default_side(sizes: list[tuple[int, int]]) -> tuple[int, str | None]:
    """The side to train a folder at when none was asked for: its most common size when the conv models make it,
    else the nearest size they make, with a note saying so."""
    (w, h), _ = Counter(sizes).most_common(1)[0]
    native = min(w, h)
    side = min(DEFAULT_SIDES, key=lambda s: (abs(s - native), s))
    if side == native and w == h:
        return side, None
    return side, (f"The images are {w}x{h}; training at {side}x{side}, the nearest size the conv models make "
                  "(choose another with --image-size).")


def _read(path: Path, image_size: int | None):
    """(8-bit L or RGB image, whether it was gray, whether it had transparency), resized when a size is given."""
    from PIL import Image

    from engine.images import read_image

    pic = read_image(path)
    img = pic.image
    if image_size and img.size != (image_size, image_size):  # resizing to the same size would still blur
        img = img.resize((image_size, image_size), Image.BICUBIC)
    return img, pic.gray, pic.transparent


def _sizes(files: list[Path]) -> list[tuple[int, int]]:
    """Each readable file's size, from its header only (cheap)."""
    from PIL import Image

    sizes = []
    for f in files:
        try:
            with Image.open(f) as im:
                sizes.append(im.size)
        except Exception:  # as engine.images.read_image: whatever Pillow raises, the file is unreadable
            pass
    return sizes


def _read_all(files: list, labels: list, image_size: int) -> tuple[list, list, list, int, int]:
    """(images, their labels, which were gray, how many were unreadable, how many had transparency)."""
    from engine.images import UnreadableImage

    arrays, kept_labels, gray_flags, bad, transparent = [], [], [], 0, 0
    for i, f in enumerate(files):
        try:
            img, gray, alpha = _read(f, image_size)
        except UnreadableImage:
            bad += 1
            continue
        arrays.append(img)
        gray_flags.append(gray)
        transparent += alpha
        if labels:
            kept_labels.append(labels[i])
    return arrays, kept_labels, gray_flags, bad, transparent


def load(argument: str, cfg):
    """The data-source table's loader (engine/data_sources.py): folder:PATH at the config's size and colour."""
    return load_folder(argument, image_size=cfg.image_size, color=cfg.color)


def load_folder(path: str, image_size: int | None = None, color: str = "auto"):
    """image_size None: the folder's own size when the conv models make it (see default_side)."""
    from engine.data import ImageData

    root = Path(path).expanduser()
    if not root.exists():
        raise DataError(f"The image folder {root} does not exist; choose a folder of png/jpg/bmp/webp images.")
    if not root.is_dir():
        raise DataError(f"{root} is a file, not a folder; choose a folder of images.")
    files, labels, classes, empty = _list_images(root)
    if not files:
        raise DataError(f"The folder {root} has no png/jpg/bmp/webp images; add some or choose another folder.")
    warnings: list[str] = []
    if not image_size:
        sizes = _sizes(files)
        if not sizes:
            raise DataError(f"None of the {len(files)} images in {root} could be read; check the files.")
        image_size, note = default_side(sizes)
        warnings += [note] if note else []
    arrays, kept_labels, gray_flags, bad, transparent = _read_all(files, labels, image_size)
    if not arrays:
        raise DataError(f"None of the {len(files)} images in {root} could be read; check the files.")
    unread: list[str] = []
    if classes:
        kept_labels, classes, unread = _drop_unread_classes(kept_labels, classes)
    mode = color if color != "auto" else ("gray" if all(gray_flags) else "rgb")
    if mode == "gray":
        stack = np.stack([np.asarray(a.convert("L")) for a in arrays])[:, None]
    else:
        stack = np.stack([np.asarray(a.convert("RGB")) for a in arrays]).transpose(0, 3, 1, 2)
    if bad:
        warnings.append(f"Skipped {bad} unreadable file(s) of {len(files)} in {root}.")
    if transparent:
        warnings.append(f"{transparent} image(s) have transparency; transparent parts are black.")
    left_out = _left_out_note(empty, unread, len(classes))
    warnings += [left_out] if left_out else []
    return ImageData(images=torch.from_numpy(np.ascontiguousarray(stack)),
                     labels=torch.tensor(kept_labels, dtype=torch.int64) if kept_labels else None,
                     name=f"folder:{root.name}", classes=classes, warnings=warnings)
