"""A pruning job on a trained project shows a preview first, then fills the layer table's 'after' columns."""


def test_prune_job_updates_the_layer_table(make_window, trained_project, qtbot):
    window = make_window(workspace=trained_project)
    window.show()  # a hidden prune page defers reloading its tables until it is shown
    prune = window.pages["prune"]
    window.show_page("prune")
    g_table = prune.tables["g"]
    assert g_table.rowCount() > 0 and g_table.item(0, 6).text() == "—"  # nothing pruned yet
    prune.kind.setCurrentIndex(prune.kind.findData("channels"))
    prune.auto.setChecked(False)
    prune.amount.setValue(50)
    with qtbot.waitSignal(prune.preview_ready, timeout=60_000):
        prune.update_preview()  # the debounced preview, now (it runs off the UI thread)
    g = prune.last_preview["g"]
    assert g["after"]["params"] < g["before"]["params"] and "Preview" in prune.preview.text()
    updates = g_table.updates
    with qtbot.waitSignal(window.ctx.jobs.finished, timeout=120_000) as finished:
        prune.start_button.click()
    assert finished.args == ["prune", "done"]
    assert g_table.updates > updates
    first_hidden = g_table.item(0, 0).text()
    assert g_table.item(0, 6).text() != "—", f"no 'after' params for {first_hidden}"
    assert int(g_table.item(0, 8).text().split()[0]) < int(g_table.item(0, 5).text())  # half the neurons left
    assert prune.grid.has_image()
    assert window.pages["finetune"].start_button.isEnabled()  # the next step opens up


def test_ticked_layers_limit_what_is_pruned(make_window, trained_project, qtbot):
    window = make_window(workspace=trained_project)
    prune = window.pages["prune"]
    first = prune.tables["g"].item(0, 0).text()
    prune.tables["g"].set_checked([first])
    assert prune.values()["layers"] == [f"g:{first}"]
    with qtbot.waitSignal(prune.preview_ready, timeout=60_000):
        prune.update_preview()
    assert prune.last_preview["g"]["after"]["params"] < prune.last_preview["g"]["before"]["params"]
