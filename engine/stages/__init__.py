"""The stage registry: every stage declared once — its name, config class, run function, what it reads and writes,
its studio page and its command. The pipeline (`gan-prune run`, the demo), the CLI's subcommand list, the studio's
facade and the manifest bookkeeping (which results go out of date) all read this table.

Config classes and run functions are named as "module:attribute" and loaded on first use: the studio opens its
window before torch loads, and the stage modules themselves read `out_of_date_after` from here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from engine.events import CancelToken, Event


@dataclass(frozen=True)
class Stage:
    name: str  # the manifest key, the [table] in config.toml and (for most) the subcommand
    config: str  # "module:Class" of its frozen settings dataclass
    run: str  # "module:function", run(cfg, ws, cancel) -> Iterator[Event], declared with stage_runner.recorded
    reads: tuple[str, ...]  # workspace results it starts from (checkpoint names, files)
    writes: tuple[str, ...]  # workspace results it makes
    page: str | None  # the studio page it runs from (None: command line only)
    command: str | None  # the engine/cli module that registers its subcommand; None: one flag per config field
    help: str = ""  # the subcommand's one-line help, for a stage without a command module
    description: str = ""  # its --help's paragraph, for a stage without a command module
    in_pipeline: bool = False  # a [name] table in CONFIG.toml runs it after training (`gan-prune run`)
    goes_stale: bool = False  # its model is marked out of date when a model it was made from changes
    # On several processes (--nproc-per-node, [distributed]) every process runs it; other stages run on rank 0 alone
    every_process: bool = False
    # Its end ticks its studio page's step in the sidebar; a helper stage (the sensitivity scan) does not.
    ticks_page: bool = True

    def config_class(self) -> type:
        return _load(self.config)

    def function(self) -> Callable[..., Iterator[Event]]:
        return _load(self.run)


# In pipeline order: `gan-prune run` runs the in_pipeline stages in the order listed here.
STAGES: tuple[Stage, ...] = (
    Stage("train", "engine.config:PipelineConfig", "engine.stages.train.run:run_train", reads=("data",),
          writes=("dense",), page="train", command="train", every_process=True),
    # Your own trained generator instead of training one (it runs the model file's code: stages/import_model/run.py).
    Stage("import", "engine.stages.import_model.run:ImportConfig", "engine.stages.import_model.run:run_import",
          reads=("model file",), writes=("dense",), page="train", command="import_model"),
    Stage("prune", "engine.stages.prune.config:PruneConfig", "engine.stages.prune.run:run_prune", reads=("dense",),
          writes=("pruned",), page="prune", command="prune", in_pipeline=True, goes_stale=True),
    Stage("sensitivity", "engine.stages.sensitivity.config:SensitivityConfig",
          "engine.stages.sensitivity.run:run_sensitivity",
          reads=("dense",), writes=("sensitivity.json",), page="prune", command="prune", ticks_page=False),
    Stage("finetune", "engine.stages.finetune.config:FinetuneConfig", "engine.stages.finetune.run:run_finetune",
          reads=("dense", "pruned"), writes=("finetuned",), page="finetune", command="finetune",
          in_pipeline=True, goes_stale=True, every_process=True),
    Stage("compress", "engine.stages.compress.config:CompressConfig", "engine.stages.compress.run:run_compress",
          reads=("dense",), writes=("pruned", "finetuned", "compress.json"), page="compress", command="compress"),
    Stage("evaluate", "engine.stages.evaluate.config:EvaluateConfig", "engine.stages.evaluate.run:run_evaluate",
          reads=("dense", "pruned", "finetuned", "onnx"), writes=("report.json",), page="evaluate",
          command=None, in_pipeline=True,
          help="measure every model variant (quality, size, speed) and write the report",
          description="Evaluate dense, pruned, fine-tuned and exported ONNX generators on the same latents and real "
                      "images; write report.json, report.html and report.csv into the workspace. Exits non-zero "
                      "when a variant could not be evaluated."),
    Stage("export", "engine.stages.export.config:ExportConfig", "engine.stages.export.run:run_export",
          reads=("dense", "pruned", "finetuned"), writes=("onnx",), page="export", command=None, in_pipeline=True,
          goes_stale=True, help="export the newest generator to ONNX (fp32, int8, fp16)",
          description="Export the newest generator in the workspace to single-file ONNX files under DIR/export and "
                      "record size, latency and PSNR against fp32 in the manifest."),
)
BY_NAME: dict[str, Stage] = {s.name: s for s in STAGES}
PIPELINE: tuple[Stage, ...] = tuple(s for s in STAGES if s.in_pipeline)


def get(name: str) -> Stage:
    return BY_NAME[name]


def out_of_date_after(name: str) -> list[str]:
    """The stages whose models were made from what `name` writes (and that `name` does not rewrite itself): when
    `name` replaces its model, their results must not be offered any more (Workspace.mark_stale)."""
    made = set(BY_NAME[name].writes)
    return [s.name for s in STAGES if s.goes_stale and s.name != name and set(s.reads) & made
            and not set(s.writes) <= made]


def start(name: str, cfg: Any, ws, cancel: CancelToken,
          before_first_event: Callable[[], None] | None = None) -> Iterator[Event]:
    """The stage's events; every stage function is declared with engine.stage_runner.recorded, the one wrapper that
    holds the workspace lock and records how the stage ended (done, failed, cancelled)."""
    return BY_NAME[name].function()(cfg, ws, cancel, before_first_event=before_first_event)


def _load(ref: str) -> Any:
    module, attr = ref.split(":")
    return getattr(importlib.import_module(module), attr)
