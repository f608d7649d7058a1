"""gan-prune export: write the newest generator as ONNX (fp32, int8, int8-dynamic, fp16) and measure each."""

from __future__ import annotations

from engine.cli.common import add_workspace_arg, run_registered
from engine.cli.flags import Flag, add_config_flags, config_from_args, flag_fields

FLAGS = {"precisions": Flag(name="--precision", metavar="P"), "calibration": Flag(metavar="N"),
         "opset": Flag(metavar="N")}


def register(sub) -> None:
    from engine.stages.export.config import ExportConfig

    p = sub.add_parser("export", help="export the newest generator to ONNX (fp32, int8, fp16)",
                       description="Export the newest generator in the workspace to single-file ONNX files under "
                                   "DIR/export and record size, latency and PSNR against fp32 in the manifest.")
    add_workspace_arg(p)
    add_config_flags(p, ExportConfig, flag_fields(ExportConfig), FLAGS)
    p.set_defaults(func=handle)


def handle(args) -> int:
    from engine.stages.export.config import ExportConfig
    from engine.workspace import Workspace

    cfg = config_from_args(ExportConfig, args, flag_fields(ExportConfig), FLAGS)
    cfg.validate()
    ws = Workspace(args.workspace, create=False)
    run_registered("export", cfg, ws)
    return 0
