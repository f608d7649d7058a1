"""An engine error (a data folder that does not exist) becomes a dialog with one sentence and folded details."""

from PySide6.QtWidgets import QMessageBox


def test_bad_data_folder_shows_a_dialog_and_the_window_stays_usable(make_window, tiny_training, tmp_path, qtbot):
    window = make_window()
    window.open_workspace(tmp_path / "project")
    tiny_training(window)
    window.use_image_folder(str(tmp_path))  # as if dropped: an existing folder...
    window.pages["data"].folder.setText(str(tmp_path / "no-such-folder"))  # ...then mistyped
    failures = []
    window.ctx.jobs.failed.connect(failures.append)
    with qtbot.waitSignal(window.ctx.jobs.finished, timeout=60_000) as finished:
        window.pages["train"].start_button.click()
    assert finished.args == ["train", "failed"]
    box = window.last_dialog
    assert isinstance(box, QMessageBox) and box.isVisible()
    assert "no-such-folder" in box.text() and "Traceback" not in box.text()
    assert "Traceback" in box.detailedText()  # the details are there, folded away
    assert failures[0].user_error
    box.close()
    assert window.pages["train"].start_button.isEnabled()  # the window stays usable: fix the folder, start again
    window.show_page("data")
    assert window.current_page() == "data" and window.pages["data"].folder.isEnabled()
