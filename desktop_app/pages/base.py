"""What every step page shares: a titled form with tooltips and inline validation, Start / Cancel, a progress bar
with ETA and steps/s, and a results area. Subclasses fill the form and the results and say how to start."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop_app.context import StudioContext
from desktop_app.outcomes import in_window_words, stage_outcome
from desktop_app.widgets.result_panel import ResultPanel


def duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds:
        return "estimating…"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    m, s = divmod(seconds, 60)
    if m < 60:
        return f"{m} min {s:02d} s" if s else f"{m} min"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


class Page(QWidget):
    key = "page"  # settings key and --page name
    title = "Page"
    subtitle = ""
    stage = ""  # facade stage used for availability and validation
    start_text = "Start"

    def __init__(self, ctx: StudioContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._fields: dict[str, QWidget] = {}
        self._rows: dict[str, tuple[QFormLayout, QWidget]] = {}  # the form row of each field (show_field)
        self._running = False
        self._validation_error: str | None = None
        self.outcome: str | None = None  # how the page's last run ended (run_outcome), None before any

        title, sub, scroll = self._build_form_area()
        self._build_controls()
        self._lay_out(title, sub, scroll)

        self.build()
        if not hasattr(self, "panel"):  # every step ends with its result in words (Compress builds its own)
            self.panel = ResultPanel()
            self.panel.go_to.connect(ctx.go_to_page)
            self.results_layout.insertWidget(0, self.panel)
        self._failure: str | None = None  # the one sentence of the running job's error
        self._started_at: float | None = None
        self.form_layout.addStretch(1)  # groups keep their natural height; space collects below them
        self.restore_options()
        for w in self._fields.values():
            _on_change(w, self.validate)
        jobs = ctx.jobs
        jobs.busy_changed.connect(lambda _busy: self.refresh_state())
        jobs.progress.connect(self._on_progress)
        jobs.metrics.connect(lambda m: self._running and self.on_metrics(m))
        jobs.samples.connect(lambda s: self._running and self.on_samples(s))
        jobs.artifact.connect(lambda a: self._running and self.on_artifact(a))
        jobs.failed.connect(lambda f: setattr(self, "_failure", f.message) if self._running else None)
        jobs.finished.connect(self._on_finished)
        ctx.workspace_changed.connect(self._on_workspace)
        self.validate()

    # ---- building the page -------------------------------------------------------------------------------------
    def _build_form_area(self) -> tuple[QLabel, QLabel, QScrollArea]:
        """The title, the subtitle and the scrolling form that build() fills."""
        title = QLabel(self.title)
        title.setObjectName("pageTitle")
        title.setStyleSheet("font-size: 18pt; font-weight: 600;")
        sub = QLabel(self.subtitle)
        sub.setWordWrap(True)
        sub.setStyleSheet("color: #5f6368;")

        self.form_box = QWidget()
        self.form_layout = QVBoxLayout(self.form_box)
        self.form_layout.setContentsMargins(0, 0, 8, 0)
        self.form_layout.setSpacing(10)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.form_box)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setMinimumWidth(360)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        return title, sub, scroll

    def _build_controls(self) -> None:
        """The validation line, Start, Cancel and the progress bar with its label."""
        self.error_label = QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setObjectName("validation")
        self.error_label.setStyleSheet("color: #c0392b;")
        self.error_label.hide()

        self.start_button = QPushButton(self.start_text)
        self.start_button.setObjectName("start")
        self.start_button.setDefault(True)
        self.start_button.setMinimumHeight(32)
        self.start_button.setStyleSheet("QPushButton#start { font-weight: 600; padding: 4px 18px; }")
        self.start_button.clicked.connect(self.on_start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the running job after its current step; what it made so far is kept.")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setMinimumHeight(32)
        self.cancel_button.clicked.connect(self.ctx.jobs.cancel)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress_label = QLabel("Ready.")
        self.progress_label.setStyleSheet("color: #5f6368;")

    def _lay_out(self, title: QLabel, sub: QLabel, scroll: QScrollArea) -> None:
        """Form on the left, results on the right, the buttons and progress below."""
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.progress, 1)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(scroll, 1)
        left_layout.addWidget(self.error_label)

        self.results = QWidget()
        self.results_layout = QVBoxLayout(self.results)
        self.results_layout.setContentsMargins(8, 0, 0, 0)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.results)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([390, 800])

        root = QVBoxLayout(self)
        root.setContentsMargins(18, 14, 18, 12)
        root.setSpacing(8)
        root.addWidget(title)
        root.addWidget(sub)
        root.addWidget(splitter, 1)
        root.addLayout(buttons)
        root.addWidget(self.progress_label)

    # ---- for subclasses ---------------------------------------------------------------------------------------
    def build(self) -> None:
        """Add form groups and result widgets."""

    def make_job(self):
        """Return make_events(cancel) from the facade (may raise UserError: shown as a dialog); by default the
        page's stage (engine.stages) run with values() as its config."""
        return self.ctx.facade.stage_job(self.stage, self.ctx.workspace, self.values())

    def values(self) -> dict[str, Any]:
        """The form's values, as the facade's config for this stage expects them."""
        return self.field_values()

    def blocker(self) -> str | None:
        """Why Start cannot be pressed now (beyond 'no workspace' / 'another job'), or None."""
        return None

    def on_workspace(self, ws) -> None:
        """Another project was opened: show what it holds on disk (clear_results ran just before)."""

    def clear_results(self) -> None:
        """Forget everything the page shows of a project: curves, grids, tables, texts (before another project's
        results are read from disk, and before a fresh run)."""

    def on_metrics(self, metrics: list) -> None:
        pass

    def on_samples(self, samples) -> None:
        pass

    def on_artifact(self, artifact) -> None:
        pass

    def on_job_finished(self, status: str) -> None:
        pass

    needs_workspace = True

    # ---- form helpers -----------------------------------------------------------------------------------------
    def group(self, title: str) -> QFormLayout:
        box = QGroupBox(title)
        form = QFormLayout(box)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setVerticalSpacing(8)
        self.form_layout.addWidget(box)
        return form

    def field(self, form: QFormLayout, key: str, label: str, widget: QWidget, tip: str) -> QWidget:
        widget.setToolTip(tip)
        lab = QLabel(label)
        lab.setToolTip(tip)
        lab.setBuddy(widget)
        form.addRow(lab, widget)
        self._fields[key] = widget
        self._rows[key] = (form, widget)
        return widget

    def show_field(self, key: str, visible: bool) -> None:
        """Show a form row only where it applies (a task, a model kind); a hidden field keeps its value."""
        form, widget = self._rows[key]
        form.setRowVisible(widget, visible)

    def field_shown(self, key: str) -> bool:
        form, widget = self._rows[key]
        return form.isRowVisible(widget)

    def path_field(self, form: QFormLayout, key: str, label: str, placeholder: str, tip: str, browse_tip: str,
                   on_browse) -> tuple[QLineEdit, QWidget]:
        """A path box with a Browse… button on one form row; returns (line edit, row)."""
        edit = QLineEdit()
        edit.setPlaceholderText(placeholder)
        edit.setToolTip(tip)
        browse = QPushButton("Browse…")
        browse.setToolTip(browse_tip)
        browse.clicked.connect(on_browse)
        row = QWidget()
        lay = QHBoxLayout(row)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(edit, 1)
        lay.addWidget(browse)
        lab = QLabel(label)
        lab.setToolTip(tip)
        form.addRow(lab, row)
        self._fields[key] = edit
        self._rows[key] = (form, row)
        return edit, row

    def spin(self, lo: int, hi: int, value: int, step: int = 1, suffix: str = "") -> QSpinBox:
        w = QSpinBox()
        w.setRange(lo, hi)
        w.setSingleStep(step)
        w.setValue(value)
        w.setSuffix(suffix)
        w.setGroupSeparatorShown(True)
        return w

    def dspin(self, lo: float, hi: float, value: float, step: float, decimals: int = 3, suffix: str = "",
              prefix: str = "") -> QDoubleSpinBox:
        w = QDoubleSpinBox()
        w.setDecimals(decimals)
        w.setRange(lo, hi)
        w.setSingleStep(step)
        w.setValue(value)
        w.setSuffix(suffix)
        w.setPrefix(prefix)
        return w

    def combo(self, items: list[tuple[str, Any]], current: Any = None) -> QComboBox:
        w = QComboBox()
        # Long item texts must not widen the whole form: the popup still shows them in full.
        w.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        w.setMinimumContentsLength(14)
        for text, data in items:
            w.addItem(text, data)
        if current is not None:
            i = w.findData(current)
            w.setCurrentIndex(max(0, i))
        return w

    def field_values(self) -> dict[str, Any]:
        return {k: _value(w) for k, w in self._fields.items()}

    def restore_options(self) -> None:
        for k, v in self.ctx.settings.options(self.key).items():
            w = self._fields.get(k)
            if w is not None:
                _set_value(w, v)

    def save_options(self) -> None:
        self.ctx.settings.set_options(self.key, self.field_values())

    # ---- state ------------------------------------------------------------------------------------------------
    def validate(self) -> None:
        error = None
        if self.stage and self.ctx.facade.available(self.stage):
            try:
                error = self.ctx.facade.check(self.stage, self.values())
            except Exception as e:  # validation must never crash the form
                error = str(e)
        self.show_validation(error)

    def show_validation(self, error: str | None) -> None:
        """The sentence under the form that says why Start is disabled (None: nothing is wrong)."""
        error = in_window_words(error, self.field_labels()) if error else error
        self._validation_error = error
        self.error_label.setText(error or "")
        self.error_label.setVisible(bool(error))
        self.refresh_state()

    def start_blocker(self) -> str | None:
        jobs = self.ctx.jobs
        if jobs.busy:
            return (f"The {jobs.current} job is running; wait for it or press Cancel. Only one job runs at a time."
                    if not self._running else "This job is running.")
        if self.stage and not self.ctx.facade.available(self.stage):
            return f"The {self.stage} step is not available in this build yet."
        if self.needs_workspace and self.ctx.workspace is None:
            return "Open or create a project first (File ▸ New project, or Open the demo)."
        if self._validation_error:
            return self._validation_error
        return self.blocker()

    def refresh_state(self) -> None:
        reason = self.start_blocker()
        self.start_button.setEnabled(reason is None)
        self.start_button.setToolTip(reason or f"{self.start_text} with the settings on the left.")
        self.cancel_button.setEnabled(self._running)

    def on_start(self) -> None:
        from desktop_app.errors import show_exception

        if self.start_blocker() is not None:
            return
        try:
            make = self.make_job()
        except Exception as e:  # a bad setting or a missing model: a dialog, and the page stays as it was
            self.last_dialog = show_exception(self, self.title, e)
            return
        self.save_options()
        if self.clears_on_start():
            self.clear_results()
        self.before_start()
        self.set_outcome(None)
        self.panel.clear()
        self._failure, self._started_at = None, time.monotonic()
        self._running = True
        self.progress.setRange(0, 0)  # busy until the first Progress event
        self.progress_label.setText("Starting…")
        if not self.ctx.jobs.start(self.key, make):
            self._running = False
        self.refresh_state()

    def clears_on_start(self) -> bool:
        """Whether a new run starts from an empty results area (not when it continues a run: Resume)."""
        return True

    def before_start(self) -> None:
        """Anything else to do just before a run starts (clear_results already ran unless clears_on_start says
        no)."""

    def _on_progress(self, p) -> None:
        if not self._running:
            return
        total = max(1, int(p.total))
        self.progress.setRange(0, total)
        self.progress.setValue(min(int(p.step), total))
        self.progress_label.setText("  ·  ".join(self.progress_text(p)))

    def progress_text(self, p) -> list[str]:
        """The parts of the line under the progress bar for an engine Progress event."""
        parts = [f"step {p.step:,} of {p.total:,}"]
        if p.message:
            parts.append(p.message)
        if p.rate:
            parts.append(f"{p.rate:.1f} steps/s")
        if p.step < p.total:
            parts.append(f"about {duration(p.eta_s)} left")
        return parts

    def _on_finished(self, name: str, status: str) -> None:
        if not self._running:
            return
        self._running = False
        self.ctx.workspace_updated.emit()  # first: the project snapshot re-reads what the job wrote
        kind, text = self.run_outcome(status)
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if kind in ("done", "empty") else 0)
        self.set_outcome(kind)
        self.progress_label.setText(text)
        seconds = time.monotonic() - self._started_at if self._started_at is not None else None
        self.show_result(status, self._failure, seconds)
        self.on_job_finished(status)
        self.refresh_state()

    def run_outcome(self, status: str) -> tuple[str, str]:
        """(done | empty | cancelled | failed, the sentence under the progress bar) for a job that ended; a page
        whose stage can end well yet make nothing (Compress) says so here."""
        if status == "done":
            return "done", "Finished."
        if status == "cancelled":
            return "cancelled", "Cancelled; what was done so far is saved."
        return "failed", "Stopped with an error (see the message)."

    def result_stage(self) -> str:
        """The stage whose result the panel shows (a page that runs two stages says which ran last)."""
        return self.stage

    def show_result(self, status: str | None = None, error: str | None = None, seconds: float | None = None) -> None:
        """The result panel from the project's snapshot (desktop_app/outcomes.py): what the run made, in words, or
        why it failed; `status` None reads how the stage last ended from the project."""
        outcome = stage_outcome(self.ctx.project, self.result_stage(), status, error, seconds)
        if outcome is not None:
            self.panel.show_outcome(outcome.ok, outcome.headline, outcome.details, outcome.next_steps)

    def field_labels(self) -> dict[str, str]:
        """Each field's label on this page, by setting name (an engine sentence naming a flag names the field)."""
        labels = {}
        for key, (form, widget) in self._rows.items():
            label = form.labelForField(widget)
            text = label.text() if label is not None and hasattr(label, "text") else ""
            if text:
                labels[key] = text
        return labels

    def set_outcome(self, kind: str | None) -> None:
        """Colour the progress bar and its sentence by how the last run ended: a run that made nothing must not
        look like a success."""
        color = {"failed": "#c0392b", "empty": "#c0392b", "done": "#2e8b57"}.get(kind or "")
        self.progress.setStyleSheet(f"QProgressBar::chunk {{ background: {color}; }}" if color else "")
        self.progress_label.setStyleSheet(f"color: {color if kind in ('failed', 'empty') else '#5f6368'};"
                                          + (" font-weight: 600;" if kind in ("failed", "empty") else ""))
        self.outcome = kind

    def _on_workspace(self, ws) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.set_outcome(None)
        self.progress_label.setText("Ready.")
        self.clear_results()
        self.panel.clear()
        self.on_workspace(ws)
        if not self.panel.isVisibleTo(self):
            self.show_result()
        self.validate()

    @property
    def running(self) -> bool:
        return self._running


def _value(w: QWidget) -> Any:
    if isinstance(w, QCheckBox):
        return w.isChecked()
    if isinstance(w, (QSpinBox, QDoubleSpinBox, QSlider)):
        return w.value()
    if isinstance(w, QComboBox):
        data = w.currentData()
        return data if data is not None else w.currentText()
    if isinstance(w, QLineEdit):
        return w.text()
    raise TypeError(type(w))


def _set_value(w: QWidget, v: Any) -> None:
    try:
        if isinstance(w, QCheckBox):
            w.setChecked(bool(v))
        elif isinstance(w, QSpinBox) or isinstance(w, QSlider):
            w.setValue(int(v))
        elif isinstance(w, QDoubleSpinBox):
            w.setValue(float(v))
        elif isinstance(w, QComboBox):
            i = w.findData(v)
            if i >= 0:
                w.setCurrentIndex(i)
        elif isinstance(w, QLineEdit):
            w.setText(str(v))
    except (TypeError, ValueError):  # a stale setting of another type: keep the default
        pass


def _on_change(w: QWidget, fn) -> None:
    if isinstance(w, QCheckBox):
        w.toggled.connect(lambda *_: fn())
    elif isinstance(w, (QSpinBox, QDoubleSpinBox, QSlider)):
        w.valueChanged.connect(lambda *_: fn())
    elif isinstance(w, QComboBox):
        w.currentIndexChanged.connect(lambda *_: fn())
    elif isinstance(w, QLineEdit):
        w.textChanged.connect(lambda *_: fn())


def stretch_policy(w: QWidget) -> QWidget:
    w.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
    return w


def side_by_side(*widgets: QWidget, stretches: tuple[int, ...] | None = None) -> QWidget:
    """One row of widgets with no margins (teacher | student grids, table | chart)."""
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    for i, w in enumerate(widgets):
        layout.addWidget(w, stretches[i] if stretches else 0)
    return row
