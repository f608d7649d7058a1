"""Run an exported generator with numpy + onnxruntime + pillow only (no torch): sample, grid, interpolate, bench.

This module is what the small sampler app ships; keep its imports to the standard library, numpy, onnxruntime
and pillow, and its errors self-contained (OnDeviceError), so it runs where torch is not installed.
"""

from __future__ import annotations

import os
import re
import statistics
import time
from pathlib import Path

import numpy as np

from engine.images import make_grid
from engine.images import save_png as _save_png


class OnDeviceError(Exception):
    """A model file that is missing, corrupt or not a generator; the message is one sentence for a person."""


def session_classes(session) -> int:
    """The class count of a conditional ONNX generator (its gan.num_classes), 0 for one without a label input."""
    if not any(i.name == "label" for i in session.get_inputs()):
        return 0
    return _whole(session.get_modelmeta().custom_metadata_map.get("gan.num_classes", "")) or 0


def generator_feeds(session, z: np.ndarray, labels: np.ndarray | None = None, num_classes: int = 0) -> dict:
    """The inputs of one run: the latents, and for a conditional model the class of each (default: 0, 1, ...,
    K-1, 0, 1, ... as the torch models use, so every caller that only has latents measures all classes alike)."""
    inputs = session.get_inputs()
    feeds = {inputs[0].name: np.asarray(z, dtype=np.float32)}
    if any(i.name == "label" for i in inputs[1:]):
        k = num_classes or session_classes(session)
        if labels is None and k <= 0:
            raise OnDeviceError("The model takes a class label but has no gan.num_classes metadata; export it again.")
        feeds["label"] = (np.arange(len(z)) % k if labels is None else np.asarray(labels)).astype(np.int64)
    return feeds


def fixed_batch(shape) -> int | None:
    """The batch size an input was exported with (a plain torch.onnx.export fixes it), None when any is taken."""
    b = shape[0] if shape else None
    return b if isinstance(b, int) and b > 0 else None


def run_in_batches(run, arrays: list[np.ndarray], batch: int | None) -> np.ndarray:
    """run(arrays) on all rows at once, or, for a model exported with a fixed batch, on slices of exactly that many
    rows: the last slice padded with zeros (class 0 for labels), the padding's outputs dropped."""
    n = len(arrays[0])
    if not batch or n == batch:
        return run(arrays)
    outs = []
    for i in range(0, n, batch):
        part = [a[i:i + batch] for a in arrays]
        k = len(part[0])
        if k < batch:
            part = [np.concatenate([p, np.zeros((batch - k, *p.shape[1:]), p.dtype)]) for p in part]
        outs.append(run(part)[:k])
    return np.concatenate(outs)


def _external_files(path: Path) -> list[str]:
    """The files a model keeps its weights in beside it (TensorProto.external_data "location" entries), read from
    the protobuf bytes directly: the sampler does not ship the onnx package."""
    with open(path, "rb") as f:
        data = f.read(64 << 20)  # a model with external data is small; its weights are elsewhere
    names: list[str] = []
    for m in re.finditer(rb"\x0a\x08location\x12", data):
        i, length, shift = m.end(), 0, 0
        while i < len(data) and shift < 35:  # the value's length, a protobuf varint
            length |= (data[i] & 0x7F) << shift
            i, shift = i + 1, shift + 7
            if data[i - 1] < 0x80:
                break
        name = data[i:i + length].decode("utf-8", "replace")
        if name not in names:
            names.append(name)
    return names


def open_session(path: Path, threads: int | None = None):
    """An ONNX Runtime CPU session for a model file (or an ExecuTorch/LiteRT one answering as such), or one sentence
    saying why the file cannot be one."""
    import onnxruntime as ort

    from engine.ondevice.runtimes import is_edge_file, open_edge_session

    if is_edge_file(path):  # ExecuTorch .pte, LiteRT .tflite (Core ML: refused in one sentence)
        return open_edge_session(path, threads)
    if path.is_dir():
        raise OnDeviceError(f"{path} is a folder; give the .onnx file itself.")
    if path.exists() and not path.is_file():
        raise OnDeviceError(f"{path} is not a regular file (a device or a pipe); give the .onnx file itself.")
    if not path.is_file():
        raise OnDeviceError(f"The model file {path} does not exist; check the path.")
    opts = ort.SessionOptions()
    opts.log_severity_level = 4  # fatal only: a failed probe run is our one line, not also ORT's log line
    if threads:
        opts.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # ORT raises several pybind types for corrupt or foreign files
        missing = [n for n in _external_files(path) if not (path.parent / n).is_file()]
        if missing:
            raise OnDeviceError(f"The model {path} keeps its weights in the file {', '.join(missing[:3])}, which is "
                                f"not in {path.parent.resolve()}; copy it next to {path.name} or export again.") \
                from None
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise OnDeviceError(f"The file {path} is not a readable ONNX model ({first[:100]}); export it again with "
                            "gan-prune export.") from None


class GeneratorModel:
    """An ONNX generator: z [batch, latent] float32 → image [batch, C, H, W] in its output range."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None, session=None) -> None:
        self.path = Path(path)
        self.session = session or open_session(self.path, threads)
        self.warnings: list[str] = []  # fallbacks taken, each a short phrase; the caller shows them as one note
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        labelled = len(inputs) == 2 and inputs[1].name == "label" and inputs[1].type == "tensor(int64)" \
            and len(inputs[1].shape) == 1
        if len(inputs) != 1 + labelled or len(inputs[0].shape) != 2 or inputs[0].type != "tensor(float)":
            shapes = ", ".join(f"{i.name} {i.type} {i.shape}" for i in inputs)
            raise OnDeviceError(f"The model {self.path.name} is not a generator: it must take one 2-D float latent "
                                f"input [batch, latent], and a conditional one also an int64 label [batch] "
                                f"(it takes {shapes}).")
        self.num_classes = self._num_classes() if labelled else 0
        self.task = self.metadata.get("gan.task") or ("conditional" if labelled else "unconditional")
        self.class_names = self._class_names()
        out = outputs[0]
        if out.type != "tensor(float)" or len(out.shape or []) not in (0, 4):  # no shape declared: the probe decides
            raise OnDeviceError(f"The model {self.path.name} is not an image generator: its output {out.name} is "
                                f"{out.type} {out.shape}, not float [batch, channels, height, width].")
        self.input_name, self.output_name = inputs[0].name, out.name
        self.batch = fixed_batch(inputs[0].shape)
        self.latent_dim = self._latent_dim(inputs[0].shape)
        self.image_shape = self._image_shape(out.shape)
        self.output_range = self._output_range()

    # ---- reading what the model is: metadata checked against the graph, never trusted blindly -------------------
    def _bad(self, key: str, words: str) -> OnDeviceError:
        return OnDeviceError(f"The model {self.path.name} has a wrong {key} ({words}); export it again with "
                             "gan-prune export.")

    def _latent_dim(self, shape) -> int:
        static = shape[1] if isinstance(shape[1], int) and shape[1] > 0 else None
        text = self.metadata.get("gan.latent_dim")
        if text is None:
            if static is None:
                raise OnDeviceError(f"The model {self.path.name} has no latent size in its gan.latent_dim metadata "
                                    "or its input shape; export it with gan-prune export.")
            self.warnings.append(f"no gan.latent_dim: using the input's size {static}")
            return static
        value = _whole(text)
        if value is None or not 0 < value <= 1_000_000:
            raise self._bad("gan.latent_dim", f"{text!r} is not a whole number above 0")
        if static is not None and static != value:
            raise self._bad("gan.latent_dim", f"{value}, but its input takes latents of size {static}")
        return value

    def _num_classes(self) -> int:
        text = self.metadata.get("gan.num_classes")
        value = _whole(text) if text is not None else None
        if text is None:
            raise OnDeviceError(f"The model {self.path.name} takes a class label but has no gan.num_classes "
                                "metadata; export it again with gan-prune export.")
        if value is None or not 2 <= value <= 100_000:
            raise self._bad("gan.num_classes", f"{text!r} is not a whole number of 2 or more")
        return value

    def _class_names(self) -> list[str]:
        """Each class's name (gan.class_names), or its number when the file does not name them."""
        import json

        try:
            names = json.loads(self.metadata.get("gan.class_names", "null"))
        except ValueError:
            names = None
        if isinstance(names, list) and len(names) == self.num_classes:
            return [str(n) for n in names]
        return [str(i) for i in range(self.num_classes)]

    def check_label(self, label: int) -> int:
        """The class asked for, refused in one sentence when the model has no classes or not this one."""
        if not self.num_classes:
            raise OnDeviceError(f"The model {self.path.name} is unconditional (gan.task {self.task}); it takes no "
                                "class, so leave out --label.")
        if not isinstance(label, int) or isinstance(label, bool) or not 0 <= label < self.num_classes:
            raise OnDeviceError(f"--label {label} is not a class of {self.path.name}; choose a whole number from 0 "
                                f"to {self.num_classes - 1}.")
        return label

    def _image_shape(self, shape) -> tuple[int, int, int]:
        """From gan.image_shape, checked against the output's static shape and one real run at batch 1."""
        text = self.metadata.get("gan.image_shape")
        if text is not None:
            parts = [_whole(v) for v in text.split(",")]
            if len(parts) != 3 or any(v is None or v <= 0 for v in parts) or parts[0] not in (1, 3):
                raise self._bad("gan.image_shape", f"{text!r} is not channels,height,width with 1 or 3 channels")
        probe = self._probe()
        if not np.isfinite(probe).all():
            raise OnDeviceError(f"The model {self.path.name} made NaN or infinite pixels; its weights are damaged, "
                                "export it again.")
        made = tuple(int(v) for v in probe.shape[1:])
        if probe.ndim != 4 or probe.shape[0] != 1 or made[0] not in (1, 3):
            raise OnDeviceError(f"The model {self.path.name} is not an image generator: one latent gives an output "
                                f"of shape {list(probe.shape)}, not [1, 1 or 3, height, width].")
        if text is None:
            self.warnings.append(f"no gan.image_shape: using the output's shape {','.join(map(str, made))}")
            return made
        if tuple(parts) != made:
            raise self._bad("gan.image_shape", f"{text!r}, but the model makes images of {','.join(map(str, made))}")
        return made

    def _try(self, label: int) -> np.ndarray | str:
        """One zero latent's output (of class `label` for a conditional model), or ORT's first line on failure."""
        try:
            return self._run(np.zeros((1, self.latent_dim), np.float32),
                             np.full(1, label, np.int64) if self.num_classes else None)
        except Exception as e:  # ORT's own error types for a graph that cannot take this input
            return (str(e).strip().splitlines() or [type(e).__name__])[0][:100]

    def _probe(self) -> np.ndarray:
        """A real run at the first class, then the last: a failure at class 0 is the latent's, one only at the last
        class means gan.num_classes claims more classes than the model has (named as such, not as the latent)."""
        first = self._try(0)
        if isinstance(first, str):
            raise OnDeviceError(f"The model {self.path.name} does not run on a latent of size {self.latent_dim} "
                                f"({first}); check gan.latent_dim or export it again.")
        if self.num_classes and isinstance(self._try(self.num_classes - 1), str):
            raise self._bad("gan.num_classes", f"{self.num_classes}, but the model fails on class "
                                               f"{self.num_classes - 1}: it has fewer classes")
        return first

    def _output_range(self) -> tuple[float, float]:
        text = self.metadata.get("gan.output_range")
        if text is None:
            self.warnings.append("no gan.output_range: assuming -1,1 (a tanh output)")
            return -1.0, 1.0
        try:
            lo, hi = (float(v) for v in text.split(","))
        except ValueError:
            lo = hi = float("nan")
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise self._bad("gan.output_range", f"{text!r} is not two numbers low,high with low below high, "
                                                "e.g. -1,1")
        return lo, hi

    def note(self) -> str | None:
        """One line saying which metadata was missing and what was used instead (None when nothing was)."""
        return f"{self.path.name}: " + "; ".join(self.warnings) + "." if self.warnings else None

    # ---- generating ---------------------------------------------------------------------------------------------
    def latents(self, n: int, seed: int = 0) -> np.ndarray:
        """Standard-normal latents, as in training; the same seed gives the same images."""
        return np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype(np.float32)

    def _run(self, z: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        def once(parts: list[np.ndarray]) -> np.ndarray:
            feeds = generator_feeds(self.session, parts[0], parts[1] if len(parts) > 1 else None, self.num_classes)
            return self.session.run([self.output_name], feeds)[0]
        return run_in_batches(once, [z] if labels is None else [z, labels], self.batch)

    def labels_for(self, n: int, label: int | None = None) -> np.ndarray | None:
        """n copies of the class asked for, or 0, 1, ..., K-1, 0, ... (None for an unconditional model)."""
        if not self.num_classes:
            return None
        return np.full(n, label, np.int64) if label is not None else np.arange(n, dtype=np.int64) % self.num_classes

    def generate(self, z: np.ndarray, chunk: int = 256, labels: np.ndarray | None = None) -> np.ndarray:
        """uint8 images N x H x W x C for the given latents (and classes; run in chunks to bound memory)."""
        if labels is None:
            labels = self.labels_for(len(z))
        outs = [self._run(z[i:i + chunk], None if labels is None else labels[i:i + chunk])
                for i in range(0, len(z), chunk)]
        x = np.concatenate(outs, axis=0)
        if x.shape != (len(z), *self.image_shape):
            raise OnDeviceError(f"The model {self.path.name} made images of shape {list(x.shape)}, not "
                                f"{[len(z), *self.image_shape]}; export it again with gan-prune export.")
        if not np.isfinite(x).all():
            raise OnDeviceError(f"The model {self.path.name} made NaN or infinite pixels; its weights are damaged, "
                                "export it again.")
        lo, hi = self.output_range
        x = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
        return np.round(x * 255.0).astype(np.uint8).transpose(0, 2, 3, 1)

    def sample(self, n: int, seed: int = 0, label: int | None = None) -> np.ndarray:
        """n images; a conditional model draws them all of class `label`, or each class in turn when None."""
        if not isinstance(n, int) or n <= 0:
            raise OnDeviceError(f"The number of images must be a whole number above 0 (got {n!r}).")
        if label is not None:
            self.check_label(label)
        return self.generate(self.latents(n, seed), labels=self.labels_for(n, label))

    def class_rows(self, per_class: int, seed: int = 0) -> np.ndarray:
        """A conditional model's images with one row per class: the same per_class latents in every row, so a row
        differs from the next only by its class. Returns N x H x W x C uint8, row after row."""
        if not self.num_classes:
            raise OnDeviceError(f"The model {self.path.name} is unconditional; it has no classes to show in rows.")
        z = np.tile(self.latents(per_class, seed), (self.num_classes, 1))
        return self.generate(z, labels=np.repeat(np.arange(self.num_classes, dtype=np.int64), per_class))

    def interpolate(self, steps: int = 8, seed: int = 0, label: int | None = None) -> np.ndarray:
        """A strip of `steps` images walking between two latents along the sphere (slerp)."""
        if steps < 2:
            raise OnDeviceError(f"An interpolation needs at least 2 steps (got {steps}).")
        a, b = self.latents(2, seed)
        z = np.stack([slerp(a, b, t) for t in np.linspace(0.0, 1.0, steps)]).astype(np.float32)
        return grid(self.generate(z, labels=self.labels_for(steps, 0 if label is None else label)), nrow=steps)

    def bench(self, batch_sizes=(1, 64), runs: int = 20, warmup: int = 3) -> dict[int, float]:
        """Median milliseconds per forward pass at each batch size."""
        out = {}
        for b in batch_sizes:
            z, labels = self.latents(b, seed=0), self.labels_for(b)
            for _ in range(warmup):
                self._run(z, labels)
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                self._run(z, labels)
                times.append((time.perf_counter() - t) * 1000.0)
            out[b] = statistics.median(times)
        return out


def _whole(text: str) -> int | None:
    try:
        return int(text.strip())
    except ValueError:
        return None


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation: Gaussian latents live near a sphere, where a straight line would cut inside."""
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    cos = float(np.clip(np.dot(a / na, b / nb), -1.0, 1.0))
    omega = np.arccos(cos)
    if omega < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def grid(images: np.ndarray, nrow: int = 8, pad: int = 2) -> np.ndarray:
    """Tile N x H x W x C uint8 images into one H' x W' x C image, `nrow` per row, with a black border."""
    return make_grid(images, nrow=max(1, min(nrow, images.shape[0])), pad=pad)


def save_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write an H x W x C uint8 image as PNG atomically (temp file in the same folder, then rename); the same
    argument order as engine.images.save_png."""
    _save_png(path, image)
    return Path(path)
