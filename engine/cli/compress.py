"""gan-prune compress: the smallest generator that keeps FID within a budget, found within a time budget.

By default one elastic student is trained for every size and sizes are scored without training
(engine.stages.compress.elastic); --search trials trains each size tried. --extract --reduction R takes any size
from the elastic student an earlier compress kept, without training.

With --nproc-per-node N (and the other flags of 'More than one machine') each round of the search fine-tunes N
candidates at once, one per process: one per GPU, or N CPU processes.
"""

from __future__ import annotations

from engine.cli.common import add_settings_arg, add_workspace_arg, with_settings
from engine.cli.distributed import add_distributed_args, distributed_config, refuse_unshared, run_command
from engine.cli.flags import Flag, add_config_flags, config_from_args, flag_fields

FLAGS = {"target_macs": Flag(metavar="R"), "time_budget": Flag(metavar="MIN"), "reduction": Flag(metavar="R")}


def register(sub) -> None:
    from engine.stages.compress.config import CompressConfig

    p = sub.add_parser("compress", help="search for the smallest G that keeps FID within a budget (prune + distil)")
    add_workspace_arg(p)
    add_config_flags(p, CompressConfig, flag_fields(CompressConfig), FLAGS)
    p.add_argument("--quiet", "-q", action="store_true")
    add_settings_arg(p)  # the studio's processes
    add_distributed_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from engine import stages
    from engine.stages.compress.config import CompressConfig
    from engine.workspace import Workspace

    cfg = config_from_args(CompressConfig, args, flag_fields(CompressConfig), FLAGS)
    cfg = with_settings(cfg, args, "compress")
    cfg.validate()  # before anything is opened or written
    dc = distributed_config(args)
    refuse_unshared(args)  # machines other than 0 read the dense model from the one shared workspace
    ws = Workspace(args.workspace, create=False)
    return run_command(args, "compress", ws, lambda cancel: stages.start("compress", cfg, ws, cancel), dc=dc,
                       device=cfg.device, needs=("dense",))
