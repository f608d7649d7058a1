"""The studio with the class-conditional task: the Data page chooses it, Train trains it, Generate picks a class."""

import torch

from desktop_app.pages.evaluate import COLUMNS


def test_the_data_page_chooses_the_task_and_train_trains_it(make_window, tiny_training, tmp_path, qtbot):
    window = make_window()
    window.open_workspace(tmp_path / "project")
    tiny_training(window, arch="mlp", steps=2, batch_size=8)
    data, train = window.pages["data"], window.pages["train"]
    data.task.setCurrentIndex(data.task.findData("conditional"))
    assert "labelled data" in data.task_note.text()
    assert train.values()["model"]["task"] == "conditional"
    arch = train._fields["arch"]  # only what applies: the conditional task offers the architectures that can do it
    assert [arch.itemData(i) for i in range(arch.count())] == ["dcgan"] and arch.currentData() == "dcgan"
    assert train.start_button.isEnabled()
    with qtbot.waitSignal(window.ctx.jobs.finished, timeout=180_000) as finished:
        train.start_button.click()
    assert finished.args == ["train", "done"]
    ckpt = torch.load(tmp_path / "project" / "checkpoints" / "dense.pt", weights_only=True)
    assert ckpt["task"] == "conditional" and ckpt["arch"]["generator"]["num_classes"] == 10
    assert train.grid.has_image()
    assert train.grid.row_labels == [str(d) for d in range(10)]  # each row of the grid names its class


def test_the_generate_page_draws_one_class_or_a_row_per_class(make_window, conditional_export):
    window = make_window()
    gen = window.pages["generate"]
    window.show_page("generate")
    gen.path.setText(str(conditional_export.export_dir / "generator.int8.onnx"))
    assert gen.label.isEnabled() and gen.label.count() == 11
    assert [gen.label.itemData(i) for i in (0, 1, 10)] == [-1, 0, 9]
    gen._fields["count"].setValue(6)
    gen._fields["nrow"].setValue(3)
    gen.label.setCurrentIndex(gen.label.findData(7))
    gen.start_button.click()
    assert gen.grid.updates == 1 and "6 images of class 7" in gen.grid.caption.text()
    assert (gen.grid._pixmap.width(), gen.grid._pixmap.height()) == (3 * 30 + 2, 2 * 30 + 2)
    assert "10 classes" in gen.info.text()
    gen.label.setCurrentIndex(0)  # every class, a row each
    gen.start_button.click()
    assert gen.grid.updates == 2 and "one row per class (10), 3 each" in gen.grid.caption.text()
    assert (gen.grid._pixmap.width(), gen.grid._pixmap.height()) == (3 * 30 + 2, 10 * 30 + 2)
    gen.path.setText(str(conditional_export.export_dir / "missing.onnx"))
    assert not gen.label.isEnabled() and gen.label.count() == 1


def test_the_evaluate_page_shows_class_accuracy_only_for_conditional_reports(make_window, tmp_path):
    import json

    window = make_window()
    window.open_workspace(tmp_path / "project")
    page = window.pages["evaluate"]
    col = [key for key, _, _ in COLUMNS].index("cond_accuracy")
    report = tmp_path / "project" / "report.json"
    row = {"name": "dense", "status": "ok", "params": 1000, "macs": 2000, "fid": 12.5}
    report.write_text(json.dumps({"variants": [{**row, "cond_accuracy": 0.9612}]}))
    page.refresh()
    assert not page.table.isColumnHidden(col) and page.table.item(0, col).text() == "96.1 %"
    report.write_text(json.dumps({"variants": [row]}))
    page.refresh()
    assert page.table.isColumnHidden(col)


def test_a_row_per_class_grid_names_each_row(make_window, conditional_export):
    window = make_window()
    gen = window.pages["generate"]
    gen.path.setText(str(conditional_export.export_dir / "generator.int8.onnx"))
    gen._fields["nrow"].setValue(3)
    gen.label.setCurrentIndex(0)  # every class, a row each
    gen.start_button.click()
    assert gen.grid.row_labels == gen._model.class_names and len(gen.grid.row_labels) == 10
    assert gen.grid.view.pixmap().width() > gen.grid._pixmap.width()  # the names stand beside the grid
    gen.label.setCurrentIndex(gen.label.findData(7))  # one class: no row names
    gen.start_button.click()
    assert gen.grid.row_labels == []
