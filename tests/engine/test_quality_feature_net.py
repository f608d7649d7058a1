"""The bundled digit classifier: a weights-only dict, accurate on its held-out digits, helpful errors when absent."""

import numpy as np
import pytest
import torch

from engine.config import DataConfig
from engine.data import load_dataset, to_float
from engine.errors import DataError
from engine.metrics.feature_net import (
    FEATURE_NET_FILE,
    describe,
    features,
    features_and_classes,
    held_out_indices,
    load_feature_net,
    predict,
)
from engine.metrics.quality import class_histogram, histogram_of, modes_covered
from engine.resources import resource


def test_weights_file_is_a_plain_dict_readable_with_weights_only():
    path = resource(*FEATURE_NET_FILE)
    payload = torch.load(path, map_location="cpu", weights_only=True)
    assert payload["format"] == "gan-prune-studio/feature-net" and payload["version"] == 1
    assert payload["val_accuracy"] >= 0.95 and path.stat().st_size < 1_000_000


def test_classifies_held_out_digits_and_names_itself():
    data = load_dataset(DataConfig(dataset="mnist-5k"))
    val = held_out_indices(data.labels.numpy())
    assert len(val) == 1000
    net = load_feature_net()
    accuracy = (predict(net, data.images[val]) == data.labels.numpy()[val]).mean()
    assert accuracy >= 0.9
    assert describe(net).startswith("digit-cnn-mnist5k (val acc 0.9")
    # uint8 and [-1,1] floats are the same images to the net; one pass gives features and classes together
    feats, ids = features_and_classes(net, to_float(data.images[val[:200]]))
    assert feats.dtype == np.float64 and feats.shape == (200, 128)
    assert np.allclose(feats, features(net, data.images[val[:200]]), atol=1e-5)
    assert (ids == predict(net, data.images[val[:200]])).all()


def test_class_histogram_and_mode_coverage():
    data = load_dataset(DataConfig(dataset="mnist-5k"))
    net = load_feature_net()
    hist = class_histogram(net, data.images[0::10])
    assert len(hist) == 10 and sum(hist) == pytest.approx(1.0) and min(hist) > 0.05
    assert modes_covered(hist) == 10
    collapsed = histogram_of(np.array([3] * 95 + [5] * 5), 10)
    assert collapsed[3] == pytest.approx(0.95) and modes_covered(collapsed) == 2


def test_missing_or_foreign_weights_raise_data_error(tmp_path):
    with pytest.raises(DataError, match="missing"):
        load_feature_net(tmp_path / "nope.pt")
    foreign = tmp_path / "other.pt"
    torch.save({"format": "something-else"}, foreign)
    with pytest.raises(DataError, match="not a feature-network file"):
        load_feature_net(foreign)
