"""Cancel stops a running job mid-way; closing the window during a job asks, then stops it cleanly."""



def test_cancel_in_mid_job(make_window, tiny_training, tmp_path, qtbot):
    window = make_window()
    window.open_workspace(tmp_path / "project")
    tiny_training(window, steps=100_000, sample_every=50)
    train = window.pages["train"]
    with qtbot.waitSignal(window.ctx.jobs.progress, timeout=120_000):
        train.start_button.click()
    assert train.cancel_button.isEnabled()
    with qtbot.waitSignal(window.ctx.jobs.finished, timeout=10_000) as finished:
        train.cancel_button.click()
    assert finished.args == ["train", "cancelled"]
    assert not window.ctx.jobs.busy
    assert "Cancelled" in train.progress_label.text()
    assert (tmp_path / "project" / "checkpoints" / "dense.pt").exists()  # the stage saved what it had


def test_closing_during_a_job_asks_then_stops_it(make_window, tiny_training, tmp_path, qtbot):
    window = make_window()
    window.open_workspace(tmp_path / "project")
    tiny_training(window, steps=100_000, sample_every=50)
    asked = []
    window.confirm_close = lambda: asked.append(True) or False  # the user says "no, keep running"
    with qtbot.waitSignal(window.ctx.jobs.progress, timeout=120_000):
        window.pages["train"].start_button.click()
    assert not window.close()
    assert asked and window.ctx.jobs.busy
    window.confirm_close = lambda: True
    assert window.close()
    assert not window.ctx.jobs.busy  # the thread was joined before the window went away
