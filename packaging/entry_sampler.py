"""Frozen entry point of the torch-free sampler (`gan-sample`); PyInstaller needs a script, not a module path."""

import sys

from engine.sample_cli import main

if __name__ == "__main__":
    sys.exit(main())
