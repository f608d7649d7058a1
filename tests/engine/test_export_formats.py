"""The format table beside the precision table (issue 24): names, files, what each format holds, and a format that
is not installed refused in one sentence naming the extra. Torch-free and quick; the conversions themselves are
in tests/edge (make test-edge)."""

import pytest

from engine.cli import main as gan_prune
from engine.errors import ConfigError
from engine.export import formats
from engine.export.precisions import PRECISIONS
from engine.stages.export.config import ExportConfig


def test_every_format_names_its_files_from_the_precision_table():
    for fmt in formats.FORMATS:
        assert set(fmt.precisions) <= {p.name for p in PRECISIONS}
        for p in PRECISIONS:
            name = fmt.file_name(p.name)
            assert name.endswith(fmt.suffix) and name.startswith(p.file_name[:-len(".onnx")])
            assert p.name in fmt.precisions or fmt.why_not(p.name).endswith(".")
    assert formats.BY_NAME["onnx"].file_name("int8") == "generator.int8.onnx"
    assert formats.BY_NAME["executorch"].file_name("int8") == "generator.int8.pte"
    assert formats.BY_NAME["onnx"].available() and "onnx" in formats.available_names()


def test_pairs_split_what_can_be_made_from_what_cannot():
    made, refused = formats.pairs(["onnx", "litert", "onnx"], ["fp32", "int8"])
    assert [(f.name, p) for f, p in made] == [("onnx", "fp32"), ("onnx", "int8"), ("litert", "fp32")]
    assert [(f.name, p) for f, p, _ in refused] == [("litert", "int8")] and "ConvTranspose" in refused[0][2]


def test_format_is_validated_before_torch(monkeypatch):
    with pytest.raises(ConfigError, match="Unknown format"):
        ExportConfig(format=("tensorrt",)).validate()
    monkeypatch.setattr(formats.Format, "available", lambda self: self.name == "onnx")
    with pytest.raises(ConfigError, match=r"pip install -e '\.\[edge\]'"):
        ExportConfig(format=("onnx", "executorch")).validate()
    ExportConfig(format=("onnx",)).validate()


def test_a_format_not_installed_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(formats.Format, "available", lambda self: self.name == "onnx")
    assert gan_prune(["export", "--workspace", str(tmp_path), "--format", "onnx", "litert"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install -e '.[edge]'" in err[0] and "litert" in err[0]
    assert not (tmp_path / "export").exists()


def test_the_studio_lists_formats_and_opens_only_installed_runtimes(monkeypatch):
    from desktop_app.facade import EngineFacade

    listed = {f["name"]: f for f in EngineFacade().export_formats()}
    assert list(listed) == list(formats.NAMES) and listed["onnx"]["installed"] and listed["onnx"]["install"] is None
    for f in listed.values():
        assert f["installed"] == formats.BY_NAME[f["name"]].available()
        assert f["installed"] or f["install"] == formats.EDGE_EXTRA
    shown = EngineFacade().model_file_filter()
    assert "*.onnx" in shown
    import importlib.util

    assert ("*.tflite" in shown) == (importlib.util.find_spec("ai_edge_litert") is not None)
