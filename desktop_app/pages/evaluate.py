"""Step 5 — Evaluate: every model variant side by side (size, speed, quality), the Pareto chart, the HTML report."""

from __future__ import annotations

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
)

from desktop_app.forms import SettingsForm
from desktop_app.pages.base import Page
from desktop_app.widgets.charts import ParetoChart
from desktop_app.widgets.image_grid import ImageGrid
from desktop_app.widgets.layer_table import human

COLUMNS = [("name", "Model", "Which variant: dense, pruned, fine-tuned, or an exported precision."),
           ("params", "Params", "Number of weights."), ("macs", "MACs", "Multiply-adds to make one image."),
           ("file_bytes", "Size", "File size of the weights."),
           ("latency", "Latency", "Milliseconds to make one image (batch of 1) with ONNX Runtime, else PyTorch."),
           ("fid", "FID", "Distance between generated and real images in a digit classifier's feature space; "
                          "lower is better."),
           ("cond_accuracy", "Class acc.", "Class-conditional models: share of samples the classifier puts in the "
                                           "class that was asked for (higher is better)."),
           ("precision", "Precision", "Share of generated images that look like real ones (higher is better)."),
           ("recall", "Recall", "Share of the real variety the generator covers (higher is better)."),
           ("psnr_vs_teacher", "PSNR", "How close the images are to the dense model's on the same latents (dB).")]


# Image-to-image reports (superres, inpaint, sketch, pairs) are scored against the ground truth of held-out pairs.
IMAGE_COLUMNS = COLUMNS[:5] + [
    ("psnr", "PSNR vs truth", "How close the outputs are to the real images of the held-out test pairs (dB); the "
                              "bicubic row is the baseline for super-resolution."),
    ("ssim", "SSIM vs truth", "Structural similarity to the real images of the test pairs (1 = identical)."),
    ("fid", "FID", "Distance between the outputs and the real test images in a feature net's space; lower is better."),
    ("psnr_vs_teacher", "PSNR vs dense", "How close the outputs are to the dense model's for the same inputs (dB).")]


# Unpaired (CycleGAN) reports: no ground truth; translated test A against real test B, and the identity baseline.
UNPAIRED_COLUMNS = COLUMNS[:5] + [
    ("fid", "FID vs real B", "Distance between the translated test images and real images of the target set in a "
                             "feature net's space; lower is better. The identity row is the input itself."),
    ("cycle_l1", "Cycle error", "How far an output taken back through the dense B → A generator lands from its "
                                "input (mean absolute difference, images in [-1, 1])."),
    ("psnr_vs_teacher", "PSNR vs dense", "How close the outputs are to the dense model's for the same inputs (dB)."),
    ("ssim_vs_teacher", "SSIM vs dense", "Structural similarity to the dense model's outputs (1 = identical).")]


def columns_for(variants: list[dict]) -> list[tuple[str, str, str]]:
    if any(v.get("cycle_l1") is not None for v in variants):
        return UNPAIRED_COLUMNS
    return IMAGE_COLUMNS if any(v.get("psnr") is not None for v in variants) else COLUMNS


def _cell(key: str, v: dict) -> str:
    if key == "latency":
        lat = v.get("latency_ms") or {}
        for key, engine in (("ort_b1", "ONNX Runtime"), ("torch_b1", "PyTorch")):
            if isinstance(lat.get(key), (int, float)):
                return f"{lat[key]:.2f} ms ({engine})"
        return "—"
    if key == "name" and v.get("status") == "failed":
        return f"{v.get('name', '?')} (failed)"
    x = v.get(key)
    if x is None:
        return "—"
    if key == "file_bytes":
        return f"{x / 1e6:.2f} MB"
    if key == "cond_accuracy":
        return f"{100 * x:.1f} %"
    if key in ("params", "macs"):
        return human(x)
    if isinstance(x, float):
        text = f"{x:.3f}" if key in ("precision", "recall", "ssim", "ssim_vs_teacher", "cycle_l1") else f"{x:.2f}"
        std = v.get(f"{key}_std")
        return text + (f" ± {std:.2g}" if isinstance(std, float) and std > 0 else "")
    return str(x)


class EvaluatePage(Page):
    key = "evaluate"
    title = "Evaluate"
    subtitle = ("Compare every version of the model: how big, how fast, and how good its images are. The chart shows "
                "the trade-off; the report collects it all in one page you can share.")
    stage = "evaluate"
    start_text = "Evaluate"
    SETTINGS = ("samples", "seeds", "latency", "quick")

    def build(self) -> None:
        f = self.group("Evaluation")
        self.settings = SettingsForm(self)  # generated from EvaluateConfig's settings: the command line's defaults
        self.settings.add(f, "evaluate", self.SETTINGS)
        quick, samples = self._fields["quick"], self._fields["samples"]
        quick.toggled.connect(lambda on: samples.setEnabled(not on))
        self.open_button = QPushButton("Open report.html")
        self.open_button.setToolTip("Open the project's report (tables and plots) in your web browser.")
        self.open_button.clicked.connect(self.open_report)
        f.addRow("", self.open_button)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([c[1] for c in COLUMNS])
        for i, c in enumerate(COLUMNS):
            self.table.horizontalHeaderItem(i).setToolTip(c[2])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.chart = ParetoChart()
        self.grid = ImageGrid("Samples", "Each model's samples appear here while it is measured")
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(self.chart)
        bottom.addWidget(self.grid)
        bottom.setSizes([600, 300])
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(bottom)
        split.setSizes([300, 420])
        self.results_layout.addWidget(split)
        self.ctx.workspace_updated.connect(self.refresh)

    def on_samples(self, samples) -> None:
        self.grid.set_image(samples.image, f"{samples.label}: samples used for the numbers")

    def restore_options(self) -> None:
        super().restore_options()
        self._fields["samples"].setEnabled(not self._fields["quick"].isChecked())

    def blocker(self) -> str | None:
        ws = self.ctx.workspace
        if ws is not None and not self.ctx.facade.has_trained_model(ws):
            return "Train a model (or open the demo) first; there is nothing to evaluate yet."
        return None

    def values(self) -> dict:
        return self.settings.values()

    def make_job(self):
        return self.ctx.facade.evaluate_job(self.ctx.workspace, self.values())

    def clear_results(self) -> None:
        self.grid.clear()

    def on_workspace(self, ws) -> None:
        self.refresh()

    def refresh(self) -> None:
        ws = self.ctx.workspace
        report = self.ctx.facade.report(ws) if ws is not None else None
        variants = (report or {}).get("variants", [])
        columns = columns_for(variants)
        if self.table.columnCount() != len(columns) or self.table.horizontalHeaderItem(5).text() != columns[5][1]:
            self.table.setColumnCount(len(columns))
            self.table.setHorizontalHeaderLabels([c[1] for c in columns])
            for i, c in enumerate(columns):
                self.table.horizontalHeaderItem(i).setToolTip(c[2])
        self.table.setRowCount(len(variants))
        for i, v in enumerate(variants):
            for j, (key, _, _) in enumerate(columns):
                item = QTableWidgetItem(_cell(key, v))
                if v.get("error"):
                    item.setToolTip(str(v["error"]))
                if j:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(i, j, item)
        conditional = any(v.get("cond_accuracy") is not None for v in variants)
        for j, (key, _, _) in enumerate(columns):  # by key: the image tables have another column at that place
            self.table.setColumnHidden(j, key == "cond_accuracy" and not conditional)
        self.chart.set_variants(variants)
        has_html = ws is not None and self.ctx.facade.report_html(ws) is not None
        self.open_button.setEnabled(has_html)
        if not has_html:
            self.open_button.setToolTip("Run Evaluate first; it writes report.html into the project.")

    def open_report(self) -> None:
        path = self.ctx.facade.report_html(self.ctx.workspace) if self.ctx.workspace else None
        if path is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))
