"""A stage's outcome in a person's words: a headline, a few sentences and the next steps as buttons; green when
it made something, red when it failed or made nothing, grey when it was cancelled."""

from __future__ import annotations

import html

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

STYLES = {True: "QFrame#resultPanel { background: #e8f5e9; border: 1px solid #2e8b57; border-radius: 6px; }",
          False: "QFrame#resultPanel { background: #fdecea; border: 1px solid #c0392b; border-radius: 6px; }",
          None: "QFrame#resultPanel { background: #f1f3f4; border: 1px solid #9aa0a6; border-radius: 6px; }"}
MARKS = {True: "✓ ", False: "✗ ", None: "■ "}


class ResultPanel(QFrame):
    go_to = Signal(str)  # a page key, from a next-step button

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("resultPanel")
        self.headline = QLabel("")
        self.headline.setWordWrap(True)
        self.headline.setStyleSheet("font-size: 12pt; font-weight: 600; background: transparent;")
        self.details = QLabel("")
        self.details.setWordWrap(True)
        self.details.setStyleSheet("background: transparent;")
        self.buttons = QHBoxLayout()
        self.buttons.setContentsMargins(0, 0, 0, 0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.addWidget(self.headline)
        layout.addWidget(self.details)
        layout.addLayout(self.buttons)
        self.ok: bool | None = None
        self.hide()

    def show_outcome(self, ok: bool | None, headline: str, details: tuple[str, ...] | list[str],
                     next_steps: tuple[tuple[str, str], ...] = ()) -> None:
        """`ok`: True made something, False failed or made nothing, None cancelled; `next_steps`: (page key, button
        text) in order."""
        self.ok = ok
        self.setStyleSheet(STYLES[ok])
        self.headline.setText(MARKS[ok] + headline)
        self.details.setText("<br>".join(html.escape(d, quote=False) for d in details))
        while self.buttons.count():
            item = self.buttons.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        for key, text in next_steps:
            button = QPushButton(text)
            button.setObjectName(f"next-{key}")
            button.clicked.connect(lambda _=False, key=key: self.go_to.emit(key))
            self.buttons.addWidget(button)
        self.buttons.addStretch(1)
        self.show()

    def clear(self) -> None:
        self.ok = None
        self.hide()

    def text(self) -> str:
        """Everything the panel says, as plain text (tests, the log)."""
        return f"{self.headline.text()}\n{self.details.text().replace('<br>', chr(10))}"

    def button_texts(self) -> list[str]:
        return [self.buttons.itemAt(i).widget().text() for i in range(self.buttons.count())
                if self.buttons.itemAt(i).widget() is not None]
