"""The studio follows the engine's registries, checked in a real window: every stage that ticks a page gets its ✓
there, and every generated setting shows the command line's default and range."""

import dataclasses

import pytest

from desktop_app.forms import SettingsForm
from engine import stages
from engine.workspace import Workspace


@pytest.mark.parametrize("stage", [s for s in stages.STAGES if s.page and s.ticks_page], ids=lambda s: s.name)
def test_every_stage_ticks_its_page_in_the_sidebar(make_window, tmp_path, stage):
    ws = Workspace(tmp_path / "p")
    ws.update_stage(stage.name, status="done")
    window = make_window(workspace=ws.root)
    i = list(window.pages).index(stage.page)
    assert window.sidebar.item(i).text().startswith("✓"), (stage.name, window.sidebar.item(i).text())
    others = [window.sidebar.item(j).text() for j, key in enumerate(window.pages) if key != stage.page]
    assert not any(t.startswith("✓") for t in others), others


def test_every_generated_setting_shows_the_command_lines_default_and_range(make_window):
    window = make_window()
    forms = [(key, form) for key, page in window.pages.items()
             for form in vars(page).values() if isinstance(form, SettingsForm)]
    assert {key for key, _ in forms} >= {"train", "finetune", "prune", "evaluate", "export"}
    for key, form in forms:
        shown = form.values()
        for name, desc in form.fields.items():
            assert shown[name] == desc["default"], f"{key}.{name}: the studio shows {shown[name]!r}, " \
                                                   f"gan-prune's default is {desc['default']!r}"
            w = window.pages[key]._fields[name]
            if desc["kind"] in ("int", "float") and desc["lo"] is not None:
                assert w.minimum() <= desc["lo"] and (desc["hi"] is None or w.maximum() <= desc["hi"]), (key, name)


def test_the_descriptions_are_the_dataclass_fields():
    """facade.settings_form reads the config class itself: a new field with setting(...) needs no studio code."""
    from desktop_app.facade import EngineFacade
    from engine.config import TrainConfig

    facade = EngineFacade()
    for f in dataclasses.fields(TrainConfig):
        desc = facade.settings_form("train", (f.name,))[0]
        assert desc["default"] == f.default and desc["label"]
    ft = {d["name"]: d for d in facade.settings_form("finetune", ("steps", "seed", "batch_size"))}
    assert ft["steps"]["lo"] == 1 and ft["batch_size"]["hi"] == 65536  # borrowed from training, as its check does


@pytest.mark.parametrize("page, command", [("prune", "prune"), ("evaluate", "evaluate"), ("export", "export")])
def test_prune_evaluate_and_export_fields_show_what_gan_prune_would_use(make_window, tmp_path, page, command):
    """Each generated field, as the page sends it, is the value `gan-prune <command>` parses with no flags (Prune's
    amount shows 50 % for the command line's 0.5)."""
    from engine.cli import build_parser

    window = make_window()
    form = window.pages[page].settings
    extra = ["--method", "channel-l1"] if command == "prune" else []  # prune asks for a method
    parsed = vars(build_parser().parse_args([command, "--workspace", str(tmp_path), *extra]))
    shown = form.values()
    assert set(form.fields) <= set(parsed)
    for name in form.fields:
        assert shown[name] == parsed[name], (page, name, shown[name], parsed[name])
    if page == "prune":
        assert window.pages["prune"].amount.value() == 100 * parsed["amount"] and window.pages["prune"].amount.suffix()
        window.pages["prune"].amount.setValue(30)
        assert window.pages["prune"].values()["amount"] == pytest.approx(0.3)
