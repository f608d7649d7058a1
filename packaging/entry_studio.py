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
    from engine.relaunch import ENGINE_CLI_ARGUMENT

    if sys.argv[1:2] == [ENGINE_CLI_ARGUMENT]:
        # The studio's Processes field and torchrun start `gan-prune` as this same program (engine.relaunch): act
        # as the command line, with its own argv, so it re-launches and exits exactly as `gan-prune` does.
        del sys.argv[1]
        from engine.cli import main as gan_prune

        sys.exit(gan_prune())
    from desktop_app.__main__ import main

    sys.exit(main())
