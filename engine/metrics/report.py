"""report.json (the contract), report.csv and a self-contained report.html (inline SVG charts, base64 PNG grids)."""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import time
from html import escape
from typing import Any

import numpy as np

from engine import __version__
from engine.metrics import charts
from engine.metrics.latency import empty_latency
from engine.workspace import Workspace, atomic_write_json, atomic_write_text

__all__ = ["build_report", "empty_latency", "fill_onnx_macs", "render_html", "to_csv", "write_all"]
CONTRACT_KEYS = ("name", "params", "nonzero_params", "macs", "file_bytes", "latency_ms", "fid", "precision", "recall",
                 "swd", "psnr_vs_teacher")
CSV_COLUMNS = ("name", "status", "kind", "numeric_precision", "params", "nonzero_params", "macs", "file_bytes",
               "file_bytes_compressed", "torch_b1", "torch_b64", "ort_b1", "ort_b64", "fid", "fid_std", "precision",
               "recall", "density", "coverage", "swd", "swd_std", "psnr_vs_teacher", "ssim_vs_teacher",
               "modes_covered", "seconds", "error", "psnr", "ssim")  # the last two: image-to-image, vs ground truth


def _clean(x: Any) -> Any:
    """JSON-safe: numpy scalars to Python, NaN/inf to None (report.json must parse everywhere)."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def fill_onnx_macs(rows: list[dict]) -> None:
    """An ONNX file does the work of the checkpoint it was exported from: take MACs from that row."""
    torch_rows = {r["path"]: r for r in rows if r.get("kind") == "torch" and r.get("macs") is not None}
    newest = next((torch_rows[p] for p in reversed(list(torch_rows))), None)
    for r in rows:
        if r.get("kind") == "onnx" and r.get("macs") is None and r.get("status") == "ok":
            src = torch_rows.get(r.get("exported_from")) or newest
            if src is not None:
                r["macs"] = src["macs"]
                r["macs_from"] = src["name"]


def build_report(rows: list[dict], *, feature_net: str | None, fid_note: str | None, seed: int, device: str,
                 **extra: Any) -> dict:
    """The contract dict: variants with the contract keys first, then feature_net, seed, device, then the rest."""
    variants = []
    for r in rows:
        v = {k: r.get(k) for k in CONTRACT_KEYS}
        v["latency_ms"] = {**empty_latency(), **(r.get("latency_ms") or {})}
        v.update({k: val for k, val in r.items() if k not in v})
        variants.append(v)
    report = {"variants": variants, "feature_net": feature_net or "none (FID unavailable)", "seed": seed,
              "device": device, "fid_available": feature_net is not None, "fid_note": fid_note,
              "quality_metric": "fid" if feature_net else "swd", "producer": f"gan-prune-studio {__version__}",
              "created": time.strftime("%Y-%m-%dT%H:%M:%S"), **extra}
    return _clean(report)


def to_csv(report: dict) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for v in report["variants"]:
        flat = {**v, **(v.get("latency_ms") or {})}
        w.writerow(["" if flat.get(c) is None else flat.get(c) for c in CSV_COLUMNS])
    return buf.getvalue()


def _png_b64(images_uint8: np.ndarray) -> str:
    from engine.images import make_grid, png_bytes

    return base64.b64encode(png_bytes(make_grid(images_uint8, nrow=8))).decode("ascii")


# ---- HTML --------------------------------------------------------------------------------------------------------
CSS = """body{font-family:sans-serif;margin:24px;color:#222;max-width:1300px}table{border-collapse:collapse;
font-size:13px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:
left}th{background:#f3f3f3}.failed{color:#b00}.grids{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0}
figcaption{text-align:center;font-size:13px}img.grid{image-rendering:pixelated;width:240px}.charts{display:flex;
flex-wrap:wrap;gap:16px}.note{color:#555;font-size:13px}"""


def _num(v: Any, digits: int = 3) -> str:
    if v is None:
        return "—"
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:.{digits}g}" if abs(v) >= 1000 or abs(v) < 0.01 else f"{v:.{digits}f}".rstrip("0").rstrip(".")


def _pm(v: dict, key: str) -> str:
    std = v.get(f"{key}_std")
    return _num(v.get(key)) + (f" ± {_num(std)}" if std else "")


def _table(report: dict) -> str:
    head = ["Model", "Status", "Params", "Nonzero", "MACs", "File (raw / zip)", "torch b1 / b64 ms",
            "ORT b1 / b64 ms", "FID", "Precision", "Recall", "Density", "Coverage", "SWD", "PSNR vs dense (dB)",
            "SSIM", "Modes", "Time (s)"]
    truth = any(v.get("psnr") is not None for v in report["variants"])  # image-to-image: scored vs ground truth
    if truth:
        head[1:1] = ["PSNR vs truth (dB)", "SSIM vs truth"]
    rows = ["<tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"]
    for v in report["variants"]:
        lat = v.get("latency_ms") or {}
        size = "—" if v.get("file_bytes") is None else (f"{v['file_bytes'] / 1e6:.3f} / "
                                                         f"{(v.get('file_bytes_compressed') or 0) / 1e6:.3f} MB")
        failed = v.get("status") == "failed"
        cells = [escape(v["name"]), "failed" if failed else "ok", _num(v.get("params")),
                 _num(v.get("nonzero_params")), _num(v.get("macs")), size,
                 f"{_num(lat.get('torch_b1'))} / {_num(lat.get('torch_b64'))}",
                 f"{_num(lat.get('ort_b1'))} / {_num(lat.get('ort_b64'))}", _pm(v, "fid"), _pm(v, "precision"),
                 _pm(v, "recall"), _pm(v, "density"), _pm(v, "coverage"), _pm(v, "swd"), _pm(v, "psnr_vs_teacher"),
                 _pm(v, "ssim_vs_teacher"), _num(v.get("modes_covered")), _num(v.get("seconds"), 2)]
        if truth:
            cells[1:1] = [_num(v.get("psnr")), _num(v.get("ssim"))]
        cls = ' class="failed"' if failed else ""
        title = f' title="{escape(v.get("error") or "")}"' if failed else ""
        rows.append(f"<tr{cls}{title}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return "<table>" + "".join(rows) + "</table>"


def _pareto(report: dict) -> str:
    ok = [v for v in report["variants"] if v.get("status") != "failed"]
    key = report.get("quality_metric", "fid")
    label = {"fid": "FID (lower is better)", "swd": "SWD x1e3 (lower is better)"}[key]
    by_macs = [(v["name"], v.get("macs"), v.get(key)) for v in ok]
    by_lat = []
    for v in ok:
        lat = v.get("latency_ms") or {}
        ms = lat.get("ort_b64") if lat.get("ort_b64") is not None else lat.get("torch_b64")
        by_lat.append((v["name"], ms, v.get(key)))
    return (charts.scatter(by_macs, "MACs per image", label, "Quality vs MACs")
            + charts.scatter(by_lat, "latency at batch 64 (ms)", label, "Quality vs latency"))


def _layers(manifest: dict) -> str:
    records = manifest.get("pruning") or []
    if not records:
        return '<p class="note">No pruning record in this workspace yet.</p>'
    rec = records[-1]
    layers = (rec.get("layers") or {}).get("g") or {}
    names = list(layers)
    if not names:
        return '<p class="note">The last pruning record has no per-layer table.</p>'
    widths = charts.bars(names, {"width before": [layers[n].get("width_before") for n in names],
                                 "width after": [layers[n].get("width_after") for n in names]},
                         "channels / features", "Generator widths before and after pruning")
    zeros = [100 * (layers[n].get("sparsity") or 0) for n in names]
    sparsity = (charts.bars(names, {"sparsity %": zeros}, "zero weights (%)", "Generator weight sparsity per layer")
                if any(zeros) else '<p class="note">No zero weights: channel pruning removes whole channels '
                                   'instead (see the widths).</p>')
    return (f'<p class="note">Last pruning: {escape(str(rec.get("method")))}, amount {escape(str(rec.get("amount")))}'
            f', schedule {escape(str(rec.get("schedule")))}.</p><div class="charts">{widths}{sparsity}</div>')


def _sensitivity(sens: dict | None) -> str:
    if not sens:
        return ""
    series: dict[str, list[tuple[float, float]]] = {}
    for row in sens.get("rows") or []:
        series.setdefault(str(row.get("layer")), []).append((float(row.get("amount", 0)), row.get("psnr")))
    chart = charts.lines(series, f"amount pruned ({sens.get('method', '')})", "teacher PSNR (dB)",
                         "Per-layer sensitivity")
    return f"<h2>Sensitivity</h2>{chart}"


def _histograms(report: dict) -> str:
    rows = [v for v in report["variants"] if v.get("class_histogram")]
    if not rows:
        return ""
    k = len(rows[0]["class_histogram"])
    chart = charts.bars([str(i) for i in range(k)], {v["name"]: [100 * x for x in v["class_histogram"]] for v in rows},
                        "share of samples (%)", "Class coverage")
    return (f'<h2>Class coverage</h2><p class="note">The feature net\'s class of each generated image; a flat '
            f'histogram at {100 / k:.0f}% is ideal, a collapsed generator piles into a few classes.</p>{chart}')


def _conditional(report: dict) -> str:
    """Conditional accuracy per class: how often the feature net's class of a sample is the class asked for."""
    rows = [v for v in report["variants"] if v.get("cond_accuracy_per_class")]
    if not rows:
        return ""
    k = len(rows[0]["cond_accuracy_per_class"])
    overall = ", ".join(f"{escape(v['name'])} {_pm(v, 'cond_accuracy')}" for v in rows)
    chart = charts.bars([str(i) for i in range(k)],
                        {v["name"]: [None if x is None else 100 * x for x in v["cond_accuracy_per_class"]]
                         for v in rows}, "samples of the asked class (%)", "Conditional accuracy per class")
    return (f'<h2>Conditional accuracy</h2><p class="note">Each sample was asked for a class (0, 1, ..., {k - 1} in '
            f"turn); it counts when the feature net's class of it is that class. Overall: {overall}.</p>{chart}")


def _compress(search: dict | None) -> str:
    """The compress search's candidates: a table and MACs vs probe FID (the teacher's probe FID for scale)."""
    if not search or not search.get("candidates"):
        return ""
    cols = [("reduction", "asked"), ("macs", "MACs"), ("params", "params"), ("latency_ms", "torch ms/img"),
            ("probe_fid", "probe FID"), ("fid_rise", "FID rise"), ("feasible", "keeps quality"), ("steps", "steps"),
            ("seconds", "s")]
    head = "<tr>" + "".join(f"<th>{label}</th>" for _, label in cols) + "</tr>"
    cell = lambda v: {True: "yes", False: "no"}[v] if isinstance(v, bool) else _num(v)
    body = "".join("<tr>" + "".join(f"<td>{cell(c.get(k))}</td>" for k, _ in cols) + "</tr>"
                   for c in search["candidates"])
    points = [("teacher", search.get("dense_macs"), search.get("teacher_probe_fid"))]
    points += [(f"{c['reduction']:g}x", c.get("macs"), c.get("probe_fid")) for c in search["candidates"]]
    chart = charts.scatter(points, "MACs per image", "probe FID (lower is better)", "Compress candidates", log_x=True)
    budget = (search.get("teacher_probe_fid") or 0) * (1 + (search.get("max_fid_rise") or 0))
    return (f'<h2>Compress search</h2><p class="note">Status {escape(str(search.get("status")))}; quality budget: '
            f'probe FID at most {budget:.2f} (teacher {_num(search.get("teacher_probe_fid"))} '
            f'+{100 * (search.get("max_fid_rise") or 0):.0f} %) on {search.get("probe_samples")} held-out latents; '
            f'{_num(search.get("seconds"))} s of a {_num(search.get("time_budget_min"))}-minute budget.</p>'
            f'<table>{head}{body}</table><div class="charts">{chart}</div>')


def render_html(report: dict, grids: dict[str, np.ndarray], manifest: dict, sensitivity: dict | None) -> str:
    grid_html = "".join(f'<figure><img class="grid" alt="{escape(n)}" src="data:image/png;base64,{_png_b64(g)}">'
                        f"<figcaption>{escape(n)}</figcaption></figure>" for n, g in grids.items())
    failed = [v for v in report["variants"] if v.get("status") == "failed"]
    fail_html = "".join(f'<li class="failed">{escape(v["name"])}: {escape(v.get("error") or "")}</li>' for v in failed)
    note = f'<p class="note">{escape(report["fid_note"])}</p>' if report.get("fid_note") else ""
    per_variant = ", ".join(f"{escape(v['name'])} {v['seconds']:.1f} s" for v in report["variants"]
                            if v.get("seconds") is not None)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>GAN Pruning Studio report</title><style>{CSS}</style></head>
<body><h1>Evaluation report</h1>
<p class="note">Data: {escape(str(report.get("data")))} ({report.get("real_count")} real images) · samples per variant:
{report.get("samples")} × {report.get("seeds")} seed(s) from seed {report.get("seed")} · feature net:
{escape(str(report.get("feature_net")))} · device: {escape(str(report.get("device")))} · {escape(report["created"])}
· {escape(report["producer"])}</p>{note}
<h2>Variants</h2>{_table(report)}
{f"<h3>Failed</h3><ul>{fail_html}</ul>" if failed else ""}
<p class="note">Time per variant (quality on all samples and seeds, plus latency): {per_variant or "—"}.
Latency: median of timed runs after warm-up, {report.get("threads")} thread(s). Zip-compressed size is where weight
pruning shows; MACs and latency are where channel pruning shows.</p>
<h2>Trade-off</h2><div class="charts">{_pareto(report)}</div>
<h2>Samples on the same latents</h2><div class="grids">{grid_html}</div>
{_histograms(report)}
{_conditional(report)}
<h2>Pruned layers</h2>{_layers(manifest)}
{_sensitivity(sensitivity)}
{_compress(report.get("compress"))}
</body></html>
"""


def write_all(ws: Workspace, report: dict, grids: dict[str, np.ndarray]) -> dict[str, str]:
    """report.json, report.csv and report.html, each written atomically; also one PNG grid per variant."""
    from engine.images import make_grid, save_png

    for name, images in grids.items():
        save_png(ws.samples_dir / f"evaluate-{name}.png", make_grid(images, nrow=8))
    sens_path = ws.root / "sensitivity.json"
    try:
        sensitivity = json.loads(sens_path.read_text("utf-8")) if sens_path.exists() else None
    except (OSError, ValueError, RecursionError):
        sensitivity = None  # a broken scan file must not cost the user the whole report
    search_path = ws.root / "compress.json"
    try:
        if search_path.exists():
            report = {**report, "compress": json.loads(search_path.read_text("utf-8"))}
    except (OSError, ValueError, RecursionError):
        pass  # a broken search table must not cost the user the whole report
    atomic_write_json(ws.report_path, report)
    csv_path, html_path = ws.root / "report.csv", ws.root / "report.html"
    atomic_write_text(csv_path, to_csv(report))
    atomic_write_text(html_path, render_html(report, grids, ws.read_manifest(), sensitivity))
    return {"report": ws.rel(ws.report_path), "csv": ws.rel(csv_path), "html": ws.rel(html_path)}
