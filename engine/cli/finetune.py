"""gan-prune finetune: fine-tune the pruned model with its D plus distillation from the dense teacher."""

from __future__ import annotations

from engine.cli.common import add_settings_arg, add_workspace_arg, with_settings
from engine.cli.distributed import add_distributed_args, distributed_config, refuse_unshared, run_command
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
    from engine.stages.finetune.config import FinetuneConfig

    p = sub.add_parser("finetune", help="fine-tune the pruned GAN (adversarial + distillation from the dense G)")
    add_workspace_arg(p)
    add_config_flags(p, FinetuneConfig, flag_fields(FinetuneConfig), FLAGS)
    p.add_argument("--quiet", "-q", action="store_true")
    add_settings_arg(p)  # the studio's processes
    add_distributed_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from engine import stages
    from engine.stages.finetune.config import FinetuneConfig
    from engine.workspace import Workspace

    cfg = config_from_args(FinetuneConfig, args, flag_fields(FinetuneConfig), FLAGS)
    cfg = with_settings(cfg, args, "finetune")
    cfg.validate()
    dc = distributed_config(args)
    dc.local_batch(cfg.batch_size)  # before any process starts
    refuse_unshared(args)
    ws = Workspace(args.workspace, create=False)
    # a slim student (--student-widths, or in the settings file) is made from scratch, not from the pruned model
    needs = ("dense",) if cfg.student_widths else ("dense", "pruned")
    return run_command(args, "finetune", ws, lambda cancel: stages.start("finetune", cfg, ws, cancel), dc=dc,
                       device=cfg.device, needs=needs)
