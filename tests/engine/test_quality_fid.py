"""Domain FID: the float64 Fréchet distance matches scipy's sqrtm formula and moves the right way on real digits."""

import functools

import numpy as np
import pytest
import scipy.linalg
import torch
import torchvision.transforms.functional as TF

from engine.config import DataConfig
from engine.data import load_dataset, to_float
from engine.errors import ConfigError
from engine.metrics.feature_net import features, load_feature_net
from engine.metrics.quality import feature_stats, fid_from_features, frechet_distance, quality_numbers


@functools.lru_cache(maxsize=1)
def _digits():
    # mnist-5k is sorted by class: strided subsets keep 100 images of every digit in each
    images = load_dataset(DataConfig(dataset="mnist-5k")).images
    net = load_feature_net()
    return net, images[0::5], images[1::5], features(net, images[0::5])


def test_frechet_distance_matches_scipy_sqrtm_formula():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 24))
    b = rng.normal(size=(400, 24)) @ rng.normal(size=(24, 24)) * 0.4 + 0.3
    (m1, s1), (m2, s2) = feature_stats(a), feature_stats(b)
    expected = ((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2).real)
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(m1, s1, m1, s1) == pytest.approx(0.0, abs=1e-9)


def test_fid_refuses_fewer_samples_than_twice_the_feature_dimension():
    f = np.random.default_rng(1).normal(size=(100, 64))
    with pytest.raises(ConfigError, match="at least 128"):
        fid_from_features(f, f)


def test_fid_of_two_halves_of_mnist_is_small_next_to_noise():
    net, _, other, real_f = _digits()
    noise = torch.randint(0, 256, other.shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    halves = fid_from_features(real_f, features(net, other))
    vs_noise = fid_from_features(real_f, features(net, noise))
    assert halves < 0.05 * vs_noise


def test_fid_rises_with_added_noise_and_with_blur():
    net, _, other, real_f = _digits()
    x = to_float(other[::2])  # 500 images, 50 per digit: enough to order clearly separated distortions
    eps = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    noisy = [fid_from_features(real_f, features(net, (x + s * eps).clamp(-1, 1))) for s in (0.1, 0.3, 0.6)]
    blurred = [fid_from_features(real_f, features(net, TF.gaussian_blur(x, [7, 7], [s, s]))) for s in (0.6, 1.2, 2.0)]
    assert noisy == sorted(noisy) and noisy[0] < noisy[-1]
    assert blurred == sorted(blurred) and blurred[0] < blurred[-1]


def test_quality_numbers_gathers_every_metric_for_a_variant():
    net, real, other, real_f = _digits()
    fake = to_float(other[::2])  # generator-like floats in [-1,1]
    out = quality_numbers(net, real[::2], fake, real_features=real_f)
    assert out["fid"] < 30 and out["precision"] > 0.8 and out["recall"] > 0.8 and out["coverage"] > 0.8
    assert out["modes_covered"] == 10 and out["swd"] > 0 and set(out["swd_levels"]) == {"28", "14"}
    assert out["feature_net"].startswith("digit-cnn-mnist5k") and out["samples"] == 500
