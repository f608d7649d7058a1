"""Paths and files a reader must not trust: a device or a pipe where a file belongs (read forever), a symbolic link
that leads back to itself (Python 3.11 raises RuntimeError from Path.resolve), JSON or TOML nested deeper than the
parser's recursion, an empty --workspace. Each is ONE line naming the path, exit 2, quickly, and nothing written.
"""

from __future__ import annotations

import contextlib
import os
import signal

import pytest

from tests.engine.user_model import FIXTURE, import_args, saved_weights
from tests.hostile.conftest import Result, assert_refused, snapshot
from tests.hostile.inprocess import gan_prune

DEEP_JSON = "[" * 200_000
DEEP_TOML = "x = " + "[" * 200_000


@contextlib.contextmanager
def at_most(seconds: float):
    """Fail (instead of reading /dev/zero until memory runs out) when a refusal takes longer than `seconds`."""
    def give_up(signum, frame):
        raise TimeoutError(f"still running after {seconds} s (reading forever?)")

    old = signal.signal(signal.SIGALRM, give_up)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return saved_weights(tmp_path_factory.mktemp("w"))


def _fifo(path):
    os.mkfifo(path)
    return path


# ---- not a regular file ---------------------------------------------------------------------------------------
NOT_FILES = {
    "--weights /dev/zero": (lambda tmp, w: ("--weights", "/dev/zero"), "/dev/zero"),
    "--generator /dev/zero": (lambda tmp, w: ("--generator", "/dev/zero"), "not a .py file"),
    "--generator a pipe named .py": (lambda tmp, w: ("--generator", str(_fifo(tmp / "g.py"))), "not a regular file"),
    "--weights a pipe": (lambda tmp, w: ("--weights", str(_fifo(tmp / "g.pt"))), "not a regular file"),
    "--generator a .py link to /dev/zero": (lambda tmp, w: ("--generator", str(_link(tmp / "z.py", "/dev/zero"))),
                                            "/dev/zero"),
    "--discriminator-weights /dev/zero": (lambda tmp, w: ("--discriminator-class", "TinyDiscriminator",
                                                          "--discriminator-weights", "/dev/zero"), "/dev/zero"),
}


def _link(path, target):
    path.symlink_to(target)
    return path


def _with(args: list[str], flag: str, value: str) -> list[str]:
    if flag in args:
        args[args.index(flag) + 1] = value
        return args
    return args + [flag, value]


@pytest.mark.parametrize("case", list(NOT_FILES))
def test_a_device_or_pipe_given_as_a_file_is_refused_before_reading(tmp_path, capsys, weights, case):
    make, said = NOT_FILES[case]
    args = import_args(tmp_path / "ws", weights[0])
    extra = make(tmp_path, weights)
    for flag, value in zip(extra[::2], extra[1::2]):
        args = _with(args, flag, value)
    with at_most(20):
        r = gan_prune(capsys, *args)
    assert_refused(r, said)
    assert not (tmp_path / "ws").exists()


def test_a_checkpoint_that_is_a_link_to_dev_zero_is_refused(tiny_ws, capsys):
    dense = tiny_ws.root / "checkpoints" / "dense.pt"
    dense.unlink()
    dense.symlink_to("/dev/zero")
    with at_most(20):
        r = gan_prune(capsys, "info", "-w", str(tiny_ws.root))
    assert_refused(r, "checkpoints/dense.pt")


# ---- symbolic link loops ----------------------------------------------------------------------------------------
def test_a_workspace_that_is_a_link_loop_is_one_line(tmp_path, capsys):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    for command in (["info"], ["prune", "--method", "channel-l1", "--amount", "0.5"]):
        assert_refused(gan_prune(capsys, command[0], "-w", str(loop), *command[1:]), str(loop), "link")


def test_a_checkpoint_that_is_a_link_loop_is_one_line(tiny_ws, capsys):
    dense = tiny_ws.root / "checkpoints" / "dense.pt"
    dense.unlink()
    dense.symlink_to(dense)
    before = snapshot(tiny_ws.root / "checkpoints" / ".." / "samples")
    assert_refused(gan_prune(capsys, "info", "-w", str(tiny_ws.root)), "dense.pt")
    assert snapshot(tiny_ws.root / "samples") == before


def test_a_model_file_that_is_a_link_loop_is_one_line(tmp_path, capsys, weights):
    loop = tmp_path / "g.py"
    loop.symlink_to(loop)
    assert_refused(gan_prune(capsys, *import_args(tmp_path / "ws", weights[0], source=loop)), str(loop))


def test_a_run_config_that_is_a_link_loop_is_one_line(tmp_path, capsys):
    loop = tmp_path / "run.toml"
    loop.symlink_to(loop)
    assert_refused(gan_prune(capsys, "run", str(loop), "-w", str(tmp_path / "ws")), str(loop))
    assert not (tmp_path / "ws").exists()


# ---- nested too deeply ------------------------------------------------------------------------------------------
def test_a_deeply_nested_manifest_is_one_line(tiny_ws, capsys):
    (tiny_ws.root / "manifest.json").write_text(DEEP_JSON)
    before = snapshot(tiny_ws.root)
    for command in (["info"], ["export", "--precision", "fp32"]):
        assert_refused(gan_prune(capsys, command[0], "-w", str(tiny_ws.root), *command[1:]), "manifest.json",
                       "nested too deeply")
    assert snapshot(tiny_ws.root) == before


def test_a_deeply_nested_run_config_is_one_line(tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text(DEEP_TOML)
    assert_refused(gan_prune(capsys, "run", str(cfg), "-w", str(tmp_path / "ws")), str(cfg), "too deeply")
    assert not (tmp_path / "ws").exists()


def test_a_deeply_nested_workspace_config_is_one_line(tiny_ws, capsys):
    tiny_ws.config_path.write_text(DEEP_TOML)
    before = snapshot(tiny_ws.root)
    r = gan_prune(capsys, "train", "-w", str(tiny_ws.root), "--resume", "--steps", "4")
    assert_refused(r, "config.toml", "too deeply")
    assert snapshot(tiny_ws.root) == before


def test_deeply_nested_import_arguments_are_one_line(tmp_path, capsys, weights):
    r = gan_prune(capsys, *import_args(tmp_path / "ws", weights[0]), "--args", "[" * 100_000)
    assert_refused(r, "--args", "too deeply")


def test_a_deeply_nested_settings_file_is_one_line(tiny_ws, capsys, tmp_path):
    settings = tmp_path / "settings.toml"
    settings.write_text(DEEP_TOML)
    r = gan_prune(capsys, "compress", "-w", str(tiny_ws.root), "--max-fid-rise", "0.1", "--settings", str(settings))
    assert_refused(r, str(settings), "too deeply")


# ---- the workspace flag itself ----------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_workspace_is_refused_not_the_current_folder(tmp_path, capsys, monkeypatch, value):
    from engine.cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:  # argparse's own exit, as from the terminal
        main(["train", "--workspace", value, "--dataset", "mnist-5k", "--steps", "1"])
    assert_refused(Result(stop.value.code, "", capsys.readouterr().err), "--workspace", "empty")
    assert list(tmp_path.iterdir()) == []


def test_a_refused_command_on_a_new_path_leaves_no_folder(tmp_path, capsys, weights):
    ws = tmp_path / "new" / "project"
    r = gan_prune(capsys, *import_args(ws, weights[0]), "--latent-dim", "7")
    assert_refused(r, str(FIXTURE))
    assert not ws.exists()
