"""`gan-prune compress` on a bundled GAN, judged by the issue's protocol.

Runs the search (quality budget, time budget) on the bundled model, exports the winner (fp32, int8) and the dense
model, and evaluates every variant on N generated vs N real images over K seeds (domain-FID mean ± std, class
histogram, ORT latency). Reports the MACs reduction, the FID ratio winner/dense, whether the search kept its time
budget, and the compressed-int8 vs dense-fp32 ONNX throughput at batch 1 and 64. Writes bench/results/compress.json.

    .venv/bin/python bench/compress.py [--model dcgan|mlp] [--minutes 15] [--max-fid-rise 0.10] [--samples 5000]
                                       [--seeds 3] [--target-macs R] [--threads 1]
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.events import CancelToken, Log  # noqa: E402
from engine.pipeline import open_demo_workspace  # noqa: E402
from engine.stages.compress.config import CompressConfig  # noqa: E402
from engine.stages.compress.run import run_compress  # noqa: E402
from engine.stages.evaluate.run import EvaluateConfig, run_evaluate  # noqa: E402
from engine.stages.export.run import ExportConfig, run_export  # noqa: E402
from engine.workspace import atomic_write_json  # noqa: E402

MODELS = {"dcgan": "dcgan-mnist5k.pt", "mlp": "mlp-mnist5k.pt"}


def drive(events, echo: bool = True) -> None:
    for e in events:
        if echo and isinstance(e, Log):
            print(f"  {e.message}", flush=True)


def variant(report: dict, name: str) -> dict | None:
    return next((v for v in report["variants"] if v["name"] == name), None)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", choices=sorted(MODELS), default="dcgan")
    p.add_argument("--minutes", type=float, default=15.0)
    p.add_argument("--max-fid-rise", type=float, default=0.10)
    p.add_argument("--target-macs", type=float, default=None)
    p.add_argument("--samples", type=int, default=5000)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch threads for the search (2-core machine: 1 measured "
                                                          "fastest for these small models)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "compress.json"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        ws = open_demo_workspace(Path(tmp) / "ws", model=MODELS[args.model])
        cfg = CompressConfig(max_fid_rise=args.max_fid_rise, time_budget=args.minutes, target_macs=args.target_macs)
        t0 = time.perf_counter()
        print(f"compress: {args.model}, budget {args.minutes} min, max FID rise {args.max_fid_rise}", flush=True)
        drive(run_compress(cfg, ws, CancelToken()))
        search_s = time.perf_counter() - t0
        search = json.loads((ws.root / "compress.json").read_text())
        atomic_write_json(args.out, {"search": search, "search_seconds": round(search_s, 1),
                                     "pending": "the evaluation of the winner (this file is replaced when it ends)"})
        if search["best"] is None:
            print("no candidate kept quality; nothing to evaluate")
            result = {"search": search, "search_seconds": round(search_s, 1)}
        else:
            drive(run_export(ExportConfig(precisions=("fp32", "int8")), ws, CancelToken()), echo=False)
            dense_ws = open_demo_workspace(Path(tmp) / "dense", model=MODELS[args.model])
            drive(run_export(ExportConfig(precisions=("fp32",)), dense_ws, CancelToken()), echo=False)
            t1 = time.perf_counter()
            drive(run_evaluate(EvaluateConfig(samples=args.samples, seeds=args.seeds), ws, CancelToken()))
            report = json.loads(ws.report_path.read_text())
            result = summarize(report, search, search_s, time.perf_counter() - t1)
            result["onnx"] = onnx_speed(dense_ws.export_dir / "generator.onnx", ws.export_dir)
    result.update({"protocol": f"domain-FID on {args.samples} generated vs {args.samples} real, {args.seeds} seeds "
                               "(mean ± std), bundled digit-classifier features; latency: ONNX Runtime medians",
                   "args": vars(args), "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                                                   "torch": torch.__version__}})
    atomic_write_json(args.out, result)
    print(json.dumps({k: v for k, v in result.items() if k not in ("search", "variants")}, indent=1))


def summarize(report: dict, search: dict, search_s: float, eval_s: float) -> dict:
    dense, student = variant(report, "dense"), variant(report, "finetuned")
    fid = lambda v: (v or {}).get("fid")
    out = {"macs_reduction": round(dense["macs"] / student["macs"], 2),
           "params_reduction": round(dense["params"] / student["params"], 2),
           "fid_dense": fid(dense), "fid_dense_std": dense.get("fid_std"),
           "fid_compressed": fid(student), "fid_compressed_std": student.get("fid_std"),
           "fid_ratio": round(fid(student) / fid(dense), 4) if fid(dense) and fid(student) else None,
           "class_histogram_dense": dense.get("class_histogram"),
           "class_histogram_compressed": student.get("class_histogram"),
           "search_seconds": round(search_s, 1), "budget_seconds": search["time_budget_min"] * 60,
           "within_time_budget": search_s <= search["time_budget_min"] * 60,
           "evaluate_seconds": round(eval_s, 1), "search": search,
           "variants": [{k: v.get(k) for k in ("name", "macs", "params", "fid", "fid_std", "latency_ms")}
                        for v in report["variants"]]}
    return out


def ort_ms(path: Path, batch: int, threads: int, runs: int = 30) -> float:
    """Median ms per call of an exported generator in ONNX Runtime (after warm-up)."""
    import numpy as np
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    dim = sess.get_inputs()[0].shape[1]
    z = np.random.default_rng(0).standard_normal((batch, dim)).astype(np.float32)
    for _ in range(3):
        sess.run(None, {"z": z})
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, {"z": z})
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2] * 1000


def onnx_speed(dense_fp32: Path, export_dir: Path) -> dict:
    """Dense fp32 vs the compressed fp32 and int8 files, batch 1 and 64, at 1 and 2 threads; ratios at the best
    thread count of each file (ORT with 2 threads was slower than 1 on these 2-core machines)."""
    files = {"dense_fp32": dense_fp32, "compressed_fp32": export_dir / "generator.onnx",
             "compressed_int8": export_dir / "generator.int8.onnx"}
    ms = {name: {f"b{b}_t{t}": round(ort_ms(f, b, t), 4) for b in (1, 64) for t in (1, 2)}
          for name, f in files.items() if f.exists()}
    out: dict = {"ms": ms}
    for b in (1, 64):
        best = {n: min((v[f"b{b}_t{t}"], t) for t in (1, 2)) for n, v in ms.items()}
        out[f"best_threads_b{b}"] = {n: t for n, (_, t) in best.items()}
        for n in ("compressed_fp32", "compressed_int8"):
            if n in best:
                out[f"{n}_vs_dense_fp32_b{b}"] = round(best["dense_fp32"][0] / best[n][0], 2)
    return out


if __name__ == "__main__":
    main()
