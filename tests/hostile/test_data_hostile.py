"""Picture folders as people have them: 16-bit PNGs, transparency, palettes, sizes other than 28, broken files.

Pixels are pinned: a 16-bit value v becomes round(v / 257), never a saturated 255."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from engine.config import DataConfig
from engine.data import load_dataset
from engine.workspace import load_checkpoint_file
from tests.hostile.conftest import assert_refused, snapshot
from tests.hostile.inprocess import gan_prune

LEVELS16 = np.array([0, 257, 32896, 65535], np.uint16)  # → 0, 1, 128, 255


def _gray16(folder, n=4, side=8):
    folder.mkdir()
    for i in range(n):
        a = np.resize(np.roll(LEVELS16, i), (side, side)).astype(np.uint16)
        Image.fromarray(a).save(folder / f"{i}.png")  # Pillow writes a 16-bit grayscale PNG ("I;16")
    return folder


def _rgb16_png(path, rgb16: np.ndarray) -> None:
    """A 16-bit-per-channel RGB PNG written by hand (Pillow cannot write one)."""
    h, w, _ = rgb16.shape
    raw = b"".join(b"\x00" + rgb16[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_16bit_gray_pngs_are_scaled_not_saturated(tmp_path):
    folder = _gray16(tmp_path / "g16")
    assert Image.open(folder / "0.png").mode == "I;16"
    data = load_dataset(DataConfig(f"folder:{folder}"))
    assert data.images.shape == (4, 1, 8, 8) and data.warnings == []
    assert data.images[0, 0, 0, :4].tolist() == [0, 1, 128, 255]
    assert (data.images == 255).float().mean().item() == pytest.approx(0.25)  # one level in four, not 99.8 %


def test_16bit_rgb_pngs_keep_their_colors(tmp_path):
    folder = tmp_path / "rgb16"
    folder.mkdir()
    px = np.zeros((8, 8, 3), np.uint16)
    px[..., 0], px[..., 1], px[..., 2] = 65535, 32896, 257
    for i in range(3):
        _rgb16_png(folder / f"{i}.png", px)
    data = load_dataset(DataConfig(f"folder:{folder}"))
    assert data.images.shape == (3, 3, 8, 8)
    assert data.images[0, :, 0, 0].tolist() == [255, 128, 1]


def test_transparent_pixels_are_black_and_said_once(tmp_path):
    folder = tmp_path / "rgba"
    folder.mkdir()
    px = np.full((8, 8, 4), 200, np.uint8)
    px[..., 3] = 255
    px[:4, :, 3] = 0  # top half fully transparent (its color would otherwise show through)
    for i in range(3):
        Image.fromarray(px, "RGBA").save(folder / f"{i}.png")
    data = load_dataset(DataConfig(f"folder:{folder}"))
    assert data.images.shape == (3, 3, 8, 8)
    assert data.images[0, :, 0, 0].tolist() == [0, 0, 0] and data.images[0, :, 7, 0].tolist() == [200, 200, 200]
    assert data.warnings == ["3 image(s) have transparency; transparent parts are black."]


def test_a_gray_palette_is_gray_data(tmp_path):
    folder = tmp_path / "pal"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 8), 60 + i, np.uint8), "L").convert("P").save(folder / f"{i}.png")
    data = load_dataset(DataConfig(f"folder:{folder}"))
    assert data.images.shape == (3, 1, 8, 8) and data.images[:, 0, 0, 0].tolist() == [60, 61, 62]


@pytest.mark.parametrize("native, trained, note", [
    (32, 32, None),
    (16, 16, None),
    (30, 28, "The images are 30x30; training at 28x28"),
    (100, 64, "The images are 100x100; training at 64x64"),
])
def test_a_folder_loads_at_its_own_size_when_the_conv_models_make_it(tmp_path, native, trained, note):
    folder = tmp_path / "pics"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((native, native), 90, np.uint8)).save(folder / f"{i}.png")
    data = load_dataset(DataConfig(f"folder:{folder}"))
    assert data.images.shape == (3, 1, trained, trained)
    assert data.warnings == ([] if note is None else [f"{note}, the nearest size the conv models make (choose "
                                                      "another with --image-size)."])


def test_train_on_a_folder_of_32px_pictures_trains_at_32(tmp_path, capsys):
    folder = tmp_path / "pics"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    torch.set_num_threads(1)
    r = gan_prune(capsys, "train", "-w", str(tmp_path / "ws"), "--dataset", f"folder:{folder}", "--arch", "dcgan",
                  "--steps", "1", "--batch-size", "4", "--device", "cpu", "-q")
    assert r.code == 0, r.err
    ckpt = load_checkpoint_file(tmp_path / "ws" / "checkpoints" / "dense.pt")
    assert ckpt["arch"]["generator"]["image_shape"] == [3, 32, 32]


def test_a_folder_of_broken_pictures_is_refused_in_one_line(tmp_path, capsys):
    folder = tmp_path / "broken"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    ws = tmp_path / "ws"
    r = gan_prune(capsys, "train", "-w", str(ws), "--dataset", f"folder:{folder}", "--steps", "1")
    assert_refused(r, "None of the 3 images", "broken")
    assert not set(snapshot(ws)) - {"config.toml"}  # no model, no manifest (config.toml: the cli branch's fix)


# ---- a class folder with no readable picture is no class (issue 20, item 13) ----------------------------------
CLASS_VALUE = {"ants": 30, "bees": 90, "cats": 150, "dogs": 210}  # every picture's gray says its class


def _class_folders(root, broken: dict[str, str]):
    """Four class folders of two 8x8 pictures each; `broken` makes a folder's pictures garbage, truncated PNGs
    (a header that reads, pixels that do not), or leaves the folder empty."""
    for name, value in CLASS_VALUE.items():
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(2):
            f = folder / f"{i}.png"
            how = broken.get(name)
            if how == "empty":
                continue
            Image.fromarray(np.full((8, 8), value, np.uint8)).save(f)
            if how == "garbage":
                f.write_bytes(b"not a picture")
            elif how == "truncated":
                f.write_bytes(f.read_bytes()[:40])
    return root


@pytest.mark.parametrize("broken", [{"bees": "garbage"}, {"ants": "garbage"}, {"cats": "truncated"},
                                    {"ants": "empty", "dogs": "garbage"}, {"ants": "truncated", "bees": "garbage"}])
def test_a_class_folder_with_no_readable_picture_is_left_out_with_a_note(tmp_path, broken):
    data = load_dataset(DataConfig(f"folder:{_class_folders(tmp_path / 'd', broken)}"))
    kept = [c for c in CLASS_VALUE if c not in broken]
    assert data.classes == kept
    counts = torch.bincount(data.labels, minlength=len(kept)).tolist()
    assert counts == [2] * len(kept)  # no class without pictures
    for img, label in zip(data.images, data.labels):  # each picture keeps its own class after renumbering
        assert int(img.float().mean().round()) == CLASS_VALUE[kept[label]]
    note = next(w for w in data.warnings if "Left out" in w)
    assert all(name in note for name in broken)
