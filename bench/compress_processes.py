"""`gan-prune compress` on one process vs several (one candidate per process each round), same time budget.

Each setting runs the real command line (`--nproc-per-node N` goes through torchrun) on a fresh copy of the bundled
DCGAN, with the same quality budget and minutes. Reported per setting: rounds, candidates tried, the student steps
all candidates got together (the work done), the winner's MACs reduction and probe FID rise (the search's own
yardstick: 5,000 held-out latents vs 5,000 real), and the winner's full-protocol domain-FID ratio to the dense model
(`gan-prune evaluate`: --samples generated vs real, --seeds seeds, mean ± std). Writes
bench/results/compress_processes.json.

    .venv/bin/python bench/compress_processes.py [--minutes 6] [--settings 1x1,1x2,2x1] [--seeds 3]

A setting PxT is P processes with T torch threads each (1x2: one process using both cores of this machine).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.pipeline import open_demo_workspace  # noqa: E402
from engine.workspace import atomic_write_json  # noqa: E402


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            kids = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        out += [int(k) for k in kids]
        todo += [int(k) for k in kids]
    return out


def _boost(pid: int, stop: threading.Event, nice: int) -> None:
    """Linux schedules each session (autogroup) fairly, and torchrun starts every process in a session of its own:
    give the measured processes the bench's priority so other work on a shared machine disturbs them less."""
    while not stop.wait(1.0):
        for p in [pid, *_descendants(pid)]:
            with contextlib.suppress(OSError):
                Path(f"/proc/{p}/autogroup").write_text(str(nice))


def run_setting(ws_root: Path, processes: int, threads: int, args) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "engine.cli", "compress", "-w", str(ws_root), "--max-fid-rise",
           str(args.max_fid_rise), "--time-budget", str(args.minutes), "--device", "cpu", "-q"]
    if processes > 1:
        cmd += ["--nproc-per-node", str(processes)]
    load0, t0 = os.getloadavg()[0], time.perf_counter()
    child = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stop = threading.Event()
    if args.boost is not None:
        threading.Thread(target=_boost, args=(child.pid, stop, args.boost), daemon=True).start()
    out, err = child.communicate()
    stop.set()
    done = subprocess.CompletedProcess(cmd, child.returncode, out, err)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"compress {processes}x{threads} failed ({done.returncode}): {done.stderr[-2000:]}")
    search = json.loads((ws_root / "compress.json").read_text())
    steps = sum(c["steps"] for c in search["candidates"])
    best = search["best"] or {}
    return {"processes": processes, "threads_each": threads, "wall_seconds": round(wall, 1),
            "load_before": round(load0, 2), "load_after": round(os.getloadavg()[0], 2),
            "rounds": search.get("rounds"), "candidates_tried": len(search["candidates"]),
            "student_steps_total": steps, "student_steps_per_second": round(steps / search["seconds"], 2),
            "winner_reduction_asked": best.get("reduction"),
            "winner_macs_reduction": round(search["dense_macs"] / best["macs"], 2) if best else None,
            "winner_probe_fid_rise": best.get("fid_rise"), "winner_steps": best.get("steps"),
            "tries": [f"{c['reduction']:g}x r{c['round']} p{c['process']}: {c['fid_rise']:+.1%} "
                      f"({c['steps']} steps){' kept' if c['feasible'] else ''}" for c in search["candidates"]],
            "search": search}


def evaluate(ws_root: Path, args) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "2"}
    cmd = [sys.executable, "-m", "engine.cli", "evaluate", "-w", str(ws_root), "--samples", str(args.samples),
           "--seeds", str(args.seeds), "--no-latency", "-q"]
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": done.stderr[-500:]}
    report = json.loads((ws_root / "report.json").read_text())
    v = {x["name"]: x for x in report["variants"]}
    dense, student = v.get("dense", {}), v.get("finetuned", {})
    ratio = student["fid"] / dense["fid"] if dense.get("fid") and student.get("fid") else None
    return {"fid_dense": dense.get("fid"), "fid_dense_std": dense.get("fid_std"), "fid_winner": student.get("fid"),
            "fid_winner_std": student.get("fid_std"), "fid_ratio": round(ratio, 4) if ratio else None}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--minutes", type=float, default=6.0)
    p.add_argument("--max-fid-rise", type=float, default=0.10)
    p.add_argument("--settings", default="1x1,1x2,2x1", help="PxT,... (P processes with T threads each)")
    p.add_argument("--samples", type=int, default=5000)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--no-evaluate", action="store_true")
    p.add_argument("--boost", type=int, default=None, metavar="NICE",
                   help="Linux: set the autogroup nice of every measured process (e.g. -10) on a shared machine")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "compress_processes.json"))
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for setting in args.settings.split(","):
            procs, threads = (int(x) for x in setting.split("x"))
            ws = open_demo_workspace(Path(tmp) / f"ws-{setting}", model="dcgan-mnist5k.pt")
            print(f"compress on {procs} process(es) x {threads} thread(s), {args.minutes} min ...", flush=True)
            row = run_setting(ws.root, procs, threads, args)
            print(json.dumps({k: v for k, v in row.items() if k != "search"}, indent=1), flush=True)
            if not args.no_evaluate and row["winner_reduction_asked"]:
                row["evaluate"] = evaluate(ws.root, args)
                print(json.dumps(row["evaluate"]), flush=True)
            rows.append(row)
            atomic_write_json(args.out, {"settings": rows, "pending": "later settings"})
    base = rows[0]
    for r in rows:
        r["steps_vs_first"] = round(r["student_steps_total"] / max(1, base["student_steps_total"]), 3)
    result = {"protocol": f"gan-prune compress --max-fid-rise {args.max_fid_rise} --time-budget {args.minutes} on "
                          "the bundled DCGAN (mnist-5k), one fresh workspace per setting, run one after another; "
                          "probe FID: 5,000 held-out latents vs 5,000 real (the search's yardstick); winner "
                          f"evaluated by 'gan-prune evaluate' on {args.samples} vs {args.samples}, {args.seeds} "
                          "seeds (mean ± std), bundled digit-classifier features",
              "settings": rows, "args": vars(args),
              "priority": "autogroup nice " + (str(args.boost) if args.boost is not None else "unchanged"),
              "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()}}
    atomic_write_json(args.out, result)
    for r in rows:
        ev = r.get("evaluate") or {}
        print(f"{r['processes']}x{r['threads_each']}: {r['rounds']} rounds, {r['candidates_tried']} tries, "
              f"{r['student_steps_total']} steps ({r['steps_vs_first']}x the first), winner "
              f"{r['winner_macs_reduction']}x at probe {r['winner_probe_fid_rise']}, FID ratio {ev.get('fid_ratio')}")


if __name__ == "__main__":
    main()
