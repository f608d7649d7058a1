"""Latency in torch and ONNX Runtime at batch 1 and 64: positive medians under the contract's key names."""

import torch

from engine.metrics import latency
from engine.models import build_generator, default_specs
from tests.engine.evaluate_workspace import mlp_to_onnx


def test_torch_and_ort_latency_at_batch_1_and_64(tmp_path):
    gspec, _ = default_specs("mlp", (1, 28, 28), latent_dim=16)
    gspec["widths"] = [32, 64]
    G = build_generator(gspec).eval()
    before = torch.get_num_threads()
    t = latency.torch_latency(G, runs=3, warmup=1, threads=1)
    assert set(t) == {"torch_b1", "torch_b64"} and all(0 < v < 1000 for v in t.values())  # ms, a 3k-param MLP
    assert torch.get_num_threads() == before  # the thread count is restored
    session = latency.ort_session(mlp_to_onnx(G, tmp_path / "g.onnx"), threads=1)
    o = latency.ort_latency(session, 16, runs=3, warmup=1)
    assert set(o) == {"ort_b1", "ort_b64"} and all(0 < v < 1000 for v in o.values())
    assert set(latency.empty_latency()) == set(t) | set(o) | {"threads"}
    fastest = latency.ort_latency_fastest(tmp_path / "g.onnx", 16, runs=3, threads=2)  # a count asked for is kept
    assert set(fastest) == {"ort_b1", "ort_b64", "threads"} and fastest["threads"] == 2


def test_median_is_the_middle_timed_run_in_milliseconds():
    import time

    ms = latency.median_ms(lambda: time.sleep(0.005), runs=5, warmup=1)
    assert 5.0 <= ms < 50.0  # a 5 ms sleep; the upper bound only allows for a loaded machine


def test_median_stops_at_the_time_cap():
    calls = []
    ms = latency.median_ms(lambda: calls.append(1), runs=10**6, warmup=0, max_seconds=0.0)
    assert len(calls) == latency.MIN_RUNS and ms >= 0
