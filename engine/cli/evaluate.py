"""gan-prune evaluate: every model variant in the workspace, side by side, into report.json / .html / .csv."""

from __future__ import annotations

from engine.cli.common import add_workspace_arg, run_registered


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="measure every model variant (quality, size, speed) and write the report",
                       description="Evaluate dense, pruned, fine-tuned and exported ONNX generators on the same "
                                   "latents and real images; write report.json, report.html and report.csv into the "
                                   "workspace. Exits non-zero when a variant could not be evaluated.")
    add_workspace_arg(p)
    p.add_argument("--samples", type=int, default=5000, metavar="N",
                   help="generated images per variant and seed (default 5000; at least 2x the feature size)")
    p.add_argument("--seeds", type=int, default=1, metavar="K", help="repeat with K seeds, report mean ± std")
    p.add_argument("--no-latency", action="store_true", help="skip the latency measurements")
    p.add_argument("--latency-runs", type=int, default=20, metavar="N", help="timed runs per batch size (median)")
    p.add_argument("--batch", type=int, default=500, help="generation batch size")
    p.add_argument("--feature-net", default="auto",
                   help="auto (bundled digit net for MNIST; for other data a net trained once and cached: a "
                        "classifier on labelled data, self-supervised on unlabelled), digit-cnn, inception (weights "
                        "on disk only), none, or a .pt file")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch and ONNX Runtime")
    p.add_argument("--seed", type=int, default=0, help="first seed (latents and the real-image subset)")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=handle)


def handle(args) -> int:
    from engine.metrics.evaluate import EvaluateConfig
    from engine.workspace import Workspace

    cfg = EvaluateConfig(samples=args.samples, seeds=args.seeds, batch=args.batch, latency=not args.no_latency,
                         feature_net=args.feature_net, latency_runs=args.latency_runs, threads=args.threads,
                         seed=args.seed)
    cfg.validate()
    ws = Workspace(args.workspace, create=False)
    run_registered("evaluate", cfg, ws, quiet=args.quiet)
    return 0
