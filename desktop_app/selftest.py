"""`--self-test` (a tiny real job through the real window, offscreen) and `--screenshot` (for docs and checks)."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from desktop_app.interrupts import INTERRUPTED
from engine.relaunch import is_frozen


def wait_ms(ms: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def run_job(window, page_key: str, timeout_s: float = 300, button=None, interrupts=None) -> str:
    """Press a page's Start (or `button`) and run the event loop until its job ends; the job's status, "timed out"
    (the job is still running: the caller cancels it) or "interrupted" (SIGTERM/Ctrl-C arrived)."""
    jobs = window.ctx.jobs
    loop = QEventLoop()
    result: dict[str, str] = {}

    def finished(_name: str, status: str) -> None:
        result["status"] = status
        loop.quit()

    def interrupted(_signum: int) -> None:
        result["status"] = "interrupted"
        loop.quit()

    jobs.finished.connect(finished)
    if interrupts is not None:
        interrupts.received.connect(interrupted)
    try:
        page = window.pages[page_key]
        window.show_page(page_key)
        (button or page.start_button).click()
        if not jobs.busy:
            return "not started: " + (page.start_blocker() or "see the dialog")
        timer = QTimer()
        timer.setSingleShot(True)
        timer.timeout.connect(loop.quit)
        timer.start(int(timeout_s * 1000))
        loop.exec()
        timer.stop()
    finally:
        jobs.finished.disconnect(finished)
        if interrupts is not None:
            interrupts.received.disconnect(interrupted)
    return result.get("status", "timed out")


def parse_size(size: str) -> tuple[tuple[int, int], str | None]:
    try:
        w, h = (int(v) for v in size.lower().split("x"))
        if w > 0 and h > 0:
            return (w, h), None
    except ValueError:
        pass
    return (0, 0), f"--size must look like 1400x900 (got {size!r})."


def screenshot_problem(png: str) -> str | None:
    """Why the screenshot could not be written there (one sentence), or None; checked before any work."""
    out = Path(png)
    if out.is_dir():
        return f"The screenshot path {png} is a folder; give a file name such as {out / 'studio.png'}."
    if out.suffix.lower() not in IMAGE_SUFFIXES:
        return f"The screenshot {png} must end in .png, .jpg or .bmp; choose such a file name."
    folder = out.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        return f"Cannot write the screenshot {png}: {folder} is not a writable folder; choose another path."
    return None


def save_screenshot(pixmap, png: str) -> str | None:
    """Write atomically (a temp file, then rename); why it failed, or None."""
    out = Path(png)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if not pixmap.save(str(tmp), out.suffix.lstrip(".").upper()):
            raise OSError("the image could not be written")
        os.replace(tmp, out)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        reason = e.strerror or str(e)
        return f"Cannot write the screenshot {png} ({reason}); choose a writable folder."
    return None


def _say(line: str) -> None:
    print(line, flush=True)


def run_self_test(app: QApplication, interrupts=None) -> int:
    from desktop_app.app import build_main_window
    from desktop_app.settings import StudioSettings

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="studio-selftest-") as tmp:
        window = build_main_window(settings=StudioSettings(Path(tmp) / "settings.ini"))
        window.confirm_close = lambda: True  # headless: closing cancels a running job, never asks
        window.resize(1200, 800)
        window.show()
        try:
            if not window.open_workspace(Path(tmp) / "project"):
                _say("FAIL could not create a project folder")
                return 1
            ok = _train(window, interrupts)
            if ok and is_frozen():
                ok = _train_on_processes(window, interrupts)
            if ok is None:
                _say("interrupted: the job was cancelled")
                return INTERRUPTED
            if ok and window.ctx.facade.available("prune"):
                ok = _prune(window, interrupts)
            if ok and is_frozen() and window.ctx.facade.available("finetune"):
                ok = _finetune_on_processes(window, interrupts)
            if ok and window.ctx.facade.available("export"):
                ok = _export_and_generate(window, interrupts)
            dialog = window.last_dialog
            if dialog is not None and dialog.isVisible():
                _say(f"FAIL error dialog: {dialog.text()}")
                ok = False
        finally:
            window.close()
            app.processEvents()
    _say(f"self-test {'passed' if ok else 'FAILED'} in {time.perf_counter() - t0:.1f} s")
    return 0 if ok else 1


def _train(window, interrupts) -> bool | None:
    """A seconds-long training run on the bundled data; None when it was interrupted."""
    data = window.pages["data"]
    data.dataset.setCurrentIndex(data.dataset.findData("mnist-5k"))
    data.limit.setValue(256)
    train = window.pages["train"]
    for key, value in (("steps", 3), ("batch_size", 16), ("sample_every", 1), ("checkpoint_every", 1000)):
        train._fields[key].setValue(value)
    train._fields["arch"].setCurrentIndex(train._fields["arch"].findData("mlp"))
    train._fields["device"].setCurrentIndex(train._fields["device"].findData("cpu"))
    train._fields["resume"].setChecked(False)
    status = run_job(window, "train", interrupts=interrupts)
    if status == "interrupted":
        return None
    grid_ok = train.grid.updates > 0
    _say(f"{'ok  ' if status == 'done' and grid_ok else 'FAIL'} train: {status}, "
         f"{train.grid.updates} sample grid update(s), {train.losses.point_count('loss_g')} loss points")
    return status == "done" and grid_ok


def _train_on_processes(window, interrupts, processes: int = 2) -> bool | None:
    """The same run on `processes` CPU processes (Gloo) through the Processes field: in the packaged studio this
    proves that torchrun can start the frozen program as `gan-prune` (engine.relaunch) and that rank 0's progress,
    losses and grids come back to the page. From source tests/gui/test_processes_field.py covers it."""
    train = window.pages["train"]
    train._fields["processes"].setValue(processes)
    status = run_job(window, "train", interrupts=interrupts)
    train._fields["processes"].setValue(1)
    if status == "interrupted":
        return None
    losses = train.losses.point_count("loss_g")
    ok = status == "done" and losses == train._fields["steps"].value() and train.grid.has_image()
    _say(f"{'ok  ' if ok else 'FAIL'} train on {processes} processes: {status}, {losses} loss points")
    return ok


def _finetune_on_processes(window, interrupts, processes: int = 2) -> bool:
    """Two steps of fine-tuning the pruned model on `processes` CPU processes (the Fine-tune page's field)."""
    finetune = window.pages["finetune"]
    for key, value in (("steps", 2), ("batch_size", 16), ("sample_every", 1), ("probe_every", 0),
                       ("processes", processes)):
        finetune._fields[key].setValue(value)
    finetune._fields["device"].setCurrentIndex(finetune._fields["device"].findData("cpu"))
    finetune._fields["resume"].setChecked(False)
    status = run_job(window, "finetune", interrupts=interrupts)
    finetune._fields["processes"].setValue(1)
    ok = status == "done" and finetune.student.has_image()
    _say(f"{'ok  ' if ok else 'FAIL'} fine-tune on {processes} processes: {status}")
    return ok


def _prune(window, interrupts) -> bool:
    prune = window.pages["prune"]
    prune.kind.setCurrentIndex(prune.kind.findData("channels"))
    prune.amount.setValue(50)
    prune.auto.setChecked(False)
    prune.schedule.setCurrentIndex(prune.schedule.findData("oneshot"))
    status = run_job(window, "prune", interrupts=interrupts)
    _say(f"{'ok  ' if status == 'done' else 'FAIL'} prune: {status}")
    return status == "done"


def _export_and_generate(window, interrupts) -> bool:
    from desktop_app.facade import PRECISION_CHOICES

    export = window.pages["export"]
    for key in PRECISION_CHOICES:
        export._fields[f"p_{key}"].setChecked(key == "fp32")
    export._fields["bench_runs"].setValue(2)
    status = run_job(window, "export", interrupts=interrupts)
    _say(f"{'ok  ' if status == 'done' else 'FAIL'} export: {status}, {export.table.rowCount()} file(s)")
    if status != "done":
        return False
    if not window.ctx.facade.available("generate"):
        return True
    gen = window.pages["generate"]
    gen.path.setText(str(window.ctx.workspace.export_dir / "generator.onnx"))
    gen.start_button.click()
    _say(f"{'ok  ' if gen.grid.has_image() else 'FAIL'} generate: {(gen.last_seconds or 0) * 1000:.1f} ms")
    return gen.grid.has_image()


def take_screenshot(app: QApplication, window, args, interrupts=None) -> int:
    """`--screenshot PNG [--page P] [--run [--wait S]]`. Never waits on a dialog: a job that outlasts --wait is
    photographed, then cancelled and waited for; SIGTERM/Ctrl-C cancels the job and exits 130 without a picture."""
    (w, h), _ = parse_size(args.size)
    window.resize(w, h)
    window.show()
    page, status = args.page, "done"
    if page:
        window.show_page(page)
    wait_ms(300)  # let the device probe and layouts settle
    if args.run and page == "generate":  # not a background job: it runs on the click
        window.pages[page].start_button.click()
    elif args.run and page and page != "welcome":
        status = run_job(window, page, timeout_s=args.wait, interrupts=interrupts)
        if status != "interrupted":
            wait_ms(300)
    app.processEvents()
    problem = None if status == "interrupted" else save_screenshot(window.grab(), args.screenshot)
    window.close()  # cancels a job that is still running and waits for its worker (confirm_close says yes)
    app.processEvents()
    if status == "interrupted":
        print("interrupted: the job was cancelled; no screenshot written", file=sys.stderr)
        return INTERRUPTED
    if problem:
        print(problem, file=sys.stderr)
        return 2
    if status == "timed out":
        print(f"wrote {args.screenshot}; the {page} job did not finish within {args.wait:g} s (--wait), so it was "
              "cancelled", file=sys.stderr)
        return 1
    print(f"wrote {args.screenshot} (job: {status})" if args.run else f"wrote {args.screenshot}")
    return 0 if status == "done" else 1
