"""Image-quality numbers for a generator: domain FID, precision/recall, density/coverage, SWD, PSNR/SSIM, modes.

Pure functions on numpy arrays / torch tensors. Statistics that cancel large numbers (FID) run in float64.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from engine.errors import ConfigError

PSNR_CAP_DB = 100.0  # identical images: a finite number keeps report.json valid JSON


# --------------------------------------------------------------------------- Fréchet distance (FID)

def _sqrt_psd(mat: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((mat + mat.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1, sig1, mu2, sig2) -> float:
    """||mu1-mu2||² + tr(S1) + tr(S2) - 2 tr((S1 S2)^½), in float64.

    S1 S2 is similar to the symmetric PSD matrix S1^½ S2 S1^½, so tr((S1 S2)^½) is the sum of the square roots of
    its eigenvalues: two symmetric eigen-decompositions, no scipy.linalg.sqrtm and no complex round-off.
    """
    mu1, mu2 = np.asarray(mu1, np.float64).ravel(), np.asarray(mu2, np.float64).ravel()
    sig1, sig2 = np.atleast_2d(np.asarray(sig1, np.float64)), np.atleast_2d(np.asarray(sig2, np.float64))
    if mu1.shape != mu2.shape or sig1.shape != sig2.shape or sig1.shape != (mu1.size, mu1.size):
        raise ConfigError(f"Feature statistics do not match: means {mu1.shape} / {mu2.shape}, "
                          f"covariances {sig1.shape} / {sig2.shape}; compute both with the same feature net.")
    root1 = _sqrt_psd(sig1)
    middle = root1 @ sig2 @ root1
    eig = np.linalg.eigvalsh((middle + middle.T) / 2)
    tr_covmean = float(np.sqrt(np.clip(eig, 0, None)).sum())
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(sig1) + np.trace(sig2) - 2.0 * tr_covmean)
    return max(value, 0.0)  # tiny negatives are round-off on (near-)identical sets


def feature_stats(feats) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(feats, np.float64)
    return f.mean(axis=0), np.cov(f, rowvar=False)


def fid_from_features(real_f, fake_f) -> float:
    """FID between two feature sets (N x D). Needs at least 2·D samples in each, or the covariance is unreliable."""
    real_f, fake_f = np.asarray(real_f, np.float64), np.asarray(fake_f, np.float64)
    dim = real_f.shape[1]
    need = 2 * dim
    for name, f in (("real", real_f), ("generated", fake_f)):
        if f.ndim != 2 or f.shape[1] != dim:
            raise ConfigError(f"The {name} features have shape {f.shape}; expected N x {dim}.")
        if f.shape[0] < need:
            raise ConfigError(f"FID needs at least {need} {name} images for {dim}-d features "
                              f"(got {f.shape[0]}); raise the number of evaluation samples.")
    return frechet_distance(*feature_stats(real_f), *feature_stats(fake_f))


# --------------------------------------------------------------------------- k-NN manifold metrics

def _as_t(x) -> torch.Tensor:
    # float32 distances: the ball tests compare distances of similar size, far from float32 round-off
    return torch.as_tensor(np.asarray(x, np.float32))


def _row_chunks(n: int, chunk: int):
    for i in range(0, n, chunk):
        yield slice(i, min(i + chunk, n))


def _neighbour_radii(f: torch.Tensor, ks: tuple[int, ...], chunk: int) -> dict[int, torch.Tensor]:
    """For each k: distance of each point to its k-th nearest other point (the point itself is the 0th)."""
    kmax = max(ks)
    if f.shape[0] <= kmax:
        raise ConfigError(f"Nearest-neighbour metrics with k={kmax} need more than {kmax} images (got {f.shape[0]}).")
    nearest = torch.cat([torch.cdist(f[s], f).topk(kmax + 1, dim=1, largest=False).values
                         for s in _row_chunks(f.shape[0], chunk)])  # sorted ascending
    return {k: nearest[:, k] for k in ks}


def manifold_metrics(real_f, fake_f, k_pr: int = 3, k_dc: int = 5, chunk: int = 1000) -> dict:
    """Precision/recall (k_pr) and density/coverage (k_dc) from one pass over each distance matrix.

    Three chunked distance matrices (real-real, fake-fake, fake-real) in float32 serve all four numbers,
    so 5,000 x 5,000 stays a few tens of MB and a few seconds.
    """
    real, fake = _as_t(real_f), _as_t(fake_f)
    if real.dim() != 2 or fake.dim() != 2 or real.shape[1] != fake.shape[1]:
        raise ConfigError(f"Feature sets must both be N x D with the same D (got {tuple(real.shape)} and "
                          f"{tuple(fake.shape)}).")
    real_r = _neighbour_radii(real, (k_pr, k_dc), chunk)
    fake_r = _neighbour_radii(fake, (k_pr,), chunk)[k_pr]
    fake_in_real = torch.zeros(fake.shape[0], dtype=torch.bool)  # precision: inside some real ball
    balls_holding = torch.zeros(fake.shape[0], dtype=torch.float64)  # density: how many real k_dc-balls
    real_in_fake = torch.zeros(real.shape[0], dtype=torch.bool)  # recall: inside some fake ball
    nearest_fake = torch.full((real.shape[0],), float("inf"), dtype=real.dtype)  # coverage
    for s in _row_chunks(fake.shape[0], chunk):
        d = torch.cdist(fake[s], real)  # chunk x N_real
        fake_in_real[s] = (d <= real_r[k_pr].unsqueeze(0)).any(1)
        balls_holding[s] = (d <= real_r[k_dc].unsqueeze(0)).sum(1).double()
        real_in_fake |= (d <= fake_r[s].unsqueeze(1)).any(0)
        nearest_fake = torch.minimum(nearest_fake, d.min(0).values)
    return {"precision": float(fake_in_real.double().mean()), "recall": float(real_in_fake.double().mean()),
            "density": float(balls_holding.sum() / (k_dc * fake.shape[0])),
            "coverage": float((nearest_fake <= real_r[k_dc]).double().mean()), "k_pr": k_pr, "k_dc": k_dc}


def precision_recall(real_f, fake_f, k: int = 3, chunk: int = 1000) -> dict:
    """Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN balls in feature space.

    precision: share of generated samples inside the real manifold (union of real k-NN balls); recall: share
    of real samples inside the generated manifold.
    """
    m = manifold_metrics(real_f, fake_f, k_pr=k, k_dc=k, chunk=chunk)
    return {"precision": m["precision"], "recall": m["recall"], "k": k}


def density_coverage(real_f, fake_f, k: int = 5, chunk: int = 1000) -> dict:
    """Density and coverage (Naeem et al. 2020): k-NN balls around real samples only, robust to outliers.

    density: mean number of real balls holding a generated sample, divided by k (≈1 when the sets match; can
    exceed 1); coverage: share of real balls that hold at least one generated sample.
    """
    m = manifold_metrics(real_f, fake_f, k_pr=k, k_dc=k, chunk=chunk)
    return {"density": m["density"], "coverage": m["coverage"], "k": k}


# --------------------------------------------------------------------------- sliced Wasserstein distance

_GAUSS = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=torch.float32)
_GAUSS_5x5 = torch.outer(_GAUSS, _GAUSS) / 256.0


def _blur(x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    # channels folded into the batch: a plain 1-channel conv is much faster on CPU than a depthwise one
    n, c, h, w = x.shape
    kernel = (_GAUSS_5x5 * gain).to(x.dtype).view(1, 1, 5, 5)
    flat = torch.nn.functional.pad(x.reshape(n * c, 1, h, w), [2] * 4, mode="reflect")
    return torch.nn.functional.conv2d(flat, kernel).view(n, c, h, w)


def _pyr_down(x: torch.Tensor) -> torch.Tensor:
    return _blur(x)[:, :, ::2, ::2]


def _pyr_up(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    n, c, h, w = x.shape
    up = x.new_zeros(n, c, 2 * h, 2 * w)
    up[:, :, ::2, ::2] = x
    return _blur(up, gain=4.0)[:, :, : size[0], : size[1]]


def _laplacian_pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    pyramid = [x]
    for _ in range(1, levels):
        low = _pyr_down(pyramid[-1])
        pyramid[-1] = pyramid[-1] - _pyr_up(low, pyramid[-1].shape[-2:])
        pyramid.append(low)
    return pyramid


def _pyramid_resolutions(size: int, min_resolution: int) -> list[int]:
    res, out = size, []
    while res >= min_resolution:
        out.append(res)
        res //= 2
    return out


def _patch_descriptors(level: torch.Tensor, per_image: int, patch: int, gen: torch.Generator) -> torch.Tensor:
    """per_image random patch x patch windows per image, normalised per channel over the whole set."""
    n, c, h, w = level.shape
    half = patch // 2
    ys = torch.randint(half, h - half, (n * per_image,), generator=gen)
    xs = torch.randint(half, w - half, (n * per_image,), generator=gen)
    offs = torch.arange(-half, half + 1)
    img = torch.arange(n).repeat_interleave(per_image).view(-1, 1, 1, 1)
    chan = torch.arange(c).view(1, c, 1, 1)
    rows = (ys.view(-1, 1) + offs).view(-1, 1, patch, 1)
    cols = (xs.view(-1, 1) + offs).view(-1, 1, 1, patch)
    flat_index = ((img * c + chan) * h + rows) * w + cols  # one flat take beats 4-d fancy indexing on CPU
    desc = level.contiguous().view(-1).take(flat_index)  # N*per_image x C x patch x patch
    desc = desc - desc.mean(dim=(0, 2, 3), keepdim=True)
    desc = desc / desc.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-8)
    return desc.reshape(desc.shape[0], -1)


def _swd_1d(a: torch.Tensor, b: torch.Tensor, repeats: int, dirs: int, gen: torch.Generator) -> float:
    results = []
    for _ in range(repeats):
        d = torch.randn(dirs, a.shape[1], generator=gen)
        d = d / d.norm(dim=1, keepdim=True)
        # numpy's vectorised sort is ~20x faster than torch.sort on CPU for these (dirs x N) rows
        pa, pb = (d @ a.T).numpy(), (d @ b.T).numpy()
        pa.sort(axis=1)
        pb.sort(axis=1)
        np.subtract(pa, pb, out=pa)
        results.append(float(np.abs(pa, out=pa).mean(dtype=np.float64)))
    return float(np.mean(results))


def sliced_wasserstein(real_uint8, fake_uint8, patches_per_image: int = 32, patch: int = 7, repeats: int = 4,
                       dirs_per_repeat: int = 128, min_resolution: int = 8, seed: int = 0) -> dict:
    """Sliced Wasserstein distance over Laplacian-pyramid patches (Karras et al. 2018, progressive GAN).

    Each set (N x C x H x W, uint8 or float, 1 or 3 channels, H = W ≥ 16) is split into a Laplacian pyramid
    (levels halve down to `min_resolution`, the last is the low-pass); each level gives random 7x7 patch
    descriptors normalised per channel over each set on its own (as in the paper, so a global brightness or
    contrast shift is not counted); the distance is the mean |sorted projection difference| over random unit
    directions (repeats x dirs_per_repeat). Values are reported ×1e3, as in the paper's tables. The paper takes
    128 patches per image; 32 keeps 5,000 images to seconds on a CPU. The seed fixes patch positions and
    directions, so identical sets give exactly 0. Sets of unequal size are cut to the smaller.
    Returns {"resolutions": [sizes, finest first], "per_level": [...], "mean": ...}.
    """
    real, fake = torch.as_tensor(np.asarray(real_uint8)), torch.as_tensor(np.asarray(fake_uint8))
    if real.dim() != 4 or real.shape[1:] != fake.shape[1:]:
        raise ConfigError(f"SWD needs two image sets of the same N x C x H x W shape (got {tuple(real.shape)} "
                          f"and {tuple(fake.shape)}).")
    h, w = real.shape[-2:]
    if min(h, w) < 16 or min(h, w) < patch:
        raise ConfigError(f"SWD needs images of at least 16x16 pixels (got {h}x{w}).")
    n = min(real.shape[0], fake.shape[0])
    resolutions = _pyramid_resolutions(min(h, w), max(min_resolution, patch))
    pyramids = [_laplacian_pyramid(x[:n].float(), len(resolutions)) for x in (real, fake)]
    per_level = []
    for lvl in range(len(resolutions)):
        descs = [_patch_descriptors(p[lvl], patches_per_image, patch, torch.Generator().manual_seed(seed + lvl))
                 for p in pyramids]
        gen = torch.Generator().manual_seed(seed + 1000 + lvl)
        per_level.append(_swd_1d(descs[0], descs[1], repeats, dirs_per_repeat, gen) * 1e3)
    sizes = [int(level.shape[-1]) for level in pyramids[0]]  # odd sizes round up when halved (27 -> 14)
    return {"resolutions": sizes, "per_level": per_level, "mean": float(np.mean(per_level))}


# --------------------------------------------------------------------------- pixel fidelity (vs a teacher)

def _as_float_batch(x) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).double()
    return t.unsqueeze(0) if t.dim() == 3 else t


def psnr(a, b, data_range: float = 2.0) -> float:
    """PSNR in dB of two batches in [-1,1] (MSE over all pixels; identical images give PSNR_CAP_DB)."""
    a, b = _as_float_batch(a), _as_float_batch(b)
    mse = float(((a - b) ** 2).mean())
    if mse <= 0:
        return PSNR_CAP_DB
    return min(PSNR_CAP_DB, 10.0 * math.log10(data_range**2 / mse))


def ssim(a, b, data_range: float = 2.0, window: int = 11, sigma: float = 1.5) -> float:
    """Mean SSIM (Wang et al. 2004, gaussian window, per channel, valid region) of two N x C x H x W batches."""
    a, b = _as_float_batch(a), _as_float_batch(b)
    if a.shape != b.shape:
        raise ConfigError(f"SSIM needs two batches of the same shape (got {tuple(a.shape)} and {tuple(b.shape)}).")
    n, c, h, w = a.shape
    window = min(window, h, w)
    window -= 1 - window % 2  # odd
    g = torch.exp(-((torch.arange(window, dtype=torch.float64) - window // 2) ** 2) / (2 * sigma**2))
    g = g / g.sum()
    # the valid gaussian filter as two banded matrices: float64 matmuls are fast, float64 convs are not on CPU
    band_h = torch.stack([torch.nn.functional.pad(g, (i, h - window - i)) for i in range(h - window + 1)])
    band_w = torch.stack([torch.nn.functional.pad(g, (i, w - window - i)) for i in range(w - window + 1)])

    def filt(x):
        return band_h @ x @ band_w.T

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a, mu_b = filt(a), filt(b)
    var_a = filt(a * a) - mu_a**2
    var_b = filt(b * b) - mu_b**2
    cov = filt(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(s.mean())


# --------------------------------------------------------------------------- classes and modes

def class_histogram(net, images, batch: int = 500) -> list[float]:
    """Fraction of images the feature net puts in each class (a collapsed generator piles into a few)."""
    from engine.metrics.feature_net import predict

    return histogram_of(predict(net, images, batch=batch), int(net.spec()["classes"]))


def histogram_of(class_ids, classes: int) -> list[float]:
    """Fraction per class of already-predicted class ids (see feature_net.features_and_classes)."""
    ids = np.asarray(class_ids, np.int64)
    if ids.size == 0:
        return [0.0] * classes
    return (np.bincount(ids, minlength=classes)[:classes] / ids.size).astype(float).tolist()


def modes_covered(histogram, share: float = 0.1) -> int:
    """Classes holding at least `share` (default 10%) of their uniform share 1/K of the samples."""
    hist = np.asarray(histogram, np.float64)
    return int((hist >= share / hist.size).sum()) if hist.size else 0


# --------------------------------------------------------------------------- all of the above, for one variant

def quality_numbers(net, real_images, fake_images, real_features=None, swd: bool = True) -> dict:
    """FID, precision/recall, density/coverage, SWD, class histogram and modes of generated vs real images.

    real_images: uint8 N x C x H x W; fake_images: float in [-1,1] (generator output) or uint8. Pass the real
    features from an earlier call to skip recomputing them for every variant. Keys match report.json.
    """
    from engine.data import to_uint8
    from engine.metrics.feature_net import describe, features, features_and_classes

    real_f = features(net, real_images) if real_features is None else real_features
    fake_f, fake_ids = features_and_classes(net, fake_images)
    hist = histogram_of(fake_ids, int(net.spec()["classes"]))
    out = {"fid": fid_from_features(real_f, fake_f), **manifold_metrics(real_f, fake_f),
           "class_histogram": hist, "modes_covered": modes_covered(hist), "feature_net": describe(net),
           "samples": int(len(fake_f))}
    if swd:
        fake_u8 = torch.as_tensor(fake_images)
        fake_u8 = fake_u8 if fake_u8.dtype == torch.uint8 else to_uint8(fake_u8)
        sw = sliced_wasserstein(real_images, fake_u8)
        out.update(swd=sw["mean"], swd_levels=dict(zip(map(str, sw["resolutions"]), sw["per_level"], strict=True)))
    return out
