"""The studio's question before a project runs a model file that this user never chose to run.

An imported model's project is code: reading its model imports the model's .py file. The engine keeps the record of
who chose to run which file outside every project folder (engine/trust.py, torch-free, read here directly); a
project someone handed over asks here first. Yes records the choice (as `gan-prune trust` does) and the model is
read; No opens the project without its model: every read of it is refused by the engine and nothing runs.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMessageBox, QWidget


def question(files: list[str]) -> str:
    listed = "\n".join(f"  {f}" for f in files)
    many = len(files) > 1
    return (f"This project's model is an imported one: reading it runs the Python file{'s' if many else ''}\n"
            f"{listed}\n\nYou have not chosen to run {'them' if many else 'it'} on this computer (the "
            "project was made by someone else, or the file moved). Run it only if you trust it.\n\n"
            "Yes: run it, now and from now on. No: open the project without its model.")


def ask(parent: QWidget | None, files: list[str]) -> bool:
    """The dialog itself (tests replace this function to answer for the user)."""
    box = QMessageBox(QMessageBox.Icon.Warning, "Run this project's model code?", question(files),
                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, parent)
    box.setDefaultButton(QMessageBox.StandardButton.No)
    box.setObjectName("trustDialog")
    return box.exec() == QMessageBox.StandardButton.Yes


def allow_model_code(parent: QWidget | None, root: str | Path) -> bool:
    """True when the project's model may be read: it runs no file of its own, or this user trusts its files (now,
    on Yes). No, or a file that changed since the project was made (a dialog says which), leaves it untrusted."""
    from engine import trust
    from engine.errors import UserError

    files = trust.waiting(root)
    if not files:
        return True
    if not ask(parent, files):
        return False
    try:
        trust.trust_project(root)
    except UserError as e:
        from desktop_app.errors import show_exception

        show_exception(parent, "Trust the project's model", e)
        return False
    return True
