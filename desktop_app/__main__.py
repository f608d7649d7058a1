"""`gan-prune-studio [WORKSPACE] [--self-test] [--screenshot PNG [--page NAME]]`: the desktop app's entry point."""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import multiprocessing
import os
import sys
from pathlib import Path

from desktop_app.project import STEP_PAGES

PAGES = ("welcome", *STEP_PAGES)


def log_file() -> Path:
    override = os.environ.get("GAN_STUDIO_LOG_DIR")
    if override:
        folder = Path(override)
    else:
        from platformdirs import user_log_dir

        folder = Path(user_log_dir("gan-pruning-studio", appauthor=False))
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "studio.log"


def setup_logging() -> Path | None:
    """A rotating log file in the per-user log folder (errors with their details land here, never on screen)."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    try:
        path = log_file()
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    except OSError:  # a read-only home must not stop the app
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    return path


def parse_args(argv: list[str] | None):
    p = argparse.ArgumentParser(prog="gan-prune-studio", description="GAN Pruning Studio: the point-and-click app.")
    p.add_argument("workspace", nargs="?", metavar="WORKSPACE", help="a project folder to open")
    p.add_argument("--demo", action="store_true",
                   help="open the demo project (the bundled pretrained GAN), creating it on first use")
    p.add_argument("--self-test", action="store_true",
                   help="run a tiny real training job (and prune + export when available) through the window "
                        "offscreen, then exit 0 (passed) or 1")
    p.add_argument("--screenshot", metavar="PNG", help="write a screenshot of the window to PNG and exit")
    p.add_argument("--page", choices=PAGES, default=None, help="the page to show for --screenshot")
    p.add_argument("--run", action="store_true", help="with --screenshot: press the page's Start and wait for the "
                                                      "job to finish before the screenshot")
    p.add_argument("--wait", type=float, default=300, metavar="SECONDS",
                   help="with --screenshot --run: how long to wait for the job (default 300); after that the "
                        "picture is taken, the job cancelled and the app exits 1")
    p.add_argument("--settings", metavar="INI", help="keep settings in this file instead of the user's settings")
    p.add_argument("--size", default="1400x900", help="window size for --screenshot (default 1400x900)")
    return p.parse_args(argv)


def _fail(message: str) -> int:
    """Bad input on a headless path: one line on stderr and exit 2 (the same promise as every gan-prune command)."""
    print(message, file=sys.stderr, flush=True)
    return 2


def _qt_messages_to_log() -> None:
    """Qt's own warnings ("This plugin does not support propagateSizeHints()") go to the log file: the terminal
    keeps the one line a headless run promises."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    qt_log = logging.getLogger("qt")
    levels = {QtMsgType.QtDebugMsg: logging.DEBUG, QtMsgType.QtInfoMsg: logging.INFO,
              QtMsgType.QtWarningMsg: logging.WARNING}
    qInstallMessageHandler(lambda mode, _ctx, message: qt_log.log(levels.get(mode, logging.ERROR), "%s", message))


def workspace_problem(path: str) -> str | None:
    """Why the project cannot be opened (one sentence), checked before the window and torch load; None if fine."""
    from desktop_app.facade import EngineFacade
    from desktop_app.jobs import describe_failure

    try:
        EngineFacade().open_workspace(path).read_manifest()
    except Exception as e:  # the window would show this as a dialog; headless, it is the one stderr line
        return describe_failure("open project", e).message
    return None


def show_splash(app):
    """A small window with the app's name while the window and PyTorch load (10 s or more on a busy machine)."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QColor, QFont, QPainter, QPixmap
    from PySide6.QtWidgets import QSplashScreen

    pixmap = QPixmap(460, 150)
    pixmap.fill(QColor("#2d6cdf"))
    painter = QPainter(pixmap)
    painter.setPen(QColor("white"))
    font = QFont()
    font.setPointSize(18)
    font.setBold(True)
    painter.setFont(font)
    painter.drawText(pixmap.rect().adjusted(0, -30, 0, 0), Qt.AlignmentFlag.AlignCenter, "GAN Pruning Studio")
    painter.end()
    splash = QSplashScreen(pixmap)
    splash.showMessage("Loading PyTorch…", Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignHCenter,
                       QColor("white"))
    splash.show()
    paint_now(app, splash)  # the next lines hold the event loop for seconds
    return splash


def paint_now(app, widget, limit_s: float = 1.0) -> None:
    """Run the event loop until a just-shown window is on screen and painted. Under a window manager the window
    is mapped a few round-trips after show(): one processEvents() left it black until the next idle loop."""
    import time

    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        app.processEvents()
        handle = widget.windowHandle()
        if handle is not None and handle.isExposed():
            widget.repaint()
            app.processEvents()
            return
        time.sleep(0.01)


def _show_window(app, settings, splash):
    """The main window (the splash stays up while it and PyTorch load), shown and drawn before any project opens;
    no splash: offscreen, hidden."""
    from desktop_app.app import build_main_window

    window = build_main_window(settings=settings)
    if splash is not None:
        splash.finish(window)
    if splash is None:
        window.confirm_close = lambda: True  # nobody can answer a question offscreen: never wait on a dialog
    else:
        window.show()  # first, so a dialog about the project opens over the window
        paint_now(app, window)  # and drawn before the project loads (its models take a moment)
    return window


def main(argv: list[str] | None = None) -> int:
    multiprocessing.freeze_support()
    args = parse_args(argv)
    headless = bool(args.self_test or args.screenshot)
    if headless and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY") \
            and sys.platform.startswith("linux"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from desktop_app.selftest import parse_size, screenshot_problem

    if args.screenshot:  # say so before a minute of work, not after
        problem = screenshot_problem(args.screenshot) or parse_size(args.size)[1]
        if problem:
            return _fail(problem)
    if args.wait <= 0:
        return _fail(f"--wait must be a positive number of seconds (got {args.wait:g}).")
    if headless and args.workspace is not None:
        problem = workspace_problem(args.workspace)
        if problem:
            return _fail(problem)
    path = setup_logging()
    logging.getLogger("desktop_app").info("starting (log file %s)", path)

    from PySide6.QtWidgets import QApplication

    # The splash first, before the window's modules (pyqtgraph, the pages) and PyTorch load: seconds on a busy
    # machine, which were a black screen.
    app = QApplication.instance() or QApplication(sys.argv[:1])
    splash = None if headless else show_splash(app)

    from desktop_app.app import create_application
    from desktop_app.interrupts import INTERRUPTED, Interrupts, quit_on_interrupt
    from desktop_app.settings import StudioSettings

    app = create_application(sys.argv[:1])  # the same application, given its name, style and icon
    _qt_messages_to_log()
    interrupts = Interrupts(app)
    if args.self_test:
        from desktop_app.selftest import run_self_test

        return run_self_test(app, interrupts)
    window = _show_window(app, StudioSettings(args.settings) if args.settings else None, splash)
    if args.workspace is not None and not window.open_workspace(args.workspace) and headless:
        message = window.last_dialog.text() if window.last_dialog is not None else "could not open the project"
        window.close()
        return _fail(message)
    if args.demo and args.workspace is None and window.open_demo():
        window.show_page("welcome")  # the Welcome page says what the demo holds and what to do next
    if args.screenshot:
        from desktop_app.selftest import take_screenshot

        return take_screenshot(app, window, args, interrupts)

    interrupts.received.connect(lambda _signum: quit_on_interrupt(window, app.exit))
    code = app.exec()
    return exit_at_once(INTERRUPTED if interrupts.interrupted else code)


def exit_at_once(code: int) -> int:
    """End the process as soon as the window has closed. By then the job has stopped and saved and the settings
    are written; what is left is Python tearing down PyTorch and thousands of Qt objects, which took 3 s (measured
    under Xvfb) with no window on screen, so a closed studio looked hung. Logs are flushed first."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
