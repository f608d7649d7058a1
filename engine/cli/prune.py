"""gan-prune prune | layers | sensitivity: prune G and/or D, list prunable layers, scan per-layer sensitivity."""

from __future__ import annotations

from engine.cli.common import add_workspace_arg, run_registered
from engine.errors import ConfigError


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ConfigError(f"--amounts must be numbers separated by commas, e.g. 0.1,0.5,0.9 (got {text!r}).") from None


def _names(values: list[str] | None) -> tuple[str, ...] | None:
    if not values:
        return None
    return tuple(n.strip() for v in values for n in v.split(",") if n.strip())


def register(sub) -> None:
    from engine.prune.config import METHODS

    p = sub.add_parser("prune", help="prune G and/or D (weights, channels or residual blocks)")
    add_workspace_arg(p)
    p.add_argument("--method", required=True, help=", ".join(METHODS))
    p.add_argument("--amount", type=float, default=None, help="fraction to remove, between 0 and 1 (default 0.5)")
    p.add_argument("--scope", choices=["layer", "global"], default="layer")
    p.add_argument("--target", choices=["g", "d", "gd"], default="g", help="which network(s) to prune")
    p.add_argument("--layers", nargs="+", metavar="NAME",
                   help="only these layers (see 'gan-prune layers'); prefix g: or d: to pick a network")
    p.add_argument("--round-to", type=int, help="keep channel counts a multiple of N")
    p.add_argument("--schedule", choices=["oneshot", "iterative", "lottery"], default="oneshot")
    p.add_argument("--rounds", type=int, default=3, help="rounds of the iterative/lottery schedule")
    p.add_argument("--finetune-steps", type=int, default=50, help="fine-tuning steps between rounds")
    p.add_argument("--rewind-step", type=int, default=10, help="lottery: rewind survivors to this step")
    p.add_argument("--target-macs", type=float, help="keep this fraction of G's MACs; per-layer amounts are chosen "
                                                     "from a sensitivity scan")
    p.add_argument("--match-d", action="store_true", help="prune D's channels by the share G lost")
    p.add_argument("--block-criterion", choices=["l1", "psnr"], default="l1")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=run_prune_cmd)

    p = sub.add_parser("layers", help="list the prunable layers of G and D")
    add_workspace_arg(p)
    p.set_defaults(func=run_layers_cmd)

    p = sub.add_parser("sensitivity", help="prune each G layer alone at several amounts; write sensitivity.json/csv")
    add_workspace_arg(p)
    p.add_argument("--method", default="channel-l1")
    p.add_argument("--amounts", default="0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9", help="comma-separated fractions")
    p.add_argument("--layers", nargs="+", metavar="NAME")
    p.add_argument("--round-to", type=int)
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=run_sensitivity_cmd)


def run_prune_cmd(args) -> int:
    from engine.prune import PruneConfig
    from engine.workspace import Workspace

    cfg = PruneConfig(method=args.method, amount=0.5 if args.amount is None else args.amount, scope=args.scope,
                      target=args.target, layers=_names(args.layers), round_to=args.round_to,
                      schedule=args.schedule, rounds=args.rounds, finetune_steps=args.finetune_steps,
                      rewind_step=args.rewind_step, target_macs=args.target_macs, match_d=args.match_d,
                      block_criterion=args.block_criterion, device=args.device, seed=args.seed)
    cfg.validate()
    ws = Workspace(args.workspace, create=False)
    run_registered("prune", cfg, ws, quiet=args.quiet)
    return 0


def run_layers_cmd(args) -> int:
    from engine.finetune import load_teacher
    from engine.metrics.complexity import layer_table
    from engine.models import discriminator_from_checkpoint
    from engine.prune.layers import output_layer
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
    from engine.prune.sensitivity import SensitivityConfig
    from engine.workspace import Workspace

    cfg = SensitivityConfig(method=args.method, amounts=_floats(args.amounts), layers=_names(args.layers),
                            round_to=args.round_to)
    cfg.validate()
    ws = Workspace(args.workspace, create=False)
    run_registered("sensitivity", cfg, ws, quiet=args.quiet)
    return 0
