"""Step 1 — Data: choose the bundled digits, a downloadable data set or a folder of your own images, and preview it."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QLabel

from desktop_app.pages.base import Page
from desktop_app.widgets.image_grid import ImageGrid


class DataPage(Page):
    key = "data"
    title = "Data"
    subtitle = ("The images the GAN learns to imitate. Start with the bundled digits, or drop a folder of your own "
                "pictures anywhere on this window.")
    stage = "data"
    start_text = "Load preview"
    needs_workspace = False

    def build(self) -> None:
        tasks = self.ctx.facade.task_choices()
        self._task_help = {name: help_text for _, name, help_text in tasks}
        form = self.group("Task")
        self.task = self.field(form, "task", "The model makes", self.combo([(t, n) for t, n, _ in tasks],
                                                                           tasks[0][1]),
                               "What the generator takes and gives. 'Class → image' makes the class you ask for "
                               "and needs labelled data: the digits, MNIST, Fashion-MNIST, CIFAR-10, or one "
                               "sub-folder per class.")
        self.task_note = QLabel("")
        self.task_note.setWordWrap(True)
        form.addRow("", self.task_note)
        form = self.group("Data set")
        self.sources = {s["name"]: s for s in self.ctx.facade.data_sources()}  # the engine's data-source table
        self.dataset = self.field(form, "dataset", "Data set",
                                  self.combo([(s["label"], s["name"]) for s in self.sources.values()], "mnist-5k"),
                                  "Which images to learn from. The bundled digits need no download.")
        self.folder, self.folder_row = self.path_field(
            form, "folder", "Folder", "/path/to/images",
            "The folder the data set reads, for the data sets of your own: "
            + "; ".join(f"{s['label']}: {s['path_help']}" for s in self.sources.values() if s["takes_path"]) + ".",
            "Pick a folder of PNG or JPEG images (sub-folders are read too).", self._browse)

        form2 = self.group("Image format")
        self.image_size = self.field(form2, "image_size", "Image size", self.spin(0, 256, 0, 4, " px"),
                                     "Side of the square images the GAN makes. 0 keeps the data set's own size "
                                     "(28 px for digits, 32 px for CIFAR-10).")
        self.image_size.setSpecialValueText("data set's own")
        self.color = self.field(form2, "color", "Colour", self.combo([("Automatic", "auto"), ("Grey", "gray"),
                                                                      ("Colour (RGB)", "rgb")], "auto"),
                                "Grey images train faster; 'Automatic' follows the data set.")
        self.limit = self.field(form2, "limit", "Use at most", self.spin(0, 1_000_000, 0, 500, " images"),
                                "Train on only the first N images, for a quick trial. 0 uses them all.")
        self.limit.setSpecialValueText("all images")

        self.grid = ImageGrid("Preview", "Press “Load preview” to see some of the images")
        self.info = QLabel("")
        self.info.setWordWrap(True)
        self.results_layout.addWidget(self.grid, 1)
        self.results_layout.addWidget(self.info)
        self.dataset.currentIndexChanged.connect(self._sync)
        self.task.currentIndexChanged.connect(self._sync)
        self._sync()

    def values(self) -> dict:
        v = self.field_values()
        out = {"dataset": v["dataset"], "folder": v["folder"].strip(), "color": v["color"],
               "image_size": v["image_size"] or None, "limit": v["limit"] or None, "task": v["task"]}
        return out

    def validate(self) -> None:
        v = self.values()
        source = self.sources.get(v["dataset"], {})
        if source.get("takes_path") and not v["folder"]:  # said in the window's words, not the CLI's
            self.show_validation(f"Choose {source['path_help']}: Browse… or drop it on the window.")
            return
        super().validate()
        if self._validation_error is None:
            self.ctx.set_data(self.values())

    def usable(self, task: str) -> list[str]:
        """The data sets a task can use (the engine's table): a source bound to a task (your own pairs) goes with
        that task, and a task bound to a source takes only it."""
        bound = [n for n, s in self.sources.items() if s["task"] == task]
        return bound or [n for n, s in self.sources.items() if s["task"] is None]

    def _sync(self) -> None:
        """Offer the data sets the task can use."""
        usable = self.usable(self.task.currentData())
        for i in range(self.dataset.count()):
            self.dataset.view().setRowHidden(i, self.dataset.itemData(i) not in usable)
        if self.dataset.currentData() not in usable:
            self.dataset.setCurrentIndex(self.dataset.findData(usable[0]))
        self.folder_row.setEnabled(bool(self.sources.get(self.dataset.currentData(), {}).get("takes_path")))
        self.task_note.setText(self._task_help.get(self.task.currentData(), ""))

    def clear_results(self) -> None:
        self.grid.clear()
        self.info.setText("")

    def on_workspace(self, ws) -> None:
        """A project remembers its task: show it, so Train and Generate follow it."""
        if ws is None:
            return
        try:
            task = self.ctx.facade.workspace_options(ws)["model"]["task"]
        except Exception:  # an unreadable config.toml: keep what is shown; Train will name the problem
            return
        i = self.task.findData(task)
        if i >= 0:
            self.task.setCurrentIndex(i)

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose a folder of images", self.folder.text())
        if path:
            self.use_folder(path)

    def use_folder(self, path: str) -> None:
        """Use a folder as the data set (also what dropping a folder on the window does): the data set that takes a
        path and serves the chosen task (a folder of images, or your own pairs for the paired task)."""
        takes_path = [n for n in self.usable(self.task.currentData()) if self.sources[n]["takes_path"]]
        if takes_path and not self.sources.get(self.dataset.currentData(), {}).get("takes_path"):
            self.dataset.setCurrentIndex(self.dataset.findData(takes_path[0]))
        self.folder.setText(path)
        self.validate()

    def make_job(self):
        return self.ctx.facade.data_preview_job(self.values())

    def on_samples(self, samples) -> None:
        self.grid.set_image(samples.image, "64 images from across the data set")

    def on_artifact(self, artifact) -> None:
        if artifact.kind != "dataset":
            return
        i = artifact.info
        classes = f"; classes: {', '.join(map(str, i['classes'][:10]))}" if i.get("classes") else \
            ("; <b>no class labels</b>: the class → image task needs one sub-folder per class"
             if self.task.currentData() == "conditional" else "")
        self.info.setText(f"<b>{i['name']}</b>: {i['count']:,} images of {' x '.join(map(str, i['shape']))} "
                          f"(channels x height x width){classes}.")
