"""Typed access to the studio's QSettings: window geometry, dock state, recent workspaces, last-used options.

The storage path is injectable so tests never touch the user's real settings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

MAX_RECENT = 8


class StudioSettings:
    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:
            self._qs = QSettings("GAN Pruning Studio", "studio")
        else:  # an ini file at a known place: tests and portable installs
            self._qs = QSettings(str(path), QSettings.Format.IniFormat)

    # ---- window -----------------------------------------------------------------------------------------------
    def geometry(self) -> QByteArray | None:
        value = self._qs.value("window/geometry")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def set_geometry(self, value: QByteArray) -> None:
        self._qs.setValue("window/geometry", value)

    def window_state(self) -> QByteArray | None:
        value = self._qs.value("window/state")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def set_window_state(self, value: QByteArray) -> None:
        self._qs.setValue("window/state", value)

    # ---- recent workspaces ------------------------------------------------------------------------------------
    def recent_workspaces(self) -> list[str]:
        raw = self._qs.value("workspaces/recent", "[]")
        try:
            items = json.loads(raw) if isinstance(raw, str) else []
        except json.JSONDecodeError:  # a hand-edited or damaged file: start over rather than fail
            items = []
        return [str(p) for p in items if isinstance(p, str)]

    def add_recent_workspace(self, path: str | Path) -> list[str]:
        path = str(Path(path))
        items = [path] + [p for p in self.recent_workspaces() if p != path]
        items = items[:MAX_RECENT]
        self._qs.setValue("workspaces/recent", json.dumps(items))
        return items

    # ---- last-used options per page ---------------------------------------------------------------------------
    def options(self, page: str) -> dict[str, Any]:
        raw = self._qs.value(f"options/{page}", "{}")
        try:
            value = json.loads(raw) if isinstance(raw, str) else {}
        except json.JSONDecodeError:
            value = {}
        return value if isinstance(value, dict) else {}

    def set_options(self, page: str, values: dict[str, Any]) -> None:
        self._qs.setValue(f"options/{page}", json.dumps(values))

    def sync(self) -> None:
        self._qs.sync()

    @property
    def file_name(self) -> str:
        return self._qs.fileName()
