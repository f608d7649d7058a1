"""Sensitivity scan files, and --target-macs choosing per-layer amounts that meet the MACs budget."""

import csv
import json

import pytest
import torch

from engine.events import CancelToken, Log
from engine.prune import PruneConfig, run_prune
from engine.prune.sensitivity import SensitivityConfig, allocate, run_sensitivity
from engine.workspace import Workspace


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """On a busy 2-core machine torch's thread pool spin-waits: one thread runs these tiny models ~100x faster."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _workspace(path):
    from engine.models import build_pair, default_specs

    ws = Workspace(path)
    torch.manual_seed(0)
    gspec, dspec = default_specs("dcgan", (1, 28, 28), latent_dim=16)
    gspec["widths"], dspec["widths"] = [32, 16], [16, 32]
    G, D = build_pair({"generator": gspec, "discriminator": dspec})
    ws.save_checkpoint("dense", {"arch": {"generator": gspec, "discriminator": dspec}, "generator": G.state_dict(),
                                 "discriminator": D.state_dict(), "step": 0, "data": {"dataset": "mnist-5k"}})
    ws.update_stage("train", status="done", checkpoint="checkpoints/dense.pt")
    return ws


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
