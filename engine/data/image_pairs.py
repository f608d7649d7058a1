"""The built-in image-to-image tasks: how an input is made from a target image, on the fly, from any image data.

superres: the target downscaled by `scale` (bicubic with antialiasing, rounded to 8-bit like a saved PNG);
inpaint: the target with one random rectangular hole set to mid-gray (0 in [-1, 1]);
sketch: the target's edges (Sobel magnitude above a quarter of the image's strongest edge), white on black;
paired: the inputs come from pairs:DIR/A.

The test set is every 10th image (index 9, 19, ...): never trained on, spread over the data's order (mnist-5k is
sorted by class), the same for every stage and benchmark.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from engine.data import ImageData, to_float, to_uint8
from engine.errors import ConfigError, DataError
from engine.images import make_grid
from engine.tasks import image_tasks

TEST_EVERY = 10
PREVIEW = 8  # rows of input → output → target in a preview


def split(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, test) indices: the test set is every 10th image (the last one when there are fewer than 10)."""
    idx = torch.arange(n)
    test = idx[idx % TEST_EVERY == TEST_EVERY - 1] if n >= TEST_EVERY else idx[-1:]
    train = idx[~torch.isin(idx, test)]
    return train, test


def input_shape(task: str, image_shape: tuple[int, int, int], scale: int = 4,
                paired_inputs: torch.Tensor | None = None) -> tuple[int, int, int]:
    c, h, w = image_shape
    if task == "superres":
        if h % scale or w % scale:
            raise ConfigError(f"superres x{scale} needs an image side divisible by {scale} (got {h}); choose "
                              "--image-size 28 or 32, or --scale 2.")
        return c, h // scale, w // scale
    if task == "inpaint":
        return c, h, w
    if task == "sketch":
        return 1, h, w
    if task == "paired":
        if paired_inputs is None:
            raise DataError("The paired task needs pairs:DIR as its data set (A/ inputs, B/ targets).")
        return tuple(int(v) for v in paired_inputs.shape[1:])  # type: ignore[return-value]
    raise ConfigError(f"{task} is not an image-to-image task; choose one of {', '.join(image_tasks())}.")


def _as_8bit(x: torch.Tensor) -> torch.Tensor:
    """Round to the 256 levels a PNG holds, so training sees exactly what a saved input gives the sampler."""
    return to_float(to_uint8(x))


def downscale(x: torch.Tensor, scale: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    small = F.interpolate(x, size=(h // scale, w // scale), mode="bicubic", antialias=True, align_corners=False)
    return _as_8bit(small)


def punch_holes(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """One rectangle per image, each side a quarter to a half of the image's, filled with 0 (mid-gray)."""
    n, _, h, w = x.shape
    out = x.clone()
    lo_h, lo_w = max(1, h // 4), max(1, w // 4)
    hh = torch.randint(lo_h, max(lo_h, h // 2) + 1, (n,), generator=gen)
    ww = torch.randint(lo_w, max(lo_w, w // 2) + 1, (n,), generator=gen)
    top = (torch.rand(n, generator=gen) * (h - hh + 1)).long()
    left = (torch.rand(n, generator=gen) * (w - ww + 1)).long()
    for i in range(n):
        out[i, :, top[i]:top[i] + hh[i], left[i]:left[i] + ww[i]] = 0.0
    return out


def edges(x: torch.Tensor) -> torch.Tensor:
    """White (1) edges on black (-1), one channel."""
    gray = x.mean(1, keepdim=True) if x.shape[1] == 3 else x
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], device=x.device).view(1, 1, 3, 3)
    padded = F.pad(gray, (1, 1, 1, 1), mode="replicate")
    gx, gy = F.conv2d(padded, kx), F.conv2d(padded, kx.transpose(2, 3))
    mag = (gx * gx + gy * gy).sqrt()
    strongest = mag.flatten(1).amax(1).clamp_min(1e-6).view(-1, 1, 1, 1)
    return torch.where(mag > 0.25 * strongest, 1.0, -1.0)


RANDOM_INPUTS = ("inpaint",)  # tasks whose inputs draw from the generator (one hole per row, drawn for all rows)


def make_inputs(task: str, targets: torch.Tensor, gen: torch.Generator, scale: int = 4) -> torch.Tensor:
    """Inputs for a batch of targets in [-1, 1] (not for paired, whose inputs are read from A/)."""
    if task == "superres":
        return downscale(targets, scale)
    if task == "inpaint":
        return punch_holes(targets, gen)
    if task == "sketch":
        return edges(targets)
    raise ConfigError(f"The {task} task takes its inputs from the data set, not from the targets.")


class PairSource:
    """Batches of (input, target) floats from one data set, for one task; train and test images kept apart."""

    has_targets = True  # each input has its wanted output (engine.data.unpaired.UnpairedSource has none)

    def __init__(self, data: ImageData, task: str, scale: int = 4) -> None:
        self.data, self.task, self.scale = data, task, scale
        self.image_shape = tuple(int(v) for v in data.images.shape[1:])
        self.input_shape = input_shape(task, self.image_shape, scale, data.inputs)
        self.train_idx, self.test_idx = split(len(data))

    def batch(self, idx: torch.Tensor, gen: torch.Generator, shard=None) -> tuple[torch.Tensor, torch.Tensor]:
        """The pairs of rows `idx`. With `shard` (several processes, engine.distributed): this process's
        contiguous share of that global batch, its inputs exactly those one process would make, and `gen` left
        where one process leaves it (so a checkpoint resumes on any number of processes)."""
        if shard is not None:
            if self.task in RANDOM_INPUTS and self.data.inputs is None:
                return tuple(shard(t) for t in self.batch(idx, gen))  # type: ignore[return-value]
            return self.batch(shard(idx), gen)
        targets = to_float(self.data.images[idx])
        if self.data.inputs is not None:
            return to_float(self.data.inputs[idx]), targets
        return make_inputs(self.task, targets, gen, self.scale), targets

    def fixed(self, which: str, n: int | None = None, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """The same pairs every time: the first n test (or train) images, their inputs made with `seed`."""
        idx = self.test_idx if which == "test" else self.train_idx
        idx = idx[:n] if n else idx
        return self.batch(idx, torch.Generator().manual_seed(10_007 + seed))


def triplets(inputs: torch.Tensor, outputs: torch.Tensor, targets: torch.Tensor, rows: int = 8) -> np.ndarray:
    """One uint8 grid: a row per example, input (resized to the output's size) → output → target."""
    from engine.models.unet import resize_to

    n = min(rows, len(outputs))
    side = outputs.shape[-2:]
    shown = resize_to(inputs[:n], side) if tuple(inputs.shape[-2:]) != tuple(side) else inputs[:n]
    if shown.shape[1] != outputs.shape[1]:
        shown = shown.expand(-1, outputs.shape[1], -1, -1) if shown.shape[1] == 1 else shown.mean(1, keepdim=True)
    cells = torch.stack([shown, outputs[:n], targets[:n]], 1).flatten(0, 1)
    return make_grid(to_uint8(cells).cpu().numpy(), nrow=3)


@torch.no_grad()
def preview(G: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> np.ndarray:
    """G's triplet grid on fixed pairs, in eval mode."""
    was = G.training
    G.eval()
    try:
        return triplets(inputs, G(inputs), targets, rows=PREVIEW)
    finally:
        G.train(was)
