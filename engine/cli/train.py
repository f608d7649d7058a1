"""gan-prune train: train a GAN into a workspace (or --resume it)."""

from __future__ import annotations

import dataclasses

from engine.cli.common import add_workspace_arg, run_registered
from engine.cli.flags import add_config_flags, flag_fields, overrides
from engine.config import DataConfig, ModelConfig, PipelineConfig, TrainConfig
from engine.tasks import IMAGE_ARCHS, takes_image

# The flags, by the config table they set (every field: a new one is a new flag); a flag left out keeps the value
# from the base config (the defaults, or with --resume the workspace's config.toml).


def register(sub) -> None:
    p = sub.add_parser("train", help="train a GAN on CPU or CUDA")
    add_workspace_arg(p)
    for cls in (DataConfig, ModelConfig, TrainConfig):
        add_config_flags(p, cls, flag_fields(cls), overrides_only=True)
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=run)


def config_from_args(args, base: PipelineConfig) -> PipelineConfig:
    data = dataclasses.replace(base.data, **overrides(args, flag_fields(DataConfig)))
    if args.dataset and args.dataset != base.data.dataset and args.image_size is None:
        data = dataclasses.replace(data, image_size=None)
    model = overrides(args, flag_fields(ModelConfig))
    if "arch" not in model and takes_image(model.get("task", "")) and base.model.arch not in IMAGE_ARCHS:
        model["arch"] = IMAGE_ARCHS[0]  # the U-Net: an image task without --arch should not fail on the noise default
    return dataclasses.replace(base, data=data, model=dataclasses.replace(base.model, **model),
                               train=dataclasses.replace(base.train, **overrides(args, flag_fields(TrainConfig))))


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
