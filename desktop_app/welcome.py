"""The first screen when no project is open: open the demo, start a new project, or reopen a recent one."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QListWidget, QPushButton, QVBoxLayout, QWidget


class WelcomePanel(QWidget):
    open_demo = Signal()
    new_project = Signal()
    open_project = Signal()
    open_recent = Signal(str)
    import_generator = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        title = QLabel("Welcome to GAN Pruning Studio")
        title.setStyleSheet("font-size: 22pt; font-weight: 600;")
        text = QLabel("Train a small image generator, make it smaller and faster by pruning, win back its quality, "
                      "and export it to run anywhere. Every step shows what it is doing, how long it will take and "
                      "what you gained.")
        text.setWordWrap(True)
        text.setMaximumWidth(640)
        self.demo_button = QPushButton("Open the demo")
        self.demo_button.setToolTip("A project with a pretrained digit generator, ready to prune — no training needed.")
        self.new_button = QPushButton("New project…")
        self.new_button.setToolTip("Choose an empty folder for a new project; train on the bundled digits or your "
                                   "own images.")
        self.open_button = QPushButton("Open project…")
        self.open_button.setToolTip("Open a folder made earlier by this app or by the gan-prune command.")
        self.import_button = QPushButton("Import a generator…")
        self.import_button.setToolTip("Bring your own trained PyTorch generator (a .py file and its state dict) to "
                                      "prune it. This runs the file's code: import only files you trust.")
        self.import_button.clicked.connect(self.import_generator)
        for b in (self.demo_button, self.new_button, self.open_button, self.import_button):
            b.setMinimumHeight(40)
            b.setMinimumWidth(260)
            b.setStyleSheet("font-size: 12pt;")
        self.demo_button.setStyleSheet("font-size: 12pt; font-weight: 600;")
        self.demo_button.clicked.connect(self.open_demo)
        self.new_button.clicked.connect(self.new_project)
        self.open_button.clicked.connect(self.open_project)
        self.recent = QListWidget()
        self.recent.setMaximumWidth(640)
        self.recent.setMaximumHeight(160)
        self.recent.setToolTip("Double-click to reopen a recent project.")
        self.recent.itemActivated.connect(lambda item: self.open_recent.emit(item.text()))
        self.recent_label = QLabel("<b>Recent projects</b>")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(48, 48, 48, 48)
        layout.setSpacing(14)
        layout.addWidget(title)
        layout.addWidget(text)
        layout.addSpacing(12)
        for b in (self.demo_button, self.new_button, self.open_button, self.import_button):
            layout.addWidget(b, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addSpacing(12)
        layout.addWidget(self.recent_label)
        layout.addWidget(self.recent)
        hint = QLabel("Tip: drop a folder of images anywhere on this window to use it as your data set.")
        hint.setStyleSheet("color: #5f6368;")
        layout.addWidget(hint)
        layout.addStretch(1)

    def set_recent(self, paths: list[str]) -> None:
        self.recent.clear()
        self.recent.addItems(paths)
        self.recent.setVisible(bool(paths))
        self.recent_label.setVisible(bool(paths))
