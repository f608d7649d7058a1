"""Runs stages in order over a workspace: the workspace's config, the demo, and `gan-prune run CONFIG.toml`."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

from engine import stages
from engine.config import PipelineConfig, to_toml
from engine.errors import WorkspaceError
from engine.events import Artifact, CancelToken, Event, Log
from engine.inputs import workspace_config
from engine.resources import resource
from engine.workspace import Workspace, atomic_write_text, load_checkpoint_file

DEMO_MODEL = "dcgan-mnist5k.pt"


def save_config(ws: Workspace, cfg: PipelineConfig) -> None:
    atomic_write_text(ws.config_path, to_toml(cfg))


def load_bundled_checkpoint(name: str) -> dict:
    """A pretrained model from resources/models. Where G and D together would pass 5 MB, D's weights sit in a
    second file named by 'discriminator_file' (each file stays small)."""
    ckpt = load_checkpoint_file(resource("models", name))
    part = ckpt.pop("discriminator_file", None)
    if part:
        ckpt["discriminator"] = load_checkpoint_file(resource("models", part), check=False)["discriminator"]
    return ckpt


def open_demo_workspace(path: str | Path, model: str = DEMO_MODEL) -> Workspace:
    """A workspace holding the bundled pretrained GAN as its trained ('dense') model."""
    src = resource("models", model)
    if not src.exists():
        raise WorkspaceError(f"The bundled demo model {src} is missing; reinstall the app or train one with "
                             "'gan-prune train'.")
    ws = Workspace(path)
    ckpt = load_bundled_checkpoint(model)
    to32 = lambda sd: {k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()}
    ckpt["generator"], ckpt["discriminator"] = to32(ckpt["generator"]), to32(ckpt["discriminator"])
    ckpt.pop("format", None), ckpt.pop("version", None)
    dest = ws.save_checkpoint("dense", ckpt)
    arch = ckpt["arch"]["generator"]["arch"]
    cfg = PipelineConfig()
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, arch=arch))
    save_config(ws, cfg)
    ws.update_stage("train", status="done", checkpoint=ws.rel(dest), step=int(ckpt.get("step", 0)),
                    dataset=ckpt.get("data", {}).get("dataset", "mnist-5k"), arch=arch, pretrained=model)
    return ws


def run_config(cfg: PipelineConfig, ws: Workspace, cancel: CancelToken) -> Iterator[Event]:
    """`gan-prune run CONFIG.toml`: train, then every later stage that has a table in the config (registry order)."""
    from engine.config import ConfigError, stage_config

    unknown = sorted(set(cfg.stages) - {s.name for s in stages.PIPELINE})
    if unknown:
        raise ConfigError(f"Unknown section(s) [{'], ['.join(unknown)}] in the config; valid: [data], [model], "
                          f"[train], [distributed], {', '.join(f'[{s.name}]' for s in stages.PIPELINE)}.")
    stage_cfgs = []
    for stage in stages.PIPELINE:  # validate every table before any work starts
        if stage.name in cfg.stages:
            stage_cfg = stage_config(stage.config_class(), cfg.stages[stage.name], stage.name)
            stage_cfg.validate()
            stage_cfgs.append((stage.name, stage_cfg))
    yield from _train_then(cfg, ws, cancel, stage_cfgs, "Stage", write_config=lambda: save_config(ws, cfg))


def _train_then(cfg: PipelineConfig, ws: Workspace, cancel: CancelToken, later: list, label: str,
                write_config=None) -> Iterator[Event]:
    """Train, then each (stage name, config) in order; stop at a cancel between stages. Each stage goes through
    the stage runner (lock, manifest record); `write_config` runs once training has accepted its input."""
    from engine.distributed import alone, current
    from engine.errors import ConfigError

    ctx = current()  # several processes: all train and fine-tune together; rank 0 runs the other stages alone
    if cfg.model.arch == "user":  # an imported model (gan-prune import) was trained by its own code
        if not (ws.stage("import") or {}).get("status") == "done":
            raise ConfigError(f"[model] arch = \"user\" is an imported model, and {ws.root} has none; import it "
                              "first with 'gan-prune import'.")
        if write_config is not None and ctx.is_main:
            write_config()
        yield Log("info", "The trained model is the imported one; training is skipped.")
    else:
        yield from stages.start("train", cfg, ws, cancel, before_first_event=write_config)
    for name, stage_cfg in later:
        if cancel.cancelled:
            return
        together = stages.get(name).every_process
        if not ctx.is_main:
            if together:
                ctx.wait_for_main(f"stage-{name}", cancel)
                yield from stages.start(name, stage_cfg, ws, cancel)
            continue
        yield Log("info", f"{label} {name} ...")
        if together:
            ctx.main_reached(f"stage-{name}")
            yield from stages.start(name, stage_cfg, ws, cancel)
        else:
            with alone():
                yield from stages.start(name, stage_cfg, ws, cancel)


def run_demo(ws: Workspace, cancel: CancelToken, train_steps: int = 20, quick: bool = False) -> Iterator[Event]:
    """The whole pipeline on the embedded default, from the pretrained DCGAN: a few more training steps →
    structural prune (half the channels of G) → fine-tune with distillation → export fp32 + int8 → evaluate every
    variant → a sample grid through the on-device path (onnxruntime only) → report."""
    from engine.config import TrainConfig
    from engine.images import save_png
    from engine.ondevice import GeneratorModel, grid
    from engine.stages.evaluate.run import EvaluateConfig
    from engine.stages.export.run import ExportConfig
    from engine.stages.finetune.run import FinetuneConfig
    from engine.stages.prune.config import PruneConfig

    t0 = time.perf_counter()
    cfg = workspace_config(ws)
    cfg = dataclasses.replace(cfg, train=TrainConfig(steps=int(ws.stage("train")["step"]) + train_steps,
                                                     resume=True, sample_every=max(1, train_steps),
                                                     checkpoint_every=10**9, seed=cfg.train.seed))
    later = [
        ("prune", PruneConfig(method="channel-l1", amount=0.5, target="g")),
        # Distillation alone (the default recipe) at 300 steps: +16 % FID at 3.7x in ~50 s of the demo's ~90 s on
        # 2 busy cores, where 300 steps with the GAN term took ~220 s for +33 % (bench/results/distill_recipe.json).
        ("finetune", FinetuneConfig(steps=5 if quick else 300, distill=1.0, sample_every=50, probe_every=150)),
        ("export", ExportConfig(precisions=("fp32", "int8"), calibration=64 if quick else 256,
                                bench_runs=3 if quick else 20)),
        ("evaluate", EvaluateConfig(samples=500 if quick else 2000, latency_runs=3 if quick else 10)),
    ]
    save_config(ws, dataclasses.replace(cfg, stages={name: dataclasses.asdict(c) for name, c in later}))
    yield Log("info", f"Demo: {train_steps} more training steps of the pretrained {cfg.model.arch} ...")
    yield from _train_then(cfg, ws, cancel, later, "Demo:")
    if cancel.cancelled:
        return
    model = GeneratorModel(ws.export_dir / "generator.int8.onnx")
    out = ws.samples_dir / "ondevice-int8.png"
    save_png(out, grid(model.sample(64, seed=0), nrow=8))
    yield Artifact("demo", "samples", ws.rel(out), {"via": "onnxruntime only (engine.ondevice)"})
    seconds = time.perf_counter() - t0
    ws.update_stage("demo", status="done", seconds=round(seconds, 1), quick=quick)
    yield Log("info", f"Demo finished in {seconds:.1f} s; report {ws.rel(ws.root / 'report.html')}.")
