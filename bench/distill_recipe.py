"""Which fine-tune recipe lets a small student keep the bundled DCGAN teacher's quality: FID-vs-step curves.

Protocol. The bundled pretrained DCGAN is the teacher. A student is either the teacher pruned (channel-L1, one
share of every hidden layer, found by bisection as `gan-prune compress` does) to `R`x fewer G MACs ("pruned:R"),
or a slim DCGAN of given widths trained from scratch ("slim:W1,W2"). Each recipe trains it with the product's
Finetuner for `--steps` steps (one torch thread) and probes domain-FID every `--probe-every` steps on `--probe-n`
held-out latents against as many real images (the fine-tune probe, bundled digit-classifier features); the teacher
is probed on the same latents, so every point is also a ratio to the teacher. The best probed step is what the
product keeps. `--confirm` then scores the kept step by the issue's protocol (5,000 generated vs 5,000 real, 3
latent seeds, mean ± std) for teacher and student.

    .venv/bin/python bench/distill_recipe.py --students pruned:4 pruned:20 --recipes gan pure --steps 1500
    .venv/bin/python bench/distill_recipe.py --students pruned:20 --recipes pure --steps 20000 --confirm

Every run lands in `--out` (default bench/results/distill_recipe.json). The runs in that file came from:

    --students pruned:4 pruned:20 --recipes pure gan --steps 1200 --probe-every 200          # the diagnosis
    --students pruned:20 --recipes pure_lr1e-3_cos pure_lr5e-4_cos pure_lr2e-3_cos pure_lr4e-3_cos --steps 1200
    --students pruned:20 --recipes gan_adv0.1_lr1e-3_cos gan_match_r1 --steps 600 --probe-every 200
    --students pruned:4 slim:51,25 --recipes pure_lr4e-3_cos --steps 1200 --probe-every 200
    --students pruned:20 --recipes pure_lr4e-3_cos --steps 15000 --probe-every 500 --confirm  # the long run
    --teacher mlp --students pruned:8 --recipes pure_lr4e-3_cos --steps 3000 --probe-every 500 --confirm
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.config import DataConfig  # noqa: E402
from engine.data import load_dataset  # noqa: E402
from engine.distill import DistillWeights  # noqa: E402
from engine.distill.probe import BestKeeper, FidProbe  # noqa: E402
from engine.distill.students import channel_share_lost, matched_discriminator  # noqa: E402
from engine.distill.trainer import Finetuner, StudentSettings  # noqa: E402
from engine.latents import fixed_latents  # noqa: E402
from engine.metrics.feature_net import features, load_feature_net  # noqa: E402
from engine.metrics.quality import fid_from_features  # noqa: E402
from engine.models import build_generator, discriminator_from_checkpoint, generator_from_checkpoint  # noqa: E402
from engine.pipeline import load_bundled_checkpoint  # noqa: E402
from engine.prune.sensitivity import model_macs  # noqa: E402
from engine.stages.compress.trial import prune_to  # noqa: E402
from engine.workspace import atomic_write_json  # noqa: E402

TEACHERS = {"dcgan": "dcgan-mnist5k.pt", "mlp": "mlp-mnist5k.pt"}  # bundled in resources/models
BASE = dict(adversarial=1.0, lr=2e-4, schedule="constant", output=1.0, features=1.0, perceptual=1.0,
            d="teacher", r1=0.0, batch=64)
RECIPES = {  # name -> changes to BASE (BASE is today's compress recipe)
    "gan": {},
    "gan_lr5e-5": dict(lr=5e-5),
    "gan_cos": dict(schedule="cosine"),
    "gan_w10": dict(output=10.0, features=10.0, perceptual=10.0),
    "gan_adv0.1": dict(adversarial=0.1),
    "gan_match_r1": dict(d="match", r1=1.0),
    "gan_b128": dict(batch=128),
    "gan_adv0.1_lr1e-3_cos": dict(adversarial=0.1, lr=1e-3, schedule="cosine"),
    "pure": dict(adversarial=0.0),
    "pure_lr2e-3_cos": dict(adversarial=0.0, lr=2e-3, schedule="cosine"),
    "pure_lr4e-3_cos": dict(adversarial=0.0, lr=4e-3, schedule="cosine"),
    "pure_lr4e-3_cos_nofeat": dict(adversarial=0.0, lr=4e-3, schedule="cosine", features=0.0),
    "pure_lr4e-3_cos_outonly": dict(adversarial=0.0, lr=4e-3, schedule="cosine", features=0.0, perceptual=0.0),
    "pure_lr1e-3_cos_b128": dict(adversarial=0.0, lr=1e-3, schedule="cosine", batch=128),
    "pure_lr1e-3_cos_b32": dict(adversarial=0.0, lr=1e-3, schedule="cosine", batch=32),
    "pure_lr1e-3_cos_w10": dict(adversarial=0.0, lr=1e-3, schedule="cosine", output=10.0, features=10.0,
                                perceptual=10.0),
    "pure_cos": dict(adversarial=0.0, schedule="cosine"),
    "pure_lr1e-3": dict(adversarial=0.0, lr=1e-3),
    "pure_lr1e-3_cos": dict(adversarial=0.0, lr=1e-3, schedule="cosine"),
    "pure_lr5e-4_cos": dict(adversarial=0.0, lr=5e-4, schedule="cosine"),
    "pure_lr5e-5": dict(adversarial=0.0, lr=5e-5),
    "pure_out_only": dict(adversarial=0.0, features=0.0, perceptual=0.0),
    "pure_no_feat": dict(adversarial=0.0, features=0.0),
    "pure_no_perc": dict(adversarial=0.0, perceptual=0.0),
    "pure_no_out": dict(adversarial=0.0, output=0.0),
    "pure_b128": dict(adversarial=0.0, batch=128),
    "pure_b32": dict(adversarial=0.0, batch=32),
}


def make_student(kind: str, teacher: torch.nn.Module) -> torch.nn.Module:
    what, _, arg = kind.partition(":")
    if what == "pruned":
        G = copy.deepcopy(teacher).train()
        prune_to(G, float(arg), [], "channel-l1", "uniform")
        return G
    if what == "slim":
        torch.manual_seed(0)
        return build_generator(dict(teacher.spec(), widths=[int(w) for w in arg.split(",")]))
    raise SystemExit(f"--students takes pruned:R or slim:W1,W2 (got {kind!r}).")


def scorer(net, real_images, n: int, seeds: int):
    """Domain-FID by the issue's protocol: n generated vs n real, `seeds` latent seeds -> (mean, std)."""
    real = features(net, real_images[:n])

    @torch.no_grad()
    def score(G) -> tuple[float, float]:
        G.eval()
        fids = []
        for s in range(seeds):
            z = fixed_latents(n, G.latent_dim, 1000 + s)
            fids.append(fid_from_features(real, features(net, torch.cat([G(c) for c in z.split(500)]))))
        return statistics.mean(fids), (statistics.stdev(fids) if len(fids) > 1 else 0.0)
    return score


def run(args, kind: str, name: str, ckpt, teacher, images, net, probe, teacher_fid) -> dict:
    r = dict(BASE, **RECIPES[name])
    G = make_student(kind, teacher)
    share = channel_share_lost(G, teacher)
    D = matched_discriminator(ckpt, share) if r["d"] == "match" else discriminator_from_checkpoint(ckpt)
    settings = StudentSettings(lr=r["lr"], batch_size=r["batch"], seed=args.seed, adversarial=r["adversarial"],
                               schedule=r["schedule"], r1=r["r1"])
    torch.manual_seed(args.seed)
    tuner = Finetuner(G, D, teacher, images, settings,
                      DistillWeights(r["output"], r["features"], r["perceptual"]), "bce", torch.device("cpu"),
                      perceptual_net=net)
    keeper, curve, t0, train_s = BestKeeper(), [], time.perf_counter(), 0.0
    fid = probe(G)
    curve.append({"step": 0, "fid": round(fid, 3), "ratio": round(fid / teacher_fid, 4), "train_s": 0.0})
    while tuner.step < args.steps:
        tuner.set_progress(tuner.step / args.steps)
        t = time.perf_counter()
        tuner.train_step()
        train_s += time.perf_counter() - t
        if tuner.step % args.probe_every == 0 or tuner.step == args.steps:
            fid = probe(G)
            keeper.offer(tuner.step, fid, {"G": G})
            curve.append({"step": tuner.step, "fid": round(fid, 3), "ratio": round(fid / teacher_fid, 4),
                          "train_s": round(train_s, 1)})
            print(f"  {kind} {name} step {tuner.step}: FID {fid:.2f} ({fid / teacher_fid:.3f}x)", flush=True)
    keeper.restore({"G": G})
    tuner.close()
    row = {"student": kind, "recipe": name, "settings": r, "widths": G.spec()["widths"],
           "reduction": round(model_macs(teacher) / model_macs(G), 2), "steps": args.steps,
           "best_step": keeper.step, "best_fid": round(keeper.fid, 3), "best_ratio": round(keeper.fid / teacher_fid, 4),
           "train_s": round(train_s, 1), "s_per_step": round(train_s / max(1, args.steps), 4),
           "wall_s": round(time.perf_counter() - t0, 1), "curve": curve}
    if args.confirm:
        mean, std = args.score(G)
        row["confirm"] = {"fid": round(mean, 3), "std": round(std, 3),
                          "ratio": round(mean / args.teacher_confirm[0], 4)}
        print(f"  confirm {kind} {name}: FID {mean:.2f} ± {std:.2f} "
              f"(teacher {args.teacher_confirm[0]:.2f} ± {args.teacher_confirm[1]:.2f})", flush=True)
    if args.save:
        torch.save({"spec": G.spec(), "state": G.state_dict(), "curve": curve}, args.save)
    return row


PROTOCOL = ("Teacher: a bundled pretrained GAN. Student: the teacher pruned (channel-L1, one share of every hidden "
            "layer) to R x fewer G MACs ('pruned:R'), or a slim G of the given widths from scratch ('slim:W1,W2'). "
            "Each recipe trains it with engine.distill.trainer.Finetuner for `steps` steps on one torch thread "
            "(2-core machine shared with other jobs); `curve` is the probe FID (probe_n held-out latents vs as many "
            "real images, bundled digit-classifier features) every probe_every steps, `ratio` = FID / the "
            "teacher's on the same latents; best_* is the step the product would keep. `confirm` scores that step "
            "by the issue's protocol: 5,000 generated vs 5,000 real, 3 latent seeds, mean and std.")


def record(path: Path, row: dict) -> None:
    """Add `row` to the JSON at `path`, replacing a run of the same teacher, student, recipe, steps and seed."""
    key = ("teacher", "student", "recipe", "steps", "seed")
    doc = json.loads(path.read_text()) if path.exists() else {}
    runs = [r for r in doc.get("runs", []) if tuple(r.get(k) for k in key) != tuple(row.get(k) for k in key)]
    doc = {"protocol": PROTOCOL, "recipes": RECIPES, "base": BASE, **doc, "runs": runs + [row]}
    atomic_write_json(path, doc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", choices=sorted(TEACHERS), default="dcgan")
    ap.add_argument("--students", nargs="+", default=["pruned:4", "pruned:20"])
    ap.add_argument("--recipes", nargs="+", default=["gan", "pure"], choices=sorted(RECIPES))
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--probe-every", type=int, default=250)
    ap.add_argument("--probe-n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--confirm", action="store_true", help="score the kept step at 5,000 vs 5,000, 3 seeds")
    ap.add_argument("--save", default="", help="save the last run's kept G here (spec + state_dict)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "distill_recipe.json"),
                    help="JSON that gathers every run (a run with the same teacher, student, recipe, steps and seed "
                         "replaces the earlier one)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    ckpt = load_bundled_checkpoint(TEACHERS[args.teacher])
    teacher = generator_from_checkpoint(ckpt).eval()
    images = load_dataset(DataConfig("mnist-5k")).images
    net = load_feature_net()
    probe = FidProbe(net, images, teacher.latent_dim, args.probe_n, 0, torch.device("cpu"))
    teacher_fid = probe(teacher)
    print(f"teacher probe FID {teacher_fid:.2f} on {probe.n} latents", flush=True)
    if args.confirm:
        args.score = scorer(net, images, 5000, 3)
        args.teacher_confirm = args.score(teacher)
    for kind in args.students:
        for name in args.recipes:
            row = run(args, kind, name, ckpt, teacher, images, net, probe, teacher_fid)
            row.update(teacher=TEACHERS[args.teacher], teacher_probe_fid=round(teacher_fid, 3), probe_n=probe.n,
                       probe_every=args.probe_every,
                       seed=args.seed, machine=platform.machine(), threads=torch.get_num_threads(),
                       when=time.strftime("%Y-%m-%dT%H:%M:%S"))
            if args.confirm:
                row["teacher_confirm"] = [round(v, 3) for v in args.teacher_confirm]
            record(Path(args.out), row)
            print(f"{kind} {name}: best FID {row['best_fid']} ({row['best_ratio']}x) at step {row['best_step']}, "
                  f"{row['s_per_step']} s/step", flush=True)


if __name__ == "__main__":
    main()
