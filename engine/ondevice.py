"""Run an exported generator with numpy + onnxruntime + pillow only (no torch): sample, grid, interpolate, bench.

This module is what the small sampler app ships; keep its imports to the standard library, numpy, onnxruntime
and pillow, and its errors self-contained (OnDeviceError), so it runs where torch is not installed.
"""

from __future__ import annotations

import os
import statistics
import time
import warnings
from pathlib import Path

import numpy as np

from engine.images import make_grid
from engine.images import save_png as _save_png


class OnDeviceError(Exception):
    """A model file that is missing, corrupt or not a generator; the message is one sentence for a person."""


class GeneratorModel:
    """An ONNX generator: z [batch, latent] float32 → image [batch, C, H, W] in its output range."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise OnDeviceError(f"The model file {self.path} does not exist; check the path.")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # ORT raises several pybind types for corrupt or foreign files
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise OnDeviceError(f"The file {self.path} is not a readable ONNX model ({first[:100]}); "
                                "export it again with gan-prune export.") from None
        self.warnings: list[str] = []
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 2 or inputs[0].type != "tensor(float)":
            shapes = ", ".join(f"{i.name} {i.type} {i.shape}" for i in inputs)
            raise OnDeviceError(f"The model {self.path.name} is not a generator: it must take one 2-D float latent "
                                f"input [batch, latent] (it takes {shapes}).")
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        self.latent_dim = self._latent_dim(inputs[0].shape)
        self.image_shape = self._image_shape(outputs[0].shape)
        self.output_range = self._output_range()

    # ---- reading what the model is ------------------------------------------------------------------------------
    def _latent_dim(self, shape) -> int:
        if "gan.latent_dim" in self.metadata:
            return int(self.metadata["gan.latent_dim"])
        self._warn("has no gan.latent_dim metadata; using its input shape")
        if not isinstance(shape[1], int):
            raise OnDeviceError(f"The model {self.path.name} has no latent size in its metadata or input shape; "
                                "export it with gan-prune export.")
        return shape[1]

    def _image_shape(self, shape) -> tuple[int, int, int]:
        if "gan.image_shape" in self.metadata:
            return tuple(int(v) for v in self.metadata["gan.image_shape"].split(","))
        self._warn("has no gan.image_shape metadata; using its output shape")
        out = self._run(np.zeros((1, self.latent_dim), np.float32))
        if out.ndim != 4 or out.shape[1] not in (1, 3):
            raise OnDeviceError(f"The model {self.path.name} is not an image generator: its output has shape "
                                f"{list(out.shape)}, not [batch, 1 or 3, height, width].")
        return tuple(int(v) for v in out.shape[1:])

    def _output_range(self) -> tuple[float, float]:
        if "gan.output_range" in self.metadata:
            lo, hi = (float(v) for v in self.metadata["gan.output_range"].split(","))
            return lo, hi
        self._warn("has no gan.output_range metadata; assuming -1,1 (tanh)")
        return -1.0, 1.0

    def _warn(self, what: str) -> None:
        message = f"{self.path.name} {what}"
        self.warnings.append(message)
        warnings.warn(message, stacklevel=3)

    # ---- generating ---------------------------------------------------------------------------------------------
    def latents(self, n: int, seed: int = 0) -> np.ndarray:
        """Standard-normal latents, as in training; the same seed gives the same images."""
        return np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype(np.float32)

    def _run(self, z: np.ndarray) -> np.ndarray:
        return self.session.run([self.output_name], {self.input_name: z.astype(np.float32)})[0]

    def generate(self, z: np.ndarray, chunk: int = 256) -> np.ndarray:
        """uint8 images N x H x W x C for the given latents (run in chunks to bound memory)."""
        outs = [self._run(z[i:i + chunk]) for i in range(0, len(z), chunk)]
        x = np.concatenate(outs, axis=0)
        lo, hi = self.output_range
        x = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
        return np.round(x * 255.0).astype(np.uint8).transpose(0, 2, 3, 1)

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        if not isinstance(n, int) or n <= 0:
            raise OnDeviceError(f"The number of images must be a whole number above 0 (got {n!r}).")
        return self.generate(self.latents(n, seed))

    def interpolate(self, steps: int = 8, seed: int = 0) -> np.ndarray:
        """A strip of `steps` images walking between two latents along the sphere (slerp)."""
        if steps < 2:
            raise OnDeviceError(f"An interpolation needs at least 2 steps (got {steps}).")
        a, b = self.latents(2, seed)
        z = np.stack([slerp(a, b, t) for t in np.linspace(0.0, 1.0, steps)]).astype(np.float32)
        return grid(self.generate(z), nrow=steps)

    def bench(self, batch_sizes=(1, 64), runs: int = 20, warmup: int = 3) -> dict[int, float]:
        """Median milliseconds per forward pass at each batch size."""
        out = {}
        for b in batch_sizes:
            z = self.latents(b, seed=0)
            for _ in range(warmup):
                self._run(z)
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                self._run(z)
                times.append((time.perf_counter() - t) * 1000.0)
            out[b] = statistics.median(times)
        return out


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


def save_png(image: np.ndarray, path: str | os.PathLike) -> Path:
    """Write an H x W x C uint8 image as PNG atomically (temp file in the same folder, then rename)."""
    _save_png(path, image)
    return Path(path)
