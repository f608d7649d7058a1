"""Find bundled files the same way from source and from a frozen (PyInstaller) app."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def resources_dir() -> Path:
    override = os.environ.get("GAN_STUDIO_RESOURCES")
    if override:
        return Path(override)
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def resource(*parts: str) -> Path:
    return resources_dir().joinpath(*parts)


def user_cache_dir() -> Path:
    """Per-user cache for downloaded data sets and trained feature networks."""
    override = os.environ.get("GAN_STUDIO_CACHE")
    if override:
        return Path(override)
    from platformdirs import user_cache_dir as _ucd

    return Path(_ucd("gan-pruning-studio", appauthor=False))
