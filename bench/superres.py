"""Super-resolution x4 on mnist-5k (7x7 → 28x28) through the product's own stages: dense vs bicubic, and a
channel-pruned student (≤ 1/8 of the dense MACs) fine-tuned with distillation vs dense.

Protocol. Data: the bundled mnist-5k; the test set is every 10th image (500 images), never trained on; inputs are
the targets downscaled x4 (bicubic with antialiasing, rounded to 8 bits), made once with a fixed seed. The dense
model is the default U-Net (widths 16-32-64 / 32-16, residual on the bicubic-upscaled input) trained by
`run_train` with adversarial + 100·L1 for `--train-steps` steps at batch 32 (Adam 2e-4), on ONE CPU thread.
Pruning: `run_prune` with channel-l1 and `--target-macs 0.125` (one amount for every layer, found by bisection;
torch-pruning's dependency graph keeps the skip concatenations consistent). Fine-tuning: `run_finetune` for
`--finetune-steps` steps (1,500) with the stage's default recipe (`--recipe distill`: 100·L1 to the ground truth,
L1 to the dense teacher and feature adapters, no D step, Adam 4e-3 with cosine decay; `--recipe pix2pix` keeps the
adversarial term at 2e-4, constant), keeping the step
with the best PSNR on a validation slice of the training images. Scores: `run_evaluate` on the 500 test pairs:
PSNR (MSE over all pixels of all test images, range [-1, 1]) and SSIM against the ground truth; the bicubic row is
the baseline measured in the same run. Targets: dense ≥ bicubic + 2 dB; pruned+fine-tuned within 0.5 dB of dense.
A `--time-budget` (CPU minutes of this process, whole run; default 20) stops training at 70 % of it and fine-tuning
at 95 % if the machine is slow; the steps actually run are recorded. Writes bench/results/superres.json.

    nice -n 10 .venv/bin/python bench/superres.py [--train-steps 1500] [--finetune-steps 1500] [--recipe distill]
                                                  [--time-budget 20] [--workspace DIR]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.config import DataConfig, ModelConfig, PipelineConfig, TrainConfig  # noqa: E402
from engine.events import CancelToken, Log, Metrics  # noqa: E402
from engine.pipeline import save_config  # noqa: E402
from engine.stage_runner import run_stage  # noqa: E402
from engine.stages.evaluate.run import EvaluateConfig, run_evaluate  # noqa: E402
from engine.stages.finetune.run import FinetuneConfig, run_finetune  # noqa: E402
from engine.stages.prune.config import PruneConfig  # noqa: E402
from engine.stages.prune.run import run_prune  # noqa: E402
from engine.stages.train.run import run_train  # noqa: E402
from engine.workspace import Workspace, atomic_write_json  # noqa: E402


def _drive(name: str, ws: Workspace, make, deadline: float | None = None) -> None:
    """Run a stage, printing its log lines and every 100th step; once this process has used `deadline` seconds of
    CPU time the stage is cancelled (it saves what it has). CPU time, not wall time: the machine is shared, and
    the budget is one core's minutes."""
    cancel = CancelToken()
    t0 = time.perf_counter()

    def events():
        for e in make(cancel):
            if isinstance(e, Log):
                print(f"  [{name}] {e.message}", flush=True)
            elif isinstance(e, Metrics) and e.step % 100 == 0:
                print(f"  [{name}] step {e.step}: " + ", ".join(f"{k} {v:.4g}" for k, v in e.values.items()),
                      f"({time.process_time():.0f} CPU s, {time.perf_counter() - t0:.0f} s)", flush=True)
            if deadline is not None and time.process_time() > deadline:
                cancel.cancel()
            yield e

    for _ in run_stage(name, ws, events(), cancel):
        pass
    print(f"  {name}: {time.perf_counter() - t0:.0f} s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-steps", type=int, default=1500)
    ap.add_argument("--finetune-steps", type=int, default=1500)
    ap.add_argument("--time-budget", type=float, default=20.0, help="CPU minutes (one core) for the whole run")
    ap.add_argument("--recipe", choices=["pix2pix", "distill"], default="distill",
                    help="fine-tuning: distill = the fine-tune stage's defaults (L1 and distillation alone, no D "
                         "step, 4e-3 with cosine decay); pix2pix = adversarial + L1 + distillation at 2e-4, constant")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workspace", default=None, help="keep the project here (default: a temporary folder); a "
                                                      "finished training there is reused")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "superres.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    start, cpu_start = time.perf_counter(), time.process_time()
    budget = args.time_budget * 60
    with tempfile.TemporaryDirectory(prefix="superres-bench-") as tmp:
        ws = Workspace(args.workspace or tmp)
        cfg = PipelineConfig(DataConfig("mnist-5k"), ModelConfig(arch="unet", task="superres", scale=4),
                             TrainConfig(steps=args.train_steps, batch_size=32, seed=args.seed, sample_every=500,
                                         checkpoint_every=10_000, threads=1))
        cfg.validate()
        save_config(ws, cfg)
        if (ws.stage("train") or {}).get("status") == "done":
            print(f"  train: reusing the finished training in {ws.root}", flush=True)
        else:
            _drive("train", ws, lambda c: run_train(cfg, ws, c), deadline=cpu_start + 0.7 * budget)
        trained_steps = ws.stage("train")["step"]
        prune = PruneConfig(method="channel-l1", target_macs=0.125, seed=args.seed)
        _drive("prune", ws, lambda c: run_prune(prune, ws, c))
        record = ws.stage("prune")
        pruning = ws.load_checkpoint("pruned")["pruning"]
        # pix2pix: the recipe of training (adversarial on, Adam 2e-4, constant rate) plus distillation
        recipe = dict(adversarial=1.0, lr=2e-4, lr_schedule="constant") if args.recipe == "pix2pix" else {}
        ft = FinetuneConfig(steps=args.finetune_steps, batch_size=32, probe_every=100, distill_perceptual=0.0,
                            seed=args.seed, **recipe)
        _drive("finetune", ws, lambda c: run_finetune(ft, ws, c), deadline=cpu_start + 0.95 * budget)
        _drive("evaluate", ws, lambda c: run_evaluate(EvaluateConfig(latency=False, seed=args.seed), ws, c))
        report = json.loads(ws.report_path.read_text("utf-8"))
    rows = {v["name"]: v for v in report["variants"]}
    keep = ("psnr", "ssim", "fid", "psnr_vs_teacher", "macs", "params")
    table = {n: {k: rows[n].get(k) for k in keep} for n in ("bicubic", "dense", "pruned", "finetuned") if n in rows}
    dense, bicubic, tuned = rows["dense"]["psnr"], rows["bicubic"]["psnr"], rows["finetuned"]["psnr"]
    macs_ratio = pruning["macs_after"]["g"] / pruning["macs_before"]["g"]
    result = {
        "benchmark": "superres x4, mnist-5k 7x7 -> 28x28",
        "protocol": __doc__.split("Protocol. ")[1].split("\n\n")[0].replace("\n", " "),
        "test_images": report["real_count"], "feature_net": report["feature_net"],
        "train_steps": trained_steps, "finetune_steps": args.finetune_steps, "batch_size": 32,
        "finetune_recipe": {"name": args.recipe, "adversarial": ft.adversarial, "lr": ft.lr,
                            "lr_schedule": ft.lr_schedule},
        "pruning": {"method": record.get("method"), "amount_per_layer": pruning["amounts"].get("g"),
                    "macs_ratio": round(macs_ratio, 4), "g_widths": {
                        n: [w["width_before"], w["width_after"]] for n, w in pruning["layers"]["g"].items()}},
        "variants": table,
        "dense_minus_bicubic_db": round(dense - bicubic, 3),
        "finetuned_minus_dense_db": round(tuned - dense, 3),
        "pruned_minus_dense_db": round(rows["pruned"]["psnr"] - dense, 3),
        "targets": {"dense >= bicubic + 2 dB": dense >= bicubic + 2.0, "macs <= 1/8": macs_ratio <= 0.125,
                    "finetuned within 0.5 dB of dense": tuned >= dense - 0.5},
        "seconds": round(time.perf_counter() - start, 1), "cpu_seconds": round(time.process_time() - cpu_start, 1),
        "threads": 1,
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out, result)
    print(json.dumps({k: result[k] for k in ("variants", "dense_minus_bicubic_db", "finetuned_minus_dense_db",
                                             "targets", "seconds", "cpu_seconds")}, indent=1))


if __name__ == "__main__":
    main()
