"""The layers of one network before and after pruning, with a checkbox per prunable layer."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

COLUMNS = ("Layer", "Type", "Shape", "Params", "MACs", "Width", "Params after", "MACs after", "Width / sparsity after")
TIPS = ("Tick the layers to prune; none ticked means every prunable layer.",
        "The kind of layer.", "The weight tensor's shape (out x in x kernel).",
        "Weights and biases before pruning.", "Multiply-adds per image before pruning.",
        "Output channels or neurons before pruning.", "Parameters of the pruned model.",
        "Multiply-adds per image in the pruned model.",
        "Channels left after channel pruning, and the share of weights set to zero.")


def human(n: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return f"{n:.0f}"


class LayerTable(QTableWidget):
    selection_changed = Signal()

    def __init__(self, role: str, parent=None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.role = role  # "g" or "d"
        self.updates = 0
        self.setHorizontalHeaderLabels(COLUMNS)
        for i, tip in enumerate(TIPS):
            self.horizontalHeaderItem(i).setToolTip(tip)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setAlternatingRowColors(True)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.horizontalHeader().setStretchLastSection(True)
        self.itemChanged.connect(self._on_item_changed)
        self._filling = False

    def set_rows(self, dense: list[dict], pruned: list[dict] | None = None) -> None:
        """Rows from the facade's layer_tables(); keeps the user's ticks across refreshes."""
        ticked = set(self.checked_layers())
        after = {r["name"]: r for r in (pruned or [])}
        self._filling = True
        self.setRowCount(len(dense))
        for i, r in enumerate(dense):
            name = QTableWidgetItem(r["name"])
            if r.get("prunable"):
                name.setFlags(name.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                name.setCheckState(Qt.CheckState.Checked if r["name"] in ticked else Qt.CheckState.Unchecked)
            else:
                name.setToolTip("Batch-norm layers follow their convolution; they are not chosen on their own.")
            a = after.get(r["name"])
            cells = [name, r["type"], r["shape"], human(r["params"]), human(r["macs"]), str(r["width"]),
                     human(a["params"]) if a else "—", human(a["macs"]) if a else "—",
                     _after_width(a)]
            for j, cell in enumerate(cells):
                item = cell if isinstance(cell, QTableWidgetItem) else QTableWidgetItem(cell)
                if j >= 3:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if a and j >= 6 and (a["params"] < r["params"] or a["sparsity"] > 0):
                    item.setForeground(Qt.GlobalColor.darkGreen)
                self.setItem(i, j, item)
        self._filling = False
        self.updates += 1

    def checked_layers(self) -> list[str]:
        out = []
        for i in range(self.rowCount()):
            item = self.item(i, 0)
            if item is not None and item.checkState() == Qt.CheckState.Checked:
                out.append(item.text())
        return out

    def set_checked(self, names: list[str]) -> None:
        for i in range(self.rowCount()):
            item = self.item(i, 0)
            if item is not None and item.flags() & Qt.ItemFlag.ItemIsUserCheckable:
                item.setCheckState(Qt.CheckState.Checked if item.text() in names else Qt.CheckState.Unchecked)

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if not self._filling and item.column() == 0:
            self.selection_changed.emit()


def _after_width(a: dict | None) -> str:
    if a is None:
        return "—"
    return f"{a['width']}" + (f"  ({a['sparsity']:.0%} zeros)" if a["sparsity"] >= 0.005 else "")
