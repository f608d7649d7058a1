"""pairs:DIR refuses unmatched, unreadable and mis-sized pairs in one line; gan-sample --input runs an exported
image-to-image model torch-free, fits odd inputs with a one-line note, and refuses what it cannot run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.cli import main as gan_prune
from engine.config import DataConfig
from engine.data import load_dataset
from engine.errors import DataError
from engine.export.image_onnx import export_image_generator, image_metadata
from engine.export.onnx import read_metadata
from engine.models import build_generator, image_specs
from engine.sample_cli import main as gan_sample

ROOT = Path(__file__).resolve().parents[2]


def make_pairs(root: Path, names=("a", "b", "c"), a_side=8, b_side=16) -> Path:
    rng = np.random.default_rng(0)
    for sub, side in (("A", a_side), ("B", b_side)):
        (root / sub).mkdir(parents=True, exist_ok=True)
        for n in names:
            Image.fromarray(rng.integers(0, 255, (side, side), dtype=np.uint8)).save(root / sub / f"{n}.png")
    return root


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_pairs_load_by_name(tmp_path):
    data = load_dataset(DataConfig(f"pairs:{make_pairs(tmp_path / 'p')}"))
    assert data.inputs.shape == (3, 1, 8, 8) and data.images.shape == (3, 1, 16, 16)
    assert data.names == ["a", "b", "c"] and data.name == "pairs:p"


def test_unmatched_and_missized_pairs_are_named(tmp_path):
    root = make_pairs(tmp_path / "p")
    (root / "B" / "c.png").rename(root / "B" / "z.png")
    with pytest.raises(DataError, match=r"A/ has c.png with no match in B/; B/ has z.png with no match in A/"):
        load_dataset(DataConfig(f"pairs:{root}"))
    root = make_pairs(tmp_path / "q")
    Image.new("L", (12, 12)).save(root / "B" / "b.png")
    with pytest.raises(DataError, match=r"one size like a.png \(16x16\), but b.png \(12x12\) differ"):
        load_dataset(DataConfig(f"pairs:{root}"))
    (root / "B" / "b.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"Cannot read b.png in .*B; replace or remove"):
        load_dataset(DataConfig(f"pairs:{root}"))


def test_train_cli_refuses_unmatched_pairs_in_one_line(tmp_path, capsys):
    root = make_pairs(tmp_path / "p")
    (root / "A" / "a.png").unlink()
    code = gan_prune(["train", "-w", str(tmp_path / "ws"), "--dataset", f"pairs:{root}", "--task", "paired",
                      "--steps", "1"])
    assert code == 2
    assert "B/ has a.png with no match in A/" in one_line(capsys)
    assert gan_prune(["train", "-w", str(tmp_path / "ws"), "--task", "superres", "--arch", "dcgan",
                      "--steps", "1"]) == 2
    assert "The superres task needs --arch unet or resnet-i2i or cyclegan (got dcgan)" in one_line(capsys)


def test_paired_task_trains_from_pairs(tmp_path):
    root = make_pairs(tmp_path / "p", names=tuple("abcdefghijk"))
    assert gan_prune(["train", "-w", str(tmp_path / "ws"), "--dataset", f"pairs:{root}", "--task", "paired",
                      "--steps", "2", "--batch-size", "4", "-q"]) == 0
    ckpt = torch.load(tmp_path / "ws" / "checkpoints" / "dense.pt", weights_only=True)
    assert ckpt["arch"]["generator"]["input_shape"] == [1, 8, 8] and ckpt["data"]["task"] == "paired"
    assert ckpt["data"]["test_images"] == 1  # every 10th of 11 pairs


@pytest.fixture(scope="module")
def superres_onnx(tmp_path_factory):
    torch.manual_seed(0)
    g, _ = image_specs("unet", (1, 4, 4), (1, 16, 16), residual=True)
    G = build_generator(g).eval()
    path = tmp_path_factory.mktemp("onnx") / "sr.onnx"
    return export_image_generator(G, path, image_metadata(G, "superres", "mnist-5k", scale=4))


NO_TORCH = """
import sys
from engine.sample_cli import main
code = main(sys.argv[1:])
assert not [m for m in sys.modules if m == "torch" or m.startswith("torch.")]
sys.exit(code)
"""


def test_sampler_writes_one_output_per_input_without_torch(superres_onnx, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(3):
        Image.fromarray(np.full((4, 4), 60 * i, np.uint8)).save(inputs / f"x{i}.png")
    Image.new("RGB", (8, 8), (200, 10, 10)).save(inputs / "big.png")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "-c", NO_TORCH, str(superres_onnx), "--input", str(inputs), "--out",
                        str(tmp_path / "out")], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["big.png", "x0.png", "x1.png", "x2.png"]
    assert Image.open(tmp_path / "out" / "x1.png").size == (16, 16)
    note = r.stderr.strip().splitlines()
    assert note == ["gan-sample: note: big.png is RGB; converted to gray for the model; big.png is 8x8; resized to "
                    "4x4, the model's input."]


def test_sampler_before_after_grid_and_refusals(superres_onnx, tmp_path, capsys):
    img = tmp_path / "one.png"
    Image.fromarray(np.full((4, 4), 128, np.uint8)).save(img)
    assert gan_sample([str(superres_onnx), "--input", str(img), "--out", str(tmp_path / "ba.png"),
                       "--before-after"]) == 0
    assert Image.open(tmp_path / "ba.png").size == (2 * 18 + 2, 18 + 2)  # input | output, 16px + borders
    assert gan_sample([str(superres_onnx), "--input", str(img), "--out", str(tmp_path / "o.png")]) == 0
    assert Image.open(tmp_path / "o.png").size == (16, 16)
    capsys.readouterr()
    assert gan_sample([str(superres_onnx), "--out", str(tmp_path / "x.png")]) == 2
    assert "turns an image into an image (task superres); give --input" in one_line(capsys)
    assert gan_sample([str(superres_onnx), "--input", str(tmp_path / "none"), "--out", str(tmp_path / "x.png")]) == 2
    assert "The input" in one_line(capsys)
    (tmp_path / "bad.png").write_bytes(b"junk")
    assert gan_sample([str(superres_onnx), "--input", str(tmp_path / "bad.png"), "--out", str(tmp_path / "x.png")]) == 2
    assert "Cannot read the input image" in one_line(capsys)
    assert json.loads(read_metadata(superres_onnx)["gan.input_shape"]) == [1, 4, 4]


def test_unpaired_task_refuses_data_without_two_sets_in_one_line(tmp_path, capsys):
    code = gan_prune(["train", "-w", str(tmp_path / "ws"), "--task", "unpaired", "--dataset", "mnist-5k"])
    assert code == 2
    assert "horse2zebra-28 (or unpaired:DIR) goes with --task unpaired" in one_line(capsys)
    (tmp_path / "sets" / "A").mkdir(parents=True)
    code = gan_prune(["train", "-w", str(tmp_path / "ws"), "--task", "unpaired", "--dataset",
                      f"unpaired:{tmp_path / 'sets'}"])
    assert code == 2 and "has no B/" in one_line(capsys)
    assert not (tmp_path / "ws" / "checkpoints" / "dense.pt").exists()


def test_unpaired_task_trains_offline_from_the_bundled_horses_and_zebras(tmp_path):
    assert gan_prune(["train", "-w", str(tmp_path / "ws"), "--task", "unpaired", "--dataset", "horse2zebra-28",
                      "--image-size", "8", "--width", "4", "--blocks", "1", "--steps", "2", "--batch-size", "4",
                      "--limit", "20", "--threads", "1", "--quiet"]) == 0
    ckpt = torch.load(tmp_path / "ws" / "checkpoints" / "dense.pt", weights_only=True)
    assert ckpt["arch"]["generator"]["arch"] == "cyclegan" and "generator_ba" in ckpt
