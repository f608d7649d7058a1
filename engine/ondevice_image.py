"""Run an exported image-to-image generator (superres, inpaint, sketch, paired) with numpy + onnxruntime + pillow
only: read images, fit them to the model's input (with a note, never silently), run, write outputs or a
before/after grid. Torch-free, like engine.ondevice (the sampler app ships both).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from engine.images import make_grid
from engine.ondevice import OnDeviceError, open_session  # noqa: F401  (callers open a session here too)

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def takes_image(session) -> bool:
    inputs = session.get_inputs()
    return len(inputs) == 1 and len(inputs[0].shape) == 4


class ImageModel:
    """An ONNX image-to-image generator: image [batch, C, h, w] in [-1, 1] → image [batch, C, H, W]."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None, session=None) -> None:
        self.path = Path(path)
        self.session = session or open_session(self.path, threads)
        if not takes_image(self.session):
            raise OnDeviceError(f"The model {self.path.name} does not take an image in; sample it without --input.")
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name
        self.task = self.metadata.get("gan.task", "paired")
        self.input_shape = self._input_shape(self.session.get_inputs()[0].shape)
        self.notes: list[str] = []

    def _input_shape(self, graph_shape) -> tuple[int, int, int]:
        text = self.metadata.get("gan.input_shape")
        static = [v if isinstance(v, int) and v > 0 else None for v in graph_shape[1:]]
        try:
            shape = json.loads(text) if text else static
            ok = isinstance(shape, list) and len(shape) == 3 and all(isinstance(v, int) and v > 0 for v in shape)
        except ValueError:
            ok = False
        if not ok:
            raise OnDeviceError(f"The model {self.path.name} has a wrong gan.input_shape ({text!r} is not a list "
                                "[channels, height, width]); export it again with gan-prune export.")
        if any(s is not None and s != v for s, v in zip(static, shape)):
            raise OnDeviceError(f"The model {self.path.name} has a wrong gan.input_shape ({shape}, but its input "
                                f"takes {graph_shape[1:]}); export it again with gan-prune export.")
        return tuple(shape)  # type: ignore[return-value]

    # ---- inputs --------------------------------------------------------------------------------------------------
    def fit(self, path: Path) -> np.ndarray:
        """One image file as the model's input, C x h x w float32 in [-1, 1]; a change of size or channels is
        recorded in `notes`. For inpainting, transparent pixels become the holes (mid-gray)."""
        from PIL import Image, UnidentifiedImageError

        c, h, w = self.input_shape
        try:
            with Image.open(path) as im:
                im.load()
                alpha = np.asarray(im.getchannel("A")) < 128 if "A" in im.getbands() else None
                was = "gray" if im.mode in ("1", "L", "LA", "I", "I;16", "F") else "RGB"
                img = im.convert("L" if c == 1 else "RGB")
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
            raise OnDeviceError(f"Cannot read the input image {path}; give a png, jpg, bmp or webp file.") from None
        if (was == "gray") != (c == 1):
            self.notes.append(f"{path.name} is {was}; converted to {'gray' if c == 1 else 'RGB'} for the model")
        if img.size != (w, h):
            self.notes.append(f"{path.name} is {img.size[0]}x{img.size[1]}; resized to {w}x{h}, the model's input")
            img = img.resize((w, h), Image.BICUBIC)
            if alpha is not None:
                alpha = np.asarray(Image.fromarray(alpha.astype(np.uint8) * 255).resize((w, h))) >= 128
        a = np.asarray(img, np.float32)
        a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
        x = a / 127.5 - 1.0
        if self.task == "inpaint" and alpha is not None:
            x[:, alpha] = 0.0
        return x

    def run(self, x: np.ndarray, chunk: int = 64) -> np.ndarray:
        """uint8 N x H x W x C outputs for N x C x h x w inputs in [-1, 1]."""
        outs = [self.session.run([self.output_name], {self.input_name: x[i:i + chunk].astype(np.float32)})[0]
                for i in range(0, len(x), chunk)]
        y = np.concatenate(outs)
        if y.ndim != 4 or not np.isfinite(y).all():
            raise OnDeviceError(f"The model {self.path.name} made a wrong or non-finite output {list(y.shape)}; "
                                "export it again.")
        return np.round((np.clip(y, -1, 1) + 1) * 127.5).astype(np.uint8).transpose(0, 2, 3, 1)

    def note(self) -> str | None:
        """One line for every input that was changed to fit (first two named, then a count)."""
        if not self.notes:
            return None
        more = f" (and {len(self.notes) - 2} more)" if len(self.notes) > 2 else ""
        return "; ".join(self.notes[:2]) + more + "."


def list_inputs(path: str | os.PathLike) -> list[Path]:
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in EXTENSIONS)
        if not files:
            raise OnDeviceError(f"The input folder {p} has no png/jpg/bmp/webp images; add some or choose another.")
        return files
    if not p.is_file():
        raise OnDeviceError(f"The input {p} does not exist; give an image file or a folder of images.")
    return [p]


def before_after(inputs: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """A grid with one row per image: the input (scaled to the output's size) and the output."""
    from PIL import Image

    n, h, w, c = outputs.shape
    shown = []
    for x in inputs:
        a = np.round((np.clip(x, -1, 1) + 1) * 127.5).astype(np.uint8)
        img = Image.fromarray(a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0))
        img = img.resize((w, h), Image.NEAREST).convert("L" if c == 1 else "RGB")
        arr = np.asarray(img)
        shown.append(arr[..., None] if arr.ndim == 2 else arr)
    cells = np.stack([v for pair in zip(shown, outputs) for v in pair])
    return make_grid(cells, nrow=2)
