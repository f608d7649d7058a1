"""The open project as plain data, with no Qt (napari's ViewerModel): which project is open, how each step ended
(from the manifest and the engine's stage registry), and the results on disk that the pages show. Opening a
project replaces the whole snapshot, so nothing of the previous project can survive on a page that redraws from it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

# The studio's steps in the order of the sidebar (each is a page; `--page` offers these and "welcome"). The stages
# that run from each page come from the engine's registry (engine.stages: Stage.page), not from a list here.
STEP_PAGES = ("data", "train", "prune", "finetune", "compress", "evaluate", "export", "generate")

# The sample grid each step leaves in samples/ (what its page shows when the project is reopened).
SAMPLE_FILES = {"train": "train.png", "prune": "pruned.png", "finetune": "finetune.png", "compress": "compress.png"}


def stages_of_page(page: str) -> tuple[str, ...]:
    """The registered stages whose end ticks this page's step (import ticks Train; the sensitivity scan ticks
    nothing)."""
    from engine import stages

    return tuple(s.name for s in stages.STAGES if s.page == page and s.ticks_page)


def entry_outcome(entry: Any) -> str | None:
    """How a stage's last run ended, in the manifest's words, with one more: "empty" for a run that ended well but
    made nothing (a compress search with no candidate within the budget records `best: null`)."""
    if not isinstance(entry, dict):
        return None
    status = entry.get("status")
    if status == "done" and "best" in entry and entry["best"] is None:
        return "empty"
    return status if isinstance(status, str) else None


@dataclass(frozen=True)
class CompressOutcome:
    """A compress search's result in a person's words, from compress.json."""

    found: bool
    headline: str
    details: tuple[str, ...]
    reference: dict  # the dense model as a row of the candidate table
    winner: dict | None
    candidates: tuple[dict, ...]


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _times(a: Any, b: Any) -> float | None:
    """a / b for two positive numbers (how many times smaller or faster), else None."""
    return a / b if _number(a) and _number(b) and a > 0 and b > 0 else None


def compress_outcome(summary: dict | None) -> CompressOutcome | None:
    """None when there is no search on disk (or it cannot be read)."""
    if not isinstance(summary, dict) or not isinstance(summary.get("candidates"), list):
        return None
    candidates = tuple(c for c in summary["candidates"] if isinstance(c, dict))
    budget = summary.get("max_fid_rise")
    budget_words = f"+{budget:.0%}" if isinstance(budget, (int, float)) else "your budget"
    reference = {"name": "dense (reference)", "reduction": 1.0, "macs": summary.get("dense_macs"),
                 "params": summary.get("dense_params"), "probe_fid": summary.get("teacher_probe_fid"),
                 "fid_rise": 0.0, "latency_ms": summary.get("dense_latency_ms"), "reference": True}
    best = summary.get("best") if isinstance(summary.get("best"), dict) else None
    if best is None:
        tried = ", ".join(f"{c['reduction']:g}x fewer MACs ({c['fid_rise']:+.0%})" for c in candidates
                          if _number(c.get("reduction")) and _number(c.get("fid_rise")))
        stopped = summary.get("status") == "cancelled"
        headline = ("The search was stopped before a smaller model kept the quality you asked for." if stopped else
                    "No smaller model kept the quality you asked for.")
        details = (f"Tried: {tried}; the quality budget was {budget_words}." if tried else
                   "No candidate finished within the time budget.",
                   "Nothing was replaced: the project keeps the models it had.",
                   "Give the search more time or allow a larger quality loss, then start again.")
        return CompressOutcome(False, headline, details, reference, None, candidates)
    macs, params = _times(reference["macs"], best.get("macs")), _times(reference["params"], best.get("params"))
    faster = _times(reference["latency_ms"], best.get("latency_ms"))
    headline = (f"Made a generator with {macs:.1f}x fewer multiply-adds" if macs else "Made a smaller generator") \
        + (f" and {params:.1f}x fewer weights." if params else ".")
    details = []
    if faster:
        details.append(f"It makes an image {faster:.1f}x {'faster' if faster >= 1 else 'slower'} on this computer "
                       "(PyTorch, one thread).")
    fid, ref_fid, rise = best.get("probe_fid"), reference["probe_fid"], best.get("fid_rise")
    if isinstance(fid, (int, float)) and isinstance(ref_fid, (int, float)) and isinstance(rise, (int, float)):
        change = "better" if rise < 0 else "worse"
        details.append(f"Quality: FID {fid:.1f} against {ref_fid:.1f} for the original ({abs(rise):.0%} {change}; "
                       f"your budget was {budget_words}).")
    details.append("It is now the project's fine-tuned model: Evaluate measures it fully, Export makes the files.")
    return CompressOutcome(True, headline, tuple(details), reference, best, candidates)


def new_project_problem(path: str | os.PathLike) -> str | None:
    """Why a folder cannot hold a new project (one sentence), or None: it must be empty or not exist yet."""
    folder = Path(path)
    if not folder.exists():
        return None
    if not folder.is_dir():
        return f"{folder} is a file, not a folder; choose or create an empty folder for the new project."
    try:
        names = [p.name for p in folder.iterdir()]
    except OSError as e:
        return f"Cannot read the folder {folder} ({e.strerror}); choose another folder."
    if "manifest.json" in names:
        return f"{folder} is already a project; open it with Open project, or choose an empty folder."
    if names:
        count = f"{len(names)} files or folders" if len(names) != 1 else "a file"
        return (f"{folder} already holds {count}; a new project needs an empty folder so that nothing of yours is "
                "mixed with its files. Choose or create an empty folder.")
    return None


@dataclass(frozen=True)
class Project:
    """One snapshot of an open project, read from its folder."""

    root: Path
    stages: dict[str, dict]  # the manifest's stage entries (only those that are tables)
    task: str = "unconditional"
    arch: str = "dcgan"
    export_results: dict[str, dict] = field(default_factory=dict)  # the last export: precision -> result
    compress: CompressOutcome | None = None
    trained: tuple[str, int] | None = None  # the trained model's checkpoint and its step
    pruning: dict | None = None  # the last pruning record (params and MACs before and after)
    report: dict | None = None  # the last evaluation (report.json)
    grid_verdict: str = ""  # one sentence on the training samples (desktop_app.outcomes.grid_verdict)
    class_names: tuple[str, ...] = ()  # a conditional model's classes, one per row of its grids

    def outcome(self, stage: str) -> str | None:
        return entry_outcome(self.stages.get(stage))

    def step_status(self, page: str) -> str | None:
        """The sidebar's mark for a page: "done" when one of its stages ended well and made something; otherwise
        the newest way one of them ended (failed, cancelled, empty, running, stale), or None when never run."""
        outcomes = [self.outcome(s) for s in stages_of_page(page)]
        if "done" in outcomes:
            return "done"
        return next((o for o in outcomes if o), None)

    @property
    def takes_image(self) -> bool:
        from engine.tasks import takes_image

        return takes_image(self.task)

    @property
    def has_trained_model(self) -> bool:
        return self.trained is not None

    def sample_file(self, page: str) -> Path | None:
        name = SAMPLE_FILES.get(page)
        path = self.root / "samples" / name if name else None
        return path if path is not None and path.is_file() else None

    def newest_export(self) -> Path | None:
        """The model file Generate should use: the last export's fp32 file, else its first; None when none."""
        files = []
        for precision, r in self.export_results.items():
            path = self.root / str(r.get("path", "")) if isinstance(r, dict) and r.get("path") else None
            if path is not None and path.suffix == ".onnx" and path.is_file():
                files.append((precision != "fp32", path))
        return min(files)[1] if files else None

    def next_steps(self) -> tuple[tuple[str, str], ...]:
        """What to do next, as (page, a sentence), the most useful first."""
        if not self.has_trained_model:
            return (("data", "Choose the images to learn from"), ("train", "Train a model on them"))
        if self.outcome("compress") != "done" and self.step_status("finetune") != "done":
            return (("compress", "Compress it: smaller and faster, same quality"),
                    ("prune", "Or prune it by hand, step by step"))
        if self.step_status("export") != "done":
            return (("evaluate", "Evaluate it: size, speed and quality side by side"),
                    ("export", "Export it as files that run anywhere"))
        return (("generate", "Generate images with the exported model"),
                ("evaluate", "Compare every version of the model"))


def read_project(facade, ws) -> Project:
    """The snapshot of a workspace (engine.workspace.Workspace) through the facade; a damaged part reads as empty."""
    manifest = facade.manifest(ws)
    stages = {k: v for k, v in (manifest.get("stages") or {}).items() if isinstance(v, dict)}
    try:
        model = facade.workspace_options(ws)["model"]
        task, arch = model.get("task") or "unconditional", model.get("arch") or "dcgan"
    except Exception:  # an unreadable config.toml: the pages show the defaults; Train names the problem
        task, arch = "unconditional", "dcgan"
    trained = None
    if facade.has_trained_model(ws):
        trained = (str(stages["train"]["checkpoint"]), facade.trained_steps(ws))
    from engine.tasks import is_conditional

    records = manifest.get("pruning")
    pruning = records[-1] if isinstance(records, list) and records and isinstance(records[-1], dict) else None
    project = Project(ws.root, stages, task, arch, facade.export_results(ws),
                      compress_outcome(facade.compress_summary(ws)), trained, pruning, facade.report(ws))
    return replace(project, grid_verdict=_train_grid_verdict(project),
                   class_names=tuple(facade.class_names(ws)) if trained and is_conditional(task) else ())


def _train_grid_verdict(project: Project) -> str:
    """What the training samples on disk say (noise models only: an image-to-image grid is input | output rows)."""
    from desktop_app.outcomes import grid_verdict
    from engine.images import read_image

    path = project.sample_file("train")
    if path is None or project.takes_image:
        return ""
    try:
        import numpy as np

        return grid_verdict(np.asarray(read_image(path).image))
    except Exception:  # a damaged picture says nothing
        return ""


class StudioState:
    """Which project is open, as a Project snapshot; listeners hear every change (the window turns it into a Qt
    signal). Opening or refreshing re-reads the folder; nothing is kept from the project before."""

    def __init__(self, facade) -> None:
        self.facade = facade
        self.workspace = None
        self.project: Project | None = None
        self._listeners: list[Callable[[Project | None], None]] = []

    def subscribe(self, listener: Callable[[Project | None], None]) -> None:
        self._listeners.append(listener)

    def open(self, ws) -> Project:
        """Read `ws` and make it the open project; a folder that cannot be read raises and changes nothing."""
        project = read_project(self.facade, ws)
        self.workspace, self.project = ws, project
        self._tell()
        return self.project

    def refresh(self) -> None:
        """Re-read the open project (a job wrote into it)."""
        if self.workspace is not None:
            try:
                self.project = read_project(self.facade, self.workspace)
            except Exception:  # a manifest damaged by hand while open: keep the last good snapshot
                return
            self._tell()

    def close(self) -> None:
        self.workspace = self.project = None
        self._tell()

    def _tell(self) -> None:
        for listener in self._listeners:
            listener(self.project)
