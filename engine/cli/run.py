"""gan-prune run CONFIG.toml: every stage from one config file."""

from __future__ import annotations


def register(sub) -> None:
    from engine.cli.common import add_workspace_arg

    p = sub.add_parser("run", help="run train → prune → finetune → evaluate → export from a TOML config")
    p.add_argument("config", metavar="CONFIG.toml")
    add_workspace_arg(p)
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from engine.cli.common import drive_stage
    from engine.config import load_pipeline_config
    from engine.events import CancelToken
    from engine.pipeline import run_config
    from engine.workspace import Workspace

    cfg = load_pipeline_config(args.config)
    ws = Workspace(args.workspace)
    cancel = CancelToken()
    drive_stage("run", ws, run_config(cfg, ws, cancel), cancel, quiet=args.quiet)
    return 0
