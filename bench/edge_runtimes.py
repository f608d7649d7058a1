"""Which runtime generates fastest on this CPU (issue 24): the bundled DCGAN pruned (channel-l1, ~8x fewer MACs),
exported in every format and precision whose package is installed, timed by the sampler's own sessions.

For each file: size, parity against torch (largest |difference| at batch 1 and 7; PSNR over 64 latents for the
lossy ones), median latency at batch 1 and 64 on every thread count engine.ondevice.threads tries (interleaved
rounds: other jobs share the machine, a burst of load hits all files alike), and the share of the CPU's peak it
reaches: the generator's MACs per second over a GEMM's on the same machine and thread count (torch, 2048^3; fp32
for float files, int8 (torch._int_mm) for int8 ones). ExecuTorch and LiteRT files are timed in the sub-pixel
form the exporter writes and in the plain ConvTranspose form. Core ML is converted and validated, not run (macOS only).
LiteRT's file takes batch 1 (litert-torch cannot convert a dynamic batch), so its batch 64 is 64 calls; a second
file exported at batch 64 shows what a fixed batch-64 file does. The pruned copy is not fine-tuned: speed does
not depend on the weights' values. Records the load average before and after. Writes
bench/results/edge_runtimes.json.

    .venv-edge/bin/python bench/edge_runtimes.py [--runs 10] [--rounds 5] [--target-macs 8]
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

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.int8 import bundled_dcgan, pruned_copy  # noqa: E402
from engine.export import formats  # noqa: E402
from engine.export.onnx import export_generator  # noqa: E402
from engine.export.quantize import quantize_int8_static  # noqa: E402
from engine.metrics.complexity import summarize  # noqa: E402
from engine.ondevice.threads import candidate_threads, open_session, time_ms  # noqa: E402
from engine.stages.export.edge import check_against_torch  # noqa: E402

BATCHES = (1, 64)


def gemm_peak(threads: int, n: int = 2048, seconds: float = 3.0) -> dict[str, float]:
    """GMAC/s of an n^3 matrix product in fp32 and int8 (int32 accumulate) on `threads` threads, best of repeats."""
    torch.set_num_threads(threads)
    out = {}
    a, b = torch.randn(n, n), torch.randn(n, n)
    ai, bi = torch.randint(-127, 127, (n, n), dtype=torch.int8), torch.randint(-127, 127, (n, n), dtype=torch.int8)
    for name, fn in (("fp32", lambda: torch.mm(a, b)), ("int8", lambda: torch._int_mm(ai, bi))):
        try:
            fn()
        except RuntimeError as e:  # an int8 product this build of torch cannot run on CPU
            out[name] = None
            out[f"{name}_error"] = str(e)[:100]
            continue
        best, start = float("inf"), time.perf_counter()
        while time.perf_counter() - start < seconds:
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
        out[name] = round(n ** 3 / best / 1e9, 1)
    torch.set_num_threads(1)
    return out


def export_every(G: torch.nn.Module, tmp: Path) -> dict[str, Path]:
    """{"format precision": file} for every installed format and precision it holds (ONNX int8 as the export stage
    makes it: static QDQ of the sub-pixel form)."""
    from engine.export.edge import export_litert

    meta = {"dataset": "mnist-5k"}
    files = {"onnx fp32": export_generator(G, tmp / "generator.onnx", meta)}
    sub = export_generator(G, tmp / "generator.subpixel.onnx", meta, subpixel=True)
    files["onnx int8"] = quantize_int8_static(sub, tmp / "generator.int8.onnx", 256)
    for fmt in formats.FORMATS[1:]:
        if not fmt.available():
            print(f"{fmt.name}: not installed ({formats.EDGE_EXTRA})")
            continue
        for p in fmt.precisions:
            t = time.perf_counter()
            files[f"{fmt.name} {p}"] = fmt.convert(G, p, tmp / fmt.file_name(p), meta, 256, 0)
            print(f"exported {fmt.name} {p} in {time.perf_counter() - t:.1f} s")
            if fmt.name != "coreml":  # what the sub-pixel form (the default) gains over ConvTranspose
                files[f"{fmt.name} {p} (ConvTranspose form)"] = fmt.convert(
                    G, p, tmp / f"ct.{fmt.file_name(p)}", meta, 256, 0, subpixel=False)
    if formats.BY_NAME["litert"].available():  # sub-pixel form, batch 64 fixed
        files["litert fp32 (batch-64 file)"] = export_litert(G, "fp32", tmp / "generator.b64.tflite", meta, 64)
    return files


def size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size


def _feeds(latent: int) -> dict[int, dict]:
    rng = np.random.default_rng(0)
    return {b: {"z": rng.standard_normal((b, latent)).astype(np.float32)} for b in BATCHES}


def time_pte_child(files: dict[str, Path], threads: int, latent: int, runs: int) -> dict[str, dict[str, float]]:
    """ExecuTorch sizes its thread pool once per process (engine.ondevice.executorch): each count in a child."""
    code = (f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); from bench.edge_runtimes import time_here; "
            f"print(json.dumps(time_here({ {v: str(p) for v, p in files.items()} !r}, {threads}, {latent}, {runs})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"timing ExecuTorch at {threads} threads failed: {done.stderr[-400:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def time_here(files: dict[str, str], threads: int, latent: int, runs: int) -> dict[str, dict[str, float]]:
    feeds = _feeds(latent)
    out = {}
    for v, p in files.items():
        s = open_session(p, threads)
        out[v] = {f"b{b}": time_ms(s, feeds[b], runs, max_seconds=3.0, warmup=2) for b in BATCHES}
    return out


def time_all(files: dict[str, Path], latent: int, runs: int, rounds: int) -> dict[str, dict[str, float]]:
    """{variant: {"b1_t1": ms, ...}} for every thread count, interleaved over rounds (ExecuTorch files in a child
    process per thread count and round)."""
    counts = candidate_threads()
    pte = {v: p for v, p in files.items() if p.suffix == ".pte"}
    sessions = {(v, t): open_session(p, t) for v, p in files.items() if v not in pte for t in counts}
    feeds = _feeds(latent)
    samples: dict[tuple, list[float]] = {}
    for r in range(rounds):
        for (v, t), s in sessions.items():
            for b in BATCHES:
                if "batch-64" in v and b == 1:
                    continue
                ms = time_ms(s, feeds[b], runs, max_seconds=3.0, warmup=2 if r == 0 else 0)
                samples.setdefault((v, f"b{b}_t{t}"), []).append(ms)
        for t in counts if pte else ():
            for v, row in time_pte_child(pte, t, latent, runs).items():
                for key, ms in row.items():
                    samples.setdefault((v, f"{key}_t{t}"), []).append(ms)
    out: dict[str, dict[str, float]] = {}
    for (v, key), values in samples.items():
        out.setdefault(v, {})[key] = round(statistics.median(values), 4)
    return out


def best(row: dict[str, float], b: int) -> tuple[float, int] | None:
    got = [(ms, int(k.split("_t")[1])) for k, ms in row.items() if k.startswith(f"b{b}_")]
    return min(got) if got else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10, help="timed runs per round")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds over all files and thread counts")
    ap.add_argument("--target-macs", type=float, default=8.0, help="MACs reduction of the pruned copy")
    ap.add_argument("--busy", action="store_true", help="keep one core busy with another process for the whole run "
                                                        "(a user's other program)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "edge_runtimes.json"))
    args = ap.parse_args()
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
    try:
        run(args)
    finally:
        if spinner is not None:
            spinner.kill()


def run(args) -> None:
    torch.set_num_threads(1)
    load_before = [round(x, 2) for x in os.getloadavg()]
    G, ratio = pruned_copy(bundled_dcgan(), args.target_macs)
    macs = summarize(G)["macs"]
    versions = {}
    for pkg in ("torch", "onnxruntime", "executorch", "torchao", "litert_torch", "ai_edge_litert", "coremltools",
                "openvino"):
        try:
            from importlib.metadata import version

            versions[pkg] = version(pkg.replace("_", "-"))
        except Exception:  # not installed
            versions[pkg] = None
    peaks = {str(t): gemm_peak(t) for t in candidate_threads()}  # again at the end: the best of both is the peak
    print(f"GEMM peak GMAC/s per thread count: {peaks}")
    results = {"cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
               "load_average_before": load_before, "one_core_kept_busy": args.busy, "versions": versions,
               "runs": args.runs, "rounds": args.rounds,
               "threads_tried": candidate_threads(), "gemm_peak_gmacs": peaks,
               "model": {"note": "bundled dcgan-mnist5k generator, channel-l1 pruned, not fine-tuned",
                         "widths": G.spec()["widths"], "macs": macs, "macs_reduction": round(ratio, 2)},
               "files": {}}
    with tempfile.TemporaryDirectory() as tmpdir:
        files = export_every(G, Path(tmpdir))
        runnable = {v: p for v, p in files.items() if not v.startswith("coreml")}
        for v, p in files.items():
            row: dict = {"file": p.name, "bytes": size(p)}
            if v in runnable and "batch-64" not in v:
                row.update(check_against_torch(G, p) if not v.startswith("onnx") else check_onnx(G, p))
            elif v.startswith("coreml"):
                row["not_run"] = formats.BY_NAME["coreml"].runs_here() or "runs here"
            results["files"][v] = row
        times = time_all(runnable, int(G.latent_dim), args.runs, args.rounds)
    again = {str(t): gemm_peak(t) for t in candidate_threads()}
    results["gemm_peak_gmacs_at_start_and_end"] = {"start": peaks, "end": again}
    peaks = {t: {k: max(v or 0, again[t].get(k) or 0) or None for k, v in p.items() if k in ("fp32", "int8")}
             for t, p in peaks.items()}
    results["gemm_peak_gmacs"] = peaks
    for v, row in times.items():
        entry = results["files"][v]
        entry["ms"] = row
        dtype = "int8" if "int8" in v else "fp32"
        for b in BATCHES:
            got = best(row, b)
            if got is None:
                continue
            ms, t = got
            peak = peaks[str(t)].get(dtype)
            gmacs = macs * b / (ms / 1000) / 1e9
            entry[f"best_b{b}"] = {"ms": ms, "threads": t, "gmacs": round(gmacs, 2),
                                   "share_of_peak": round(gmacs / peak, 4) if peak else None}
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    report(results)
    out = Path(args.out)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out}")


def check_onnx(G: torch.nn.Module, path: Path) -> dict:
    """The same check as the other formats', through ONNX Runtime (check_against_torch opens edge files only)."""
    from engine.export.onnx import parity
    from engine.export.quantize import psnr

    z = np.random.default_rng(0).standard_normal((64, int(G.latent_dim))).astype(np.float32)
    with torch.no_grad():
        ref = G.eval()(torch.from_numpy(z)).numpy()
    out = open_session(path, 1).run(["image"], {"z": z})[0]
    value = psnr(out, ref)
    return {"parity": parity(G, path), "psnr_vs_fp32": None if value == float("inf") else round(value, 3)}


def report(results: dict) -> None:
    print(f"\nmodel: {results['model']['macs'] / 1e6:.2f} M MACs ({results['model']['macs_reduction']}x fewer), "
          f"load {results['load_average_before']} -> {results['load_average_after']}")
    print(f"{'file':32} {'KB':>8} {'parity':>9} {'PSNR':>6} {'b1 ms':>8} {'thr':>3} {'b64 ms':>8} {'thr':>3} "
          f"{'%peak b64':>9}")
    for v, r in results["files"].items():
        b1, b64 = r.get("best_b1") or {}, r.get("best_b64") or {}
        share = b64.get("share_of_peak")
        print(f"{v:32} {r['bytes'] / 1e3:8.1f} {r.get('parity', float('nan')):9.1e} "
              f"{r.get('psnr_vs_fp32') or float('nan'):6.1f} {b1.get('ms', float('nan')):8.3f} "
              f"{b1.get('threads', '-'):>3} {b64.get('ms', float('nan')):8.3f} {b64.get('threads', '-'):>3} "
              f"{'' if share is None else f'{100 * share:8.2f}%'}")


if __name__ == "__main__":
    main()
