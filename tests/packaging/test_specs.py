"""The PyInstaller specs anchor every path on their own folder and keep the right packages in and out."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.packaging.conftest import PACKAGING

ROOT = PACKAGING.parent


@pytest.mark.parametrize("spec", ["sampler.spec", "studio.spec"])
def test_spec_paths_exist_from_any_folder(run_spec, spec):
    calls = run_spec(spec)
    args, kwargs = calls["Analysis"]
    scripts = args[0]
    assert all(Path(s).is_file() and Path(s).parent == PACKAGING for s in scripts)
    assert [Path(p) for p in kwargs["pathex"]] == [ROOT]
    for src, _dest in kwargs.get("datas", []):
        assert Path(src).exists() and Path(src).is_relative_to(ROOT)
    assert "COLLECT" in calls  # onedir: a folder, not a self-extracting single file


def test_sampler_excludes_torch_and_qt(run_spec):
    excludes = set(run_spec("sampler.spec")["Analysis"][1]["excludes"])
    assert {"torch", "torchvision", "torch_pruning", "PySide6", "shiboken6", "pyqtgraph", "onnx"} <= excludes


def test_studio_bundles_resources_and_the_lazy_onnx_exporter(run_spec):
    kwargs = run_spec("studio.spec")["Analysis"][1]
    assert (str(ROOT / "resources"), "resources") in kwargs["datas"]  # engine.resources looks in _MEIPASS/resources
    hidden = set(kwargs["hiddenimports"])
    assert {"onnxscript.stub", "onnx_ir.stub", "torch.onnx", "torch.distributed.run"} <= hidden
    assert kwargs["module_collection_mode"]["onnxscript"] == "pyz+py"  # onnxscript reads its own source
    assert {"PyQt5", "PyQt6", "PySide2", "triton"} <= set(kwargs["excludes"])  # a second Qt; 0.9 GB of triton


def test_sampler_strips_only_python_itself(run_spec, tmp_path):
    """strip on numpy's auditwheel-patched OpenBLAS breaks it; only libpython and lib-dynload may be stripped."""
    strip = run_spec("sampler.spec")["namespace"]["strip_python_debug_info"]
    blas = ("numpy.libs/libscipy_openblas.so", "/venv/numpy.libs/libscipy_openblas.so", "BINARY")
    assert strip([blas], str(tmp_path)) == [blas]
