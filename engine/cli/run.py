"""gan-prune run CONFIG.toml: every stage from one config file."""

from __future__ import annotations


def register(sub) -> None:
    from engine.cli.common import add_workspace_arg

    p = sub.add_parser("run", help="run train → prune → finetune → evaluate → export from a TOML config")
    p.add_argument("config", metavar="CONFIG.toml")
    add_workspace_arg(p)
    p.add_argument("--quiet", "-q", action="store_true")
    from engine.cli.distributed import add_distributed_args

    add_distributed_args(p)  # over the config's [distributed] table
    p.set_defaults(func=run)


def run(args) -> int:
    import dataclasses

    from engine.cli.distributed import distributed_config, run_command
    from engine.config import load_pipeline_config
    from engine.pipeline import run_config
    from engine.stage_runner import run_stage
    from engine.workspace import Workspace

    cfg = load_pipeline_config(args.config)
    cfg = dataclasses.replace(cfg, distributed=distributed_config(args, cfg.distributed))
    together = cfg.distributed  # batches that do not split: refused before any start
    together.local_batch(cfg.train.batch_size)
    finetune_batch = (cfg.stages.get("finetune") or {}).get("batch_size")
    if isinstance(finetune_batch, int):
        together.local_batch(finetune_batch, "fine-tuning batch size")
    ws = Workspace(args.workspace)
    return run_command(args, "run", ws, lambda cancel: run_stage("run", ws, run_config(cfg, ws, cancel), cancel),
                       dc=cfg.distributed, device=cfg.train.device)
