"""The evaluate stage's path for image-to-image models: every variant (dense, pruned, fine-tuned, ONNX files) on
the held-out test images (every 10th image, never trained on; inputs made with a fixed seed).

Per variant: PSNR and SSIM against the ground truth, FID of its outputs against the test targets (the same
feature net as for noise GANs, when there are enough images), teacher fidelity (PSNR/SSIM against the dense
model's outputs), size, MACs and latency. For superres a `bicubic` row is the baseline every model must beat.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator

import torch

from engine.data import to_uint8
from engine.data.image_pairs import PREVIEW
from engine.errors import WorkspaceError
from engine.events import Artifact, CancelToken, Event, Log, Progress
from engine.export.image_onnx import run_image_onnx
from engine.inputs import workspace_pairs
from engine.metrics.complexity import summarize
from engine.metrics.quality import fid_from_features, psnr, ssim
from engine.models import generator_from_checkpoint
from engine.models.unet import resize_to
from engine.workspace import Workspace, load_checkpoint_file


def _feature_net(cfg, data, cancel: CancelToken):
    from engine.metrics.feature_cache import prepare_feature_net, why_no_feature_net

    if cfg.feature_net == "none":
        return None, None, "FID is off (feature_net = none)."
    found = yield from prepare_feature_net(data, cancel)
    if found is None:
        return None, None, why_no_feature_net(data)
    return found[0], found[1], None


def _runner(v) -> tuple[Callable[[torch.Tensor], torch.Tensor], dict]:
    """A function inputs → outputs for a variant, and what is known of its size."""
    if v.kind == "onnx":
        from engine.export.onnx import ort_session

        session = ort_session(v.path, threads=1)
        return (lambda x: torch.from_numpy(run_image_onnx(session, x.numpy())),
                {"file_bytes": v.path.stat().st_size, "numeric_precision": v.precision})
    G = generator_from_checkpoint(load_checkpoint_file(v.path)).eval()
    size = summarize(G)

    @torch.no_grad()
    def run(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([G(chunk) for chunk in x.split(256)])

    return run, {k: size[k] for k in ("params", "nonzero_params", "macs", "file_bytes", "file_bytes_compressed")}


def _latency(run, x: torch.Tensor, runs: int) -> dict:
    out = {}
    for b in (1, 64):
        batch = x[:b] if len(x) >= b else x.repeat((b + len(x) - 1) // len(x), 1, 1, 1)[:b]
        run(batch)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            run(batch)
            times.append((time.perf_counter() - t0) * 1000)
        out[f"b{b}"] = round(statistics.median(times), 3)
    return out


def _scores(out: torch.Tensor, targets: torch.Tensor, teacher: torch.Tensor | None, net, real_f) -> dict:
    row = {"psnr": round(psnr(out, targets), 3), "ssim": round(ssim(out, targets), 4)}
    if teacher is not None:
        row.update(psnr_vs_teacher=round(psnr(out, teacher), 3), ssim_vs_teacher=round(ssim(out, teacher), 4))
    if net is not None and real_f is not None:
        from engine.metrics.feature_net import features

        row["fid"] = round(fid_from_features(real_f, features(net, out)), 4)
    return row


def _variant(cfg, v, inputs, targets, teacher_out, net, real_f) -> tuple[dict, object]:
    """One variant's row (size, latency, scores against the targets and the dense model) and its outputs."""
    t0 = time.perf_counter()
    run, size = _runner(v)
    out = run(inputs).float()
    lat = _latency(run, inputs, max(3, cfg.latency_runs // 4)) if cfg.latency else {}
    key = "ort" if v.kind == "onnx" else "torch"
    teacher = out if v.name == "dense" else teacher_out
    return {"name": v.name, "kind": v.kind, "status": "ok", **size,
            "latency_ms": {f"{key}_{b}": ms for b, ms in lat.items()} | {"threads": 1},
            **_scores(out, targets, teacher, net, real_f), "seconds": round(time.perf_counter() - t0, 2)}, out


def dense_and_source(ws: Workspace, variants: list):
    """The dense checkpoint (the teacher every variant is scored against) and the task's data it was trained on."""
    dense_v = next((v for v in variants if v.name == "dense" and v.error is None), None)
    if dense_v is None:
        raise WorkspaceError(f"No trained model in {ws.root} (checkpoints/dense.pt); run 'gan-prune train' first.")
    dense = ws.load_checkpoint(dense_v.path)
    return dense, workspace_pairs(ws, dense)


def run_evaluate_images(cfg, ws: Workspace, variants: list, cancel: CancelToken) -> Iterator[Event]:
    from engine.metrics import report as reports

    t_start = time.perf_counter()
    dense, src = dense_and_source(ws, variants)
    n = min(cfg.samples, len(src.test_idx))
    inputs, targets = src.fixed("test", n, cfg.seed)
    net, net_name, fid_note = yield from _feature_net(cfg, src.data, cancel)
    real_f = None
    if net is not None:
        need = 2 * int(net.spec().get("feature_dim", 64))
        if n < need:
            net, fid_note = None, f"FID needs at least {need} test images (there are {n}); it is left out."
        else:
            from engine.metrics.feature_net import features

            real_f = features(net, targets)
    if fid_note:
        yield Log("warning", fid_note)
    ws.update_stage("evaluate", status="running", samples=n, seeds=1)
    task = (dense.get("data") or {}).get("task", "superres")
    yield Log("info", f"Evaluating {len(variants)} variant(s) of a {task} model on {n} held-out test images.")
    rows, grids, teacher_out = [], {}, None
    shown = slice(0, min(PREVIEW * 2, n))
    grids["input"] = to_uint8(resize_to(inputs[shown], targets.shape[-2:]) if inputs.shape[1] == targets.shape[1]
                              else inputs[shown]).numpy()
    grids["target"] = to_uint8(targets[shown]).numpy()
    if task == "superres":
        bicubic = resize_to(inputs, targets.shape[-2:]).clamp(-1, 1)
        rows.append({"name": "bicubic", "kind": "baseline", "status": "ok", "macs": 0,
                     **_scores(bicubic, targets, None, net, real_f)})
    for i, v in enumerate(variants):
        cancel.raise_if_cancelled()
        yield Progress("evaluate", i, len(variants), f"{v.name}")
        if v.error:
            rows.append({"name": v.name, "kind": v.kind, "status": "failed", "error": v.error})
            continue
        row, out = _variant(cfg, v, inputs, targets, teacher_out, net, real_f)
        if v.name == "dense":
            teacher_out = out
        rows.append(row)
        grids[v.name] = to_uint8(out[shown]).numpy()
    yield Progress("evaluate", len(variants), len(variants), "report")
    report = reports.build_report(rows, feature_net=net_name, fid_note=fid_note, seed=cfg.seed, device="cpu",
                                  task=task, data=src.data.name, real_count=n, samples=n, seeds=1, threads=1,
                                  test_protocol=f"every 10th image of {src.data.name} ({n} used), never trained "
                                                f"on; inputs made with seed {cfg.seed}",
                                  seconds=round(time.perf_counter() - t_start, 2))
    paths = reports.write_all(ws, report, grids)
    ws.update_stage("evaluate", report=paths["report"], samples=n, seeds=1)
    for key, path in paths.items():
        yield Artifact("evaluate", key, path)
    yield Log("info", "; ".join(f"{r['name']}: PSNR {r.get('psnr')} dB, SSIM {r.get('ssim')}"
                                + (f", FID {r['fid']}" if r.get("fid") is not None else "")
                                for r in rows if r.get("status") == "ok"))

