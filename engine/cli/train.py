"""gan-prune train: train a GAN into a workspace (or --resume it)."""

from __future__ import annotations

import dataclasses

from engine.cli.common import add_workspace_arg, run_registered
from engine.config import DataConfig, ModelConfig, PipelineConfig, TrainConfig
from engine.tasks import task_names


def register(sub) -> None:
    p = sub.add_parser("train", help="train a GAN on CPU or CUDA")
    add_workspace_arg(p)
    p.add_argument("--dataset", help="mnist-5k (bundled), mnist, fashion-mnist, cifar10 or folder:PATH")
    p.add_argument("--arch", help="mlp, dcgan or resnet")
    p.add_argument("--task", choices=task_names(),
                   help="unconditional (noise → image, default) or conditional (class → image: labelled data, dcgan)")
    p.add_argument("--steps", type=int, help="total training steps (with --resume: the new total)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"])
    p.add_argument("--seed", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float, help="learning rate (default 2e-4)")
    p.add_argument("--loss", choices=["bce", "hinge"])
    p.add_argument("--optimizer", choices=["adam", "sgd"], help="adam (default) or the reference's SGD")
    p.add_argument("--ema", type=float, help="EMA decay of G, e.g. 0.999 (0 = off)")
    p.add_argument("--sample-every", type=int)
    p.add_argument("--checkpoint-every", type=int)
    p.add_argument("--image-size", type=int, help="resize images to this side (default: the data's own size; "
                                                     "a folder's nearest of 8-64 px)")
    p.add_argument("--color", choices=["auto", "gray", "rgb"])
    p.add_argument("--limit", type=int, help="use only the first N images")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.add_argument("--no-amp", action="store_true", help="full precision on CUDA")
    p.add_argument("--resume", action="store_true", help="continue from the workspace's last checkpoint")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=run)


def _override(obj, **values):
    return dataclasses.replace(obj, **{k: v for k, v in values.items() if v is not None})


def config_from_args(args, base: PipelineConfig) -> PipelineConfig:
    data = _override(base.data, dataset=args.dataset, image_size=args.image_size, color=args.color, limit=args.limit)
    if args.dataset and args.dataset != base.data.dataset and args.image_size is None:
        data = dataclasses.replace(data, image_size=None)
    return dataclasses.replace(
        base, data=data, model=_override(base.model, arch=args.arch, task=args.task),
        train=_override(base.train, steps=args.steps, device=args.device, seed=args.seed, batch_size=args.batch_size,
                        lr=args.lr, loss=args.loss, optimizer=args.optimizer, ema=args.ema,
                        sample_every=args.sample_every, checkpoint_every=args.checkpoint_every,
                        threads=args.threads, resume=args.resume, amp=False if args.no_amp else None))


def run(args) -> int:
    from engine.pipeline import save_config, workspace_config
    from engine.workspace import Workspace

    ws = Workspace(args.workspace)
    base = workspace_config(ws) if args.resume else PipelineConfig(DataConfig(), ModelConfig(), TrainConfig())
    cfg = config_from_args(args, base)
    cfg.validate()
    # config.toml is written once training has accepted every input: a refused command leaves the old one.
    run_registered("train", cfg, ws, quiet=args.quiet, before_first_event=lambda: save_config(ws, cfg))
    return 0
