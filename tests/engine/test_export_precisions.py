"""One precision table: every name has one file, a converter (fp32 excepted) and a CLI choice."""

from engine.cli import main as gan_prune
from engine.export.precisions import DEFAULT_NAMES, NAMES, PRECISIONS
from engine.stages.export.run import ExportConfig


def test_table_names_files_and_defaults():
    assert NAMES == ("fp32", "fp16", "int8", "int8-dynamic")
    assert [p.file_name for p in PRECISIONS] == ["generator.onnx", "generator.fp16.onnx", "generator.int8.onnx",
                                                 "generator.int8-dynamic.onnx"]
    assert [p.name for p in PRECISIONS if p.convert is None] == ["fp32"]  # the reference the others start from
    assert DEFAULT_NAMES == ExportConfig().precisions == ("fp32", "int8")


def test_cli_offers_every_precision(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "2000")  # argparse wraps at hyphens otherwise
    try:
        gan_prune(["export", "--help"])
    except SystemExit as e:
        assert e.code == 0
    text = capsys.readouterr().out
    for p in PRECISIONS:
        assert f"{p.name} ({p.help.rstrip('.')})" in text
