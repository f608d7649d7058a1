"""An engine failure as a dialog: one human sentence, the technical details folded away, the window usable."""

from __future__ import annotations

import logging

from PySide6.QtWidgets import QMessageBox, QWidget

log = logging.getLogger("desktop_app")


def error_box(parent: QWidget | None, title: str, message: str, details: str = "") -> QMessageBox:
    """A non-blocking (window-modal, shown with open()) message box; returns it so tests can read and close it."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setText(message)
    if details:
        box.setDetailedText(details)  # folded away behind "Show Details..."
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.setObjectName("errorDialog")
    box.open()
    return box


def show_failure(parent: QWidget | None, failure) -> QMessageBox:
    """A desktop_app.jobs.JobFailure as a dialog (also written to the log file)."""
    if failure.user_error:
        log.warning("%s: %s", failure.job, failure.message)
    else:
        log.error("%s: %s\n%s", failure.job, failure.message, failure.details)
    return error_box(parent, f"{failure.job.capitalize()} did not finish", failure.message, failure.details)


def show_exception(parent: QWidget | None, what: str, exc: BaseException) -> QMessageBox:
    from desktop_app.jobs import describe_failure

    return show_failure(parent, describe_failure(what, exc))
