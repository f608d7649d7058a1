"""Each data source that works offline loads into one uint8 tensor; bad folders give clear errors."""

import socket

import numpy as np
import pytest
import torch
from PIL import Image

from engine.config import DataConfig
from engine.data import load_dataset, to_float, to_uint8
from engine.errors import ConfigError, DataError


def test_bundled_mnist_5k_is_balanced_uint8():
    data = load_dataset(DataConfig("mnist-5k"))
    assert data.images.dtype == torch.uint8 and data.images.shape == (5000, 1, 28, 28)
    assert torch.bincount(data.labels).tolist() == [500] * 10
    assert data.images.max() == 255 and data.images.min() == 0


def test_resize_and_color_are_applied_once_at_load():
    data = load_dataset(DataConfig("mnist-5k", image_size=32, color="rgb", limit=10))
    assert data.images.shape == (10, 3, 32, 32) and data.images.dtype == torch.uint8


def test_float_round_trip():
    x = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    assert torch.equal(to_uint8(to_float(x)), x)


def _write_images(folder, n, mode="L", size=20):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        shape = (size, size) if mode == "L" else (size, size, 3)
        Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8), mode).save(folder / f"img{i}.png")


def test_flat_folder_skips_unreadable_files_and_counts_them(tmp_path):
    _write_images(tmp_path, 5)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    (tmp_path / "truncated.jpg").write_bytes(b"\xff\xd8\xff\xe0garbage")
    (tmp_path / "notes.txt").write_text("ignored: not an image extension")
    data = load_dataset(DataConfig(f"folder:{tmp_path}", image_size=28))
    assert data.images.shape == (5, 1, 28, 28)
    assert data.labels is None
    assert data.warnings == [f"Skipped 2 unreadable file(s) of 7 in {tmp_path}."]


def test_class_subfolders_become_labels_and_rgb(tmp_path):
    _write_images(tmp_path / "cats", 3, mode="RGB")
    _write_images(tmp_path / "dogs", 2, mode="RGB")
    data = load_dataset(DataConfig(f"folder:{tmp_path}", image_size=32))
    assert data.images.shape == (5, 3, 32, 32)
    assert data.classes == ["cats", "dogs"] and data.labels.tolist() == [0, 0, 0, 1, 1]


def test_missing_and_empty_folders_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(DataConfig(f"folder:{tmp_path / 'nope'}"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="has no png/jpg/bmp/webp images"):
        load_dataset(DataConfig(f"folder:{tmp_path / 'empty'}"))


def test_unknown_dataset_and_impossible_size_are_refused():
    with pytest.raises(ConfigError, match="Unknown dataset 'imagenet'"):
        load_dataset(DataConfig("imagenet"))
    with pytest.raises(ConfigError, match="between 8 and 256"):
        load_dataset(DataConfig("mnist-5k", image_size=4))


def test_torchvision_set_offline_suggests_a_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_STUDIO_CACHE", str(tmp_path))

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(socket.socket, "connect", offline)
    monkeypatch.setattr(socket, "getaddrinfo", offline)
    with pytest.raises(DataError, match="folder:PATH"):
        load_dataset(DataConfig("fashion-mnist"))


def test_the_source_table_is_what_the_config_accepts():
    """Every source of engine/data_sources.py is accepted as written on the command line (a path where it takes
    one), its loader resolves, and an empty path or an unknown name is refused in one sentence naming the choices."""
    import importlib

    from engine.data_sources import SOURCES, spec_of

    for source in SOURCES.values():
        module, function = source.loader.split(":")
        assert callable(getattr(importlib.import_module(module), function)), source.name
        spec = f"{source.name}:/some/where" if source.takes_path else source.name
        DataConfig(spec).validate()
        if source.takes_path:
            with pytest.raises(ConfigError, match=f"^{source.name}: needs a path to "):
                DataConfig(f"{source.name}:").validate()
            with pytest.raises(ConfigError, match="Unknown dataset"):
                DataConfig(source.name).validate()  # the prefix alone is not a source
        assert spec_of(source) in DataConfig.__dataclass_fields__["dataset"].metadata["help"]


def test_every_source_bound_to_a_task_goes_with_it_and_only_with_it():
    from engine.archs import archs_for, default_arch
    from engine.config import ModelConfig, PipelineConfig
    from engine.data_sources import SOURCES
    from engine.tasks import TASKS

    for source in (s for s in SOURCES.values() if s.task):
        data = DataConfig(f"{source.name}:/d" if source.takes_path else source.name)
        arch = default_arch(source.task)
        PipelineConfig(data=data, model=ModelConfig(arch=arch, task=source.task)).validate()
        other = next(t for t in TASKS if t != source.task and arch in archs_for(t))
        with pytest.raises(ConfigError, match=f"goes with --task {source.task}"):
            PipelineConfig(data=data, model=ModelConfig(arch=arch, task=other)).validate()
        with pytest.raises(ConfigError, match=f"goes with --task {source.task}"):
            PipelineConfig(data=DataConfig("mnist-5k"), model=ModelConfig(arch=arch, task=source.task)).validate()
