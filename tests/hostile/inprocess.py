"""Run a command inside the test process (fast: no new interpreter), captured into the suite's Result."""

from __future__ import annotations

from tests.hostile.conftest import Result


def gan_prune(capsys, *args: str) -> Result:
    from engine.cli import main

    capsys.readouterr()  # drop what earlier setup printed
    code = main(list(args))
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def gan_sample(capsys, *args: str) -> Result:
    from engine.sample_cli import main

    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)
