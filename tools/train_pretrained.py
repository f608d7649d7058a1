"""Train the pretrained demo GANs shipped in resources/models/ (reproducible: fixed seeds, CPU).

    .venv/bin/python tools/train_pretrained.py dcgan --steps 2500
    .venv/bin/python tools/train_pretrained.py mlp --steps 6000

Each writes resources/models/<arch>-mnist5k.pt (weights in float16 to stay small; the app upcasts on load, no
optimizer state) and docs/images/<arch>-mnist5k.png (its sample grid).
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import signal
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.config import DataConfig, ModelConfig, PipelineConfig, TrainConfig  # noqa: E402
from engine.events import CancelToken, Log, Metrics  # noqa: E402
from engine.images import save_png  # noqa: E402
from engine.models import generator_from_checkpoint  # noqa: E402
from engine.stages.train.run import fixed_latents, run_train, sample_grid  # noqa: E402
from engine.workspace import Workspace, atomic_write_bytes  # noqa: E402

SECONDS_FILE = "pretrained_seconds.json"
# Per arch: what trains well on 5,000 digits. Every recipe value is spelled out, so a later change of
# TrainConfig's defaults cannot change what this script reproduces.
SETTINGS = {
    "dcgan": dict(batch_size=64, ema=0.999, loss="bce", lr=2e-4, betas=(0.5, 0.999), lr_d=None, r1=1.0),
    # the reference MLP GAN: BCE loss only; training settings (Adam, lr, batch, EMA) are ours to choose
    "mlp": dict(batch_size=128, ema=0.999, loss="bce", lr=2e-4, betas=(0.5, 0.999), lr_d=None, r1=0.0),
}


def write_bundled(payload: dict, out: Path, limit: int = 5_000_000) -> None:
    """Write a bundled checkpoint; if it would pass `limit` bytes, D's weights go to a second file."""
    def dump(obj) -> bytes:
        buf = io.BytesIO()
        torch.save(obj, buf)
        return buf.getvalue()

    data = dump(payload)
    if len(data) > limit:
        part = out.with_name(out.stem + ".discriminator.pt")
        atomic_write_bytes(part, dump({"format": payload["format"], "version": payload["version"],
                                       "discriminator": payload["discriminator"]}))
        data = dump({**payload, "discriminator": {}, "discriminator_file": part.name})
    atomic_write_bytes(out, data)


def _seed_workspace(ws: Workspace, path: Path) -> None:
    """Put a bundled model (G, D, step; D maybe in its side file) into ws as the checkpoint to continue from."""
    from engine.workspace import load_checkpoint_file

    ckpt = load_checkpoint_file(path)
    part = ckpt.pop("discriminator_file", None)
    if part:
        ckpt["discriminator"] = load_checkpoint_file(path.with_name(part))["discriminator"]
    to32 = lambda sd: {k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()}
    ckpt["generator"], ckpt["discriminator"] = to32(ckpt["generator"]), to32(ckpt["discriminator"])
    for key in ("format", "version", "pretrained", "optim", "rng"):
        ckpt.pop(key, None)
    ws.save_checkpoint("dense", ckpt)


def _seconds_so_far(ws: Workspace) -> float:
    """Training seconds of the earlier invocations of a resumed run (kept next to its checkpoint)."""
    try:
        return float(json.loads((ws.root / SECONDS_FILE).read_text())["seconds"])
    except (OSError, ValueError, KeyError):
        return 0.0


def domain_fid(G, n: int = 5000) -> float:
    from engine.data import load_dataset, to_float
    from engine.metrics.feature_net import features, load_feature_net
    from engine.metrics.quality import fid_from_features

    net = load_feature_net()
    real = to_float(load_dataset(DataConfig("mnist-5k")).images[:n])
    with torch.no_grad():
        fake = G.eval()(torch.randn(n, G.latent_dim, generator=torch.Generator().manual_seed(1)))
    return round(float(fid_from_features(features(net, real), features(net, fake))), 2)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("arch", choices=sorted(SETTINGS))
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", help="keep the training workspace here (default: a temporary folder), so a killed "
                                     "run continues with --resume")
    p.add_argument("--resume", action="store_true", help="continue the run in --workdir from its last checkpoint")
    p.add_argument("--init", metavar="FILE", help="start from this bundled model (its step count carries on; "
                                                   "fresh optimizers) instead of random weights")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="override a recipe value for an A/B run, e.g. --set r1=1.0 lr_d=4e-4 (recorded in the file)")
    args = p.parse_args()
    settings = {**SETTINGS[args.arch], **{k: ast.literal_eval(v) for k, v in (s.split("=", 1) for s in args.set)}}
    if args.resume and not args.workdir:
        p.error("--resume needs the --workdir of the run to continue")
    if args.resume and args.init:
        p.error("--init starts a run; --resume continues one: give one of them")
    cfg = PipelineConfig(data=DataConfig("mnist-5k"), model=ModelConfig(arch=args.arch),
                         train=TrainConfig(steps=args.steps, seed=args.seed, sample_every=500,
                                           checkpoint_every=250, device="cpu", threads=1,
                                           resume=args.resume or bool(args.init),
                                           **settings))
    t0 = time.time()
    cancel = CancelToken()
    # SIGTERM (or Ctrl-C) stops training at the next step and ships the model reached so far, with its step count.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: cancel.cancel())
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(args.workdir or tmp)
        seconds_before = _seconds_so_far(ws) if args.resume else 0.0
        if args.init:
            _seed_workspace(ws, Path(args.init))
        for e in run_train(cfg, ws, cancel):
            if isinstance(e, Metrics) and e.step % 50 == 0:
                values = " ".join(f"{k} {v:.3f}" for k, v in e.values.items())
                print(f"{args.arch} step {e.step}/{args.steps} {time.time() - t0:.0f}s {values}", flush=True)
            elif isinstance(e, Log):
                print(e.message, flush=True)
        ckpt = ws.load_checkpoint("dense")
        train_seconds = seconds_before + time.time() - t0
        atomic_write_bytes(ws.root / SECONDS_FILE, json.dumps({"seconds": train_seconds}).encode())
    # Ship whichever of the EMA and the raw generator has the lower domain-FID, as *the* generator.
    fids = {}
    for which in ("ema", "generator"):
        if ckpt.get(which):
            fids[which] = domain_fid(generator_from_checkpoint(ckpt, use_ema=(which == "ema")))
    print(f"domain-FID (5,000 samples): {fids}", flush=True)
    best = min(fids, key=fids.get)
    g_state = ckpt[best]
    half = lambda sd: {k: (v.half() if v.is_floating_point() else v) for k, v in sd.items()}
    payload = {"format": ckpt["format"], "version": ckpt["version"], "arch": ckpt["arch"],
               "generator": half(g_state), "discriminator": half(ckpt["discriminator"]), "ema": None,
               "step": ckpt["step"], "data": ckpt["data"], "seed": args.seed, "loss": ckpt["loss"],
               "pretrained": {"command": f"tools/train_pretrained.py {args.arch} --steps {args.steps}"
                                         f" --seed {args.seed}" + (f" --init {args.init}" if args.init else "")
                                         + (f" --set {' '.join(args.set)}" if args.set else ""),
                              "steps": int(ckpt["step"]), "steps_asked": args.steps,
                              "train_seconds": round(train_seconds), "threads": 1, "device": "cpu",
                              "settings": settings, "domain_fid_5000": fids, "shipped": best}}
    out = ROOT / "resources" / "models" / f"{args.arch}-mnist5k.pt"
    write_bundled(payload, out)
    G = generator_from_checkpoint(ckpt, use_ema=(best == "ema"))
    save_png(ROOT / "docs" / "images" / f"{args.arch}-mnist5k.png", sample_grid(G, fixed_latents(64, G.latent_dim, 0)))
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB) in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--split"]:  # re-write an existing bundled file within the size limit
        from engine.workspace import load_checkpoint_file

        target = Path(sys.argv[2])
        write_bundled(load_checkpoint_file(target), target)
    else:
        main()
