"""Composition root: the QApplication, the engine facade, the job runner, settings and the main window."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from desktop_app.context import StudioContext
from desktop_app.facade import EngineFacade
from desktop_app.jobs import JobRunner
from desktop_app.main_window import MainWindow
from desktop_app.settings import StudioSettings


def app_icon() -> QIcon:
    from engine.resources import resource

    icon = QIcon()
    for name in ("studio.svg", "studio.png"):
        path = resource("icons", name)
        if path.exists():
            icon.addFile(str(path))
    return icon


def create_application(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName("GAN Pruning Studio")
    app.setOrganizationName("GAN Pruning Studio")
    # Hand the GIL over every 1 ms instead of 5: a worker thread running Python between torch ops then delays
    # the event loop less (part of keeping UI stalls short, see bench/ui_responsiveness.py).
    sys.setswitchinterval(0.001)
    app.setStyle("Fusion")  # the same look on every platform and offscreen
    app.setWindowIcon(app_icon())
    return app


def build_main_window(facade: EngineFacade | None = None, settings: StudioSettings | None = None,
                      jobs: JobRunner | None = None, workspace: str | Path | None = None) -> MainWindow:
    """Everything the window needs, each part injectable (tests pass a temp settings file and their own facade)."""
    jobs = jobs or JobRunner()
    if facade is None:
        facade = EngineFacade()
        facade.prepare()
    ctx = StudioContext(facade, jobs, settings or StudioSettings())
    window = MainWindow(ctx, app_icon())
    jobs.setParent(window)
    ctx.setParent(window)
    if workspace is not None:
        window.open_workspace(workspace)
    return window
