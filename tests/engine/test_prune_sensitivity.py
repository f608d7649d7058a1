"""Sensitivity scan files, and --target-macs choosing per-layer amounts that meet the MACs budget."""

import csv
import json

from engine.events import CancelToken, Log
from engine.prune.sensitivity import allocate
from engine.stages.prune.config import PruneConfig
from engine.stages.prune.run import run_prune
from engine.stages.sensitivity.config import SensitivityConfig
from engine.stages.sensitivity.run import run_sensitivity
from tests.engine.tiny import dense_dcgan_workspace


def _workspace(path):
    return dense_dcgan_workspace(path)


def test_scan_writes_json_and_csv_with_psnr_falling_as_amount_grows(tmp_path):
    ws = _workspace(tmp_path / "ws")
    list(run_sensitivity(SensitivityConfig(amounts=(0.25, 0.75)), ws, CancelToken()))
    result = json.loads((ws.root / "sensitivity.json").read_text())
    rows = list(csv.DictReader((ws.root / "sensitivity.csv").open()))
    assert {r["layer"] for r in rows} == {"net.0", "net.3"} and len(rows) == len(result["rows"]) == 4
    for layer in ("net.0", "net.3"):
        low, high = [r for r in result["rows"] if r["layer"] == layer]
        assert low["psnr"] > high["psnr"] and low["macs"] > high["macs"]


def test_greedy_allocation_prefers_the_cheap_layer():
    rows = [{"layer": "a", "amount": 0.5, "psnr": 40.0, "macs": 60}, {"layer": "b", "amount": 0.5, "psnr": 20.0,
                                                                      "macs": 60}]
    amounts, info = allocate(rows, 100, 0.7)
    assert amounts == {"a": 0.5} and info["reached"]


def test_target_macs_meets_the_budget_and_says_what_it_chose(tmp_path):
    ws = _workspace(tmp_path / "ws")
    logs = [e.message for e in run_prune(PruneConfig(target_macs=0.3), ws, CancelToken()) if isinstance(e, Log)]
    rec = ws.read_manifest()["pruning"][-1]
    assert rec["macs_after"]["g"] <= 0.3 * rec["macs_before"]["g"]
    assert rec["amounts"]["g"] and any("chose" in m for m in logs)
    assert (ws.root / "sensitivity.json").exists()
