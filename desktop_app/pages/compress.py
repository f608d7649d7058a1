"""Compress — prune and fine-tune in one go: the smallest generator that keeps quality, found within a time budget."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
)

from desktop_app.pages.base import Page, side_by_side
from desktop_app.widgets.charts import ParetoChart
from desktop_app.widgets.image_grid import ImageGrid
from desktop_app.widgets.layer_table import human

COLUMNS = [("reduction", "Asked", "How many times fewer MACs this candidate was pruned to."),
           ("macs", "MACs", "Multiply-adds to make one image."), ("params", "Params", "Number of weights."),
           ("probe_fid", "FID (probe)", "Quick FID on held-out latents after distillation; lower is better."),
           ("fid_rise", "vs teacher", "How much worse than the dense model's FID on the same latents."),
           ("feasible", "Keeps quality", "Within the quality budget you set."),
           ("steps", "Steps", "Distillation steps this candidate got."),
           ("latency_ms", "ms / image", "PyTorch on the CPU, one thread, batch 64.")]


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
        self.field(f, "max_fid_rise", "Quality budget", self.dspin(0.0, 10.0, 0.10, 0.01, 2),
                   "How much FID may rise over the dense model's: 0.10 = at most 10 % worse.")
        goal = self.spin(0, 1000, 0, 2, "x fewer MACs")
        goal.setSpecialValueText("none: as small as possible")
        self.field(f, "goal", "Size goal", goal,
                   "Stop as soon as a model this many times smaller keeps quality. 0: as small as possible.")
        self.field(f, "time_budget", "Time budget", self.dspin(0.1, 1440.0, 15.0, 1.0, 1),
                   "Minutes for the whole search, including extra training of the winner.")
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

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([c[1] for c in COLUMNS])
        for i, (_, _, tip) in enumerate(COLUMNS):
            self.table.horizontalHeaderItem(i).setToolTip(tip)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
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
        self.results_layout.addWidget(split)
        self._rows: list[dict] = []

    def field_values(self) -> dict:
        values = dict(super().field_values())
        goal = values.pop("goal", 0)
        values["target_macs"] = (1.0 / goal) if goal and goal > 1 else None
        return values

    def blocker(self) -> str | None:
        ws = self.ctx.workspace
        if ws is not None and not self.ctx.facade.has_trained_model(ws):
            return "Train a model first (or open the demo); compressing starts from the trained model."
        return None

    def make_job(self):
        return self.ctx.facade.compress_job(self.ctx.workspace, self.field_values())

    def on_workspace(self, ws) -> None:
        """A reopened project shows its last search."""
        self.before_start()
        for c in self.ctx.facade.compress_results(ws) if ws is not None else []:
            self._add_row({k: c.get(k) for k in [*(k for k, _, _ in COLUMNS), "round", "process"]})

    def before_start(self) -> None:
        self._rows.clear()
        self.table.setRowCount(0)
        self.chart.clear()

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
            r = keys.index(key)
            self._rows[r] = row
        else:
            self._rows.append(row)
            r = self.table.rowCount()
            self.table.insertRow(r)
        for c, (key, _, _) in enumerate(COLUMNS):
            v = row.get(key)
            if v is None:
                text = "—"
            elif key == "reduction":
                text = f"{v:g}x"
            elif key == "feasible":
                text = "yes" if v else "no"
            elif key == "fid_rise":
                text = f"{v:+.1%}" if v is not None else "—"
            elif key in ("macs", "params"):
                text = human(v)
            else:
                text = "—" if v is None else f"{v:,.4g}"
            self.table.setItem(r, c, QTableWidgetItem(text))
        self.chart.set_variants([{"name": f"{x['reduction']:g}x", "macs": x.get("macs"), "fid": x.get("probe_fid")}
                                 for x in self._rows if x.get("reduction") is not None])

    def on_samples(self, samples) -> None:
        target = self.teacher if samples.label == "teacher" else self.student
        target.set_image(samples.image, samples.label if samples.label != "teacher" else "")
