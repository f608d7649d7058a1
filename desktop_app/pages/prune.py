"""Step 3 — Prune: pick layers, a method, criterion, scope and amount (or a MACs budget), preview the savings,
scan each layer's sensitivity, and run it."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app.facade import CRITERIA, PRUNE_KINDS, SCANNABLE_METHODS, prune_choice
from desktop_app.forms import SettingsForm
from desktop_app.pages.base import Page
from desktop_app.widgets.charts import SensitivityChart
from desktop_app.widgets.image_grid import ImageGrid
from desktop_app.widgets.layer_table import LayerTable, human

UPDATING = " <i>(updating…)</i>"


class PrunePage(Page):
    preview_ready = Signal()  # the savings preview was recomputed (off the UI thread)
    key = "prune"
    title = "Prune"
    subtitle = ("Remove the parts of the trained model that matter least. Channel pruning makes G smaller AND faster; "
                "weight pruning makes files smaller. Fine-tune afterwards to win back quality.")
    stage = "prune"
    start_text = "Prune"

    def build(self) -> None:
        self._job_kind = "prune"
        f = self.group("What to prune")
        self.target = self.field(f, "target", "Network", self.combo([("Generator (G)", "g"), ("Discriminator (D)", "d"),
                                                                     ("Both G and D", "gd")], "g"),
                                 "Which network loses parts. G is what you ship; pruning D too keeps the two balanced.")
        self.kind = self.field(f, "kind", "Remove", self.combo(list(PRUNE_KINDS), "channels"),
                               "Channels: whole feature maps go, so the model really runs faster. Weights: single "
                               "numbers are zeroed, so the file compresses. Blocks: whole residual blocks go.")
        self.criterion = self.field(f, "criterion", "Criterion", self.combo([]),
                                    "How to decide what matters least. L1 (smallest weights first) is a solid default.")
        self.scope = self.field(f, "scope", "Scope", self.combo([("Each layer by the same share", "layer"),
                                                                 ("Across all layers at once", "global")], "layer"),
                                "Per layer removes the same share everywhere; across layers removes the least "
                                "important parts wherever they are.")
        self.settings = SettingsForm(self)  # generated from PruneConfig's settings: the command line's defaults
        self.settings.add(f, "prune", ("amount", "match_d"))
        self.amount, self.match_d = self._fields["amount"], self._fields["match_d"]
        f = self.group("Automatic (MACs budget)")
        self.auto = self.field(f, "auto", "Automatic", QCheckBox("Choose the amount per layer for me"),
                               "Scans how sensitive each layer is, then prunes each layer just enough to meet the "
                               "budget with the least change to the images.")
        self.budget = QSlider(Qt.Orientation.Horizontal)
        self.budget.setRange(10, 95)
        self.budget.setValue(50)
        self.budget_label = QLabel("")
        self.field(f, "target_macs", "Keep MACs", self.budget,
                   "The share of G's multiply-adds to keep. 50 % roughly halves the time to make an image.")
        f.addRow("", self.budget_label)
        f = self.group("Schedule")
        self.schedule = self.field(f, "schedule", "Schedule",
                                   self.combo([("One shot", "oneshot"), ("Gradual (several rounds)", "iterative"),
                                               ("Lottery ticket (rewind weights)", "lottery")], "oneshot"),
                                   "One shot prunes at once. Gradual prunes in rounds with a little fine-tuning "
                                   "between them. Lottery ticket rewinds the surviving weights (weight pruning).")
        self.settings.add(f, "prune", ("rounds", "finetune_steps", "seed"))
        self.rounds, self.ft_steps, self.seed = (self._fields[k] for k in ("rounds", "finetune_steps", "seed"))

        self._build_results()
        self._connect_form()

    def _build_results(self) -> None:
        """The G and D layer tables, the savings preview, the sensitivity chart and the pruned model's samples."""
        self.tables = {"g": LayerTable("g"), "d": LayerTable("d")}
        self.tabs = QTabWidget()
        self.tabs.addTab(self.tables["g"], "Generator layers")
        self.tabs.addTab(self.tables["d"], "Discriminator layers")
        self.preview = QLabel("")
        self.preview.setObjectName("prunePreview")
        self.preview.setWordWrap(True)
        self.preview.setStyleSheet("QLabel#prunePreview { background: palette(alternate-base); padding: 8px; "
                                   "border-radius: 6px; }")
        self.chart = SensitivityChart()
        self.scan_button = QPushButton("Scan sensitivity")
        self.scan_button.setToolTip("Prune each G layer alone at 10 %…90 % and measure how much the images change. "
                                    "Takes a few seconds for small models.")
        self.scan_button.clicked.connect(self.start_scan)
        self.grid = ImageGrid("Pruned model's samples", "Samples of the pruned model appear here")
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.tabs, 3)
        ll.addWidget(self.preview)
        bottom = QWidget()
        bl = QHBoxLayout(bottom)
        bl.setContentsMargins(0, 0, 0, 0)
        chart_box = QWidget()
        cl = QVBoxLayout(chart_box)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addWidget(self.chart, 1)
        cl.addWidget(self.scan_button, 0, Qt.AlignmentFlag.AlignLeft)
        bl.addWidget(chart_box, 3)
        bl.addWidget(self.grid, 2)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(left)
        split.addWidget(bottom)
        split.setSizes([420, 300])
        self.results_layout.addWidget(split)

    def _connect_form(self) -> None:
        """Preview after the user stops editing; criteria follow the kind; controls follow the options."""
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(300)  # preview after the user stops dragging, not on every tick
        self._preview_timer.timeout.connect(self.update_preview)
        self.kind.currentIndexChanged.connect(self._fill_criteria)
        self._fill_criteria()
        for t in self.tables.values():
            t.selection_changed.connect(self.validate)
        self.auto.toggled.connect(self._sync)
        self.schedule.currentIndexChanged.connect(self._sync)
        self.budget.valueChanged.connect(self._sync)
        self.ctx.workspace_updated.connect(self.refresh_tables)
        self.ctx.calls.result.connect(self._on_call_result)
        self.ctx.calls.error.connect(self._on_call_error)

    # ---- form ---------------------------------------------------------------------------------------------------
    def _fill_criteria(self) -> None:
        kind = self.kind.currentData() or "channels"
        current = self.criterion.currentData()
        self.criterion.blockSignals(True)
        self.criterion.clear()
        for criterion, label in CRITERIA[kind].items():
            self.criterion.addItem(label, criterion)
        i = self.criterion.findData(current)
        self.criterion.setCurrentIndex(max(0, i))
        self.criterion.blockSignals(False)
        self._sync()

    def _sync(self) -> None:
        auto = self.auto.isChecked()
        self.budget.setEnabled(auto)
        self.budget_label.setText(f"keep {self.budget.value()} % of G's MACs")
        self.amount.setEnabled(not auto)
        gradual = self.schedule.currentData() != "oneshot"
        self.rounds.setEnabled(gradual)
        self.ft_steps.setEnabled(gradual)
        self.match_d.setEnabled(self.kind.currentData() == "channels")
        self.scope.setEnabled(self.kind.currentData() != "blocks")

    def values(self) -> dict:
        v = {**self.field_values(), **self.settings.values()}
        kind, crit = v["kind"] or "channels", v["criterion"] or "l1"
        layers = [f"{role}:{n}" for role, t in self.tables.items() if role in v["target"]
                  for n in t.checked_layers()]
        choice = prune_choice(kind, crit)
        return {"method": choice["method"], "amount": v["amount"],
                "scope": v["scope"], "target": v["target"], "layers": layers or None, "schedule": v["schedule"],
                "rounds": v["rounds"], "finetune_steps": v["finetune_steps"],
                "rewind_step": min(10, v["finetune_steps"]),
                "target_macs": v["target_macs"] / 100 if v["auto"] else None,
                "match_d": bool(v["match_d"]) and kind == "channels",
                "block_criterion": choice.get("block_criterion", "l1"), "seed": v["seed"]}

    def validate(self) -> None:
        super().validate()
        if hasattr(self, "_preview_timer"):
            self._preview_timer.start()

    def blocker(self) -> str | None:
        ws = self.ctx.workspace
        if ws is not None and not self.ctx.facade.has_trained_model(ws):
            return "Train a model (or open the demo) first; there is nothing to prune yet."
        return None

    def refresh_state(self) -> None:
        super().refresh_state()
        if hasattr(self, "scan_button"):
            blocked = self.start_blocker()
            self.scan_button.setEnabled(blocked is None or blocked == self._validation_error)
            self.scan_button.setToolTip(blocked or "Prune each G layer alone and measure how much the images change.")

    # ---- results ------------------------------------------------------------------------------------------------
    def clear_results(self) -> None:
        self.grid.clear()
        self.chart.clear()
        self.preview.setText("")
        self.result_text = ""
        self._ran = "prune"
        for t in self.tables.values():
            t.set_rows([], None)

    def clears_on_start(self) -> bool:
        return False  # the layer tables and their ticks stay; a prune run replaces only its samples

    def result_stage(self) -> str:
        return getattr(self, "_ran", "prune")  # the scan's end must not show the last pruning's result again

    def before_start(self) -> None:
        self._ran = self._job_kind
        if self._job_kind == "prune":
            self.grid.clear()

    def on_workspace(self, ws) -> None:
        self.refresh_tables(force=True)
        sample = self.ctx.project.sample_file("prune") if self.ctx.project is not None else None
        if sample is not None:
            self.grid.show_file(sample, "the pruned model saved in this project")

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        if getattr(self, "_tables_stale", False):
            self.refresh_tables()

    def refresh_tables(self, force: bool = False) -> None:
        """Reload the layer tables from the project's checkpoints. Loading models takes a moment, so a hidden
        page only marks itself stale and reloads when it is shown."""
        ws = self.ctx.workspace
        if ws is None or self.ctx.jobs.busy and self.running:
            return
        if not force and not self.isVisible():
            self._tables_stale = True
            return
        self._tables_stale = False
        try:
            tables = self.ctx.facade.layer_tables(ws)
            sens = self.ctx.facade.sensitivity_results(ws)
        except Exception as e:  # a damaged checkpoint: say so in place of the table
            self.preview.setText(f"Cannot read the project's models: {e}")
            return
        dense, pruned = tables.get("dense"), tables.get("pruned")
        for role, t in self.tables.items():
            t.set_rows(dense[role] if dense else [], pruned[role] if pruned else None)
        self.chart.set_results(sens)
        self._preview_timer.start()

    def update_preview(self) -> None:
        ws = self.ctx.workspace
        if ws is None or self._validation_error or not self.ctx.facade.has_trained_model(ws):
            self.preview.setText("Open a project with a trained model to preview the savings.")
            return
        v = self.values()
        if v["target_macs"] is not None:
            self.preview.setText(f"<b>Automatic:</b> each G layer will be pruned just enough to keep about "
                                 f"{v['target_macs']:.0%} of G's MACs (a sensitivity scan runs first).")
            return
        shown = self.preview.text().replace(UPDATING, "")
        self.preview.setText(shown + UPDATING if shown else "Computing the preview…")
        facade = self.ctx.facade
        self.ctx.calls.request("prune-preview", lambda: facade.prune_preview(ws, v))

    def _on_call_error(self, tag: str, failure) -> None:
        if tag == "prune-preview":
            self.preview.setText(f"No preview: {failure.message}")
            self.preview_ready.emit()

    def _on_call_result(self, tag: str, p) -> None:
        if tag != "prune-preview":
            return
        parts = []
        for role, name in (("g", "G"), ("d", "D")):
            b, a = p[role]["before"], p[role]["after"]
            if a == b:
                continue
            nz = (f", nonzero {human(a['nonzero_params'])} ({a['nonzero_params'] / b['params']:.0%})"
                  if a["nonzero_params"] != a["params"] else "")
            parts.append(f"<b>{name}</b>: params {human(b['params'])} → {human(a['params'])} "
                         f"({a['params'] / b['params']:.0%}){nz}; MACs {human(b['macs'])} → {human(a['macs'])} "
                         f"({a['macs'] / max(1, b['macs']):.0%})")
        self.preview.setText("<b>Preview</b> (nothing is saved yet): " + ("<br>".join(parts) or "no change"))
        self.last_preview = p
        self.preview_ready.emit()

    # ---- jobs ---------------------------------------------------------------------------------------------------
    def start_scan(self) -> None:
        self._job_kind = "sensitivity"
        try:
            self.on_start()
        finally:
            self._job_kind = "prune"

    def make_job(self):
        v = self.values()
        if self._job_kind == "sensitivity":
            method = v["method"] if v["method"] in SCANNABLE_METHODS else "channel-l1"
            layers = tuple(n[2:] for n in (v["layers"] or []) if n.startswith("g:")) or None
            return self.ctx.facade.sensitivity_job(self.ctx.workspace, {"method": method, "layers": layers,
                                                                        "seed": v["seed"]})
        return self.ctx.facade.prune_job(self.ctx.workspace, v)

    def on_samples(self, samples) -> None:
        self.grid.set_image(samples.image, "pruned model: input → output → target" if "→" in samples.label
                            else "pruned model, same latents as the dense one")

    def on_metrics(self, metrics: list) -> None:
        last = metrics[-1].values
        if "params_ratio" in last:
            self.result_text = (f"G now has {last['params_ratio']:.0%} of its parameters and {last['macs_ratio']:.0%} "
                                f"of its MACs; teacher-PSNR {last['teacher_psnr']:.1f} dB.")
            self.progress_label.setText(self.result_text)

    def on_job_finished(self, status: str) -> None:  # the tables refresh through ctx.workspace_updated
        if status == "done" and getattr(self, "result_text", ""):
            self.progress_label.setText("Finished. " + self.result_text)
