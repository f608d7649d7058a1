"""gan-prune evaluate: every model variant in the workspace, side by side, into report.json / .html / .csv."""

from __future__ import annotations

from engine.cli.common import add_workspace_arg, run_registered
from engine.cli.flags import Flag, add_config_flags, config_from_args, flag_fields

FLAGS = {"samples": Flag(metavar="N"), "seeds": Flag(metavar="K"), "latency_runs": Flag(metavar="N")}


def register(sub) -> None:
    from engine.stages.evaluate.config import EvaluateConfig

    p = sub.add_parser("evaluate", help="measure every model variant (quality, size, speed) and write the report",
                       description="Evaluate dense, pruned, fine-tuned and exported ONNX generators on the same "
                                   "latents and real images; write report.json, report.html and report.csv into the "
                                   "workspace. Exits non-zero when a variant could not be evaluated.")
    add_workspace_arg(p)
    add_config_flags(p, EvaluateConfig, flag_fields(EvaluateConfig), FLAGS)
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=handle)


def handle(args) -> int:
    from engine.stages.evaluate.config import EvaluateConfig
    from engine.workspace import Workspace

    cfg = config_from_args(EvaluateConfig, args, flag_fields(EvaluateConfig), FLAGS)
    cfg.validate()
    ws = Workspace(args.workspace, create=False)
    run_registered("evaluate", cfg, ws, quiet=args.quiet)
    return 0
