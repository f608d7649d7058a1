"""What a newcomer meets: New project refuses a folder in use, a search that found nothing reads as a failure, the
charts keep their points in view, Generate follows the export just made, Ctrl+Q quits and says it is saving, and
the demo opens on Welcome with the next step as a button."""

import json
import shutil

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence

from engine.workspace import Workspace


def test_new_project_refuses_a_folder_with_files_and_starts_beside_the_open_project(make_window, tmp_path,
                                                                                   trained_project):
    window = make_window(workspace=trained_project)
    mine = tmp_path / "my-work"
    mine.mkdir()
    (mine / "thesis.tex").write_text("mine")
    assert not window.create_project(mine)
    assert "already holds a file" in window.last_dialog.text() and "empty folder" in window.last_dialog.text()
    assert sorted(p.name for p in mine.iterdir()) == ["thesis.tex"]  # nothing created in it
    assert window.ctx.workspace.root == trained_project
    assert window._dialog_start() == str(trained_project.parent)  # not inside the project, such as its export/
    window.last_dialog.close()
    assert window.create_project(tmp_path / "fresh") and window.ctx.workspace.root == tmp_path / "fresh"


def test_a_search_that_found_nothing_is_shown_as_a_failure(make_window, trained_project):
    row = {"reduction": 4.0, "macs": 100, "params": 10, "probe_fid": 60.0, "fid_rise": 1.0, "feasible": False,
           "round": 1, "process": 0}
    (trained_project / "compress.json").write_text(json.dumps(
        {"status": "done", "teacher_probe_fid": 30.0, "max_fid_rise": 0.1, "dense_macs": 400, "dense_params": 40,
         "candidates": [row], "best": None}))
    Workspace(trained_project).update_stage("compress", status="done", best=None)
    window = make_window(workspace=trained_project)
    page = window.pages["compress"]
    assert page.panel.isVisibleTo(page) and page.panel.ok is False and page.panel.button_texts() == []
    assert "No smaller model kept the quality" in page.panel.text() and "Nothing was replaced" in page.panel.text()
    assert window.sidebar.item(4).text().startswith("✗")
    assert page.run_outcome("done") == ("empty", "Finished without a result: no smaller model kept the quality you "
                                                 "asked for.")
    assert page.table.item(0, 0).text() == "dense (reference)" and not page.table.item(1, 0).font().bold()


def test_charts_keep_one_point_in_view_and_their_legends_outside(make_window):
    from desktop_app.widgets.charts import ParetoChart, padded_range

    chart = ParetoChart()
    chart.set_variants([{"name": "dense", "macs": 100.2264e6, "fid": 30.0}], highlight="dense")
    (x0, x1), (y0, y1) = chart.plot.getPlotItem().viewRange()
    assert 0 <= x0 < 100.2264 < x1 and 0 <= y0 < 30 < y1 and x1 - x0 > 10
    lo, hi = padded_range([0.5, 4.0])
    assert -0.05 * hi <= lo < 0.5  # room for the point, at most a sliver below zero MACs
    train = make_window().pages["train"]
    assert train.losses.plot.getPlotItem().legend is None and "G loss" in train.losses.title.text()


def test_generate_uses_the_export_just_made(make_window, trained_project, tiny_onnx):
    window = make_window(workspace=trained_project)
    gen = window.pages["generate"]
    assert gen.path.text() == "" and not gen.start_button.isEnabled()
    ws = Workspace(trained_project)
    shutil.copy(tiny_onnx, ws.export_dir / "generator.onnx")
    ws.update_stage("export", status="done", results={"fp32": {"path": "export/generator.onnx"}})
    window.ctx.workspace_updated.emit()  # what a page does when its job ends
    assert gen.path.text() == str(ws.export_dir / "generator.onnx") and gen.start_button.isEnabled()


def test_ctrl_q_quits_and_a_running_job_is_saved_with_a_note_on_screen(make_window, tiny_training, tmp_path, qtbot):
    window = make_window()
    platform = QKeySequence.keyBindings(QKeySequence.StandardKey.Quit)
    assert window.quit_action.shortcuts() == (platform or [QKeySequence("Ctrl+Q")])
    window.open_workspace(tmp_path / "p")
    tiny_training(window, steps=100_000)
    window.show()
    qtbot.waitExposed(window)
    notes = []
    with qtbot.waitSignal(window.ctx.jobs.progress, timeout=60_000):
        window.pages["train"].start_button.click()
    window.ctx.jobs.finished.connect(lambda *_: notes.append(window.saving_note.isVisible()))
    with qtbot.waitSignal(window.ctx.jobs.finished, timeout=60_000) as finished:
        qtbot.keyClick(window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    assert finished.args == ["train", "cancelled"] and notes == [True]  # the note stood while it saved
    assert "saving" in window.saving_note.labelText()
    qtbot.waitUntil(lambda: not window.isVisible())
    assert window.ctx.facade.manifest(Workspace(tmp_path / "p"))["stages"]["train"]["status"] == "cancelled"


def test_the_demo_opens_on_welcome_with_the_next_step_as_a_button(make_window, trained_project):
    window = make_window()
    window.open_workspace(trained_project)
    window.show_page("welcome")
    welcome = window.welcome
    assert welcome.next_box.isVisibleTo(welcome) and "holds a trained model" in welcome.next_title.text()
    assert welcome.next_buttons[0].objectName() == "next-compress"
    welcome.next_buttons[0].click()
    assert window.current_page() == "compress"
