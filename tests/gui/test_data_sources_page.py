"""Every data source of the engine's table (engine/data_sources.py) goes through the Data page: offered for a task
it serves, its values accepted by the engine, and (when it needs no download) previewed by a real job."""

import numpy as np
import pytest
from PIL import Image

from desktop_app.facade import EngineFacade

SOURCES = EngineFacade.data_sources()


def _image_folder(root):
    """A folder every path source can read: A/ and B/ with the same file names (pairs), which a folder of images
    also reads (two class sub-folders)."""
    rng = np.random.default_rng(0)
    for side in ("A", "B"):
        (root / side).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8), "L").save(root / side / f"{i}.png")
    return root


@pytest.mark.parametrize("source", SOURCES, ids=[s["name"] for s in SOURCES])
def test_every_data_source_goes_through_the_data_page(make_window, qtbot, tmp_path, source):
    window = make_window()
    data = window.pages["data"]
    task = source["task"] or "unconditional"
    data.task.setCurrentIndex(data.task.findData(task))
    i = data.dataset.findData(source["name"])
    assert i >= 0 and not data.dataset.view().isRowHidden(i), f"{source['name']} is not offered for {task}"
    data.dataset.setCurrentIndex(i)
    assert data.folder_row.isEnabled() == source["takes_path"]
    if source["takes_path"]:
        data.folder.setText(str(_image_folder(tmp_path / "images")))
    data.limit.setValue(12)
    assert window.ctx.facade.check("data", data.values()) is None
    assert data.start_button.isEnabled(), data.error_label.text()
    if source["origin"] == "downloaded":
        return  # the tests run offline; the download's own refusal is tested in tests/engine/test_data_sources.py
    with qtbot.waitSignal(window.ctx.jobs.finished, timeout=60_000) as finished:
        data.start_button.click()
    assert finished.args == ["data", "done"]
    assert data.grid.has_image() and "images of" in data.info.text()
