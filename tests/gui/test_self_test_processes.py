"""The packaged studio's self-test trains and fine-tunes on two processes through the Processes fields
(packaging/smoke.py checks its lines); the same steps from source, so a mistake in them shows here rather than
after a bundle build."""

import pytest

from desktop_app import selftest


@pytest.mark.slow  # ~20 s: a one-process run, then two real CPU processes through torchrun (train, fine-tune)
def test_self_test_trains_and_fine_tunes_on_two_processes(make_window, tmp_path, capsys):
    window = make_window()
    window.resize(1200, 800)
    window.show()
    assert window.open_workspace(tmp_path / "project")
    assert selftest._train(window, None) is True
    assert selftest._train_on_processes(window, None) is True
    train = window.pages["train"]
    assert train._fields["processes"].value() == 1  # the field is left as a person would find it
    assert capsys.readouterr().out.splitlines()[-1] == "ok   train on 2 processes: done, 3 loss points"
    assert (tmp_path / "project" / "checkpoints" / "dense.pt").exists()
    assert selftest._prune(window, None) is True
    assert selftest._finetune_on_processes(window, None) is True
    assert window.pages["finetune"]._fields["processes"].value() == 1
    assert capsys.readouterr().out.splitlines()[-1] == "ok   fine-tune on 2 processes: done"
    assert (tmp_path / "project" / "checkpoints" / "finetuned.pt").exists()
