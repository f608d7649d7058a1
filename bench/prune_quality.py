"""Channel pruning of the pretrained DCGAN: what keeping ~50% and ~25% of the channels costs in quality, and how
much distillation from the dense teacher wins back in the same number of fine-tuning steps.

For each keep ratio the same pruned model is fine-tuned twice (--distill 1 and --distill 0). Reports MACs and
params ratios, teacher-PSNR (pruned G vs dense G on fixed latents) and, when the feature net is there, domain-FID
against held-out real digits. Writes bench/results/prune_quality.json. No asserts: numbers to read.

    .venv/bin/python bench/prune_quality.py [--steps 300] [--train-steps 600] [--quick]
"""

from __future__ import annotations

import argparse
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.config import DataConfig, ModelConfig, PipelineConfig, TrainConfig  # noqa: E402
from engine.events import CancelToken  # noqa: E402
from engine.models import generator_from_checkpoint  # noqa: E402
from engine.prune.fidelity import teacher_psnr  # noqa: E402
from engine.stages.finetune.run import FinetuneConfig, run_finetune  # noqa: E402
from engine.stages.prune.config import PruneConfig  # noqa: E402
from engine.stages.prune.run import run_prune  # noqa: E402
from engine.stages.train.run import fixed_latents, run_train  # noqa: E402
from engine.workspace import Workspace, atomic_write_json, load_checkpoint_file  # noqa: E402


def pretrained_dense(ws: Workspace, train_steps: int) -> str:
    """Put the bundled pretrained DCGAN into the workspace as its dense model, or train one when absent."""
    found = sorted(p for p in (ROOT / "resources" / "models").glob("*") if "dcgan" in p.name and
                   p.name.endswith((".pt", ".pt.xz")))
    for path in found:
        ckpt = load_checkpoint_file(path)
        if ckpt["arch"]["generator"]["arch"] == "dcgan":
            ws.save_checkpoint("dense", ckpt)
            ws.update_stage("train", status="done", checkpoint="checkpoints/dense.pt")
            return f"pretrained {path.name}"
    cfg = PipelineConfig(DataConfig("mnist-5k"), ModelConfig(arch="dcgan"),
                         TrainConfig(steps=train_steps, batch_size=64, device="auto", sample_every=10**6,
                                     checkpoint_every=10**6))
    for _ in run_train(cfg, ws, CancelToken()):
        pass
    return f"trained here for {train_steps} steps (no pretrained DCGAN in resources/models)"


def domain_fid(G, n: int):
    """FID in the bundled digit classifier's feature space, or None when it is not available."""
    try:
        from engine.data import load_dataset, to_uint8
        from engine.metrics.feature_net import features, held_out_indices, load_feature_net
        from engine.metrics.quality import fid_from_features
    except ImportError:
        return None
    net = load_feature_net()
    data = load_dataset(DataConfig("mnist-5k"))
    real = data.images[torch.as_tensor(held_out_indices(data.labels.numpy(), per_class=n // 10))]
    with torch.no_grad():
        fake = to_uint8(G.eval()(fixed_latents(n, G.latent_dim, seed=123)))
    return round(fid_from_features(features(net, real), features(net, fake)), 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300, help="fine-tuning steps per variant")
    ap.add_argument("--train-steps", type=int, default=600, help="only when no pretrained DCGAN is bundled")
    ap.add_argument("--fid-samples", type=int, default=1000)
    ap.add_argument("--keeps", default="0.5,0.47,0.25",
                    help="channel keep ratios (0.47 is the widest that removes >= 4x of the MACs)")
    ap.add_argument("--quick", action="store_true", help="tiny numbers: checks the script runs")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch decides)")
    args = ap.parse_args()
    if args.quick:
        args.steps, args.train_steps, args.fid_samples = 5, 20, 500
    if args.threads:  # on a busy shared CPU one thread avoids the pool spin-waiting (~100x faster for small convs)
        torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="prune_quality_"))
    base = Workspace(tmp / "dense")
    source = pretrained_dense(base, args.train_steps)
    dense_ckpt = base.load_checkpoint("dense")
    teacher = generator_from_checkpoint(dense_ckpt)
    z = fixed_latents(256, teacher.latent_dim, seed=7)
    results = {"source": source, "finetune_steps": args.steps, "method": "channel-l1", "match_d": True,
               "dense": {"fid": domain_fid(teacher, args.fid_samples)}, "variants": []}
    print(f"dense model: {source}; dense domain-FID {results['dense']['fid']}")
    print(f"{'keep':>5} {'distill':>7} {'MACs':>6} {'params':>6} {'PSNR pruned':>11} {'PSNR tuned':>10} "
          f"{'FID':>8} {'s':>6}")
    for keep in [float(k) for k in args.keeps.split(",")]:
        for distill in (1.0, 0.0):
            t0 = time.perf_counter()
            ws = Workspace(tmp / f"keep{keep}_distill{distill}")
            shutil.copy(base.checkpoint_path("dense"), ws.checkpoint_path("dense"))
            ws.update_stage("train", status="done", checkpoint="checkpoints/dense.pt")
            for _ in run_prune(PruneConfig(method="channel-l1", amount=1 - keep, match_d=True), ws, CancelToken()):
                pass
            rec = ws.read_manifest()["pruning"][-1]
            pruned_psnr = teacher_psnr(generator_from_checkpoint(ws.load_checkpoint("pruned")), teacher, z)
            for _ in run_finetune(FinetuneConfig(steps=args.steps, distill=distill, distill_features=distill,
                                                 sample_every=10**6, checkpoint_every=10**6), ws, CancelToken()):
                pass
            G = generator_from_checkpoint(ws.load_checkpoint("finetuned"))
            row = {"keep": keep, "distill": distill,
                   "macs_ratio": round(rec["macs_after"]["g"] / rec["macs_before"]["g"], 4),
                   "params_ratio": round(rec["params_after"]["g"] / rec["params_before"]["g"], 4),
                   "widths": G.spec()["widths"], "psnr_pruned": round(pruned_psnr, 3),
                   "psnr_finetuned": round(teacher_psnr(G, teacher, z), 3), "fid": domain_fid(G, args.fid_samples),
                   "seconds": round(time.perf_counter() - t0, 1)}
            row["fid_vs_dense"] = round(row["fid"] / results["dense"]["fid"], 3) if row["fid"] else None
            results["variants"].append(row)
            print(f"{keep:>5} {distill:>7} {row['macs_ratio']:>6.3f} {row['params_ratio']:>6.3f} "
                  f"{row['psnr_pruned']:>11.2f} {row['psnr_finetuned']:>10.2f} {str(row['fid']):>8} "
                  f"{row['seconds']:>6}")
    # The target: at >= 4x fewer MACs, domain-FID <= 1.15x dense, and distillation better than none.
    rows = results["variants"]
    at4x = [r for r in rows if r["macs_ratio"] <= 0.25 and r["fid"]]
    results["target"] = {
        "best_fid_vs_dense_at_4x_fewer_macs": min((r["fid_vs_dense"] for r in at4x), default=None),
        "distill_beats_none": {str(k): {"fid": a["fid"] < b["fid"], "psnr": a["psnr_finetuned"] > b["psnr_finetuned"]}
                               for k in sorted({r["keep"] for r in rows})
                               for a in rows if a["keep"] == k and a["distill"] > 0
                               for b in rows if b["keep"] == k and b["distill"] == 0}}
    print(f"target: {results['target']}")
    results["machine"] = {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                          "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    out = ROOT / "bench" / "results" / "prune_quality.json"
    atomic_write_json(out, results)
    print(f"wrote {out.relative_to(ROOT)}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
