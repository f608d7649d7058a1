"""The sampler's other runtimes: an ExecuTorch .pte or a LiteRT .tflite opened as a session that answers what the
sampler asks an ONNX Runtime session (get_inputs, get_outputs, get_modelmeta, run), so GeneratorModel, ImageModel
and the thread picker run them unchanged. The gan.* metadata and the input names come from the side-car FILE.json
the exporter writes (those formats have no metadata slot the runtimes read back).

Torch-free: LiteRT's interpreter needs numpy only. ExecuTorch's Python runtime takes torch tensors, so the .pte
path (engine.ondevice.executorch) loads torch; the import-linter contract names that one exception.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.ondevice import OnDeviceError

EDGE_EXTRA = "pip install -e '.[edge]'"
TYPE_NAMES = {np.dtype(np.float32): "tensor(float)", np.dtype(np.float16): "tensor(float16)",
              np.dtype(np.int64): "tensor(int64)", np.dtype(np.int32): "tensor(int64)",  # a label: fed as int64
              np.dtype(np.uint8): "tensor(uint8)"}


@dataclass(frozen=True)
class Port:
    """One input or output, as ONNX Runtime's NodeArg shows it."""

    name: str
    shape: list
    type: str


class Meta:
    def __init__(self, metadata: dict[str, str]) -> None:
        self.custom_metadata_map = metadata


def read_side_car(path: Path) -> dict:
    """FILE.json beside the model (names, batch, gan.* metadata); {} with no side-car (the model's own shapes
    decide, as for an ONNX file without metadata)."""
    side = path.with_name(path.name + ".json")
    if not side.is_file():
        return {}
    try:
        card = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise OnDeviceError(f"The metadata file {side} is not readable JSON ({e}); export the model again.") from None
    if not isinstance(card, dict) or not isinstance(card.get("metadata", {}), dict):
        raise OnDeviceError(f"The metadata file {side} is not what gan-prune export writes; export the model again.")
    return card


class EdgeSession:
    """What the sampler needs of a session; a runtime fills `_inputs`, `_outputs` and `_call`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.card = read_side_car(path)
        self._meta = {str(k): str(v) for k, v in (self.card.get("metadata") or {}).items()}
        self._inputs: list[Port] = []
        self._outputs: list[Port] = []

    def _names(self, key: str, count: int, default: list[str]) -> list[str]:
        names = self.card.get(key)
        if isinstance(names, list) and len(names) == count and all(isinstance(n, str) for n in names):
            return names
        return default[:count] + [f"{key[:-1]}_{i}" for i in range(len(default), count)]

    def get_inputs(self) -> list[Port]:
        return self._inputs

    def get_outputs(self) -> list[Port]:
        return self._outputs

    def get_modelmeta(self) -> Meta:
        return Meta(self._meta)

    def run(self, output_names, feeds: dict) -> list[np.ndarray]:
        arrays = [np.asarray(feeds[p.name]) for p in self._inputs]
        return [self._call(arrays)]

    def _call(self, arrays: list[np.ndarray]) -> np.ndarray:
        raise NotImplementedError


RUNTIMES = {".tflite": ("LiteRT", "ai_edge_litert"), ".pte": ("ExecuTorch", "executorch")}  # suffix: (name, package)


def is_edge_file(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in RUNTIMES or Path(path).suffix.lower() == ".mlpackage"


def thread_counts(path, counts: list[int]) -> list[int]:
    """The thread counts a file can be timed at in one process: ExecuTorch sizes its pool once per process
    (engine.ondevice.executorch.set_threads), so a .pte is timed at one count (the one asked, or all CPUs)."""
    if Path(path).suffix.lower() == ".pte" and len(counts) > 1:
        return [max(counts)]
    return counts


def open_edge_session(path: Path, threads: int | None = None) -> EdgeSession:
    """A session over a .pte or .tflite file, or one sentence saying why it cannot be one here."""
    import importlib.util

    suffix = path.suffix.lower()
    if suffix == ".mlpackage":
        raise OnDeviceError(f"{path.name} is a Core ML model, which runs on macOS and iOS only; use the .onnx, .pte "
                            "or .tflite export here.")
    what, package = RUNTIMES[suffix]
    if importlib.util.find_spec(package) is None:
        raise OnDeviceError(f"{path.name} is a {what} model and the {what} runtime ({package}) is not installed; "
                            f"install it with {EDGE_EXTRA}, or use the .onnx export.")
    if not path.is_file():
        raise OnDeviceError(f"The model file {path} does not exist; check the path.")
    if suffix == ".pte":  # the one runtime that needs torch (its Python API takes torch tensors)
        from engine.ondevice.executorch import ExecuTorchSession as Session
    else:
        from engine.ondevice.litert import LiteRTSession as Session
    return Session(path, threads)
