"""The hostile-input suite's one harness: run a command the way a user does, then check the project's promise.

The promise (README, "Bad input"): exit 2 and ONE line on stderr that names the file or value, no traceback, and the
workspace unchanged (or left consistent: no temp debris, a manifest that agrees with the files).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.engine.tiny import dense_dcgan_workspace

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def run_cli(*args: str, module: str = "engine.cli", timeout: float = 120, env: dict | None = None,
            cwd: str | os.PathLike | None = None) -> Result:
    """Run `gan-prune ARGS` (or `gan-sample` with module='engine.sample_cli') in a fresh interpreter."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **(env or {})}
    p = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=timeout,
                       env=full_env, cwd=cwd)
    return Result(p.returncode, p.stdout, p.stderr)


def assert_refused(r: Result, *fragments: str, code: int = 2) -> str:
    """Exit `code`, exactly one line on stderr, no traceback, and every fragment (case-insensitive) in that line."""
    assert r.code == code, f"exit {r.code} (wanted {code}); stderr:\n{r.err}"
    assert "Traceback" not in r.err, r.err
    assert len(r.err_lines) == 1, f"wanted one line on stderr, got {len(r.err_lines)}:\n{r.err}"
    line = r.err_lines[0]
    for f in fragments:
        assert f.lower() in line.lower(), f"{f!r} not in {line!r}"
    return line


def snapshot(root: str | os.PathLike) -> dict[str, str]:
    """Every file under root (relative path -> sha256), to prove a refused command changed nothing."""
    root = Path(root)
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".lock"}


def assert_consistent(root: str | os.PathLike) -> None:
    """No temp debris, and every checkpoint the manifest names exists inside the workspace."""
    root = Path(root)
    debris = [p.name for p in root.rglob("*.tmp")]
    assert not debris, f"temp files left behind: {debris}"
    manifest = root / "manifest.json"
    if manifest.exists():
        stages = json.loads(manifest.read_text())["stages"]
        for name, entry in stages.items():
            ck = entry.get("checkpoint") if isinstance(entry, dict) else None
            if ck:
                path = (root / ck).resolve()
                assert path.is_relative_to(root.resolve()), f"{name}: {ck} is outside the workspace"
                assert path.exists(), f"{name}: manifest names {ck}, which does not exist"


def set_at(*keys_and_value):
    """An edit a person might make by hand: set_at("arch", "generator", "widths", [0]) sets data[...][...] = value."""
    *keys, value = keys_and_value

    def change(data):
        node = data
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return change


@pytest.fixture
def tiny_ws(tmp_path):
    """A workspace whose train stage is done with a narrow random DCGAN (see tests/engine/tiny.py)."""
    return dense_dcgan_workspace(tmp_path / "ws")
