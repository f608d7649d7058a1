"""The run folder: paths, manifest.json, config.toml, atomic writes, and checkpoints loaded with weights_only."""

from __future__ import annotations

import io
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from engine.errors import WorkspaceError, cannot_write

# Temp files older than this were left by another (killed) process; see stage_runner.sweep_stale_temp_files.
PROCESS_START = time.time()
CHECKPOINT_FORMAT = "gan-prune-studio/checkpoint"
CHECKPOINT_VERSION = 1
MANIFEST_VERSION = 1
# Entry keys that name a file in the workspace (relative paths); read_manifest keeps them inside it.
MANIFEST_PATH_KEYS = ("checkpoint", "stale_checkpoint", "report", "csv", "html")


_writes = 0  # files this process began to write: a stop while none was written since a stage began can be at once


def writes_so_far() -> int:
    return _writes


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename: a crash never leaves half a file."""
    global _writes
    _writes += 1
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:  # a read-only folder, a full disk, no permission: one sentence naming the file
        raise (cannot_write(e, path) or e) from None
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a workspace file should read like any other file
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        refused = cannot_write(e, path)
        if refused is not None:
            raise refused from None
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def resolved(path: str | os.PathLike, what: str = "path") -> Path:
    """The absolute path with links followed; a link that points back to itself (a loop, which Python 3.11 reports
    as a RuntimeError with a traceback) is one sentence naming it."""
    try:
        return Path(path).expanduser().resolve()
    except (RuntimeError, OSError) as e:
        reason = "a symbolic link that leads back to itself" if "loop" in str(e).lower() or getattr(
            e, "errno", None) == 40 else (getattr(e, "strerror", None) or str(e))
        raise WorkspaceError(f"The {what} {path} cannot be followed ({reason}); fix or remove the link.") from None


class Workspace:
    """A folder holding one project's config, checkpoints, exports, samples, report and logs."""

    def __init__(self, path: str | os.PathLike, create: bool = True) -> None:
        if not str(path).strip():  # '' would silently mean the current folder
            raise WorkspaceError("The workspace path is empty; give a project folder, e.g. --workspace my-project.")
        self.root = resolved(path, "workspace path")
        if self.root.exists() and not self.root.is_dir():
            raise WorkspaceError(f"The workspace path {self.root} is a file, not a folder; choose a folder.")
        if not self.root.exists():
            if not create:
                raise WorkspaceError(f"The workspace {self.root} does not exist; create it with 'gan-prune train'.")
            try:
                # exist_ok: another command may create it at the same moment (the machines of one run, started
                # together on a shared folder); losing that race is no error
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise WorkspaceError(f"Cannot create the workspace folder {self.root} ({e.strerror}); "
                                     "choose another.") from None
        for sub in ("checkpoints", "export", "samples", "logs"):
            try:
                (self.root / sub).mkdir(exist_ok=True)
            except OSError:
                pass  # a read-only workspace still opens for reading; a write there names its own file

    # ---- paths -------------------------------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    @property
    def config_path(self) -> Path:
        return self.root / "config.toml"

    @property
    def report_path(self) -> Path:
        return self.root / "report.json"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def export_dir(self) -> Path:
        return self.root / "export"

    @property
    def samples_dir(self) -> Path:
        return self.root / "samples"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    def rel(self, path: str | os.PathLike) -> str:
        """Path relative to the workspace root, as stored in the manifest."""
        p = resolved(path, "file")
        try:
            return p.relative_to(self.root).as_posix()
        except ValueError:
            return str(p)

    def abs(self, rel_path: str) -> Path:
        """A path the manifest names, resolved; it must stay inside the workspace (a hand-edited manifest
        must not make a stage read or overwrite /etc/passwd)."""
        if not isinstance(rel_path, str) or not rel_path:
            raise WorkspaceError(f"{self.manifest_path} names a file as {rel_path!r}, not a path inside the "
                                 "workspace; fix or delete the manifest.")
        p = resolved(self.root / rel_path, f"file {self.manifest_path} names as")
        if not p.is_relative_to(self.root):
            raise WorkspaceError(f"{self.manifest_path} names {rel_path!r}, which is outside the workspace "
                                 f"{self.root}; fix or delete the manifest.")
        return p

    # ---- manifest ----------------------------------------------------------------------------------------------
    def read_manifest(self) -> dict[str, Any]:
        if not self.manifest_path.exists():
            return {"version": MANIFEST_VERSION, "stages": {}}
        try:
            data = json.loads(self.manifest_path.read_text("utf-8"))
        except RecursionError:
            raise WorkspaceError(f"The manifest {self.manifest_path} is corrupt (nested too deeply to read); "
                                 "delete it or use a new workspace.") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise WorkspaceError(f"The manifest {self.manifest_path} is corrupt ({e}); "
                                 "delete it or use a new workspace.") from None
        if not isinstance(data, dict) or not isinstance(data.get("stages"), dict):
            raise WorkspaceError(f"The manifest {self.manifest_path} is not a GAN Pruning Studio manifest ('stages' "
                                 "must be a JSON object of stage entries); fix or delete it.")
        self._check_stages(data["stages"])
        return data

    def _check_stages(self, stages: dict[str, Any]) -> None:
        """Each stage entry is an object, and every file it names lies inside the workspace."""
        for name, entry in stages.items():
            if not isinstance(entry, dict):
                raise WorkspaceError(f"The manifest {self.manifest_path} has stages.{name} as a "
                                     f"{type(entry).__name__}, not an object; fix or delete the manifest.")
            for key in MANIFEST_PATH_KEYS:
                value = entry.get(key)
                if value is None:
                    continue
                inside = isinstance(value, str) and value and resolved(
                    self.root / value, f"file {self.manifest_path} names as").is_relative_to(self.root)
                if not inside:
                    raise WorkspaceError(f"The manifest {self.manifest_path} has stages.{name}.{key} = {value!r}, "
                                         "which is not a path inside the workspace; fix or delete the manifest.")

    def update_stage(self, stage: str, **fields: Any) -> dict[str, Any]:
        """Merge fields into manifest['stages'][stage] and write the manifest atomically."""
        manifest = self.read_manifest()
        entry = manifest["stages"].setdefault(stage, {})
        entry.update(fields)
        entry["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        atomic_write_json(self.manifest_path, manifest)
        return entry

    def stage(self, stage: str) -> dict[str, Any] | None:
        return self.read_manifest()["stages"].get(stage)

    def mark_stale(self, *stages: str) -> list[str]:
        """Stages whose models were made from an older model: later stages must not pick them up any more."""
        marked = []
        for name in stages:
            old = self.stage(name)
            if old and old.get("status") != "stale" and (old.get("checkpoint") or name == "export"):
                self.update_stage(name, status="stale", checkpoint=None, stale_checkpoint=old.get("checkpoint"))
                marked.append(name)
        return marked

    def append_record(self, key: str, record: dict[str, Any]) -> None:
        """Append to a list at the manifest's top level (e.g. the pruning history)."""
        manifest = self.read_manifest()
        manifest.setdefault(key, []).append(record)
        atomic_write_json(self.manifest_path, manifest)

    # ---- checkpoints -------------------------------------------------------------------------------------------
    def checkpoint_path(self, name: str) -> Path:
        return self.checkpoints / (name if name.endswith(".pt") else f"{name}.pt")

    def save_checkpoint(self, name: str, payload: dict[str, Any] | bytes) -> Path:
        """Write checkpoints/NAME.pt atomically: a payload dict, or the bytes of checkpoint_bytes(payload) (a stage
        that checks the very bytes it is about to write)."""
        data = payload if isinstance(payload, bytes) else checkpoint_bytes(payload)
        path = self.checkpoint_path(name)
        atomic_write_bytes(path, data)
        return path

    def load_checkpoint(self, name_or_path: str | os.PathLike) -> dict[str, Any]:
        p = Path(name_or_path)
        path = p if (p.is_absolute() or p.exists()) else self.checkpoint_path(str(name_or_path))
        return load_checkpoint_file(path)

    def latest_generator_checkpoint(self) -> Path | None:
        """The newest model in the workflow: fine-tuned, then pruned, then trained."""
        stages = self.read_manifest()["stages"]
        for stage in ("finetune", "prune", "train"):
            ck = (stages.get(stage) or {}).get("checkpoint")
            if ck and self.abs(ck).exists():
                return self.abs(ck)
        return None


def checkpoint_bytes(payload: dict[str, Any]) -> bytes:
    """A checkpoint file's bytes (the format and version fields first), not yet written anywhere."""
    import torch

    buf = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **payload}, buf)
    return buf.getvalue()


def torch_load_problem(e: BaseException) -> str:
    """What a failed torch.load(weights_only=True) means, in our words (PyTorch's own text is pages long and would be
    cut mid-word): 'unsafe' for Python objects that loading would have to run, else 'damaged'."""
    import pickle

    text = str(e).lower()
    if isinstance(e, pickle.UnpicklingError) and "weights only load failed" in text and "global" in text:
        return ("holds Python objects (a pickled model or code), not only tensors; loading it would run code, so it "
                "was refused and nothing ran")
    return "is truncated, damaged or not a PyTorch file (nothing in it was run)"


def regular_file(path: Path, what: str, error: type[Exception] = WorkspaceError) -> Path:
    """`path` when it is a regular file; a folder, device (/dev/zero), FIFO or socket is refused BEFORE reading it
    (reading /dev/zero never ends), with one sentence of the caller's error class."""
    import stat

    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise error(f"The {what} {path} does not exist; check the path.") from None
    except (OSError, RuntimeError) as e:  # RuntimeError: a symlink loop on Python 3.11
        raise error(f"Cannot read the {what} {path} ({getattr(e, 'strerror', None) or e}); check the path.") from None
    if stat.S_ISDIR(mode):
        raise error(f"The {what} {path} is a folder; give the file itself.")
    if not stat.S_ISREG(mode):
        raise error(f"The {what} {path} is not a regular file (a device, pipe or socket); give a saved file.")
    return path


def read_regular_file(path: Path, what: str) -> bytes:
    """The bytes of `path`, refused BEFORE reading when it is not a regular file (reading /dev/zero never ends)."""
    regular_file(path, what)
    try:
        return path.read_bytes()
    except OSError as e:
        raise WorkspaceError(f"Cannot read the {what} {path} ({e.strerror or e}); check its permissions.") from None


def load_checkpoint_file(path: str | os.PathLike, check: bool = True) -> dict[str, Any]:
    """Load one of our checkpoints safely (weights_only: a user's file can never run code).

    check: refuse a file whose arch, weights or step were edited by hand (off only for a bundled model's part)."""
    import torch

    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise WorkspaceError(f"The checkpoint {path} does not exist; train a model first (gan-prune train).")
    raw = read_regular_file(path, "checkpoint")
    if path.suffix == ".xz":  # bundled resources are xz-compressed to stay small
        import lzma

        try:
            raw = lzma.decompress(raw)
        except lzma.LZMAError:
            raise WorkspaceError(f"The checkpoint {path} is corrupt (bad xz data); restore or retrain it.") from None
    try:
        data = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for truncated or foreign files
        raise WorkspaceError(f"The checkpoint {path} {torch_load_problem(e)}; restore it or retrain.") from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise WorkspaceError(f"The file {path} is not a GAN Pruning Studio checkpoint; choose a checkpoint "
                             "written by this app.")
    if data.get("version") != CHECKPOINT_VERSION:
        raise WorkspaceError(f"The checkpoint {path} has version {data.get('version')}; this app reads version "
                             f"{CHECKPOINT_VERSION}.")
    if check:
        # Every read is checked the same way, but the check needs the model registry, a layer above this one:
        # imported at call time (the one exception the layers contract lists).
        from engine.checkpoint_check import check_checkpoint

        check_checkpoint(data, path)
    return data
