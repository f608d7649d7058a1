"""How a step's last run ended, in a person's words (no Qt): a headline, a few sentences and the next steps, read
from the stage's manifest entry and the files it wrote (desktop_app/project.py's snapshot). Pages only show it in
their ResultPanel, so a failed or cancelled run can never read as a success and the words live in one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# What each step is called in a sentence, and where a refused or failed run of it sends the person.
STEP_WORDS = {"train": "Training", "import": "The import", "prune": "Pruning", "sensitivity": "The sensitivity scan",
              "finetune": "Fine-tuning", "evaluate": "The evaluation", "export": "The export",
              "compress": "The compress search"}


@dataclass(frozen=True)
class Outcome:
    """`ok`: True when the run made what it should, False when it failed or made nothing, None when cancelled."""

    ok: bool | None
    headline: str
    details: tuple[str, ...] = ()
    next_steps: tuple[tuple[str, str], ...] = ()  # (page key, button text)


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def human(n: Any) -> str:
    """1234567 -> '1.23 M' (the layer table's words)."""
    if not _number(n):
        return "?"
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:g}"


def duration_words(seconds: Any) -> str:
    if not _number(seconds):
        return ""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    return f"{s // 60} min {s % 60:02d} s" if s < 3600 else f"{s // 3600} h {s // 60 % 60:02d} min"


# ---- command-line words never reach the window -------------------------------------------------------------------
_COMMAND = re.compile(r"['‘\"]?gan-prune ([a-z-]+)[^'’\".;]*['’\"]?")
_FLAG = re.compile(r"--(no-)?([a-z][a-z0-9-]*)(?:[ =](?=[A-Z0-9]))?")


def in_window_words(text: str, labels: dict[str, str] | None = None) -> str:
    """An engine sentence for the window: "run 'gan-prune finetune --resume'" becomes "run the Fine-tune step", a
    flag becomes its field's label on the page ("--amount" -> "Amount"), or its name in words."""
    labels = labels or {}

    def step(m: re.Match) -> str:
        name = m.group(1)
        return f"the {STEP_PAGE_WORDS.get(name, name.replace('-', ' '))} step"

    def flag(m: re.Match) -> str:
        name = m.group(2).replace("-", "_")
        words = labels.get(name) or name.replace("_", " ")
        return f"“{words}”" + (" off" if m.group(1) else "")

    return _FLAG.sub(flag, _COMMAND.sub(step, text))


STEP_PAGE_WORDS = {"train": "Train", "prune": "Prune", "finetune": "Fine-tune", "evaluate": "Evaluate",
                   "export": "Export", "compress": "Compress", "import": "Import", "sensitivity": "sensitivity scan",
                   "trust": "trust", "run": "whole pipeline"}


# ---- failures and cancellations: the same for every step --------------------------------------------------------
def stopped(stage: str, status: str, error: str | None) -> Outcome:
    who = STEP_WORDS.get(stage, stage.capitalize())
    if status == "cancelled":
        return Outcome(None, f"{who} was cancelled.", ("What it finished before the stop is saved; start it again "
                                                       "to go on.",))
    reason = in_window_words(error) if error else "See the message for what went wrong."
    return Outcome(False, f"{who} did not finish.", (reason, "Nothing it would have made replaces what the project "
                                                             "had."))


# ---- each step's result ------------------------------------------------------------------------------------------
def _train(project, entry: dict, seconds: float | None) -> Outcome:
    step, arch = entry.get("step"), entry.get("arch") or project.arch
    when = f" in {duration_words(seconds)}" if _number(seconds) else ""
    where = f" on the {entry['device']}" if entry.get("device") else ""
    steps = f"{step:,} steps" if isinstance(step, int) else "its steps"
    details = [f"The {arch_words(arch)} learned from {data_words(entry.get('dataset'))} for {steps}{when}{where}."]
    verdict = project.grid_verdict
    if verdict:
        details.append(verdict)
    details.append("Next, make it smaller: Prune by hand, or Compress finds the smallest model that keeps quality.")
    return Outcome(True, f"Trained a generator for {steps}.", tuple(details),
                   (("prune", "Prune it"), ("compress", "Compress it")))


def _prune(project, entry: dict, seconds: float | None) -> Outcome:
    record = project.pruning or {}
    parts, details = [], []
    for role, name in (("g", "The generator"), ("d", "The discriminator")):
        pb, pa = (record.get("params_before") or {}).get(role), (record.get("params_after") or {}).get(role)
        mb, ma = (record.get("macs_before") or {}).get(role), (record.get("macs_after") or {}).get(role)
        if not (_number(pb) and _number(pa)) or (pb == pa and mb == ma):
            continue
        nz = (record.get("nonzero_params_after") or {}).get(role)
        zeroed = f" ({human(nz)} of them nonzero)" if _number(nz) and nz != pa else ""
        details.append(f"{name}: {human(pb)} → {human(pa)} weights{zeroed}, {human(mb)} → {human(ma)} "
                       f"multiply-adds per image.")
        if role == "g":
            parts.append(f"{pb / pa:.1f}x fewer weights" if pa and pa < pb else "")
            parts.append(f"{mb / ma:.1f}x fewer multiply-adds" if _number(mb) and _number(ma) and 0 < ma < mb else "")
    psnr = record.get("teacher_psnr")
    if _number(psnr):
        details.append(f"Its images stay this close to the trained model's: {psnr:.1f} dB (higher is closer).")
    details.append("Pruning costs some quality; Fine-tune wins most of it back.")
    said = " and ".join(p for p in parts if p)
    headline = f"The generator is smaller: {said}." if said else "Pruned the model (its size did not change)."
    return Outcome(True, headline, tuple(details), (("finetune", "Fine-tune it"),))


def _finetune(project, entry: dict, seconds: float | None) -> Outcome:
    kept, last, fid = entry.get("kept_step"), entry.get("step"), entry.get("probe_fid")
    details = []
    if isinstance(kept, int) and isinstance(last, int) and kept != last:
        details.append(f"Kept step {kept:,} of {last:,}: its images were the closest to real ones.")
    elif isinstance(kept, int):
        details.append(f"Kept the last step, {kept:,}.")
    ratio = _probe_ratio(project, fid)
    if ratio is not None:
        details.append(f"Quality: a quick FID of {fid:.1f}, {ratio:.2f}x the trained model's in the last evaluation "
                       "(lower is better).")
    elif _number(fid):
        details.append(f"Quality: a quick FID of {fid:.1f} (lower is better); Evaluate measures it against the "
                       "trained model on the same images.")
    details.append("Next, Evaluate measures every version side by side.")
    return Outcome(True, "The pruned model is fine-tuned.", tuple(details), (("evaluate", "Evaluate it"),))


def _probe_ratio(project, fid: Any) -> float | None:
    """The fine-tuned model's quick FID over the trained model's FID in the report, when both are there."""
    variants = (project.report or {}).get("variants", [])
    dense = next((v for v in variants if isinstance(v, dict) and v.get("name") == "dense"), None)
    ok = dense is not None and _number(fid) and _number(dense.get("fid")) and dense["fid"] > 0
    return fid / dense["fid"] if ok else None


def _evaluate(project, entry: dict, seconds: float | None) -> Outcome:
    variants = [v for v in (project.report or {}).get("variants", []) if isinstance(v, dict)]
    ok = [v for v in variants if v.get("status", "ok") == "ok"]
    dense = next((v for v in ok if v.get("name") == "dense"), None)
    if not ok:
        return Outcome(False, "The evaluation made no report.", ("Run it again; see the log for why.",))
    details = [_variant_sentence(v, dense) for v in ok if v is not dense]
    best = best_trade_off(ok, dense)
    if best is not None:
        headline = f"Best trade-off: {best['name']}" + (f", {_times(dense, best, 'macs')}" if dense else "") + "."
    else:
        headline = f"Measured {len(ok)} version{'s' if len(ok) != 1 else ''} of the model."
    if dense is not None and best is None and len(ok) > 1:
        details.append("None of the smaller versions keeps the trained model's quality within 10 %.")
    details.append("The whole report (tables and charts) is in report.html; Export makes the files to ship.")
    return Outcome(True, headline, tuple(details), (("export", "Export it"),))


def _variant_sentence(v: dict, dense: dict | None) -> str:
    bits = []
    if dense is not None and _number(v.get("fid")) and _number(dense.get("fid")) and dense["fid"] > 0:
        bits.append(f"FID {v['fid'] / dense['fid']:.2f}x the trained model's")
    if _number(v.get("file_bytes")):
        bits.append(f"{v['file_bytes'] / 1e6:.2f} MB")
    speed = _times(dense, v, "latency") if dense is not None else ""
    if speed:
        bits.append(speed)
    return f"{v.get('name', '?')}: " + (", ".join(bits) if bits else "measured") + "."


def _latency(v: dict) -> float | None:
    lat = v.get("latency_ms") or {}
    for key in ("ort_b1", "torch_b1"):
        if _number(lat.get(key)) and lat[key] > 0:
            return float(lat[key])
    return None


def _times(dense: dict | None, v: dict, what: str) -> str:
    """'3.1x fewer multiply-adds' or '2.0x faster' of v against the dense model; '' when unknown."""
    if dense is None:
        return ""
    if what == "latency":
        a, b = _latency(dense), _latency(v)
        return "" if a is None or b is None else f"{a / b:.1f}x {'faster' if a >= b else 'slower'}"
    a, b = dense.get(what), v.get(what)
    return f"{a / b:.1f}x fewer multiply-adds" if _number(a) and _number(b) and 0 < b < a else "as many " \
        "multiply-adds"


def best_trade_off(variants: list[dict], dense: dict | None, max_fid_rise: float = 0.10) -> dict | None:
    """The smallest version (fewest multiply-adds, then bytes) whose FID is within `max_fid_rise` of the trained
    model's; None when no smaller version keeps it (or nothing was measured against it)."""
    if dense is None or not _number(dense.get("fid")) or not _number(dense.get("macs")):
        return None
    keeps = [v for v in variants if v is not dense and _number(v.get("fid")) and _number(v.get("macs"))
             and v["fid"] <= dense["fid"] * (1 + max_fid_rise)
             and (v["macs"] < dense["macs"] or (v.get("file_bytes") or 0) < (dense.get("file_bytes") or 0))]
    return min(keeps, key=lambda v: (v["macs"], v.get("file_bytes") or 0), default=None)


def _export(project, entry: dict, seconds: float | None) -> Outcome:
    results = {k: r for k, r in (entry.get("results") or {}).items() if isinstance(r, dict)}
    if not results:
        return Outcome(False, "The export made no files.", ("Run it again; see the log for why.",))
    details = [f"{_file_name(r)}: {r['bytes'] / 1e6:.2f} MB ({precision})" for precision, r in results.items()
               if _number(r.get("bytes"))]
    fp32 = results.get("fp32", {})
    for name, r in results.items():
        if name.startswith("int8") and _number(r.get("bytes")) and _number(fp32.get("bytes")):
            speed = _speed_up(fp32, r)
            details.append(f"{name} against fp32: {fp32['bytes'] / r['bytes']:.1f}x smaller"
                           + (f", {speed}" if speed else "") + ".")
    details.append("These files run with ONNX Runtime alone, no PyTorch: Generate makes images with them.")
    n = len(details) - 1 - sum(1 for d in details if " against fp32" in d)
    return Outcome(True, f"Exported {n} model file{'s' if n != 1 else ''}.", tuple(details),
                   (("generate", "Generate images"),))


def _file_name(r: dict) -> str:
    return str(r.get("path", "?")).rsplit("/", 1)[-1]


def _speed_up(fp32: dict, r: dict) -> str:
    a, b = (fp32.get("latency_ms") or {}), (r.get("latency_ms") or {})
    for key, words in (("ort_b64", "64 images at once"), ("ort_b1", "one image")):
        if _number(a.get(key)) and _number(b.get(key)) and b[key] > 0:
            x = a[key] / b[key]
            return f"{x:.1f}x {'faster' if x >= 1 else 'slower'} for {words}"
    return ""


RESULTS = {"train": _train, "import": _train, "prune": _prune, "finetune": _finetune, "evaluate": _evaluate,
           "export": _export}


def stage_outcome(project, stage: str, status: str | None = None, error: str | None = None,
                  seconds: float | None = None) -> Outcome | None:
    """The outcome of `stage`'s last run in `project` (a desktop_app.project.Project): `status` and `error` from the
    job that just ended, else from the manifest. None when it never ran, is running, or its words live elsewhere
    (compress's search: desktop_app.project.compress_outcome)."""
    entry = project.stages.get(stage, {}) if project is not None else {}
    status = status or entry.get("status")
    if status in ("failed", "cancelled"):
        return stopped(stage, status, error or (entry.get("error") if status == entry.get("status") else None))
    if status != "done" or stage not in RESULTS or project is None:
        return None
    return RESULTS[stage](project, entry, seconds)


def arch_words(arch: str | None) -> str:
    try:
        from engine.archs import ARCHS  # torch-free catalogue

        return ARCHS[arch].label if arch in ARCHS else f"{arch or 'built-in'} model"
    except ImportError:
        return f"{arch} model"


def data_words(dataset: str | None) -> str:
    from engine.data_sources import split

    source, argument = split(dataset or "")
    if source is None:
        return dataset or "the data set"
    if source.takes_path:
        return f"your images in {argument}"
    return source.label.split(" (")[0].lower()


# ---- what the sample grid says -----------------------------------------------------------------------------------
GRID_COLUMNS, GRID_PAD = 8, 2  # engine grids: 8 images a row (64 samples, or 8 per class), 2 px between them


def grid_verdict(grid: Any) -> str:
    """One sentence on a training grid (uint8 H x W or H x W x C): blank, all alike (a collapsed generator), or
    varied. '' when the picture is not an engine grid of 8 columns."""
    import numpy as np

    a = np.asarray(grid, dtype=np.float32)
    a = a.mean(axis=2) if a.ndim == 3 else a
    tile = (a.shape[1] - GRID_PAD) // GRID_COLUMNS - GRID_PAD if a.ndim == 2 else 0
    rows = (a.shape[0] - GRID_PAD) // (tile + GRID_PAD) if tile > 0 else 0
    if tile <= 0 or rows <= 0 or (a.shape[1] - GRID_PAD) % GRID_COLUMNS:
        return ""
    step = tile + GRID_PAD
    tiles = np.stack([a[GRID_PAD + r * step:GRID_PAD + r * step + tile, GRID_PAD + c * step:GRID_PAD + c * step + tile]
                      for r in range(rows) for c in range(GRID_COLUMNS)])
    within = float(tiles.std(axis=(1, 2)).mean())  # detail inside each picture
    across = float(tiles.std(axis=0).mean())  # how much the pictures differ from one another
    if within < 4:
        return "The samples are still nearly blank: train for more steps."
    if across < 0.15 * within:
        return ("The samples all look alike (the generator may have collapsed to one picture): train longer, or "
                "start again with a lower learning rate.")
    return "The samples differ from one another, as they should; judge their likeness to the data by eye."
