"""Step 6 — Export: the newest model as ONNX files in the chosen precisions, each measured (size, speed, error)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
)

from desktop_app.facade import PRECISIONS
from desktop_app.forms import SettingsForm
from desktop_app.pages.base import Page

COLUMNS = ("Precision", "File", "Size", "Latency b1", "Latency b64", "Difference")


class ExportPage(Page):
    key = "export"
    title = "Export"
    subtitle = ("Save the newest model (fine-tuned, else pruned, else trained) as ONNX files that run anywhere with "
                "ONNX Runtime — no PyTorch needed. Smaller precisions make smaller, often faster files.")
    stage = "export"
    start_text = "Export"
    SETTINGS = ("calibration", "subpixel", "bench_runs")

    def build(self) -> None:
        f = self.group("Precisions")
        for key, text, tip, checked in PRECISIONS:
            box = QCheckBox(text)
            box.setChecked(checked)
            self.field(f, f"p_{key}", "", box, tip)
        f = self.group("Options")
        self.settings = SettingsForm(self)  # the plain numbers and switches, generated from ExportConfig's settings
        self.settings.add(f, "export", self.SETTINGS)
        self.show_button = QPushButton("Show in folder")
        self.show_button.setToolTip("Open the project's export folder in your file manager.")
        self.show_button.clicked.connect(self.show_in_folder)
        f.addRow("", self.show_button)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setWordWrap(False)
        self.note = QLabel("Latency: milliseconds per forward pass with ONNX Runtime on this computer's CPU.")
        self.note.setStyleSheet("color: #5f6368;")
        self.results_layout.addWidget(self.table, 1)
        self.results_layout.addWidget(self.note)
        self.ctx.workspace_updated.connect(self.refresh)

    def values(self) -> dict:
        v = self.field_values()
        return {"precisions": [p[0] for p in PRECISIONS if v[f"p_{p[0]}"]], **self.settings.values()}

    def blocker(self) -> str | None:
        ws = self.ctx.workspace
        if ws is not None and not self.ctx.facade.has_trained_model(ws):
            return "Train a model (or open the demo) first; there is nothing to export yet."
        return None

    def make_job(self):
        return self.ctx.facade.export_job(self.ctx.workspace, self.values())

    def on_workspace(self, ws) -> None:
        """The project's last export, and only the options that apply to its kind of model."""
        project = self.ctx.project
        task = project.task if project is not None else "unconditional"
        self.show_field("subpixel", self.ctx.facade.applies("export", "subpixel", task))
        image = self.ctx.facade.takes_image(task)
        self._fields["calibration"].setSuffix(" training images" if image else " random inputs")
        self.refresh()

    def on_artifact(self, artifact) -> None:
        self.refresh()

    def refresh(self) -> None:
        ws = self.ctx.workspace
        results = self.ctx.facade.export_results(ws) if ws is not None else {}
        self.table.setRowCount(len(results))
        for i, (precision, r) in enumerate(results.items()):
            lat = r.get("latency_ms") or {}
            cells = [precision + (" (reference)" if r.get("reference_only") else ""), Path(str(r.get("path", ""))).name,
                     f"{r.get('bytes', 0) / 1e6:.2f} MB", _ms(lat.get("ort_b1")), _ms(lat.get("ort_b64")), _error(r)]
            for j, c in enumerate(cells):
                item = QTableWidgetItem(c)
                if j >= 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(i, j, item)

    def show_in_folder(self) -> None:
        if self.ctx.workspace is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.ctx.workspace.export_dir)))


def _ms(x) -> str:
    return f"{x:.2f} ms" if isinstance(x, (int, float)) else "—"


def _error(r: dict) -> str:
    """PSNR of a smaller precision against fp32, or fp32's largest difference from PyTorch."""
    if "psnr_vs_fp32" in r:
        return "identical to fp32" if r["psnr_vs_fp32"] is None else f"PSNR {r['psnr_vs_fp32']:.1f} dB vs fp32"
    if isinstance(r.get("parity"), (int, float)):
        return f"max diff {r['parity']:.0e} vs PyTorch"
    return "—"
