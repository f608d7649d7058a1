"""Only what applies: fields shown by the task and the model kind (from the engine's setting(tasks=...)), units in
the fields, and no command-line words anywhere in the window."""

import re

from PySide6.QtWidgets import QAbstractButton, QAbstractSpinBox, QComboBox, QLabel, QWidget

CLI_WORDS = re.compile(r"(?<![\w-])--[a-z]|mnist-5k|torchvision|\b(pairs|folder):[A-Z/]|gan-prune")


def _set_task(window, task):
    data = window.pages["data"]
    data.task.setCurrentIndex(data.task.findData(task))


def test_the_train_page_shows_the_latent_size_for_noise_and_the_output_size_for_superres(make_window):
    window = make_window()
    train = window.pages["train"]
    arch = train._fields["arch"]
    for task, latent, scale, archs in (("unconditional", True, False, ["dcgan", "mlp", "resnet"]),
                                       ("conditional", True, False, ["dcgan"]),
                                       ("superres", False, True, ["unet", "resnet-i2i", "cyclegan"]),
                                       ("inpaint", False, False, ["unet", "resnet-i2i", "cyclegan"]),
                                       ("unpaired", False, False, ["cyclegan", "unet", "resnet-i2i"])):
        _set_task(window, task)
        assert (train.field_shown("latent_dim"), train.field_shown("scale")) == (latent, scale), task
        assert [arch.itemData(i) for i in range(arch.count())] == archs, task
        assert train.field_shown("cycle") == train.field_shown("identity") == (task == "unpaired"), task
        assert train.field_shown("width") == (not latent), task
        assert train.start_blocker() is None or "project" in train.start_blocker()  # the choice is always valid
    assert "Outputs" in train.grid.title.text()


def test_the_generate_page_shows_the_fields_of_the_chosen_models_kind(make_window, tiny_onnx, conditional_export):
    gen = make_window().pages["generate"]
    gen.path.setText(str(tiny_onnx))
    assert gen.field_shown("seed") and gen.field_shown("count") and gen.field_shown("interpolate")
    assert not gen.field_shown("source") and not gen.field_shown("label")
    gen.path.setText(str(conditional_export.export_dir / "generator.onnx"))
    assert gen.field_shown("label") and not gen.field_shown("source")


def test_an_image_model_export_has_no_latents_or_subpixel_and_units_everywhere(make_window, trained_project):
    from engine.workspace import Workspace

    window = make_window(workspace=trained_project)
    export = window.pages["export"]
    assert export.field_shown("subpixel") and export._fields["calibration"].suffix() == " random inputs"
    Workspace(trained_project).config_path.write_text('[model]\narch = "unet"\ntask = "superres"\n')
    window.open_workspace(trained_project)
    assert not export.field_shown("subpixel") and export._fields["calibration"].suffix() == " training images"
    compress = window.pages["compress"]
    assert compress._fields["quality_budget"].text() == "+10 %" and compress._fields["time_budget"].text() == "15.0 min"
    for page in window.pages.values():  # a number with a unit says it
        for key in ("steps", "batch_size", "time_budget", "samples", "count"):
            w = page._fields.get(key)
            if isinstance(w, QAbstractSpinBox):
                assert w.suffix().strip(), (page.key, key)


def test_no_command_line_words_in_the_window(make_window, trained_project):
    window = make_window(workspace=trained_project)
    for task in ("unconditional", "conditional", "superres", "paired"):  # the task notes change with the task
        _set_task(window, task)
        texts = []
        for w in window.findChildren(QWidget):
            texts.append(w.toolTip())
            if isinstance(w, (QLabel, QAbstractButton)):
                texts.append(w.text())
            if isinstance(w, QComboBox):
                texts += [w.itemText(i) for i in range(w.count())]
        found = sorted({t for t in texts if CLI_WORDS.search(t)})
        assert not found, found
