"""The evaluate stage: every model variant in a workspace on the same latents and the same real images — quality
(domain-FID, precision/recall, density/coverage, SWD, teacher PSNR/SSIM, class histogram) and efficiency (params,
MACs, bytes, latency) — written to report.json, report.html and report.csv."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.errors import ConfigError, DataError, WorkspaceError
from engine.events import Artifact, Cancelled, CancelToken, EtaMeter, Event, Log, Metrics, Progress, Samples
from engine.stage_runner import recorded
from engine.stages.evaluate.config import FEATURE_NETS, EvaluateConfig  # noqa: F401
from engine.tasks import IMAGE, is_unpaired, model_kind
from engine.workspace import Workspace

GRID_COUNT = 64  # images per variant in the side-by-side grids
SSIM_COUNT = 1000  # SSIM is ~10x the cost of PSNR; a thousand pairs pin it to the third decimal
QUALITY_KEYS = ("fid", "precision", "recall", "density", "coverage", "swd", "psnr_vs_teacher", "ssim_vs_teacher",
                "cond_accuracy")


def _kind(ws: Workspace, variants) -> str:
    """From the first model's checkpoint spec, as every stage decides it; a folder with ONNX files alone (the
    checkpoints deleted) from the config it was trained with."""
    from engine.inputs import workspace_config

    first = next((v for v in variants if v.kind == "torch" and not v.error), None)
    return model_kind(ws.load_checkpoint(first.path)) if first else workspace_config(ws).model.kind


# ---- real data and the feature space -----------------------------------------------------------------------------
def _feature_net(cfg: EvaluateConfig, data, cancel: CancelToken):
    """Generator of training events returning (net or None, its name for the report or None, why not or None).

    auto: the digit classifier for MNIST, a classifier trained on (or cached for) any other labelled data, a net
    trained without labels for unlabelled data; no FID only when why_no_feature_net says why."""
    from engine.metrics.feature_cache import prepare_feature_net, why_no_feature_net
    from engine.metrics.feature_net import describe, load_feature_net

    if cfg.feature_net == "none":
        return None, None, "FID is off (feature_net = none); SWD and teacher fidelity are reported instead."
    if cfg.feature_net.endswith(".pt"):
        net = load_feature_net(cfg.feature_net)
        return net, describe(net), None
    if cfg.feature_net == "inception":
        from engine.metrics.inception import load_inception

        net, name = load_inception()
        return net, name, None
    if cfg.feature_net == "digit-cnn":
        net = load_feature_net()
        return net, describe(net), None
    found = yield from prepare_feature_net(data, cancel)
    if found is None:
        return None, None, why_no_feature_net(data)
    return found[0], found[1], None


@dataclass
class SeedSet:
    """What every variant is compared against for one seed: latents, real images, their features, the teacher."""

    seed: int
    z: np.ndarray
    real: np.ndarray  # uint8 N x C x H x W
    real_features: np.ndarray | None = None
    teacher: np.ndarray | None = None  # the dense G's float images on z


def _latents(n: int, latent_dim: int, seed: int) -> np.ndarray:
    from engine.latents import fixed_latents

    return fixed_latents(n, latent_dim, seed).numpy()


def _real_subset(images, n: int, seed: int) -> np.ndarray:
    if len(images) <= n:
        return images.numpy()
    pick = np.sort(np.random.default_rng(seed).permutation(len(images))[:n])
    return images[pick].numpy()


def _feature_net_fields(net) -> dict[str, str | None]:
    """How the feature space learnt (labels, self-supervised:METHOD, imagenet) and which file it is, so reports from
    different feature nets are never compared as if they were one scale."""
    if net is None:
        return {"feature_net_training": None, "feature_net_id": None}
    spec = net.spec() if hasattr(net, "spec") else {}
    training = spec.get("trained_by") or ("imagenet" if "inception" in str(spec.get("arch", "")) else "labels")
    return {"feature_net_training": training, "feature_net_id": getattr(net, "cache_key", None) or spec.get("arch")}


# ---- one variant -------------------------------------------------------------------------------------------------
def _generate(loaded, z: np.ndarray, batch: int, cancel: CancelToken) -> np.ndarray:
    """Images for z; a conditional variant draws class i % K for the i-th latent (see _quality)."""
    from engine.metrics.conditional import asked_labels

    labels = asked_labels(len(z), loaded.num_classes) if loaded.num_classes else None
    out = []
    for i in range(0, len(z), batch):
        cancel.raise_if_cancelled()
        part = loaded.generate(z[i:i + batch]) if labels is None else loaded.generate(z[i:i + batch],
                                                                                      labels[i:i + batch])
        out.append(np.asarray(part, dtype=np.float32))
    return np.concatenate(out)


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.rint((np.clip(x, -1, 1) + 1) * 127.5).astype(np.uint8)


def _quality(images: np.ndarray, s: SeedSet, net, teacher: np.ndarray | None, classes: int = 0) -> dict[str, Any]:
    """All quality numbers of one variant for one seed; `classes` > 0: a conditional variant whose i-th image was
    asked for class i % classes, scored by the feature net's classifier (conditional accuracy)."""
    from engine.metrics import conditional as cond
    from engine.metrics import quality as q
    from engine.metrics.feature_net import features_and_classes

    fake = _to_uint8(images)  # the real images are uint8, so the generated ones are measured the same way
    out: dict[str, Any] = {}
    if net is not None:
        feats, ids = features_and_classes(net, fake)
        out["fid"] = q.fid_from_features(s.real_features, feats)
        out.update({k: v for k, v in q.manifold_metrics(s.real_features, feats).items() if not k.startswith("k_")})
        if int(net.spec()["classes"]) > 0:  # Inception features come without our classes
            out["class_histogram"] = q.histogram_of(ids, int(net.spec()["classes"]))
            out["modes_covered"] = q.modes_covered(out["class_histogram"])
        if classes and cond.can_classify(net, classes):
            out.update(cond.conditional_accuracy(ids, cond.asked_labels(len(ids), classes), classes))
    try:
        swd = q.sliced_wasserstein(s.real, fake, seed=s.seed)
        out["swd"], out["swd_per_level"] = swd["mean"], swd["per_level"]
    except ConfigError:  # images under 16 px: no pyramid to compare
        out["swd"] = None
    if teacher is not None:
        out["psnr_vs_teacher"] = q.psnr(images, teacher)
        out["ssim_vs_teacher"] = q.ssim(images[:SSIM_COUNT], teacher[:SSIM_COUNT])
    return out


def _mean_std(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """Quality numbers as the mean over seeds, with <key>_std beside each (0 for one seed)."""
    out: dict[str, Any] = {}
    for key in QUALITY_KEYS:
        vals = [r[key] for r in per_seed if r.get(key) is not None]
        out[key] = float(np.mean(vals)) if vals else None
        out[f"{key}_std"] = float(np.std(vals)) if vals else None
    for key in ("class_histogram", "swd_per_level", "cond_accuracy_per_class"):
        vals = [r[key] for r in per_seed if r.get(key) is not None]
        if vals:
            out[key] = np.mean(np.asarray(vals, np.float64), axis=0).tolist()
    if any("modes_covered" in r for r in per_seed):
        out["modes_covered"] = int(min(r.get("modes_covered", 0) for r in per_seed))
    return out


def _latency(loaded, cfg: EvaluateConfig, threads: int, path) -> dict[str, float | None]:
    from engine.metrics.latency import empty_latency, ort_latency_fastest, torch_latency

    out = empty_latency()
    if loaded.module is not None:
        out.update(torch_latency(loaded.module, runs=cfg.latency_runs, threads=threads), threads=threads)
    else:  # ONNX Runtime on the thread count measured fastest here, unless the user fixed one
        out.update(ort_latency_fastest(path, loaded.latent_dim, runs=cfg.latency_runs, threads=cfg.threads))
    return out


def _failed(v, ws: Workspace, error: str) -> dict[str, Any]:
    from engine.metrics.latency import empty_latency

    row = {"name": v.name, "status": "failed", "error": error, "kind": v.kind, "path": ws.rel(v.path),
           "numeric_precision": v.precision, "params": None, "nonzero_params": None, "macs": None,
           "file_bytes": None, "latency_ms": empty_latency()}
    row.update({k: None for k in QUALITY_KEYS})
    return row


# ---- the stage ---------------------------------------------------------------------------------------------------
@recorded("evaluate")
def run_evaluate(cfg: EvaluateConfig, ws: Workspace, cancel: CancelToken | None = None) -> Iterator[Event]:
    """Evaluate every variant; failed ones are marked in the report and named in the WorkspaceError raised last."""
    import torch

    cfg.validate()
    cancel = cancel or CancelToken()
    old_threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)  # generation and latency both run on the count the report states
    try:
        yield from _run(cfg.effective(), ws, cancel)
    except Cancelled:  # the stage runner records it; the user hears what is kept
        yield Log("warning", "Evaluation cancelled; the previous report (if any) is unchanged.")
    finally:
        torch.set_num_threads(old_threads)


def _run(cfg: EvaluateConfig, ws: Workspace, cancel: CancelToken) -> Iterator[Event]:
    import torch

    from engine.data import load_dataset
    from engine.inputs import workspace_config
    from engine.metrics.variants import discover

    t_start = time.perf_counter()
    variants = discover(ws)
    if not variants:
        raise WorkspaceError(f"The workspace {ws.root} has nothing to evaluate (no checkpoint in checkpoints/ and no "
                             "ONNX in export/); run 'gan-prune train' first.")
    if _kind(ws, variants) == IMAGE:  # image-to-image: scored against the ground truth of test pairs
        if is_unpaired(workspace_config(ws).model.task):  # no ground truth: translated A against real B
            from engine.stages.evaluate.unpaired import run_evaluate_unpaired as run_images
        else:
            from engine.stages.evaluate.image import run_evaluate_images as run_images

        yield from run_images(cfg, ws, variants, cancel)
        return
    threads = cfg.threads or torch.get_num_threads()
    data_cfg = workspace_config(ws).data
    data = load_dataset(data_cfg)
    net, net_name, fid_note = yield from _feature_net(cfg, data, cancel)
    need = 2 * int(net.spec()["feature_dim"]) if net is not None else 2
    if cfg.samples < need:
        raise ConfigError(f"--samples {cfg.samples} is too few for {net.spec()['feature_dim']}-d features: the "
                          f"covariance would be singular; use at least {need}.")
    n_real = min(cfg.samples, len(data))
    if n_real < need:
        raise DataError(f"The data set {data_cfg.dataset} has only {len(data)} images; FID needs at least {need} "
                        "real images (raise or remove the data limit in config.toml).")
    if fid_note:
        yield Log("warning", fid_note)
    ws.update_stage("evaluate", status="running", samples=cfg.samples, seeds=cfg.seeds)
    yield Log("info", f"Evaluating {len(variants)} variant(s) on {cfg.samples:,} samples x {cfg.seeds} seed(s) "
                      f"against {n_real:,} real {data.name} images ({threads} threads).")
    yield Progress("evaluate", 0, len(variants) * cfg.seeds, f"features of {n_real:,} real images")
    tally = _Tally(cfg, data, n_real, net, threads, len(variants) * cfg.seeds, cancel)
    rows, grids = [], {}
    for i, v in enumerate(variants):
        row = yield from _variant(cfg, ws, v, tally, grids, cancel)
        rows.append(row)
        tally.done = max(tally.done, (i + 1) * cfg.seeds)  # a failed variant counts its seeds as done
    yield from _write_report(cfg, ws, rows, grids, t_start, net=net, net_name=net_name, fid_note=fid_note,
                             n_real=n_real, data=data, threads=threads)


class _Tally:
    """What every variant shares: the real images and their features per seed, the latents, the teacher's images
    (for PSNR to it) and the progress count."""

    def __init__(self, cfg: EvaluateConfig, data, n_real: int, net, threads: int, total: int,
                 cancel: CancelToken) -> None:
        from engine.metrics.feature_net import features_and_classes

        self.net, self.threads, self.total, self.done = net, threads, total, 0
        self.data, self.meter, self.teacher_latent = data, EtaMeter(total), None
        self.warned_classes = False  # said once: no classifier for a conditional model's classes
        self.seed_sets = []
        for k in range(cfg.seeds):
            cancel.raise_if_cancelled()
            s = SeedSet(cfg.seed + k, np.zeros((0,)), _real_subset(data.images, n_real, cfg.seed + k))
            if net is not None:
                s.real_features = features_and_classes(net, s.real)[0]
            self.seed_sets.append(s)


def _variant(cfg: EvaluateConfig, ws: Workspace, v, tally: _Tally, grids: dict,
             cancel: CancelToken) -> Iterator[Event]:
    """One variant's report row (a failed row when it cannot be loaded or run: the others still count)."""
    from engine.metrics.conditional import can_classify
    from engine.metrics.variants import load

    t0 = time.perf_counter()
    if v.error:
        yield Log("error", f"{v.name}: {v.error}.")
        return _failed(v, ws, v.error)
    try:
        loaded = load(v, tally.threads)
        if tuple(loaded.image_shape) != tuple(tally.data.image_shape):
            raise WorkspaceError(f"{ws.rel(v.path)} makes {list(loaded.image_shape)} images but the data set "
                                 f"has {list(tally.data.image_shape)}; fix config.toml or re-export")
    except (WorkspaceError, DataError, ConfigError) as e:
        yield Log("error", f"{v.name}: {e}")
        return _failed(v, ws, str(e).rstrip("."))
    if loaded.num_classes and not tally.warned_classes and not can_classify(tally.net, loaded.num_classes):
        tally.warned_classes = True
        yield Log("warning", f"The feature net has no classifier for {loaded.num_classes} classes; conditional "
                             "accuracy is left out (it needs labelled data with the model's classes).")
    try:
        per_seed = yield from _per_seed(cfg, v, loaded, tally, grids, cancel)
    except Cancelled:
        raise
    except Exception as e:  # a file that loads but does not run (bad graph, wrong output): fail it, go on
        first = (str(e).strip().splitlines() or [""])[0][:160]
        row = _failed(v, ws, f"{ws.rel(v.path)} does not run ({type(e).__name__}: {first})")
        grids.pop(v.name, None)
        yield Log("error", f"{v.name}: {row['error']}.")
        return row
    row = _ok_row(cfg, ws, v, loaded, per_seed, tally.threads, t0, cancel)
    yield Metrics("evaluate", tally.done, {k: row[k] for k in QUALITY_KEYS if row.get(k) is not None})
    yield Samples("evaluate", tally.done, _grid(grids[v.name]), label=v.name)
    yield Log("info", f"{v.name}: {_summary(row)}; {row['seconds']:.1f} s for {cfg.samples:,} samples x "
                      f"{cfg.seeds} seed(s).")
    return row


def _per_seed(cfg: EvaluateConfig, v, loaded, tally: _Tally, grids: dict, cancel: CancelToken) -> Iterator[Event]:
    """The quality numbers of one variant for each seed, on the same latents and real images as the others."""
    per_seed = []
    for s in tally.seed_sets:
        if s.z.size == 0 or s.z.shape[1] != loaded.latent_dim:
            s.z = _latents(cfg.samples, loaded.latent_dim, s.seed)
        yield Progress("evaluate", tally.done, tally.total, f"{v.name}: generating {cfg.samples:,} images "
                                                            f"(seed {s.seed})")
        images = _generate(loaded, s.z, cfg.batch, cancel)
        if v.name == "dense":
            s.teacher, tally.teacher_latent = images, loaded.latent_dim
        if s is tally.seed_sets[0]:
            grids[v.name] = _to_uint8(images[:GRID_COUNT])
        yield Progress("evaluate", tally.done, tally.total, f"{v.name}: measuring (seed {s.seed})")
        # another latent size (a foreign ONNX): no like-for-like teacher images to compare with
        teacher = s.teacher if tally.teacher_latent == loaded.latent_dim else None
        per_seed.append(_quality(images, s, tally.net, teacher, loaded.num_classes))
        tally.done += 1
        rate, eta = tally.meter.update(tally.done)
        yield Progress("evaluate", tally.done, tally.total, f"{v.name} seed {s.seed} done", rate=rate, eta_s=eta)
    return per_seed


def _ok_row(cfg: EvaluateConfig, ws: Workspace, v, loaded, per_seed: list[dict], threads: int, t0: float,
            cancel: CancelToken) -> dict[str, Any]:
    from engine.metrics.latency import empty_latency

    seconds_quality = time.perf_counter() - t0
    cancel.raise_if_cancelled()
    latency = _latency(loaded, cfg, threads, v.path) if cfg.latency else None
    row = {"name": v.name, "status": "ok", "kind": v.kind, "path": ws.rel(v.path),
           "numeric_precision": v.precision, **loaded.complexity,
           "latency_ms": latency or empty_latency(), "latency_threads": threads}
    if v.kind == "onnx" and v.source:
        row["exported_from"] = v.source
    row.update(_mean_std(per_seed))
    row["per_seed"] = per_seed if cfg.seeds > 1 else None
    row["seconds_quality"] = round(seconds_quality, 2)
    row["seconds"] = round(time.perf_counter() - t0, 2)
    return row


def _write_report(cfg: EvaluateConfig, ws: Workspace, rows: list[dict], grids: dict, t_start: float, *, net,
                  net_name, fid_note, n_real: int, data, threads: int) -> Iterator[Event]:
    """report.json / .html / .csv, the manifest record, and the one error naming every variant that failed."""
    from engine.metrics import report as reports

    reports.fill_onnx_macs(rows)
    report = reports.build_report(rows, feature_net=net_name, **_feature_net_fields(net),
                                  fid_note=fid_note, seed=cfg.seed, seeds=cfg.seeds, samples=cfg.samples,
                                  real_count=n_real, data=data.name, image_shape=list(data.image_shape),
                                  task=_task(rows, ws),
                                  device=f"CPU ({threads} threads)", threads=threads,
                                  seconds=time.perf_counter() - t_start)
    written = reports.write_all(ws, report, grids)
    for kind, rel in written.items():
        yield Artifact("evaluate", kind, rel)
    failed = [r["name"] for r in rows if r["status"] == "failed"]
    ws.update_stage("evaluate", report=written["report"],
                    html=written["html"], csv=written["csv"], variants=[r["name"] for r in rows], failed=failed,
                    seconds=round(time.perf_counter() - t_start, 1))
    if failed:
        why = "; ".join(f"{r['name']} ({r['error']})" for r in rows if r["status"] == "failed")
        raise WorkspaceError(f"{len(failed)} of {len(rows)} variants could not be evaluated: {why}; the others are "
                             f"in {written['report']}.")
    yield Log("info", f"Evaluation done in {time.perf_counter() - t_start:.1f} s; report {written['html']}.")


def _task(rows: list[dict], ws: Workspace) -> str:
    """The workspace's task (config.toml), for report.json; conditional when any variant was scored by class."""
    from engine.inputs import workspace_config

    if any(r.get("cond_accuracy") is not None for r in rows):
        return "conditional"
    return workspace_config(ws).model.task


def _grid(images: np.ndarray) -> np.ndarray:
    from engine.images import make_grid

    return make_grid(images, nrow=8)


def _summary(row: dict) -> str:
    parts = []
    for key, fmt in (("fid", "FID {:.2f}"), ("cond_accuracy", "class accuracy {:.3f}"), ("precision", "P {:.3f}"),
                     ("recall", "R {:.3f}"), ("swd", "SWD {:.1f}"), ("psnr_vs_teacher", "PSNR {:.1f} dB")):
        if row.get(key) is not None:
            parts.append(fmt.format(row[key]))
    return ", ".join(parts) or "no quality numbers"

