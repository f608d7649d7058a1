"""Distillation ablation at a high-compression point of the bundled DCGAN: which terms, which D, which student.

Protocol. The bundled pretrained DCGAN is the teacher (its FID is measured in the same run; the retrained teacher
since the distill_recipe change — the JSON of earlier runs is against the old one). Channel-L1 pruning
removes `--amount` of every hidden G layer's channels (0.8 → ~20x fewer G MACs; the ratio is printed). Each row
fine-tunes for `--steps` steps through the product's own stages (run_prune / run_finetune), keeping the best step
by the stage's quick FID probe, then scores domain-FID (the bundled digit classifier's features) of `--samples`
generated vs `--samples` real images, averaged over `--seeds` fine-tuning seeds (mean ± std). Rows: the default
recipe (distillation alone, every term); each term off in turn; output-only; the GAN term added with the teacher's D
vs D co-pruned to G's share; the previous recipe (GAN term, lr 2e-4 constant); no distillation; a slim student of
the pruned widths trained from scratch; iterative pruning (3 rounds with distillation between them).
Writes bench/results/distill_ablation.json.

    .venv/bin/python bench/distill_ablation.py [--steps 600] [--samples 2000] [--seeds 1] [--amount 0.8]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.config import DataConfig  # noqa: E402
from engine.data import load_dataset  # noqa: E402
from engine.events import CancelToken  # noqa: E402
from engine.latents import fixed_latents  # noqa: E402
from engine.metrics.feature_net import features, load_feature_net  # noqa: E402
from engine.metrics.quality import fid_from_features  # noqa: E402
from engine.models import generator_from_checkpoint  # noqa: E402
from engine.pipeline import open_demo_workspace  # noqa: E402
from engine.prune.sensitivity import model_macs  # noqa: E402
from engine.stages.finetune.run import FinetuneConfig, run_finetune  # noqa: E402
from engine.stages.prune.config import PruneConfig  # noqa: E402
from engine.stages.prune.run import run_prune  # noqa: E402
from engine.workspace import Workspace, atomic_write_json  # noqa: E402

ALL = {"distill_output": 1.0, "distill_features": 1.0, "distill_perceptual": 1.0}
KEPT, COPRUNED = {"discriminator": "teacher"}, {"discriminator": "match"}
GAN = {"adversarial": 1.0}  # the GAN term on (the default recipe is distillation alone: adversarial 0)
OLD = {"adversarial": 1.0, "lr": 2e-4, "lr_schedule": "constant"}  # the recipe before bench/distill_recipe.py
ROWS = [  # (name, how the student is made, fine-tune settings); FinetuneConfig's defaults unless a row says otherwise
    ("all terms, distillation alone (default)", "oneshot", dict(ALL, **KEPT)),
    ("features off", "oneshot", dict(ALL, distill_features=0.0, **KEPT)),
    ("perceptual off", "oneshot", dict(ALL, distill_perceptual=0.0, **KEPT)),
    ("output off", "oneshot", dict(ALL, distill_output=0.0, **KEPT)),
    ("output L1 only", "oneshot", dict(distill_output=1.0, distill_features=0.0, distill_perceptual=0.0, **KEPT)),
    ("all terms + GAN term, D kept (teacher's)", "oneshot", dict(ALL, **GAN, **KEPT)),
    ("all terms + GAN term, D co-pruned to G's share", "oneshot", dict(ALL, **GAN, **COPRUNED)),
    ("previous recipe: all terms + GAN term, lr 2e-4 constant", "oneshot", dict(ALL, **OLD, **KEPT)),
    ("no distillation (GAN term only, lr 2e-4 constant)", "oneshot", dict(OLD, distill=0.0, **KEPT)),
    ("slim student from scratch, all terms", "slim", dict(ALL, **KEPT)),
    ("iterative prune (3 rounds) + all terms", "iterative", dict(ALL, **KEPT)),
]


class Scorer:
    """Domain-FID of a generator against a fixed set of real images (features computed once)."""

    def __init__(self, n: int) -> None:
        self.net = load_feature_net()
        data = load_dataset(DataConfig("mnist-5k"))
        pick = torch.randperm(len(data), generator=torch.Generator().manual_seed(1234))[:n]
        self.real = features(self.net, data.images[pick])
        self.n = n

    @torch.no_grad()
    def __call__(self, G, seed: int = 99) -> float:
        G.eval()
        z = fixed_latents(self.n, G.latent_dim, seed)
        images = torch.cat([G(c) for c in z.split(500)])
        return fid_from_features(self.real, features(self.net, images))


def drain(events) -> None:
    for _ in events:
        pass


def make_base(root: Path, amount: float) -> tuple[Workspace, dict]:
    ws = open_demo_workspace(root / "base", "dcgan-mnist5k.pt")
    drain(run_prune(PruneConfig(method="channel-l1", amount=amount, target="g"), ws, CancelToken()))
    pruned = ws.load_checkpoint("pruned")
    return ws, pruned


def student_workspace(base: Workspace, root: Path, name: str, kind: str, amount: float, steps: int,
                      seed: int) -> Workspace:
    dest = root / name
    shutil.copytree(base.root, dest)
    ws = Workspace(dest, create=False)
    if kind == "iterative":  # prune a little, distil, repeat: a third of the fine-tuning budget between rounds
        drain(run_prune(PruneConfig(method="channel-l1", amount=amount, target="g", schedule="iterative",
                                    rounds=3, finetune_steps=max(1, steps // 6), seed=seed), ws, CancelToken()))
    return ws


def run_row(base: Workspace, root: Path, pruned: dict, row: tuple, args, seed: int, scorer: Scorer) -> dict:
    name, kind, settings = row
    ws = student_workspace(base, root, f"{len(list(root.iterdir()))}", kind, args.amount, args.steps, seed)
    widths = tuple(pruned["arch"]["generator"]["widths"]) if kind == "slim" else None
    cfg = FinetuneConfig(steps=args.steps, batch_size=64, device="cpu", seed=seed, sample_every=10**6,
                         checkpoint_every=10**6, probe_every=max(1, args.steps // 4),
                         probe_samples=args.probe_samples, student_widths=widths, **settings)
    t0 = time.perf_counter()
    drain(run_finetune(cfg, ws, CancelToken()))
    seconds = time.perf_counter() - t0
    tuned = ws.load_checkpoint("finetuned")
    G = generator_from_checkpoint(tuned)
    out = {"fid": scorer(G), "kept_step": tuned["step"], "probe_fid": tuned.get("probe_fid"),
           "seconds": round(seconds, 1), "macs": model_macs(G)}
    shutil.rmtree(ws.root, ignore_errors=True)
    return out


def summarize(row_def: tuple, runs: list[dict], dense_fid: float, dense_macs: int) -> dict:
    name, kind, settings = row_def
    fids = [r["fid"] for r in runs]
    row = {"name": name, "student": kind, "settings": settings, "fid_mean": round(statistics.fmean(fids), 3),
           "fid_std": round(statistics.stdev(fids), 3) if len(fids) > 1 else 0.0,
           "fid_ratio_vs_dense": round(statistics.fmean(fids) / dense_fid, 3),
           "macs_reduction": round(dense_macs / runs[0]["macs"], 2), "runs": runs}
    print(f"{name:42s} FID {row['fid_mean']:8.2f} ± {row['fid_std']:6.2f}  ({row['fid_ratio_vs_dense']:.2f}x dense)  "
          f"{row['macs_reduction']:.1f}x fewer MACs  kept steps {[r['kept_step'] for r in runs]}  "
          f"{sum(r['seconds'] for r in runs):.0f} s", flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=600, help="fine-tuning steps per row")
    ap.add_argument("--samples", type=int, default=2000, help="generated and real images per FID")
    ap.add_argument("--seeds", type=int, default=1, help="fine-tuning seeds per row (mean ± std)")
    ap.add_argument("--first-seed", type=int, default=0, help="seeds run are first-seed .. first-seed + seeds - 1")
    ap.add_argument("--amount", type=float, default=0.8, help="share of each hidden G layer's channels removed")
    ap.add_argument("--probe-samples", type=int, default=500, help="images per quick FID probe while fine-tuning")
    ap.add_argument("--rows", default="", help="comma-separated row numbers to run (default all)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="distill_ablation.json", help="file name under bench/results/")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    scorer = Scorer(args.samples)
    rows = [ROWS[int(i)] for i in args.rows.split(",")] if args.rows else ROWS
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base, pruned = make_base(root, args.amount)
        dense = generator_from_checkpoint(base.load_checkpoint("dense"))
        dense_fid, dense_macs = scorer(dense), model_macs(dense)
        pruned_G = generator_from_checkpoint(pruned)
        pruned_fid = scorer(pruned_G)
        print(f"dense teacher: FID {dense_fid:.2f}; pruned {pruned['arch']['generator']['widths']} before "
              f"fine-tuning: FID {pruned_fid:.2f}, {dense_macs / model_macs(pruned_G):.1f}x fewer MACs", flush=True)
        results = []
        for row in rows:
            seeds = range(args.first_seed, args.first_seed + args.seeds)
            runs = [run_row(base, root, pruned, row, args, seed, scorer) for seed in seeds]
            results.append(summarize(row, runs, dense_fid, dense_macs))
    out = {"protocol": {"teacher": "resources/models/dcgan-mnist5k.pt (bundled)", "prune": "channel-l1",
                        "amount": args.amount, "steps": args.steps, "samples": args.samples, "seeds": args.seeds,
                        "first_seed": args.first_seed,
                        "probe_samples": args.probe_samples, "feature_net": "bundled digit classifier",
                        "threads": args.threads},
           "dense": {"fid": round(dense_fid, 3), "macs": dense_macs},
           "pruned_before_finetune": {"fid": round(pruned_fid, 3), "widths": pruned["arch"]["generator"]["widths"]},
           "rows": results, "seconds": round(time.perf_counter() - t_start, 1),
           "machine": {"python": platform.python_version(), "torch": torch.__version__,
                       "cpu": platform.processor() or platform.machine()}}
    dest = ROOT / "bench" / "results" / args.out
    atomic_write_json(dest, out)
    print(f"wrote {dest.relative_to(ROOT)} in {out['seconds']:.0f} s")
    print(json.dumps({r["name"]: r["fid_mean"] for r in results}, indent=1))


if __name__ == "__main__":
    main()
