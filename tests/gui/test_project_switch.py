"""One project's results never show in another: opening a project resets every page from what it holds on disk."""

import json
import shutil

from engine.workspace import Workspace


def _search(best):
    row = {"reduction": 4.0, "macs": 100, "params": 10, "probe_fid": 31.0, "fid_rise": 0.03, "feasible": True,
           "steps": 9, "latency_ms": 0.1, "round": 1, "process": 0}
    return {"status": "done", "teacher_probe_fid": 30.0, "max_fid_rise": 0.1, "dense_macs": 400, "dense_params": 40,
            "dense_latency_ms": 0.3, "candidates": [row], "best": row if best else None}


def test_an_empty_project_shows_nothing_of_the_one_before(make_window, tiny_training, tmp_path, qtbot, tiny_onnx):
    window = make_window()
    a = tmp_path / "a"
    window.open_workspace(a)
    tiny_training(window)
    pages = window.pages
    with qtbot.waitSignal(window.ctx.jobs.finished, timeout=120_000):
        pages["train"].start_button.click()
    train, gen, comp = pages["train"], pages["generate"], pages["compress"]
    assert train.losses.point_count("loss_g") == 3 and train.checkpoints.count() == 1
    # Project A also holds an export and a compress search (written as the stages write them).
    ws = Workspace(a)
    shutil.copy(tiny_onnx, ws.export_dir / "generator.onnx")
    ws.update_stage("export", status="done", results={"fp32": {"path": "export/generator.onnx", "bytes": 9}})
    ws.update_stage("compress", status="done", best=_search(True)["best"])
    (a / "compress.json").write_text(json.dumps(_search(True)))
    window.open_workspace(a)  # reopened: every page reads it
    pages["generate"].start_button.click()
    # Reopened: the model and its saved samples are shown; the last run's curves are not on disk, so they go.
    assert train.losses.point_count("loss_g") == 0 and train.checkpoints.count() == 1
    assert train.grid.has_image() == (a / "samples" / "train.png").is_file()
    assert gen.grid.has_image() and gen.path.text().endswith("generator.onnx")
    assert comp.table.rowCount() == 2 and comp.panel.isVisibleTo(comp) and pages["export"].table.rowCount() == 1
    assert window.sidebar.item(4).text().startswith("✓")

    window.open_workspace(tmp_path / "b")  # a new, empty project
    assert train.losses.point_count("loss_g") == 0 and train.d_out.point_count("d_real") == 0
    assert not train.grid.has_image() and train.checkpoints.count() == 0 and train.speed.text() == ""
    assert gen.path.text() == "" and not gen.grid.has_image() and gen.info.text() == ""
    assert not gen.start_button.isEnabled()
    assert comp.table.rowCount() == 0 and not comp.panel.isVisibleTo(comp) and comp.chart.series == 0
    assert not comp.teacher.has_image() and not comp.student.has_image()
    assert pages["export"].table.rowCount() == 0 and pages["evaluate"].table.rowCount() == 0
    for key, page in pages.items():
        assert page.progress_label.text() == "Ready.", key
        assert page.progress.value() == 0, key
    assert [window.sidebar.item(i).text()[0] for i in range(window.sidebar.count())] == list("12345678")


def test_the_reopened_project_shows_its_model_not_the_last_runs_curves(make_window, trained_project):
    window = make_window(workspace=trained_project)
    train = window.pages["train"]
    assert [train.checkpoints.item(i).text() for i in range(train.checkpoints.count())] == \
        ["checkpoints/dense.pt  (step 3)"]
    assert train.losses.point_count("loss_g") == 0


def test_a_project_does_not_open_while_a_job_writes_into_another(make_window, tiny_training, tmp_path, qtbot):
    window = make_window()
    window.open_workspace(tmp_path / "a")
    tiny_training(window, steps=1000)
    with qtbot.waitSignal(window.ctx.jobs.finished, timeout=120_000):
        window.pages["train"].start_button.click()
        assert not window.open_workspace(tmp_path / "other") and not window.open_demo(tmp_path / "demo")
        assert "job is running in this project" in window.last_dialog.text()
        window.last_dialog.close()
        window.ctx.jobs.cancel()
    assert window.ctx.workspace.root == tmp_path / "a" and not (tmp_path / "other").exists()
