"""Feature spaces beyond MNIST: a classifier trained once per labelled data set and cached; Inception only from disk.
(Unlabelled data: tests/engine/test_ssl_features.py.)"""

import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from engine.config import DataConfig, ModelConfig, PipelineConfig, TrainConfig
from engine.data import ImageData, load_dataset
from engine.errors import ConfigError
from engine.events import CancelToken, Log, Progress
from engine.metrics import feature_cache
from engine.metrics.feature_net import DigitCNN, feature_net_payload, features
from engine.metrics.quality import fid_from_features
from engine.stages.evaluate.run import EvaluateConfig, run_evaluate
from engine.workspace import atomic_write_bytes


@pytest.fixture(autouse=True)
def _cache_and_threads(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_STUDIO_CACHE", str(tmp_path / "cache"))
    yield  # one torch thread: the autouse fixture in tests/conftest.py


@pytest.fixture(scope="module")
def shapes_folder(tmp_path_factory):
    """squares/ and circles/, 100 each: random colours, sizes and positions on a random plain background."""
    root = tmp_path_factory.mktemp("shapes")
    rng = np.random.default_rng(0)
    for kind in ("circles", "squares"):
        (root / kind).mkdir()
        for i in range(100):
            im = Image.new("RGB", (32, 32), tuple(int(v) for v in rng.integers(0, 90, 3)))
            r, cx, cy = (int(v) for v in (rng.integers(6, 12), *rng.integers(12, 21, 2)))
            box = [cx - r, cy - r, cx + r, cy + r]
            fill = tuple(int(v) for v in rng.integers(140, 256, 3))
            (ImageDraw.Draw(im).ellipse if kind == "circles" else ImageDraw.Draw(im).rectangle)(box, fill=fill)
            im.save(root / kind / f"{i}.png")
    return root


def test_labelled_folder_gets_a_trained_cached_classifier_whose_fid_tells_real_from_noise(shapes_folder, tmp_path):
    data = load_dataset(DataConfig(f"folder:{shapes_folder}", image_size=32))
    assert data.image_shape == (3, 32, 32) and data.classes == ["circles", "squares"]
    events = []
    net, name = feature_cache.feature_net_for(data, CancelToken(), on_event=events.append)
    assert name.startswith("cnn-folder:") and "trained now" in name and net.from_cache is False
    assert net.val_accuracy >= 0.9 and net.spec()["classes"] == 2 and net.spec()["in_channels"] == 3
    assert any(isinstance(e, Progress) for e in events) and any(isinstance(e, Log) for e in events)
    (cached,) = (tmp_path / "cache" / "feature-nets").glob("*.pt")
    assert cached.name == f"{feature_cache.cache_key(data)}.pt"
    mtime = cached.stat().st_mtime_ns

    again, again_name = feature_cache.feature_net_for(data)
    assert again.from_cache is True and "cached" in again_name and cached.stat().st_mtime_ns == mtime
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values(), strict=True))

    order = np.random.default_rng(1).permutation(len(data))
    half_a, half_b = data.images[order[:100]], data.images[order[100:]]
    noise = torch.from_numpy(np.random.default_rng(2).integers(0, 256, (100, 3, 32, 32), dtype=np.uint8))
    fa, fb, fn = (features(again, x) for x in (half_a, half_b, noise))
    assert fa.shape == (100, 32)  # features sized to the data: 2 x 32 <= each half
    assert fid_from_features(fa, fb) < fid_from_features(fa, fn) / 5


def _labelled(name, n_per_class=6, classes=10, size=28, seed=0):
    rng = np.random.default_rng(seed)
    images = torch.from_numpy(rng.integers(0, 256, (n_per_class * classes, 1, size, size), dtype=np.uint8))
    labels = torch.arange(classes).repeat_interleave(n_per_class)
    return ImageData(images=images, labels=labels, name=name, classes=[str(c) for c in range(classes)])


def test_fashion_mnist_uses_its_own_cached_net_not_the_digit_net():
    fashion = _labelled("fashion-mnist")
    key = feature_cache.cache_key(fashion)
    assert key.startswith("fashion-mnist-1x28x28-10c-")
    changed = _labelled("fashion-mnist")
    changed.labels[0] = 3
    assert feature_cache.cache_key(changed) != key  # relabelled data retrains

    # a net already cached under the key is what fashion-mnist gets (no training, no download)
    spec = {"arch": "cnn", "in_channels": 1, "image_size": 28, "widths": [16, 32, 64], "feature_dim": 32,
            "classes": 10, "trained_on": "fashion-mnist"}
    import io

    buf = io.BytesIO()
    torch.save(feature_net_payload(DigitCNN(spec), 0.875), buf)
    atomic_write_bytes(feature_cache.cache_dir() / f"{key}.pt", buf.getvalue())
    net, name = feature_cache.feature_net_for(fashion)
    assert name == "cnn-fashion-mnist (val acc 0.88, cached)" and net.spec()["trained_on"] == "fashion-mnist"

    digits, digit_name = feature_cache.feature_net_for(_labelled("mnist"))
    assert digit_name.startswith("digit-cnn-mnist5k") and not list(feature_cache.cache_dir().glob("mnist-*"))
    unlabelled = _labelled("folder:faces")
    unlabelled.labels = None
    assert feature_cache.feature_net_for(unlabelled) is None  # 60 images: too few to learn from without labels
    assert "needs at least 100 of them (got 60)" in feature_cache.why_no_classifier(unlabelled)


def test_evaluate_on_a_labelled_folder_reports_fid_in_the_trained_feature_space(shapes_folder, tmp_path):
    from engine.pipeline import save_config
    from engine.stages.train.run import run_train
    from engine.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    # 16 px gray keeps the classifier's training short here; the 32 px RGB case is tested above
    cfg = PipelineConfig(data=DataConfig(f"folder:{shapes_folder}", image_size=16, color="gray"),
                         model=ModelConfig(arch="mlp", latent_dim=16),
                         train=TrainConfig(steps=2, batch_size=8, sample_every=2, checkpoint_every=2, device="cpu"))
    save_config(ws, cfg)
    list(run_train(cfg, ws, CancelToken()))
    events = list(run_evaluate(EvaluateConfig(samples=64, latency=False), ws, CancelToken()))
    report = json.loads(ws.report_path.read_text("utf-8"))
    (dense,) = report["variants"]
    assert report["fid_available"] is True and report["feature_net"].startswith("cnn-folder:")
    assert report["image_shape"] == [1, 16, 16]
    assert dense["fid"] > 0 and len(dense["class_histogram"]) == 2
    assert any(isinstance(e, Progress) and e.stage == "feature-net" for e in events)


def test_inception_without_weights_on_disk_is_refused_with_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.delenv("GAN_STUDIO_INCEPTION", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(ConfigError, match="never downloads") as err:
        EvaluateConfig(feature_net="inception").validate()
    assert str(tmp_path / "torch" / "hub" / "checkpoints") in str(err.value)


def test_inception_weights_on_disk_give_2048_d_pool_features(tmp_path, monkeypatch):
    from engine.metrics.inception import InceptionFeatures, find_weights, load_inception

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    weights = tmp_path / "torch" / "hub" / "checkpoints" / "inception_v3_google-0cc3c7bd.pth"
    weights.parent.mkdir(parents=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        stand_in = InceptionFeatures()  # random weights in the real file layout: the loader is what is tested
        for m in stand_in.modules():
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(m.weight)
    torch.save(stand_in.net.state_dict(), weights)
    monkeypatch.delenv("GAN_STUDIO_INCEPTION", raising=False)
    assert find_weights() == weights
    EvaluateConfig(feature_net="inception").validate()
    net, name = load_inception()
    assert "inception-v3" in name and net.spec()["feature_dim"] == 2048
    gray = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (2, 1, 28, 28), dtype=np.uint8))
    f = features(net, gray)
    assert f.shape == (2, 2048) and np.isfinite(f).all() and not np.allclose(f[0], f[1])
