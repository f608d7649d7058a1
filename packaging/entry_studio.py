"""Frozen entry point of the studio (`gan-prune-studio`); PyInstaller needs a script, not a module path."""

import multiprocessing
import os
import sys

if __name__ == "__main__":
    # Before anything else: a frozen child process (if torch or a library ever spawns one) must not start the app.
    multiprocessing.freeze_support()
    # A windowed build on Windows/macOS has no console: stdout/stderr are None and a print would crash.
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115
    from desktop_app.__main__ import main

    sys.exit(main())
