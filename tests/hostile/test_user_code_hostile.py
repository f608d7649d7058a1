"""A person's own model code that misbehaves late: `import` checks everything (probe, round trip, first grid) before
it writes a byte, so the trained model already in the folder survives byte for byte; and whatever the code raises
(SystemExit, its own KeyboardInterrupt, a BaseException of its own, endless recursion, an ordinary error) is ONE
line naming the class and the method, exit 2 — never exit 0 with nothing done.
"""

from __future__ import annotations

import pytest
import torch

from tests.hostile.conftest import assert_refused, snapshot
from tests.hostile.inprocess import gan_prune
from tests.hostile.oshelpers import assert_failed_once

# A flat-latent generator; BODY runs at the top of forward, INIT at the end of __init__, TOP at the module's top.
TEMPLATE = """
import sys
import itertools
import torch
import torch.nn as nn

BUILT = itertools.count()
TOP


class Stop(BaseException):
    pass


class Gen(nn.Module):
    def __init__(self):
        super().__init__()
        self.latent_dim = 8
        self.fc = nn.Linear(8, 784)
        self.instance = next(BUILT)
        INIT

    def forward(self, z):
        BODY
        return torch.tanh(self.fc(z)).view(-1, 1, 28, 28)
"""


def hostile_file(tmp_path, body: str = "pass", init: str = "pass", top: str = ""):
    path = tmp_path / "hostile_gen.py"
    path.write_text(TEMPLATE.replace("BODY", body).replace("INIT", init).replace("TOP", top))
    weights = tmp_path / "hostile_gen.pt"
    torch.save({"fc.weight": torch.randn(784, 8) * 0.1, "fc.bias": torch.zeros(784)}, weights)
    return path, weights


def import_into(capsys, ws, source, weights, *extra):
    return gan_prune(capsys, "import", "-w", str(ws), "--generator", str(source), "--class", "Gen", "--weights",
                     str(weights), "--limit", "320", "--d-warmup-steps", "1", "-q", *extra)


# (forward body, what the one line must say); each fails at a different moment of the import
FORWARDS = {
    "sys.exit()": ("sys.exit()", "SystemExit"),
    "sys.exit(3)": ("sys.exit(3)", "SystemExit: 3"),
    "own KeyboardInterrupt": ("raise KeyboardInterrupt('mine')", "KeyboardInterrupt"),
    "own BaseException": ("raise Stop('halt')", "Stop: halt"),
    "endless recursion": ("return self.forward(z)", "recursed without end"),
    "only batch 2 (fails at the grid)": ("assert z.shape[0] == 2, 'batch 2 only'", "batch 2 only"),
    "fails once rebuilt (round trip)": ("assert self.instance == 0, 'rebuilt'", "rebuilt"),
    "exits at the grid": ("if z.shape[0] == 64: sys.exit(0)", "SystemExit"),
}


@pytest.mark.parametrize("case", list(FORWARDS))
def test_a_forward_that_misbehaves_late_leaves_the_trained_model_byte_identical(tmp_path, tiny_ws, capsys, case):
    body, said = FORWARDS[case]
    source, weights = hostile_file(tmp_path, body)
    before = snapshot(tiny_ws.root)
    line = assert_refused(import_into(capsys, tiny_ws.root, source, weights), said, str(source))
    assert "Gen.forward" in line or "Gen from" in line, line  # the class (and the method) named
    assert snapshot(tiny_ws.root) == before  # dense.pt, the manifest, config: all as they were


def test_noise_drawn_inside_forward_has_its_own_sentence(tmp_path, tiny_ws, capsys):
    source, weights = hostile_file(tmp_path, "z = z + torch.randn_like(z)")
    before = snapshot(tiny_ws.root)
    assert_refused(import_into(capsys, tiny_ws.root, source, weights), "draws new random noise inside forward",
                   "noise_mode='const'")
    assert snapshot(tiny_ws.root) == before


@pytest.mark.parametrize("where, code, said", [
    ("init", "sys.exit(4)", "SystemExit: 4"),
    ("init", "raise Stop()", "Stop"),
    ("top", "sys.exit()", "SystemExit"),
    ("top", "raise KeyboardInterrupt", "KeyboardInterrupt"),
])
def test_module_and_constructor_that_try_to_end_the_program_are_one_line(tmp_path, capsys, where, code, said):
    source, weights = hostile_file(tmp_path, **{where: code})
    ws = tmp_path / "new-project"
    assert_refused(import_into(capsys, ws, source, weights), said, str(source))
    assert not ws.exists()  # a refused command on a new path leaves no empty project folder


def test_a_refused_import_into_a_new_folder_creates_no_folder(tmp_path, capsys):
    source, weights = hostile_file(tmp_path, "assert z.shape[0] == 2, 'batch 2 only'")
    ws = tmp_path / "new-project"
    assert_refused(import_into(capsys, ws, source, weights), "batch 2 only")
    assert not ws.exists()


def test_a_forward_failing_in_a_later_stage_is_one_line_naming_it(tmp_path, capsys):
    """The same guard covers every stage's forward: here prune, on a model that exits once pruned."""
    source, weights = hostile_file(tmp_path, "if bool((self.fc.weight == 0).any()): sys.exit(0)")
    ws = tmp_path / "ws"
    assert import_into(capsys, ws, source, weights).code == 0
    r = gan_prune(capsys, "prune", "-w", str(ws), "--method", "l1-unstructured", "--amount", "0.5")
    assert_failed_once(r, "Gen.forward", "SystemExit")


def test_one_sigterm_stops_an_import_stuck_in_the_models_code_at_once(tmp_path, tiny_ws):
    """Nothing is written while the probe runs, so there is nothing to save first: one signal ends it (130)."""
    import signal
    import time

    from tests.hostile.oshelpers import finish, spawn_cli

    entered = tmp_path / "entered"
    source, weights = hostile_file(tmp_path, f"open({str(entered)!r}, 'w').close()\n        while True: pass")
    before = snapshot(tiny_ws.root)
    p = spawn_cli("import", "-w", str(tiny_ws.root), "--generator", str(source), "--class", "Gen", "--weights",
                  str(weights), "--limit", "320", "-q")
    end = time.monotonic() + 60
    while not entered.exists() and p.poll() is None and time.monotonic() < end:
        time.sleep(0.05)
    assert entered.exists(), "the model's forward never ran"
    p.send_signal(signal.SIGTERM)
    t0 = time.monotonic()
    try:
        r = finish(p, timeout=10)
    finally:
        p.kill()
    assert r.code == 130 and time.monotonic() - t0 < 5, r.err
    assert "Traceback" not in r.err
    assert snapshot(tiny_ws.root) == before
