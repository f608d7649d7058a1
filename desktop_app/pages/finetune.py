"""Step 4 — Fine-tune: train the pruned G again, guided by the dense model (the teacher) on the same latents."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QLineEdit, QSplitter, QVBoxLayout

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

    def build(self) -> None:
        f = self.group("Fine-tuning")
        self.field(f, "steps", "Steps", self.spin(1, 1_000_000, 500, 50, " steps"),
                   "How many training steps. A few hundred usually recover most of the quality.")
        self.field(f, "lr", "Learning rate", self.dspin(0.000001, 1.0, 0.004, 0.0001, 6),
                   "Step size of the optimizer. 0.004 suits learning from the teacher alone; with a discriminator "
                   "weight above 0, 0.0002 is safer.")
        self.field(f, "batch_size", "Batch size", self.spin(1, 4096, 64, 8, " images"), "Images per step.")
        self.field(f, "lr_schedule", "Learning-rate schedule", self.combo([("Constant", "constant"),
                                                                          ("Cosine decay to 0", "cosine")],
                                                                         "cosine"),
                   "Cosine lowers the step size smoothly to 0 at the last step.")
        f = self.group("Teacher (distillation)")
        self.field(f, "adversarial", "Discriminator weight", self.dspin(0.0, 100.0, 0.0, 0.1, 2),
                   "How much the discriminator's verdict counts next to the teacher. 0 = learn from the teacher "
                   "alone: no discriminator step, about twice as fast.")
        self.field(f, "distill", "Teacher weight", self.dspin(0.0, 100.0, 1.0, 0.1, 2),
                   "Multiplies every term below. 0 trains without a teacher (adversarial loss only).")
        self.field(f, "distill_output", "Image match", self.dspin(0.0, 100.0, 1.0, 0.1, 2),
                   "How closely the student's image follows the teacher's for the same input. 0 = off.")
        self.field(f, "output_loss", "Image distance", self.combo([("L1 (absolute)", "l1"), ("MSE (squared)", "mse")],
                                                                  "l1"),
                   "How the image match is measured.")
        self.field(f, "distill_features", "Inner feature maps", self.dspin(0.0, 100.0, 1.0, 0.1, 2),
                   "How closely every inner layer follows the teacher's, through small learned adapters that are "
                   "thrown away afterwards. 0 = off.")
        self.field(f, "distill_perceptual", "Perceptual", self.dspin(0.0, 100.0, 1.0, 0.1, 2),
                   "How alike the two images look to the quality classifier (its inner features). 0 = off.")
        f = self.group("Student")
        self.field(f, "discriminator", "Discriminator", self.combo(
            [("As pruned", "pruned"), ("Teacher's full D", "teacher"), ("Teacher's D cut to G's share", "match")],
            "pruned"), "Which D the student trains against. A full-size D can overpower a much smaller G.")
        widths = QLineEdit()
        widths.setPlaceholderText("empty: the pruned model; e.g. 64,32: a slim G from scratch")
        self.field(f, "student_widths", "Slim student widths", widths,
                   "Leave empty to fine-tune the pruned model. Channel widths separated by commas train a slim "
                   "generator of those widths from scratch, taught by the dense model (no pruning needed).")
        self.field(f, "probe_every", "Quality probe every", self.spin(0, 1_000_000, 250, 50, " steps"),
                   "How often a quick FID on held-out inputs is taken; the best step is the one kept. 0 = at the end.")
        f = self.group("Run")
        self.field(f, "device", "Device", self.combo([("Automatic (GPU if present)", "auto"), ("CPU", "cpu"),
                                                      ("CUDA GPU", "cuda")], "auto"),
                   "Where to train. Automatic uses a CUDA GPU when there is one.")
        self.field(f, "processes", "Processes", self.spin(1, 64, 1),
                   "Fine-tune as several processes that share each batch: one per GPU, or CPU processes. The batch "
                   "size must split evenly. Progress shows the first process.")
        self.field(f, "seed", "Seed", self.spin(0, 2**31 - 1, 0), "Fixes all randomness of this run.")
        self.field(f, "sample_every", "Sample every", self.spin(1, 100_000, 100, 10, " steps"),
                   "How often to redraw the student's samples.")
        self.field(f, "resume", "Resume", QCheckBox("Continue the last fine-tuning"),
                   "Continue from the saved fine-tuned checkpoint instead of starting from the pruned model.")
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
        """The form's values with the slim-student widths as numbers (text the engine will name if it is wrong)."""
        values = self.field_values()
        text = str(values.get("student_widths") or "").replace(" ", "")
        try:
            values["student_widths"] = tuple(int(w) for w in text.split(",")) if text else None
        except ValueError:
            values["student_widths"] = (text,)
        return values

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
