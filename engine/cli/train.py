"""gan-prune train: train a GAN into a workspace (or --resume it)."""

from __future__ import annotations

import dataclasses

from engine.archs import arch_problem, default_arch
from engine.cli.common import add_workspace_arg
from engine.cli.distributed import add_distributed_args, distributed_config, refuse_unshared, run_command
from engine.cli.flags import add_config_flags, flag_fields, overrides
from engine.config import DataConfig, ModelConfig, PipelineConfig, TrainConfig

# The flags, by the config table they set (every field: a new one is a new flag); a flag left out keeps the value
# from the base config (the defaults, or with --resume the workspace's config.toml).


def register(sub) -> None:
    p = sub.add_parser("train", help="train a GAN on CPU or CUDA")
    add_workspace_arg(p)
    for cls in (DataConfig, ModelConfig, TrainConfig):
        add_config_flags(p, cls, flag_fields(cls), overrides_only=True)
    p.add_argument("--quiet", "-q", action="store_true")
    add_distributed_args(p)
    p.set_defaults(func=run)


def config_from_args(args, base: PipelineConfig) -> PipelineConfig:
    data = dataclasses.replace(base.data, **overrides(args, flag_fields(DataConfig)))
    if args.dataset and args.dataset != base.data.dataset and args.image_size is None:
        data = dataclasses.replace(data, image_size=None)
    model = overrides(args, flag_fields(ModelConfig))
    task = model.get("task", base.model.task)
    if "arch" not in model and arch_problem(base.model.arch, task):
        model["arch"] = default_arch(task)  # a task without --arch should not fail on another task's default arch
    return dataclasses.replace(base, data=data, model=dataclasses.replace(base.model, **model),
                               train=dataclasses.replace(base.train, **overrides(args, flag_fields(TrainConfig))))


def run(args) -> int:
    from engine import stages
    from engine.workspace import Workspace

    if args.resume:
        refuse_unshared(args)
    ws = Workspace(args.workspace)
    if args.resume:
        from engine.pipeline import workspace_config

        base = workspace_config(ws)
    else:
        base = PipelineConfig(DataConfig(), ModelConfig(), TrainConfig())
    cfg = config_from_args(args, base)
    # How many processes is this run's choice, not the workspace's: --resume on another count is fine.
    cfg = dataclasses.replace(cfg, distributed=distributed_config(args))
    cfg.validate()
    cfg.distributed.local_batch(cfg.train.batch_size)  # before any process starts
    from engine.pipeline import save_config  # loads torch: only once every flag is accepted

    # config.toml is written once training has accepted every input: a refused command leaves the old one.
    return run_command(args, "train", ws, lambda cancel: stages.start(
        "train", cfg, ws, cancel, before_first_event=lambda: save_config(ws, cfg)), dc=cfg.distributed,
        device=cfg.train.device, needs=("dense",) if args.resume else ())
