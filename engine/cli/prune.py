"""gan-prune prune | layers | sensitivity: prune G and/or D, list prunable layers, scan per-layer sensitivity."""

from __future__ import annotations

from engine.cli.common import add_workspace_arg, run_registered
from engine.cli.flags import Flag, add_config_flags, config_from_args, flag_fields
from engine.errors import ConfigError


def _floats(text) -> tuple[float, ...]:
    if isinstance(text, tuple):  # the default
        return text
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ConfigError(f"--amounts must be numbers separated by commas, e.g. 0.1,0.5,0.9 (got {text!r}).") from None


def _names(values: list[str] | None) -> tuple[str, ...] | None:
    if not values:
        return None
    return tuple(n.strip() for v in values for n in v.split(",") if n.strip())


PRUNE_FLAGS = {"method": Flag(required=True), "layers": Flag(metavar="NAME", convert=_names)}
SENSITIVITY_FLAGS = {"amounts": Flag(type=str, convert=_floats, help="comma-separated fractions"),
                     "layers": Flag(metavar="NAME", convert=_names)}


def register(sub) -> None:
    from engine.stages.prune.config import PruneConfig
    from engine.stages.sensitivity.config import SensitivityConfig

    p = sub.add_parser("prune", help="prune G and/or D (weights, channels or residual blocks)")
    add_workspace_arg(p)
    add_config_flags(p, PruneConfig, flag_fields(PruneConfig), PRUNE_FLAGS)
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=run_prune_cmd)

    p = sub.add_parser("layers", help="list the prunable layers of G and D")
    add_workspace_arg(p)
    p.set_defaults(func=run_layers_cmd)

    p = sub.add_parser("sensitivity", help="prune each G layer alone at several amounts; write sensitivity.json/csv")
    add_workspace_arg(p)
    add_config_flags(p, SensitivityConfig, flag_fields(SensitivityConfig), SENSITIVITY_FLAGS)
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=run_sensitivity_cmd)


def run_prune_cmd(args) -> int:
    from engine.stages.prune.config import PruneConfig
    from engine.workspace import Workspace

    cfg = config_from_args(PruneConfig, args, flag_fields(PruneConfig), PRUNE_FLAGS)
    cfg.validate()
    ws = Workspace(args.workspace, create=False)
    run_registered("prune", cfg, ws, quiet=args.quiet)
    return 0


def run_layers_cmd(args) -> int:
    from engine.metrics.complexity import layer_table
    from engine.models import discriminator_from_checkpoint
    from engine.prune.layers import output_layer
    from engine.stages.finetune.run import load_teacher
    from engine.workspace import Workspace

    ws = Workspace(args.workspace, create=False)
    ckpt, G = load_teacher(ws)  # pruning always starts from the dense model, so list its layers
    for role, model in (("G", G), ("D", discriminator_from_checkpoint(ckpt))):
        out = output_layer(model)
        print(f"{role} (dense)")
        print(f"  {'name':<22} {'type':<16} {'shape':<18} {'params':>10} {'MACs':>12}")
        for r in layer_table(model):
            if r.type == "BatchNorm2d":
                continue
            mark = "  (output: never shrunk by channel pruning)" if r.name == out else ""
            print(f"  {r.name:<22} {r.type:<16} {r.shape:<18} {r.params:>10,} {r.macs:>12,}{mark}")
    return 0


def run_sensitivity_cmd(args) -> int:
    from engine.stages.sensitivity.config import SensitivityConfig
    from engine.workspace import Workspace

    cfg = config_from_args(SensitivityConfig, args, flag_fields(SensitivityConfig), SENSITIVITY_FLAGS)
    cfg.validate()
    ws = Workspace(args.workspace, create=False)
    run_registered("sensitivity", cfg, ws, quiet=args.quiet)
    return 0
