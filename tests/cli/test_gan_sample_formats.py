"""gan-sample on an ExecuTorch, LiteRT or Core ML file where it cannot run it: one line naming what to install or
which file to use instead, exit 2, nothing written (the runs themselves: tests/edge, make test-edge)."""

import importlib.util

import pytest

from engine.sample_cli import main as gan_sample


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("gan-sample: error: ")
    return err[0]


def test_a_core_ml_package_is_refused_in_one_sentence(tmp_path, capsys):
    package = tmp_path / "generator.mlpackage"
    package.mkdir()
    assert gan_sample([str(package), "--out", str(tmp_path / "g.png")]) == 2
    assert "Core ML" in _one_line(capsys) and not (tmp_path / "g.png").exists()


@pytest.mark.parametrize("name,package", [("g.tflite", "ai_edge_litert"), ("g.pte", "executorch")])
def test_a_runtime_not_installed_names_the_extra(tmp_path, capsys, name, package):
    if importlib.util.find_spec(package) is not None:
        pytest.skip(f"{package} is installed here (tests/edge runs it)")
    (tmp_path / name).write_bytes(b"\0" * 64)
    assert gan_sample([str(tmp_path / name), "--out", str(tmp_path / "g.png")]) == 2
    line = _one_line(capsys)
    assert "pip install -e '.[edge]'" in line and package in line and not (tmp_path / "g.png").exists()
