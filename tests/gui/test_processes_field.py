"""The Processes field of Train and Fine-tune: a batch that does not split is named before anything starts, and
a two-process training run reports rank 0's progress to the page like a one-process run."""

import pytest


def test_a_batch_that_does_not_split_over_the_processes_is_named_on_the_page(make_window, tiny_training, tmp_path):
    window = make_window()
    window.open_workspace(tmp_path / "project")
    tiny_training(window, batch_size=15)
    train = window.pages["train"]
    train._fields["processes"].setValue(2)
    train.validate()
    assert train.error_label.text() == ("The batch size 15 does not split evenly over 2 processes; use a multiple "
                                        "of 2 (e.g. 14).")
    assert not train.start_button.isEnabled()
    train._fields["batch_size"].setValue(16)
    train.validate()
    assert train.error_label.text() == "" and train.start_button.isEnabled()
    finetune = window.pages["finetune"]
    assert finetune._fields["processes"].value() == 1 and "processes" in finetune.values()


@pytest.mark.slow  # ~10-20 s: two real CPU processes through torchrun
def test_two_processes_train_from_the_studio(make_window, tiny_training, tmp_path, qtbot):
    window = make_window()
    window.open_workspace(tmp_path / "project")
    tiny_training(window, batch_size=8)
    train = window.pages["train"]
    train._fields["processes"].setValue(2)
    progress = []
    window.ctx.jobs.progress.connect(progress.append)
    with qtbot.waitSignal(window.ctx.jobs.finished, timeout=180_000) as finished:
        train.start_button.click()
    assert finished.args == ["train", "done"]
    assert progress[-1].step == progress[-1].total == 3 and train.losses.point_count("loss_g") == 3
    assert train.grid.has_image() and (tmp_path / "project" / "checkpoints" / "dense.pt").exists()
