"""Every step ends with its result in a person's words (a real tiny run on each page), and a run that fails or is
cancelled never reads as a success: a red or grey panel with the one-sentence reason, no 100 % "Finished."."""

import re

import pytest

from desktop_app.outcomes import in_window_words

CLI_WORDS = re.compile(r"--[a-z]|gan-prune ")


def _run(page, qtbot, window, button=None):
    with qtbot.waitSignal(window.ctx.jobs.finished, timeout=120_000) as finished:
        (button or page.start_button).click()
    return finished.args[1]


def _panel(page) -> str:
    text = page.panel.text()
    assert page.panel.isVisibleTo(page) and not CLI_WORDS.search(text), text
    return text


def test_train_prune_and_finetune_each_end_with_their_result(make_window, tiny_training, tmp_path, qtbot):
    window = make_window()
    window.open_workspace(tmp_path / "p")
    tiny_training(window, steps=3)
    train = window.pages["train"]
    assert _run(train, qtbot, window) == "done"
    text = _panel(train)
    assert train.panel.ok is True and "Trained a generator for 3 steps." in text and "MLP" in text
    assert re.search(r"for 3 steps in \d+ s", text) and "samples" in text  # the time, and the grid's verdict
    assert train.panel.button_texts() == ["Prune it", "Compress it"]

    prune = window.pages["prune"]
    prune.amount.setValue(50)
    assert _run(prune, qtbot, window) == "done"
    text = _panel(prune)
    dense, pruned = window.ctx.project.pruning["params_before"]["g"], window.ctx.project.pruning["params_after"]["g"]
    assert f"{dense / pruned:.1f}x fewer weights" in text and "multiply-adds per image" in text
    assert prune.panel.button_texts() == ["Fine-tune it"]
    prune.panel.buttons.itemAt(0).widget().click()
    assert window.current_page() == "finetune"

    finetune = window.pages["finetune"]
    for key, value in (("steps", 2), ("batch_size", 16), ("sample_every", 1)):
        finetune._fields[key].setValue(value)
    finetune._fields["device"].setCurrentIndex(finetune._fields["device"].findData("cpu"))
    assert _run(finetune, qtbot, window) == "done"
    text = _panel(finetune)
    assert "fine-tuned" in text and "Kept" in text and finetune.panel.button_texts() == ["Evaluate it"]

    window.open_workspace(tmp_path / "p")  # reopened: every page reads its result from the project again
    assert "Trained a generator for 3 steps." in _panel(window.pages["train"])
    assert "fewer weights" in _panel(window.pages["prune"])


@pytest.mark.slow
def test_evaluate_and_export_end_with_their_result(make_window, trained_project, qtbot):
    window = make_window(workspace=trained_project)
    export = window.pages["export"]
    export._fields["bench_runs"].setValue(1)
    assert _run(export, qtbot, window) == "done"
    text = _panel(export)
    assert "Exported" in text and "generator.onnx" in text and "int8 against fp32" in text and " MB" in text
    assert export.panel.button_texts() == ["Generate images"]
    evaluate = window.pages["evaluate"]
    evaluate._fields["quick"].setChecked(True)
    assert _run(evaluate, qtbot, window) == "done"
    text = _panel(evaluate)
    assert "report.html" in text and evaluate.panel.button_texts() == ["Export it"]


def test_a_failed_run_is_red_with_its_reason_and_never_finished(make_window, trained_project, qtbot):
    (trained_project / "checkpoints" / "dense.pt").write_bytes(b"not a checkpoint")
    window = make_window(workspace=trained_project)
    prune = window.pages["prune"]
    assert _run(prune, qtbot, window) == "failed"
    window.last_dialog.close() if getattr(window, "last_dialog", None) else None
    text = _panel(prune)
    assert prune.panel.ok is False and text.startswith("✗ Pruning did not finish.") and "dense.pt" in text
    assert prune.progress.value() == 0 and "Finished" not in prune.progress_label.text()


def test_engine_sentences_lose_their_command_line_words():
    text = in_window_words("--amount must be between 0 and 1; run 'gan-prune finetune --resume' next.",
                           {"amount": "Amount"})
    assert text == "“Amount” must be between 0 and 1; run the Fine-tune step next."
