"""A project folder someone hands you never runs its model file until YOU choose to: the record of that choice lives
outside every project (engine/trust.py), so nothing inside the folder (manifest, checkpoint, a relative path) can
forge it. Each refusal is one line naming the file and the command that trusts it; the file does not run.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from tests.engine.user_model import FIXTURE, import_args, saved_weights
from tests.hostile.conftest import assert_refused, snapshot
from tests.hostile.inprocess import gan_prune

# A model file that leaves a mark each time it runs (its top level): the proof that a refusal ran nothing.
MARKING = """
import pathlib
import torch.nn as nn
pathlib.Path(__file__).with_suffix('.ran').open('a').write('x')


class Gen(nn.Module):
    def __init__(self):
        super().__init__()
        self.latent_dim = 8
        self.fc = nn.Linear(8, 784)

    def forward(self, z):
        return self.fc(z).tanh().view(-1, 1, 28, 28)
"""


@pytest.fixture
def own_project(tmp_path, capsys):
    """A project this user made with `gan-prune import` from a file that marks each run."""
    folder = tmp_path / "sender"
    folder.mkdir()
    source = folder / "g.py"
    source.write_text(MARKING)
    torch.save({"fc.weight": torch.randn(784, 8) * 0.1, "fc.bias": torch.zeros(784)}, folder / "g.pt")
    ws = tmp_path / "ws"
    r = gan_prune(capsys, "import", "-w", str(ws), "--generator", str(source), "--class", "Gen", "--weights",
                  str(folder / "g.pt"), "--limit", "320", "--d-warmup-steps", "1", "-q")
    assert r.code == 0, r.err
    return ws, source


@pytest.fixture
def another_user(tmp_path, monkeypatch):
    """The same files opened by a user who never chose to run them (their own, empty trust record)."""
    monkeypatch.setenv("GAN_PRUNE_TRUST_DIR", str(tmp_path / "receiver-data"))


def forget_module(source):
    """The app caches an imported module per process; the receiver's process has never imported it."""
    from engine.models import user_source

    for key in [k for k in user_source._MODULES if k[0] == str(source)]:
        del user_source._MODULES[key]


def runs(source) -> int:
    mark = source.with_suffix(".ran")
    return len(mark.read_text()) if mark.exists() else 0


def test_the_user_who_imported_is_trusted_without_asking(own_project, capsys):
    ws, _ = own_project
    assert gan_prune(capsys, "info", "-w", str(ws)).code == 0


@pytest.mark.parametrize("command", [["info"], ["prune", "--method", "channel-l1", "--amount", "0.5"],
                                     ["export", "--precision", "fp32"]])
def test_a_handed_over_project_asks_before_it_runs_anything(own_project, another_user, capsys, command):
    ws, source = own_project
    forget_module(source)
    before, ran = snapshot(ws), runs(source)
    r = gan_prune(capsys, command[0], "-w", str(ws), *command[1:])
    assert_refused(r, str(source), "not chosen to run", f"gan-prune trust --workspace {ws}")
    assert runs(source) == ran and snapshot(ws) == before


def test_trusting_the_project_lets_it_run(own_project, another_user, capsys):
    ws, source = own_project
    forget_module(source)
    r = gan_prune(capsys, "trust", "-w", str(ws))
    assert r.code == 0 and f"trusted: {source}" in r.out
    assert gan_prune(capsys, "info", "-w", str(ws)).code == 0


def test_a_file_changed_since_the_project_was_made_cannot_be_trusted(own_project, another_user, capsys):
    ws, source = own_project
    source.write_text(source.read_text() + "\nimport os  # and more\n")
    assert_refused(gan_prune(capsys, "trust", "-w", str(ws)), str(source), "differs", "import the model again")


def test_a_crafted_folder_with_its_own_hash_in_the_manifest_runs_nothing(own_project, another_user, capsys,
                                                                          tmp_path):
    """The issue's repro: a folder with g.py, its hash in the manifest and the checkpoint, opened with `info -w .`."""
    ws, source = own_project
    crafted = tmp_path / "crafted"
    shutil.copytree(ws, crafted)
    shutil.copy(source, crafted / "g.py")  # the file travels with the folder, at a new absolute path
    _rewrite_source(crafted, str(crafted / "g.py"))
    forget_module(crafted / "g.py")
    r = gan_prune(capsys, "info", "-w", str(crafted))
    assert_refused(r, str(crafted / "g.py"), "gan-prune trust")
    assert runs(crafted / "g.py") == 0


def test_a_relative_source_path_is_refused(own_project, another_user, capsys, tmp_path, monkeypatch):
    ws, source = own_project
    crafted = tmp_path / "crafted"
    shutil.copytree(ws, crafted)
    shutil.copy(source, crafted / "g.py")
    _rewrite_source(crafted, "g.py")
    monkeypatch.chdir(crafted)
    forget_module("g.py")
    r = gan_prune(capsys, "info", "-w", ".")
    assert_refused(r, "absolute path")
    assert runs(crafted / "g.py") == 0
    assert_refused(gan_prune(capsys, "trust", "-w", "."), "relative path")


def test_a_checkpoint_alone_is_still_refused(tmp_path, capsys):
    weights = saved_weights(tmp_path / "w")
    ws = tmp_path / "ws"
    assert gan_prune(capsys, *import_args(ws, weights[0]), "--d-warmup-steps", "1").code == 0
    other = tmp_path / "other"
    (other / "checkpoints").mkdir(parents=True)
    shutil.copy(ws / "checkpoints" / "dense.pt", other / "checkpoints" / "dense.pt")
    (other / "manifest.json").write_text('{"version": 1, "stages": {"train": {"status": "done", '
                                         '"checkpoint": "checkpoints/dense.pt"}}}')
    assert_refused(gan_prune(capsys, "info", "-w", str(other)), str(FIXTURE), "not imported into the workspace")


def test_a_damaged_trust_record_trusts_nothing(own_project, capsys, tmp_path, monkeypatch):
    ws, source = own_project
    store = tmp_path / "damaged"
    store.mkdir()
    (store / "trusted-model-files.json").write_text("[" * 100_000)
    monkeypatch.setenv("GAN_PRUNE_TRUST_DIR", str(store))
    forget_module(source)
    assert_refused(gan_prune(capsys, "info", "-w", str(ws)), "gan-prune trust")


def _rewrite_source(folder, new_source: str) -> None:
    """Point the checkpoint and the manifest at another file path, hash kept (what a crafted folder holds)."""
    from engine.workspace import checkpoint_bytes

    path = folder / "checkpoints" / "dense.pt"
    ck = torch.load(path, weights_only=True)
    ck["arch"]["generator"]["source"] = new_source
    path.write_bytes(checkpoint_bytes({k: v for k, v in ck.items() if k not in ("format", "version")}))
    manifest = json.loads((folder / "manifest.json").read_text())
    for entry in manifest["stages"]["import"]["trusted"]:
        entry["source"] = new_source
    (folder / "manifest.json").write_text(json.dumps(manifest))
