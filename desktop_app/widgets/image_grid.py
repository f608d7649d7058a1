"""A uint8 H x W x C image shown crisp (nearest-neighbour) and scaled to fit, with a caption."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget


def to_qimage(image: np.ndarray) -> QImage:
    image = np.ascontiguousarray(image)
    h, w = image.shape[:2]
    if image.ndim == 2 or image.shape[2] == 1:
        gray = np.ascontiguousarray(image.reshape(h, w))
        return QImage(gray.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    rgb = np.ascontiguousarray(image[:, :, :3])
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class ImageGrid(QWidget):
    def __init__(self, title: str = "", placeholder: str = "No images yet", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pixmap: QPixmap | None = None
        self.updates = 0  # how many images were shown (tests check the grid really refreshed)
        self.row_labels: list[str] = []  # a conditional grid: each row's class name, drawn at its left
        self.title = QLabel(f"<b>{title}</b>" if title else "")
        self.title.setVisible(bool(title))
        self.placeholder = placeholder
        self.view = QLabel(placeholder)
        self.view.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.view.setWordWrap(True)
        self.view.setMinimumSize(160, 160)
        self.view.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.view.setStyleSheet("QLabel { background: #1e1e1e; color: #9a9a9a; border-radius: 6px; }")
        self.caption = QLabel("")
        self.caption.setStyleSheet("color: #5f6368;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.caption)

    def set_image(self, image: np.ndarray, caption: str = "", row_labels=()) -> None:
        """`row_labels`: one name per row of the grid (a class-conditional model's classes), or none."""
        self.row_labels = [str(x) for x in row_labels]
        self._pixmap = QPixmap.fromImage(to_qimage(image))
        self.updates += 1
        self.caption.setText(caption)
        self._rescale()

    def show_file(self, path, caption: str = "", row_labels=()) -> bool:
        """A grid saved on disk (a project's samples/*.png); False when it cannot be read."""
        pixmap = QPixmap(str(path))
        if pixmap.isNull():
            return False
        self.row_labels = [str(x) for x in row_labels]
        self._pixmap = pixmap
        self.updates += 1
        self.caption.setText(caption)
        self._rescale()
        return True

    def set_title(self, title: str) -> None:
        self.title.setText(f"<b>{title}</b>" if title else "")
        self.title.setVisible(bool(title))

    def clear(self, placeholder: str | None = None) -> None:
        self._pixmap = None
        self.row_labels = []
        self.view.setPixmap(QPixmap())
        self.view.setText(placeholder if placeholder is not None else self.placeholder)
        self.caption.setText("")

    def has_image(self) -> bool:
        return self._pixmap is not None

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self._pixmap is None:
            return
        size = self.view.size()
        gutter = self._gutter()
        size.setWidth(max(1, size.width() - gutter))
        # Integer zoom keeps every pixel square; a 242 px grid would blur at 1.3x.
        zoom = max(1, min(size.width() // max(1, self._pixmap.width()), size.height() // max(1, self._pixmap.height())))
        if zoom * self._pixmap.width() > size.width() or zoom * self._pixmap.height() > size.height():
            scaled = self._pixmap.scaled(size, Qt.AspectRatioMode.KeepAspectRatio,
                                         Qt.TransformationMode.SmoothTransformation)
        else:
            scaled = self._pixmap.scaled(self._pixmap.size() * zoom, Qt.AspectRatioMode.KeepAspectRatio,
                                         Qt.TransformationMode.FastTransformation)
        self.view.setPixmap(self._with_row_labels(scaled, gutter) if gutter else scaled)

    def _gutter(self) -> int:
        """Room at the left for the row labels (the longest name), 0 without labels."""
        if not self.row_labels:
            return 0
        metrics = self.view.fontMetrics()
        return 8 + max(metrics.horizontalAdvance(t) for t in self.row_labels)

    def _with_row_labels(self, grid: QPixmap, gutter: int) -> QPixmap:
        """The scaled grid with each row's name beside it, at screen size (drawn into the small grid it would be
        a few unreadable pixels)."""
        out = QPixmap(grid.width() + gutter, grid.height())
        out.fill(QColor("#1e1e1e"))
        painter = QPainter(out)
        painter.drawPixmap(gutter, 0, grid)
        painter.setPen(QColor("#e8eaed"))
        row = grid.height() / len(self.row_labels)
        for i, text in enumerate(self.row_labels):
            painter.drawText(0, int(i * row), gutter - 6, int(row),
                             int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), text)
        painter.end()
        return out
