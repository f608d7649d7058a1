"""A tiny real training job runs to the end through jobs.py: progress signals, an updated grid, a checkpoint."""



def test_tiny_training_runs_to_the_end(make_window, tiny_training, tmp_path, qtbot):
    window = make_window()
    window.open_workspace(tmp_path / "project")
    tiny_training(window)
    train = window.pages["train"]
    progress = []
    window.ctx.jobs.progress.connect(progress.append)
    with qtbot.waitSignal(window.ctx.jobs.finished, timeout=120_000) as finished:
        train.start_button.click()
        assert not window.pages["prune"].start_button.isEnabled()  # one job at a time, and it says why
        assert "train job is running" in window.pages["prune"].start_button.toolTip()
    assert finished.args == ["train", "done"]
    assert progress and progress[-1].step == progress[-1].total == 3
    assert train.grid.updates >= 1 and train.grid.has_image()
    assert train.losses.point_count("loss_g") == 3
    assert train.checkpoints.count() >= 1
    assert train.progress_label.text() == "Finished."  # the last progress line ("step 3 of 3") gives way to it
    assert (tmp_path / "project" / "checkpoints" / "dense.pt").exists()
    assert window.sidebar.item(1).text().startswith("✓")
    assert train.start_button.isEnabled() and window.pages["prune"].start_button.isEnabled()
