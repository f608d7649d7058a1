"""Step 2 — Train: a GAN on the chosen data, with live loss curves, a live sample grid, checkpoints and resume."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QSplitter, QVBoxLayout, QWidget

from desktop_app.forms import SettingsForm
from desktop_app.pages.base import Page
from desktop_app.widgets.image_grid import ImageGrid
from desktop_app.widgets.loss_plot import LossPlot, TakingTurns

SAMPLES_TITLE = {False: "Samples from fixed random inputs", True: "Outputs for fixed test images"}


class TrainPage(Page):
    key = "train"
    title = "Train"
    subtitle = ("Teach a generator (G) to make images like the data set while a discriminator (D) learns to tell "
                "real from generated. Watch the curves and the samples; stop any time and resume later.")
    stage = "train"
    start_text = "Start training"

    # The settings this page shows, by the config table they set; each field is generated from its setting(...)
    # (desktop_app/forms.py), so its default, range and words are the command line's.
    MODEL = ("latent_dim", "scale", "width", "blocks")
    TRAINING = ("steps", "batch_size", "lr", "loss", "optimizer", "ema", "cycle", "identity")
    RUN = ("device", "threads", "seed", "sample_every", "checkpoint_every", "resume")

    def build(self) -> None:
        self.model_form, self.train_form = SettingsForm(self), SettingsForm(self)
        f = self.group("Model")
        arch = self.ctx.facade.settings_form("model", ("arch",))[0]  # its choices follow the task (arch catalogue)
        self.field(f, "arch", arch["label"], self.combo(self._arch_items("unconditional"), arch["default"]),
                   arch["tip"])
        self.model_form.add(f, "model", self.MODEL)
        self.train_form.add(self.group("Training"), "train", self.TRAINING)
        f = self.group("Run")
        self.train_form.add(f, "train", self.RUN[:2])
        self.field(f, "processes", "Processes", self.spin(1, 64, 1),
                   "Train as several processes that share each batch (PyTorch DistributedDataParallel): one per "
                   "GPU, or CPU processes. The batch size must split evenly. Progress shows the first process.")
        self.train_form.add(f, "train", self.RUN[2:])
        self._build_results()

    def _build_results(self) -> None:
        """Loss and D-output plots, the sample grid, the checkpoints this run saved and the speed."""
        self.losses = LossPlot("Losses", {"loss_g": "G loss", "loss_d": "D loss"})
        self.d_out = LossPlot("Discriminator outputs", {"d_real": "D(x) real", "d_fake": "D(G(z)) fake"},
                              "probability 'real'")
        self.plots = TakingTurns(self.losses, self.d_out)
        self.grid = ImageGrid(SAMPLES_TITLE[False], "Samples appear here while training runs")
        self.checkpoints = QListWidget()
        self.checkpoints.setToolTip("Checkpoints this run saved (in the project's checkpoints folder).")
        self.checkpoints.setMaximumHeight(90)
        self.speed = QLabel("")
        plots = QWidget()
        pl = QVBoxLayout(plots)
        pl.setContentsMargins(0, 0, 0, 0)
        pl.addWidget(self.losses, 1)
        pl.addWidget(self.d_out, 1)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.grid, 1)
        rl.addWidget(QLabel("<b>Checkpoints</b>"))
        rl.addWidget(self.checkpoints)
        rl.addWidget(self.speed)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(plots)
        split.addWidget(right)
        split.setSizes([500, 380])
        row = QHBoxLayout()
        row.addWidget(split)
        self.imported_note = QLabel("")
        self.imported_note.setWordWrap(True)
        self.imported_note.setVisible(False)
        self.results_layout.addWidget(self.imported_note)
        self.results_layout.addLayout(row)
        self.ctx.data_changed.connect(self._follow_task)
        self._show_for_task(self.ctx.data_values.get("task") or "unconditional")

    def values(self) -> dict:
        v = self.field_values()
        data = dict(self.ctx.data_values)
        task = data.get("task") or "unconditional"  # chosen on the Data page
        return {"data": data, "model": {"arch": v["arch"], "task": task, **self.model_form.values()},
                "train": self.train_form.values(), "processes": v["processes"]}

    def _arch_items(self, task: str) -> list[tuple[str, str]]:
        """(label, name) of the architectures that can do the task: the engine's arch catalogue decides."""
        return self.ctx.facade.arch_choices(task)

    def _follow_task(self, data: dict) -> None:
        self._show_for_task((data or {}).get("task") or "unconditional")
        self.validate()

    def _show_for_task(self, task: str) -> None:
        """Offer only what applies to the task chosen with the data: the architectures that can do it, the latent
        size for noise models, the output size for super-resolution, the cycle weights for unpaired sets."""
        arch = self._fields["arch"]
        items = self._arch_items(task)
        if [arch.itemData(i) for i in range(arch.count())] != [a for _, a in items]:
            current = arch.currentData()
            arch.blockSignals(True)
            arch.clear()
            for text, name in items:
                arch.addItem(text, name)
            arch.setCurrentIndex(max(0, arch.findData(current)))
            arch.blockSignals(False)
        for config, names in (("model", self.MODEL), ("train", self.TRAINING)):
            for name in names:
                self.show_field(name, self.ctx.facade.applies(config, name, task))
        self.grid.set_title(SAMPLES_TITLE[self.ctx.facade.takes_image(task)])

    def blocker(self) -> str | None:
        ws = self.ctx.workspace
        v = self.field_values()
        if not v["resume"] or ws is None:
            return None
        if not self.ctx.facade.has_trained_model(ws):
            return "There is no saved model to resume in this project; untick Resume to start fresh."
        done = self.ctx.facade.trained_steps(ws)
        if v["steps"] <= done:
            return f"The saved model is already at step {done:,}; set Steps above {done:,} to train it further."
        return None

    def clear_results(self) -> None:
        self.losses.clear()
        self.d_out.clear()
        self.grid.clear()
        self.checkpoints.clear()
        self.speed.setText("")
        self.imported_note.setVisible(False)

    def clears_on_start(self) -> bool:
        return not self.field_values()["resume"]  # resuming continues the curves and keeps the checkpoint list

    def on_workspace(self, ws) -> None:
        """What the project holds: its trained model (checkpoint and step), its last saved samples, where the model
        came from, and the architecture it was trained with."""
        project = self.ctx.project
        if project is None:
            return
        if project.trained is not None:
            path, step = project.trained
            self._show_checkpoint(path, step)
        sample = project.sample_file("train")
        if sample is not None:
            self.grid.show_file(sample, "the last samples saved in this project", project.class_names[:16])
        imported = project.stages.get("import", {}).get("generator") if project.arch == "user" else None
        self.imported_note.setVisible(isinstance(imported, dict))
        if isinstance(imported, dict):  # the trained model came from the person's own code, not from this page
            self.imported_note.setText(f"<b>This project's trained model is your own {imported.get('class')} from "
                                       f"{imported.get('source')}</b> (imported). Go on with Prune; training here "
                                       "would replace it with a new built-in model.")
        if project.has_trained_model:
            i = self._fields["arch"].findData(project.arch)
            if i >= 0:
                self._fields["arch"].setCurrentIndex(i)

    def make_job(self):
        return self.ctx.facade.train_job(self.ctx.workspace, self.values())

    def on_metrics(self, metrics: list) -> None:
        self.plots.add(metrics)
        rate = metrics[-1].values.get("samples_per_s")
        if rate and rate == rate:
            self.speed.setText(f"{rate:,.0f} images/s")

    def on_job_finished(self, status: str) -> None:
        self.plots.redraw()  # the last points of a plot whose turn did not come again

    def on_samples(self, samples) -> None:
        what = f"{samples.label}, " if "→" in samples.label else ""  # image-to-image: input → output → target
        self.grid.set_image(samples.image, f"{what}step {samples.step:,}", row_labels=self._row_labels())

    def _row_labels(self) -> list[str]:
        """A conditional model's grid has a row per class (at most 16): their names, from the saved checkpoint
        (before its first checkpoint a run's rows go unnamed)."""
        ws, task = self.ctx.workspace, self.ctx.data_values.get("task") or "unconditional"
        if ws is None or task != "conditional":
            return []
        return self.ctx.facade.class_names(ws)[:16]

    def on_artifact(self, artifact) -> None:
        if artifact.kind == "checkpoint":
            self._show_checkpoint(str(artifact.path), artifact.info.get("step"))

    def _show_checkpoint(self, path: str, step) -> None:
        """One line per file: a checkpoint saved again over the same file updates its line (its newest step)."""
        text = f"{path}  (step {step:,})" if isinstance(step, int) else path
        for i in range(self.checkpoints.count()):
            if self.checkpoints.item(i).data(Qt.ItemDataRole.UserRole) == path:
                self.checkpoints.item(i).setText(text)
                return
        self.checkpoints.addItem(text)
        self.checkpoints.item(self.checkpoints.count() - 1).setData(Qt.ItemDataRole.UserRole, path)
