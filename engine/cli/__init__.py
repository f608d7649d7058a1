"""gan-prune: the engine's command line. Each subcommand lives in its own module with `register(subparsers)`.

Bad input (a UserError) prints ONE line on stderr and exits 2; a traceback only with --debug.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading

from engine.errors import UserError, cannot_write  # neither loads torch
from engine.events import Cancelled


def _quiet_torch_cpp_log() -> bool:
    """A command that launches processes waits for the other machines in torch's C++ store, whose logger prints
    a warning with a stack trace at every retry; the launcher says itself what happened. The level is read once,
    when torch loads, so it is set before that, in a fresh command process only, and marked: the launcher
    gives its workers the user's own setting back (engine.distributed.launch)."""
    worker = all(k in os.environ for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    if "torch" in sys.modules or worker or "TORCH_CPP_LOG_LEVEL" in os.environ:
        return
    os.environ["TORCH_CPP_LOG_LEVEL"] = "FATAL"
    os.environ["GAN_PRUNE_QUIET_CPP_LOG"] = "1"


_quiet_torch_cpp_log()

from engine import __version__, stages  # noqa: E402 - after the C++ log level is chosen

# Subcommand modules under engine/cli/; each defines register(subparsers) and sets func=handler(args) -> int.
# The stages' commands come from the stage registry; these are the commands that are not one stage.
OTHER_COMMAND_MODULES = ["info", "trust", "demo", "run"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other bad input
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gan-prune", description="Train, prune, measure, quantize and export GANs.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    registered = set()
    for stage in stages.STAGES:  # in registry order, so --help lists the workflow's order
        if stage.command is None:  # no command module of its own: its flags come from its config
            from engine.cli import stage_command

            stage_command.register(sub, stage)
        elif stage.command not in registered:
            registered.add(stage.command)
            importlib.import_module(f"engine.cli.{stage.command}").register(sub)
    for name in OTHER_COMMAND_MODULES:
        importlib.import_module(f"engine.cli.{name}").register(sub)
    return parser


def _sigterm_as_ctrl_c(signum, frame) -> None:
    from engine import user_code

    user_code.note_stop_signal()  # a KeyboardInterrupt from a model's own code is its error; this one is a stop
    raise KeyboardInterrupt  # a stage's drive() turns it into a clean stop; elsewhere the command just ends, 130


def main(argv: list[str] | None = None) -> int:
    main_thread = threading.current_thread() is threading.main_thread()
    old = {s: signal.signal(s, _sigterm_as_ctrl_c) for s in (signal.SIGTERM, signal.SIGINT)} if main_thread else {}
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)  # a multi-process command re-starts with these
        args.own_process = argv is None  # the real command line, not a call from a test or another program
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return _run(args)
    except (KeyboardInterrupt, Cancelled):
        if _speaks() and not os.environ.get("GAN_PRUNE_LAUNCHED"):  # a launched worker's launcher says it once
            print("gan-prune: cancelled; what was saved before the stop is kept", file=sys.stderr)
        return 130
    finally:
        for s, handler in old.items():  # main() also runs inside tests and the studio's process: leave as found
            signal.signal(s, handler)


def _run(args) -> int:
    from engine.cli.common import remove_if_left_empty

    workspace = getattr(args, "workspace", None)
    existed = _exists(workspace)
    code = 1
    try:
        code = _run_command(args)
        return code
    finally:
        if code != 0:
            remove_if_left_empty(workspace, existed)


def _exists(path: str | None) -> bool:
    try:
        return bool(path) and os.path.lexists(os.path.expanduser(path))
    except (OSError, ValueError):
        return True  # unknown: never remove it


def _run_command(args) -> int:
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        # The reader went away (`gan-prune info | head -1`): that is not an error. Python's documented recipe:
        # point stdout at devnull so the interpreter's final flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (UserError, OSError) as e:
        if args.debug:
            raise
        if _speaks():
            print(f"gan-prune: error: {_one_line(e)}", file=sys.stderr)
        return 2


def _speaks() -> bool:
    """Of the processes of a multi-process run only the first on each machine prints bad input and cancels: one
    line on each machine's terminal, not N."""
    return os.environ.get("LOCAL_RANK", os.environ.get("RANK", "0")) == "0" or os.environ.get("WORLD_SIZE", "1") == "1"


def _one_line(e: Exception) -> str:
    """A UserError's own sentence; an OSError from a write as 'cannot write PATH (reason) ...'."""
    if isinstance(e, OSError):
        refused = cannot_write(e)
        if refused is not None:
            return str(refused)
        where = f" ({e.filename})" if e.filename else ""
        return f"{e.strerror or e}{where}; check the path and try again."
    return " ".join(str(e).split())


if __name__ == "__main__":
    sys.exit(main())
