"""Compress — prune and fine-tune in one go: the smallest generator that keeps quality, found within a time budget."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
)

from desktop_app.pages.base import Page, duration, side_by_side
from desktop_app.widgets.charts import ParetoChart
from desktop_app.widgets.image_grid import ImageGrid
from desktop_app.widgets.layer_table import human
from desktop_app.widgets.result_panel import ResultPanel

COLUMNS = [("reduction", "Model", "How many times fewer MACs this candidate was pruned to; the first row is the dense "
                                 "model the search started from."),
           ("macs", "MACs", "Multiply-adds to make one image."), ("params", "Params", "Number of weights."),
           ("probe_fid", "FID (probe)", "Quick FID on held-out latents after distillation; lower is better."),
           ("fid_rise", "vs dense", "How much worse than the dense model's FID on the same latents."),
           ("feasible", "Keeps quality", "Within the quality budget you set."),
           ("steps", "Steps", "Distillation steps this candidate got."),
           ("latency_ms", "ms / image", "PyTorch on the CPU, one thread, batch 64.")]
WINNER = QColor("#d7f0dc")  # the winner's row
REFERENCE = QColor("#eeeeee")  # the dense model's row


class CompressPage(Page):
    key = "compress"
    title = "Compress"
    subtitle = ("Prune and fine-tune in one go. Say how much quality you may lose and how long to search; the studio "
                "tries smaller and smaller generators, teaches each one from the dense model, and keeps the smallest "
                "that stays within your budget. Evaluate and Export then use it.")
    stage = "compress"
    start_text = "Start compressing"

    def build(self) -> None:
        f = self.group("Goal")
        self.field(f, "quality_budget", "Quality may drop by", self.dspin(0.0, 1000.0, 10.0, 5.0, 0, " %", "+"),
                   "How much worse the small model's FID may be than the dense model's: +10 % allows an FID 10 % "
                   "higher. 0 % keeps the quality exactly.")
        goal = self.spin(0, 1000, 0, 2, "x fewer multiply-adds")
        goal.setSpecialValueText("none: as small as possible")
        self.field(f, "goal", "Size goal", goal,
                   "Stop as soon as a model this many times smaller keeps quality. 0: as small as possible.")
        self.field(f, "time_budget", "Time budget", self.dspin(0.1, 1440.0, 15.0, 1.0, 1, " min"),
                   "How long the whole search may take, including extra training of the winner.")
        f = self.group("Run")
        self.field(f, "allocation", "How to cut", self.combo([("The same share of every layer", "uniform"),
                                                             ("Per layer, from a sensitivity scan", "sensitivity")],
                                                            "uniform"),
                   "Which layers lose channels. The same share everywhere measured better after distillation.")
        self.field(f, "adversarial", "Discriminator weight", self.dspin(0.0, 100.0, 0.0, 0.1, 2),
                   "How much a discriminator's verdict counts next to the teacher while each candidate learns. "
                   "0 = from the teacher alone (measured best, and about twice as many steps in the same time).")
        self.field(f, "discriminator", "Discriminator", self.combo([("The dense model's, full size", "teacher"),
                                                                    ("Cut to the generator's share", "match")],
                                                                   "teacher"),
                   "What judges the small generator's images when the discriminator weight is above 0. The dense "
                   "model's own measured best; cutting it to the generator's share is the other choice (GCC).")
        self.field(f, "device", "Device", self.combo([("Automatic (GPU if present)", "auto"), ("CPU", "cpu"),
                                                      ("CUDA GPU", "cuda")], "auto"), "Where to train.")
        self.field(f, "processes", "Processes", self.spin(1, 64, 1),
                   "Try several sizes at once, one per process: one per GPU, or CPU processes (on a CPU, each "
                   "process gets its share of the cores). The table fills a round at a time; the progress bar "
                   "follows the first process.")
        self.field(f, "seed", "Seed", self.spin(0, 2**31 - 1, 0), "Fixes all randomness of this run.")
        self._build_results()

    def _build_results(self) -> None:
        """The outcome panel, the candidate table beside the cost-vs-quality chart, the teacher's and the
        candidate's samples."""
        self.panel = ResultPanel()
        self.panel.go_to.connect(self.ctx.go_to_page)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([c[1] for c in COLUMNS])
        for i, (_, _, tip) in enumerate(COLUMNS):
            self.table.horizontalHeaderItem(i).setToolTip(tip)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        # headers whole (a narrow window scrolls the table rather than cutting "Keeps quality" to "eps qual")
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.chart = ParetoChart()
        self.teacher = ImageGrid("Teacher (dense)", "The dense model's samples")
        self.student = ImageGrid("Candidate", "The candidate being taught, same latents")
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(side_by_side(self.table, self.chart, stretches=(3, 2)))
        split.addWidget(side_by_side(self.teacher, self.student))
        split.setSizes([300, 420])
        self.results_layout.addWidget(self.panel)
        self.results_layout.addWidget(split, 1)
        self._rows: list[dict] = []
        self._reference: dict | None = None
        self._winner: dict | None = None

    def field_values(self) -> dict:
        values = dict(super().field_values())
        goal = values.pop("goal", 0)
        values["target_macs"] = (1.0 / goal) if goal and goal > 1 else None
        values["max_fid_rise"] = values.pop("quality_budget", 10.0) / 100
        return values

    def blocker(self) -> str | None:
        ws = self.ctx.workspace
        if ws is not None and not self.ctx.facade.has_trained_model(ws):
            return "Train a model first (or open the demo); compressing starts from the trained model."
        return None

    def make_job(self):
        return self.ctx.facade.compress_job(self.ctx.workspace, self.field_values())

    def progress_text(self, p) -> list[str]:
        """The search's progress counts seconds of its time budget, not steps."""
        parts = [f"{duration(p.step)} of {duration(p.total)}"]
        if p.message:
            parts.append(p.message)
        return parts

    # ---- results ------------------------------------------------------------------------------------------------
    def clear_results(self) -> None:
        self._rows.clear()
        self._reference = self._winner = None
        self.table.setRowCount(0)
        self.chart.clear()
        self.teacher.clear()
        self.student.clear()
        self.panel.clear()

    def on_workspace(self, ws) -> None:
        """A reopened project shows its last search: the outcome, the table and the samples."""
        self._show_outcome()

    def run_outcome(self, status: str) -> tuple[str, str]:
        outcome = self.ctx.project.compress if self.ctx.project is not None else None
        if status == "done" and outcome is not None and not outcome.found:
            return "empty", "Finished without a result: " + outcome.headline[0].lower() + outcome.headline[1:]
        return super().run_outcome(status)

    def on_job_finished(self, status: str) -> None:
        if status != "failed":
            self._show_outcome()

    def _show_outcome(self) -> None:
        """The search on disk: the result panel, the dense model as the reference row, every candidate, the winner
        highlighted, and the samples it saved."""
        project = self.ctx.project
        outcome = project.compress if project is not None else None
        if outcome is None:
            return
        self._rows.clear()
        self.table.setRowCount(0)
        self._reference, self._winner = outcome.reference, outcome.winner
        for c in outcome.candidates:
            self._add_row({k: c.get(k) for k in [*(k for k, _, _ in COLUMNS), "round", "process"]})
        steps = (("evaluate", "Evaluate it"), ("export", "Export it")) if outcome.found else ()
        self.panel.show_outcome(outcome.found, outcome.headline, outcome.details, steps)
        sample = project.sample_file("compress")
        if outcome.found and sample is not None and not self.student.has_image():
            self.student.show_file(sample, "the winner")

    def on_metrics(self, metrics: list) -> None:
        for m in metrics:
            if m.values.get("candidate"):
                self._add_row(dict(m.values))

    def _add_row(self, row: dict) -> None:
        """A new candidate, or one trained on after the search settled (same round and process: its row is
        replaced with the new numbers)."""
        key = (row.get("round"), row.get("process")) if row.get("round") else None
        keys = [(x.get("round"), x.get("process")) if x.get("round") else None for x in self._rows]
        if key is not None and key in keys:
            self._rows[keys.index(key)] = row
        else:
            self._rows.append(row)
        self._redraw_table()

    def _is_winner(self, row: dict) -> bool:
        w = self._winner
        return w is not None and all(row.get(k) == w.get(k) for k in ("reduction", "round", "process"))

    def _redraw_table(self) -> None:
        rows = ([self._reference] if self._reference else []) + self._rows
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            shade = REFERENCE if row.get("reference") else WINNER if self._is_winner(row) else None
            for c, (key, _, _) in enumerate(COLUMNS):
                item = QTableWidgetItem(_cell(key, row))
                if shade is not None:
                    item.setBackground(QBrush(shade))
                if self._is_winner(row):
                    font = QFont(item.font())
                    font.setBold(True)
                    item.setFont(font)
                    item.setToolTip("The winner: the smallest model that kept quality; the project now uses it.")
                self.table.setItem(r, c, item)
        names = {id(x): _name(x) for x in rows}
        self.chart.set_variants([{"name": names[id(x)], "macs": x.get("macs"), "fid": x.get("probe_fid")}
                                 for x in rows if x.get("reduction") is not None],
                                highlight=next((names[id(x)] for x in rows if self._is_winner(x)), None))

    def on_samples(self, samples) -> None:
        target = self.teacher if samples.label == "teacher" else self.student
        target.set_image(samples.image, samples.label if samples.label != "teacher" else "")


def _name(row: dict) -> str:
    return "dense" if row.get("reference") else f"{row['reduction']:g}x"


def _cell(key: str, row: dict) -> str:
    v = row.get(key)
    if key == "reduction":
        return "dense (reference)" if row.get("reference") else "—" if v is None else f"{v:g}x fewer"
    if key in ("feasible", "steps") and row.get("reference"):
        return ""
    if v is None:
        return "—"
    if key == "feasible":
        return "yes" if v else "no"
    if key == "fid_rise":
        return f"{v:+.1%}"
    if key in ("macs", "params"):
        return human(v)
    return f"{v:,.4g}"
