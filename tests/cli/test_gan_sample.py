"""gan-sample works without torch, writes its PNGs, and exits 2 with one line on bad input."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from engine.ondevice.threads import candidate_threads
from engine.sample_cli import main as gan_sample
from tests.engine.test_ondevice import tiny_generator

ROOT = Path(__file__).resolve().parents[2]

NO_TORCH = """
import sys
from engine.sample_cli import main
code = main(sys.argv[1:])
leaked = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
assert not leaked, leaked
sys.exit(code)
"""


def test_gan_sample_runs_without_importing_torch(tmp_path):
    model = tiny_generator(tmp_path / "g.onnx", shape=(1, 4, 4))
    out = tmp_path / "out" / "grid.png"
    out.parent.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "-c", NO_TORCH, str(model), "--n", "6", "--seed", "1", "--out", str(out),
                        "--separate", str(tmp_path / "sep"), "--interpolate", "5", "--bench"],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    assert Image.open(out).size == (2 * 6 + 2, 3 * 6 + 2)  # PIL: (width, height); 2 per row
    assert len(list((tmp_path / "sep").glob("*.png"))) == 6
    assert Image.open(tmp_path / "out" / "grid.interpolate.png").size == (5 * 6 + 2, 6 + 2)
    assert "batch  64" in r.stdout
    assert f"fastest of {', '.join(str(t) for t in candidate_threads())}" in r.stdout  # the count was measured


def test_same_seed_same_grid(tmp_path):
    model = tiny_generator(tmp_path / "g.onnx")
    for name in ("a.png", "b.png"):
        assert gan_sample([str(model), "--n", "4", "--seed", "7", "--out", str(tmp_path / name)]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), np.asarray(Image.open(tmp_path / "b.png")))


def _one_line_exit_2(capsys, argv, needle):
    assert gan_sample(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("gan-sample: error:") and needle in err[0], err


def test_bad_input_exits_2_with_one_line(tmp_path, capsys):
    model = str(tiny_generator(tmp_path / "g.onnx"))
    _one_line_exit_2(capsys, [str(tmp_path / "nope.onnx"), "--out", str(tmp_path / "x.png")], "nope.onnx")
    (tmp_path / "bad.onnx").write_bytes(b"garbage")
    _one_line_exit_2(capsys, [str(tmp_path / "bad.onnx"), "--out", str(tmp_path / "x.png")], "bad.onnx")
    _one_line_exit_2(capsys, [model, "--n", "0", "--out", str(tmp_path / "x.png")], "--n")
    (tmp_path / "afile").write_text("x")
    _one_line_exit_2(capsys, [model, "--out", str(tmp_path / "afile" / "grid.png")], "afile")


def test_image_models_of_fixed_batch_and_uint8_input_run_without_torch(tmp_path):
    """The paths added for issue 20 (chunks of a fixed batch, pixel inputs, --bench with --input, names that share
    a stem) stay torch-free."""
    from onnx import TensorProto

    from tests.hostile.sampler_models import copy_model

    model = copy_model(tmp_path / "m.onnx", batch=2, in_type=TensorProto.UINT8)
    (tmp_path / "in").mkdir()
    for name, value in (("a.png", 10), ("a.jpg", 120), ("b.png", 250)):
        Image.fromarray(np.full((4, 4), value, np.uint8)).save(tmp_path / "in" / name)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "-c", NO_TORCH, str(model), "--input", str(tmp_path / "in"), "--out",
                        str(tmp_path / "out"), "--bench", "--threads", "1"],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_jpg.png", "a_png.png", "b.png"]
    assert "wrote 3 output(s)" in r.stdout and "batch   2:" in r.stdout
