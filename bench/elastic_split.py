"""How compress --search elastic splits its budget: an elastic student trained TRAIN_S seconds, then three sizes
polished alone POLISH_S seconds each, probe FID ratios to the teacher before and during the polish (bundled DCGAN).
The result chose ELASTIC_SHARE and STRETCH in engine/stages/compress/elastic.py
(bench/results/compress_elastic_split.json).

    .venv/bin/python bench/elastic_split.py TRAIN_S POLISH_S
"""

import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.distill import DistillWeights  # noqa: E402
from engine.distill.elastic import ElasticGenerator  # noqa: E402
from engine.distill.probe import FidProbe  # noqa: E402
from engine.distill.sandwich import SandwichSettings, SandwichTrainer  # noqa: E402
from engine.distill.trainer import Finetuner, StudentSettings  # noqa: E402
from engine.inputs import load_teacher, workspace_images  # noqa: E402
from engine.metrics.feature_net import load_feature_net  # noqa: E402
from engine.models import discriminator_from_checkpoint  # noqa: E402
from engine.pipeline import open_demo_workspace  # noqa: E402
from engine.stages.compress.elastic import COMPRESS_GRID  # noqa: E402


def polish(E, share, dense, teacher, data, net, probe, teacher_fid, seconds) -> dict:
    w = E.widths_at(share)
    E.calibrate(w)
    before = probe(E.model) / teacher_fid
    G = E.extract(w).train()
    ft = Finetuner(G, discriminator_from_checkpoint(dense), teacher, data.images, StudentSettings(), DistillWeights(),
                   "bce", torch.device("cpu"), perceptual_net=net)
    t0, curve, every = time.perf_counter(), [], seconds / 3
    next_probe = every
    while time.perf_counter() - t0 < seconds:
        ft.set_progress((time.perf_counter() - t0) / seconds)
        ft.train_step()
        if time.perf_counter() - t0 >= next_probe:
            curve.append((ft.step, round(probe(G) / teacher_fid, 3)))
            next_probe += every
    ft.close()
    return {"share": share, "macs_x": round(E.macs() / E.macs(w), 2), "elastic_ratio": round(before, 3),
            "polish": curve}


def main() -> None:
    train_s, polish_s = float(sys.argv[1]), float(sys.argv[2])
    torch.set_num_threads(1)
    ws = open_demo_workspace(Path(tempfile.mkdtemp()) / "ws", model="dcgan-mnist5k.pt")
    dense, teacher = load_teacher(ws)
    data = workspace_images(ws, dense)
    net = load_feature_net()
    probe = FidProbe(net, data.images, teacher.latent_dim, 5000, 0, torch.device("cpu"))
    teacher_fid = probe(teacher.eval())
    E = ElasticGenerator.from_dense(teacher)
    trainer = SandwichTrainer(E, SandwichSettings(grid=COMPRESS_GRID), DistillWeights(1, 0, 1), torch.device("cpu"),
                              net)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < train_s:
        trainer.set_progress((time.perf_counter() - t0) / train_s)
        trainer.train_step()
    trainer.close()
    out = {"teacher": teacher_fid, "floor": probe.noise_floor(), "elastic_steps": trainer.step, "train_s": train_s,
           "polish_s": polish_s, "rows": []}
    for share in (0.25, 0.1875, 0.15625):
        out["rows"].append(polish(E, share, dense, teacher, data, net, probe, teacher_fid, polish_s))
        print(out["rows"][-1], flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
