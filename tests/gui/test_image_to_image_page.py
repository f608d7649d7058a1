"""The studio runs an image-to-image ONNX model: the Generate page takes a chosen or dropped image or folder and
shows input | output rows; without an input it says what to do in a dialog."""

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from engine.export.image_onnx import export_image_generator, image_metadata
from engine.models import build_generator, image_specs


@pytest.fixture(scope="module")
def superres_onnx(tmp_path_factory):
    torch.manual_seed(0)
    g, _ = image_specs("unet", (1, 4, 4), (1, 16, 16), residual=True)
    G = build_generator(g).eval()
    path = tmp_path_factory.mktemp("onnx") / "sr.onnx"
    return export_image_generator(G, path, image_metadata(G, "superres", "mnist-5k", scale=4))


def test_generate_page_turns_chosen_and_dropped_images_into_outputs(make_window, superres_onnx, tmp_path):
    folder = tmp_path / "inputs"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((4, 4), 80 * i, np.uint8)).save(folder / f"{i}.png")
    big = tmp_path / "big.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(big)
    window = make_window()
    gen = window.pages["generate"]
    window.show_page("generate")
    gen.path.setText(str(superres_onnx))
    gen.start_button.click()  # no input chosen yet: a dialog, no grid
    assert gen.last_dialog.isVisible() and "choose an input image or folder" in gen.last_dialog.text()
    assert not gen.grid.has_image()
    gen.last_dialog.close()

    gen.source.setText(str(folder))
    gen.start_button.click()
    assert gen.grid.has_image() and gen.grid.updates == 1
    pixmap = gen.grid._pixmap  # a row per input: input | output at 16 px with 2 px borders
    assert (pixmap.width(), pixmap.height()) == (2 * 18 + 2, 3 * 18 + 2)
    assert gen.grid.caption.text() == "input | output, 3 image(s)"
    assert "task superres, input 1x4x4" in gen.info.text()

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(big))])
    drop = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                      Qt.KeyboardModifier.NoModifier)
    gen.dropEvent(drop)
    assert gen.source.text() == str(big) and gen.grid.updates == 2
    assert "big.png is 8x8; resized to 4x4, the model's input" in gen.info.text()


def test_superres_trains_from_the_studio_with_triplet_previews(make_window, tiny_training, tmp_path, qtbot):
    from engine.events import CancelToken
    from engine.stages.evaluate.run import EvaluateConfig, run_evaluate
    from engine.workspace import Workspace

    window = make_window()
    window.open_workspace(tmp_path / "project")
    tiny_training(window, arch="dcgan", steps=2, batch_size=8, limit=40, sample_every=1)
    data, train = window.pages["data"], window.pages["train"]
    data.image_size.setValue(16)
    data.task.setCurrentIndex(data.task.findData("superres"))
    assert train._fields["arch"].currentData() == "unet"  # the arch follows an image task
    assert train.values()["model"] == {"arch": "unet", "latent_dim": 100, "task": "superres", "scale": 4,
                                       "width": None, "blocks": None}
    with qtbot.waitSignal(window.ctx.jobs.finished, timeout=180_000) as finished:
        train.start_button.click()
    assert finished.args == ["train", "done"]
    assert train.grid.caption.text() == "input → output → target, step 2"
    assert (train.grid._pixmap.width(), train.grid._pixmap.height()) == (3 * 18 + 2, 4 * 18 + 2)  # 4 test images

    ws = Workspace(tmp_path / "project")
    for _ in run_evaluate(EvaluateConfig(feature_net="none", latency=False), ws, CancelToken()):
        pass
    evaluate = window.pages["evaluate"]
    evaluate.refresh()
    headers = [evaluate.table.horizontalHeaderItem(i).text() for i in range(evaluate.table.columnCount())]
    assert headers[5:8] == ["PSNR vs truth", "SSIM vs truth", "FID"]
    assert [evaluate.table.item(i, 0).text() for i in range(evaluate.table.rowCount())] == ["bicubic", "dense"]


@pytest.mark.slow  # exports a CycleGAN generator (torch.onnx: ~9 s on a busy 2-core machine)
def test_generate_page_shows_an_unpaired_models_before_and_after(make_window, tmp_path):
    torch.manual_seed(0)
    g, _ = image_specs("cyclegan", (1, 8, 8), (1, 8, 8), False, sees_input=False, width=4, blocks=1)
    G = build_generator(g).eval()
    onnx = export_image_generator(G, tmp_path / "h2z.onnx", image_metadata(G, "unpaired", "horse2zebra-28"))
    Image.fromarray(np.full((8, 8), 200, np.uint8)).save(tmp_path / "horse.png")
    gen = make_window().pages["generate"]
    gen.path.setText(str(onnx))
    gen.source.setText(str(tmp_path / "horse.png"))
    gen.start_button.click()
    assert gen.grid.has_image() and gen.grid.caption.text() == "input | output, 1 image(s)"
    assert (gen.grid._pixmap.width(), gen.grid._pixmap.height()) == (2 * 10 + 2, 10 + 2)
    assert "task unpaired, input 1x8x8" in gen.info.text()


def test_evaluate_page_shows_an_unpaired_report_with_the_identity_baseline(make_window, tmp_path):
    from engine.config import DataConfig, ModelConfig, PipelineConfig, TrainConfig
    from engine.events import CancelToken
    from engine.pipeline import save_config
    from engine.stages.evaluate.run import EvaluateConfig, run_evaluate
    from engine.stages.train.run import run_train
    from engine.workspace import Workspace

    ws = Workspace(tmp_path / "h2z")
    cfg = PipelineConfig(DataConfig("horse2zebra-28", limit=20, image_size=8),
                         ModelConfig(arch="cyclegan", task="unpaired", width=4, blocks=1),
                         TrainConfig(steps=1, batch_size=4, device="cpu"))
    save_config(ws, cfg)
    list(run_train(cfg, ws, CancelToken()))
    list(run_evaluate(EvaluateConfig(feature_net="none", latency=False), ws, CancelToken()))
    window = make_window()
    window.open_workspace(tmp_path / "h2z")
    evaluate = window.pages["evaluate"]
    evaluate.refresh()
    table = evaluate.table
    headers = [table.horizontalHeaderItem(i).text() for i in range(table.columnCount())]
    assert headers[5:] == ["FID vs real B", "Cycle error", "PSNR vs dense", "SSIM vs dense"]
    assert not any(table.isColumnHidden(i) for i in range(table.columnCount()))
    assert [table.item(i, 0).text() for i in range(table.rowCount())] == ["identity", "dense"]
    assert table.item(1, 6).text() != "—" and table.item(1, 7).text() == "—"  # the dense model is the teacher
