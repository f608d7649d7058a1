"""Fixtures for the studio's tests: a window with throwaway settings, a tiny trained project, a tiny ONNX file."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from desktop_app.app import build_main_window  # noqa: E402
from desktop_app.settings import StudioSettings  # noqa: E402

TINY_TRAIN = {"arch": "mlp", "steps": 3, "batch_size": 16, "sample_every": 1, "checkpoint_every": 1000,
              "device": "cpu", "limit": 256}


@pytest.fixture
def studio_settings(tmp_path):
    return StudioSettings(tmp_path / "settings.ini")


@pytest.fixture
def make_window(qtbot, studio_settings):
    """Build MainWindow(s); every one is closed and its job stopped at the end of the test."""
    windows = []

    def make(**kwargs):
        kwargs.setdefault("settings", studio_settings)
        w = build_main_window(**kwargs)
        w.confirm_close = lambda: True
        qtbot.addWidget(w)
        windows.append(w)
        return w

    yield make
    for w in windows:
        w.ctx.jobs.shutdown(timeout_ms=30_000)
        w.close()


def set_tiny_training(window, **overrides) -> None:
    """Fill the Data and Train pages for a seconds-long real run."""
    opts = {**TINY_TRAIN, **overrides}
    data = window.pages["data"]
    data.dataset.setCurrentIndex(data.dataset.findData("mnist-5k"))
    data.limit.setValue(opts["limit"])
    train = window.pages["train"]
    f = train._fields
    f["arch"].setCurrentIndex(f["arch"].findData(opts["arch"]))
    f["device"].setCurrentIndex(f["device"].findData(opts["device"]))
    f["resume"].setChecked(False)
    for key in ("steps", "batch_size", "sample_every", "checkpoint_every"):
        f[key].setValue(opts[key])


@pytest.fixture
def tiny_training():
    """set_tiny_training as a fixture (test modules cannot import conftest reliably)."""
    return set_tiny_training


@pytest.fixture(scope="session")
def _trained_once(tmp_path_factory):
    """A project with a 3-step MLP GAN, trained once per session straight through the engine."""
    from engine.config import DataConfig, ModelConfig, PipelineConfig, TrainConfig, to_toml
    from engine.events import CancelToken
    from engine.stages.train.run import run_train
    from engine.workspace import Workspace, atomic_write_text

    ws = Workspace(tmp_path_factory.mktemp("trained") / "project")
    cfg = PipelineConfig(DataConfig(limit=256), ModelConfig(arch="mlp"),
                         TrainConfig(steps=3, batch_size=16, sample_every=1000, checkpoint_every=1000, device="cpu"))
    atomic_write_text(ws.config_path, to_toml(cfg))
    for _ in run_train(cfg, ws, CancelToken()):
        pass
    return ws.root


@pytest.fixture
def trained_project(_trained_once, tmp_path):
    """A fresh copy per test (pruning writes into it)."""
    dest = tmp_path / "project"
    shutil.copytree(_trained_once, dest)
    return dest


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory):
    """A real ONNX generator, built by hand: z[batch, 8] -> Gemm -> Tanh -> image[batch, 1, 6, 6], with our metadata."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((8, 36)).astype(np.float32), "w")
    b = numpy_helper.from_array(np.zeros(36, np.float32), "b")
    shape = numpy_helper.from_array(np.array([-1, 1, 6, 6], np.int64), "shape")
    nodes = [helper.make_node("Gemm", ["z", "w", "b"], ["h"]), helper.make_node("Tanh", ["h"], ["t"]),
             helper.make_node("Reshape", ["t", "shape"], ["image"])]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 8])],
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 6, 6])],
                              [w, b, shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for k, v in {"gan.latent_dim": "8", "gan.image_shape": "1,6,6", "gan.output_range": "-1,1", "gan.arch": "tiny",
                 "gan.dataset": "none", "gan.precision": "fp32"}.items():
        model.metadata_props.add(key=k, value=v)
    onnx.checker.check_model(model)
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    onnx.save(model, str(path))
    return path
