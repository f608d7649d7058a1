"""Run a PyInstaller spec file without PyInstaller doing any work: its build steps are recorded, not executed."""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import pytest

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"


class Recorder:
    """Stands in for Analysis/PYZ/EXE/COLLECT/BUNDLE: keeps the arguments, returns an object with a.binaries etc."""

    def __init__(self, calls: dict, kind: str):
        self.calls, self.kind = calls, kind

    def __call__(self, *args, **kwargs):
        self.calls[self.kind] = (args, kwargs)
        return types.SimpleNamespace(binaries=[], datas=[], pure=[], scripts=[], zipfiles=[])


@pytest.fixture
def run_spec(monkeypatch, tmp_path):
    def run(name: str) -> dict:
        calls: dict = {}
        hooks = types.ModuleType("PyInstaller.utils.hooks")
        hooks.collect_submodules = lambda package, filter=None: [f"{package}.stub"]
        hooks.collect_data_files = lambda package, **kw: []
        for mod in ("PyInstaller", "PyInstaller.utils"):
            monkeypatch.setitem(sys.modules, mod, types.ModuleType(mod))
        monkeypatch.setitem(sys.modules, "PyInstaller.utils.hooks", hooks)
        monkeypatch.chdir(tmp_path)  # the spec must not depend on the current folder
        spec = PACKAGING / name
        namespace = {"__file__": str(spec), "SPECPATH": str(PACKAGING), "SPEC": str(spec),
                     "workpath": str(tmp_path / "work"), "DISTPATH": str(tmp_path / "dist")}
        namespace |= {k: Recorder(calls, k) for k in ("Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE")}
        exec(compile(spec.read_text(encoding="utf-8"), str(spec), "exec"), namespace)
        calls["namespace"] = namespace
        return calls

    return run


def under(path: str, folder: Path) -> bool:
    return Path(os.path.abspath(path)).is_relative_to(folder)
