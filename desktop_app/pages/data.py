"""Step 1 — Data: choose the bundled digits, a downloadable data set or a folder of your own images, and preview it."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QLabel

from desktop_app.pages.base import Page
from desktop_app.widgets.image_grid import ImageGrid

DATASETS = [("Handwritten digits (bundled, 5,000 images)", "mnist-5k"), ("MNIST (downloads 60,000 digits)", "mnist"),
            ("Fashion-MNIST (downloads clothing images)", "fashion-mnist"),
            ("CIFAR-10 (downloads 32x32 colour photos)", "cifar10"), ("A folder of my own images", "folder"),
            ("Image pairs of my own (a folder with A/ inputs and B/ outputs)", "pairs")]


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
        self.dataset = self.field(form, "dataset", "Data set", self.combo(DATASETS, "mnist-5k"),
                                  "Which images to learn from. The bundled digits need no download.")
        self.folder, self.folder_row = self.path_field(
            form, "folder", "Folder", "/path/to/images",
            "The folder of images to use when the data set is 'A folder of my own images'; for image pairs, the "
            "folder holding A/ (inputs) and B/ (wanted outputs) with the same file names.",
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
        if v["dataset"] in ("folder", "pairs") and not v["folder"]:  # said in the window's words, not the CLI's
            self.show_validation("Choose the folder holding A/ (inputs) and B/ (wanted outputs): Browse… or drop it "
                                 "here." if v["dataset"] == "pairs" else
                                 "Choose the folder of your images: Browse… or drop it on the window.")
            return
        super().validate()
        if self._validation_error is None:
            self.ctx.set_data(self.values())

    def _sync(self) -> None:
        """Offer the data sets the task can use: your own pairs go with the paired task, and only with it."""
        paired = self.task.currentData() == "paired"
        for i in range(self.dataset.count()):
            self.dataset.view().setRowHidden(i, (self.dataset.itemData(i) == "pairs") != paired)
        if (self.dataset.currentData() == "pairs") != paired:
            self.dataset.setCurrentIndex(self.dataset.findData("pairs" if paired else "mnist-5k"))
        self.folder_row.setEnabled(self.dataset.currentData() in ("folder", "pairs"))
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
        """Use a folder of images as the data set (also what dropping a folder on the window does)."""
        self.dataset.setCurrentIndex(self.dataset.findData("folder"))
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
