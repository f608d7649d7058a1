"""gan-prune trust: you choose to run the model file of a project someone handed you (an imported model's project
is code: engine/trust.py). Until then every command refuses that project in one line and runs nothing."""

from __future__ import annotations

import sys


def register(sub) -> None:
    from engine.cli.common import add_workspace_arg

    p = sub.add_parser("trust", help="allow this project's imported model file to run (it is code)",
                       description="A project with an imported model runs that model's Python file whenever its "
                                   "model is read. A project you did not import yourself is refused until you run "
                                   "this command: it records, outside the project folder, that you chose to run "
                                   "the file (its path and SHA-256). Read the file first.")
    add_workspace_arg(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from engine.trust import trust_project
    from engine.workspace import Workspace

    ws = Workspace(args.workspace, create=False)
    files = trust_project(ws.root)
    if not files:
        print(f"The project {ws.root} has no imported model: it runs no model file of its own.")
        return 0
    for f in files:
        print(f"trusted: {f} (its code runs whenever this project's model is read)")
    sys.stdout.flush()
    return 0
