"""gan-prune demo: the whole pipeline on the bundled data and pretrained DCGAN."""

from __future__ import annotations


def register(sub) -> None:
    from engine.cli.common import add_workspace_arg

    p = sub.add_parser("demo", help="run the whole pipeline on the bundled demo GAN")
    add_workspace_arg(p)
    p.add_argument("--train-steps", type=int, default=20, help="extra training steps before pruning (default 20)")
    p.add_argument("--model", choices=["dcgan", "mlp"], default="dcgan",
                   help="which bundled pretrained GAN to start from (default dcgan)")
    p.add_argument("--quick", action="store_true", help="tiny step counts (a smoke test, not a result)")
    p.add_argument("--force", action="store_true", help="replace the trained model a workspace already holds")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    import time

    from engine.cli.common import drive_stage
    from engine.errors import ConfigError, WorkspaceError
    from engine.events import CancelToken
    from engine.workspace import Workspace

    if args.train_steps <= 0:
        raise ConfigError(f"--train-steps must be above 0 (got {args.train_steps}).")
    t0 = time.perf_counter()
    ws = Workspace(args.workspace)
    held = _trained_model(ws)
    if held and not args.force:
        raise WorkspaceError(f"The workspace {ws.root} already holds a trained model ({held}); the demo would "
                             "replace it: choose an empty folder or add --force.")
    cancel = CancelToken()
    drive_stage("demo", ws, _demo(ws, args, cancel), cancel, quiet=args.quiet)
    print(f"demo finished in {time.perf_counter() - t0:.1f} s; workspace {ws.root}")
    return 0


def _trained_model(ws) -> str | None:
    entry = ws.stage("train") or {}
    ck = entry.get("checkpoint")
    return ck if ck and ws.abs(ck).exists() else None


def _demo(ws, args, cancel):
    """The demo as one stage: install the bundled model, then every stage, all under the workspace lock."""
    from engine.pipeline import open_demo_workspace, run_demo

    open_demo_workspace(ws.root, model=f"{args.model}-mnist5k.pt")
    yield from run_demo(ws, cancel, train_steps=args.train_steps, quick=args.quick)
