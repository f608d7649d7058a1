"""Unpaired translation (CycleGAN) on the bundled horse2zebra-28 through the product's own commands: the dense
translation's FID against real zebras vs the identity baseline's, then a channel-pruned A → B generator (≥ 8x fewer
MACs) fine-tuned by distillation, with and without the cycle term through the dense B → A generator.

Protocol. Data: horse2zebra-28 (700 horse and 700 zebra 28x28 silhouettes, unpaired); each set's test split is
every 10th image (70 + 70), never trained on. Dense: `gan-prune train --task unpaired --arch cyclegan --width W
--blocks K` (least squares, cycle λ 10, identity 0.5·λ, pool 50, Adam 2e-4 (0.5, 0.999)), batch 8, ONE CPU thread,
`--steps` steps. FID: `gan-prune evaluate`'s, translated test A vs real test B in a feature net learnt without
labels from 599 training images of both sets (32 features); the identity row scores the test horses as if they
were zebras. Three seeds of sampling: FID recomputed on three bootstrap resamples (seeds 0-2) of the 70 translated
and 70 real test images in the same feature net; mean and spread. Compression: `gan-prune prune --method channel-l1
--target-macs 0.125`, then `gan-prune finetune` (teacher L1 weighted by λ, feature adapters, no D step, Adam 4e-3
cosine) for `--finetune-steps`, once with `--cycle 0` and once with `--cycle C`; each evaluated the same way.
Writes bench/results/unpaired.json.

    nice -n 10 .venv/bin/python bench/unpaired.py [--steps 1500] [--finetune-steps 600] [--width 8] [--blocks 3]
                                                 [--workspace DIR] [--reuse]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.workspace import atomic_write_json  # noqa: E402

OUT = ROOT / "bench" / "results" / "unpaired.json"


def gan_prune(*args: str) -> float:
    """Run one gan-prune command (this checkout's engine, one thread); its wall seconds."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "engine.cli", *args, "--quiet"], check=True, env=env)
    return round(time.perf_counter() - t0, 1)


def bootstrap_fids(ws: Path, seeds: int = 3) -> dict:
    """FID of the dense, identity and any other checkpoint's translations on resamples of the test images."""
    import numpy as np
    import torch

    from engine.inputs import workspace_pairs
    from engine.metrics.feature_cache import feature_net_for
    from engine.metrics.feature_net import features
    from engine.metrics.quality import fid_from_features
    from engine.models import generator_from_checkpoint
    from engine.stages.evaluate.unpaired import feature_data
    from engine.workspace import Workspace

    w = Workspace(ws)
    dense = w.load_checkpoint("dense")
    src = workspace_pairs(w, dense)
    net, _ = feature_net_for(feature_data(src))
    a, b = src.images("A", "test"), src.images("B", "test")
    outs = {"identity": a}
    for name in ("dense", "finetuned"):
        if w.checkpoint_path(name).exists():
            with torch.no_grad():
                outs[name] = generator_from_checkpoint(w.load_checkpoint(name)).eval()(a)
    fb = features(net, b)
    result = {}
    for name, out in outs.items():
        fo, vals = features(net, out), []
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            i, j = rng.integers(0, len(fo), len(fo)), rng.integers(0, len(fb), len(fb))
            vals.append(fid_from_features(fb[j], fo[i]))
        result[name] = {"fids": [round(v, 3) for v in vals], "mean": round(float(np.mean(vals)), 3),
                        "sd": round(float(np.std(vals)), 3)}
    return result


def report_rows(ws: Path) -> dict:
    report = json.loads((ws / "report.json").read_text())
    keep = ("fid", "cycle_l1", "macs", "params", "psnr_vs_teacher", "ssim_vs_teacher")
    return {v["name"]: {k: v.get(k) for k in keep if v.get(k) is not None} for v in report["variants"]
            if v.get("status") == "ok"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--finetune-steps", type=int, default=600)
    ap.add_argument("--width", type=int, default=8)
    ap.add_argument("--blocks", type=int, default=3)
    ap.add_argument("--cycle", type=float, default=10.0)
    ap.add_argument("--workspace", default="/tmp/bench-unpaired")
    ap.add_argument("--reuse", action="store_true", help="keep a dense model already trained in WORKSPACE/dense")
    ap.add_argument("--train-seconds", type=float, help="with --reuse: the wall seconds that training took")
    args = ap.parse_args()
    root = Path(args.workspace)
    dense = root / "dense"
    result: dict = {"protocol": __doc__.split("Protocol. ")[1].split("Writes")[0].strip(),
                    "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores shared with "
                               "other jobs (load average above 5 during the run), one thread per command",
                    "settings": vars(args)}
    result["train_seconds"] = args.train_seconds
    if not (args.reuse and (dense / "checkpoints" / "dense.pt").exists()):
        shutil.rmtree(dense, ignore_errors=True)
        result["train_seconds"] = gan_prune("train", "--workspace", str(dense), "--task", "unpaired", "--dataset",
                                            "horse2zebra-28", "--width", str(args.width), "--blocks",
                                            str(args.blocks), "--steps", str(args.steps), "--batch-size", "8",
                                            "--threads", "1", "--sample-every", "250", "--checkpoint-every", "250")
    gan_prune("evaluate", "--workspace", str(dense), "--no-latency")
    result["dense"] = report_rows(dense)
    result["dense_bootstrap"] = bootstrap_fids(dense)
    for label, cycle in (("no_cycle", 0.0), ("cycle", args.cycle)):
        ws = root / label
        shutil.rmtree(ws, ignore_errors=True)
        shutil.copytree(dense, ws, ignore=shutil.ignore_patterns("*.lock", ".lock"))
        result[f"prune_seconds_{label}"] = gan_prune("prune", "--workspace", str(ws), "--method", "channel-l1",
                                                     "--target-macs", "0.125")
        result[f"finetune_seconds_{label}"] = gan_prune("finetune", "--workspace", str(ws), "--steps",
                                                        str(args.finetune_steps), "--batch-size", "8", "--cycle",
                                                        str(cycle), "--probe-every", "100")
        gan_prune("evaluate", "--workspace", str(ws), "--no-latency")
        result[label] = {"cycle_weight": cycle, **report_rows(ws), "bootstrap": bootstrap_fids(ws)}
        print(label, json.dumps(result[label]), flush=True)
    d = result["dense"]
    result["summary"] = {
        "identity_fid": d["identity"]["fid"], "dense_fid": d["dense"]["fid"],
        "dense_below_identity": round(1 - d["dense"]["fid"] / d["identity"]["fid"], 3),
        **{f"{k}_fid": result[k]["finetuned"]["fid"] for k in ("no_cycle", "cycle")},
        **{f"{k}_macs_ratio": round(d["dense"]["macs"] / result[k]["finetuned"]["macs"], 2)
           for k in ("no_cycle", "cycle")}}
    atomic_write_json(OUT, result)
    print(json.dumps(result["summary"], indent=1))


if __name__ == "__main__":
    main()
