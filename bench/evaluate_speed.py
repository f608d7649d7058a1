"""Evaluation time per variant: a DCGAN workspace (dense, 50% channel-pruned, fp32 + int8 ONNX) evaluated with
5,000 samples (the default), one seed, latency on. Prints seconds per variant and writes
bench/results/evaluate_speed.json. The target is <= 60 s per variant on 2 cores.

    .venv/bin/python bench/evaluate_speed.py [--samples 5000] [--threads 2] [--workspace DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.config import DataConfig, ModelConfig, PipelineConfig, TrainConfig  # noqa: E402
from engine.events import CancelToken, Log  # noqa: E402
from engine.pipeline import save_config  # noqa: E402
from engine.stages.evaluate.run import EvaluateConfig, run_evaluate  # noqa: E402
from engine.workspace import Workspace, atomic_write_json  # noqa: E402


def make_workspace(path: Path) -> Workspace:
    """A 20-step DCGAN, pruned by half its channels and exported as fp32 + int8 (timing, not quality)."""
    from engine.stages.export.run import ExportConfig, run_export
    from engine.stages.prune.config import PruneConfig
    from engine.stages.prune.run import run_prune
    from engine.stages.train.run import run_train

    ws = Workspace(path)
    cfg = PipelineConfig(data=DataConfig("mnist-5k"), model=ModelConfig(arch="dcgan"),
                         train=TrainConfig(steps=20, batch_size=64, sample_every=20, checkpoint_every=20,
                                           device="cpu"))
    save_config(ws, cfg)
    cancel = CancelToken()
    for stage in (run_train(cfg, ws, cancel),
                  run_prune(PruneConfig(method="channel-l1", amount=0.5, device="cpu"), ws, cancel),
                  run_export(ExportConfig(precisions=("fp32", "int8"), calibration=64, bench_runs=3), ws, cancel)):
        for _ in stage:
            pass
    return ws


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=5000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workspace", default=None, help="evaluate this workspace instead of building one")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(args.workspace) if args.workspace else make_workspace(Path(tmp) / "ws")
        t0 = time.perf_counter()
        for e in run_evaluate(EvaluateConfig(samples=args.samples, threads=args.threads), ws, CancelToken()):
            if isinstance(e, Log):
                print(e.message, flush=True)
        total = time.perf_counter() - t0
        report = json.loads(ws.report_path.read_text("utf-8"))
    per_variant = {v["name"]: {"seconds": v["seconds"], "seconds_quality": v["seconds_quality"],
                               "macs": v["macs"], "fid": v["fid"]} for v in report["variants"]}
    result = {"samples": args.samples, "threads": args.threads, "cpu_count": os.cpu_count(),
              "machine": platform.processor() or platform.machine(), "torch": torch.__version__,
              "total_seconds": round(total, 1), "variants": per_variant,
              "worst_variant_seconds": max(v["seconds"] for v in per_variant.values()),
              "note": "seconds = quality on all samples + latency (20 runs at batch 1 and 64); real-image features are "
                      "computed once and are in total_seconds only"}
    for name, v in per_variant.items():
        print(f"{name:>12}: {v['seconds']:6.1f} s (quality {v['seconds_quality']:.1f} s), MACs {v['macs']:,}")
    print(f"total {total:.1f} s for {len(per_variant)} variants, {args.samples} samples, {args.threads} threads")
    out = ROOT / "bench" / "results" / "evaluate_speed.json"
    atomic_write_json(out, result)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
