"""Small charts: the sensitivity of each layer (teacher-PSNR vs amount) and the Pareto view (cost vs quality).

The title and the legend are Qt labels above the plot, not pyqtgraph items inside it: they wrap in a narrow window
instead of being cut off, and they never cover the data.
"""

from __future__ import annotations

import html

import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from desktop_app.widgets.loss_plot import PALETTE


def legend_html(entries: list[tuple[str, str]]) -> str:
    """A wrapped legend: a coloured square and the name of each series."""
    return "&nbsp;&nbsp; ".join(f"<span style='color:{color}'>&#9632;</span>&nbsp;{html.escape(name)}"
                                for name, color in entries)


def padded_range(values: list[float], share: float = 0.15, floor: float | None = 0.0) -> tuple[float, float]:
    """An axis range with room around the data: a share of the spread, or of the value itself when there is one
    point (a range of zero width reads "100.2264000000005"); at most a sliver below `floor` (MACs and FID are not
    negative: the sliver keeps a point near zero whole instead of cut by the axis)."""
    lo, hi = min(values), max(values)
    pad = share * (hi - lo) if hi > lo else share * abs(hi) or 1.0
    lo, hi = lo - pad, hi + pad
    if floor is not None and lo < floor <= min(values):
        lo = max(lo, floor - 0.04 * (hi - floor))
    return lo, hi


class _Chart(QWidget):
    def __init__(self, title: str, x_label: str, y_label: str, parent=None) -> None:
        super().__init__(parent)
        self.title = QLabel(f"<b>{html.escape(title)}</b>")
        self.title.setWordWrap(True)
        self.legend = QLabel("")
        self.legend.setWordWrap(True)
        self.legend.setStyleSheet("color: #333;")
        self.legend.setVisible(False)
        self.plot = pg.PlotWidget(background="w")
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setLabel("bottom", x_label)
        self.plot.setLabel("left", y_label)
        for side in ("left", "bottom"):  # "(x1e+06)" prefixes confuse; the labels say the unit
            self.plot.getAxis(side).enableAutoSIPrefix(False)
        self.plot.setMinimumHeight(160)
        self.series = 0
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.title)
        layout.addWidget(self.legend)
        layout.addWidget(self.plot, 1)

    def clear(self) -> None:
        self.plot.clear()
        self.series = 0
        self.set_legend([])

    def set_legend(self, entries: list[tuple[str, str]]) -> None:
        self.legend.setText(legend_html(entries))
        self.legend.setVisible(bool(entries))


class SensitivityChart(_Chart):
    """One line per layer from sensitivity.json: how far the pruned copy drifts from the dense model."""

    def __init__(self, parent=None) -> None:
        super().__init__("Layer sensitivity (higher is safer to prune)", "share of the layer pruned (%)",
                         "teacher PSNR (dB)", parent)
        self.setToolTip("Each line prunes one layer alone. A line that stays high means the layer can lose that "
                        "share with little change to the images.")
        self.plot.getAxis("bottom").setTickSpacing(20, 10)  # whole tens, never 12.5 %

    def set_results(self, result: dict | None) -> None:
        self.clear()
        if not result:
            return
        by_layer: dict[str, list[tuple[float, float]]] = {}
        for r in result.get("rows", []):
            by_layer.setdefault(r["layer"], []).append((100 * r["amount"], r["psnr"]))
        entries = []
        for i, (name, pts) in enumerate(by_layer.items()):
            pts.sort()
            color = PALETTE[i % len(PALETTE)]
            self.plot.plot([p[0] for p in pts], [p[1] for p in pts], symbol="o", symbolSize=5,
                           pen=pg.mkPen(color, width=2), symbolBrush=color)
            entries.append((name, color))
            self.series += 1
        self.set_legend(entries)
        xs = [p[0] for pts in by_layer.values() for p in pts]
        if xs:
            self.plot.setXRange(*padded_range(xs, 0.05), padding=0)


class ParetoChart(_Chart):
    """Each model variant as a point: cost (MACs) against quality (FID; lower is better)."""

    def __init__(self, parent=None) -> None:
        super().__init__("Cost vs quality: lower left is better", "MACs per image (millions)", "FID", parent)
        self.setToolTip("Each point is one model (dense, pruned, each export precision). Points to the lower left "
                        "are cheaper AND better.")

    def set_variants(self, variants: list[dict], highlight: str | None = None) -> None:
        """Plot the variants with a MACs and an FID; `highlight` names the one to ring (the winner)."""
        self.clear()
        pts = []
        for v in variants:
            cost, quality = v.get("macs"), v.get("fid")
            if isinstance(cost, (int, float)) and isinstance(quality, (int, float)):
                pts.append((cost / 1e6, quality, v.get("name", "?")))
        if not pts:
            return
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        x_range, y_range = padded_range(xs, 0.2), padded_range(ys, 0.2)
        spots = self._spots(pts, x_range, y_range)
        for i, (x, y, name) in enumerate(pts):
            ring = name == highlight
            self.plot.plot([x], [y], pen=None, symbol="star" if ring else "o", symbolSize=18 if ring else 11,
                           symbolBrush=PALETTE[i % len(PALETTE)], symbolPen=pg.mkPen("#2e8b57", width=2) if ring
                           else None)
            self.series += 1
        mid_x = (x_range[0] + x_range[1]) / 2
        for i, (x, y, names) in enumerate(spots):
            # Labels point inwards (left of a point in the right half) and alternate above/below, so a label
            # never runs off the plot and close neighbours stay readable.
            anchor = (1 if x > mid_x else 0, 1 if i % 2 == 0 else 0)
            label = pg.TextItem(", ".join(names), color="#333", anchor=anchor)
            label.setPos(x, y)
            self.plot.addItem(label)
        self.plot.setXRange(*x_range, padding=0)
        self.plot.setYRange(*y_range, padding=0)

    @staticmethod
    def _spots(pts, x_range, y_range) -> list[tuple[float, float, list[str]]]:
        """Variants that land on the same spot (an fp32 export and its checkpoint) share one label."""
        tol_x, tol_y = 0.02 * (x_range[1] - x_range[0]), 0.02 * (y_range[1] - y_range[0])
        spots: list[tuple[float, float, list[str]]] = []
        for x, y, name in pts:
            for sx, sy, names in spots:
                if abs(sx - x) <= tol_x and abs(sy - y) <= tol_y:
                    names.append(name)
                    break
            else:
                spots.append((x, y, [name]))
        return spots
