"""The studio's window: a step sidebar, the project header, one page per step, a status bar and a log dock."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QEventLoop, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QProgressDialog,
    QPushButton,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.context import StudioContext
from desktop_app.errors import error_box, show_exception, show_failure
from desktop_app.import_dialog import ImportGeneratorDialog
from desktop_app.pages.base import Page
from desktop_app.pages.compress import CompressPage
from desktop_app.pages.data import DataPage
from desktop_app.pages.evaluate import EvaluatePage
from desktop_app.pages.export import ExportPage
from desktop_app.pages.finetune import FinetunePage
from desktop_app.pages.generate import GeneratePage
from desktop_app.pages.prune import PrunePage
from desktop_app.pages.train import TrainPage
from desktop_app.project import STEP_PAGES, new_project_problem
from desktop_app.trust_dialog import allow_model_code
from desktop_app.welcome import WelcomePanel

log = logging.getLogger("desktop_app")

PAGE_CLASSES = (DataPage, TrainPage, PrunePage, FinetunePage, CompressPage, EvaluatePage, ExportPage, GeneratePage)
assert tuple(c.key for c in PAGE_CLASSES) == STEP_PAGES  # one order for the sidebar, --page and the project model
# The sidebar's mark for how a step's last run ended (project.Project.step_status); no mark: its number.
STEP_MARKS = {"done": "✓", "empty": "✗", "failed": "✗", "cancelled": "…", "stale": "↻"}


def default_demo_folder() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("gan-pruning-studio", appauthor=False)) / "demo-project"


class MainWindow(QMainWindow):
    def __init__(self, ctx: StudioContext, icon: QIcon | None = None) -> None:
        super().__init__()
        self.ctx = ctx
        self.setWindowTitle("GAN Pruning Studio")
        if icon is not None:
            self.setWindowIcon(icon)
        self.setAcceptDrops(True)
        self.resize(1360, 860)
        self.last_dialog = None
        self.import_dialog: ImportGeneratorDialog | None = None
        self._importing = None  # the workspace an import job is writing
        self._closing = False  # a close is waiting for the job to stop
        self.saving_note: QProgressDialog | None = None
        # Closing during a job asks first; tests replace this with a function that answers for the user.
        self.confirm_close = self._ask_close

        header = self._build_header(icon)
        self._build_pages(ctx, header)
        self._build_log_and_menus()
        self._connect(ctx)

        self._restored_state = False
        self._restore_window()
        if not self._restored_state:  # first start: a slim log under the pages
            QTimer.singleShot(0, lambda: self.resizeDocks([self.log_dock], [90], Qt.Orientation.Vertical))
        self._refresh_recent()
        self.stack.setCurrentWidget(self.welcome)
        QTimer.singleShot(0, self._probe_device)

    # ---- building the window -----------------------------------------------------------------------------------
    def _build_header(self, icon: QIcon | None) -> QWidget:
        """Project name, New / Open / Recent / demo buttons."""
        self.project_label = QLabel("No project open")
        self.project_label.setObjectName("projectLabel")
        self.project_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        new_b = QPushButton("New")
        new_b.setToolTip("Start a new project in an empty folder.")
        new_b.clicked.connect(self.new_project)
        open_b = QPushButton("Open…")
        open_b.setToolTip("Open a project folder.")
        open_b.clicked.connect(self.open_project)
        self.recent_button = QToolButton()
        self.recent_button.setText("Recent")
        self.recent_button.setToolTip("Reopen one of the last projects.")
        self.recent_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.recent_menu = QMenu(self)
        self.recent_button.setMenu(self.recent_menu)
        demo_b = QPushButton("Open the demo")
        demo_b.setToolTip("A project with a pretrained digit generator, ready to prune.")
        demo_b.clicked.connect(self.open_demo)
        header = QWidget()
        header.setObjectName("header")
        header.setStyleSheet("QWidget#header { background: palette(alternate-base); "
                             "border-bottom: 1px solid palette(mid); }")
        hl = QHBoxLayout(header)
        hl.setContentsMargins(14, 8, 14, 8)
        brand = QLabel("<b>GAN Pruning Studio</b>")
        brand.setStyleSheet("font-size: 13pt;")
        if icon is not None:
            logo = QLabel()
            logo.setPixmap(icon.pixmap(QSize(26, 26)))
            hl.addWidget(logo)
        hl.addWidget(brand)
        hl.addSpacing(16)
        hl.addWidget(QLabel("Project:"))
        hl.addWidget(self.project_label, 1)
        for b in (new_b, open_b, self.recent_button, demo_b):
            hl.addWidget(b)
        return header

    def _build_pages(self, ctx: StudioContext, header: QWidget) -> None:
        """The step sidebar, the welcome panel and one page per step, under the header."""
        self.sidebar = QListWidget()
        self.sidebar.setObjectName("steps")
        self.sidebar.setFixedWidth(190)
        self.sidebar.setSpacing(2)
        self.sidebar.setStyleSheet(
            "QListWidget#steps { border: none; background: palette(window); font-size: 11pt; padding-top: 8px; }"
            "QListWidget#steps::item { padding: 9px 12px; border-radius: 6px; margin: 0 8px; }"
            "QListWidget#steps::item:selected { background: #2d6cdf; color: white; }")
        self.stack = QStackedWidget()
        self.welcome = WelcomePanel()
        self.welcome.open_demo.connect(self.open_demo)
        self.welcome.new_project.connect(self.new_project)
        self.welcome.open_project.connect(self.open_project)
        self.welcome.open_recent.connect(self.open_workspace)
        self.welcome.import_generator.connect(self.import_generator)
        self.welcome.go_to.connect(self.show_page)
        self.stack.addWidget(self.welcome)
        self.pages: dict[str, Page] = {}
        for i, cls in enumerate(PAGE_CLASSES, start=1):
            page = cls(ctx)
            self.pages[page.key] = page
            self.stack.addWidget(page)
            item = QListWidgetItem(f"{i}  {page.title}")
            item.setData(Qt.ItemDataRole.UserRole, page.key)
            item.setToolTip(page.subtitle)
            self.sidebar.addItem(item)
        self.sidebar.currentRowChanged.connect(self._on_step)
        body = QWidget()
        bl = QHBoxLayout(body)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.setSpacing(0)
        bl.addWidget(self.sidebar)
        bl.addWidget(self.stack, 1)
        central = QWidget()
        cl = QVBoxLayout(central)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(0)
        cl.addWidget(header)
        cl.addWidget(body, 1)
        self.setCentralWidget(central)

    def _build_log_and_menus(self) -> None:
        """The log dock, the status bar (job, device) and the File / View menus."""
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(5000)
        self.log_view.setObjectName("log")
        self.log_dock = QDockWidget("Log", self)
        self.log_dock.setObjectName("logDock")
        self.log_dock.setWidget(self.log_view)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.log_dock)
        self.device_label = QLabel("Device: …")
        self.device_label.setToolTip("Where training runs: a CUDA GPU when there is one, else the CPU.")
        self.job_label = QLabel("Idle")
        self.job_label.setToolTip("The job that is running now. Only one runs at a time.")
        self.statusBar().addPermanentWidget(self.job_label)
        self.statusBar().addPermanentWidget(self.device_label)
        file_menu = self.menuBar().addMenu("&File")
        keys = QKeySequence.StandardKey
        for text, fn, key in (("&New project…", self.new_project, keys.New),
                              ("&Open project…", self.open_project, keys.Open),
                              ("Open the &demo", lambda: self.open_demo(), None),
                              ("&Import a generator… (runs its code)", self.import_generator, None)):
            act = QAction(text, self)
            act.triggered.connect(fn)
            if key is not None:
                act.setShortcut(QKeySequence(key))
            file_menu.addAction(act)
        file_menu.addSeparator()
        self.quit_action = QAction("&Quit", self)
        # The platform's Quit key (Cmd+Q on macOS); some Linux desktops and Windows define none: then Ctrl+Q.
        self.quit_action.setShortcuts(QKeySequence.keyBindings(keys.Quit) or [QKeySequence("Ctrl+Q")])
        self.quit_action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        self.quit_action.triggered.connect(self.close)
        self.addAction(self.quit_action)  # works with the menu bar hidden, too
        file_menu.addAction(self.quit_action)
        view_menu = self.menuBar().addMenu("&View")
        view_menu.addAction(self.log_dock.toggleViewAction())

    def _connect(self, ctx: StudioContext) -> None:
        jobs = ctx.jobs
        jobs.started.connect(self._on_job_started)
        jobs.finished.connect(self._on_job_finished)
        jobs.failed.connect(self._on_job_failed)
        jobs.log_event.connect(lambda ev: self.append_log(ev.message, ev.level))
        jobs.artifact.connect(lambda a: self.append_log(f"wrote {a.kind}: {a.path}"))
        ctx.workspace_updated.connect(self._refresh_steps)
        ctx.go_to_page.connect(self.show_page)

    # ---- navigation ---------------------------------------------------------------------------------------------
    def show_page(self, key: str) -> None:
        keys = list(self.pages)
        if key == "welcome":
            self.sidebar.blockSignals(True)
            self.sidebar.setCurrentRow(-1)
            self.sidebar.blockSignals(False)
            self.stack.setCurrentWidget(self.welcome)
            return
        self.sidebar.setCurrentRow(keys.index(key))

    def _on_step(self, row: int) -> None:
        if row >= 0:
            self.stack.setCurrentWidget(self.pages[list(self.pages)[row]])

    def current_page(self) -> str:
        w = self.stack.currentWidget()
        return getattr(w, "key", "welcome")

    # ---- projects -----------------------------------------------------------------------------------------------
    def open_workspace(self, path: str | Path) -> bool:
        if self._job_blocks("Open project"):
            return False
        try:
            ws = self.ctx.facade.open_workspace(path)
            ws.read_manifest()  # a corrupt manifest should fail here, not later on a page
        except Exception as e:
            self.last_dialog = show_exception(self, "Open project", e)
            return False
        if not allow_model_code(self, ws.root):  # a handed-over imported model is code: asked before it runs
            self.append_log(f"Opened {ws.root} without its model: its model file was not chosen to run.")
        return self._set_workspace(ws)

    def _set_workspace(self, ws, what: str = "Open project") -> bool:
        """Make `ws` the open project: the project model reads it and every page resets from what it holds."""
        try:
            self.ctx.set_workspace(ws)
        except Exception as e:  # the folder changed under us between the check and the read
            self.last_dialog = show_exception(self, what, e)
            return False
        self.ctx.settings.add_recent_workspace(ws.root)
        self._refresh_recent()
        self.project_label.setText(str(ws.root))
        self.setWindowTitle(f"{ws.root.name} — GAN Pruning Studio")
        self.append_log(f"Opened project {ws.root}")
        self._refresh_steps()
        if self.current_page() == "welcome":
            self.show_page("prune" if self.ctx.project.has_trained_model else "data")
        return True

    def _job_blocks(self, what: str) -> bool:
        """A running job writes into the open project: another project opens only after it ends (its results
        belong to the project it runs in)."""
        if not self.ctx.jobs.busy:
            return False
        self.last_dialog = error_box(self, what, f"The {self.ctx.jobs.current} job is running in this project; wait "
                                                 "for it or press Cancel, then open another project.")
        return True

    def _dialog_start(self) -> str:
        """Where the folder dialogs start: beside the open project (never inside it, such as its export folder,
        where the last file dialog may have been), else the home folder."""
        ws = self.ctx.workspace
        return str(ws.root.parent if ws is not None else Path.home())

    def new_project(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose or create an empty folder for the new project",
                                                self._dialog_start())
        if path:
            self.create_project(path)

    def create_project(self, path: str | Path) -> bool:
        """A new project in an empty (or not yet existing) folder; any other folder is refused with a dialog."""
        problem = new_project_problem(path)
        if problem is not None:
            self.last_dialog = error_box(self, "New project", problem)
            return False
        return self.open_workspace(path)

    def open_project(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a project folder", self._dialog_start())
        if path:
            self.open_workspace(path)

    def open_demo(self, folder: str | Path | None = None) -> bool:
        if self._job_blocks("Open the demo"):
            return False
        folder = Path(folder) if folder else default_demo_folder()
        try:
            dense = folder / "checkpoints" / "dense.pt"
            ws = self.ctx.facade.open_workspace(folder) if dense.exists() else self.ctx.facade.open_demo(folder)
        except Exception as e:
            self.last_dialog = show_exception(self, "Open the demo", e)
            return False
        return self._set_workspace(ws, "Open the demo")

    def import_generator(self) -> None:
        """Your own trained generator as a new project's trained model (the dialog warns that it runs the file)."""
        dialog = ImportGeneratorDialog(self.ctx.facade, self)
        dialog.accepted.connect(lambda: self._start_import(dialog.values()))
        self.import_dialog = dialog
        dialog.open()

    def _start_import(self, values: dict) -> None:
        folder = values.pop("folder")
        try:
            ws = self.ctx.facade.open_workspace(folder)
            make = self.ctx.facade.import_job(ws, values)
        except Exception as e:
            self.last_dialog = show_exception(self, "Import a generator", e)
            return
        if not self.ctx.jobs.start("import", make):
            self.last_dialog = error_box(self, "Import a generator", "Another job is running; wait for it or "
                                                                     "cancel it, then import again.")
            return
        self._importing = ws
        self.append_log(f"Importing {values['generator']}: this runs the file's code.", "warning")

    def _refresh_recent(self) -> None:
        recent = self.ctx.settings.recent_workspaces()
        self.recent_menu.clear()
        for p in recent:
            act = self.recent_menu.addAction(p)
            act.triggered.connect(lambda _=False, p=p: self.open_workspace(p))
        self.recent_button.setEnabled(bool(recent))
        self.welcome.set_recent(recent)

    def _refresh_steps(self) -> None:
        """Each step's mark in the sidebar from the project model (the engine's stages say which page is whose)."""
        project = self.ctx.project
        for i, page in enumerate(self.pages.values()):
            status = project.step_status(page.key) if project is not None else None
            mark = STEP_MARKS.get(status or "", str(i + 1))
            item = self.sidebar.item(i)
            item.setText(f"{mark}  {page.title}")
            item.setToolTip(page.subtitle + (f"\n\nLast run: {status}." if status else ""))
        self.welcome.set_project(project)

    # ---- jobs ---------------------------------------------------------------------------------------------------
    def _on_job_started(self, name: str) -> None:
        self.job_label.setText(f"Running: {name}")
        self.append_log(f"— {name} started")

    def _on_job_finished(self, name: str, status: str) -> None:
        self.job_label.setText(f"Idle (last job: {name} {status})")
        self.append_log(f"— {name} {status}")
        if name == "import" and self._importing is not None:
            ws, self._importing = self._importing, None
            if status == "done":  # the project opens on the imported model, ready to prune
                self._set_workspace(ws)
                self.show_page("prune")

    def _on_job_failed(self, failure) -> None:
        self.append_log(failure.message, "error", to_file=False)  # show_failure writes it with the details
        self.last_dialog = show_failure(self, failure)

    def append_log(self, message: str, level: str = "info", to_file: bool = True) -> None:
        prefix = "" if level == "info" else f"{level.upper()}: "
        self.log_view.appendPlainText(prefix + message)
        if to_file:
            getattr(log, "warning" if level == "warning" else "error" if level == "error" else "info")(message)

    def _probe_device(self) -> None:
        try:
            self.device_label.setText(self.ctx.facade.device_description())
        except Exception as e:  # a broken torch install must not stop the window
            self.device_label.setText("Device: unknown")
            log.warning("device probe failed: %s", e)

    # ---- drag and drop a folder of images -----------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if self._dropped_folder(event.mimeData()) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        folder = self._dropped_folder(event.mimeData())
        if folder is not None:
            self.use_image_folder(folder)
            event.acceptProposedAction()

    @staticmethod
    def _dropped_folder(mime) -> str | None:
        if not mime.hasUrls():
            return None
        for url in mime.urls():
            if url.isLocalFile() and Path(url.toLocalFile()).is_dir():
                return url.toLocalFile()
        return None

    def use_image_folder(self, folder: str) -> None:
        self.pages["data"].use_folder(folder)
        self.show_page("data")
        self.append_log(f"Data set: images in {folder}")

    # ---- closing ------------------------------------------------------------------------------------------------
    def _ask_close(self) -> bool:
        answer = QMessageBox.question(self, "A job is running",
                                      f"The {self.ctx.jobs.current} job is still running. Stop it and quit? What it "
                                      "made so far is saved.")
        return answer == QMessageBox.StandardButton.Yes

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self._closing:  # already stopping a job for a close: one is enough
            event.ignore()
            return
        if self.ctx.jobs.busy:
            if not self.confirm_close():
                event.ignore()
                return
            self._closing = True
            try:
                self._stop_job_for_close()
            finally:
                self._closing = False
        self.ctx.calls.shutdown()
        self.ctx.settings.set_geometry(self.saveGeometry())
        self.ctx.settings.set_window_state(self.saveState())
        self.ctx.settings.sync()
        event.accept()

    def _stop_job_for_close(self) -> None:
        """Cancel the job and wait for it with a note on screen: saving takes a few seconds, and a window that
        vanished at once while the process still wrote looked like a crash."""
        name = self.ctx.jobs.current
        self.job_label.setText("Stopping… saving what was made so far")
        self.saving_note = QProgressDialog(f"Stopping the {name} job and saving what it made so far…", None, 0, 0,
                                           self)
        self.saving_note.setWindowTitle("Saving…")
        self.saving_note.setWindowModality(Qt.WindowModality.WindowModal)
        self.saving_note.setMinimumDuration(0)
        self.saving_note.show()
        loop = QEventLoop()
        self.ctx.jobs.finished.connect(loop.quit)
        # Stages check the cancel flag between steps; a minute covers the longest step (an ONNX export).
        QTimer.singleShot(60_000, loop.quit)
        self.ctx.jobs.cancel()
        if self.ctx.jobs.busy:
            loop.exec()  # the window keeps painting (the note, the log) while the worker saves
        self.ctx.jobs.finished.disconnect(loop.quit)
        # A local loop returns at once after QApplication.exit(): then wait here, without painting.
        if self.ctx.jobs.busy and not self.ctx.jobs.shutdown(timeout_ms=60_000):
            log.error("the job did not stop within 60 s; closing anyway")
        self.saving_note.close()

    def _restore_window(self) -> None:
        geometry = self.ctx.settings.geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self.ctx.settings.window_state()
        if state is not None:
            self._restored_state = self.restoreState(state)
