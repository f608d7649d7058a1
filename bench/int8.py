"""int8 vs fp32 ONNX Runtime latency for the DCGAN 28px generator, ConvTranspose form vs sub-pixel form.

Builds the default-width generator and a structurally narrowed one (as channel pruning leaves it), exports
fp32 (ConvTranspose), fp32 sub-pixel, static int8 of the sub-pixel form and static int8 of the ConvTranspose
form, and times each at batch 1 and 64 with 1 and 2 ORT threads in the same run. Also lists which compute ops
ORT actually runs in int8 after its graph fusions. Prints a table; writes bench/results/int8.json.

    .venv/bin/python bench/int8.py [--runs 10] [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
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

from engine.export.onnx import export_generator  # noqa: E402
from engine.export.quantize import ort_latency_ms, psnr, quantize_int8_static  # noqa: E402
from engine.models import build_generator, default_specs  # noqa: E402


def fused_ops(path: Path, tmp: Path) -> dict[str, int]:
    """Op types in the graph ORT really runs (after QDQ → QLinearConv fusion), compute ops only."""
    import onnx
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3  # ORT warns that the saved fused graph is machine-specific; that is the point
    opts.optimized_model_filepath = str(tmp / f"{path.stem}.opt.onnx")
    ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    ops = Counter(n.op_type for n in onnx.load(opts.optimized_model_filepath).graph.node)
    keep = ("Conv", "ConvTranspose", "Gemm", "MatMul", "QLinearConv", "QLinearMatMul", "MatMulInteger",
            "ConvInteger", "QuantizeLinear", "DequantizeLinear", "FusedConv", "FusedGemm", "QGemm", "NhwcFusedConv")
    return {k: v for k, v in sorted(ops.items()) if k in keep}


def session(path: Path, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def build(widths: list[int]) -> torch.nn.Module:
    torch.manual_seed(0)
    G = build_generator({**default_specs("dcgan", (1, 28, 28))[0], "widths": widths})
    G.train()
    with torch.no_grad():  # realistic BatchNorm statistics, as after training
        G(torch.randn(256, 100))
        # A random-init generator's images are nearly flat grey (std ~0.04), which would make any PSNR look
        # great; scale the last layer so pixel values spread over the tanh range like a trained one's.
        G.net[-2].weight.mul_(15.0)
    return G.eval()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10, help="timed runs per round")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds over all variants")
    ap.add_argument("--quick", action="store_true", help="narrow model only, 1 thread")
    args = ap.parse_args()
    models = {"narrow [128,64]": [128, 64]} if args.quick else {"default [256,128]": [256, 128],
                                                                  "narrow [128,64]": [128, 64]}
    threads_list = (1,) if args.quick else (1, 2)
    z_cmp = np.random.default_rng(1).standard_normal((64, 100)).astype(np.float32)
    results: dict = {"cpu": platform.processor() or platform.machine(), "runs": args.runs, "rounds": args.rounds,
                     "note": "random-init weights, last layer scaled so outputs spread over [-1,1]", "models": {}}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for label, widths in models.items():
            G = build(widths)
            tag = "_".join(map(str, widths))
            files = {
                "fp32 convT": export_generator(G, tmp / f"{tag}_fp32.onnx", {"dataset": "bench"}),
                "fp32 subpixel": export_generator(G, tmp / f"{tag}_fp32_sp.onnx", {"dataset": "bench"},
                                                  subpixel=True),
            }
            files["int8 subpixel"] = quantize_int8_static(files["fp32 subpixel"], tmp / f"{tag}_int8_sp.onnx", 256)
            files["int8 subpixel per-tensor"] = quantize_int8_static(files["fp32 subpixel"],
                                                                     tmp / f"{tag}_int8_sp_pt.onnx", 256,
                                                                     per_channel=False)
            files["int8 convT"] = quantize_int8_static(files["fp32 convT"], tmp / f"{tag}_int8_ct.onnx", 256)
            ref = session(files["fp32 convT"], 1).run(["image"], {"z": z_cmp})[0]
            rows = {}
            for name, path in files.items():
                out = session(path, 1).run(["image"], {"z": z_cmp})[0]
                rows[name] = {"bytes": path.stat().st_size, "psnr_vs_fp32": round(min(psnr(out, ref), 200.0), 2),
                              "ops": fused_ops(path, tmp)}
            # Other jobs share this machine: time the variants in interleaved rounds so a burst of load hits
            # all of them alike, and report the median of the per-round medians.
            for threads in threads_list:
                sessions = {name: session(path, threads) for name, path in files.items()}
                for b in (1, 64):
                    per_round: dict[str, list[float]] = {name: [] for name in files}
                    for _ in range(args.rounds):
                        for name, s in sessions.items():
                            per_round[name].append(ort_latency_ms(s, 100, b, runs=args.runs, warmup=2))
                    for name in files:
                        rows[name][f"ms_b{b}_t{threads}"] = round(statistics.median(per_round[name]), 3)
            base = rows["fp32 convT"]
            ratios = {}
            for threads in threads_list:
                for b in (1, 64):
                    k = f"ms_b{b}_t{threads}"
                    ratios[f"int8_subpixel_vs_fp32_convT_b{b}_t{threads}"] = round(
                        base[k] / rows["int8 subpixel"][k], 3)
                    ratios[f"int8_subpixel_vs_fp32_subpixel_b{b}_t{threads}"] = round(
                        rows["fp32 subpixel"][k] / rows["int8 subpixel"][k], 3)
                    ratios[f"int8_convT_vs_fp32_convT_b{b}_t{threads}"] = round(base[k] / rows["int8 convT"][k], 3)
            results["models"][label] = {"widths": widths, "variants": rows, "speedups": ratios}

            print(f"\nDCGAN 28px {label}")
            cols = [f"ms_b{b}_t{t}" for t in threads_list for b in (1, 64)]
            print(f"{'variant':<26}{'KB':>8}{'PSNR':>8}" + "".join(f"{c:>14}" for c in cols))
            for name, row in rows.items():
                print(f"{name:<26}{row['bytes'] / 1024:>8.0f}{row['psnr_vs_fp32']:>8.1f}"
                      + "".join(f"{row[c]:>14.3f}" for c in cols))
            for name, row in rows.items():
                print(f"  ops run by ORT for {name}: {row['ops']}")
            for k, v in ratios.items():
                print(f"  speedup {k}: {v:.2f}x")
    out = ROOT / "bench" / "results" / "int8.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
