"""The precisions a generator can be exported in: one table that the CLI, the export stage, the studio's Export
page, the facade and the self-test all read. Adding a precision is one entry here (and its converter).

Converters are imported when called: the studio lists precisions before onnx and onnxruntime load.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Sources:
    """What a converter may start from: the fp32 reference file and the sub-pixel fp32 file (int8's source), and
    what int8 calibrates on. Every kind of model goes through this table: a noise generator calibrates on
    `calibration` random latents (reader None); an image-to-image one passes a reader over its task's own inputs."""

    fp32: Path
    subpixel: Path
    calibration: int = 256
    seed: int = 0
    keep_first_last_float: bool = False
    reader: object | None = None  # an onnxruntime CalibrationDataReader; None: random latents
    # ORT's symbolic shape inference before quantizing: noise generators need it; image models' graphs have no
    # symbolic dims it could resolve and some of their ops (Resize on a dynamic batch) make it fail
    symbolic_shapes: bool = True


@dataclass(frozen=True)
class Precision:
    name: str  # what users type: --precision NAME, config precisions = [NAME]
    file_name: str  # under DIR/export
    label: str  # the studio's check box
    help: str  # its tooltip and the CLI's help
    convert: Callable[[Sources, Path], Path] | None  # None: the fp32 reference, written by the export itself
    default: bool = False  # exported when nothing is asked for
    uses_subpixel: bool = False  # converts the sub-pixel form (ConvTranspose rewritten for int8 kernels)


def _int8_static(src: Sources, out: Path) -> Path:
    from engine.export.quantize import quantize_int8_static

    return quantize_int8_static(src.subpixel, out, src.calibration, src.seed, src.keep_first_last_float,
                                reader=src.reader, symbolic_shapes=src.symbolic_shapes)


def _int8_dynamic(src: Sources, out: Path) -> Path:
    from engine.export.quantize import quantize_int8_dynamic

    return quantize_int8_dynamic(src.subpixel, out, src.keep_first_last_float, symbolic_shapes=src.symbolic_shapes)


def _fp16(src: Sources, out: Path) -> Path:
    from engine.export.quantize import convert_fp16

    return convert_fp16(src.fp32, out)


PRECISIONS: tuple[Precision, ...] = (
    Precision("fp32", "generator.onnx", "Full precision (fp32)", "The reference file: exact, the largest.",
              None, default=True),
    Precision("fp16", "generator.fp16.onnx", "Half precision (fp16)", "Half the size; nearly identical images.",
              _fp16),
    Precision("int8", "generator.int8.onnx", "8-bit, calibrated (int8 static)",
              "About a quarter of the size and usually the fastest on CPUs; calibrated on random latents.",
              _int8_static, default=True, uses_subpixel=True),
    Precision("int8-dynamic", "generator.int8-dynamic.onnx", "8-bit, dynamic (int8 dynamic)",
              "Quarter size without calibration; speed-up depends on the layers (conv generators get slower).",
              _int8_dynamic, uses_subpixel=True),
)
BY_NAME = {p.name: p for p in PRECISIONS}
NAMES = tuple(BY_NAME)
DEFAULT_NAMES = tuple(p.name for p in PRECISIONS if p.default)


def precision(name: str) -> Precision:
    return BY_NAME[name]
