"""int8 vs fp32 ONNX Runtime throughput: the bundled DCGAN and a channel-pruned copy with ~18x fewer MACs.

For each generator it exports what `gan-prune export` writes — fp32 (ConvTranspose form), and int8 (static QDQ
of the sub-pixel form) — plus the fp32 sub-pixel form for reference, and times every file at batch 1 and 64 on
every thread count engine.ondevice.threads tries (1..N). Variants and thread counts are timed in interleaved
rounds (other jobs share the machine: a burst of load hits all of them alike); each number is the median over
rounds of per-round medians. Reports int8 vs fp32 on the same generator, the best thread count of each file,
and the compressed-int8 vs dense-fp32 ratio, each at its own best thread count. Also checks the int8 graph ORT
runs has no stand-alone Quantize/Dequantize (engine.export.graph.stray_qdq). Writes bench/results/int8.json.

The pruned copy is not fine-tuned: speed does not depend on the weights' values.

    .venv/bin/python bench/int8.py [--runs 10] [--rounds 5] [--target-macs 18]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.export.graph import optimized_graph, stray_qdq  # noqa: E402
from engine.export.onnx import export_generator  # noqa: E402
from engine.export.quantize import psnr, quantize_int8_static  # noqa: E402
from engine.metrics.complexity import summarize  # noqa: E402
from engine.models import generator_from_checkpoint  # noqa: E402
from engine.ondevice.threads import candidate_threads, open_session, time_ms  # noqa: E402
from engine.prune.structured import prune_channels  # noqa: E402
from engine.resources import resource  # noqa: E402

BATCHES = (1, 64)


def bundled_dcgan() -> torch.nn.Module:
    ckpt = torch.load(resource("models", "dcgan-mnist5k.pt"), map_location="cpu", weights_only=True)
    return generator_from_checkpoint(ckpt).eval()


def pruned_copy(G: torch.nn.Module, target: float) -> tuple[torch.nn.Module, float]:
    """channel-l1 at the amount whose MACs reduction is closest to `target` (bisection: MACs fall with amount)."""
    import copy

    dense = summarize(G)["macs"]

    def prune(amount: float) -> tuple[torch.nn.Module, float]:
        P = copy.deepcopy(G)
        prune_channels(P, "channel-l1", amount)
        return P.eval(), dense / summarize(P)["macs"]

    lo, hi, tried = 0.5, 0.95, []
    for _ in range(8):
        mid = (lo + hi) / 2
        P, ratio = prune(mid)
        tried.append((abs(ratio - target), mid, P, ratio))
        lo, hi = (mid, hi) if ratio < target else (lo, mid)
    _, amount, P, ratio = min(tried, key=lambda t: t[0])
    print(f"pruned: channel-l1 amount {amount:.3f} -> {ratio:.1f}x fewer MACs, widths {P.spec()['widths']}")
    return P, ratio


def export_all(G: torch.nn.Module, tmp: Path, tag: str) -> dict[str, Path]:
    files = {"fp32": export_generator(G, tmp / f"{tag}.fp32.onnx", {"dataset": "mnist-5k"}),
             "fp32 subpixel": export_generator(G, tmp / f"{tag}.sp.onnx", {"dataset": "mnist-5k"}, subpixel=True)}
    files["int8"] = quantize_int8_static(files["fp32 subpixel"], tmp / f"{tag}.int8.onnx", 256)
    return files


def time_all(files: dict[str, Path], latent: int, runs: int, rounds: int) -> dict[str, dict[str, float]]:
    """{variant: {"b1_t1": ms, ...}} for every thread count, interleaved."""
    counts = candidate_threads()
    sessions = {(v, t): open_session(p, t) for v, p in files.items() for t in counts}
    feeds = {b: {"z": np.random.default_rng(0).standard_normal((b, latent)).astype(np.float32)} for b in BATCHES}
    samples: dict[tuple, list[float]] = {}
    for _ in range(rounds):
        for (v, t), s in sessions.items():
            for b in BATCHES:
                samples.setdefault((v, f"b{b}_t{t}"), []).append(time_ms(s, feeds[b], runs, max_seconds=3.0))
    out: dict[str, dict[str, float]] = {}
    for (v, key), values in samples.items():
        out.setdefault(v, {})[key] = round(statistics.median(values), 4)
    return out


def best(row: dict[str, float], b: int) -> tuple[float, int]:
    """(ms, threads) of the fastest thread count at batch b."""
    return min((ms, int(k.split("_t")[1])) for k, ms in row.items() if k.startswith(f"b{b}_"))


def describe(files: dict[str, Path], tmp: Path, ref_path: Path) -> dict:
    z = np.random.default_rng(1).standard_normal((64, 100)).astype(np.float32)
    ref = open_session(ref_path, 1).run(["image"], {"z": z})[0]
    out = {}
    for v, p in files.items():
        ran = optimized_graph(p, tmp / f"{p.stem}.ran.onnx")
        ops = Counter(n.op_type for n in ran.graph.node)
        image = open_session(p, 1).run(["image"], {"z": z})[0]
        out[v] = {"bytes": p.stat().st_size, "psnr_vs_fp32": round(min(psnr(image, ref), 200.0), 2),
                  "ops_run_by_ort": dict(sorted(ops.items())), "stray_qdq": stray_qdq(ran)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10, help="timed runs per round")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds over all variants and thread counts")
    ap.add_argument("--target-macs", type=float, default=18.0, help="MACs reduction of the pruned copy")
    args = ap.parse_args()
    torch.set_num_threads(1)
    dense = bundled_dcgan()
    pruned, ratio = pruned_copy(dense, args.target_macs)
    results: dict = {"cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
                     "load_average_before": [round(x, 2) for x in os.getloadavg()],
                     "runs": args.runs, "rounds": args.rounds, "threads_tried": candidate_threads(),
                     "note": "bundled dcgan-mnist5k generator (EMA) and a channel-l1 pruned copy, not fine-tuned",
                     "models": {}}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        files = {}
        for name, G in (("dense", dense), ("pruned", pruned)):
            files[name] = export_all(G, tmp, name)
            results["models"][name] = {"widths": G.spec()["widths"], "macs": summarize(G)["macs"],
                                       "variants": describe(files[name], tmp, files[name]["fp32"])}
        results["models"]["pruned"]["macs_reduction"] = round(ratio, 2)
        # One interleaved timing pass over both models, so the cross-model ratios share the machine's state.
        flat = {f"{m}/{v}": p for m, fs in files.items() for v, p in fs.items()}
        times = time_all(flat, 100, args.runs, args.rounds)
    for key, row in times.items():
        m, v = key.split("/")
        results["models"][m]["variants"][v]["ms"] = row
        results["models"][m]["variants"][v]["best"] = {f"b{b}": dict(zip(("ms", "threads"), best(row, b)))
                                                        for b in BATCHES}
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]  # other jobs share this machine
    results["ratios"] = ratios(results["models"])
    report(results)
    out = ROOT / "bench" / "results" / "int8.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out}")


def ratios(models: dict) -> dict:
    """Speed-ups (fp32 time / int8 time): per thread count, at best threads, and compressed vs dense."""
    out = {}
    for m in ("dense", "pruned"):
        v = models[m]["variants"]
        for key in v["int8"]["ms"]:
            out[f"{m}: int8 vs fp32 {key}"] = round(v["fp32"]["ms"][key] / v["int8"]["ms"][key], 2)
        for b in BATCHES:
            out[f"{m}: int8 vs fp32 b{b} best threads"] = round(
                v["fp32"]["best"][f"b{b}"]["ms"] / v["int8"]["best"][f"b{b}"]["ms"], 2)
            # the same comparison against the faster fp32 form (sub-pixel, which fp32 files do not use)
            out[f"{m}: int8 vs fp32 subpixel b{b} best threads"] = round(
                v["fp32 subpixel"]["best"][f"b{b}"]["ms"] / v["int8"]["best"][f"b{b}"]["ms"], 2)
    for b in BATCHES:
        dense = models["dense"]["variants"]["fp32"]["best"][f"b{b}"]["ms"]
        out[f"pruned int8 vs dense fp32 b{b} best threads"] = round(
            dense / models["pruned"]["variants"]["int8"]["best"][f"b{b}"]["ms"], 2)
    return out


def report(results: dict) -> None:
    for m, info in results["models"].items():
        print(f"\n{m}: widths {info['widths']}, {info['macs'] / 1e6:.2f} M MACs")
        cols = list(next(iter(info["variants"].values()))["ms"])
        print(f"{'variant':<16}{'KB':>8}{'PSNR':>8}" + "".join(f"{c:>11}" for c in cols))
        for v, row in info["variants"].items():
            print(f"{v:<16}{row['bytes'] / 1024:>8.0f}{row['psnr_vs_fp32']:>8.1f}"
                  + "".join(f"{row['ms'][c]:>11.3f}" for c in cols))
            print(f"  ORT runs: {row['ops_run_by_ort']}; stray Q/DQ: {row['stray_qdq'] or 'none'}")
    print()
    for k, val in results["ratios"].items():
        print(f"  {k}: {val:.2f}x")


if __name__ == "__main__":
    main()
