"""gan-prune export: write the newest generator as ONNX (fp32, int8, int8-dynamic, fp16) and measure each."""

from __future__ import annotations

from engine.cli.common import add_workspace_arg, run_registered


def register(sub) -> None:
    from engine.export.graph import DEFAULT_OPSET, OPSET_RANGE
    from engine.export.precisions import DEFAULT_NAMES, PRECISIONS

    p = sub.add_parser("export", help="export the newest generator to ONNX (fp32, int8, fp16)",
                       description="Export the newest generator in the workspace to single-file ONNX files under "
                                   "DIR/export and record size, latency and PSNR against fp32 in the manifest.")
    add_workspace_arg(p)
    p.add_argument("--precision", nargs="+", default=list(DEFAULT_NAMES), metavar="P",
                   help="one or more of: " + "; ".join(f"{x.name} ({x.help.rstrip('.')})" for x in PRECISIONS)
                        + f" (default: {' '.join(DEFAULT_NAMES)})")
    p.add_argument("--calibration", type=int, default=256, metavar="N", help="latents to calibrate int8 (256)")
    p.add_argument("--no-subpixel", action="store_true",
                   help="quantize the ConvTranspose form as is (slower int8; for comparison)")
    p.add_argument("--keep-first-last-float", action="store_true", help="leave the first and last layer in float")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None,
                   help="ONNX Runtime threads for the latency numbers (default: the fastest count, measured)")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET, metavar="N",
                   help=f"ONNX opset of the files, {OPSET_RANGE[0]}-{OPSET_RANGE[1]} (default {DEFAULT_OPSET}: "
                        "loads in onnxruntime 1.14 and newer; raise it only for a newer runtime)")
    p.set_defaults(func=handle)


def handle(args) -> int:
    from engine.export.stage import ExportConfig
    from engine.workspace import Workspace

    cfg = ExportConfig(precisions=tuple(args.precision), calibration=args.calibration,
                       subpixel=not args.no_subpixel, keep_first_last_float=args.keep_first_last_float,
                       seed=args.seed, threads=args.threads, opset=args.opset)
    cfg.validate()
    ws = Workspace(args.workspace, create=False)
    run_registered("export", cfg, ws)
    return 0
