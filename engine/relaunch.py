"""How to start `gan-prune` again in a new process: `python -m engine.cli` from a source install, the packaged
studio's own program from a frozen (PyInstaller) app, where sys.executable is the studio and there is no Python.

The frozen studio turns into `gan-prune` when its first argument is ENGINE_CLI_ARGUMENT (packaging/entry_studio.py
checks it before anything else), so the studio and torchrun can start the engine's processes without a terminal.
"""

from __future__ import annotations

import sys

ENGINE_CLI_ARGUMENT = "--gan-prune"  # hidden: a person never types it; the studio and torchrun do


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def cli_command() -> list[str]:
    """The program and first arguments of a new process that runs `gan-prune ARGS...` (the ARGS follow)."""
    if is_frozen():
        return [sys.executable, ENGINE_CLI_ARGUMENT]
    return [sys.executable, "-m", "engine.cli"]


def torchrun_program() -> list[str]:
    """The tail of torchrun's own options that names the program every process runs (the ARGS follow).

    From source torchrun starts `python -u -m engine.cli`; frozen, its `--no-python` starts the studio's program
    itself with the hidden argument, since `sys.executable -m ...` would open another window instead."""
    if is_frozen():
        return ["--no-python", sys.executable, ENGINE_CLI_ARGUMENT]
    return ["-m", "engine.cli"]
