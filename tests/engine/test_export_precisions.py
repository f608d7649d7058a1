"""One precision table: every name has one file, a converter (fp32 excepted) and a CLI choice."""

from engine.cli import main as gan_prune
from engine.export.precisions import DEFAULT_NAMES, NAMES, PRECISIONS
from engine.stages.export.run import ExportConfig


def test_every_precision_has_its_own_file_and_one_reference_the_others_start_from():
    """Read from the table, not copied from it: a precision added there is checked here with no edit."""
    files = [p.file_name for p in PRECISIONS]
    assert len(set(files)) == len(files) and all(f.endswith(".onnx") and "/" not in f for f in files)
    assert len(set(NAMES)) == len(NAMES)
    references = [p for p in PRECISIONS if p.convert is None]
    assert len(references) == 1 and references[0].default  # written by the export itself; the others convert it
    assert all(p.label and p.help.endswith(".") for p in PRECISIONS)
    assert set(DEFAULT_NAMES) <= set(NAMES) and ExportConfig().precisions == DEFAULT_NAMES


def test_cli_offers_every_precision(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "2000")  # argparse wraps at hyphens otherwise
    try:
        gan_prune(["export", "--help"])
    except SystemExit as e:
        assert e.code == 0
    text = capsys.readouterr().out
    for p in PRECISIONS:
        assert f"{p.name} ({p.help.rstrip('.')})" in text
