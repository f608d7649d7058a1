"""What must hold in a workspace after any crash, checked from the outside (the harness never opens the workspace
through the product, so it sees exactly what a kill left behind).

Integrity: the manifest parses, every stage has a known status, every checkpoint the manifest names (and every file
under checkpoints/) loads with weights_only, every ONNX under export/ loads in ONNX Runtime, a finished evaluation
has its report. Lineage: no stage still offers a model made from an older one (the product's "stages never mix
models" promise). Debris: temp files and temp folders a write left behind.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

STATUSES = ("running", "done", "failed", "cancelled", "stale")
# Which file each stage writes, and the stages that are made from it.
OUTPUT = {"train": "checkpoints/dense.pt", "prune": "checkpoints/pruned.pt", "finetune": "checkpoints/finetuned.pt"}
DOWNSTREAM = {"train": ("prune", "finetune", "export"), "prune": ("finetune", "export"), "finetune": ("export",)}


def file_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under root (relative posix path -> hex), .lock left out."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".lock"}


def debris(root: Path) -> list[dict]:
    """Temp files (*.tmp) anywhere and temp folders (tmp*) under export/, with their sizes in bytes."""
    found = [{"path": p.relative_to(root).as_posix(), "bytes": p.stat().st_size} for p in root.rglob("*.tmp")
             if p.is_file()]
    export = root / "export"
    if export.is_dir():
        for d in export.iterdir():
            if d.is_dir() and d.name.startswith("tmp"):
                size = sum(f.stat().st_size for f in d.rglob("*") if f.is_file())
                found.append({"path": d.relative_to(root).as_posix() + "/", "bytes": size})
    return sorted(found, key=lambda d: d["path"])


def read_stages(root: Path) -> tuple[dict, list[str]]:
    """The manifest's stages, or {} and a problem when it does not parse (no manifest yet is fine)."""
    path = root / "manifest.json"
    if not path.exists():
        return {}, []
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        return {}, [f"manifest.json does not parse ({e})"]
    if not isinstance(data, dict) or not isinstance(data.get("stages"), dict):
        return {}, ["manifest.json has no 'stages' table"]
    problems = [f"stage {name}: entry is {type(e).__name__}, not a table" for name, e in data["stages"].items()
                if not isinstance(e, dict)]
    stages = {k: v for k, v in data["stages"].items() if isinstance(v, dict)}
    problems += [f"stage {name}: unknown status {e.get('status')!r}" for name, e in stages.items()
                 if e.get("status") not in STATUSES]
    return stages, problems


def integrity(root: Path, stages: dict) -> list[str]:
    """Files the manifest names exist and load; nothing on disk is half-written."""
    from engine.errors import WorkspaceError
    from engine.workspace import load_checkpoint_file

    problems = []
    named = {name: e["checkpoint"] for name, e in stages.items() if isinstance(e.get("checkpoint"), str)}
    for name, rel in named.items():
        path = (root / rel).resolve()
        if not path.is_relative_to(root.resolve()):
            problems.append(f"stage {name}: checkpoint {rel} is outside the workspace")
        elif not path.exists() and name != "export":
            problems.append(f"stage {name} ({stages[name].get('status')}): names {rel}, which does not exist")
    for path in sorted((root / "checkpoints").glob("*.pt")):
        try:
            load_checkpoint_file(path)
        except WorkspaceError as e:
            problems.append(f"{path.relative_to(root)} does not load with weights_only ({e})")
    problems += _onnx_problems(root, stages.get("export") or {})
    evaluate = stages.get("evaluate") or {}
    if evaluate.get("status") == "done":
        try:
            report = json.loads((root / "report.json").read_text("utf-8"))
            if not report.get("variants"):
                problems.append("evaluate is done but report.json lists no variants")
        except (OSError, json.JSONDecodeError) as e:
            problems.append(f"evaluate is done but report.json is unreadable ({e})")
    return problems


def _onnx_problems(root: Path, export: dict) -> list[str]:
    import onnxruntime as ort

    problems = []
    for path in sorted((root / "export").rglob("*.onnx")):
        try:
            ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as e:  # ORT raises its own exception types for truncated or foreign files
            problems.append(f"{path.relative_to(root)} does not load in onnxruntime ({str(e)[:120]})")
    if export.get("status") == "done":
        for precision, r in (export.get("results") or {}).items():
            if isinstance(r, dict) and r.get("path") and not (root / r["path"]).exists():
                problems.append(f"export is done but its {precision} file {r['path']} is missing")
    return problems


def lineage(root: Path, stages: dict, before: dict[str, str] | None) -> list[str]:
    """No stage offers a model made from an older model (one that changed since `before`, the hashes taken
    before the command ran); an export marked done matches the checkpoint it names."""
    problems = []
    after = file_hashes(root)
    for stage, rel in OUTPUT.items():
        if before is None or before.get(rel) == after.get(rel) or rel not in before:
            continue
        for down in DOWNSTREAM[stage]:
            e = stages.get(down) or {}
            offers = e.get("status") == "done" if down == "export" else (
                e.get("status") != "stale" and bool(e.get("checkpoint")))
            if offers:
                problems.append(f"{rel} changed but stage {down} ({e.get('status')}) still offers a model made "
                                f"from the older one")
    problems += _export_parity(root, stages.get("export") or {})
    finetune, prune = stages.get("finetune") or {}, stages.get("prune") or {}
    if finetune.get("checkpoint") and finetune.get("status") != "stale" and prune.get("checkpoint"):
        ft, pr = _load(root / finetune["checkpoint"]), _load(root / prune["checkpoint"])
        if ft is not None and pr is not None and ft.get("pruning") != pr.get("pruning"):
            problems.append(f"stage finetune ({finetune.get('status')}) offers a model fine-tuned from another "
                            "pruning than checkpoints/pruned.pt")
    return problems


def _export_parity(root: Path, export: dict) -> list[str]:
    """generator.onnx of a finished export computes what the checkpoint it names computes."""
    if export.get("status") != "done" or not export.get("checkpoint"):
        return []
    import onnxruntime as ort
    import torch

    from engine.models import generator_from_checkpoint

    ckpt, onnx_path = _load(root / export["checkpoint"]), root / "export" / "generator.onnx"
    if ckpt is None or not onnx_path.exists():
        return [f"export is done but {export['checkpoint']} or export/generator.onnx is missing or unreadable"]
    G = generator_from_checkpoint(ckpt)
    z = torch.randn(4, G.latent_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = G(z).numpy()
    try:
        sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        got = sess.run(None, {sess.get_inputs()[0].name: z.numpy()})[0]
    except Exception as e:  # a wrong-shaped model (another architecture) fails here
        return [f"export/generator.onnx does not run on {export['checkpoint']}'s latents ({str(e)[:100]})"]
    worst = float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")
    if worst > 1e-3:
        return [f"export is done but export/generator.onnx differs from {export['checkpoint']} by {worst:.3g}"]
    return []


def _load(path: Path) -> dict | None:
    from engine.errors import WorkspaceError
    from engine.workspace import load_checkpoint_file

    try:
        return load_checkpoint_file(path)
    except WorkspaceError:
        return None


def check(root: Path, before: dict[str, str] | None = None) -> dict[str, list[str]]:
    """All checks on one workspace: {'integrity': [...], 'lineage': [...]} (empty lists: all good)."""
    root = Path(root)
    stages, problems = read_stages(root)
    problems += integrity(root, stages)
    return {"integrity": problems, "lineage": lineage(root, stages, before) if stages else []}
