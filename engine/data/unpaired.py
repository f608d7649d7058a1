"""Two unpaired image sets for the unpaired task (CycleGAN): unpaired:DIR (DIR/A and DIR/B, any names and counts)
and the bundled horse2zebra-28 (resources/datasets/NOTICE). The B set is the data's `images`, the A set its
`a_images`; both end at one shape (B's, or --image-size), since each generator turns one into the other."""

from __future__ import annotations

from pathlib import Path

import torch

from engine.errors import DataError

HORSE2ZEBRA = "datasets/horse2zebra-28.npz"


def load(argument: str, cfg):
    """The data-source table's loader (engine/data_sources.py): the bundled set by name, or unpaired:DIR."""
    if argument == "horse2zebra-28":
        return load_bundled()
    return load_folders(argument)


def load_bundled():
    from engine.data import ImageData
    from engine.data.bundled import bundled_arrays

    a, b = bundled_arrays(HORSE2ZEBRA, "a", "b")
    return ImageData(images=torch.from_numpy(b).unsqueeze(1).contiguous(), labels=None, name="horse2zebra-28",
                     a_images=torch.from_numpy(a).unsqueeze(1).contiguous())


def load_folders(path: str):
    from engine.data import ImageData
    from engine.data.pairs import _listing, _read_all

    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"The unpaired folder {root} does not exist or is not a folder; give a folder holding A/ "
                        "and B/.")
    missing = [s for s in ("A", "B") if not (root / s).is_dir()]
    if missing:
        raise DataError(f"The unpaired folder {root} has no {' or '.join(m + '/' for m in missing)}; put the images "
                        "to translate in A/ and images of the wanted style in B/.")
    sets, gray = {}, {}
    for side in ("A", "B"):
        files = list(_listing(root / side).values())
        if len(files) < 2:
            raise DataError(f"{root / side} has {len(files)} PNG/JPEG image(s); each set needs at least 2.")
        images, all_gray = _read_all(files, side, root)
        sets[side], gray[side] = torch.from_numpy(images), all_gray
    a, b = sets["A"], sets["B"]
    warnings = []
    if a.shape[1] != b.shape[1]:  # one gray set, one colour set: both in colour
        a, b = (t.expand(-1, 3, -1, -1).contiguous() if t.shape[1] == 1 else t for t in (a, b))
    if a.shape[2:] != b.shape[2:]:
        warnings.append(f"A/ images are {a.shape[3]}x{a.shape[2]} and B/ images {b.shape[3]}x{b.shape[2]}; A/ is "
                        "resized to B/'s size.")
        a = resize_uint8(a, tuple(b.shape[2:]))
    return ImageData(images=b, labels=None, name=f"unpaired:{root.name}", a_images=a, warnings=warnings)


def resize_uint8(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    x = torch.nn.functional.interpolate(images.float(), size=size, mode="bilinear", antialias=True,
                                        align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8)


class UnpairedSource:
    """Batches of (A image, B image) floats for the unpaired task, with PairSource's members so every image stage
    reads it alike: the A image is the input, and the B image beside it is any real B (drawn from B's own training
    split), never its ground truth: `has_targets` is False. Each set keeps every 10th image as its test split."""

    has_targets = False

    def __init__(self, data, task: str = "unpaired", scale: int = 4) -> None:
        from engine.data.image_pairs import split

        if data.a_images is None:
            raise DataError(f"The unpaired task needs two image sets (unpaired:DIR or horse2zebra-28); "
                            f"{data.name} has one.")
        self.data, self.task, self.scale = data, task, scale
        self.image_shape = tuple(int(v) for v in data.images.shape[1:])
        self.input_shape = tuple(int(v) for v in data.a_images.shape[1:])
        self.train_idx, self.test_idx = split(len(data.a_images))  # A: the inputs every stage iterates over
        self.b_train_idx, self.b_test_idx = split(len(data.images))

    def batch(self, idx: torch.Tensor, gen: torch.Generator, shard=None) -> tuple[torch.Tensor, torch.Tensor]:
        """A's rows `idx` and as many B training images drawn with `gen` (the whole batch's draw on every process,
        then this process's share: a checkpoint resumes on any number of processes)."""
        from engine.data import to_float

        pick = self.b_train_idx[torch.randint(len(self.b_train_idx), (len(idx),), generator=gen)]
        a, b = to_float(self.data.a_images[idx]), to_float(self.data.images[pick])
        return (shard(a), shard(b)) if shard is not None else (a, b)

    def fixed(self, which: str, n: int | None = None, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """The first n test (or train) A images, and B images of that split beside them (repeated when B has
        fewer); `seed` is unused (nothing is drawn) and kept for PairSource's signature."""
        a = self.images("A", which, n)
        b_idx = self.b_test_idx if which == "test" else self.b_train_idx
        b_idx = b_idx.repeat((len(a) + len(b_idx) - 1) // len(b_idx))[: len(a)]
        from engine.data import to_float

        return a, to_float(self.data.images[b_idx])

    def images(self, side: str, which: str, n: int | None = None) -> torch.Tensor:
        """One set's split as floats: side "A" or "B", which "train" or "test", the first n."""
        from engine.data import to_float

        if side == "A":
            idx, source = (self.test_idx if which == "test" else self.train_idx), self.data.a_images
        else:
            idx, source = (self.b_test_idx if which == "test" else self.b_train_idx), self.data.images
        return to_float(source[idx[:n] if n else idx])
