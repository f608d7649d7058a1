"""Frozen settings per stage, validated once at the edge with sentences a person understands."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from engine.errors import ConfigError

DATASETS = ("mnist-5k", "mnist", "fashion-mnist", "cifar10")
LOSSES = ("bce", "hinge")
OPTIMIZERS = ("adam", "sgd")
DEVICES = ("auto", "cpu", "cuda")


def _positive_int(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{name} must be a whole number above 0 (got {value!r}).")


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "mnist-5k"  # a name in DATASETS or "folder:PATH"
    image_size: int | None = None  # None: the data set's own size (28 for MNIST, 32 for CIFAR-10, 28 for folders)
    color: str = "auto"  # auto | gray | rgb
    limit: int | None = None  # use only the first N images (tests, quick trials)

    def validate(self) -> None:
        if not (self.dataset in DATASETS or self.dataset.startswith("folder:")):
            raise ConfigError(f"Unknown dataset '{self.dataset}'; use one of {', '.join(DATASETS)} "
                              "or folder:PATH for a folder of images.")
        if self.dataset.startswith("folder:") and not self.dataset[len("folder:"):].strip():
            raise ConfigError("folder: needs a path, e.g. folder:/home/me/faces.")
        if self.image_size is not None and (not isinstance(self.image_size, int) or not 8 <= self.image_size <= 256):
            raise ConfigError(f"Image size must be between 8 and 256 pixels (got {self.image_size!r}).")
        if self.color not in ("auto", "gray", "rgb"):
            raise ConfigError(f"Color must be auto, gray or rgb (got {self.color!r}).")
        if self.limit is not None:
            _positive_int("limit", self.limit)


@dataclass(frozen=True)
class ModelConfig:
    arch: str = "dcgan"
    latent_dim: int = 100

    def validate(self) -> None:
        from engine.models import arch_names

        if self.arch not in arch_names():
            raise ConfigError(f"Unknown architecture '{self.arch}'; choose one of: {', '.join(arch_names())}.")
        _positive_int("latent_dim", self.latent_dim)


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 2000
    batch_size: int = 64
    loss: str = "bce"
    optimizer: str = "adam"
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    momentum: float = 0.5  # for the reference's SGD
    device: str = "auto"
    amp: bool = True  # mixed precision, CUDA only
    ema: float = 0.0  # decay of an exponential moving average of G; 0 = off (0.999 is typical)
    sample_every: int = 100
    checkpoint_every: int = 500
    seed: int = 0
    resume: bool = False
    threads: int | None = None  # CPU threads for torch; None = torch's default
    # -- teacher recipe (additive): a separate D learning rate (TTUR) and an R1 penalty on D's gradient at real data
    lr_d: float | None = None  # None = the same as lr
    r1: float = 0.0  # R1 weight gamma: D loss += gamma/2 * |grad_x D(x)|^2 on real batches; 0 = off

    def validate(self) -> None:
        _positive_int("steps", self.steps)
        _positive_int("batch size", self.batch_size)
        _positive_int("sample_every", self.sample_every)
        _positive_int("checkpoint_every", self.checkpoint_every)
        if self.loss not in LOSSES:
            raise ConfigError(f"Unknown loss '{self.loss}'; choose one of: {', '.join(LOSSES)}.")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"Unknown optimizer '{self.optimizer}'; choose one of: {', '.join(OPTIMIZERS)}.")
        if not (isinstance(self.lr, (int, float)) and 0 < self.lr):
            raise ConfigError(f"Learning rate must be above 0 (got {self.lr!r}).")
        if self.device not in DEVICES:
            raise ConfigError(f"Unknown device '{self.device}'; choose one of: {', '.join(DEVICES)}.")
        if not 0 <= self.ema < 1:
            raise ConfigError(f"EMA decay must be in [0, 1) (got {self.ema!r}); 0 turns it off.")
        if self.lr_d is not None and not (isinstance(self.lr_d, (int, float)) and 0 < self.lr_d):
            raise ConfigError(f"The discriminator learning rate must be above 0 (got {self.lr_d!r}).")
        if not (isinstance(self.r1, (int, float)) and 0 <= self.r1):
            raise ConfigError(f"The R1 weight must be 0 or more (got {self.r1!r}); 0 turns it off.")

    @property
    def d_lr(self) -> float:
        """The discriminator's learning rate: lr_d when set (two time-scale update rule), else lr."""
        return self.lr if self.lr_d is None else self.lr_d


@dataclass(frozen=True)
class PipelineConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    # Later stages keep their settings as plain tables so each stage module owns its own dataclass.
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)

    def validate(self) -> None:
        self.data.validate()
        self.model.validate()
        self.train.validate()


def _from_dict(cls, table: dict[str, Any], where: str):
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ConfigError(f"Unknown setting(s) {', '.join(unknown)} in [{where}]; valid: {', '.join(known)}.")
    values = dict(table)
    for k, v in values.items():
        if isinstance(v, list):
            values[k] = tuple(v)
    return cls(**values)


def stage_config(cls, table: dict[str, Any] | None, where: str):
    """Build a stage's frozen dataclass from a TOML table, naming unknown keys."""
    return _from_dict(cls, table or {}, where)


def load_pipeline_config(path: str | Path) -> PipelineConfig:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"The config file {path} does not exist; check the path.") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"The config file {path} is not valid TOML ({e}); fix it and try again.") from None
    cfg = PipelineConfig(
        data=_from_dict(DataConfig, raw.pop("data", {}), "data"),
        model=_from_dict(ModelConfig, raw.pop("model", {}), "model"),
        train=_from_dict(TrainConfig, raw.pop("train", {}), "train"),
        stages={k: v for k, v in raw.items() if isinstance(v, dict)},
    )
    cfg.validate()
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
    out = []
    for name, table in tables.items():
        out.append(f"[{name}]")
        out += [f"{k} = {_toml_value(v)}" for k, v in table.items() if v is not None]
        out.append("")
    return "\n".join(out)
