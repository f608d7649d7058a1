"""Unlabelled folders get a feature net trained without labels, cached by data hash like the labelled classifier."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from engine.config import DataConfig, ModelConfig, PipelineConfig, TrainConfig
from engine.data import ImageData, load_dataset
from engine.events import Cancelled, CancelToken, Log, Progress
from engine.metrics import feature_cache, ssl_features
from engine.metrics.feature_net import describe, features, load_feature_net
from engine.metrics.quality import fid_from_features
from engine.stages.evaluate.run import EvaluateConfig, run_evaluate

METHOD = "rotation"  # the default, chosen by bench/unlabelled_features.py


@pytest.fixture(autouse=True)
def _cache_and_budget(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_STUDIO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(ssl_features, "TARGET_STEPS", 4)  # the loop's limit_batches knob: 4 steps, not ~400
    monkeypatch.setattr(ssl_features, "MIN_STEPS", 4)
    yield  # one torch thread: the autouse fixture in tests/conftest.py


@pytest.fixture(scope="module")
def blobs_folder(tmp_path_factory):
    """240 unlabelled 16x16 gray pictures (one flat folder): a bright blob of random size and place on a dark ground."""
    root = tmp_path_factory.mktemp("blobs")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:16, 0:16]
    for i in range(240):
        cx, cy, r = rng.uniform(4, 12), rng.uniform(4, 12), rng.uniform(1.5, 4)
        img = 30 + 200 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
        Image.fromarray(img.astype(np.uint8), "L").save(root / f"{i:03d}.png")
    return root


def test_unlabelled_folder_gets_a_net_trained_without_labels_then_the_cached_one(blobs_folder, tmp_path):
    data = load_dataset(DataConfig(f"folder:{blobs_folder}", image_size=16))
    assert data.labels is None and data.image_shape == (1, 16, 16) and len(data) == 240
    assert feature_cache.why_no_feature_net(data) is None
    events = []
    net, name = feature_cache.feature_net_for(data, CancelToken(), on_event=events.append)
    assert name == f"cnn-ssl-folder:{blobs_folder.name} ({METHOD}, no labels, trained now)" and net.from_cache is False
    assert net.head is None and net.spec()["classes"] == 0 and net.spec()["feature_dim"] == 32
    assert net.train_info["steps"] == 4 and net.train_info["method"] == METHOD
    assert [e.step for e in events if isinstance(e, Progress) and e.stage == "feature-net"] == [1, 2, 3, 4]
    assert any(isinstance(e, Log) and "without labels" in e.message for e in events)
    (cached,) = (tmp_path / "cache" / "feature-nets").glob("*.pt")
    assert cached.stem == feature_cache.cache_key(data) and "-1x16x16-ssl-" in cached.stem
    mtime = cached.stat().st_mtime_ns

    again, again_name = feature_cache.feature_net_for(data)
    assert again.from_cache is True and again_name.endswith(f"({METHOD}, no labels, cached)")
    assert cached.stat().st_mtime_ns == mtime  # a cache hit writes nothing
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values(), strict=True))

    # the file is a plain weights_only dict that says how the net learnt
    payload = torch.load(cached, map_location="cpu", weights_only=True)
    assert payload["format"] == "gan-prune-studio/feature-net" and payload["training"] == "self-supervised"
    assert payload["spec"]["trained_by"] == f"self-supervised:{METHOD}" and payload["recipe"] == f"ssl-v1-{METHOD}"
    assert payload["dataset"] == data.name and payload["train"] == 240
    by_path = load_feature_net(cached)
    assert by_path.head is None and torch.equal(by_path.embed.weight, net.embed.weight)
    assert describe(by_path).startswith("cnn-ssl-folder:") and describe(by_path).endswith(f"({METHOD}, no labels)")


def test_fid_in_the_unlabelled_feature_space_is_zero_for_the_same_images_and_larger_for_shifted_ones(blobs_folder):
    data = load_dataset(DataConfig(f"folder:{blobs_folder}", image_size=16))
    net, _ = feature_cache.feature_net_for(data)
    real = features(net, data.images)
    assert real.shape == (240, 32)
    assert np.allclose(real.var(0).mean(), 1.0, atol=0.1)  # scaled to unit mean variance: FIDs in a readable range
    assert fid_from_features(real, real) == pytest.approx(0.0, abs=1e-6)
    shifted = torch.roll(data.images, shifts=(5, 5), dims=(2, 3))  # blobs moved to the corner
    brighter = (data.images.int() + 60).clamp(0, 255).to(torch.uint8)
    order = np.random.default_rng(0).permutation(240)
    halves = fid_from_features(real[order[:120]], real[order[120:]])
    assert fid_from_features(real, features(net, shifted)) > 3 * halves
    assert fid_from_features(real, features(net, brighter)) > 3 * halves


def test_which_data_gets_which_feature_net_and_why_not():
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.integers(0, 256, (120, 1, 16, 16), dtype=np.uint8))
    unlabelled = ImageData(images=images, labels=None, name="folder:pics")
    assert feature_cache.why_no_feature_net(unlabelled) is None
    assert feature_cache.why_no_classifier is feature_cache.why_no_feature_net  # the older name still answers
    one_class = ImageData(images=images, labels=torch.zeros(120, dtype=torch.int64), name="folder:pics",
                          classes=["cats"])
    assert "-ssl-" in feature_cache.cache_key(one_class)  # a single class teaches nothing: trained without labels
    few = ImageData(images=images[:60], labels=None, name="folder:few")
    assert feature_cache.why_no_feature_net(few) == (
        "FID is unavailable for folder:few: a feature net learnt from its images needs at least 100 of them "
        "(got 60); add images, or SWD and teacher fidelity are reported instead.")
    tiny = ImageData(images=images[:, :, :6, :6], labels=None, name="folder:icons")
    assert "needs 8 px or more" in feature_cache.why_no_feature_net(tiny)
    assert feature_cache.feature_net_for(few) is None and feature_cache.feature_net_for(tiny) is None


def test_cancel_stops_training_and_caches_nothing(tmp_path):
    images = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (150, 1, 16, 16), dtype=np.uint8))
    data = ImageData(images=images, labels=None, name="folder:noise")
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        feature_cache.feature_net_for(data, token)
    assert not list((tmp_path / "cache").rglob("*.pt"))


@pytest.mark.parametrize("method", ["simclr", "simclr+rotation", "denoise"])
def test_the_other_pretext_tasks_train_and_give_features(method):
    images = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (64, 3, 16, 16), dtype=np.uint8))
    gen = ssl_features.train_self_supervised(ImageData(images=images, labels=None, name="x"), method=method, steps=2)
    events = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as done:
            net = done.value
            break
    assert net.spec()["trained_by"] == f"self-supervised:{method}" and net.train_info["steps"] == 2
    assert features(net, images).shape == (64, 32) and isinstance(events[-1], Progress)


def test_evaluate_on_an_unlabelled_folder_reports_fid_precision_recall_in_that_space(blobs_folder, tmp_path):
    from engine.pipeline import save_config
    from engine.stages.train.run import run_train
    from engine.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    cfg = PipelineConfig(data=DataConfig(f"folder:{blobs_folder}", image_size=16),
                         model=ModelConfig(arch="mlp", latent_dim=16),
                         train=TrainConfig(steps=2, batch_size=8, sample_every=2, checkpoint_every=2, device="cpu"))
    save_config(ws, cfg)
    list(run_train(cfg, ws, CancelToken()))
    events = list(run_evaluate(EvaluateConfig(samples=80, latency=False), ws, CancelToken()))
    report = json.loads(ws.report_path.read_text("utf-8"))
    (dense,) = report["variants"]
    assert report["fid_available"] is True and report["fid_note"] is None and report["quality_metric"] == "fid"
    assert report["feature_net"] == f"cnn-ssl-folder:{blobs_folder.name} ({METHOD}, no labels, trained now)"
    assert report["feature_net_training"] == f"self-supervised:{METHOD}"
    assert report["feature_net_id"].startswith("folder-") and "-ssl-" in report["feature_net_id"]
    assert dense["fid"] > 0 and 0 <= dense["precision"] <= 1 and 0 <= dense["recall"] <= 1
    assert dense["coverage"] is not None and "class_histogram" not in dense and dense["swd"] > 0
    assert any(isinstance(e, Progress) and e.stage == "feature-net" for e in events)
