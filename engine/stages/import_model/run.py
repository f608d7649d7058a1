"""The import stage: a person's own trained generator (a .py file, a class, its arguments, a state dict), and
optionally its discriminator, becomes a workspace's trained ("dense") model, so prune, fine-tune, evaluate,
export and gan-sample take it like a built-in one.

THIS RUNS THE FILE'S CODE (importing a .py file executes it). The file's path and SHA-256 are recorded in the
manifest's `import` entry, the only place a checkpoint's "user" model may be rebuilt from (engine/checkpoint_check).
Everything that can refuse the input runs before the first event: a bad file, class, constructor, state dict or
output is one sentence naming the file, and nothing is written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

from engine import stages, trust
from engine.checkpoint_check import check_checkpoint
from engine.checkpoints import model_state
from engine.config import DataConfig, ModelConfig, PipelineConfig, TrainConfig, to_toml
from engine.data import ImageData, load_dataset, to_float
from engine.data.image_pairs import PREVIEW, PairSource, preview
from engine.errors import ConfigError
from engine.events import Artifact, CancelToken, Event, Log, Progress, Samples
from engine.gan_step import d_logits, discriminator_loss, g_images
from engine.grids import sample_grid
from engine.images import save_png
from engine.latents import fixed_latents
from engine.models import build_discriminator, default_specs, generator_from_checkpoint, image_specs
from engine.models.dcgan import size_plan
from engine.models.user import UserDiscriminator, UserGenerator, UserImageGenerator, tensor_shapes
from engine.models.user_probe import (
    Signature,
    find_final_sigmoid,
    load_fitting,
    probe_generator,
    read_state_dict,
    required_inputs,
)
from engine.models.user_source import build_class, file_sha256, one_line, regular_file
from engine.stage_runner import recorded
from engine.tasks import IMAGE, image_tasks, task_kind, task_names
from engine.workspace import Workspace, atomic_write_text, checkpoint_bytes, resolved

CHECKPOINT = "dense"
WARNING = "This runs the code in {path}: import only files you trust."


@dataclass(frozen=True)
class ImportConfig:
    generator: str  # the .py file
    class_name: str
    weights: str  # G's state dict (.pt)
    args: dict = field(default_factory=dict)
    dataset: str = "mnist-5k"
    latent_dim: int | None = None  # None: read from the module (latent_dim / nz / ... or its first layer)
    num_classes: int | None = None  # a conditional generator's class count (None: its attribute or nn.Embedding)
    input_shape: tuple[int, int, int] | None = None  # an image-to-image generator's input (C, H, W)
    task: str | None = None  # None: read from the module (noise, or noise + label); image-to-image must say which
    scale: int = 4  # superres: the output's side over the input's
    discriminator_class: str | None = None
    discriminator_weights: str | None = None
    discriminator_file: str | None = None  # None: the generator's file
    discriminator_args: dict = field(default_factory=dict)
    d_warmup_steps: int = 200  # a registry D (none given) first learns real vs the imported G's images
    batch_size: int = 64
    seed: int = 0
    limit: int | None = None

    def validate(self) -> None:
        for name in ("args", "discriminator_args"):
            if not isinstance(getattr(self, name), dict):
                raise ConfigError(f"--{name.replace('_', '-')} must be a JSON object of keyword arguments, e.g. "
                                  f"'{{\"nz\": 100}}' (got {getattr(self, name)!r:.60}).")
        if (self.discriminator_class is None) != (self.discriminator_weights is None):
            raise ConfigError("--discriminator-class and --discriminator-weights go together; give both or neither.")
        if self.latent_dim is not None and not (isinstance(self.latent_dim, int) and 1 <= self.latent_dim <= 4096):
            raise ConfigError(f"--latent-dim must be a whole number between 1 and 4096 (got {self.latent_dim!r}).")
        if self.task is not None and self.task not in task_names():
            raise ConfigError(f"--task must be one of {', '.join(task_names())} (got {self.task!r}).")
        if self.scale not in (2, 4):
            raise ConfigError(f"--scale must be 2 or 4 (got {self.scale!r}).")
        if self.num_classes is not None and not (isinstance(self.num_classes, int) and self.num_classes >= 2):
            raise ConfigError(f"--num-classes must be a whole number of 2 or more (got {self.num_classes!r}).")
        for name in ("d_warmup_steps", "seed"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be a whole number, 0 or more (got {v!r}).")
        if not isinstance(self.batch_size, int) or self.batch_size < 2:
            raise ConfigError(f"--batch-size must be a whole number of 2 or more (got {self.batch_size!r}).")


@dataclass
class _Imported:
    G: UserGenerator
    D: nn.Module
    signature: Signature
    data: ImageData
    record: dict
    notes: list[tuple[str, str]]  # (level, sentence)
    warm_up: bool  # a new registry D to train a little before fine-tuning meets it
    pairs: PairSource | None = None  # image-to-image: the task's (input, target) pairs


def _source(path: str) -> tuple[Path, str]:
    p = resolved(path, "model file")
    return p, file_sha256(p)


def _generator(cfg: ImportConfig) -> tuple[UserGenerator, Signature, dict]:
    path, sha = _source(cfg.generator)
    net = build_class(path, cfg.class_name, cfg.args, sha)
    built = tensor_shapes(net)
    load_fitting(net, read_state_dict(cfg.weights), Path(cfg.weights).expanduser(),
                 f"{cfg.class_name} from {path}")
    sig = probe_generator(net, path, cfg.class_name, cfg.latent_dim, cfg.num_classes, cfg.input_shape)
    task = _task(cfg, sig, path)
    spec = {"arch": "user", "role": "generator", "source": str(path), "sha256": sha, "class": cfg.class_name,
            "args": dict(cfg.args), "image_shape": list(sig.image_shape)}
    if sig.input_shape:
        spec.update(task=task, input_shape=list(sig.input_shape))
    else:
        spec.update(latent_dim=sig.latent_dim, latent_layout=sig.latent_layout,
                    **({"num_classes": sig.num_classes} if sig.num_classes else {}))
    record = {"source": str(path), "sha256": sha, "class": cfg.class_name, "args": dict(cfg.args),
              "weights": str(resolved(cfg.weights, "weights file")), "weights_sha256": _sha(cfg.weights)}
    G = UserImageGenerator(spec, net, built) if sig.input_shape else UserGenerator(spec, net, built)
    check_repeatable(G, cfg.class_name, path)
    return G, sig, record


def _task(cfg: ImportConfig, sig: Signature, path: Path) -> str:
    """What the model does, read from its signature; an image-to-image model's --task says how pairs are made."""
    found = "conditional" if sig.num_classes else "unconditional"
    if sig.input_shape:
        if cfg.task is None or task_kind(cfg.task) != IMAGE:
            raise ConfigError(f"{cfg.class_name} from {path} turns an image {list(sig.input_shape)} into an image; "
                              f"say which task with --task {' or '.join(image_tasks())}.")
        return cfg.task
    if cfg.task is not None and cfg.task != found:
        raise ConfigError(f"{cfg.class_name} from {path} is {found} (it takes noise"
                          f"{' and a class label' if sig.num_classes else ''}), not --task {cfg.task}.")
    return found


def _discriminator(cfg: ImportConfig, G: UserGenerator) -> tuple[nn.Module, dict | None]:
    if cfg.discriminator_class is None:
        return None, None
    path, sha = _source(cfg.discriminator_file or cfg.generator)
    if isinstance(G, UserImageGenerator):
        raise ConfigError(f"{cfg.discriminator_class} from {path}: an image-to-image import fine-tunes against the "
                          "registry's PatchGAN discriminator; leave --discriminator-class out.")
    net = build_class(path, cfg.discriminator_class, cfg.discriminator_args, sha)
    built = tensor_shapes(net)
    load_fitting(net, read_state_dict(cfg.discriminator_weights, ("state_dict", "discriminator", "netD", "D",
                                                                  "model", "model_state_dict")),
                 Path(cfg.discriminator_weights).expanduser(), f"{cfg.discriminator_class} from {path}")
    labels = torch.arange(2) % G.num_classes if G.num_classes else None
    if G.num_classes and required_inputs(net) < 2:
        raise ConfigError(f"{cfg.discriminator_class} from {path} takes no class label, but the generator is "
                          "conditional; give its conditional discriminator, or none (a projection D is used).")
    with torch.no_grad():
        images = G.eval()(fixed_latents(2, G.latent_dim, cfg.seed), labels)
    sigmoid = find_final_sigmoid(net, images, path, cfg.discriminator_class, labels)
    spec = {"arch": "user", "role": "discriminator", "source": str(path), "sha256": sha,
            "class": cfg.discriminator_class, "args": dict(cfg.discriminator_args),
            "image_shape": list(G.image_shape), "sigmoid_layer": sigmoid,
            **({"num_classes": G.num_classes} if G.num_classes else {})}
    record = {"source": str(path), "sha256": sha, "class": cfg.discriminator_class,
              "args": dict(cfg.discriminator_args), "sigmoid_layer": sigmoid,
              "weights": str(resolved(cfg.discriminator_weights, "weights file")),
              "weights_sha256": _sha(cfg.discriminator_weights)}
    return UserDiscriminator(spec, net, built), record


def registry_discriminator(image_shape: tuple[int, int, int], seed: int, num_classes: int = 0
                           ) -> tuple[nn.Module, str]:
    """The conv D of the dcgan arch where the image size fits it (its projection D for a conditional model), else
    the MLP D (any size)."""
    try:
        size_plan(image_shape)
        arch = "dcgan"
    except ConfigError:
        if num_classes:
            raise ConfigError(f"A conditional import without its own discriminator needs images of a DCGAN size "
                              f"(28, 32, 56, 64 px; got {list(image_shape)}); give --discriminator-class.") from None
        arch = "mlp"
    torch.manual_seed(seed)
    return build_discriminator(default_specs(arch, image_shape, num_classes=num_classes)[1]), arch


def _sha(path: str) -> str:
    return hashlib.sha256(regular_file(Path(path).expanduser(), "weights file").read_bytes()).hexdigest()


def prepare(cfg: ImportConfig) -> _Imported:
    """Import, load and probe everything; raises one UserError sentence and writes nothing on bad input."""
    cfg.validate()
    _check_files(cfg)
    G, sig, g_record = _generator(cfg)
    D, d_record = _discriminator(cfg, G)
    notes = [("info", _signature_words(cfg.class_name, sig))]
    lo, hi = sig.output_range
    if lo < -1.05 or hi > 1.05:
        notes.append(("warning", f"{cfg.class_name}'s output spans {lo:.2f}..{hi:.2f}; this app compares images "
                                 "in [-1, 1] (a Tanh output), so metrics and exports assume that range."))
    c, side, _ = sig.image_shape
    data = load_dataset(DataConfig(dataset=cfg.dataset, image_size=side, color="gray" if c == 1 else "rgb",
                                   limit=cfg.limit))
    if len(data) < 2:
        raise ConfigError(f"The data set {cfg.dataset} has {len(data)} image(s); fine-tuning needs at least 2.")
    pairs, warm_up = None, False
    if sig.input_shape:
        pairs = _pairs(cfg, G, data)
        D, d_record = _patch_discriminator(G, cfg.seed), {"registry": "PatchGAN (unet)"}
        notes.append(("info", "Fine-tuning trains a new PatchGAN discriminator on (input, output) pairs."))
    elif D is None:
        _check_labels(data, sig.num_classes, cfg)
        D, arch = registry_discriminator(sig.image_shape, cfg.seed, sig.num_classes)
        d_record, warm_up = {"registry": arch, "warmup_steps": cfg.d_warmup_steps}, True
        notes.append(("info", f"No discriminator given: fine-tuning uses a new {arch} discriminator, first "
                              f"trained {cfg.d_warmup_steps} steps on real images vs the imported generator's."))
    else:
        _check_labels(data, sig.num_classes, cfg)
        note = f" (its last Sigmoid {d_record['sigmoid_layer']} is left out: training works on logits)" \
            if d_record["sigmoid_layer"] else " (its output is used as the logit)"
        notes.append(("info", f"Discriminator {cfg.discriminator_class}{note}."))
    return _Imported(G, D, sig, data, {"generator": g_record, "discriminator": d_record}, notes, warm_up, pairs)


def _check_files(cfg: ImportConfig) -> None:
    """Every file named, before any of them is read or run: a model file ends in .py (checked first), and each is
    a regular file (a device such as /dev/zero, or a pipe, would be read forever)."""
    for source in dict.fromkeys(f for f in (cfg.generator, cfg.discriminator_file) if f):
        path = resolved(source, "model file")
        if path.suffix != ".py":
            raise ConfigError(f"The model file {path} is not a .py file; give the Python file that defines the "
                              "class.")
        regular_file(path, "model file")
    for weights in (w for w in (cfg.weights, cfg.discriminator_weights) if w):
        regular_file(resolved(weights, "weights file"), "weights file")


def _signature_words(name: str, sig: Signature) -> str:
    shape = lambda s: "x".join(map(str, s))  # noqa: E731
    if sig.input_shape:
        return f"{name}: images {shape(sig.input_shape)} → images {shape(sig.image_shape)}."
    layout = "[B, n]" if sig.latent_layout == "flat" else "[B, n, 1, 1]"
    label = f" and a class label of {sig.num_classes}" if sig.num_classes else ""
    return f"{name}: latents of size {sig.latent_dim} as {layout}{label} → images {shape(sig.image_shape)}."


def _pairs(cfg: ImportConfig, G: UserImageGenerator, data: ImageData) -> PairSource:
    """The task's (input, target) pairs from the data; their input must be the one the generator takes."""
    pairs = PairSource(data, G.task, cfg.scale)
    if tuple(pairs.input_shape) != tuple(G.input_shape):
        raise ConfigError(f"The {G.task} task on {cfg.dataset} makes inputs {list(pairs.input_shape)} for "
                          f"{list(G.image_shape)} images, but {cfg.class_name} takes {list(G.input_shape)}; "
                          "check --scale, --input-shape or the data set.")
    return pairs


def _patch_discriminator(G: UserImageGenerator, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    residual = G.input_shape[0] == G.image_shape[0] and G.task in ("superres", "inpaint")
    return build_discriminator(image_specs("unet", G.input_shape, G.image_shape, residual)[1])


def _check_labels(data: ImageData, k: int, cfg: ImportConfig) -> None:
    """A conditional generator needs labelled data with its number of classes."""
    if not k:
        return
    if data.labels is None:
        raise ConfigError(f"The data set {cfg.dataset} has no class labels, which the conditional {cfg.class_name} "
                          "needs; use mnist-5k, a torchvision set or a folder with one sub-folder per class.")
    have = len(data.classes) if data.classes else int(data.labels.max()) + 1
    if have != k:
        raise ConfigError(f"The data set {cfg.dataset} has {have} classes but {cfg.class_name} takes {k}; use its "
                          "own data set (or give --num-classes).")


def warm_up_discriminator(D: nn.Module, G: nn.Module, data: ImageData, steps: int, batch: int, seed: int,
                          cancel: CancelToken) -> Iterator[Event]:
    """A few D steps on real images vs the frozen generator's, so fine-tuning does not start against a D that
    knows nothing (its adversarial gradient would be noise)."""
    if steps <= 0:
        return
    noise = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    G.eval()
    D.train()
    for step in range(1, steps + 1):
        cancel.raise_if_cancelled()
        idx = torch.randint(len(data), (batch,), generator=noise)
        labels = data.labels[idx] if getattr(G, "num_classes", 0) else None  # fakes of the real batch's classes
        with torch.no_grad():
            fake = g_images(G, torch.randn(batch, G.latent_dim, generator=noise), labels)
        loss = discriminator_loss(d_logits(D, to_float(data.images[idx]), labels), d_logits(D, fake, labels), "bce")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        yield Progress("import", step, steps, message=f"discriminator warm-up, loss {loss.item():.3f}")
    D.eval()


@recorded("import")
def run_import(cfg: ImportConfig, ws: Workspace, cancel: CancelToken) -> Iterator[Event]:
    """Write checkpoints/dense.pt, config.toml and the manifest's import + train entries (see the docstring).

    Write last: the probe, the warm-up, the round trip of the very checkpoint bytes and the first grid all run
    before the first byte is written or anything is marked out of date, so a refusal at any of them leaves the
    folder byte-identical (and a new folder is not created)."""
    got = prepare(cfg)  # the CLI and the studio said WARNING before this line runs the file
    for level, text in got.notes:
        yield Log(level, text)
    if got.warm_up:
        yield from warm_up_discriminator(got.D, got.G, got.data, cfg.d_warmup_steps,
                                         min(cfg.batch_size, len(got.data)), cfg.seed, cancel)
    checkpoint = checkpoint_bytes(_payload(cfg, got))
    _check_round_trip(checkpoint, ws.checkpoint_path(CHECKPOINT), got.G)
    if got.pairs is not None:  # input → output → target, as image-to-image training shows them
        grid = preview(got.G, *got.pairs.fixed("test", PREVIEW, cfg.seed))
    else:
        grid = sample_grid(got.G, fixed_latents(64, got.G.latent_dim, cfg.seed))
    cancel.raise_if_cancelled()
    # Every check passed: from here on files change.
    files = list(dict.fromkeys((r["source"], r["sha256"]) for r in got.record.values() if "source" in r))
    trust.trust(files)  # the person named these files on this command: their own choice to run them
    stale = ws.mark_stale(*stages.out_of_date_after("import"))
    path = _write(cfg, ws, got, checkpoint, files)
    yield Artifact("import", "checkpoint", ws.rel(path))
    save_png(ws.samples_dir / "train.png", grid)
    yield Samples("import", 0, grid, label="imported")
    yield Artifact("import", "samples", ws.rel(ws.samples_dir / "train.png"))
    if stale:
        yield Log("info", f"The trained model changed; {', '.join(stale)} results are out of date — run them again.")
    yield Log("info", f"Imported {got.record['generator']['class']} as the trained model of {ws.root}; next: "
                      "gan-prune prune, finetune, evaluate, export.")


def _payload(cfg: ImportConfig, got: _Imported) -> dict:
    sig = got.signature
    meta = {"dataset": got.data.name, "image_shape": list(sig.image_shape), "classes": got.data.classes}
    if got.pairs is not None:  # what the image stages rebuild the same pairs from (stages/train/image.py)
        meta.update(input_shape=list(sig.input_shape), task=got.G.task, scale=cfg.scale,
                    test_images=len(got.pairs.test_idx))
    return {"arch": {"generator": got.G.spec(), "discriminator": got.D.spec()},
            "generator": model_state(got.G), "discriminator": model_state(got.D), "ema": None,
            "step": 0, "data": meta, "seed": cfg.seed, "loss": "bce", "imported": got.record, "task": got.G.task}


def _write(cfg: ImportConfig, ws: Workspace, got: _Imported, checkpoint: bytes, files: list[tuple[str, str]]) -> Path:
    """The manifest's record of the files, the checkpoint, config.toml, the train entry (a kill in between leaves
    'import: running', which the next stage reports as interrupted)."""
    trusted = [{"source": source, "sha256": sha} for source, sha in files]
    ws.update_stage("import", status="running", trusted=trusted, generator=got.record["generator"],
                    discriminator=got.record["discriminator"])
    path = ws.save_checkpoint(CHECKPOINT, checkpoint)
    sig, task = got.signature, got.G.task
    model = ModelConfig(arch="user", latent_dim=sig.latent_dim or ModelConfig().latent_dim, task=task,
                        scale=cfg.scale)
    data = DataConfig(dataset=cfg.dataset, image_size=sig.image_shape[1],
                      color="gray" if sig.image_shape[0] == 1 else "rgb", limit=cfg.limit)
    train = dataclasses.replace(TrainConfig(), steps=1, batch_size=cfg.batch_size, seed=cfg.seed)
    atomic_write_text(ws.config_path, to_toml(PipelineConfig(data, model, train)))
    ws.update_stage("train", status="done", checkpoint=ws.rel(path), step=0, dataset=got.data.name, arch="user",
                    task=task, imported=got.record["generator"]["source"])
    return path


def _check_round_trip(checkpoint: bytes, where: Path, G: nn.Module) -> None:
    """The checkpoint's bytes rebuild the same generator (file re-imported, hash checked, weights loaded), read
    back exactly as every later stage will read them."""
    try:
        back = torch.load(io.BytesIO(checkpoint), map_location="cpu", weights_only=True)
    except Exception as e:  # our own payload: would be a bug, said in one line
        raise ConfigError(f"The imported model cannot be saved as a plain checkpoint ({one_line(e)}).") from None
    check_checkpoint(back, where, files_just_chosen=True)
    back = generator_from_checkpoint(back, use_ema=False)
    x = _probe_input(G)
    with torch.no_grad():
        same = torch.allclose(back.eval()(x), G.eval()(x), atol=1e-5)
    if not same:
        raise ConfigError(f"{G.spec()['class']} from {G.spec()['source']} gives other images after a rebuild from "
                          "its state dict (does its forward use state kept outside parameters and buffers?).")


def _probe_input(G: nn.Module) -> torch.Tensor:
    if isinstance(G, UserImageGenerator):
        return torch.rand(2, *G.input_shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    return fixed_latents(2, G.latent_dim, 0)


def check_repeatable(G: nn.Module, class_name: str, path: Path) -> None:
    """The same input gives the same images twice. A forward that draws fresh noise on each call (StyleGAN's noise
    inputs, a dropout left on) cannot be compared with its pruned or exported self; it has its own sentence."""
    x = _probe_input(G)
    with torch.no_grad():
        first, second = G.eval()(x), G.eval()(x)
    if not torch.allclose(first, second, atol=1e-5):
        raise ConfigError(f"{class_name} from {path} draws new random noise inside forward (the same latent gave "
                          "two different images, as StyleGAN-style per-pixel noise does): pruning, fine-tuning and "
                          "export compare images for the same input, so it cannot be imported as it is; make the "
                          "noise a fixed buffer or turn it off in eval mode (e.g. noise_mode='const').")
