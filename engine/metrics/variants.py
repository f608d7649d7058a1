"""The model variants a workspace holds (dense, pruned, fine-tuned checkpoints and each exported ONNX), each
loaded behind one call: latents in, images in [-1,1] out. A missing or unreadable file becomes a failed variant."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.workspace import Workspace

# (variant name, manifest stage, default file under checkpoints/)
CHECKPOINT_VARIANTS = (("dense", "train", "dense.pt"), ("pruned", "prune", "pruned.pt"),
                       ("finetuned", "finetune", "finetuned.pt"))
QUANT_NAME_PARTS = ("scale", "zero_point")


@dataclass
class Variant:
    name: str
    kind: str  # "torch" | "onnx"
    path: Path
    precision: str = "fp32"  # numeric precision of the weights (ONNX metadata gan.precision)
    source: str | None = None  # for ONNX: the checkpoint it was exported from (workspace-relative)
    error: str | None = None  # set when the file is missing or unreadable: evaluated as failed
    meta: dict[str, Any] = field(default_factory=dict)


def _onnx_precision(path: Path) -> tuple[str, dict[str, str]]:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    meta = {p.key: p.value for p in model.metadata_props}
    return meta.get("gan.precision", _precision_from_name(path)), meta


def discover(ws: Workspace) -> list[Variant]:
    """Every model in the workspace, in workflow order; files the manifest names but that are gone come back failed."""
    stages = ws.read_manifest()["stages"]
    found: list[Variant] = []
    for name, stage, default in CHECKPOINT_VARIANTS:
        entry = stages.get(stage) or {}
        if entry.get("status") == "stale":  # made from an older model: comparing it would mislead
            continue
        path = ws.abs(entry["checkpoint"]) if entry.get("checkpoint") else ws.checkpoint_path(default)
        if path.exists():
            found.append(Variant(name, "torch", path))
        elif entry.get("checkpoint"):
            found.append(Variant(name, "torch", path, error=f"{ws.rel(path)} is missing; run '{stage}' again"))
    export = stages.get("export") or {}
    source = export.get("checkpoint")
    results = (export.get("results") or {}).values()
    listed = {ws.abs(r["path"]) for r in results if isinstance(r, dict) and r.get("path")}
    files = sorted(p for p in ws.export_dir.glob("*.onnx") if not p.name.startswith("."))
    if export.get("status") == "stale":
        files, listed = [], set()
    seen = set()
    for path in sorted(set(files) | listed, key=lambda p: (p.name != "generator.onnx", p.name)):
        v = Variant("", "onnx", path, precision=_precision_from_name(path), source=source)
        if not path.exists():
            v.error = f"{ws.rel(path)} is missing; run 'gan-prune export' again"
        else:
            try:
                v.precision, v.meta = _onnx_precision(path)
            except Exception as e:  # protobuf decode errors come in several types
                v.error = f"{ws.rel(path)} is not a readable ONNX file ({type(e).__name__}); export it again"
        v.name = f"onnx-{v.precision}"
        if v.name in seen:  # two files with the same precision: tell them apart by file name
            v.name = "onnx-" + path.name.removesuffix(".onnx")
        seen.add(v.name)
        found.append(v)
    return found


def _precision_from_name(path: Path) -> str:
    """generator.int8.onnx → int8; generator.onnx → fp32 (used when the metadata is unreadable)."""
    stem = path.name.removesuffix(".onnx")
    return stem.split(".", 1)[1] if "." in stem else "fp32"


# ---- loading ---------------------------------------------------------------------------------------------------------
@dataclass
class Loaded:
    """A runnable variant: generate(z float32 N x latent[, labels int64 N]) → float32 N x C x H x W in [-1,1].

    A conditional variant (num_classes > 0) draws `labels`' classes, or 0, 1, ..., K-1, 0, ... when none are given."""

    generate: Callable[..., np.ndarray]
    latent_dim: int
    image_shape: tuple[int, ...]
    complexity: dict[str, Any]
    module: Any = None  # the torch generator (torch variants)
    session: Any = None  # the ORT session (ONNX variants)
    num_classes: int = 0  # a conditional generator's class count


def load(v: Variant, threads: int | None = None) -> Loaded:
    """Open a variant; raises a UserError (WorkspaceError) naming the file when it cannot be used."""
    return _load_torch(v) if v.kind == "torch" else _load_onnx(v, threads)


def _load_torch(v: Variant) -> Loaded:
    import torch

    from engine.metrics.complexity import summarize
    from engine.models import generator_from_checkpoint, num_classes
    from engine.workspace import load_checkpoint_file

    G = generator_from_checkpoint(load_checkpoint_file(v.path)).cpu().float().eval()

    @torch.inference_mode()
    def generate(z: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        z = torch.from_numpy(z)
        return (G(z) if labels is None else G(z, torch.from_numpy(np.asarray(labels, np.int64)))).numpy()

    return Loaded(generate, int(G.latent_dim), tuple(int(s) for s in G.image_shape), summarize(G), module=G,
                  num_classes=num_classes(G))


def _load_onnx(v: Variant, threads: int | None) -> Loaded:
    from engine.errors import WorkspaceError
    from engine.metrics.latency import ort_session
    from engine.ondevice import generator_feeds, session_classes

    session = ort_session(v.path, threads=threads)
    shape_text = v.meta.get("gan.image_shape")
    latent_text = v.meta.get("gan.latent_dim")
    try:
        latent = int(latent_text) if latent_text else int(session.get_inputs()[0].shape[1])
        shape = (tuple(int(s) for s in shape_text.split(",")) if shape_text
                 else tuple(session.get_outputs()[0].shape[1:]))
    except (TypeError, ValueError):
        raise WorkspaceError(f"The ONNX file {v.path} has no usable gan.latent_dim / gan.image_shape metadata; "
                             "export it again.") from None

    classes = session_classes(session)

    def generate(z: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        return session.run(["image"], generator_feeds(session, z, labels, classes))[0]

    return Loaded(generate, latent, shape, onnx_complexity(v.path), session=session, num_classes=classes)


def onnx_complexity(path: Path) -> dict[str, int]:
    """Weights stored in the file (quantization scales and zero points left out), their nonzeros, and the bytes."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path), load_external_data=False)
    params = nonzero = 0
    for init in model.graph.initializer:
        if any(part in init.name for part in QUANT_NAME_PARTS):
            continue
        arr = numpy_helper.to_array(init)
        if arr.size <= 1:  # shape constants and scalars are not weights
            continue
        params += int(arr.size)
        nonzero += int(np.count_nonzero(arr))
    raw = Path(path).read_bytes()
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("model.onnx", raw)
    return {"params": params, "nonzero_params": nonzero, "macs": None, "file_bytes": len(raw),
            "file_bytes_compressed": len(zbuf.getvalue())}
