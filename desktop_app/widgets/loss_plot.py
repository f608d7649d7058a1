"""Live curves of a job's metrics (pyqtgraph): points are appended in batches, so one redraw per UI update."""

from __future__ import annotations

import html

import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

PALETTE = ("#e4572e", "#29335c", "#17bebb", "#f3a712", "#8e44ad", "#2ecc71")
MAX_POINTS = 20_000  # beyond this, keep every other point: a long run must not slow the window down


class LossPlot(QWidget):
    """`curves` maps a metric key to its legend label, e.g. {"loss_g": "G loss"}."""

    def __init__(self, title: str, curves: dict[str, str], y_label: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        pg.setConfigOptions(antialias=True)
        self.plot = pg.PlotWidget(background="w")
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setLabel("bottom", "step")
        if y_label:
            self.plot.setLabel("left", y_label)
        for side in ("left", "bottom"):  # probabilities must read 0-1, not "x0.001" with ticks 200-800
            self.plot.getAxis(side).enableAutoSIPrefix(False)
        self.plot.setMinimumHeight(160)
        self._keys = dict(curves)
        self._x: dict[str, list[float]] = {k: [] for k in curves}
        self._y: dict[str, list[float]] = {k: [] for k in curves}
        self._dirty: set[str] = set()
        self._items = {k: self.plot.plot([], [], pen=pg.mkPen(PALETTE[i % len(PALETTE)], width=2))
                       for i, k in enumerate(curves)}
        # Title and legend above the plot (Qt labels): a legend inside the plot hides the curves once they are dense.
        swatches = "&nbsp;&nbsp; ".join(f"<span style='color:{PALETTE[i % len(PALETTE)]}'>&#9644;</span>&nbsp;"
                                        f"{html.escape(label)}" for i, label in enumerate(curves.values()))
        self.title = QLabel(f"<b>{html.escape(title)}</b>&nbsp;&nbsp;&nbsp; {swatches}")
        self.title.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.title)
        layout.addWidget(self.plot, 1)

    def add(self, metrics: list, redraw: bool = True) -> None:
        """Append a batch of engine Metrics events; redraw once (now, or at a later add/redraw)."""
        for m in metrics:
            for k in self._keys:
                v = m.values.get(k)
                if v is not None and v == v:  # skip NaN
                    self._x[k].append(float(m.step))
                    self._y[k].append(float(v))
                    self._dirty.add(k)
        if redraw:
            self.redraw()

    def redraw(self) -> None:
        for k in self._dirty:
            if len(self._x[k]) > MAX_POINTS:
                self._x[k], self._y[k] = self._x[k][::2], self._y[k][::2]
            self._items[k].setData(self._x[k], self._y[k])
        self._dirty.clear()


    def clear(self) -> None:
        self._dirty.clear()
        for k in self._keys:
            self._x[k].clear()
            self._y[k].clear()
            self._items[k].setData([], [])

    def point_count(self, key: str) -> int:
        return len(self._x[key])


class TakingTurns:
    """Redraws several plots fed by the same job one per update, in turn.

    Painting two pyqtgraph plots in one update blocked the event loop ~35 ms; one at a time keeps updates under
    ~20 ms (bench/ui_responsiveness.py), and each plot still redraws a few times a second.
    """

    def __init__(self, *plots: LossPlot) -> None:
        self.plots, self._next = plots, 0

    def add(self, metrics: list) -> None:
        for i, plot in enumerate(self.plots):
            plot.add(metrics, redraw=(i == self._next))
        self._next = (self._next + 1) % len(self.plots)

    def redraw(self) -> None:
        for plot in self.plots:
            plot.redraw()
