"""Flags come from the config dataclasses: a new field is a new flag, with its default, choices and help; and every
command's flags left out give exactly the stage's default config."""

from dataclasses import dataclass

import pytest

from engine import stages
from engine.cli import build_parser, main
from engine.cli.flags import Flag, add_config_flags, config_from_args, flag_fields
from engine.config import setting
from engine.events import Log
from engine.stage_runner import recorded
from engine.stages import Stage
from engine.stages.compress.config import CompressConfig
from engine.stages.evaluate.run import EvaluateConfig
from engine.stages.export.run import ExportConfig
from engine.stages.finetune.run import FinetuneConfig
from engine.stages.prune.config import PruneConfig
from engine.stages.sensitivity.config import SensitivityConfig
from engine.workspace import Workspace


@dataclass(frozen=True)
class Toy:
    speed: float = setting(1.5, help="how fast")
    mode: str = setting("a", choices=("a", "b"))
    sizes: tuple[int, ...] = (2, 4)
    fast: bool = False
    checks: bool = setting(True, help="skip the checks")
    limit: int | None = None


def test_one_field_is_one_flag_with_its_default_choices_and_help():
    import argparse

    p = argparse.ArgumentParser()
    add_config_flags(p, Toy, ("speed", "mode", "sizes", "fast", "checks", "limit"), {"limit": Flag(metavar="N")})
    names = ("speed", "mode", "sizes", "fast", "checks", "limit")
    assert config_from_args(Toy, p.parse_args([]), names) == Toy()
    given = p.parse_args(["--speed", "2", "--mode", "b", "--sizes", "8", "16", "--fast", "--no-checks",
                          "--limit", "3"])
    assert config_from_args(Toy, given, names) == Toy(2.0, "b", (8, 16), True, False, 3)
    text = " ".join(p.format_help().split())
    assert "--speed SPEED how fast (default 1.5)" in text and "--mode {a,b} (default a)" in text
    assert "--no-checks skip the checks" in text and "--limit N" in text
    with pytest.raises(SystemExit):
        p.parse_args(["--mode", "c"])


def argparse_flags(command: str) -> set[str]:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return {s for action in sub.choices[command]._actions for s in action.option_strings}


@pytest.mark.parametrize(("argv", "cls", "fixed"), [
    (["prune", "-w", "x", "--method", "channel-l1"], PruneConfig, {"method": "channel-l1"}),
    (["sensitivity", "-w", "x"], SensitivityConfig, {}),
    (["finetune", "-w", "x", "--steps", "500"], FinetuneConfig, {}),
    (["evaluate", "-w", "x"], EvaluateConfig, {}),
    (["export", "-w", "x"], ExportConfig, {}),
    (["compress", "-w", "x"], CompressConfig, {}),
])
def test_flags_left_out_give_the_stage_defaults(argv, cls, fixed):
    from importlib import import_module

    args = build_parser().parse_args(argv)
    command = stages.get(argv[0]).command
    flags = None  # a stage with no command module: each field's own setting(...) says how its flag looks
    if command:
        module = import_module(f"engine.cli.{command}")
        flags = getattr(module, {"prune": "PRUNE_FLAGS", "sensitivity": "SENSITIVITY_FLAGS"}.get(argv[0], "FLAGS"))
    assert config_from_args(cls, args, flag_fields(cls), flags) == cls(**fixed)
    # every field is a flag: a new option needs no CLI code
    shown = {f.lstrip("-").replace("-", "_") for f in argparse_flags(argv[0])}
    missing = [n for n in flag_fields(cls) if not {n, f"no_{n}"} & shown]
    assert missing == ([] if cls is not ExportConfig else ["precisions"])  # that one is spelt --precision


@dataclass(frozen=True)
class ToyStageConfig:
    size: int = setting(2, min=1, help="how many")
    label: str = setting("a", choices=("a", "b"))

    def validate(self) -> None:
        from engine.config import check_fields

        check_fields(self, "toy")


@recorded("toy")
def run_toy(cfg: ToyStageConfig, ws, cancel):
    ws.update_stage("toy", status="running", size=cfg.size, label=cfg.label)
    yield Log("info", "toy ran")


def test_a_registered_stage_without_a_command_module_gets_one_from_its_config(tmp_path, monkeypatch, capsys):
    """What adding a stage to engine/stages/__init__.py gives on the command line: a subcommand, its flags, the lock and
    the manifest record — with no CLI code."""
    toy = Stage("toy", f"{__name__}:ToyStageConfig", f"{__name__}:run_toy", reads=(), writes=(), page=None,
                command=None, help="a toy stage")
    monkeypatch.setattr(stages, "STAGES", (*stages.STAGES, toy))
    monkeypatch.setitem(stages.BY_NAME, "toy", toy)
    Workspace(tmp_path / "ws")
    assert main(["toy", "-w", str(tmp_path / "ws"), "--size", "3", "--label", "b"]) == 0
    entry = Workspace(tmp_path / "ws").stage("toy")
    assert (entry["status"], entry["size"], entry["label"]) == ("done", 3, "b")
    assert main(["toy", "-w", str(tmp_path / "ws"), "--size", "0"]) == 2
    assert "toy.size must be a whole number above 0 (got 0)" in capsys.readouterr().err
