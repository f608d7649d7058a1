"""Settings live where the test says; recent projects, page options and window geometry survive a restart."""

from desktop_app.settings import MAX_RECENT, StudioSettings


def test_recent_workspaces_newest_first_without_duplicates(tmp_path):
    s = StudioSettings(tmp_path / "s.ini")
    for i in range(MAX_RECENT + 2):
        s.add_recent_workspace(tmp_path / f"p{i}")
    s.add_recent_workspace(tmp_path / "p5")
    s.sync()
    again = StudioSettings(tmp_path / "s.ini")
    recent = again.recent_workspaces()
    assert recent[0] == str(tmp_path / "p5") and len(recent) == MAX_RECENT and len(set(recent)) == MAX_RECENT
    assert again.file_name == str(tmp_path / "s.ini")


def test_page_options_and_geometry_are_restored(make_window, studio_settings, qtbot):
    window = make_window()
    train = window.pages["train"]
    train._fields["steps"].setValue(1234)
    train._fields["loss"].setCurrentIndex(train._fields["loss"].findData("hinge"))
    train.save_options()
    window.resize(640, 480)  # the offscreen screen is 800x600; restoreGeometry clamps to it
    window.close()
    reopened = make_window()
    assert reopened.pages["train"]._fields["steps"].value() == 1234
    assert reopened.pages["train"].field_values()["loss"] == "hinge"
    assert reopened.size().width() == 640


def test_dropping_a_folder_uses_it_as_the_data_set(make_window, tmp_path):
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    window = make_window()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    data = window.pages["data"]
    assert window.current_page() == "data"
    assert data.values()["dataset"] == "folder" and data.values()["folder"] == str(tmp_path)
    assert window.ctx.data_values["folder"] == str(tmp_path)
