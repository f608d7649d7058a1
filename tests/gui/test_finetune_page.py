"""The Fine-tune page: the distillation terms and a slim student reach the engine from the form."""

from engine.workspace import Workspace


def test_a_slim_student_needs_no_pruning_and_trains_with_the_chosen_terms(make_window, trained_project, qtbot):
    window = make_window(workspace=trained_project)
    page = window.pages["finetune"]
    window.show_page("finetune")
    assert not page.start_button.isEnabled()  # nothing pruned and no slim widths yet
    assert "slim student" in page.start_button.toolTip()
    dense = Workspace(trained_project, create=False).load_checkpoint("dense")["arch"]["generator"]["widths"]
    slim = [max(2, w // 8) for w in dense]
    f = page._fields
    f["student_widths"].setText(", ".join(map(str, slim)))
    f["steps"].setValue(2)
    f["batch_size"].setValue(8)
    f["distill_perceptual"].setValue(0.0)
    f["output_loss"].setCurrentIndex(f["output_loss"].findData("mse"))
    f["discriminator"].setCurrentIndex(f["discriminator"].findData("teacher"))
    f["device"].setCurrentIndex(f["device"].findData("cpu"))
    assert (f["adversarial"].value(), page.values()["lr_schedule"]) == (0.0, "cosine")  # the measured recipe
    f["adversarial"].setValue(0.5)
    f["lr_schedule"].setCurrentIndex(f["lr_schedule"].findData("constant"))
    assert page.values()["student_widths"] == tuple(slim)
    assert page.start_button.isEnabled()
    with qtbot.waitSignal(window.ctx.jobs.finished, timeout=120_000) as finished:
        page.start_button.click()
    assert finished.args == ["finetune", "done"]
    tuned = Workspace(trained_project, create=False).load_checkpoint("finetuned")
    assert tuned["arch"]["generator"]["widths"] == slim
    assert tuned["finetune"]["weights"] == {"output": 1.0, "features": 1.0, "perceptual": 0.0, "output_loss": "mse"}
    assert tuned["finetune"]["discriminator"] == "teacher"
    assert (tuned["finetune"]["adversarial"], tuned["finetune"]["lr_schedule"]) == (0.5, "constant")


def test_widths_that_are_not_numbers_are_named_inline(make_window, trained_project):
    window = make_window(workspace=trained_project)
    page = window.pages["finetune"]
    page._fields["student_widths"].setText("64,abc")
    page.validate()
    assert "student_widths" in page.error_label.text() and not page.start_button.isEnabled()
