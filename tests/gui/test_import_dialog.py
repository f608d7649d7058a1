"""Studio: 'Import a generator…' warns that it runs the file, lists the file's classes without running it,
imports as a job and opens the project on the Prune page; a failing class and bad JSON are dialogs."""

import json

import pytest
from PySide6.QtWidgets import QLabel, QMessageBox

from tests.engine.user_model import FIXTURE, saved_weights


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return saved_weights(tmp_path_factory.mktemp("mine"))


def fill(dialog, weights, folder, args="{}"):
    dialog.file.setText(str(FIXTURE))
    dialog.file.editingFinished.emit()
    dialog.args.setText(args)
    dialog.weights.setText(str(weights[0]))
    dialog.d_weights.setText(str(weights[1]))
    dialog.folder.setText(str(folder))


def test_import_opens_the_project_on_the_imported_model(make_window, qtbot, tmp_path, weights):
    window = make_window()
    window.import_generator()
    dialog = window.import_dialog
    warning = dialog.findChild(QLabel, "importWarning")
    assert dialog.isVisible() and "Importing runs the Python code in this file" in warning.text()
    assert dialog.import_button.text() == "Import (runs the file)"
    fill(dialog, weights, tmp_path / "project")
    names = [dialog.class_name.itemText(i) for i in range(dialog.class_name.count())]
    assert names == ["TinyGenerator", "TinyDiscriminator"]  # read from the file's syntax tree
    assert (dialog.class_name.currentText(), dialog.d_class.currentText()) == ("TinyGenerator", "TinyDiscriminator")
    with qtbot.waitSignal(window.ctx.jobs.finished, timeout=60_000) as finished:
        dialog.import_button.click()
    assert finished.args == ["import", "done"]
    assert window.current_page() == "prune"
    assert window.project_label.text() == str(tmp_path / "project")
    manifest = json.loads((tmp_path / "project" / "manifest.json").read_text())
    assert manifest["stages"]["import"]["generator"]["class"] == "TinyGenerator"
    assert manifest["stages"]["train"]["arch"] == "user"
    note = window.pages["train"].imported_note
    assert not note.isHidden() and f"your own TinyGenerator from {FIXTURE}" in note.text()
    log = window.log_view.toPlainText()
    assert f"Importing {FIXTURE}: this runs the file's code." in log


def test_a_failing_constructor_is_a_dialog_naming_the_file(make_window, qtbot, tmp_path, weights):
    window = make_window()
    window.import_generator()
    fill(window.import_dialog, weights, tmp_path / "project", args='{"depth": 4}')
    with qtbot.waitSignal(window.ctx.jobs.finished, timeout=60_000) as finished:
        window.import_dialog.import_button.click()
    assert finished.args == ["import", "failed"]
    box = window.last_dialog
    assert isinstance(box, QMessageBox) and box.isVisible()
    assert str(FIXTURE) in box.text() and "unexpected keyword argument 'depth'" in box.text()
    assert "Traceback" not in box.text()
    assert window.current_page() == "welcome" and window.project_label.text() == "No project open"
    box.close()


def test_arguments_that_are_not_json_keep_the_dialog_open(make_window, qtbot, tmp_path, weights):
    window = make_window()
    window.import_generator()
    dialog = window.import_dialog
    fill(dialog, weights, tmp_path / "project", args="{nz: 16}")
    dialog.import_button.click()
    assert dialog.isVisible() and not window.ctx.jobs.busy
    assert dialog.last_error.text().startswith("The arguments are not valid JSON")
    dialog.last_error.close()
    dialog.reject()
