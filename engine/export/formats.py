"""The file formats a generator can be exported to, beside the precision table (engine/export/precisions.py): one
entry per format says its file suffix, the package that converts it, the runtime that runs it and which of the
table's precisions it can hold (and, for the others, why not). A file's name is the precision's name with the
format's suffix: generator.int8.onnx, generator.int8.pte, generator.tflite, generator.fp16.mlpackage.

Torch-free and cheap: the CLI, the studio and the facade list formats (is the package there?) before anything
heavy loads. ONNX is the product's own format; the others come with the optional extra `pip install -e '.[edge]'`
(the versions measured to work are pinned there, see EDGE_PINS).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from engine.export.precisions import BY_NAME as PRECISION_BY_NAME

# What `.[edge]` installs, as measured together with torch 2.14.1 on Python 3.11 (issue 24).
EDGE_PINS = {"executorch": "1.5.1", "litert-torch": "0.10.0", "ai-edge-litert": "2.3.0", "coremltools": "9.0"}
EDGE_EXTRA = "pip install -e '.[edge]'"


@dataclass(frozen=True)
class Format:
    name: str  # what users type: --format NAME
    suffix: str  # the file's (a Core ML package is a folder)
    label: str  # the studio's words
    runtime: str  # what runs the file, in words
    packages: tuple[str, ...]  # the importable modules converting needs; all present = the format is available
    precisions: tuple[str, ...]  # the precision table's names this format holds
    refused: dict[str, str] = field(default_factory=dict)  # precision -> why this format does not hold it
    metadata: str = "in the file"  # where the gan.* metadata goes: "in the file" or "side-car" (FILE.json)
    convert: Callable | None = None  # (G, precision name, path, metadata, calibration, seed, subpixel) -> Path;
    # None: ONNX's own path in the export stage
    runs_here: Callable[[], str | None] = lambda: None  # why the runtime cannot run the file here, or None

    def available(self) -> bool:
        return all(importlib.util.find_spec(p) is not None for p in self.packages)

    def missing_sentence(self) -> str:
        pins = ", ".join(f"{k}=={v}" for k, v in EDGE_PINS.items())
        return (f"--format {self.name} needs {' and '.join(self.packages)}, which is not installed; install the edge "
                f"extra with {EDGE_EXTRA} (measured: {pins}).")

    def why_not(self, precision: str) -> str:
        return self.refused.get(precision) or (f"{self.label} holds {', '.join(self.precisions)}, not {precision}; "
                                               f"choose one of those for --format {self.name}.")

    def file_name(self, precision: str) -> str:
        """generator.int8.onnx -> generator.int8.pte: the precision table's name with this format's suffix."""
        return Path(PRECISION_BY_NAME[precision].file_name).stem + self.suffix

    def side_car(self, path: Path) -> Path | None:
        return path.with_name(path.name + ".json") if self.metadata == "side-car" else None


def _executorch(G, precision, path, meta, calibration, seed, subpixel=True):
    from engine.export.edge import export_executorch

    return export_executorch(G, precision, path, meta, calibration, seed, subpixel=subpixel)


def _litert(G, precision, path, meta, calibration, seed, subpixel=True):
    from engine.export.edge import export_litert

    return export_litert(G, precision, path, meta, subpixel=subpixel)


def _coreml(G, precision, path, meta, calibration, seed, subpixel=True):  # its own ConvTranspose (Neural Engine)
    from engine.export.edge import export_coreml

    return export_coreml(G, precision, path, meta)


def _coreml_runs_here() -> str | None:
    import sys

    return None if sys.platform == "darwin" else "Core ML runs on macOS and iOS only; the file was converted and " \
                                                 "validated here, not run"


FORMATS: tuple[Format, ...] = (
    Format("onnx", ".onnx", "ONNX", "ONNX Runtime (or OpenVINO)", ("onnx", "onnxruntime"),
           tuple(PRECISION_BY_NAME)),
    Format("executorch", ".pte", "ExecuTorch", "ExecuTorch with XNNPACK (Android, iOS, Linux boards)",
           ("executorch",), ("fp32", "int8"),
           refused={"int8-dynamic": "ExecuTorch int8 is static (calibrated, XNNPACK); choose int8.",
                    "fp16": "ExecuTorch fp16 is not exported yet; choose fp32 or int8."},
           metadata="side-car", convert=_executorch),
    Format("litert", ".tflite", "LiteRT (TFLite)", "the LiteRT interpreter (Android, Raspberry Pi, microcontrollers)",
           ("litert_torch", "ai_edge_litert"), ("fp32",),
           refused={"int8": "LiteRT static int8 fails on ConvTranspose in litert-torch 0.10.0 (\"num_scales must be "
                            "1\"); use --format executorch or onnx for int8.",
                    "int8-dynamic": "LiteRT dynamic int8 ran 5-6x slower than its fp32 on conv generators; use "
                                    "--format executorch or onnx for int8.",
                    "fp16": "LiteRT fp16 is not exported yet; choose fp32."},
           metadata="side-car", convert=_litert),
    Format("coreml", ".mlpackage", "Core ML", "Core ML (macOS, iOS; predicts on Apple systems only)",
           ("coremltools",), ("fp32", "fp16", "int8"),
           refused={"int8-dynamic": "Core ML int8 stores int8 weights (computed in fp16); choose int8."},
           convert=_coreml, runs_here=_coreml_runs_here),
)
BY_NAME = {f.name: f for f in FORMATS}
NAMES = tuple(BY_NAME)
DEFAULT_NAMES = ("onnx",)
BY_SUFFIX = {f.suffix: f for f in FORMATS}


def available_names() -> tuple[str, ...]:
    return tuple(f.name for f in FORMATS if f.available())


def pairs(formats, precisions) -> tuple[list[tuple[Format, str]], list[tuple[Format, str, str]]]:
    """(the (format, precision) files asked for that can be made, the ones that cannot with the reason)."""
    made, refused = [], []
    for name in dict.fromkeys(formats):
        fmt = BY_NAME[name]
        for p in dict.fromkeys(precisions):
            (made.append((fmt, p)) if p in fmt.precisions else refused.append((fmt, p, fmt.why_not(p))))
    return made, refused
