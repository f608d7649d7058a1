"""gan-prune: the engine's command line. Each subcommand lives in its own module with `register(subparsers)`.

Bad input (a UserError) prints ONE line on stderr and exits 2; a traceback only with --debug.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from engine import __version__
from engine.errors import UserError
from engine.events import Cancelled

# Subcommand modules under engine/cli/; each defines register(subparsers) and sets func=handler(args) -> int.
COMMAND_MODULES = ["train", "info", "demo", "compress"]
OPTIONAL_COMMAND_MODULES = ["prune", "finetune", "evaluate", "export", "run"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other bad input
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gan-prune", description="Train, prune, measure, quantize and export GANs.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES + OPTIONAL_COMMAND_MODULES:
        try:
            module = importlib.import_module(f"engine.cli.{name}")
        except ModuleNotFoundError as e:
            if name in OPTIONAL_COMMAND_MODULES and e.name == f"engine.cli.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        if args.debug:
            raise
        print(f"gan-prune: error: {e}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Cancelled):
        print("gan-prune: cancelled; what was saved before the stop is kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
