"""The frozen entry scripts start the same mains as the installed commands, the studio with freeze_support first."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

from tests.packaging.conftest import PACKAGING


def _imports(path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [f"{n.module}.{a.name}" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names]


def test_entry_scripts_call_the_console_mains():
    assert "engine.sample_cli.main" in _imports(PACKAGING / "entry_sampler.py")
    studio = (PACKAGING / "entry_studio.py").read_text(encoding="utf-8")
    assert "desktop_app.__main__.main" in _imports(PACKAGING / "entry_studio.py")
    assert studio.index("multiprocessing.freeze_support()") < studio.index("from desktop_app")


def test_sampler_entry_runs_without_torch():
    """What the sampler bundle holds: running its entry script never imports torch or Qt."""
    code = f"""
import runpy, sys
sys.argv = ["gan-sample", "--help"]
try:
    runpy.run_path({str(PACKAGING / "entry_sampler.py")!r}, run_name="__main__")
except SystemExit as e:
    assert e.code == 0, e.code
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision", "PySide6", "onnx"))
assert not heavy, heavy
print("clean")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PACKAGING.parent,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("clean")


def test_studio_entry_with_the_hidden_argument_is_gan_prune(tmp_path):
    """The frozen studio's processes (engine.relaunch) run its entry script as `gan-prune ARGS`: same parser, same
    one-line error and exit code 2, no window."""
    script = str(PACKAGING / "entry_studio.py")
    env = {**os.environ, "PYTHONPATH": str(PACKAGING.parent), "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, script, "--gan-prune", "--version"], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)
    assert (done.returncode, done.stdout.strip()) == (0, "gan-prune 0.1.0")
    done = subprocess.run([sys.executable, script, "--gan-prune", "train", "-w", str(tmp_path / "p"), "--steps",
                           "0"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith("gan-prune: error: ")
    assert len(done.stderr.strip().splitlines()) == 1
