"""Frozen settings per stage, validated once at the edge with sentences a person understands.

Each field's type annotation says what kind of value it takes, and `setting(...)` metadata its range, choices and
help; `check_fields` reads them, so a config file, a CLI flag and the studio are refused with the same sentence
("train.ema must be a number from 0 to below 1 (got 'high')"), and engine/cli/flags.py makes each command's flags
from them (a new option is one field).
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from engine import data_sources
from engine.archs import ARCHS, arch_problem
from engine.errors import ConfigError
from engine.tasks import DEFAULT_TASK, IMAGE, image_tasks, task_kind, task_names

LOSSES = ("bce", "hinge", "lsgan")  # lsgan: least squares (Mao et al.), the unpaired task's always
OPTIMIZERS = ("adam", "sgd")
DEVICES = ("auto", "cpu", "cuda")
IMAGE_TASKS = image_tasks()  # the generator takes an image in (pix2pix)
NOISE_TASKS = tuple(t for t in task_names() if t not in IMAGE_TASKS)  # the generator takes a latent vector
MAX_SEED = 2**32 - 1  # numpy's and torch's generators both take it; the usual limit for a seed


CHECKED = ("min", "max", "above", "below", "choices", "note")  # the metadata check_fields reads


def setting(default: Any, *, min: float | None = None, max: float | None = None, above: float | None = None,
            below: float | None = None, choices: tuple | None = None, note: str = "", help: str = "",
            tasks: tuple[str, ...] | None = None, label: str = "", tip: str = "", widget: str = "", unit: str = "",
            step: float | None = None, decimals: int | None = None, words: tuple[str, ...] | None = None,
            special: str = "", flag: str = "", metavar: str = "") -> Any:
    """A dataclass field with its allowed range (min/max inclusive, above/below exclusive) or choices; `note` ends
    the refusal sentence, `help` is the command-line flag's help; `tasks`: the only tasks (engine/tasks.py) it means
    anything for (the studio shows the field only for those).

    How the studio shows it (desktop_app/forms.py builds the field from these, so its default, range and choices
    are the command line's): `label` and `tip` in the window's words, `unit` after the number, `step` of the arrows,
    `decimals`, `words` for each of `choices`, `special` the text of the unset value (an `int | None` shown as
    "automatic") or of a switch's box; `widget` a hint where the type is not enough ("text": a list typed as
    64,32). On the command line: `flag` its name when it is not --field-name (--precision for precisions),
    `metavar` the placeholder in --help."""
    meta = {k: v for k, v in (("min", min), ("max", max), ("above", above), ("below", below), ("choices", choices),
                              ("note", note), ("help", help), ("tasks", tasks), ("label", label), ("tip", tip),
                              ("widget", widget), ("unit", unit), ("step", step), ("decimals", decimals),
                              ("words", words), ("special", special), ("flag", flag), ("metavar", metavar))
            if v not in (None, "")}
    return field(default=default, metadata=meta)


def applies_to(cls: type, name: str, task: str) -> bool:
    """Whether the setting `name` of the settings class `cls` means anything for `task` (setting(tasks=...));
    a setting that names no tasks applies to every task."""
    meta = next(f.metadata for f in fields(cls) if f.name == name)
    return task in meta.get("tasks", (task,))


def settings_description(cls: type, name: str) -> dict[str, Any]:
    """One setting of a settings class as plain values for a form (desktop_app/forms.py): its kind, default, range
    and choices are the ones the command line and the check use, so a studio field cannot drift from them. A field
    that declares no range or words borrows those of training's field of the same name (as check_fields(like=...))."""
    f = next(f for f in fields(cls) if f.name == name)
    hint = typing.get_type_hints(cls)[name]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    optional = origin in (typing.Union, types.UnionType) and type(None) in args
    kind = next(a for a in args if a is not type(None)) if optional else hint
    kind = "list" if typing.get_origin(kind) is tuple else kind.__name__
    lent = next((g.metadata for g in fields(TrainConfig) if g.name == name), {}) if cls is not TrainConfig else {}
    meta = {**lent, **f.metadata} if not any(k in f.metadata for k in CHECKED) else \
        {**{k: v for k, v in lent.items() if k not in CHECKED}, **f.metadata}
    lo = meta.get("min", meta.get("above"))
    hi = meta.get("max", meta.get("below"))
    step = 1 if kind == "int" else 10 ** -(meta.get("decimals") or 3)
    choices = meta.get("choices") or ()
    words = meta.get("words") or tuple(str(c) for c in choices)
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
    return {"name": name, "kind": kind, "optional": optional, "default": default,
            "lo": None if lo is None else lo + (step if "above" in meta else 0),
            "hi": None if hi is None else hi - (step if "below" in meta else 0),
            "choices": list(zip(words, choices)), "label": meta.get("label") or name.replace("_", " ").capitalize(),
            "tip": meta.get("tip", ""), "unit": meta.get("unit", ""), "step": meta.get("step"),
            "decimals": meta.get("decimals"), "special": meta.get("special", ""), "widget": meta.get("widget", ""),
            "tasks": meta.get("tasks")}


# ---- the one generic check ------------------------------------------------------------------------------------
def _range_words(meta: dict) -> str:
    lo = ("min", meta["min"]) if "min" in meta else ("above", meta["above"]) if "above" in meta else None
    hi = ("max", meta["max"]) if "max" in meta else ("below", meta["below"]) if "below" in meta else None
    fmt = lambda v: f"{v:g}" if isinstance(v, float) else f"{v:,}" if v >= 10_000 else str(v)
    if lo and hi:
        if lo[0] == "min" and hi[0] == "max":
            return f" between {fmt(lo[1])} and {fmt(hi[1])}"
        if lo[0] == "min":
            return f" from {fmt(lo[1])} to {fmt(hi[1])}" if hi[0] == "max" else \
                f" from {fmt(lo[1])} to below {fmt(hi[1])}"
        return f" above {fmt(lo[1])} and at most {fmt(hi[1])}" if hi[0] == "max" else \
            f" above {fmt(lo[1])} and below {fmt(hi[1])}"
    if lo:
        return f" of {fmt(lo[1])} or more" if lo[0] == "min" else f" above {fmt(lo[1])}"
    if hi:
        return f" of at most {fmt(hi[1])}" if hi[0] == "max" else f" below {fmt(hi[1])}"
    return ""


def _in_range(v: float, meta: dict) -> bool:
    return (("min" not in meta or v >= meta["min"]) and ("max" not in meta or v <= meta["max"])
            and ("above" not in meta or v > meta["above"]) and ("below" not in meta or v < meta["below"]))


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return _is_int(v) or (isinstance(v, float) and math.isfinite(v))


def _check_scalar(kind: Any, v: Any, meta: dict) -> str | None:
    """None when v fits, else the words after 'must be'."""
    if kind is bool:
        return None if isinstance(v, bool) else "true or false"
    if kind is str:
        choices = meta.get("choices")
        if choices:
            return None if v in choices else f"one of {', '.join(map(str, choices))}"
        return None if isinstance(v, str) else "text"
    if kind is int and meta.get("choices"):
        return None if _is_int(v) and v in meta["choices"] else f"one of {', '.join(map(str, meta['choices']))}"
    if kind is int:
        # "above 0" reads better than "of 1 or more" for counts
        words = "a whole number" + (" above 0" if meta.get("min") == 1 and "max" not in meta else _range_words(meta))
        return None if _is_int(v) and _in_range(v, meta) else words
    if kind is float:
        words = "a number" + _range_words(meta)
        return None if _is_number(v) and _in_range(v, meta) else words
    return None  # types this check does not know are left to the class's own validate()


def _problem(hint: Any, v: Any, meta: dict) -> str | None:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        if v is None:
            return None
        rest = [a for a in args if a is not type(None)]
        words = _problem(rest[0], v, meta) if len(rest) == 1 else None  # X | Y | None: left to validate()
        return None if words is None else f"{words}, or left unset"
    if origin is tuple:
        return _tuple_problem(args, v, meta)
    if origin is dict or hint is dict:
        return None if isinstance(v, dict) else "a table"
    return _check_scalar(hint, v, meta)


def _tuple_problem(args: tuple, v: Any, meta: dict) -> str | None:
    each, count = args[0], None if (len(args) == 2 and args[1] is Ellipsis) else len(args)
    if each is str:
        choices = meta.get("choices")
        words = "a list of text values" + (f" from {', '.join(choices)}" if choices else "")
    else:
        words = f"a list of {count or 'one or more'} {'whole numbers' if each is int else 'numbers'}"
        rng = _range_words(meta).strip()
        words += f", each {rng}" if rng else ""
    if not isinstance(v, (list, tuple)) or (count is not None and len(v) != count):
        return words
    return None if all(_check_scalar(each, x, meta) is None for x in v) else words


def check_fields(obj: Any, where: str, like: type | None = None, ranges: dict[str, dict] | None = None) -> None:
    """Refuse the first field of a dataclass instance whose value does not fit its type and range.

    `like`: a dataclass whose fields of the same name lend their range (fine-tuning reuses training's limits);
    `ranges`: extra per-field metadata for classes that do not declare it with setting()."""
    hints = typing.get_type_hints(type(obj))
    borrowed = {f.name: f.metadata for f in fields(like)} if like else {}
    for f in fields(obj):
        lent = (ranges or {}).get(f.name) or borrowed.get(f.name, {})
        own = {k: v for k, v in f.metadata.items() if k in CHECKED}
        meta = own or dict(lent)
        v = getattr(obj, f.name)
        words = _problem(hints[f.name], v, meta)
        if words is not None:
            name = f"{where}.{f.name}" if where else f.name
            note = f"; {meta['note']}" if meta.get("note") else ""
            raise ConfigError(f"{name} must be {words} (got {_shown(v)}){note}.")


def _shown(v: Any) -> str:
    """A value as the person wrote it in TOML or on the command line."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, tuple):
        return "[" + ", ".join(_shown(x) for x in v) + "]"
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."  # one line, even for a pasted paragraph


# ---- the settings -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DataConfig:
    dataset: str = setting("mnist-5k", help="; ".join(f"{data_sources.spec_of(s)} ({s.help})"
                                                      for s in data_sources.SOURCES.values()))
    # None: the data's own size (28 for MNIST, 32 for CIFAR-10; a folder's native size when the arch can make it)
    image_size: int | None = setting(None, min=8, max=256, note="the side in pixels, e.g. 28 or 32",
                                     help="resize images to this side (default: the data's own size; a folder's "
                                          "nearest of 8-64 px)")
    color: str = setting("auto", choices=("auto", "gray", "rgb"))
    limit: int | None = setting(None, min=1, help="use only the first N images")  # tests, quick trials

    def validate(self) -> None:
        check_fields(self, "data")
        problem = data_sources.problem(self.dataset)  # the data-source table (engine/data_sources.py) decides
        if problem:
            raise ConfigError(problem)


@dataclass(frozen=True)
class ModelConfig:
    arch: str = setting("dcgan", help="the network design: " + "; ".join(
        f"{a.name} ({a.help})" for a in ARCHS.values() if a.trainable and a.kind != IMAGE) + "; for image-to-image "
        "tasks: " + "; ".join(f"{a.name} ({a.help})" for a in ARCHS.values() if a.kind == IMAGE), label="Architecture",
        tip="The network design. DCGAN gives the best digits; ResNet can lose whole blocks when pruned.")
    latent_dim: int = setting(100, min=1, max=4096, tasks=NOISE_TASKS,  # an image-to-image model takes no latent
                              label="Latent size", unit=" numbers",
                              tip="Length of the random vector G turns into an image. 100 is the usual choice.")
    # what the model does (engine/tasks.py): noise → image, or class → image, ...
    task: str = setting(DEFAULT_TASK, choices=task_names(),
                        help="unconditional (default); superres, inpaint, sketch (pairs made from any image data) or "
                             "paired (with pairs:DIR) train an image-to-image GAN; unpaired (with unpaired:DIR or "
                             "horse2zebra-28) a CycleGAN")
    scale: int = setting(4, choices=(2, 4), note="superres: the output is this many times the input's side",
                         help="superres: output side / input side (4)", tasks=("superres",), label="Output size",
                         words=("2x the input's side", "4x the input's side"),
                         tip="Super-resolution: how many times the output's side is the input's.")

    # image-to-image: the generator's size (None: the arch's default for the image size)
    width: int | None = setting(None, min=1, max=1024, tasks=IMAGE_TASKS, note="the first layer's channels (the "
                                "CycleGAN reference uses 64)", help="image-to-image: channels of G's first layer, "
                                "doubled as it goes deeper (default: 8-32 by image size)", label="Generator width",
                                unit=" channels", special="automatic", tip="Channels of the generator's first layer; "
                                "deeper layers double it. Automatic: 8-32 by image size (CycleGAN's reference: 64).")
    blocks: int | None = setting(None, min=1, max=64, tasks=IMAGE_TASKS, note="the reference uses 9 at 256 px",
                                 help="image-to-image: residual blocks of a resnet-i2i or cyclegan G (default 3 / 4)",
                                 label="Residual blocks", special="automatic", tip="How many residual blocks a "
                                 "ResNet generator has (the U-Net has none). Automatic: 3, or 4 for CycleGAN.")

    def validate(self) -> None:
        check_fields(self, "model")
        problem = arch_problem(self.arch, self.task)  # the arch catalogue (engine/archs.py) decides
        if problem:
            raise ConfigError(problem)

    @property
    def kind(self) -> str:
        return task_kind(self.task)


@dataclass(frozen=True)
class TrainConfig:
    steps: int = setting(2000, min=1, help="total training steps (with --resume: the new total)", label="Steps",
                         unit=" steps", step=100, tip="How many updates of G and D. 2,000 steps give recognisable "
                                                      "digits on a CPU in a few minutes.")
    batch_size: int = setting(64, min=1, max=65536, label="Batch size", unit=" images", step=8,
                              tip="Images per step. Larger batches are smoother but slower per step.")
    loss: str = setting("bce", choices=LOSSES, label="Loss", words=("Binary cross-entropy", "Hinge", "Least squares"),
                        tip="The GAN objective. Hinge can be steadier when the default diverges.")
    optimizer: str = setting("adam", choices=OPTIMIZERS, help="adam (default) or the reference's SGD",
                             label="Optimizer", words=("Adam", "SGD with momentum"),
                             tip="Adam is the usual choice for GANs.")
    lr: float = setting(2e-4, above=0, note="2e-4 is typical", help="learning rate (default 2e-4)",
                        label="Learning rate", step=1e-4, decimals=6, tip="Step size of the optimizer. 0.0002 is the "
                        "DCGAN default; lower it if training diverges.")
    betas: tuple[float, float] = setting((0.5, 0.999), min=0, below=1, note="Adam's two decay rates")
    momentum: float = setting(0.5, min=0, below=1)  # for the reference's SGD
    device: str = setting("auto", choices=DEVICES, label="Device",
                          words=("Automatic (GPU if present)", "CPU", "CUDA GPU"),
                          tip="Where to train. Automatic uses a CUDA GPU when there is one, else the CPU.")
    amp: bool = setting(True, help="full precision on CUDA")  # mixed precision, CUDA only; the flag turns it off
    # decay of an exponential moving average of G; 0 = off (0.999 is typical)
    ema: float = setting(0.0, min=0, below=1, note="0 turns it off, 0.999 is typical",
                         help="EMA decay of G, e.g. 0.999 (0 = off)", label="Weight averaging", step=0.001,
                         decimals=4, tip="Keep a smoothed copy of G (0.999 is typical) for cleaner samples; 0 turns "
                                         "it off.")
    sample_every: int = setting(100, min=1, label="Sample every", unit=" steps", step=10,
                                tip="How often to draw the sample grid from the same fixed latents.")
    checkpoint_every: int = setting(500, min=1, label="Save every", unit=" steps", step=100,
                                    tip="How often to save a checkpoint you can resume from. The last step is always "
                                        "saved.")
    seed: int = setting(0, min=0, max=MAX_SEED, label="Seed",
                        tip="Fixes all randomness: the same seed and settings give the same model.")
    resume: bool = setting(False, help="continue from the workspace's last checkpoint", label="Resume",
                           special="Continue from the saved checkpoint",
                           tip="Continue the project's training where it stopped (or the demo's pretrained model) "
                               "instead of starting over. Set Steps to the new total.")
    # CPU threads for torch; None = torch's default
    threads: int | None = setting(None, min=1, max=1024, help="CPU threads for torch", label="CPU threads",
                                  unit=" threads", special="automatic",
                                  tip="How many CPU cores training may use. Automatic uses them all; leave one free "
                                      "to keep other programs snappy.")
    # The teacher recipe: a separate D learning rate (TTUR) and an R1 penalty on D's gradient at real data.
    lr_d: float | None = setting(None, above=0, note="unset: the same as lr")
    r1: float = setting(0.0, min=0, note="R1 weight gamma; 0 turns it off, 1 trained the bundled DCGAN")
    # Image-to-image tasks: the weight of L1 to the ground truth next to the adversarial loss (pix2pix uses 100).
    l1: float = setting(100.0, min=0, note="100 is pix2pix's weight",
                        help="image-to-image: weight of L1 to the target (100, as pix2pix)")
    # The unpaired task (CycleGAN, Zhu et al. 2017): λ of the cycle-consistency L1, and the identity L1's share of it.
    cycle: float = setting(10.0, min=0, tasks=("unpaired",), note="10 is CycleGAN's λ",
                           help="unpaired: weight of the cycle-consistency L1, A → B → A and B → A → B (10)",
                           label="Cycle weight", step=1, decimals=1, tip="How strongly a translated image must "
                           "translate back to the original (A → B → A). 10 is CycleGAN's choice.")
    identity: float = setting(0.5, min=0, tasks=("unpaired",), note="a fraction of cycle; 0.5 as CycleGAN",
                              help="unpaired: weight of the identity L1 (G_AB(b) ≈ b) as a fraction of --cycle (0.5)",
                              label="Identity weight", step=0.1, decimals=2, tip="How strongly an image already in "
                              "the target style is left alone, as a share of the cycle weight. 0.5 as CycleGAN.")

    def validate(self) -> None:
        check_fields(self, "train")

    @property
    def d_lr(self) -> float:
        """The discriminator's learning rate: lr_d when set (two time-scale update rule), else lr."""
        return self.lr if self.lr_d is None else self.lr_d


@dataclass(frozen=True)
class DistributedConfig:
    """How many processes train together (torchrun's flags): N per machine on M machines, found through machine 0."""

    nproc_per_node: int = setting(1, min=1, max=1024, note="one per GPU, or CPU processes")
    nnodes: int = setting(1, min=1, max=1024)
    node_rank: int = setting(0, min=0, max=1023, note="0 on the machine at master_addr, 1 to nnodes-1 elsewhere")
    master_addr: str = setting("127.0.0.1", note="the address of machine 0 as the others reach it")
    # unset: any free port on one machine; 29500 (torchrun's default) across machines
    master_port: int | None = setting(None, min=1, max=65535, note="a free TCP port on machine 0, e.g. 29500")
    # how long one process waits in a collective for the others before giving up (a hung, not a dead, peer)
    timeout_s: float = setting(300.0, above=0, max=86400)
    # how long each machine waits for the others to start (machine 0 for all of them, the rest for machine 0)
    # before it says which one did not come; people start the command on each machine by hand
    join_timeout_s: float = setting(300.0, min=1, max=86400)

    def validate(self) -> None:
        check_fields(self, "distributed")
        if self.node_rank >= self.nnodes:
            raise ConfigError(f"distributed.node_rank must be below nnodes ({self.nnodes}) (got {self.node_rank}); "
                              "number the machines 0 to nnodes-1.")
        if not self.master_addr.strip():
            raise ConfigError("distributed.master_addr must name machine 0, e.g. 10.0.0.1 (got an empty value).")

    @property
    def world_size(self) -> int:
        return self.nproc_per_node * self.nnodes

    def local_batch(self, batch_size: int, where: str = "batch size") -> int:
        """Each process's share of a global batch; a batch that does not split evenly is refused before any start."""
        from engine.distributed.batches import local_batch

        return local_batch(batch_size, self.world_size, where)

    @property
    def launches(self) -> bool:
        """True when the command must re-start itself as several processes."""
        return self.world_size > 1


@dataclass(frozen=True)
class PipelineConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    distributed: DistributedConfig = field(default_factory=DistributedConfig)
    # Later stages keep their settings as plain tables so each stage module owns its own dataclass.
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)

    def validate(self) -> None:
        self.data.validate()
        self.model.validate()
        self.train.validate()
        self.distributed.validate()
        problem = data_sources.task_problem(self.data.dataset, self.model.task)
        if problem:
            raise ConfigError(problem)


# ---- reading TOML -----------------------------------------------------------------------------------------------
def _from_dict(cls, table: Any, where: str):
    if not isinstance(table, dict):
        raise ConfigError(f"[{where}] must be a table of settings (got {table!r}); write [{where}] on its own line "
                          "with key = value lines below it.")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ConfigError(f"Unknown setting(s) {', '.join(f'{where}.{k}' for k in unknown)}; "
                          f"valid in [{where}]: {', '.join(known)}.")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}
    obj = cls(**values)
    check_fields(obj, where)
    return obj


def stage_config(cls, table: dict[str, Any] | None, where: str):
    """Build a stage's frozen dataclass from a TOML table, naming unknown keys and values of the wrong type."""
    return _from_dict(cls, {} if table is None else table, where)


def load_pipeline_config(path: str | Path) -> PipelineConfig:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text("utf-8"))
    except RecursionError:
        raise ConfigError(f"The config file {path} nests tables or lists too deeply to read; fix it and try "
                          "again.") from None
    except RuntimeError as e:  # a symbolic link that points back to itself (Python 3.11)
        raise ConfigError(f"The config path {path} cannot be read ({e}); fix the link.") from None
    except FileNotFoundError:
        raise ConfigError(f"The config file {path} does not exist; check the path.") from None
    except IsADirectoryError:
        raise ConfigError(f"The config path {path} is a folder; give a .toml file.") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"The config file {path} is not valid TOML ({e}); fix it and try again.") from None
    try:
        loose = [k for k, v in raw.items() if not isinstance(v, dict)
                 and k not in ("data", "model", "train", "distributed")]
        repeated = [k for k in loose if isinstance(raw[k], list) and raw[k] and isinstance(raw[k][0], dict)]
        if repeated:
            raise ConfigError(f"[[{repeated[0]}]] repeats a section; write it once as [{repeated[0]}].")
        if loose:
            raise ConfigError(f"Setting(s) {', '.join(loose)} sit outside any table; put them under a table "
                              "such as [train].")
        cfg = PipelineConfig(
            data=_from_dict(DataConfig, raw.pop("data", {}), "data"),
            model=_from_dict(ModelConfig, raw.pop("model", {}), "model"),
            train=_from_dict(TrainConfig, raw.pop("train", {}), "train"),
            distributed=_from_dict(DistributedConfig, raw.pop("distributed", {}), "distributed"),
            stages=raw,
        )
        cfg.validate()
    except ConfigError as e:
        raise ConfigError(f"In {path}: {e}") from None
    return cfg


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def to_toml(cfg: PipelineConfig) -> str:
    """TOML text of a config (None values are left out: they mean 'the default')."""
    tables = {"data": dataclasses.asdict(cfg.data), "model": dataclasses.asdict(cfg.model),
              "train": dataclasses.asdict(cfg.train), **cfg.stages}
    if cfg.distributed != DistributedConfig():  # one process: the file stays as it always was
        tables["distributed"] = dataclasses.asdict(cfg.distributed)
    out = []
    for name, table in tables.items():
        out.append(f"[{name}]")
        out += [f"{k} = {_toml_value(v)}" for k, v in table.items() if v is not None]
        out.append("")
    return "\n".join(out)
