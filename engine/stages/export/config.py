"""The export stage's settings, free of torch so the CLI and the studio read them before torch loads."""

from __future__ import annotations

from dataclasses import dataclass

from engine.config import NOISE_TASKS, check_fields, setting
from engine.errors import ConfigError
from engine.export import formats
from engine.export.graph import DEFAULT_OPSET, OPSET_RANGE
from engine.export.precisions import BY_NAME, DEFAULT_NAMES, NAMES, PRECISIONS


@dataclass(frozen=True)
class ExportConfig:
    precisions: tuple[str, ...] = setting(DEFAULT_NAMES, flag="--precision", metavar="P", help="one or more of: " + (
        "; ".join(f"{x.name} ({x.help.rstrip('.')})" for x in PRECISIONS) + f" (default: {' '.join(DEFAULT_NAMES)})"))
    # the file formats, each in every precision it holds (engine/export/formats.py); onnx is always installed
    format: tuple[str, ...] = setting(formats.DEFAULT_NAMES, help="one or more of: " + "; ".join(
        f"{f.name} ({f.suffix}, {f.runtime})" for f in formats.FORMATS) + " (default: onnx; the others need "
        f"{formats.EDGE_EXTRA})")
    calibration: int = setting(256, min=1, metavar="N", help="latents to calibrate int8", label="Calibration",
                               unit=" random inputs", step=64,
                               tip="Inputs used to choose the int8 value ranges: random latents, or training images "
                                   "for an image-to-image model. More is steadier and slower.")  # static int8
    # rewrite ConvTranspose as Conv + DepthToSpace for the int8 files
    subpixel: bool = setting(True, help="keep ConvTranspose as is in the int8 ONNX files and in the ExecuTorch and "
                                        "LiteRT files (slower; for comparison)",
                             tasks=NOISE_TASKS, label="Sub-pixel", special="Rewrite transposed convolutions for int8",
                             tip="ONNX Runtime has no fast int8 transposed convolution; this exact rewrite makes int8 "
                                 "pay off.")  # image-to-image exports (stages/export/image.py) do not rewrite
    keep_first_last_float: bool = setting(False, help="leave the first and last layer in float")
    seed: int = 0
    bench_runs: int = setting(20, min=1, label="Timing runs", unit=" runs", step=5,
                              tip="Timed runs per batch size; the median is reported.")  # median reported
    # ORT threads for the latency numbers; None = the fastest, measured
    threads: int | None = setting(None, help="ONNX Runtime threads for the latency numbers (default: the fastest "
                                             "count, measured)")
    # ai.onnx opset of every file; 17 loads in onnxruntime 1.14 and newer
    opset: int = setting(DEFAULT_OPSET, metavar="N", help=(
        f"ONNX opset of the files, {OPSET_RANGE[0]}-{OPSET_RANGE[1]} (default {DEFAULT_OPSET}: loads in onnxruntime "
        "1.14 and newer; raise it only for a newer runtime)"))

    def validate(self) -> None:
        check_fields(self, "export")  # types, and no NaN/inf, before the ranges below
        if isinstance(self.precisions, str) or not self.precisions:
            raise ConfigError(f"precisions must be a list of one or more of {', '.join(NAMES)} "
                              f"(got {self.precisions!r}).")
        bad = [p for p in self.precisions if p not in BY_NAME]
        if bad:
            raise ConfigError(f"Unknown precision {', '.join(map(str, bad))}; choose from {', '.join(NAMES)}.")
        self._validate_formats()
        for name in ("calibration", "bench_runs"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ConfigError(f"{name} must be a whole number above 0 (got {v!r}).")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads <= 0):
            raise ConfigError(f"threads must be a whole number above 0 or left unset (got {self.threads!r}).")
        low, high = OPSET_RANGE
        if not isinstance(self.opset, int) or isinstance(self.opset, bool) or not low <= self.opset <= high:
            raise ConfigError(f"opset must be a whole number from {low} to {high} (got {self.opset!r}); "
                              f"{DEFAULT_OPSET} loads in onnxruntime 1.14 and newer.")

    def _validate_formats(self) -> None:
        if isinstance(self.format, str) or not self.format:
            raise ConfigError(f"format must be a list of one or more of {', '.join(formats.NAMES)} "
                              f"(got {self.format!r}).")
        bad = [f for f in self.format if f not in formats.BY_NAME]
        if bad:
            raise ConfigError(f"Unknown format {', '.join(map(str, bad))}; choose from {', '.join(formats.NAMES)}.")
        missing = [formats.BY_NAME[f] for f in self.format if not formats.BY_NAME[f].available()]
        if missing:
            raise ConfigError(missing[0].missing_sentence())
        made, _ = formats.pairs(self.format, self.precisions)
        if not made:
            raise ConfigError("None of the formats asked for holds any precision asked for: "
                              + " ".join(f.why_not(p) for f, p, _ in formats.pairs(self.format, self.precisions)[1]))
