"""Small charts: the sensitivity of each layer (teacher-PSNR vs amount) and the Pareto view (cost vs quality)."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

from desktop_app.widgets.loss_plot import PALETTE


class _Chart(QWidget):
    def __init__(self, title: str, x_label: str, y_label: str, parent=None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setTitle(title, color="#333", size="10pt")
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setLabel("bottom", x_label)
        self.plot.setLabel("left", y_label)
        self.plot.setMinimumHeight(160)
        self.legend = self.plot.addLegend(offset=(-10, 10))
        self.series = 0
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)

    def clear(self) -> None:
        self.plot.clear()
        self.series = 0


class SensitivityChart(_Chart):
    """One line per layer from sensitivity.json: how far the pruned copy drifts from the dense model."""

    def __init__(self, parent=None) -> None:
        super().__init__("Layer sensitivity (higher is safer to prune)", "amount pruned (%)", "teacher PSNR (dB)",
                         parent)
        self.setToolTip("Each line prunes one layer alone. A line that stays high means the layer can lose that "
                        "share with little change to the images.")

    def set_results(self, result: dict | None) -> None:
        self.clear()
        if not result:
            return
        by_layer: dict[str, list[tuple[float, float]]] = {}
        for r in result.get("rows", []):
            by_layer.setdefault(r["layer"], []).append((100 * r["amount"], r["psnr"]))
        for i, (name, pts) in enumerate(by_layer.items()):
            pts.sort()
            self.plot.plot([p[0] for p in pts], [p[1] for p in pts], name=name, symbol="o", symbolSize=5,
                           pen=pg.mkPen(PALETTE[i % len(PALETTE)], width=2),
                           symbolBrush=PALETTE[i % len(PALETTE)])
            self.series += 1


class ParetoChart(_Chart):
    """Each model variant as a point: cost (MACs or file size) against quality (FID; lower is better)."""

    def __init__(self, parent=None) -> None:
        super().__init__("Cost vs quality (lower-left is better)", "MACs per image (millions)", "FID", parent)
        self.setToolTip("Each point is one model (dense, pruned, each export precision). Points to the lower left "
                        "are cheaper AND better.")
        self.plot.getPlotItem().getViewBox().setDefaultPadding(0.12)  # room for the labels at the edges

    def set_variants(self, variants: list[dict]) -> None:
        self.clear()
        pts = []
        for v in variants:
            cost = v.get("macs")
            quality = v.get("fid")
            if isinstance(cost, (int, float)) and isinstance(quality, (int, float)):
                pts.append((cost / 1e6, quality, v.get("name", "?")))
        # Variants that land on the same spot (an fp32 export and its checkpoint) share one label.
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        tol_x = 0.02 * ((max(xs) - min(xs)) if pts else 0) or 1e-9
        tol_y = 0.02 * ((max(ys) - min(ys)) if pts else 0) or 1e-9
        spots: list[tuple[float, float, list[str]]] = []
        for i, (x, y, name) in enumerate(pts):
            color = PALETTE[i % len(PALETTE)]
            self.plot.plot([x], [y], pen=None, symbol="o", symbolSize=11, symbolBrush=color)  # labelled, no legend
            self.series += 1
            for sx, sy, names in spots:
                if abs(sx - x) <= tol_x and abs(sy - y) <= tol_y:
                    names.append(name)
                    break
            else:
                spots.append((x, y, [name]))
        for i, (x, y, names) in enumerate(spots):  # alternate above/below so close neighbours stay readable
            label = pg.TextItem(", ".join(names), color="#333", anchor=(0, 1) if i % 2 == 0 else (0, 0))
            label.setPos(x, y)
            self.plot.addItem(label)
