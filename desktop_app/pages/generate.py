"""Step 7 — Generate: images from an exported ONNX file through engine.ondevice, the same numpy + ONNX Runtime
path the sampler app uses on a device (no PyTorch). Runs in a blink, so it needs no background job."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QLabel, QPushButton

from desktop_app.facade import UserError
from desktop_app.pages.base import Page
from desktop_app.widgets.image_grid import ImageGrid

log = logging.getLogger("desktop_app")
DATA_WORDS = {"mnist-5k": "the bundled digits"}  # a data set's name in the file, in the window's words


class GeneratePage(Page):
    key = "generate"
    title = "Generate"
    subtitle = ("Make new images with an exported model, exactly as a phone or a small computer would: ONNX Runtime "
                "and numpy only. The same seed always gives the same images.")
    stage = "generate"
    start_text = "Generate"
    needs_workspace = False

    def build(self) -> None:
        f = self.group("Model file")
        self.path, _ = self.path_field(
            f, "onnx", "ONNX file", "none yet: export one, or Browse…",
            "The ONNX generator to run. The project's newest export is filled in for you.",
            "Pick an .onnx generator exported by this app.", self._browse)
        self.source, _ = self.path_field(
            f, "source", "Input image(s)", "an image or a folder — or drop one on this window",
            "For image-to-image models (super-resolution, inpainting, sketch → image, your own pairs): the picture, "
            "or a folder of pictures, to turn into outputs. Noise models ignore it.",
            "Pick an input image (or type or drop a folder).", self._browse_source)
        self.setAcceptDrops(True)
        f = self.group("Images")
        self.field(f, "seed", "Seed", self.spin(0, 2**31 - 1, 0),
                   "Picks the random inputs; the same seed gives the same images.")
        self.field(f, "count", "How many", self.spin(1, 1024, 64, 8, " images"), "Number of images in the grid.")
        self.field(f, "nrow", "Per row", self.spin(1, 64, 8, 1, " images"), "Images per row of the grid.")
        # Filled from the model file: a conditional model lists its classes, an unconditional one disables it.
        self.label = self.field(f, "label", "Class", self.combo([("— (the model takes no class)", -1)], -1),
                                "For a class-conditional model: the class to draw, or every class with a row "
                                "each (then 'Per row' images per class).")
        self.label.setEnabled(False)
        self.field(f, "steps", "Interpolation", self.spin(2, 64, 10, 1, " images"),
                   "Images in the walk between two random inputs (press Interpolate).")
        self.interp_button = QPushButton("Interpolate")
        self.interp_button.setToolTip("Walk smoothly between two random inputs and show every step.")
        self.interp_button.clicked.connect(self.interpolate)
        f.addRow("", self.interp_button)
        self._rows["interpolate"] = (f, self.interp_button)
        self.images_box = f.parentWidget()
        self.grid = ImageGrid("Generated images", "Press Generate")
        self.info = QLabel("")
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.results_layout.addWidget(self.grid, 1)
        self.results_layout.addWidget(self.info)
        self.ctx.workspace_updated.connect(self._use_newest_export)
        self.cancel_button.hide()  # nothing to cancel or follow: it takes milliseconds
        self.start_button.setMaximumWidth(180)
        self.progress.hide()
        self._model = None
        self._model_key = None
        self.last_seconds = None

    # Not a background job: ONNX Runtime makes 64 small images in milliseconds.
    def start_blocker(self) -> str | None:
        if not self.ctx.facade.available("generate"):
            return "The on-device sampler is not available in this build yet."
        if self._validation_error:
            return self._validation_error
        return None

    def field_values(self) -> dict:
        v = super().field_values()
        v["label"] = self.label.currentData() if hasattr(self, "label") else -1  # the list changes per model
        return v

    def validate(self) -> None:
        p = self.path.text().strip() if hasattr(self, "path") else ""
        self._validation_error = None if p and Path(p).is_file() else (
            "Choose an exported .onnx file (run Export first)." if not p else f"The file {p} does not exist.")
        self.error_label.setText(self._validation_error or "")
        self.error_label.setVisible(bool(self._validation_error))
        self._fill_classes()
        self.refresh_state()

    def _fill_classes(self) -> None:
        """List the chosen file's classes (a conditional model), or say it takes none; a file that does not load
        keeps the list empty here and gets its dialog when Generate is pressed."""
        if not hasattr(self, "label"):
            return
        model = None
        if self._validation_error is None:
            try:
                model = self._load()
            except Exception:
                self._model = self._model_key = None
        classes = list(getattr(model, "class_names", []) or [])
        items = [("Every class, a row each", -1)] + [(f"{i}: {name}" if name != str(i) else name, i)
                                                     for i, name in enumerate(classes)]
        if [self.label.itemData(i) for i in range(self.label.count())] == [d for _, d in items] and classes:
            return  # the same model: keep the user's choice
        self.label.blockSignals(True)
        self.label.clear()
        for text, data in items if classes else [("— (the model takes no class)", -1)]:
            self.label.addItem(text, data)
        self.label.blockSignals(False)
        self.label.setEnabled(bool(classes))
        self._show_what_applies(model)

    def _show_what_applies(self, model) -> None:
        """An image-to-image model takes an input picture and no seed, count or walk; a noise model takes no
        picture; only a conditional model takes a class."""
        image = model is not None and hasattr(model, "input_shape")
        noise = model is not None and not image
        self.show_field("source", not noise)
        self.images_box.setVisible(not image)
        for key in ("seed", "count", "nrow", "steps", "interpolate"):
            self.show_field(key, not image)
        self.show_field("label", bool(getattr(model, "num_classes", 0)))

    def refresh_state(self) -> None:
        super().refresh_state()
        if hasattr(self, "interp_button"):
            self.interp_button.setEnabled(self.start_button.isEnabled())
        self.cancel_button.setEnabled(False)

    def clear_results(self) -> None:
        self.grid.clear()
        self.info.setText("")
        self._model = self._model_key = None
        self.last_seconds = None

    def on_workspace(self, ws) -> None:
        """Another project: its newest export, or nothing (never the last project's file)."""
        self._use_newest_export(always=True)

    def _use_newest_export(self, always: bool = False) -> None:
        """After an export, Generate uses the file it just made, unless a file of your own (outside this project's
        export folder) is chosen."""
        project = self.ctx.project
        newest = project.newest_export() if project is not None else None
        current = self.path.text().strip()
        own_file = bool(current) and Path(current).is_file() and (
            project is None or Path(current).resolve().parent != (project.root / "export").resolve())
        if always or (newest is not None and not own_file):
            self.path.setText(str(newest) if newest is not None else "")

    def _browse_source(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose an input image", self.source.text(),
                                              "Images (*.png *.jpg *.jpeg *.bmp *.webp)")
        if path:
            self.source.setText(path)

    # A dropped image or folder becomes the input of an image-to-image model (and is run at once).
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if not urls:
            return
        self.source.setText(urls[0])
        event.acceptProposedAction()
        self.on_start()

    def _run_image(self, model) -> None:
        """Image-to-image: the chosen picture or folder in, a grid of input | output rows out."""
        source = self.source.text().strip()
        if not source:
            self.last_dialog = self._show_bad_model(UserError(
                f"The model {Path(self.path.text()).name} turns an image into an image (task {model.task}); choose "
                "an input image or folder, or drop one on this window."))
            return
        try:
            t = time.perf_counter()
            image, n, note = self.ctx.facade.image_to_image(model, source)
            self.last_seconds = time.perf_counter() - t
        except Exception as e:  # a file that is no picture, a folder without any: one sentence in a dialog
            self.last_dialog = self._show_bad_model(e)
            return
        self.save_options()
        self.grid.set_image(image, f"input | output, {n} image(s)")
        shape = "x".join(map(str, model.input_shape))
        self.info.setText(f"Made in <b>{self.last_seconds * 1000:.1f} ms</b> with ONNX Runtime on the CPU.  "
                          f"Model: task {model.task}, input {shape}, precision "
                          f"{model.metadata.get('gan.precision', '?')}." + (f"<br>Note: {note}" if note else ""))
        self.progress_label.setText(f"Done in {self.last_seconds * 1000:.1f} ms.")

    def _browse(self) -> None:
        start = str(self.ctx.workspace.export_dir) if self.ctx.workspace else ""
        path, _ = QFileDialog.getOpenFileName(self, "Choose a generator", start, self.ctx.facade.model_file_filter())
        if path:
            self.path.setText(path)

    def _load(self):
        path = self.path.text().strip()
        key = (path, Path(path).stat().st_mtime_ns)
        if self._model_key != key:  # a re-export replaces the file: reload it
            self._model, self._model_key = self.ctx.facade.load_onnx(path), key
        return self._model

    def _show_bad_model(self, exc: Exception):
        import traceback

        from desktop_app.errors import error_box


        if isinstance(exc, UserError):
            message = str(exc)
        else:  # a file this app did not export can fail anywhere in ONNX Runtime or numpy: name the file instead
            first = (str(exc).strip().splitlines() or [""])[0][:120]
            message = (f"The file {Path(self.path.text().strip()).name} cannot be used as a generator "
                       f"({type(exc).__name__}: {first}); choose an .onnx file made by this app's Export step.")
        details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        log.warning("generate: %s", message)
        return error_box(self, "Generate did not finish", message, details)

    def on_start(self) -> None:
        self._run(self._make, self._caption)

    def _make(self, model, v: dict):
        """count images, or for a conditional model the asked class's, or a row per class (nrow images each)."""
        if getattr(model, "num_classes", 0) and v["label"] < 0:
            return self.ctx.facade.class_grid(model, v["nrow"], v["seed"])
        label = v["label"] if getattr(model, "num_classes", 0) else None
        return self.ctx.facade.sample_grid(model, v["count"], v["seed"], v["nrow"], label)

    def _caption(self, v: dict) -> str:
        model = self._model
        if getattr(model, "num_classes", 0):
            if v["label"] < 0:
                return f"one row per class ({model.num_classes}), {v['nrow']} each, seed {v['seed']}"
            return f"{v['count']} images of class {model.class_names[v['label']]}, seed {v['seed']}"
        return f"{v['count']} images, seed {v['seed']}"

    def interpolate(self) -> None:
        self._run(lambda m, v: self.ctx.facade.interpolate(m, v["steps"], v["seed"], v["label"]),
                  lambda v: f"{v['steps']}-step walk, seed {v['seed']}")

    def _run(self, make, caption) -> None:
        if self.start_blocker() is not None:
            return
        try:
            model = self._load()
        except Exception as e:
            self._model = self._model_key = None
            self.last_dialog = self._show_bad_model(e)
            return
        if hasattr(model, "input_shape"):  # image-to-image: seeds and counts do not apply
            return self._run_image(model)
        v = self.field_values()
        try:
            t = time.perf_counter()
            image = make(model, v)
            self.last_seconds = time.perf_counter() - t
        except Exception as e:  # any file a user picks: a dialog with one sentence, never a traceback
            self._model = self._model_key = None
            self.last_dialog = self._show_bad_model(e)
            return
        self.save_options()
        rows = model.class_names if getattr(model, "num_classes", 0) and v["label"] < 0 and make == self._make else ()
        self.grid.set_image(image, caption(v), row_labels=rows)  # a row per class: each row says its class
        meta = model.metadata
        self.info.setText(f"Made in <b>{self.last_seconds * 1000:.1f} ms</b> with ONNX Runtime on the CPU.  "
                          f"Model: latent {model.latent_dim}, images {'x'.join(map(str, model.image_shape))}, "
                          f"precision {meta.get('gan.precision', '?')}, arch {meta.get('gan.arch', '?')}, "
                          f"data {DATA_WORDS.get(meta.get('gan.dataset', '?'), meta.get('gan.dataset', '?'))}"
                          + (f", {model.num_classes} classes." if getattr(model, "num_classes", 0) else "."))
        self.progress_label.setText(f"Done in {self.last_seconds * 1000:.1f} ms.")
