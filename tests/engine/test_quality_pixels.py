"""PSNR and SSIM against a teacher: identities and the direction they move with distortion."""

import math

import pytest
import torch

from engine.metrics.quality import PSNR_CAP_DB, psnr, ssim


def _batch(channels=1):
    gen = torch.Generator().manual_seed(0)
    return torch.rand(4, channels, 28, 28, generator=gen) * 2 - 1


def test_psnr_identity_and_known_value():
    a = _batch()
    assert psnr(a, a) == PSNR_CAP_DB
    # a uniform offset of 0.02 on a range of 2: 10·log10(4 / 0.0004) = 40 dB
    assert psnr(a, a + 0.02) == pytest.approx(40.0, abs=1e-3)
    assert psnr(a, a + 0.2) < psnr(a, a + 0.02)


@pytest.mark.parametrize("channels", [1, 3])
def test_ssim_is_one_for_identical_images_and_falls_with_noise(channels):
    a = _batch(channels)
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    eps = torch.randn(a.shape, generator=torch.Generator().manual_seed(1))
    scores = [ssim(a, (a + s * eps).clamp(-1, 1)) for s in (0.05, 0.2, 0.5)]
    assert scores == sorted(scores, reverse=True) and scores[-1] < 0.9
    assert ssim(a, torch.zeros_like(a)) < 0.1
    assert not math.isnan(ssim(a[0].numpy(), a[0].numpy()))
