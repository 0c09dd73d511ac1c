"""A run as a YAML file: validated on load (unknown keys are errors), saved into the run folder.

``from_objects`` describes what a notebook built; ``build`` rebuilds the same objects from the
description, so ``python -m im2im_helpers train config.yaml`` repeats a notebook's run.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from im2im_helpers import io
from im2im_helpers.schema import SchemaError
from im2im_helpers.schema import from_dict as schema_from_dict

#: A configuration file is malformed: unknown key, wrong type or missing value.
ConfigError = SchemaError


@dataclass
class SplitConfig:
    """How pairs are divided (see :func:`im2im_helpers.data.split`)."""

    test: float | list = 0.2  # a fraction, a count, or the names of the test pairs
    val: float | list = 0.1
    seed: int = 0
    shuffle: bool = True
    file: str | None = None


@dataclass
class DataConfig:
    """Which pairs, normalised how, sampled into which patches."""

    source: str = ""
    source_options: dict = field(default_factory=dict)
    normalize_percentiles: list[float] | None = field(default_factory=lambda: [1.0, 99.8])
    normalize_target: bool = True
    dims: int | None = None
    transforms: list = field(default_factory=list)  # e.g. [{"kind": "foreground"}], in order
    split: SplitConfig = field(default_factory=SplitConfig)
    patch: list[int] = field(default_factory=lambda: [128, 128])
    batch_size: int = 8
    samples_per_image: int = 16
    augment: str = "flips"
    unpaired: bool = False
    num_workers: int = 0
    seed: int = 0


@dataclass
class TaskConfig:
    """What is learned (see :mod:`im2im_helpers.tasks`)."""

    kind: str = "supervised"
    loss: str = "mse"
    lr: float = 1e-3
    weight_decay: float = 0.0
    scheduler: str | None = None
    options: dict = field(default_factory=dict)  # task-specific, e.g. Noise2Void's mask_fraction


@dataclass
class TrainConfig:
    """How long and where training runs (see :func:`im2im_helpers.train.fit`)."""

    max_epochs: int = 10
    max_steps: int = -1
    max_time_s: float | None = None
    seed: int = 0
    accelerator: str = "auto"
    devices: Any = "auto"
    strategy: str = "auto"
    num_nodes: int = 1
    precision: Any = "32-true"
    log_every_n_steps: int = 10


@dataclass
class RunConfig:
    """A whole run: data, model (arguments of :func:`im2im_helpers.models.build`), task, train."""

    data: DataConfig = field(default_factory=DataConfig)
    model: dict = field(default_factory=dict)
    task: TaskConfig = field(default_factory=TaskConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        """Plain nested dictionaries (what is written to YAML)."""
        return asdict(self)


def from_dict(values: dict, origin: str = "<config>") -> RunConfig:
    """Validate nested dictionaries into a :class:`RunConfig` (``origin`` names them in errors)."""
    cfg = schema_from_dict(RunConfig, values, origin)
    if not cfg.data.source:
        raise ConfigError(f"{origin}: 'data.source' is required (a sample name or a folder).")
    if not cfg.model or "name" not in cfg.model or "dims" not in cfg.model:
        raise ConfigError(
            f"{origin}: 'model' needs at least 'name' and 'dims' (arguments of models.build)."
        )
    from im2im_helpers.models import check_options
    from im2im_helpers.tasks import TASKS

    options = {k: v for k, v in cfg.model.items()
               if k not in ("name", "dims", "in_channels", "out_channels", "seed")}
    try:
        check_options(str(cfg.model["name"]), options)
    except ValueError as err:
        raise ConfigError(f"{origin}: model: {err}") from err
    from im2im_helpers.data import check_transform

    for step in cfg.data.transforms:
        try:
            check_transform(step)
        except ValueError as err:
            raise ConfigError(f"{origin}: {err}") from err
    if cfg.task.kind not in TASKS:
        raise ConfigError(f"{origin}: task.kind={cfg.task.kind!r}; choose one of {sorted(TASKS)}.")
    standard = {"self", "model", "loss", "lr", "weight_decay", "scheduler"}
    allowed = set(inspect.signature(TASKS[cfg.task.kind].__init__).parameters) - standard
    unknown = set(cfg.task.options) - allowed
    if unknown:
        raise ConfigError(f"{origin}: task.options: {cfg.task.kind!r} has no option "
                          f"{sorted(unknown)}; its options are {sorted(allowed)}.")
    return cfg


def load(path: str | os.PathLike) -> RunConfig:
    """Read and validate a run configuration from YAML."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such configuration file.")
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err}).") from err
    return from_dict(values or {}, str(path))


def save(cfg: RunConfig, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write ``cfg`` as YAML, atomically; an existing file is kept unless ``overwrite``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: already exists; pass overwrite=True to replace it.")
    text = "# im2im run configuration: python -m im2im_helpers train <this file> --out <folder>\n"
    text += yaml.safe_dump(cfg.to_dict(), sort_keys=False)
    return io.write_text(path, text)


def from_objects(task, datamodule, train: dict) -> RunConfig:
    """Describe the objects a notebook built (task, datamodule, ``fit`` arguments) as a config."""
    pairs_cfg = datamodule.split.train.config
    source = pairs_cfg.get("source", {})
    norm = pairs_cfg.get("normalize")
    data = DataConfig(
        source=str(source.get("sample") or source.get("registry") or source.get("folder") or ""),
        source_options=dict(source.get("options") or {}),
        normalize_percentiles=[norm["low"], norm["high"]] if norm else None,
        normalize_target=bool(norm["target"]) if norm else True,
        dims=len(datamodule.patch),
        transforms=list(pairs_cfg.get("transforms", [])),
        split=SplitConfig(**datamodule.split.config),
        **datamodule.config,
    )
    return RunConfig(data, dict(task.hparams.get("model") or {}), TaskConfig(**task.config),
                     TrainConfig(**train))


def build(cfg: RunConfig):
    """Rebuild ``(task, datamodule)`` from a configuration."""
    from im2im_helpers import data
    from im2im_helpers.tasks import TASKS

    d = cfg.data
    pairs = data.load(d.source, d.normalize_percentiles, d.normalize_target, d.dims,
                      d.source_options or None)
    pairs = data.apply_transforms(pairs, d.transforms)
    s = d.split
    split = data.split(pairs, s.test, s.val, s.seed, s.shuffle, s.file)
    dm = data.patches(split, d.patch, d.batch_size, d.samples_per_image, d.augment,
                      d.num_workers, d.seed, unpaired=d.unpaired)
    t = cfg.task
    task = TASKS[t.kind](cfg.model, loss=t.loss, lr=t.lr, weight_decay=t.weight_decay,
                         scheduler=t.scheduler, **t.options)
    return task, dm
