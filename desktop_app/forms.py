"""Form fields generated from the engine's settings (setting(...) in engine/config.py and each stage's config.py), as
the command line's flags are (engine/cli/flags.py): the default, range, choices, label, tip and unit of a field are
declared once, next to the setting, so the studio cannot drift from `gan-prune` (it once showed an EMA default of 0
where the command line had another).

A page asks for the settings it shows, in its own groups: `SettingsForm(page).add(form, "train", ("steps", ...))`;
`values()` gives them as the engine takes them (an unset `int | None` as None, a list typed as 64,32 as a tuple).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QCheckBox, QFormLayout, QLineEdit, QWidget

QT_INT_MAX = 2**31 - 1  # a QSpinBox holds a C int


class SettingsForm:
    """The generated fields of one page; the page keeps its own hand-made fields beside them."""

    def __init__(self, page) -> None:
        self.page = page
        self.fields: dict[str, dict] = {}  # name -> the facade's description of the setting

    def add(self, form: QFormLayout, config: str, names: tuple[str, ...]) -> None:
        for desc in self.page.ctx.facade.settings_form(config, names):
            widget = make_widget(self.page, desc)
            self.page.field(form, desc["name"], desc["label"], widget, desc["tip"] or desc["label"])
            self.fields[desc["name"]] = desc

    def values(self) -> dict[str, Any]:
        raw = self.page.field_values()
        return {name: engine_value(desc, raw[name]) for name, desc in self.fields.items()}


def make_widget(page, desc: dict) -> QWidget:
    """The widget for one setting: a switch, a list of choices, a number box or a line of text."""
    kind, default = desc["kind"], desc["default"]
    if kind == "bool":
        box = QCheckBox(desc["special"] or desc["label"])
        box.setChecked(bool(default))
        return box
    if desc["choices"]:
        return page.combo(desc["choices"], default)
    if kind == "int":
        lo = int(desc["lo"] if desc["lo"] is not None else -QT_INT_MAX)
        hi = int(min(desc["hi"] if desc["hi"] is not None else QT_INT_MAX, QT_INT_MAX))
        if desc["optional"]:  # the value below the range stands for "unset" and shows its words
            lo -= 1
        w = page.spin(lo, hi, lo if default is None else default, int(desc["step"] or 1), desc["unit"])
        if desc["optional"]:
            w.setSpecialValueText(desc["special"] or "unset")
        return w
    if kind == "float" and desc["widget"] == "percent":  # a fraction shown as a percent: 0.5 is 50 %
        lo = 100 * (desc["lo"] if desc["lo"] is not None else 0.01)
        hi = 100 * (desc["hi"] if desc["hi"] is not None else 0.99)
        return page.dspin(lo, hi, 100 * (default if default is not None else lo / 100), 100 * (desc["step"] or 0.01),
                          desc["decimals"] or 0, desc["unit"] or " %")
    if kind == "float":
        decimals = desc["decimals"] if desc["decimals"] is not None else 3
        lo = desc["lo"] if desc["lo"] is not None else -1e9
        hi = desc["hi"] if desc["hi"] is not None else 1e9
        return page.dspin(lo, hi, default if default is not None else lo, desc["step"] or 10 ** -decimals,
                          decimals, desc["unit"])
    edit = QLineEdit()  # text, or a list typed as 64,32
    edit.setText(",".join(map(str, default)) if isinstance(default, (list, tuple)) else str(default or ""))
    if desc["special"]:
        edit.setPlaceholderText(desc["special"])
    return edit


def engine_value(desc: dict, value: Any) -> Any:
    """A widget's value as the setting takes it: the unset value of an `int | None` as None, a list of numbers typed
    as "64, 32" as a tuple (text that is not numbers is passed on, for the engine to name)."""
    if desc["kind"] == "int" and desc["optional"] and isinstance(value, int):
        lo = int(desc["lo"] if desc["lo"] is not None else -QT_INT_MAX)
        return None if value < lo else value
    if desc["widget"] == "percent" and isinstance(value, (int, float)):
        return value / 100
    if desc["kind"] == "list" and isinstance(value, str):
        text = value.replace(" ", "")
        if not text:
            return None if desc["optional"] else ()
        try:
            return tuple(int(w) for w in text.split(","))
        except ValueError:
            return (text,)
    if desc["kind"] == "str" and desc["optional"] and value == "":
        return None
    return value

