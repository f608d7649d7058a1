"""The first screen when no project is open: open the demo, start a new project, or reopen a recent one."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QLabel, QListWidget, QPushButton, QVBoxLayout, QWidget


class WelcomePanel(QWidget):
    open_demo = Signal()
    new_project = Signal()
    open_project = Signal()
    open_recent = Signal(str)
    import_generator = Signal()
    go_to = Signal(str)  # a page key: a next step of the open project

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
        self.open_button.setToolTip("Open a folder made earlier by this app or by its command-line tool.")
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
        layout.addWidget(self._build_next_steps())
        for b in (self.demo_button, self.new_button, self.open_button, self.import_button):
            layout.addWidget(b, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addSpacing(12)
        layout.addWidget(self.recent_label)
        layout.addWidget(self.recent)
        hint = QLabel("Tip: drop a folder of images anywhere on this window to use it as your data set.")
        hint.setStyleSheet("color: #5f6368;")
        layout.addWidget(hint)
        layout.addStretch(1)

    def _build_next_steps(self) -> QFrame:
        """What to do next in the open project, as big buttons (hidden while no project is open)."""
        self.next_box = QFrame()
        self.next_box.setObjectName("nextSteps")
        self.next_box.setStyleSheet("QFrame#nextSteps { background: #eaf1fd; border: 1px solid #2d6cdf; "
                                    "border-radius: 8px; }")
        self.next_box.setMaximumWidth(640)
        self.next_title = QLabel("")
        self.next_title.setWordWrap(True)
        self.next_title.setStyleSheet("font-size: 12pt; background: transparent; border: none;")
        self.next_layout = QVBoxLayout(self.next_box)
        self.next_layout.setContentsMargins(16, 12, 16, 12)
        self.next_layout.addWidget(self.next_title)
        self.next_buttons: list[QPushButton] = []
        self.next_box.hide()
        return self.next_box

    def set_project(self, project) -> None:
        """The open project (desktop_app.project.Project) and its next steps; None hides them."""
        for b in self.next_buttons:
            self.next_layout.removeWidget(b)
            b.deleteLater()
        self.next_buttons = []
        if project is None:
            self.next_box.hide()
            return
        model = "holds a trained model" if project.has_trained_model else "has no trained model yet"
        self.next_title.setText(f"<b>{project.root.name}</b> is open and {model}. <b>Next:</b>")
        for i, (key, text) in enumerate(project.next_steps()):
            b = QPushButton(f"{text}  →")
            b.setObjectName(f"next-{key}")
            b.setMinimumHeight(36)
            b.setStyleSheet("font-size: 11pt;" + (" font-weight: 600;" if i == 0 else ""))
            b.clicked.connect(lambda _=False, key=key: self.go_to.emit(key))
            self.next_layout.addWidget(b)
            self.next_buttons.append(b)
        self.next_box.show()

    def set_recent(self, paths: list[str]) -> None:
        self.recent.clear()
        self.recent.addItems(paths)
        self.recent.setVisible(bool(paths))
        self.recent_label.setVisible(bool(paths))
