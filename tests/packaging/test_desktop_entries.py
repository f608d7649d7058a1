"""The Linux .desktop files are valid desktop entries that start the bundled program."""

from __future__ import annotations

import configparser

import pytest

from tests.packaging.conftest import PACKAGING


@pytest.mark.parametrize("name", ["gan-prune-studio", "gan-sample"])
def test_desktop_entry(name):
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(PACKAGING / "linux" / f"{name}.desktop", encoding="utf-8")
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application" and entry["Name"]
    assert entry["Exec"].split()[0] == name  # install-desktop-entry.sh rewrites this to the absolute path
    assert entry["Icon"] == name
    assert entry["Terminal"] == ("true" if name == "gan-sample" else "false")
