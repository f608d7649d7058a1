"""gan-prune compress: the smallest generator that keeps FID within a budget, found within a time budget."""

from __future__ import annotations

from engine.cli.common import add_workspace_arg, run_registered
from engine.cli.flags import Flag, add_config_flags, config_from_args, flag_fields

FLAGS = {"target_macs": Flag(metavar="R"), "time_budget": Flag(metavar="MIN")}


def register(sub) -> None:
    from engine.compress.config import CompressConfig

    p = sub.add_parser("compress", help="search for the smallest G that keeps FID within a budget (prune + distil)")
    add_workspace_arg(p)
    add_config_flags(p, CompressConfig, flag_fields(CompressConfig), FLAGS)
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from engine.compress.config import CompressConfig
    from engine.workspace import Workspace

    cfg = config_from_args(CompressConfig, args, flag_fields(CompressConfig), FLAGS)
    cfg.validate()  # before anything is opened or written
    ws = Workspace(args.workspace, create=False)
    run_registered("compress", cfg, ws, quiet=args.quiet)
    return 0
