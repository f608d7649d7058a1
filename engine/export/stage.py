"""The export stage: the newest generator in a workspace → fp32 / int8 / int8-dynamic / fp16 ONNX, measured."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.errors import ConfigError, WorkspaceError
from engine.events import Artifact, Cancelled, CancelToken, Event, Log, Progress
from engine.workspace import Workspace

PRECISIONS = ("fp32", "int8", "int8-dynamic", "fp16")
FILE_NAMES = {"fp32": "generator.onnx", "int8": "generator.int8.onnx", "int8-dynamic": "generator.int8-dynamic.onnx",
              "fp16": "generator.fp16.onnx"}


@dataclass(frozen=True)
class ExportConfig:
    precisions: tuple[str, ...] = ("fp32", "int8")
    calibration: int = 256  # latents used to calibrate static int8
    subpixel: bool = True  # rewrite ConvTranspose as Conv + DepthToSpace for the int8 files
    keep_first_last_float: bool = False
    seed: int = 0
    bench_runs: int = 20  # timed runs per batch size (median reported)
    threads: int | None = None  # ORT threads for the latency numbers; None = ORT's default

    def validate(self) -> None:
        if isinstance(self.precisions, str) or not self.precisions:
            raise ConfigError(f"precisions must be a list of one or more of {', '.join(PRECISIONS)} "
                              f"(got {self.precisions!r}).")
        bad = [p for p in self.precisions if p not in PRECISIONS]
        if bad:
            raise ConfigError(f"Unknown precision {', '.join(map(str, bad))}; choose from {', '.join(PRECISIONS)}.")
        for name in ("calibration", "bench_runs"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ConfigError(f"{name} must be a whole number above 0 (got {v!r}).")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads <= 0):
            raise ConfigError(f"threads must be a whole number above 0 or left unset (got {self.threads!r}).")


def _pruning_summary(ws: Workspace) -> dict:
    """A short record of how the model was pruned, for the gan.pruning metadata."""
    entry = ws.stage("prune") or {}
    keys = ("method", "amount", "scope", "target", "params", "nonzero_params", "sparsity")
    out = {k: entry[k] for k in keys if k in entry and isinstance(entry[k], (int, float, str))}
    return out if len(json.dumps(out)) < 400 else {k: out[k] for k in ("method", "amount") if k in out}


def run_export(cfg: ExportConfig, ws: Workspace, cancel: CancelToken | None = None) -> Iterator[Event]:
    """Export the newest generator; the manifest says "running" while files are replaced, never "done" over them."""
    try:
        yield from _run_export(cfg, ws, cancel or CancelToken())
    except Exception as e:
        entry = ws.stage("export")
        if entry and entry.get("status") == "running":
            ws.update_stage("export", status="cancelled" if isinstance(e, Cancelled) else "failed",
                            error=str(e)[:300])
        raise


def _run_export(cfg: ExportConfig, ws: Workspace, cancel: CancelToken) -> Iterator[Event]:
    from engine.export.onnx import export_generator, parity
    from engine.export.quantize import convert_fp16, measure, quantize_int8_dynamic, quantize_int8_static
    from engine.models import generator_from_checkpoint

    cfg.validate()
    ckpt_path = ws.latest_generator_checkpoint()
    if ckpt_path is None:
        raise WorkspaceError(f"The workspace {ws.root} has no generator checkpoint; run 'gan-prune train' first.")
    ckpt = ws.load_checkpoint(ckpt_path)
    G = generator_from_checkpoint(ckpt)
    dataset = (ckpt.get("data") or {}).get("dataset", "unknown")
    meta = {"dataset": dataset, "pruning": _pruning_summary(ws)}
    wanted = list(dict.fromkeys(cfg.precisions))
    total = 1 + len(wanted) + (1 if cfg.subpixel and any(p.startswith("int8") for p in wanted) else 0)
    step = 0
    arch = G.spec()["arch"]
    yield Log("info", f"exporting {ws.rel(ckpt_path)} ({arch}) as {', '.join(wanted)}")
    if "int8-dynamic" in wanted and arch != "mlp":
        # Dynamic int8 turns convs into ConvInteger, which ORT runs slower than float; it only saves bytes.
        yield Log("warning", "int8-dynamic makes conv generators smaller but slower; prefer int8 (static) for speed")
    cancel.raise_if_cancelled()
    # From here files of the earlier export are replaced or removed: a kill must not leave it looking "done".
    ws.update_stage("export", status="running", checkpoint=ws.rel(ckpt_path))

    for precision, name in FILE_NAMES.items():  # an earlier export's files would pass for this model's
        old = ws.export_dir / name
        if precision not in wanted and precision != "fp32" and old.exists():
            old.unlink()
            yield Log("info", f"removed {ws.rel(old)} from an earlier export (not asked for this time)")
    fp32 = ws.export_dir / FILE_NAMES["fp32"]
    export_generator(G, fp32, {**meta, "precision": "fp32"})
    worst = parity(G, fp32)
    step += 1
    yield Progress("export", step, total, f"fp32 exported, parity {worst:.1e}")
    if worst > 1e-4:
        yield Log("warning", f"ONNX output differs from torch by {worst:.2e} (more than 1e-4)")
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(dir=ws.export_dir) as tmp:
        int8_source = fp32
        if cfg.subpixel and any(p.startswith("int8") for p in wanted):
            cancel.raise_if_cancelled()
            int8_source = Path(tmp) / "generator.subpixel.onnx"
            export_generator(G, int8_source, {**meta, "precision": "fp32"}, subpixel=True)
            step += 1
            yield Progress("export", step, total, f"sub-pixel form exported, parity {parity(G, int8_source):.1e}")
        for precision in wanted:
            cancel.raise_if_cancelled()
            path = ws.export_dir / FILE_NAMES[precision]
            if precision == "int8":
                quantize_int8_static(int8_source, path, cfg.calibration, cfg.seed, cfg.keep_first_last_float)
            elif precision == "int8-dynamic":
                quantize_int8_dynamic(int8_source, path, cfg.keep_first_last_float)
            elif precision == "fp16":
                convert_fp16(fp32, path)
            info = measure(path, reference=None if precision == "fp32" else fp32, runs=cfg.bench_runs,
                           threads=cfg.threads, seed=cfg.seed)
            if precision == "fp32":
                info["parity"] = worst
            info["path"] = ws.rel(path)
            results[precision] = info
            step += 1
            yield Progress("export", step, total, f"{precision} done")
            yield Artifact("export", "onnx", ws.rel(path), {"precision": precision, **info})
    if "fp32" not in wanted:  # it was written as the reference for the others; keep it, but say so
        results["fp32"] = {"path": ws.rel(fp32), "bytes": fp32.stat().st_size, "parity": worst, "reference_only": True}
    ws.update_stage("export", status="done", checkpoint=ws.rel(ckpt_path), subpixel=cfg.subpixel,
                    calibration=cfg.calibration, results=results)
    summary = ", ".join(f"{p}: {r['bytes'] / 1e6:.2f} MB" + (f", {r['latency_ms']['ort_b64']:.1f} ms@64"
                                                             if "latency_ms" in r else "")
                        for p, r in results.items())
    yield Log("info", f"export done ({summary})")
