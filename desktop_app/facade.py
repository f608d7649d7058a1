"""Every call the studio makes into the engine, behind one class: lazy imports (the window opens before torch
loads), plain dicts in and out (pages never import engine internals), and a clear 'not available yet' when a
stage is missing from this build. Tests inject their own instance into the main window.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from engine.errors import UserError
from engine.export.precisions import PRECISIONS as ENGINE_PRECISIONS  # a plain table: no onnx/torch import
from engine.prune import methods as prune_methods  # a plain table: no torch import

MakeEvents = Callable[[Any], Iterator]  # cancel token -> events

# What the studio needs besides the registered stages (engine.stages): "module:attribute", loaded on first use.
TOOLS: dict[str, str] = {
    "data": "engine.data:load_dataset",
    "generate": "engine.ondevice:GeneratorModel",
    "demo": "engine.pipeline:open_demo_workspace",
}

# The engine's pruning-method registry as plain values for the Prune page: what to remove (label, family) and, per
# family, its criteria (criterion -> label), in the registry's order.
PRUNE_KINDS = tuple((f.label, f.name) for f in prune_methods.FAMILIES)
CRITERIA = {f.name: {m.criterion: m.label for m in prune_methods.of_family(f.name)} for f in prune_methods.FAMILIES}
SCANNABLE_METHODS = prune_methods.SCANNABLE  # what the sensitivity scan can use
# The engine's precision table as plain tuples for the Export page: (name, label, help, checked by default).
PRECISIONS = tuple((p.name, p.label, p.help, p.default) for p in ENGINE_PRECISIONS)
PRECISION_CHOICES = tuple(p[0] for p in PRECISIONS)


def prune_choice(kind: str, criterion: str) -> dict[str, str]:
    """The prune settings (method, and block_criterion for blocks) for a family and criterion picked on the page;
    the family's first criterion when this one is not among its own."""
    family = prune_methods.of_family(kind)
    chosen = next((m for m in family if m.criterion == criterion), family[0])
    return chosen.config_values()


class StageUnavailable(UserError):
    """A stage this build does not have yet."""


def _stage(name: str) -> Callable | None:
    """A stage's run function (or a tool's entry point); None when this build does not have it."""
    from engine import stages

    ref = stages.get(name).run if name in stages.BY_NAME else TOOLS[name]
    module, attr = ref.split(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ModuleNotFoundError, AttributeError):
        return None


def _need(name: str) -> Callable:
    fn = _stage(name)
    if fn is None:
        raise StageUnavailable(f"The {name} step is not available in this build yet; update the app to use it.")
    return fn


def _replace(cls, values: dict[str, Any]):
    """A config dataclass from a page's values (unknown keys dropped, lists to tuples)."""
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in values.items() if k in names}
    return cls(**kwargs)


class EngineFacade:
    # ---- what is there ------------------------------------------------------------------------------------------
    def available(self, stage: str) -> bool:
        return _stage(stage) is not None

    def prepare(self) -> None:
        """Warm torch up once on the UI thread at start-up, before any job.

        Measured in bench/ui_responsiveness.py: the first job's imports (the first optimizer pulls in
        torch._dynamo) ran in the worker thread holding the GIL and froze the window for up to 200 ms; and with
        torch on every core the window itself was starved. So: import now, and leave one core to the window
        (a user can still ask for more threads on the Train page).
        """
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
        torch.optim.Adam([torch.zeros(1, requires_grad=True)])

    def device_description(self) -> str:
        """'CPU' or the CUDA GPU's name (imports torch: call once, after the window shows)."""
        import torch

        if torch.cuda.is_available():
            return f"GPU: {torch.cuda.get_device_name(0)}"
        n = torch.get_num_threads()
        return f"CPU ({n} thread{'s' if n != 1 else ''} for jobs)"

    # ---- workspaces -------------------------------------------------------------------------------------------
    def open_workspace(self, path: str | os.PathLike, create: bool = True):
        from engine.workspace import Workspace

        return Workspace(path, create=create)

    def open_demo(self, path: str | os.PathLike):
        from engine.stage_runner import workspace_lock

        ws = self.open_workspace(path)
        with workspace_lock(ws, "demo"):  # it writes the model and manifest: one writer per workspace
            return _need("demo")(path)

    def manifest(self, ws) -> dict:
        return ws.read_manifest()

    def workspace_options(self, ws) -> dict[str, dict]:
        """The data / model / train settings a workspace was run with, as plain dicts (defaults when new)."""
        from engine.config import PipelineConfig, load_pipeline_config

        cfg = load_pipeline_config(ws.config_path) if ws.config_path.exists() else PipelineConfig()
        return {"data": dataclasses.asdict(cfg.data), "model": dataclasses.asdict(cfg.model),
                "train": dataclasses.asdict(cfg.train)}

    @staticmethod
    def data_sources() -> list[dict]:
        """Every data source the engine knows (engine/data_sources.py), in its order, as plain values: name, label,
        takes_path, path_help, task (the only task it serves, or None) and labelled."""
        from engine.data_sources import SOURCES

        return [{"name": s.name, "label": s.label, "takes_path": s.takes_path, "path_help": s.path_help,
                 "task": s.task, "labelled": s.labelled, "origin": s.origin} for s in SOURCES.values()]

    def task_choices(self) -> list[tuple[str, str, str]]:
        """(title, name, one-sentence help) of every task the engine knows (engine/tasks.py), in its order."""
        from engine.tasks import TASKS

        return [(t.title, t.name, t.help) for t in TASKS.values()]

    def applies(self, config: str, name: str, task: str) -> bool:
        """Whether a setting means anything for a task (engine.config `setting(tasks=...)`): `config` is "model",
        "train" or "data" (the Train page's tables) or a stage name. A page hides the fields that do not apply."""
        from engine import config as engine_config

        return engine_config.applies_to(self._config_class(config), name, task)

    def settings_form(self, config: str, names: tuple[str, ...]) -> list[dict]:
        """The named settings of a config ("model", "train", "data" or a stage name) as plain descriptions for
        desktop_app/forms.py: name, kind (int, float, bool, str, list), default, the range (lo, hi), choices as
        (words, value), label, tip, unit, step, decimals, special, widget, tasks. A field a stage shares with
        training (steps, seed, device, ...) borrows training's range and words where it declares none itself, as
        its check does (check_fields(like=TrainConfig))."""
        from engine.config import settings_description

        return [settings_description(self._config_class(config), name) for name in names]

    @staticmethod
    def _config_class(config: str) -> type:
        from engine import config as engine_config
        from engine import stages

        tables = {"model": engine_config.ModelConfig, "train": engine_config.TrainConfig,
                  "data": engine_config.DataConfig}
        return tables[config] if config in tables else stages.get(config).config_class()

    @staticmethod
    def takes_image(task: str) -> bool:
        """An image-to-image task (its model takes an image, not noise)."""
        from engine.tasks import takes_image

        return takes_image(task)

    @staticmethod
    def arch_choices(task: str) -> list[tuple[str, str]]:
        """(label, name) of the architectures the Train page can build for a task, in the arch catalogue's order
        (engine/archs.py: what the task takes in, whether it has a class-conditional pair)."""
        from engine.archs import ARCHS, archs_for

        return [(ARCHS[a].label, a) for a in archs_for(task)]

    def has_trained_model(self, ws) -> bool:
        return _has_checkpoint(ws, _entry(ws, "train"))

    def trained_steps(self, ws) -> int:
        """The step the project's trained model is at (0 when there is none)."""
        step = _entry(ws, "train").get("step")
        return step if isinstance(step, int) and self.has_trained_model(ws) else 0

    def class_names(self, ws) -> list[str]:
        """The trained model's class names, one per row of a conditional grid (the checkpoint's data record keeps
        them, as the exported file's metadata does); [] when it has none. Read once per saved checkpoint."""
        entry = _entry(ws, "train")
        if not _has_checkpoint(ws, entry):
            return []
        path = ws.abs(entry["checkpoint"])
        key = (str(path), path.stat().st_mtime_ns)
        cache = self.__dict__.setdefault("_class_names", {})
        if key not in cache:
            try:
                classes = (ws.load_checkpoint(path).get("data") or {}).get("classes") or []
            except Exception:  # a damaged checkpoint names no classes; the Train page says what is wrong with it
                classes = []
            cache.clear()
            cache[key] = [str(c) for c in classes]
        return cache[key]

    def has_pruned_model(self, ws) -> bool:
        return _has_checkpoint(ws, _entry(ws, "prune"))

    # ---- validation (inline, before Start) --------------------------------------------------------------------
    def check(self, stage: str, values: dict) -> str | None:
        """None when the values are valid, else the sentence to show next to the form."""
        try:
            cfg = self._config(stage, values)
            cfg.validate()
            self._check_processes(stage, cfg, values)
        except UserError as e:
            return str(e)
        except (TypeError, ValueError) as e:
            return f"A setting has the wrong type ({e})."
        return None

    @staticmethod
    def _check_processes(stage: str, cfg, values: dict) -> int:
        """The page's "processes" (1 unless set); more than one must split the batch evenly."""
        processes = values.get("processes", 1) if stage in ("train", "finetune", "compress") else 1
        if processes > 1:
            from engine.config import DistributedConfig
            together = DistributedConfig(nproc_per_node=processes)
            together.validate()
            if stage != "compress":  # compress gives each process a candidate of its own, with the whole batch
                batch = cfg.train.batch_size if stage == "train" else cfg.batch_size
                together.local_batch(batch)
        return processes

    def _config(self, stage: str, values: dict):
        from engine import stages
        from engine.config import ModelConfig, PipelineConfig, TrainConfig

        if stage == "data":
            return self._data_config(values)
        if stage == "train":  # the one stage whose settings are three tables
            return PipelineConfig(data=self._data_config(values.get("data", {})),
                                  model=_replace(ModelConfig, values.get("model", {})),
                                  train=_replace(TrainConfig, values.get("train", {})))
        return _replace(stages.get(stage).config_class(), values)

    def _data_config(self, values: dict):
        from engine.config import DataConfig
        from engine.data_sources import SOURCES

        values = dict(values)
        values.pop("task", None)  # chosen on the Data page, but a model setting: the Train page sends it
        source = SOURCES.get(values.get("dataset", ""))
        if source is not None and source.takes_path:  # the page's folder field gives the path: folder:PATH
            values["dataset"] = f"{source.name}:{values.get('folder', '')}"
        return _replace(DataConfig, values)

    # ---- jobs: each returns make_events(cancel), run by desktop_app.jobs off the UI thread ----------------------
    def data_preview_job(self, values: dict) -> MakeEvents:
        cfg = self._data_config(values)

        def make(cancel):
            from engine.data import load_dataset
            from engine.events import Artifact, Log, Samples
            from engine.images import make_grid

            cfg.validate()
            yield Log("info", f"Loading data set {cfg.dataset} ...")
            data = load_dataset(cfg)
            for w in data.warnings:
                yield Log("warning", w)
            # Evenly spaced, not the first 64: bundled sets are sorted by class.
            step = max(1, len(data) // 64)
            spread = data.images[::step][:64].numpy()
            yield Samples("data", 0, make_grid(spread, nrow=8), label="data")
            info = {"count": len(data), "shape": list(data.image_shape), "classes": list(data.classes or []),
                    "name": data.name, "warnings": list(data.warnings)}
            yield Artifact("data", "dataset", cfg.dataset, info)
            yield Log("info", f"{data.name}: {len(data):,} images of {'x'.join(map(str, data.image_shape))}.")
        return make

    def train_job(self, ws, values: dict) -> MakeEvents:
        cfg = self._config("train", values)
        cfg.validate()
        _need("train")
        processes = self._check_processes("train", cfg, values)
        if processes > 1:
            return self._processes_job("train", cfg, ws, processes)

        def make(cancel):
            from engine import stages
            from engine.pipeline import save_config

            # Later stages read the data set from config.toml; it is written once training accepted the input.
            return stages.start("train", cfg, ws, cancel, before_first_event=lambda: save_config(ws, cfg))
        return make

    def prune_job(self, ws, values: dict) -> MakeEvents:
        return self.stage_job("prune", ws, values)

    def sensitivity_job(self, ws, values: dict) -> MakeEvents:
        return self.stage_job("sensitivity", ws, values)

    def finetune_job(self, ws, values: dict) -> MakeEvents:
        cfg = self._config("finetune", values)
        cfg.validate()
        processes = self._check_processes("finetune", cfg, values)
        if processes > 1:
            return self._processes_job("finetune", cfg, ws, processes)
        return self.stage_job("finetune", ws, values)

    @staticmethod
    def _processes_job(stage: str, cfg, ws, processes: int) -> MakeEvents:
        """Several local processes through torchrun; rank 0 takes the workspace lock and sends the events."""
        def make(cancel):
            from engine.multiprocess import run_processes

            return run_processes(stage, cfg, ws, processes, cancel)
        return make

    def compress_job(self, ws, values: dict) -> MakeEvents:
        cfg = self._config("compress", values)
        cfg.validate()
        processes = self._check_processes("compress", cfg, values)
        if processes > 1:  # one candidate per process each round
            return self._processes_job("compress", cfg, ws, processes)
        return self.stage_job("compress", ws, values)

    def evaluate_job(self, ws, values: dict) -> MakeEvents:
        return self.stage_job("evaluate", ws, values)

    def export_job(self, ws, values: dict) -> MakeEvents:
        return self.stage_job("export", ws, values)

    def stage_job(self, stage: str, ws, values: dict) -> MakeEvents:
        """Any registered stage (engine.stages) with the page's values as its config."""
        _need(stage)
        cfg = self._config(stage, values)
        cfg.validate()

        def make(cancel):
            from engine import stages

            return stages.start(stage, cfg, ws, cancel)  # the lock and the manifest record: one writer, CLI or studio
        return make

    # ---- your own generator ------------------------------------------------------------------------------------
    def classes_in(self, path: str | os.PathLike) -> list[str]:
        """Class names a .py file defines, read without running it."""
        from engine.models.user_source import class_names

        return class_names(path)

    def import_job(self, ws, values: dict) -> MakeEvents:
        """Import a person's generator (RUNS the file's code, in the job's thread) as the workspace's trained model."""
        return self.stage_job("import", ws, values)

    # ---- pruning helpers (fast, on the UI thread) -------------------------------------------------------------
    def _networks(self, ws, which: str):
        from engine.models import discriminator_from_checkpoint, generator_from_checkpoint

        entry = _entry(ws, "prune" if which == "pruned" else "train")
        if not _has_checkpoint(ws, entry):
            return None
        path = ws.abs(entry["checkpoint"])
        ckpt = ws.load_checkpoint(path)
        return ckpt, generator_from_checkpoint(ckpt, use_ema=False), discriminator_from_checkpoint(ckpt)

    def layer_tables(self, ws) -> dict[str, dict[str, list[dict]] | None]:
        """{"dense": {"g": rows, "d": rows}, "pruned": ... or None}; rows as engine layer_table dicts plus
        'sparsity' and 'prunable'."""
        from engine.metrics.complexity import layer_table
        from engine.prune.layers import prunable_layers

        out: dict[str, dict | None] = {}
        for which in ("dense", "pruned"):
            nets = self._networks(ws, which)
            if nets is None:
                out[which] = None
                continue
            _, G, D = nets
            tables = {}
            for role, net in (("g", G), ("d", D)):
                prunable = {n for n, _ in prunable_layers(net, structural=False)}
                rows = []
                for r in layer_table(net):
                    d = r.as_dict()
                    d["sparsity"] = 1 - r.nonzero / r.params if r.params else 0.0
                    d["prunable"] = r.name in prunable
                    rows.append(d)
                tables[role] = rows
            out[which] = tables
        return out

    def prune_preview(self, ws, values: dict) -> dict[str, dict]:
        """Params and MACs of G and D after pruning copies of the dense model with these settings, by the prune
        stage's own code (engine.stages.prune.run.preview); nothing is saved."""
        from engine.inputs import load_teacher
        from engine.models import discriminator_from_checkpoint
        from engine.stages.prune.run import preview

        cfg = self._config("prune", values)
        cfg.validate()
        if not self.has_trained_model(ws):
            raise StageUnavailable("Train a model (or open the demo) first; there is nothing to prune yet.")
        dense, teacher = load_teacher(ws)
        before = {"g": _quick_stats(teacher), "d": _quick_stats(discriminator_from_checkpoint(dense))}
        after = {r: _quick_stats(m) for r, m in preview(cfg, dense, teacher, ws).items()}
        return {r: {"before": before[r], "after": after[r]} for r in ("g", "d")}

    def sensitivity_results(self, ws) -> dict | None:
        import json

        path = ws.root / "sensitivity.json"
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            return None

    # ---- evaluation and export results ------------------------------------------------------------------------
    def report(self, ws) -> dict | None:
        import json

        if not ws.report_path.exists():
            return None
        try:
            return json.loads(ws.report_path.read_text("utf-8"))
        except (OSError, ValueError):
            return None

    def compress_summary(self, ws) -> dict | None:
        """The last compress search as it wrote compress.json, or None when there is none or it cannot be read."""
        import json

        path = ws.root / "compress.json"
        try:
            summary = json.loads(path.read_text("utf-8")) if path.exists() else None
        except (OSError, ValueError):
            return None
        return summary if isinstance(summary, dict) else None

    def compress_results(self, ws) -> list[dict]:
        """The last compress search's candidates (compress.json), or [] when there is none or it cannot be read."""
        candidates = (self.compress_summary(ws) or {}).get("candidates")
        return [c for c in candidates if isinstance(c, dict)] if isinstance(candidates, list) else []

    def report_html(self, ws) -> Path | None:
        path = ws.root / "report.html"
        return path if path.exists() else None

    def export_results(self, ws) -> dict[str, dict]:
        results = _entry(ws, "export").get("results")
        return dict(results) if isinstance(results, dict) else {}

    def onnx_files(self, ws) -> list[Path]:
        return sorted(ws.export_dir.glob("*.onnx")) if ws is not None else []

    def export_formats(self) -> list[dict]:
        """The export formats (engine/export/formats.py) as plain dicts for the Export page: name, label, suffix,
        runtime, the precisions it holds, whether its package is installed, and how to install the rest."""
        from engine.export import formats

        return [{"name": f.name, "label": f.label, "suffix": f.suffix, "runtime": f.runtime,
                 "precisions": list(f.precisions), "installed": f.available(),
                 "install": None if f.available() else formats.EDGE_EXTRA} for f in formats.FORMATS]

    def model_file_filter(self) -> str:
        """The Generate page's file-dialog filter: .onnx, and .pte / .tflite where their runtime is installed."""
        import importlib.util

        from engine.ondevice.runtimes import RUNTIMES

        suffixes = [".onnx"] + [s for s, (_, package) in RUNTIMES.items() if importlib.util.find_spec(package)]
        return f"Generators ({' '.join('*' + s for s in suffixes)})"

    # ---- generating with the on-device sampler ----------------------------------------------------------------
    def load_onnx(self, path: str | os.PathLike):
        """A noise (or class) generator, or an image-to-image model (ImageModel) when the file takes an image."""
        from engine.ondevice import GeneratorModel, OnDeviceError
        from engine.ondevice.image import ImageModel, open_session, takes_image

        try:
            session = open_session(Path(path), None)
            return ImageModel(path, session=session) if takes_image(session) else GeneratorModel(path)
        except OnDeviceError as e:
            raise UserError(str(e)) from None

    def image_to_image(self, model, source: str | os.PathLike):
        """(before/after grid, how many images, one-line note or None) for an image or a folder of images."""
        import numpy as np

        from engine.ondevice import OnDeviceError
        from engine.ondevice.image import before_after, list_inputs

        try:
            files = list_inputs(source)
            model.notes.clear()
            x = np.stack([model.fit(f) for f in files[:64]])  # a grid of 64 rows is already taller than a screen
            return before_after(x, model.run(x)), len(x), model.note()
        except OnDeviceError as e:
            raise UserError(str(e)) from None

    def sample_grid(self, model, n: int, seed: int, nrow: int = 8, label: int | None = None):
        """n images in rows of nrow; a conditional model draws class `label`, or each class in turn when None."""
        from engine.ondevice import OnDeviceError, grid

        try:
            return grid(model.sample(n, seed, label), nrow=nrow)
        except OnDeviceError as e:
            raise UserError(str(e)) from None

    def class_grid(self, model, per_class: int, seed: int):
        """A conditional model's grid: one row per class, per_class images each, the same latents in every row."""
        from engine.ondevice import grid

        return grid(model.class_rows(per_class, seed), nrow=per_class)

    def interpolate(self, model, steps: int, seed: int, label: int | None = None):
        """A latent walk; a conditional model walks within class `label` (the first class when None or -1)."""
        return model.interpolate(steps, seed, label if label is not None and label >= 0 else None)


def _entry(ws, stage: str) -> dict:
    """A stage's manifest entry; a hand-edited entry that is not a table counts as 'not run' (pages read the
    manifest on every refresh: one odd value must not break the window)."""
    entry = ws.stage(stage)
    return entry if isinstance(entry, dict) else {}


def _has_checkpoint(ws, entry: dict) -> bool:
    path = entry.get("checkpoint")
    if not isinstance(path, str) or not path:
        return False
    try:
        return ws.abs(path).is_file()
    except (OSError, ValueError):  # a path the workspace refuses (outside it) or cannot stat
        return False


def _quick_stats(model) -> dict[str, int]:
    """Params, nonzero params and MACs per sample (no file bytes: this runs while the user drags a slider)."""
    from engine.metrics.complexity import layer_table

    params = sum(p.numel() for p in model.parameters())
    nonzero = sum(int((p != 0).sum()) for p in model.parameters())
    return {"params": params, "nonzero_params": nonzero, "macs": sum(r.macs for r in layer_table(model))}
