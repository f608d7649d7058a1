"""pairs:DIR — the pix2pix convention: DIR/A holds the inputs, DIR/B the wanted outputs, matched by file name.

Every refusal is one sentence naming the files: a name in one folder only, a file that cannot be read, or a size
that differs from the rest of its folder (all inputs share one size, all outputs another).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from engine.data.folder import EXTENSIONS
from engine.errors import DataError

SHOWN = 3  # file names listed in an error before "and N more"


def _names(files: list[str]) -> str:
    more = f" and {len(files) - SHOWN} more" if len(files) > SHOWN else ""
    return ", ".join(files[:SHOWN]) + more


def _listing(folder: Path) -> dict[str, Path]:
    """Images by name without extension (a.png in A/ pairs with a.jpg in B/)."""
    return {p.stem: p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() in EXTENSIONS}


def _read_all(files: list[Path], side: str, root: Path) -> tuple[np.ndarray, bool]:
    """N x C x H x W uint8 and whether every image was gray; refuses unreadable or mis-sized files by name."""
    from engine.images import UnreadableImage, read_image

    images, gray, bad = [], [], []
    for f in files:
        try:
            pic = read_image(f)
        except UnreadableImage:
            bad.append(f.name)
            continue
        images.append(pic.image)
        gray.append(pic.gray)
    if bad:
        raise DataError(f"Cannot read {_names(bad)} in {root / side}; replace or remove the file(s).")
    size = images[0].size
    wrong = [f"{f.name} ({im.size[0]}x{im.size[1]})" for f, im in zip(files, images) if im.size != size]
    if wrong:
        raise DataError(f"In {root / side} the images must all have one size like {files[0].name} "
                        f"({size[0]}x{size[1]}), but {_names(wrong)} differ; resize them.")
    all_gray = all(gray)
    if all_gray:
        stack = np.stack([np.asarray(im.convert("L")) for im in images])[:, None]
    else:
        stack = np.stack([np.asarray(im.convert("RGB")) for im in images]).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(stack), all_gray


def load(argument: str, cfg):
    """The data-source table's loader (engine/data_sources.py): pairs:DIR (each keeps its own size)."""
    return load_pairs(argument)


def load_pairs(path: str):
    """ImageData whose `images` are B (targets) and `inputs` are A, in file-name order."""
    from engine.data import ImageData

    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"The pairs folder {root} does not exist or is not a folder; give a folder holding A/ "
                        "and B/.")
    missing = [s for s in ("A", "B") if not (root / s).is_dir()]
    if missing:
        raise DataError(f"The pairs folder {root} has no {' or '.join(m + '/' for m in missing)}; put the inputs "
                        "in A/ and the wanted outputs in B/, with the same file names.")
    a, b = _listing(root / "A"), _listing(root / "B")
    only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    if only_a or only_b:
        parts = ([f"A/ has {_names([a[n].name for n in only_a])} with no match in B/"] if only_a else []) + \
                ([f"B/ has {_names([b[n].name for n in only_b])} with no match in A/"] if only_b else [])
        raise DataError(f"Unmatched pairs in {root}: {'; '.join(parts)}; give each input a target of the same name.")
    names = sorted(a)
    if len(names) < 2:
        raise DataError(f"The pairs folder {root} has {len(names)} pair(s); training needs at least 2.")
    inputs, _ = _read_all([a[n] for n in names], "A", root)
    targets, _ = _read_all([b[n] for n in names], "B", root)
    (_, hi, wi), (_, ht, wt) = inputs.shape[1:], targets.shape[1:]
    if ht % hi or wt % wi:
        raise DataError(f"The inputs in {root / 'A'} are {wi}x{hi} and the targets in {root / 'B'} {wt}x{ht}; a "
                        "target's side must be the input's side or a multiple of it.")
    return ImageData(images=torch.from_numpy(targets), labels=None, name=f"pairs:{root.name}",
                     inputs=torch.from_numpy(inputs), names=names)
