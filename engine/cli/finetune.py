"""gan-prune finetune: fine-tune the pruned model with its D plus distillation from the dense teacher."""

from __future__ import annotations

from engine.cli.common import add_workspace_arg, run_registered
from engine.cli.flags import Flag, add_config_flags, config_from_args, flag_fields


def _widths(text: str) -> tuple[int, ...]:
    import argparse

    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"widths are whole numbers separated by commas, e.g. 64,32 "
                                         f"(got {text!r})") from None
    return widths


FLAGS = {"steps": Flag(required=True), "distill_features": Flag(names=("--feature-distill",)),
         "student_widths": Flag(type=_widths, metavar="W1,W2,...")}


def register(sub) -> None:
    from engine.finetune import FinetuneConfig

    p = sub.add_parser("finetune", help="fine-tune the pruned GAN (adversarial + distillation from the dense G)")
    add_workspace_arg(p)
    add_config_flags(p, FinetuneConfig, flag_fields(FinetuneConfig), FLAGS)
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from engine.finetune import FinetuneConfig
    from engine.workspace import Workspace

    cfg = config_from_args(FinetuneConfig, args, flag_fields(FinetuneConfig), FLAGS)
    cfg.validate()
    ws = Workspace(args.workspace, create=False)
    run_registered("finetune", cfg, ws, quiet=args.quiet)
    return 0
