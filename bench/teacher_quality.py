"""Quality of the bundled teachers (resources/models/{dcgan,mlp}-mnist5k.pt) against an earlier version of the same
files, measured in the same run by the issue's protocol.

Protocol: domain-FID (features of the bundled digit classifier) of 5,000 generated vs the 5,000 real mnist-5k
digits, for 3 latent seeds, mean ± std; the class histogram (the classifier's argmax) over all generated samples;
and, as the floor, the FID of two halves of the real data. The previous models come from a git revision
(default: the commit before the bundled files last changed) or from files given with --previous. No asserts:
numbers to read, JSON in bench/results/teacher_quality.json.

    .venv/bin/python bench/teacher_quality.py [--previous-rev REV | --previous dcgan=PATH mlp=PATH] [--samples 5000]
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.config import DataConfig  # noqa: E402
from engine.data import load_dataset  # noqa: E402
from engine.metrics.feature_net import features, features_and_classes, load_feature_net  # noqa: E402
from engine.metrics.quality import fid_from_features, histogram_of  # noqa: E402
from engine.models import generator_from_checkpoint  # noqa: E402
from engine.workspace import atomic_write_json, load_checkpoint_file  # noqa: E402

ARCHS = ("dcgan", "mlp")
SEEDS = (0, 1, 2)


def bundled(arch: str) -> Path:
    return ROOT / "resources" / "models" / f"{arch}-mnist5k.pt"


def previous_from_git(rev: str | None, out: Path) -> tuple[str, dict[str, Path]]:
    """Write each arch's bundled file as of `rev` into `out`; by default the commit before the files last changed."""
    rel = {a: bundled(a).relative_to(ROOT).as_posix() for a in ARCHS}
    git = ["git", "-C", str(ROOT)]
    if rev is None:
        last = subprocess.run(git + ["log", "-1", "--format=%H", "--", rel["dcgan"]], check=True,
                              capture_output=True, text=True).stdout.strip()
        rev = f"{last}~1"
    paths = {}
    for arch, path in rel.items():
        blob = subprocess.run(git + ["show", f"{rev}:{path}"], check=True, capture_output=True).stdout
        paths[arch] = out / f"{arch}.pt"
        paths[arch].write_bytes(blob)
    return rev, paths


@torch.no_grad()
def measure(path: Path, real_f: np.ndarray, net, n: int) -> dict:
    ckpt = load_checkpoint_file(path)
    G = generator_from_checkpoint(ckpt).eval()
    fids, ids = [], []
    for seed in SEEDS:
        z = torch.randn(n, G.latent_dim, generator=torch.Generator().manual_seed(seed))
        fake_f, fake_ids = features_and_classes(net, torch.cat([G(c) for c in z.split(500)]))
        fids.append(float(fid_from_features(real_f, fake_f)))
        ids.append(fake_ids)
    hist = histogram_of(np.concatenate(ids), 10)
    return {"file": str(path), "steps": int(ckpt.get("step", 0)), "pretrained": ckpt.get("pretrained"),
            "fid_per_seed": [round(f, 2) for f in fids], "fid_mean": round(float(np.mean(fids)), 2),
            "fid_std": round(float(np.std(fids)), 2), "class_histogram": [round(h, 4) for h in hist],
            "class_min": round(min(hist), 4), "class_max": round(max(hist), 4)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--previous-rev", help="git revision holding the previous bundled models")
    p.add_argument("--previous", nargs="*", default=[], help="ARCH=PATH of the previous model files instead")
    p.add_argument("--samples", type=int, default=5000)
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "teacher_quality.json"))
    args = p.parse_args()
    torch.set_num_threads(1)
    t0 = time.time()
    net = load_feature_net()
    real = load_dataset(DataConfig("mnist-5k")).images[:args.samples]
    real_f = features(net, real)
    # mnist-5k is stored in class order: the floor compares two random halves, not the first and the last 2,500
    perm = np.random.default_rng(0).permutation(len(real_f))
    a, b = real_f[perm[:len(perm) // 2]], real_f[perm[len(perm) // 2:]]
    result = {"protocol": f"domain-FID, {args.samples} generated vs {len(real_f)} real mnist-5k, seeds {list(SEEDS)}",
              "real_halves_fid": round(float(fid_from_features(a, b)), 2),
              "machine": platform.processor() or platform.machine(), "torch_threads": 1}
    with tempfile.TemporaryDirectory() as tmp:
        if args.previous:
            prev = {a: Path(v) for a, v in (s.split("=", 1) for s in args.previous)}
            result["previous"] = "files"
        else:
            result["previous"], prev = previous_from_git(args.previous_rev, Path(tmp))
        for arch in ARCHS:
            new = measure(bundled(arch), real_f, net, args.samples)
            old = measure(prev[arch], real_f, net, args.samples) if arch in prev else None
            result[arch] = {"shipped": new, "previous": old,
                            "fid_ratio": round(new["fid_mean"] / old["fid_mean"], 3) if old else None}
            for tag, r in (("previous", old), ("shipped", new)):
                if r:
                    print(f"{arch:5s} {tag:8s} step {r['steps']:6d}  FID {r['fid_mean']:7.2f} ± {r['fid_std']:.2f}  "
                          f"classes {r['class_min']:.3f}..{r['class_max']:.3f}  {r['class_histogram']}")
    result["seconds"] = round(time.time() - t0)
    atomic_write_json(Path(args.out), result)
    print(f"real halves FID {result['real_halves_fid']}; wrote {args.out} in {result['seconds']}s")


if __name__ == "__main__":
    main()
