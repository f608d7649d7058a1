"""report.json keeps the contract's keys; report.html is one self-contained file (inline SVG, base64 PNG)."""

import csv
import io
import json
import re

import torch

from engine.metrics.report import CONTRACT_KEYS
from tests.engine.evaluate_workspace import evaluated_copy


def test_report_json_has_the_contract_keys(tmp_path):
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ws, _ = evaluated_copy(tmp_path)
    finally:
        torch.set_num_threads(n)
    report = json.loads(ws.report_path.read_text("utf-8"))
    assert {"variants", "feature_net", "seed", "device"} <= set(report)
    assert report["feature_net"].startswith("digit-cnn") and report["seed"] == 0 and "CPU" in report["device"]
    for v in report["variants"]:
        assert set(CONTRACT_KEYS) <= set(v)
        assert set(v["latency_ms"]) == {"torch_b1", "torch_b64", "ort_b1", "ort_b64", "threads"}
        assert isinstance(v["params"], int) and isinstance(v["macs"], int) and isinstance(v["file_bytes"], int)
        assert isinstance(v["fid"], float) and isinstance(v["psnr_vs_teacher"], float)
    rows = list(csv.DictReader(io.StringIO((ws.root / "report.csv").read_text("utf-8"))))
    assert [r["name"] for r in rows] == [v["name"] for v in report["variants"]]
    assert float(rows[0]["fid"]) == report["variants"][0]["fid"]


def test_report_html_is_self_contained(tmp_path):
    ws, _ = evaluated_copy(tmp_path)
    html = (ws.root / "report.html").read_text("utf-8")
    report = json.loads(ws.report_path.read_text("utf-8"))
    refs = re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]+)""", html, flags=re.I)
    assert refs and all(r.startswith("data:image/png;base64,") for r in refs)
    assert not re.search(r"https?://", html) and "<script" not in html and "<link" not in html
    # a grid per variant on the same latents, both Pareto charts, the pruning widths and the sensitivity curves
    assert len(refs) == len(report["variants"]) == 4
    for title in ("Quality vs MACs", "Quality vs latency", "Generator widths before and after pruning",
                  "Per-layer sensitivity", "Class coverage"):
        assert f"<title>{title}</title>" in html
    assert "No zero weights" in html  # channel pruning: the sparsity chart gives way to a sentence
    for v in report["variants"]:
        assert f"<figcaption>{v['name']}</figcaption>" in html
        assert f"{v['seconds']:.1f} s" in html  # the time per variant is printed


def test_pareto_front_keeps_only_unbeaten_variants():
    from engine.metrics.charts import pareto_front, scatter

    points = [("dense", 100.0, 10.0), ("pruned", 40.0, 12.0), ("bad", 60.0, 15.0), ("tiny", 10.0, 30.0)]
    assert [p[0] for p in pareto_front(points)] == ["tiny", "pruned", "dense"]
    svg = scatter(points, "MACs", "FID", "Quality vs MACs")
    assert svg.count("<circle") == 4 and "<polyline" in svg
