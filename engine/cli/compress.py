"""gan-prune compress: the smallest generator that keeps FID within a budget, found within a time budget."""

from __future__ import annotations

from engine.cli.common import add_workspace_arg, run_registered


def register(sub) -> None:
    from engine.compress.config import ALLOCATIONS, CHANNEL_METHODS, DISCRIMINATORS
    from engine.compress.config import CompressConfig as C

    p = sub.add_parser("compress", help="search for the smallest G that keeps FID within a budget (prune + distil)")
    add_workspace_arg(p)
    p.add_argument("--max-fid-rise", type=float, default=C.max_fid_rise,
                   help="quality budget: FID may rise at most this much over the teacher's (0.10 = 10 %%)")
    p.add_argument("--target-macs", type=float, default=None, metavar="R",
                   help="a goal: keep at most this share of G's MACs (0.05 = 20x fewer); stops once it is met")
    p.add_argument("--time-budget", type=float, default=C.time_budget, metavar="MIN",
                   help="minutes for the whole search, the winner's extra training included")
    p.add_argument("--method", choices=CHANNEL_METHODS, default=C.method, help="which channels go first")
    p.add_argument("--allocation", choices=ALLOCATIONS, default=C.allocation,
                   help="per-layer cuts from the sensitivity scan, or the same share of every layer")
    p.add_argument("--discriminator", choices=DISCRIMINATORS, default=C.discriminator,
                   help="D for the students: the teacher's D cut to G's share, or the teacher's full D")
    p.add_argument("--probe-samples", type=int, default=C.probe_samples,
                   help="images per FID probe (the evaluate protocol size)")
    p.add_argument("--batch-size", type=int, default=C.batch_size)
    p.add_argument("--lr", type=float, default=C.lr)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default=C.device)
    p.add_argument("--seed", type=int, default=C.seed)
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from engine.compress.config import CompressConfig
    from engine.workspace import Workspace

    cfg = CompressConfig(max_fid_rise=args.max_fid_rise, target_macs=args.target_macs, time_budget=args.time_budget,
                         method=args.method, allocation=args.allocation, discriminator=args.discriminator,
                         probe_samples=args.probe_samples, batch_size=args.batch_size, lr=args.lr, device=args.device,
                         seed=args.seed)
    cfg.validate()  # before anything is opened or written
    ws = Workspace(args.workspace, create=False)
    run_registered("compress", cfg, ws, quiet=args.quiet)
    return 0
