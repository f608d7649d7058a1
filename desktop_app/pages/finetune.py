"""Step 4 — Fine-tune: train the pruned G again, guided by the dense model (the teacher) on the same latents."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSplitter, QVBoxLayout

from desktop_app.forms import SettingsForm
from desktop_app.pages.base import Page, side_by_side
from desktop_app.widgets.image_grid import ImageGrid
from desktop_app.widgets.loss_plot import LossPlot, TakingTurns


class FinetunePage(Page):
    key = "finetune"
    title = "Fine-tune"
    subtitle = ("Pruning costs some quality; a short round of training wins most of it back. The dense model acts as "
                "a teacher: the pruned student learns to draw the same images from the same random inputs.")
    stage = "finetune"
    start_text = "Start fine-tuning"

    # The settings this page shows, in its groups; each field is generated from its setting(...) in
    # engine/stages/finetune/config.py (desktop_app/forms.py), so its default, range and words are the command line's.
    GROUPS = (("Fine-tuning", ("steps", "lr", "batch_size", "lr_schedule")),
              ("Teacher (distillation)", ("adversarial", "distill", "distill_output", "output_loss", "distill_features",
                                          "distill_perceptual")),
              ("Student", ("discriminator", "student_widths", "probe_every")))

    def build(self) -> None:
        self.settings = SettingsForm(self)
        for title, names in self.GROUPS:
            self.settings.add(self.group(title), "finetune", names)
        f = self.group("Run")
        self.settings.add(f, "finetune", ("device",))
        self.field(f, "processes", "Processes", self.spin(1, 64, 1),
                   "Fine-tune as several processes that share each batch: one per GPU, or CPU processes. The batch "
                   "size must split evenly. Progress shows the first process.")
        self.settings.add(f, "finetune", ("seed", "sample_every", "resume"))
        self._build_results()

    def _build_results(self) -> None:
        """Adversarial and distillation loss plots, and the teacher's and the student's samples side by side."""
        self.losses = LossPlot("Adversarial losses", {"loss_g": "G loss", "loss_d": "D loss"})
        self.distill_plot = LossPlot("Distillation losses (student vs teacher)",
                                     {"distill_output": "image", "distill_features": "feature maps",
                                      "distill_perceptual": "perceptual"})
        self.plots = TakingTurns(self.losses, self.distill_plot)
        self.teacher = ImageGrid("Teacher (dense)", "The dense model's samples")
        self.student = ImageGrid("Student (pruned)", "The pruned model's samples, same latents")
        grids = side_by_side(self.teacher, self.student)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(side_by_side(self.losses, self.distill_plot))
        split.addWidget(grids)
        split.setSizes([300, 420])
        box = QVBoxLayout()
        box.addWidget(split)
        self.results_layout.addLayout(box)

    def values(self) -> dict:
        """The settings as the engine takes them (slim-student widths as numbers), and the processes."""
        return {**self.settings.values(), "processes": self.field_values()["processes"]}

    def blocker(self) -> str | None:
        ws = self.ctx.workspace
        if ws is not None and not self.values()["student_widths"] and not self.ctx.facade.has_pruned_model(ws):
            return "Prune the model first (fine-tuning starts from it), or give slim student widths."
        return None

    def make_job(self):
        return self.ctx.facade.finetune_job(self.ctx.workspace, self.values())

    def clear_results(self) -> None:
        for plot in (self.losses, self.distill_plot):
            plot.clear()
        for grid in (self.teacher, self.student):
            grid.clear()

    def clears_on_start(self) -> bool:
        return not self.field_values()["resume"]  # resuming continues the curves

    def on_workspace(self, ws) -> None:
        sample = self.ctx.project.sample_file("finetune") if self.ctx.project is not None else None
        if sample is not None:
            self.student.show_file(sample, "the last samples saved in this project")

    def on_metrics(self, metrics: list) -> None:
        self.plots.add(metrics)

    def on_job_finished(self, status: str) -> None:
        self.plots.redraw()  # the last points of a plot whose turn did not come again

    def on_samples(self, samples) -> None:
        who, _, what = samples.label.partition(": ")  # image-to-image grids say "teacher: input → output → target"
        target = self.teacher if who == "teacher" else self.student
        target.set_image(samples.image, f"{what}, step {samples.step:,}" if what else f"step {samples.step:,}")
