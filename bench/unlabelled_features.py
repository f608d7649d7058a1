"""Is FID in a feature net trained WITHOUT labels meaningful? Measured on mnist-5k with its labels hidden, against the
bundled supervised digit net, and on a synthetic RGB shapes set against a classifier trained with its labels.

Protocol (one CPU thread, seed 0):
- Each self-supervised method (engine/metrics/ssl_features.py) trains once on all images, labels never read; its
  training time is recorded. "random" is the same CNN untrained: the baseline any method must beat.
- The images are split into two disjoint halves A (real) and B (the "generated" set). FID(A, B) is the noise floor.
- Corruptions of B: Gaussian noise (sigma in [-1,1] units), Gaussian blur (sigma in pixels) and mode dropping (the
  first k classes removed from B, the rest resampled with replacement back to |B|; labels used only to corrupt).
- GAN checkpoints (mnist only): the bundled DCGAN with 0-90 % of its conv weights zeroed by global magnitude, |A|
  samples each: a real generator getting worse step by step.
- Reported per net: the noise floor, the floor relative to the mildest noise level, whether FID grows monotonically
  within each family, and the Spearman rank correlation with the supervised net's FID over all corruptions and over
  the GAN checkpoints.

    .venv/bin/python bench/unlabelled_features.py [--methods simclr+rotation simclr ...] [--steps N]
        [--sets mnist-5k shapes-rgb]
Writes bench/results/unlabelled_features.json (each --sets run merges into it). No asserts: numbers to read. The
screening runs that chose the method (denoise included) are in bench/results/unlabelled_features_screening.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.data import ImageData, load_dataset, to_float, to_uint8  # noqa: E402
from engine.metrics.feature_net import DigitCNN, features, load_feature_net  # noqa: E402
from engine.metrics.quality import fid_from_features  # noqa: E402

NOISE = (0.05, 0.1, 0.2, 0.4)
BLUR = (0.5, 1.0, 1.5, 2.0)
PRUNE = (0.0, 0.5, 0.7, 0.8, 0.9)


def spearman(a, b) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    r = max(1, int(3 * sigma + 0.5))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=torch.float32) / sigma) ** 2)
    k = (k / k.sum()).to(x.dtype)
    c = x.shape[1]
    x = torch.nn.functional.pad(x, [r] * 4, mode="replicate")
    x = torch.nn.functional.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return torch.nn.functional.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def corruptions(b: torch.Tensor, b_labels: np.ndarray, classes: int) -> dict[str, torch.Tensor]:
    """name -> uint8 images, in the order each family gets worse."""
    gen = torch.Generator().manual_seed(1)
    xf = to_float(b)
    out = {f"noise {s}": to_uint8(xf + s * torch.randn(xf.shape, generator=gen)) for s in NOISE}
    out.update({f"blur {s}": to_uint8(gaussian_blur(xf, s)) for s in BLUR})
    rng = np.random.default_rng(2)
    for k in range(1, min(6, classes)):
        keep = np.flatnonzero(b_labels >= k)
        out[f"drop {k} classes"] = b[np.sort(rng.choice(keep, len(b), replace=True))]
    return out


def pruned_gan_samples(n: int) -> dict[str, torch.Tensor]:
    from engine.models import generator_from_checkpoint
    from engine.stages.train.run import fixed_latents
    from engine.workspace import load_checkpoint_file

    ckpt = load_checkpoint_file(ROOT / "resources" / "models" / "dcgan-mnist5k.pt")
    out = {}
    for amount in PRUNE:
        g = generator_from_checkpoint(ckpt)
        weights = [m.weight for m in g.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
        if amount > 0:
            mags = torch.cat([w.detach().abs().flatten() for w in weights])
            cut = mags.kthvalue(int(amount * len(mags))).values
            with torch.no_grad():
                for w in weights:
                    w.mul_((w.abs() > cut).float())
        z = fixed_latents(n, ckpt["arch"]["generator"]["latent_dim"], 0)
        with torch.no_grad():
            out[f"dcgan {int(amount * 100)}% zeroed"] = torch.cat([to_uint8(g(c)) for c in z.split(500)])
    return out


def fid_table(net, a, sets: dict[str, torch.Tensor], b) -> dict[str, float]:
    fa = features(net, a)
    table = {"halves": fid_from_features(fa, features(net, b))}
    table.update({name: fid_from_features(fa, features(net, x)) for name, x in sets.items()})
    return table


def summarise(table: dict[str, float], reference: dict[str, float]) -> dict:
    fam = {f: [k for k in table if k.startswith(f)] for f in ("noise", "blur", "drop", "dcgan")}
    fam = {f: ks for f, ks in fam.items() if ks}
    corrupt = [k for f in ("noise", "blur", "drop") for k in fam.get(f, [])]
    floor = table["halves"]
    out = {"halves": floor, "over_halves": {k: table[k] / floor for k in (fam["noise"][1], fam["blur"][0],
                                                                           fam["drop"][0], *fam.get("dcgan", [])[:1])},
           "monotonic": {f: bool(np.all(np.diff([table[k] for k in ks]) > 0)) for f, ks in fam.items()},
           "spearman_vs_supervised_corruptions": spearman([table[k] for k in corrupt], [reference[k] for k in corrupt])}
    if "dcgan" in fam:
        ks = fam["dcgan"]
        out["spearman_vs_supervised_gan"] = spearman([table[k] for k in ks], [reference[k] for k in ks])
    return out


def train(data, method: str, steps: int | None) -> tuple[torch.nn.Module, float]:
    from engine.data import to_float
    from engine.metrics.ssl_features import scale_to_unit_variance, ssl_spec, train_self_supervised

    t0 = time.perf_counter()
    if method == "random":
        torch.manual_seed(0)
        net = DigitCNN(ssl_spec(data, len(data), "random")).eval()
        scale_to_unit_variance(net, to_float(data.images[:2000]))
        return net, 0.0
    gen = train_self_supervised(data, method=method, steps=steps)
    while True:
        try:
            next(gen)
        except StopIteration as done:
            return done.value, time.perf_counter() - t0


def run_set(data: ImageData, labels: np.ndarray, reference_net, methods, steps, gan: bool) -> dict:
    order = np.random.default_rng(0).permutation(len(data))
    ia, ib = np.sort(order[: len(data) // 2]), np.sort(order[len(data) // 2:])
    a, b = data.images[ia], data.images[ib]
    sets = corruptions(b, labels[ib], int(labels.max()) + 1)
    if gan:
        sets.update(pruned_gan_samples(len(a)))
    reference = fid_table(reference_net, a, sets, b)
    result = {"images": len(data), "shape": list(data.image_shape), "half": len(a),
              "supervised_fid": reference, "methods": {}}
    hidden = ImageData(images=data.images, labels=None, name=data.name)  # the methods never see labels
    for method in methods:
        net, seconds = train(hidden, method, steps)
        table = fid_table(net, a, sets, b)
        result["methods"][method] = {"train_seconds": round(seconds, 1), "train_info": getattr(net, "train_info", {}),
                                     "fid": table, **summarise(table, reference)}
        print(f"{data.name} {method}: {seconds:.0f} s, " + json.dumps(
            {k: v for k, v in result["methods"][method].items() if k not in ("fid", "train_info")}), flush=True)
    result["supervised"] = summarise(reference, reference)
    return result


def shapes_data(n_per_class: int = 500, size: int = 32) -> tuple[ImageData, np.ndarray]:
    """Circles, squares and triangles of random colour, size and place on random dark backgrounds."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(0)
    images, labels = [], []
    for label in range(3):
        for _ in range(n_per_class):
            im = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(0, 90, 3)))
            r, cx, cy = int(rng.integers(6, 12)), *(int(v) for v in rng.integers(12, 21, 2))
            fill = tuple(int(v) for v in rng.integers(140, 256, 3))
            draw = ImageDraw.Draw(im)
            if label == 0:
                draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
            elif label == 1:
                draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=fill)
            else:
                draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fill)
            images.append(np.asarray(im).transpose(2, 0, 1))
            labels.append(label)
    x = torch.from_numpy(np.stack(images))
    y = torch.tensor(labels)
    return ImageData(images=x, labels=y, name="shapes-rgb", classes=["circle", "square", "triangle"]), y.numpy()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--methods", nargs="+", default=["simclr+rotation", "rotation", "simclr", "random"])
    ap.add_argument("--steps", type=int, default=None, help="training steps (default: the product's plan)")
    ap.add_argument("--sets", nargs="+", default=["mnist-5k", "shapes-rgb"], help="measure these; others in --out kept")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "unlabelled_features.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    out = Path(args.out)
    from engine.metrics.ssl_features import DEFAULT_METHOD

    results = {"default_method": DEFAULT_METHOD,
               "protocol": __doc__.split("Protocol (one CPU thread, seed 0):")[1].split("\n\n")[0].strip(),
               "machine": platform.processor() or platform.machine(), "threads": 1}
    if "mnist-5k" in args.sets:
        from engine.config import DataConfig

        mnist = load_dataset(DataConfig("mnist-5k"))
        results["mnist-5k"] = run_set(mnist, mnist.labels.numpy(), load_feature_net(), args.methods, args.steps, True)
    if "shapes-rgb" in args.sets:
        from engine.metrics.feature_cache import feature_net_for

        shapes, labels = shapes_data()
        reference, name = feature_net_for(shapes)  # trained WITH labels: the supervised reference for RGB
        results["shapes-rgb"] = run_set(shapes, labels, reference, args.methods, args.steps, False)
        results["shapes-rgb"]["supervised_net"] = name
    results[f"seconds_{'+'.join(args.sets)}"] = round(time.perf_counter() - t0, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    fresh = json.loads(out.read_text("utf-8")) if out.exists() else {}  # a parallel run may have written its set
    out.write_text(json.dumps({**fresh, **results}, indent=1) + "\n", "utf-8")
    print(f"wrote {out} in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
