"""Opening a project someone handed over: the studio asks, naming the model file, before that file runs (Yes runs
it and records the choice outside the project; No opens the project without its model)."""

from __future__ import annotations

import pytest

from desktop_app import trust_dialog
from tests.engine.user_model import FIXTURE, saved_weights


@pytest.fixture
def handed_over(tmp_path, monkeypatch):
    """A project imported by its sender (their trust record), opened by a user with an empty record of their own."""
    from engine.stages.import_model.run import ImportConfig, run_import
    from engine.workspace import Workspace

    monkeypatch.setenv("GAN_PRUNE_TRUST_DIR", str(tmp_path / "sender-data"))
    g, _ = saved_weights(tmp_path / "w")
    ws = Workspace(tmp_path / "project")
    list(run_import(ImportConfig(generator=str(FIXTURE), class_name="TinyGenerator", weights=str(g), limit=320,
                                 d_warmup_steps=1), ws))
    monkeypatch.setenv("GAN_PRUNE_TRUST_DIR", str(tmp_path / "receiver-data"))
    return ws.root


@pytest.mark.parametrize("answer", [True, False])
def test_the_studio_asks_before_a_handed_over_model_runs(make_window, handed_over, monkeypatch, answer):
    from engine import trust

    asked = []
    monkeypatch.setattr(trust_dialog, "ask", lambda parent, files: asked.append(files) or answer)
    window = make_window()
    assert window.open_workspace(handed_over)  # the project opens either way
    assert asked == [[str(FIXTURE)]]  # the dialog named the file
    assert trust.waiting(handed_over) == ([] if answer else [str(FIXTURE)])


def test_the_question_names_the_file_and_both_answers():
    text = trust_dialog.question(["/somewhere/g.py"])
    assert "/somewhere/g.py" in text and "Yes: run it" in text and "No: open the project without its model" in text


def test_a_project_of_ones_own_is_not_asked_about(make_window, tmp_path, monkeypatch):
    monkeypatch.setattr(trust_dialog, "ask", lambda parent, files: pytest.fail("asked about a project with no code"))
    assert make_window().open_workspace(tmp_path / "new")
