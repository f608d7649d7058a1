"""Every page builds, has a tooltip on every knob, and says why Start is disabled without a project."""

from PySide6.QtWidgets import QAbstractButton, QAbstractSpinBox, QComboBox, QLineEdit, QSlider, QWidget

from desktop_app.main_window import PAGE_CLASSES
from engine import stages

KNOBS = (QAbstractSpinBox, QComboBox, QLineEdit, QSlider, QAbstractButton)


def test_every_page_builds_with_tooltips(make_window):
    window = make_window()
    assert [p.key for p in window.pages.values()] == [c.key for c in PAGE_CLASSES]
    assert window.sidebar.count() == len(PAGE_CLASSES)
    # Read from the stage registry, not copied: a stage that names a page has that page in the window.
    assert {s.page for s in stages.STAGES if s.page} <= set(window.pages)
    assert window.current_page() == "welcome"  # no project yet: the welcome panel offers the demo
    for key, page in window.pages.items():
        window.show_page(key)
        assert window.current_page() == key
        knobs = [w for w in page.form_box.findChildren(QWidget) if isinstance(w, KNOBS)]
        missing = [f"{type(w).__name__} {w.text() if hasattr(w, 'text') else ''}" for w in knobs
                   if not w.toolTip() and w.isVisibleTo(page) and not isinstance(w.parent(), (QAbstractSpinBox,
                                                                                              QComboBox))]
        assert not missing, f"{key} page has knobs without a tooltip: {missing}"
        assert page.start_button.toolTip()


def test_start_says_why_it_is_disabled_without_a_project(make_window):
    window = make_window()
    train = window.pages["train"]
    assert not train.start_button.isEnabled()
    assert "project" in train.start_button.toolTip().lower()
    assert window.pages["data"].start_button.isEnabled()  # previewing data needs no project


def test_opening_a_project_enables_train_and_remembers_it(make_window, tmp_path, studio_settings):
    window = make_window()
    assert window.open_workspace(tmp_path / "new-project")
    assert window.pages["train"].start_button.isEnabled()
    assert not window.pages["prune"].start_button.isEnabled()
    assert "Train a model" in window.pages["prune"].start_button.toolTip()
    assert studio_settings.recent_workspaces()[0] == str((tmp_path / "new-project").resolve())


def test_invalid_setting_is_shown_inline(make_window, tmp_path):
    window = make_window()
    window.open_workspace(tmp_path / "p")
    data = window.pages["data"]
    data.dataset.setCurrentIndex(data.dataset.findData("folder"))
    data.folder.setText("")
    assert data.error_label.isVisibleTo(data)
    assert "folder" in data.error_label.text()
    assert not data.start_button.isEnabled()


def test_data_preview_shows_the_first_images(make_window, qtbot):
    window = make_window()
    data = window.pages["data"]
    data.dataset.setCurrentIndex(data.dataset.findData("mnist-5k"))
    data.limit.setValue(100)
    with qtbot.waitSignal(window.ctx.jobs.finished, timeout=60_000) as finished:
        data.start_button.click()
    assert finished.args == ["data", "done"]
    assert data.grid.has_image()
    assert "100 images of 1 x 28 x 28" in data.info.text()
