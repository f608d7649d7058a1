"""Training throughput on 1 and 2 CPU processes (Gloo) through the real CLI: DCGAN on mnist-5k at global batch 64,
and image-to-image (superres x4, 7x7 → 28x28 digits, the default U-Net + PatchGAN) at global batch 32.

Protocol: each configuration runs `gan-prune train --steps S` as a fresh command (2 processes: re-launched through
torch.distributed.run); rank 0 streams its per-step metrics (--events); samples/s is the median of the per-step
rates after the first W steps (start-up, first-touch allocations). Configurations alternate, R rounds, the best
round of each is kept (other programs share these cores). One thread per process. Scaling efficiency =
samples/s on 2 processes / (2 x samples/s on 1 process of 1 thread); the 1-process-2-threads run says what one
process makes of the same two cores. The load average before and after is recorded: it bounds what 2 cores give.
Writes bench/results/distributed.json (the DCGAN at the top level, superres under "image_to_image"; a workload
not run this time keeps its earlier numbers there).

    .venv/bin/python bench/distributed.py [--steps 40] [--warmup 8] [--rounds 2] [--workloads dcgan superres]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.workspace import atomic_write_json  # noqa: E402

CONFIGS = {"1 process, 1 thread": (1, 1), "1 process, 2 threads": (1, 2), "2 processes, 1 thread each": (2, 1)}
# workload: (its train flags, global batch, what the JSON says about it)
WORKLOADS = {
    "dcgan": (["--arch", "dcgan"], 64, {"arch": "dcgan", "dataset": "mnist-5k"}),
    "superres": (["--task", "superres", "--scale", "4", "--arch", "unet"], 32,
                 {"task": "superres x4 (7x7 -> 28x28)", "arch": "unet + PatchGAN", "dataset": "mnist-5k"}),
}


def one_run(workload: str, nproc: int, threads: int, steps: int, warmup: int) -> dict:
    flags, batch, _ = WORKLOADS[workload]
    with tempfile.TemporaryDirectory() as tmp:
        events = Path(tmp) / "events.jsonl"
        cmd = [sys.executable, "-m", "engine.cli", "train", "-w", str(Path(tmp) / "ws"), "--dataset", "mnist-5k",
               *flags, "--steps", str(steps), "--batch-size", str(batch), "--device", "cpu",
               "--sample-every", str(10**6), "--checkpoint-every", str(10**6), "--threads", str(threads),
               "--nproc-per-node", str(nproc), "--events", str(events), "-q"]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(threads)}
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, cwd=ROOT, check=True)
        wall = time.perf_counter() - t0
        rates = [json.loads(x)["values"]["samples_per_s"] for x in events.read_text().splitlines()
                 if '"Metrics"' in x]
    return {"samples_per_s": statistics.median(rates[warmup:]), "command_seconds": round(wall, 2)}


def measure(workload: str, args) -> dict:
    """Every configuration of one workload, alternating, R rounds; the best round of each."""
    runs: dict[str, list[dict]] = {name: [] for name in CONFIGS}
    for r in range(args.rounds):
        for name, (nproc, threads) in CONFIGS.items():
            runs[name].append(one_run(workload, nproc, threads, args.steps, args.warmup))
            print(f"{workload} round {r + 1}: {name}: {runs[name][-1]}", flush=True)
    best = {name: max(rs, key=lambda x: x["samples_per_s"]) for name, rs in runs.items()}
    one, two = best["1 process, 1 thread"]["samples_per_s"], best["2 processes, 1 thread each"]["samples_per_s"]
    _, batch, about = WORKLOADS[workload]
    return {
        **about, "global_batch": batch,
        "steps": args.steps, "warmup_steps": args.warmup, "rounds": args.rounds, "backend": "gloo (CPU)",
        "samples_per_s": {name: round(b["samples_per_s"], 1) for name, b in best.items()},
        "command_seconds": {name: b["command_seconds"] for name, b in best.items()},
        "speedup_2_processes": round(two / one, 3),
        "scaling_efficiency": round(two / (2 * one), 3),
        "all_runs": runs,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    args = ap.parse_args()
    out = ROOT / "bench" / "results" / "distributed.json"
    result = json.loads(out.read_text()) if out.exists() else {}
    result["benchmark"] = "distributed"
    for workload in args.workloads:
        load_before = os.getloadavg()
        measured = measure(workload, args)
        measured.update({"load_average_before": [round(x, 2) for x in load_before],
                         "load_average_after": [round(x, 2) for x in os.getloadavg()], "niced": os.nice(0) > 0})
        if workload == "dcgan":
            result.update(measured)
        else:
            result["image_to_image"] = measured
        print(json.dumps({k: measured[k] for k in ("samples_per_s", "speedup_2_processes", "scaling_efficiency",
                                                   "load_average_before", "load_average_after")}, indent=1))
    result.update({"cpus": os.cpu_count(), "machine": platform.machine(),
                   "gpu": "none lent to this task: the NCCL path was not run"})
    atomic_write_json(out, result)


if __name__ == "__main__":
    main()
