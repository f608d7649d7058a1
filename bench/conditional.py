"""Class-conditional DCGAN on mnist-5k: conditional accuracy of the dense model and of an 8x-fewer-MACs copy.

Protocol (one CPU thread, budgets in CPU seconds of this process so a busy machine stretches the wall time but
not the work): train `--task conditional` (dcgan, widths from --g-widths/--d-widths, batch --batch-size, bce,
lr 2e-4, R1 --r1, seed 0) in chunks of --chunk steps until --train-minutes of CPU are spent; channel-prune G
(channel-l1, --target-macs 0.125, the sensitivity scan's per-layer amounts) and fine-tune it with distillation
from the dense teacher (default terms) in chunks until --finetune-minutes are spent. Conditional accuracy:
--per-class seeded samples of every digit, classified by the bundled digit classifier; a sample counts when its
class is the one asked for. Targets (issue 13): dense >= 0.95, 8x fewer MACs >= 0.93. On a shared machine
--train-wall-minutes / --finetune-wall-minutes cap the wall time too; the JSON says which limit stopped each
phase and the CPU spent.
Writes bench/results/conditional.json.

    nice -n 10 .venv/bin/python bench/conditional.py [--train-minutes 20] [--finetune-minutes 8] [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
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
from engine.events import CancelToken, Log  # noqa: E402
from engine.metrics.complexity import summarize  # noqa: E402
from engine.metrics.conditional import generator_accuracy  # noqa: E402
from engine.metrics.feature_net import load_feature_net  # noqa: E402
from engine.models import generator_from_checkpoint  # noqa: E402
from engine.pipeline import save_config  # noqa: E402
from engine.stages.finetune.run import FinetuneConfig, run_finetune  # noqa: E402
from engine.stages.prune.config import PruneConfig  # noqa: E402
from engine.stages.prune.run import run_prune  # noqa: E402
from engine.stages.train.run import run_train  # noqa: E402
from engine.workspace import Workspace, atomic_write_json  # noqa: E402

OUT = ROOT / "bench" / "results" / "conditional.json"


def drain(events, quiet: bool = True) -> None:
    for e in events:
        if isinstance(e, Log) and (not quiet or e.level == "warning"):
            print(f"  {e.level}: {e.message}", flush=True)


def _budget(cpu_budget: float, wall_budget: float, cpu_before: float = 0.0):
    """A check that says whether there is budget left, and the record of what was spent."""
    t0, w0 = time.process_time() - cpu_before, time.perf_counter()
    spent = {"cpu_s": 0.0, "wall_s": 0.0, "stopped_by": None}

    def left() -> bool:
        spent.update(cpu_s=round(time.process_time() - t0, 1), wall_s=round(time.perf_counter() - w0, 1))
        if spent["cpu_s"] >= cpu_budget:
            spent["stopped_by"] = "cpu budget"
        elif spent["wall_s"] >= wall_budget:  # a shared machine that gives this process little CPU
            spent["stopped_by"] = "wall-clock cap (the machine was shared)"
        return spent["stopped_by"] is None

    return left, spent


def train_for(ws: Workspace, cfg: PipelineConfig, cpu_budget: float, wall_budget: float, chunk: int,
              cpu_before: float = 0.0) -> dict:
    """Train in chunks of `chunk` steps (resuming exactly) until the CPU budget (or the wall-clock cap) is spent.
    A workspace that already holds a dense model continues from its step; cpu_before is what that cost."""
    path = ws.checkpoint_path("dense")
    steps = int(ws.load_checkpoint(path)["step"]) if path.exists() else 0
    left, spent = _budget(cpu_budget, wall_budget, cpu_before)
    while left():
        steps += chunk
        run_cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, steps=steps, resume=path.exists()))
        drain(run_train(run_cfg, ws, CancelToken()))
        print(f"train: {steps} steps, {time.process_time():.0f} CPU s", flush=True)
    return {"steps": steps, **spent}


def finetune_for(ws: Workspace, cfg: FinetuneConfig, cpu_budget: float, wall_budget: float, chunk: int) -> dict:
    steps = 0
    left, spent = _budget(cpu_budget, wall_budget)
    while left():
        steps += chunk
        drain(run_finetune(dataclasses.replace(cfg, steps=steps, resume=steps > chunk), ws, CancelToken()))
        print(f"finetune: {steps} steps, {time.process_time():.0f} CPU s", flush=True)
    return {"steps": steps, **spent}


def narrow_start(ws: Workspace, cfg: PipelineConfig, widths: list[int] | None, d_widths: list[int] | None) -> None:
    """A dense model at step 0 with widths other than the default (training then continues from it)."""
    from engine.checkpoints import save_gan
    from engine.data import load_dataset
    from engine.models import build_pair, default_specs

    data = load_dataset(cfg.data)
    g, d = default_specs("dcgan", data.image_shape, cfg.model.latent_dim, num_classes=len(data.classes))
    torch.manual_seed(cfg.train.seed)
    G, D = build_pair({"generator": {**g, "widths": widths or g["widths"]},
                       "discriminator": {**d, "widths": d_widths or d["widths"]}})
    save_gan(ws, "dense", G, D, step=0, seed=cfg.train.seed, loss=cfg.train.loss, task="conditional",
             data={"dataset": data.name, "image_shape": list(data.image_shape), "classes": data.classes})


def measure(ws: Workspace, name: str, net, per_class: int) -> dict:
    ckpt = ws.load_checkpoint(ws.checkpoint_path(name))
    G = generator_from_checkpoint(ckpt)
    acc = generator_accuracy(G, net, per_class=per_class, seed=1)
    return {"checkpoint": f"{name}.pt", "step": ckpt.get("step"), "macs": summarize(G)["macs"],
            "params": summarize(G)["params"], "widths": G.spec()["widths"], **acc}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-minutes", type=float, default=20.0, help="CPU minutes for the dense model")
    ap.add_argument("--finetune-minutes", type=float, default=8.0, help="CPU minutes for the pruned copy")
    ap.add_argument("--train-wall-minutes", type=float, default=1e9, help="stop training at this wall time too")
    ap.add_argument("--finetune-wall-minutes", type=float, default=1e9, help="stop fine-tuning at this wall time")
    ap.add_argument("--cpu-before", type=float, default=0.0,
                    help="CPU seconds an earlier run spent on the dense model in --workspace (it continues)")
    ap.add_argument("--chunk", type=int, default=200, help="steps between CPU-budget checks")
    ap.add_argument("--g-widths", default=None, help="G's hidden widths, e.g. 128,64 (default: the dcgan default "
                                                     "256,128); narrower buys more steps on a busy CPU")
    ap.add_argument("--d-widths", default=None, help="D's hidden widths (default 64,128)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--r1", type=float, default=1.0, help="R1 weight on D (0 = off; cheaper steps)")
    ap.add_argument("--per-class", type=int, default=500, help="samples per class for the accuracy")
    ap.add_argument("--target-macs", type=float, default=0.125)
    ap.add_argument("--workspace", help="keep the workspace here (default: a temporary folder)")
    ap.add_argument("--quick", action="store_true", help="tiny numbers: checks the script runs")
    args = ap.parse_args()
    if args.quick:
        args.train_minutes, args.finetune_minutes, args.chunk, args.per_class = 0.05, 0.05, 10, 20
    torch.set_num_threads(1)
    root = Path(args.workspace) if args.workspace else Path(tempfile.mkdtemp(prefix="cond-bench-"))
    ws = Workspace(root)
    cfg = PipelineConfig(DataConfig("mnist-5k"), ModelConfig(arch="dcgan", task="conditional"),
                         TrainConfig(batch_size=args.batch_size, loss="bce", lr=2e-4, r1=args.r1, seed=0, device="cpu",
                                     threads=1,
                                     sample_every=10**6, checkpoint_every=10**6))
    save_config(ws, cfg)
    widths = lambda text: [int(w) for w in text.split(",")] if text else None  # noqa: E731
    if (args.g_widths or args.d_widths) and not ws.checkpoint_path("dense").exists():
        narrow_start(ws, cfg, widths(args.g_widths), widths(args.d_widths))
    net = load_feature_net()
    wall = time.perf_counter()
    train = train_for(ws, cfg, args.train_minutes * 60, args.train_wall_minutes * 60, args.chunk, args.cpu_before)
    dense = measure(ws, "dense", net, args.per_class)
    print(f"dense: accuracy {dense['cond_accuracy']:.4f} after {train['steps']} steps", flush=True)
    drain(run_prune(PruneConfig(method="channel-l1", target="g", target_macs=args.target_macs), ws, CancelToken()))
    pruned = measure(ws, "pruned", net, args.per_class)
    ft_cfg = FinetuneConfig(device="cpu", probe_every=args.chunk, probe_samples=200 if args.quick else 1000,
                            checkpoint_every=10**6, sample_every=10**6)
    finetune = finetune_for(ws, ft_cfg, args.finetune_minutes * 60, args.finetune_wall_minutes * 60, args.chunk)
    small = measure(ws, "finetuned", net, args.per_class)
    print(f"{dense['macs'] / small['macs']:.1f}x fewer MACs: accuracy {small['cond_accuracy']:.4f}", flush=True)
    result = {
        "benchmark": "conditional",
        "protocol": __doc__.split("Protocol", 1)[1].split("Writes")[0].strip(),
        "feature_net": "bundled digit classifier (resources/models)", "samples_per_class": args.per_class,
        "train": {**train, "settings": dataclasses.asdict(cfg.train), "g_widths": dense["widths"],
                  "d_widths": widths(args.d_widths) or "default"},
        "finetune": finetune,
        "dense": dense, "pruned_before_finetune": pruned, "pruned_finetuned": small,
        "macs_reduction": round(dense["macs"] / small["macs"], 2),
        "ratio_to_dense": round(small["cond_accuracy"] / dense["cond_accuracy"], 4),
        "targets": {"dense": 0.95, "pruned_8x": 0.93},
        "met": {"dense": dense["cond_accuracy"] >= 0.95, "pruned_8x": small["cond_accuracy"] >= 0.93},
        "wall_s": round(time.perf_counter() - wall, 1), "threads": 1, "torch": torch.__version__,
        "machine": platform.machine(), "quick": args.quick,
    }
    out = OUT.with_name("conditional_quick.json") if args.quick else OUT
    atomic_write_json(out, result)
    print(json.dumps({k: result[k] for k in ("macs_reduction", "ratio_to_dense", "met")}), f"→ {out}")


if __name__ == "__main__":
    main()
