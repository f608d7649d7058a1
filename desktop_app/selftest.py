"""`--self-test` (a tiny real job through the real window, offscreen) and `--screenshot` (for docs and checks)."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication


def wait_ms(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def run_job(window, page_key: str, timeout_s: float = 300, button=None) -> str:
    """Press a page's Start (or `button`) and run the event loop until its job ends; the job's status."""
    jobs = window.ctx.jobs
    loop = QEventLoop()
    result: dict[str, str] = {}

    def finished(_name: str, status: str) -> None:
        result["status"] = status
        loop.quit()

    jobs.finished.connect(finished)
    try:
        page = window.pages[page_key]
        window.show_page(page_key)
        (button or page.start_button).click()
        if not jobs.busy:
            return "not started: " + (page.start_blocker() or "see the dialog")
        QTimer.singleShot(int(timeout_s * 1000), loop.quit)
        loop.exec()
    finally:
        jobs.finished.disconnect(finished)
    return result.get("status", "timed out")


def _say(line: str) -> None:
    print(line, flush=True)


def run_self_test(app: QApplication) -> int:
    from desktop_app.app import build_main_window
    from desktop_app.facade import PRECISION_CHOICES
    from desktop_app.settings import StudioSettings

    t0 = time.perf_counter()
    ok = True
    with tempfile.TemporaryDirectory(prefix="studio-selftest-") as tmp:
        window = build_main_window(settings=StudioSettings(Path(tmp) / "settings.ini"))
        window.resize(1200, 800)
        window.show()
        try:
            if not window.open_workspace(Path(tmp) / "project"):
                _say("FAIL could not create a project folder")
                return 1
            data = window.pages["data"]
            data.dataset.setCurrentIndex(data.dataset.findData("mnist-5k"))
            data.limit.setValue(256)
            train = window.pages["train"]
            for key, value in (("steps", 3), ("batch_size", 16), ("sample_every", 1), ("checkpoint_every", 1000)):
                train._fields[key].setValue(value)
            train._fields["arch"].setCurrentIndex(train._fields["arch"].findData("mlp"))
            train._fields["device"].setCurrentIndex(train._fields["device"].findData("cpu"))
            train._fields["resume"].setChecked(False)
            status = run_job(window, "train")
            grid_ok = train.grid.updates > 0
            _say(f"{'ok  ' if status == 'done' and grid_ok else 'FAIL'} train: {status}, "
                 f"{train.grid.updates} sample grid update(s), {train.losses.point_count('loss_g')} loss points")
            ok &= status == "done" and grid_ok
            if ok and window.ctx.facade.available("prune"):
                prune = window.pages["prune"]
                prune.kind.setCurrentIndex(prune.kind.findData("channels"))
                prune.amount.setValue(50)
                prune.auto.setChecked(False)
                prune.schedule.setCurrentIndex(prune.schedule.findData("oneshot"))
                status = run_job(window, "prune")
                _say(f"{'ok  ' if status == 'done' else 'FAIL'} prune: {status}")
                ok &= status == "done"
            if ok and window.ctx.facade.available("export"):
                export = window.pages["export"]
                for key in PRECISION_CHOICES:
                    export._fields[f"p_{key}"].setChecked(key == "fp32")
                export._fields["bench_runs"].setValue(2)
                status = run_job(window, "export")
                _say(f"{'ok  ' if status == 'done' else 'FAIL'} export: {status}, {export.table.rowCount()} file(s)")
                ok &= status == "done"
                if status == "done" and window.ctx.facade.available("generate"):
                    gen = window.pages["generate"]
                    gen.path.setText(str(window.ctx.workspace.export_dir / "generator.onnx"))
                    gen.start_button.click()
                    _say(f"{'ok  ' if gen.grid.has_image() else 'FAIL'} generate: "
                         f"{(gen.last_seconds or 0) * 1000:.1f} ms")
                    ok &= gen.grid.has_image()
            dialog = window.last_dialog
            if dialog is not None and dialog.isVisible():
                _say(f"FAIL error dialog: {dialog.text()}")
                ok = False
        finally:
            window.close()
            app.processEvents()
    _say(f"self-test {'passed' if ok else 'FAILED'} in {time.perf_counter() - t0:.1f} s")
    return 0 if ok else 1


def take_screenshot(app: QApplication, window, png: str, page: str | None, run: bool, size: str) -> int:
    try:
        w, h = (int(v) for v in size.lower().split("x"))
    except ValueError:
        print(f"--size must look like 1400x900 (got {size!r}).", file=sys.stderr)
        return 2
    window.resize(w, h)
    window.show()
    if page:
        window.show_page(page)
    wait_ms(300)  # let the device probe and layouts settle
    status = "done"
    if run and page == "generate":  # not a background job: it runs on the click
        window.pages[page].start_button.click()
    elif run and page and page != "welcome":
        status = run_job(window, page)
        wait_ms(300)
    app.processEvents()
    out = Path(png)
    out.parent.mkdir(parents=True, exist_ok=True)
    saved = window.grab().save(str(out))
    window.close()
    app.processEvents()
    if not saved:
        print(f"Could not write the screenshot {out}; check the folder.", file=sys.stderr)
        return 1
    print(f"wrote {out} (job: {status})" if run else f"wrote {out}")
    return 0 if status == "done" else 1
