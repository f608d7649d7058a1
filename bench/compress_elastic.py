"""`gan-prune compress` by the elastic search vs by trials, side by side on a busy machine.

Both searches run at the same time, each in its own process on one torch thread, from copies of the bundled DCGAN:
each one keeps a core busy for the other (the issue's "one core kept busy by another process"; other work on the
machine comes on top, and the load average is recorded every 15 s). Each winner is then judged by the issue's
protocol (bench/compress.py: domain-FID 5,000 vs 5,000 over 3 seeds, ONNX Runtime speed of int8 vs dense fp32).
Writes bench/results/compress_elastic.json and prints one table.

    .venv/bin/python bench/compress_elastic.py [--minutes 15] [--max-fid-rise 0.10] [--searches elastic trials]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _bench_compress():
    spec = importlib.util.spec_from_file_location("bench_compress", ROOT / "bench" / "compress.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_one(search: str, args, out: Path) -> None:
    """One search on a fresh copy of the bundled model, judged by bench/compress.py's protocol."""
    import torch

    from engine.events import CancelToken
    from engine.pipeline import open_demo_workspace
    from engine.stages.compress.config import CompressConfig
    from engine.stages.compress.run import run_compress
    from engine.stages.evaluate.run import EvaluateConfig, run_evaluate
    from engine.stages.export.run import ExportConfig, run_export

    bc = _bench_compress()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        ws = open_demo_workspace(Path(tmp) / "ws", model=bc.MODELS["dcgan"])
        cfg = CompressConfig(max_fid_rise=args.max_fid_rise, time_budget=args.minutes, search=search)
        t0 = time.perf_counter()
        bc.drive(run_compress(cfg, ws, CancelToken()))
        search_s = time.perf_counter() - t0
        found = json.loads((ws.root / "compress.json").read_text())
        result = {"search": found, "search_seconds": round(search_s, 1)}
        if found["best"] is not None:
            bc.drive(run_export(ExportConfig(precisions=("fp32", "int8")), ws, CancelToken()), echo=False)
            dense_ws = open_demo_workspace(Path(tmp) / "dense", model=bc.MODELS["dcgan"])
            bc.drive(run_export(ExportConfig(precisions=("fp32",)), dense_ws, CancelToken()), echo=False)
            t1 = time.perf_counter()
            bc.drive(run_evaluate(EvaluateConfig(samples=args.samples, seeds=args.seeds), ws, CancelToken()))
            report = json.loads(ws.report_path.read_text())
            result = bc.summarize(report, found, search_s, time.perf_counter() - t1)
            result["onnx"] = bc.onnx_speed(dense_ws.export_dir / "generator.onnx", ws.export_dir)
    out.write_text(json.dumps(result))


def row(search: str, r: dict) -> dict:
    s = r.get("search", {})
    best = s.get("best") or {}
    return {"search": search, "macs_reduction": r.get("macs_reduction"), "fid_ratio": r.get("fid_ratio"),
            "fid_dense": r.get("fid_dense"), "fid_compressed": r.get("fid_compressed"),
            "fid_compressed_std": r.get("fid_compressed_std"), "probe_fid_rise": best.get("fid_rise"),
            "widths": best.get("widths"), "search_seconds": r.get("search_seconds"),
            "within_time_budget": r.get("within_time_budget"), "candidates": len(s.get("candidates", [])),
            "elastic_steps": s.get("elastic_steps"),
            "int8_vs_dense_fp32_b64": (r.get("onnx") or {}).get("compressed_int8_vs_dense_fp32_b64"),
            "int8_vs_dense_fp32_b1": (r.get("onnx") or {}).get("compressed_int8_vs_dense_fp32_b1")}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--minutes", type=float, default=15.0)
    p.add_argument("--max-fid-rise", type=float, default=0.10)
    p.add_argument("--samples", type=int, default=5000)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--searches", nargs="+", default=["elastic", "trials"])
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "compress_elastic.json"))
    p.add_argument("--one", help=argparse.SUPPRESS)  # internal: run this search alone, write --part
    p.add_argument("--part", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        return run_one(args.one, args, Path(args.part))
    parts = {s: Path(tempfile.mkstemp(suffix=f"-{s}.json")[1]) for s in args.searches}
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    base = [sys.executable, __file__, "--minutes", str(args.minutes), "--max-fid-rise", str(args.max_fid_rise),
            "--samples", str(args.samples), "--seeds", str(args.seeds)]
    t0, load = time.perf_counter(), []
    procs = {s: subprocess.Popen([*base, "--one", s, "--part", str(f)], env=env) for s, f in parts.items()}
    while any(pr.poll() is None for pr in procs.values()):
        load.append({"t": round(time.perf_counter() - t0), "loadavg_1min": round(os.getloadavg()[0], 2)})
        time.sleep(15)
    results = {s: json.loads(f.read_text() or "{}") for s, f in parts.items()}
    table = [row(s, r) for s, r in results.items()]
    searching = [x["loadavg_1min"] for x in load if x["t"] <= args.minutes * 60]
    out = {"protocol": f"bundled DCGAN, compress --max-fid-rise {args.max_fid_rise} --time-budget {args.minutes}; "
                       f"the searches run at the same time, one torch thread each (each keeps a core busy for the "
                       f"other); winners judged by domain-FID {args.samples} vs {args.samples} over {args.seeds} "
                       "seeds (bundled digit-classifier features) and ONNX Runtime medians",
           "table": table, "load_average": {"during_search_mean": round(sum(searching) / max(1, len(searching)), 2),
                                            "during_search_max": max(searching, default=None), "samples": load},
           "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
           "runs": results, "seconds": round(time.perf_counter() - t0, 1)}
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"{'search':8} {'MACs x':>7} {'FID ratio':>9} {'probe rise':>10} {'widths':>10} {'search s':>8}")
    for r in table:
        print(f"{r['search']:8} {r['macs_reduction'] or 0:7.1f} {r['fid_ratio'] or 0:9.3f} "
              f"{r['probe_fid_rise'] or 0:+10.1%} {str(r['widths']):>10} {r['search_seconds'] or 0:8.0f}")
    print(f"load average during the search: mean {out['load_average']['during_search_mean']}, "
          f"max {out['load_average']['during_search_max']}")


if __name__ == "__main__":
    main()
