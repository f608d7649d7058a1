"""The subcommand of a registered stage that has no command module of its own (engine/stages/__init__.py, command=None):
every field of its config class is a flag (engine/cli/flags.py), so a new stage needs no CLI code."""

from __future__ import annotations

from engine.cli.common import add_workspace_arg, run_registered
from engine.cli.flags import add_config_flags, config_from_args, flag_fields


def register(sub, stage) -> None:
    cls = stage.config_class()
    names = flag_fields(cls)
    p = sub.add_parser(stage.name, help=stage.help, description=stage.description or None)
    add_workspace_arg(p)
    add_config_flags(p, cls, names)
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=lambda args: _run(stage, cls, names, args))


def _run(stage, cls, names, args) -> int:
    from engine.workspace import Workspace

    cfg = config_from_args(cls, args, names)
    cfg.validate()
    ws = Workspace(args.workspace, create=False)
    run_registered(stage.name, cfg, ws, quiet=args.quiet)
    return 0
