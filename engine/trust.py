"""Which model files this user chose to run: the record lives OUTSIDE every project folder, per user.

An imported model's project is code: reading its checkpoint imports (runs) the model's .py file. The project folder
cannot vouch for that file itself (whoever hands you the folder wrote its manifest too), so the record that *you*
chose to run a file is kept in your own data folder, keyed by the file's absolute path and SHA-256:

- `gan-prune import` (or the studio's import) records the files it was given: you named them;
- `gan-prune trust --workspace DIR` (or Yes in the studio's question) records a handed-over project's files;
- any other read of such a checkpoint is refused in one line before anything runs (engine/checkpoint_check).

GAN_PRUNE_TRUST_DIR moves the record (tests use a temporary folder).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from engine.workspace import atomic_write_json

ENV = "GAN_PRUNE_TRUST_DIR"
FILE = "trusted-model-files.json"


def store_path() -> Path:
    override = os.environ.get(ENV)
    if override:
        return Path(override) / FILE
    from platformdirs import user_data_dir

    return Path(user_data_dir("gan-pruning-studio", appauthor=False)) / FILE


def _read() -> list[dict]:
    """The records; an unreadable or damaged store trusts nothing (it asks again, which is safe)."""
    try:
        data = json.loads(store_path().read_text("utf-8"))
        entries = data.get("trusted") if isinstance(data, dict) else None
        return [e for e in entries or [] if isinstance(e, dict)]
    except (OSError, ValueError, RecursionError):
        return []


def is_trusted(source: str, sha256: str) -> bool:
    """True when this user chose to run the file at this absolute path with exactly these contents."""
    if not isinstance(source, str) or not Path(source).is_absolute():
        return False
    return any(e.get("source") == source and e.get("sha256") == sha256 for e in _read())


def untrusted(files: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (path, sha256) pairs among `files` this user has not chosen to run."""
    known = {(e.get("source"), e.get("sha256")) for e in _read()}
    return [f for f in files if f not in known or not Path(f[0]).is_absolute()]


def trust(files: list[tuple[str, str]]) -> None:
    """Record that this user chose to run these files (absolute paths only)."""
    for source, _ in files:
        if not Path(source).is_absolute():
            raise ValueError(f"a trusted model file needs an absolute path (got {source!r})")
    path = store_path()
    with _locked(path):
        entries = _read()
        have = {(e.get("source"), e.get("sha256")) for e in entries}
        entries += [{"source": s, "sha256": h} for s, h in files if (s, h) not in have]
        atomic_write_json(path, {"version": 1, "trusted": entries})


@contextlib.contextmanager
def _locked(path: Path):
    """One writer of the store at a time (two imports finishing together must not drop a record)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a+b") as f:
        if os.name != "nt":
            import fcntl

            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        yield


def project_files(workspace_root: str | Path) -> list[tuple[str, str]]:
    """(path, sha256) of the model files a project's imported model runs, as `gan-prune import` listed them in its
    manifest (read as text: nothing runs). A damaged manifest lists none."""
    try:
        manifest = json.loads((Path(workspace_root) / "manifest.json").read_text("utf-8"))
        entries = manifest["stages"]["import"]["trusted"]
        return list(dict.fromkeys((str(e["source"]), str(e["sha256"])) for e in entries))
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return []


def waiting(workspace_root: str | Path) -> list[str]:
    """The model files this project would run that this user has not chosen to run (empty: nothing to ask)."""
    return [source for source, _ in untrusted(project_files(workspace_root))]


def trust_project(workspace_root: str | Path) -> list[str]:
    """Record a project's model files as chosen by this user, each checked first: an absolute path to a regular
    file whose contents still have the recorded SHA-256 (else a UserError naming it, and nothing recorded)."""
    import hashlib

    from engine.errors import WorkspaceError

    files = project_files(workspace_root)
    for source, sha in files:
        path = Path(source)
        if not path.is_absolute():
            raise WorkspaceError(f"The project {workspace_root} names its model file as the relative path {source!r}; "
                                 "only an absolute path can be trusted: import the model again.")
        if not path.is_file():
            raise WorkspaceError(f"The model file {source} of the project {workspace_root} is missing (or not a "
                                 "file); put it back where it was imported from, or import the model again.")
        if hashlib.sha256(path.read_bytes()).hexdigest() != sha:
            raise WorkspaceError(f"The model file {source} differs from the one the project {workspace_root} was "
                                 "made with (another SHA-256); restore it or import the model again.")
    trust(files)
    return [source for source, _ in files]
