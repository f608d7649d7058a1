"""Run an exported image-to-image generator (superres, inpaint, sketch, paired) with numpy + onnxruntime + pillow
only: read images exactly as training reads them (engine.images.read_image), fit them to the model's input (with a
note, never silently), run at any batch size the model was exported with, write outputs or a before/after grid.
Torch-free, like engine.ondevice (the sampler app ships both).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import numpy as np

from engine.images import make_grid
from engine.ondevice import OnDeviceError, fixed_batch, open_session, run_in_batches

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
FLOAT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64}
# Integer inputs take pixels 0..255 (what a model with a uint8 input means); int8 cannot hold them.
PIXEL_TYPES = {"tensor(uint8)": np.uint8, "tensor(uint16)": np.uint16, "tensor(int16)": np.int16,
               "tensor(int32)": np.int32, "tensor(int64)": np.int64}


def takes_image(session) -> bool:
    inputs = session.get_inputs()
    return len(inputs) == 1 and len(inputs[0].shape) == 4


class ImageModel:
    """An ONNX image-to-image generator: image [batch, C, h, w] in [-1, 1] (or 0..255 pixels for an integer input)
    → image [batch, 1 or 3, H, W]. One run at construction proves it makes an image, before anything is written."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None, session=None) -> None:
        self.path = Path(path)
        self.session = session or open_session(self.path, threads)
        if not takes_image(self.session):
            raise OnDeviceError(f"The model {self.path.name} does not take an image in; sample it without --input.")
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        inp, out = self.session.get_inputs()[0], self.session.get_outputs()[0]
        self.input_name, self.output_name = inp.name, out.name
        self.task = self.metadata.get("gan.task", "paired")
        self.notes: list[str] = []
        self.input_dtype = self._input_dtype(inp.type)
        self.batch = fixed_batch(inp.shape)
        self.input_shape = self._input_shape(inp.shape)
        self._check_makes_images(out)

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

    def _input_dtype(self, onnx_type: str):
        dtype = FLOAT_TYPES.get(onnx_type) or PIXEL_TYPES.get(onnx_type)
        if dtype is None:
            raise OnDeviceError(f"The model {self.path.name} takes images of type {onnx_type}, which gan-sample "
                                "cannot fill with pixels; export it with a float (or uint8) image input.")
        return dtype

    def _not_an_image_generator(self, what: str) -> OnDeviceError:
        return OnDeviceError(f"The model {self.path.name} is not an image generator: an image in gives {what} "
                             "(a classifier's scores, perhaps), not an image [batch, 1 or 3, height, width]; "
                             "gan-sample runs generators exported by gan-prune export.")

    def _check_makes_images(self, out) -> None:
        """A declared output that is not 4-D, or one blank image that does not come back as a finite image of 1 or 3
        channels, is refused here: never after outputs were written."""
        if out.shape and len(out.shape) != 4:
            raise self._not_an_image_generator(f"{out.type} {out.shape}")
        try:
            y = self._raw(np.zeros((1, *self.input_shape), np.float32))
        except Exception as e:  # ORT's own error types for a graph that cannot take this image
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise OnDeviceError(f"The model {self.path.name} does not run on an image of "
                                f"{'x'.join(map(str, self.input_shape))} ({first[:100]}); check gan.input_shape or "
                                "export it again.") from None
        if y.ndim != 4 or y.shape[1] not in (1, 3):
            raise self._not_an_image_generator(f"an output of shape {list(y.shape)}")
        self.integer_output = np.issubdtype(y.dtype, np.integer)

    # ---- inputs --------------------------------------------------------------------------------------------------
    def fit(self, path: Path) -> np.ndarray:
        """One image file as the model's input, C x h x w float32 in [-1, 1], read as training reads it; a change
        of size or channels is recorded in `notes`. For inpainting, transparent pixels become the holes (mid-gray)."""
        from PIL import Image

        from engine.images import UnreadableImage, read_image

        c, h, w = self.input_shape
        try:
            pic = read_image(path)
        except UnreadableImage:
            raise OnDeviceError(f"Cannot read the input image {path}; give a png, jpg, bmp or webp file.") from None
        img, holes = pic.image.convert("L" if c == 1 else "RGB"), pic.holes
        if pic.gray != (c == 1):
            self.notes.append(f"{path.name} is {'gray' if pic.gray else 'RGB'}; converted to "
                              f"{'gray' if c == 1 else 'RGB'} for the model")
        if img.size != (w, h):
            self.notes.append(f"{path.name} is {img.size[0]}x{img.size[1]}; resized to {w}x{h}, the model's input")
            img = img.resize((w, h), Image.BICUBIC)
            if holes is not None:
                holes = np.asarray(Image.fromarray(holes.astype(np.uint8) * 255).resize((w, h))) >= 128
        a = np.asarray(img, np.float32)
        a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
        x = a / 127.5 - 1.0
        if self.task == "inpaint" and holes is not None:
            x[:, holes] = 0.0
        return x

    def feed(self, x: np.ndarray) -> np.ndarray:
        """Inputs in [-1, 1] as the model's input type: floats as they are, integers as pixels 0..255."""
        if self.input_dtype in PIXEL_TYPES.values():
            return np.round((np.clip(x, -1, 1) + 1) * 127.5).astype(self.input_dtype)
        return x.astype(self.input_dtype)

    def _raw(self, x: np.ndarray) -> np.ndarray:
        return run_in_batches(lambda xs: self.session.run([self.output_name], {self.input_name: self.feed(xs[0])})[0],
                              [x], self.batch)

    def run(self, x: np.ndarray, chunk: int = 64) -> np.ndarray:
        """uint8 N x H x W x C outputs for N x C x h x w inputs in [-1, 1]."""
        y = np.concatenate([self._raw(x[i:i + chunk]) for i in range(0, len(x), chunk)])
        if y.ndim != 4 or not np.isfinite(y).all():
            raise OnDeviceError(f"The model {self.path.name} made a wrong or non-finite output {list(y.shape)}; "
                                "export it again.")
        if self.integer_output:  # an integer image is pixels already
            return np.clip(y, 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
        return np.round((np.clip(y, -1, 1) + 1) * 127.5).astype(np.uint8).transpose(0, 2, 3, 1)

    def bench_feeds(self, batches) -> dict[int, dict]:
        """One blank input per batch size, as engine.ondevice.threads.pick_threads times them."""
        return {b: {self.input_name: self.feed(np.zeros((b, *self.input_shape), np.float32))} for b in batches}

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


def output_names(files: list[Path]) -> tuple[list[str], str | None]:
    """One PNG name per input that no other output shares, even on a disk blind to case: NAME.png, or, for inputs
    whose names differ only by extension or case (a.png, a.jpg), NAME_EXT.png (a_png.png, a_jpg.png), numbered
    when even that is taken. Returns (names, a note naming the renamed ones, or None)."""
    count = Counter(f.stem.casefold() for f in files)
    names = {i: f"{f.stem}.png" for i, f in enumerate(files) if count[f.stem.casefold()] == 1}
    used = {n.casefold() for n in names.values()}
    renamed = []
    for i, f in enumerate(files):
        if i in names:
            continue
        base = f"{f.stem}_{f.suffix[1:].lower()}"
        name, k = f"{base}.png", 2
        while name.casefold() in used:
            name, k = f"{base}-{k}.png", k + 1
        names[i] = name
        used.add(name.casefold())
        renamed.append(f"{f.name} → {name}")
    note = None
    if renamed:
        more = f" (and {len(renamed) - 3} more)" if len(renamed) > 3 else ""
        note = f"inputs that share a name keep apart: {', '.join(renamed[:3])}{more}"
    return [names[i] for i in range(len(files))], note


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
