"""`gan-prune-studio [WORKSPACE] [--self-test] [--screenshot PNG [--page NAME]]`: the desktop app's entry point."""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import multiprocessing
import os
import sys
from pathlib import Path

PAGES = ("welcome", "data", "train", "prune", "finetune", "evaluate", "export", "generate")


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
    p.add_argument("--settings", metavar="INI", help="keep settings in this file instead of the user's settings")
    p.add_argument("--size", default="1400x900", help="window size for --screenshot (default 1400x900)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    multiprocessing.freeze_support()
    args = parse_args(argv)
    headless = args.self_test or args.screenshot
    if headless and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY") \
            and sys.platform.startswith("linux"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    path = setup_logging()
    logging.getLogger("desktop_app").info("starting (log file %s)", path)

    from desktop_app.app import build_main_window, create_application
    from desktop_app.settings import StudioSettings

    app = create_application(sys.argv[:1])
    if args.self_test:
        from desktop_app.selftest import run_self_test

        return run_self_test(app)
    settings = StudioSettings(args.settings) if args.settings else None
    window = build_main_window(settings=settings, workspace=args.workspace)
    if args.demo and args.workspace is None:
        window.open_demo()
    if args.screenshot:
        from desktop_app.selftest import take_screenshot

        return take_screenshot(app, window, args.screenshot, args.page, args.run, args.size)
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
