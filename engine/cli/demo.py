"""gan-prune demo: the whole pipeline on the bundled data and pretrained DCGAN."""

from __future__ import annotations


def register(sub) -> None:
    from engine.cli.common import add_workspace_arg

    p = sub.add_parser("demo", help="run the whole pipeline on the bundled demo GAN")
    add_workspace_arg(p)
    p.add_argument("--train-steps", type=int, default=50, help="extra training steps before pruning (default 50)")
    p.add_argument("--model", choices=["dcgan", "mlp"], default="dcgan",
                   help="which bundled pretrained GAN to start from (default dcgan)")
    p.add_argument("--quick", action="store_true", help="tiny step counts (a smoke test, not a result)")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    import time

    from engine.cli.common import drive
    from engine.errors import ConfigError
    from engine.events import CancelToken
    from engine.pipeline import open_demo_workspace, run_demo

    if args.train_steps <= 0:
        raise ConfigError(f"--train-steps must be above 0 (got {args.train_steps}).")
    t0 = time.perf_counter()
    ws = open_demo_workspace(args.workspace, model=f"{args.model}-mnist5k.pt")
    cancel = CancelToken()
    drive(run_demo(ws, cancel, train_steps=args.train_steps, quick=args.quick), cancel, quiet=args.quiet)
    print(f"demo finished in {time.perf_counter() - t0:.1f} s; workspace {ws.root}")
    return 0
