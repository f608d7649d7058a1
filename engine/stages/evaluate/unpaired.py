"""The evaluate stage's path for unpaired (CycleGAN) models: a translation has no ground truth, so each variant is
scored by how much its translated test A looks like real B, next to how much A itself does.

Per variant: FID of its translations of the held-out A images against the held-out real B images, in a feature
net learnt without labels from both sets' training images (as for a folder); the cycle error (mean |G_BA(out) − a|
through the dense B → A generator, when the model has one); PSNR/SSIM to the dense model's translation (the
teacher) for compressed variants; size, MACs and latency. The `identity` row scores A unchanged as if it were B:
the baseline a translation must beat. Grids: input A, then each variant's translation of the same A.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import torch

from engine.data import ImageData, to_uint8
from engine.data.image_pairs import PREVIEW
from engine.events import Artifact, CancelToken, Event, Log, Progress
from engine.metrics.quality import fid_from_features, psnr, ssim
from engine.stages.evaluate.image import _feature_net, _latency, _runner, dense_and_source
from engine.workspace import Workspace

FEATURE_IMAGES = 599  # at most this many training images teach the feature net: a 32-wide feature space, so FID
# needs 64 test images a side (horse2zebra-28 holds 70); more images would ask for 128


def feature_data(src) -> ImageData:
    """Training images of both sets, alternating A and B, unlabelled: what the feature net learns from."""
    a, b = src.data.a_images[src.train_idx], src.data.images[src.b_train_idx]
    n = min(len(a), len(b), FEATURE_IMAGES // 2 + 1)
    both = torch.stack([a[:n], b[:n]], 1).flatten(0, 1)[:FEATURE_IMAGES]
    return ImageData(images=both.contiguous(), labels=None, name=f"{src.data.name} A+B")


def _back(dense: dict) -> torch.nn.Module | None:
    if not isinstance(dense.get("generator_ba"), dict):
        return None
    from engine.models import build_generator

    back = build_generator(dense["arch_ba"]["generator"], "arch_ba.generator")
    back.load_state_dict(dense["generator_ba"])
    return back.eval()


def _scores(out: torch.Tensor, a: torch.Tensor, teacher: torch.Tensor | None, back, net, real_f) -> dict:
    row: dict = {}
    if net is not None and real_f is not None:
        from engine.metrics.feature_net import features

        row["fid"] = round(fid_from_features(real_f, features(net, out)), 4)
    if back is not None:
        with torch.no_grad():
            row["cycle_l1"] = round(torch.cat([(back(c) - x).abs().mean((1, 2, 3)) for c, x in
                                               zip(out.split(256), a.split(256))]).mean().item(), 5)
    if teacher is not None:
        row.update(psnr_vs_teacher=round(psnr(out, teacher), 3), ssim_vs_teacher=round(ssim(out, teacher), 4))
    return row


def _fid_space(cfg, src, n_a: int, n_b: int, cancel: CancelToken):
    """(net, its name, real B features, a note when FID is left out)."""
    net, name, note = yield from _feature_net(cfg, feature_data(src), cancel)
    if net is None:
        return None, None, None, note
    need = 2 * int(net.spec().get("feature_dim", 64))
    if min(n_a, n_b) < need:
        return None, None, None, (f"FID needs at least {need} test images of each set (there are {n_a} A and {n_b} "
                                  "B); it is left out.")
    from engine.metrics.feature_net import features

    return net, name, features(net, src.images("B", "test")), None


def run_evaluate_unpaired(cfg, ws: Workspace, variants: list, cancel: CancelToken) -> Iterator[Event]:
    from engine.metrics import report as reports

    t_start = time.perf_counter()
    dense, src = dense_and_source(ws, variants)
    a = src.images("A", "test", cfg.samples)
    n_b = len(src.b_test_idx)
    net, net_name, real_f, fid_note = yield from _fid_space(cfg, src, len(a), n_b, cancel)
    if fid_note:
        yield Log("warning", fid_note)
    back = _back(dense)
    ws.update_stage("evaluate", status="running", samples=len(a), seeds=1)
    yield Log("info", f"Evaluating {len(variants)} variant(s) of an unpaired (A → B) model on {len(a)} held-out A "
                      f"images against {n_b} held-out real B images.")
    shown = slice(0, min(PREVIEW * 2, len(a)))
    grids = {"input": to_uint8(a[shown]).numpy()}
    rows = [{"name": "identity", "kind": "baseline", "status": "ok", "macs": 0,
             **_scores(a, a, None, back, net, real_f)}]
    teacher_out = None
    for i, v in enumerate(variants):
        cancel.raise_if_cancelled()
        yield Progress("evaluate", i, len(variants), v.name)
        if v.error:
            rows.append({"name": v.name, "kind": v.kind, "status": "failed", "error": v.error})
            continue
        t0 = time.perf_counter()
        run, size = _runner(v)
        out = run(a).float()
        lat = _latency(run, a, max(3, cfg.latency_runs // 4)) if cfg.latency else {}
        key = "ort" if v.kind == "onnx" else "torch"
        rows.append({"name": v.name, "kind": v.kind, "status": "ok", **size,
                     "latency_ms": {f"{key}_{b}": ms for b, ms in lat.items()} | {"threads": 1},
                     **_scores(out, a, None if v.name == "dense" else teacher_out, back, net, real_f),
                     "seconds": round(time.perf_counter() - t0, 2)})
        if v.name == "dense":
            teacher_out = out
        grids[v.name] = to_uint8(out[shown]).numpy()
    yield Progress("evaluate", len(variants), len(variants), "report")
    report = reports.build_report(rows, feature_net=net_name, fid_note=fid_note, seed=cfg.seed, device="cpu",
                                  task="unpaired", data=src.data.name, real_count=n_b, samples=len(a), seeds=1,
                                  threads=1, test_protocol=f"every 10th image of each set of {src.data.name} "
                                  f"({len(a)} A translated, {n_b} real B), never trained on",
                                  seconds=round(time.perf_counter() - t_start, 2))
    paths = reports.write_all(ws, report, grids)
    ws.update_stage("evaluate", report=paths["report"], samples=len(a), seeds=1)

    for key, path in paths.items():
        yield Artifact("evaluate", key, path)
    yield Log("info", "; ".join(f"{r['name']}: FID {r.get('fid')}" + (f", cycle L1 {r['cycle_l1']}" if
                                r.get("cycle_l1") is not None else "") for r in rows if r.get("status") == "ok"))
