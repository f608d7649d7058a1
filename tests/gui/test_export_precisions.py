"""The Export page offers exactly the engine's precision table: label, tooltip and default from one entry."""

from engine.export.precisions import PRECISIONS


def test_export_page_lists_the_engine_precisions(make_window):
    page = make_window().pages["export"]
    boxes = {p.name: page._fields[f"p_{p.name}"] for p in PRECISIONS}
    assert [(b.text(), b.toolTip(), b.isChecked()) for b in boxes.values()] == [
        (p.label, p.help, p.default) for p in PRECISIONS]
    assert page.values()["precisions"] == ["fp32", "int8"]
    boxes["fp16"].setChecked(True)
    assert page.values()["precisions"] == ["fp32", "fp16", "int8"]
