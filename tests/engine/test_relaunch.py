"""How `gan-prune` starts again in a new process: `python -m engine.cli` from source, the packaged studio's own
program with its hidden argument when frozen, both for the studio's child and for torchrun's processes."""

import sys

from torch.distributed import run as torchrun

from engine.config import DistributedConfig
from engine.distributed.launch import torchrun_arguments
from engine.relaunch import ENGINE_CLI_ARGUMENT, cli_command

STUDIO = "/opt/gan-prune-studio/gan-prune-studio"
ARGV = ["run", "train.toml", "-w", "project", "--events", "-", "-q"]


def _torchrun_process(argv, monkeypatch) -> tuple[str, list[str]]:
    """What torchrun's own parser makes of our arguments: the program and arguments of every process."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    args = torchrun.parse_args(torchrun_arguments(argv, DistributedConfig(nproc_per_node=2)))
    _config, program, program_args = torchrun.config_from_args(args)
    return program, program_args


def test_from_source_processes_run_the_engine_module(monkeypatch):
    monkeypatch.delattr(sys, "frozen", raising=False)
    assert cli_command() == [sys.executable, "-m", "engine.cli"]
    assert _torchrun_process(ARGV, monkeypatch) == (sys.executable, ["-u", "-m", "engine.cli", *ARGV])


def test_frozen_processes_run_the_studio_program_as_gan_prune(monkeypatch):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", STUDIO)
    assert ENGINE_CLI_ARGUMENT == "--gan-prune"
    assert cli_command() == [STUDIO, "--gan-prune"]
    assert _torchrun_process(ARGV, monkeypatch) == (STUDIO, ["--gan-prune", *ARGV])
