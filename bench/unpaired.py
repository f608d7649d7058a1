"""Unpaired translation (CycleGAN) on the bundled horse2zebra-28 through the product's own commands: the dense
translation's FID against real zebras vs the identity baseline's, then a channel-pruned A → B generator (≥ 8x fewer
MACs) fine-tuned by distillation, with and without the cycle term through the dense B → A generator.

Protocol. Data: horse2zebra-28 (700 horse and 700 zebra 28x28 silhouettes, unpaired); each set's test split is
every 10th image (70 + 70), never trained on. Dense: `gan-prune train --task unpaired --arch cyclegan --width W
--blocks K` (least squares, cycle λ 10, identity 0.5·λ, pool 50, Adam 2e-4 (0.5, 0.999)), batch 8, ONE CPU thread,
`--steps` steps. FID: `gan-prune evaluate`'s, translated test A vs real test B in a feature net learnt without
labels from 599 training images of both sets (32 features); the identity row scores the test horses as if they
were zebras. Three seeds of sampling: FID recomputed on three bootstrap resamples (seeds 0-2) of the 70 translated
and 70 real test images; mean and spread. Cross-check (bench only): the same 599 training images with their set as
label train the project's feature classifier (horse vs zebra); the share of translated test horses it calls zebras,
and FID in its feature space. Compression: `gan-prune prune --method channel-l1
--target-macs 0.125`, then `gan-prune finetune` (teacher L1 weighted by λ, feature adapters, no D step, Adam 4e-3
cosine) for `--finetune-steps`, with `--cycle 0`, with `--cycle C`, and with the GAN term on (`--adversarial 1`,
D against real zebras, 2e-4 constant); each evaluated the same way.
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


def zebra_space(src):
    """A horse-vs-zebra classifier (the project's feature classifier, trained with the set as label on the same
    599 training images as the unlabelled net): a cross-check that sees stripes, which the unlabelled net at 28 px
    barely does (measured: a blurry gray student scored a LOWER unlabelled FID than its striped teacher)."""
    import torch

    from engine.data import ImageData
    from engine.metrics.feature_cache import feature_net_for
    from engine.stages.evaluate.unpaired import FEATURE_IMAGES

    a, b = src.data.a_images[src.train_idx], src.data.images[src.b_train_idx]
    n = FEATURE_IMAGES // 2
    images = torch.cat([a[:n], b[:n]])
    labels = torch.cat([torch.zeros(n, dtype=torch.int64), torch.ones(n, dtype=torch.int64)])
    net, name = feature_net_for(ImageData(images=images.contiguous(), labels=labels, name="horse2zebra-28 labelled",
                                          classes=["horse", "zebra"]))
    return net, name


def _fids(net, out, real, seeds: int) -> dict:
    """FID on the whole test split, and on `seeds` bootstrap resamples of both sides (mean and spread)."""
    import numpy as np

    from engine.metrics.feature_net import features
    from engine.metrics.quality import fid_from_features

    fo, fb, vals = features(net, out), features(net, real), []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        i, j = rng.integers(0, len(fo), len(fo)), rng.integers(0, len(fb), len(fb))
        vals.append(fid_from_features(fb[j], fo[i]))
    return {"fid": round(fid_from_features(fb, fo), 3), "fid_bootstrap": [round(v, 3) for v in vals],
            "fid_bootstrap_mean": round(float(np.mean(vals)), 3), "fid_bootstrap_sd": round(float(np.std(vals)), 3)}


def cross_check(ws: Path, seeds: int = 3) -> dict:
    """For identity, dense and fine-tuned: FID on 3 bootstrap resamples in the product's unlabelled space, and in
    the horse-vs-zebra space the share of translated test horses called zebras and FID."""
    import torch

    from engine.inputs import workspace_pairs
    from engine.metrics.feature_cache import feature_net_for
    from engine.metrics.feature_net import predict
    from engine.models import generator_from_checkpoint
    from engine.stages.evaluate.unpaired import feature_data
    from engine.workspace import Workspace

    w = Workspace(ws)
    src = workspace_pairs(w, w.load_checkpoint("dense"))
    unlabelled, _ = feature_net_for(feature_data(src))
    zebra, name = zebra_space(src)
    a, b = src.images("A", "test"), src.images("B", "test")
    outs = {"identity": a}
    for ckpt in ("dense", "finetuned"):
        if w.checkpoint_path(ckpt).exists():
            with torch.no_grad():
                outs[ckpt] = generator_from_checkpoint(w.load_checkpoint(ckpt)).eval()(a)
    result = {"zebra_space": name, "real_zebras_called_zebra": round(float(predict(zebra, b).mean()), 3)}
    for key, out in outs.items():
        result[key] = {"unlabelled": _fids(unlabelled, out, b, seeds),
                       "zebra_space": {"called_zebra": round(float(predict(zebra, out).mean()), 3),
                                       **_fids(zebra, out, b, seeds)}}
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
    result["dense_cross_check"] = cross_check(dense)
    recipes = {"no_cycle": ["--cycle", "0"], "cycle": ["--cycle", str(args.cycle)],
               "adversarial": ["--cycle", "0", "--adversarial", "1", "--lr", "2e-4", "--lr-schedule", "constant"]}
    for label, extra in recipes.items():
        ws = root / label
        shutil.rmtree(ws, ignore_errors=True)
        shutil.copytree(dense, ws, ignore=shutil.ignore_patterns("*.lock", ".lock"))
        result[f"prune_seconds_{label}"] = gan_prune("prune", "--workspace", str(ws), "--method", "channel-l1",
                                                     "--target-macs", "0.125")
        result[f"finetune_seconds_{label}"] = gan_prune("finetune", "--workspace", str(ws), "--steps",
                                                        str(args.finetune_steps), "--batch-size", "8",
                                                        "--probe-every", "100", *extra)
        gan_prune("evaluate", "--workspace", str(ws), "--no-latency")
        rows = report_rows(ws)
        result[label] = {"flags": " ".join(extra), **{k: rows[k] for k in ("pruned", "finetuned")},
                         "cross_check": cross_check(ws)}
        print(label, json.dumps(result[label]), flush=True)
    d, z = result["dense"], result["dense_cross_check"]
    result["summary"] = {
        "identity_fid": d["identity"]["fid"], "dense_fid": d["dense"]["fid"],
        "dense_below_identity": round(1 - d["dense"]["fid"] / d["identity"]["fid"], 3),
        "unlabelled_bootstrap_mean_sd": {k: [z[k]["unlabelled"]["fid_bootstrap_mean"],
                                             z[k]["unlabelled"]["fid_bootstrap_sd"]] for k in ("identity", "dense")},
        "zebra_space_fid": {k: z[k]["zebra_space"]["fid"] for k in ("identity", "dense")},
        "called_zebra": {k: z[k]["zebra_space"]["called_zebra"] for k in ("identity", "dense")},
        **{label: {"fid": result[label]["finetuned"]["fid"], "zebra_space_fid":
                   result[label]["cross_check"]["finetuned"]["zebra_space"]["fid"],
                   "called_zebra": result[label]["cross_check"]["finetuned"]["zebra_space"]["called_zebra"],
                   "psnr_vs_teacher": result[label]["finetuned"].get("psnr_vs_teacher"),
                   "cycle_l1": result[label]["finetuned"].get("cycle_l1"),
                   "macs_ratio": round(d["dense"]["macs"] / result[label]["finetuned"]["macs"], 2)}
           for label in recipes}}
    atomic_write_json(OUT, result)
    print(json.dumps(result["summary"], indent=1))


if __name__ == "__main__":
    main()
